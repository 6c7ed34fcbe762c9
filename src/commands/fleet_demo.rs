//! `baton demo --fleet [DIR]`: three demo projects (the tally tool, the web counter when the
//! browser is there, the small greeter) whose loops run at once under a cap of two sessions, each
//! on the scripted model on loopback, with the fleet's screen on them: no key, no network. The
//! fleet is one of its own (its list and slots under `DIR/.fleet/`): the user's is not touched.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use color_eyre::Result;
use color_eyre::eyre::WrapErr;
use tokio::sync::mpsc::UnboundedSender;

use super::demo::{self, DemoArgs, Kind};
use crate::agent::Backend;
use crate::agent::scripted::ScriptedModel;
use crate::fleet::account::Account;
use crate::fleet::control::Controls;
use crate::fleet::{Dirs, Fleet, Place};
use crate::harness::{Command, Harness, HarnessError, RunOptions, StopReason};
use crate::project::Project;
use crate::project::config::{ApprovePolicy, Mode};

/// The demo fleet's cap.
pub const MAX: u32 = 2;

/// One demo project and its loop, run in this process.
struct DemoLoop {
    place: Place,
    project: Project,
    backend: Arc<dyn Backend>,
    commands: Option<UnboundedSender<Command>>,
    task: Option<tokio::task::JoinHandle<Result<StopReason, HarnessError>>>,
}

/// The demo's loops, started, paused and stopped from the fleet's screen.
pub struct DemoLoops {
    loops: Vec<DemoLoop>,
    dirs: Dirs,
}

impl DemoLoops {
    fn running(&self, i: usize) -> bool {
        self.loops[i].task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Starts loop `i` in this process: continuous, every session waiting for your review.
    fn start_loop(&mut self, i: usize) -> Result<(), String> {
        let l = &mut self.loops[i];
        let mut opts = RunOptions::from_config(l.project.config());
        opts.approve = ApprovePolicy::Manual;
        opts.mode = Mode::Continuous;
        opts.fleet = Some(self.dirs.clone());
        opts.account = Some(Account::named("demo"));
        let (harness, mut handles) =
            Harness::new(l.project.clone(), l.backend.clone(), opts).map_err(|e| e.to_string())?;
        // The fleet's screen reads the journal; the events are only let go of.
        tokio::spawn(async move { while handles.events.recv().await.is_some() {} });
        l.commands = Some(handles.commands);
        l.task = Some(tokio::spawn(harness.run()));
        Ok(())
    }

    fn index(&self, place: &Place) -> Result<usize, String> {
        self.loops.iter().position(|l| l.place == *place).ok_or_else(|| format!("{}: not a demo project", place.name()))
    }

    /// Stops every loop, each recording its session, and waits for them.
    async fn stop_all(&mut self) {
        for l in &mut self.loops {
            if let Some(c) = l.commands.take() {
                let _ = c.send(Command::Quit);
            }
        }
        for l in &mut self.loops {
            if let Some(t) = l.task.take() {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(15), t).await;
            }
        }
    }
}

impl Controls for DemoLoops {
    fn start(&mut self, place: &Place) -> Result<String, String> {
        let i = self.index(place)?;
        if self.running(i) {
            return Ok(format!("{}: its loop already runs", place.name()));
        }
        self.start_loop(i)?;
        Ok(format!("{}: loop started", place.name()))
    }

    fn stop(&mut self, place: &Place) -> Result<String, String> {
        let i = self.index(place)?;
        match self.loops[i].commands.as_ref().filter(|_| self.running(i)) {
            Some(c) => {
                let _ = c.send(Command::Quit);
                Ok(format!("{}: stopping its loop; a session that ran is recorded as interrupted", place.name()))
            }
            None => Err(format!("{}: no loop runs there", place.name())),
        }
    }
}

/// The demo's projects: their folder names and kinds. The web counter needs the browser; without
/// it a second greeter stands in.
fn projects(root: &Path, out: &mut dyn Write) -> Result<Vec<(&'static str, Kind)>> {
    let web = root.join("web");
    if web.join(".baton").is_dir() || super::browser::find(&web).is_ok() {
        return Ok(vec![("tally", Kind::Tally), ("web", Kind::Web), ("greet", Kind::Greet)]);
    }
    writeln!(
        out,
        "no browser here (Chromium and the Playwright MCP server): a second greeter stands in for the web demo"
    )?;
    Ok(vec![("tally", Kind::Tally), ("greet", Kind::Greet), ("hello", Kind::Greet)])
}

/// Makes (or goes on with) the demo fleet in `args.dir`, runs its loops and shows the fleet's
/// screen until you quit; the loops stop with it, each recording its session.
pub fn run(args: DemoArgs, out: &mut dyn Write) -> Result<bool> {
    let root: PathBuf = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tempfile::Builder::new().prefix("baton-fleet-demo-").tempdir().wrap_err("cannot make a temp dir")?.keep()
        }
    };
    std::fs::create_dir_all(&root).wrap_err_with(|| format!("cannot create {}", root.display()))?;
    let root = std::fs::canonicalize(&root)?;
    let mut made = Vec::new();
    for (name, kind) in projects(&root, out)? {
        let project = demo::create_kind(Some(&root.join(name)), kind, &mut std::io::sink())?;
        made.push((kind, project));
    }
    let dirs = Dirs::at(&root.join(".fleet"));
    let places: Vec<Place> = made.iter().map(|(_, p)| Place::Local(p.root().to_owned())).collect();
    Fleet::update(&dirs, |f| {
        f.max = MAX;
        f.projects = places.clone();
    })?;
    writeln!(out, "demo fleet: {} ({} projects, at most {MAX} sessions at once)", root.display(), places.len())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = runtime.block_on(async {
        let mut models = Vec::new();
        let mut loops = Vec::new();
        for ((kind, project), place) in made.into_iter().zip(places) {
            let model = ScriptedModel::start(demo::scenario_of(kind, args.pace)?, None).await?;
            let backend = demo::backend(&DemoArgs { web: kind == Kind::Web, ..args.clone() }, &project, &model.url())?;
            models.push(model);
            loops.push(DemoLoop { place, project, backend, commands: None, task: None });
        }
        let mut demo = DemoLoops { loops, dirs: dirs.clone() };
        for i in 0..demo.loops.len() {
            demo.start_loop(i).map_err(color_eyre::eyre::Report::msg)?;
        }
        let shown = crate::tui::fleet::screen(&dirs, &mut demo).await;
        demo.stop_all().await;
        drop(models);
        shown
    });
    result?;
    writeln!(out, "demo fleet: {} (baton demo --fleet {} goes on where it stopped)", root.display(), root.display())?;
    Ok(true)
}
