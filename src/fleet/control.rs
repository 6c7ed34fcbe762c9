//! The operator's verbs on a fleet's projects: start a project's loop (a process of its own, in a
//! session of its own, its output in `.baton/logs/loop.log`), pause it (a request in its journal, taken at
//! the next boundary, as an attached screen sends it) and stop it (the session interrupted and
//! recorded, as a SIGTERM makes any baton do). A project whose loop already runs is left alone.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;

use super::Place;
use crate::project::Project;
use crate::project::journal::{Record, Remote};

/// What the fleet's screen asks of a project's loop.
pub trait Controls: Send {
    /// Starts the project's loop; what happened, in words.
    fn start(&mut self, place: &Place) -> Result<String, String>;
    /// Asks the loop to pause after its session (after the verdict, when a review waits).
    fn pause(&mut self, place: &Place) -> Result<String, String> {
        pause(place)
    }
    /// Stops the loop now: the running session is interrupted and recorded.
    fn stop(&mut self, place: &Place) -> Result<String, String>;
}

/// Loops as processes of their own: `baton run --headless` in each project.
pub struct Processes;

impl Controls for Processes {
    fn start(&mut self, place: &Place) -> Result<String, String> {
        match start(place) {
            Ok(Started::Now(_)) => Ok(format!("{}: loop started", place.name())),
            Ok(Started::Already(pid)) => Ok(format!("{}: its loop already runs (pid {pid})", place.name())),
            Err(e) => Err(format!("{}: {e}", place.name())),
        }
    }

    fn stop(&mut self, place: &Place) -> Result<String, String> {
        let pid = loop_pid(place).ok_or_else(|| format!("{}: no loop runs there", place.name()))?;
        if pid == std::process::id() {
            return Err(format!("{}: its loop runs in this baton", place.name()));
        }
        // SAFETY: a signal to the process holding the project's loop lock.
        if unsafe { libc::kill(pid as i32, libc::SIGTERM) } != 0 {
            return Err(format!("{}: cannot signal pid {pid}: {}", place.name(), std::io::Error::last_os_error()));
        }
        Ok(format!("{}: stopping its loop (pid {pid}); a session that ran is recorded as interrupted", place.name()))
    }
}

/// How a start went.
#[derive(Debug)]
pub enum Started {
    /// Started: the loop's process (dropped, it is reaped in the background when it ends).
    Now(tokio::process::Child),
    /// A loop ran there already (its pid): left alone.
    Already(u32),
}

fn open(place: &Place) -> Result<Project, String> {
    let dir = place.local_dir().ok_or_else(|| format!("{place}: not on this machine"))?;
    Project::open_existing(dir).map_err(|e| e.to_string())
}

/// The pid of the process running the project's loop, if one does.
pub fn loop_pid(place: &Place) -> Option<u32> {
    let dir = place.local_dir()?;
    crate::project::lock::holder(&dir.join(".baton")).and_then(|p| p.parse().ok())
}

/// Where a started loop's output goes.
pub fn log_path(project: &Project) -> PathBuf {
    project.baton_dir().join("logs").join("loop.log")
}

/// Starts `baton run --headless` in the project, in a session of its own (no terminal's signals
/// reach it: it goes on when the fleet's screen closes), its output appended to
/// `.baton/logs/loop.log`. Must be called inside a tokio runtime.
pub fn start(place: &Place) -> Result<Started, String> {
    let project = open(place)?;
    if let Some(pid) = loop_pid(place) {
        return Ok(Started::Already(pid));
    }
    let log = log_path(&project);
    let opened = std::fs::create_dir_all(log.parent().unwrap_or(&log))
        .and_then(|()| std::fs::OpenOptions::new().create(true).append(true).open(&log));
    let out = opened.map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = place.baton().map_err(|e| format!("cannot find baton itself: {e}"))?;
    cmd.args(["run", "--headless"]).env_remove(super::CHILD_ENV).stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: setsid is async-signal-safe, as a call between fork and exec must be.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = tokio::process::Command::from(cmd).spawn().map_err(|e| format!("cannot start its loop: {e}"))?;
    Ok(Started::Now(child))
}

/// Asks the project's loop to pause after its session, through its journal.
pub fn pause(place: &Place) -> Result<String, String> {
    let project = open(place)?;
    let Some(pid) = loop_pid(place) else { return Err(format!("{}: no loop runs there", place.name())) };
    let (_, record) = Record::request(Remote::Pause);
    project.open_journal().and_then(|mut j| Ok(j.append(record)?)).map_err(|e| e.to_string())?;
    Ok(format!("{}: asked its loop (pid {pid}) to pause after the session", place.name()))
}
