//! A session's processes end with it. With the sandbox on, the kernel sees to it (the session's
//! PID namespace goes with its holder); with it off, baton is the reaper of every orphan below
//! it, and when a session ends, everything the session started (marked, or below a marked
//! process) is killed and reaped, before the guard looks at the tree.

use std::time::Duration;

/// Makes this process the reaper of its orphaned descendants: a session's double-forked daemon
/// stays below baton, where [`end_session`] finds it, instead of moving to init.
pub fn become_subreaper() {
    // SAFETY: prctl with this option reads only its integer argument.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Ends every process the session `session` left unconfined: those carrying its mark and their
/// descendants. Then reaps the orphans that became this process's children.
pub fn end_session(session: &str) {
    use crate::agent::policy::procs::{Live, Processes};
    let me = std::process::id() as i32;
    let procs = Live.all();
    let parents: Vec<(i32, i32)> = procs.iter().map(|p| (p.pid, parent_of(p.pid).unwrap_or(0))).collect();
    let marked: Vec<i32> = procs.iter().filter(|p| p.session.as_deref() == Some(session)).map(|p| p.pid).collect();
    let doomed: Vec<i32> = parents
        .iter()
        .filter(|(pid, _)| *pid != me && (marked.contains(pid) || ancestor_in(&parents, *pid, &marked)))
        .map(|(pid, _)| *pid)
        .collect();
    for pid in &doomed {
        // SAFETY: kill only sends a signal.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    // The session's orphans are this process's children now (it is their subreaper): reap them.
    // A child tokio also waits for is only ever the session's too; a second wait fails harmlessly.
    let mut left: Vec<i32> =
        parents.iter().filter(|(p, parent)| *parent == me && doomed.contains(p)).map(|(p, _)| *p).collect();
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    while !left.is_empty() && std::time::Instant::now() < deadline {
        // SAFETY: waitpid on a specific pid with WNOHANG; status is a valid out pointer.
        left.retain(|pid| unsafe {
            let mut status = 0;
            libc::waitpid(*pid, &mut status, libc::WNOHANG) == 0
        });
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether one of `ancestors` is above `pid` in the process tree.
fn ancestor_in(parents: &[(i32, i32)], mut pid: i32, ancestors: &[i32]) -> bool {
    for _ in 0..64 {
        let Some((_, parent)) = parents.iter().find(|(p, _)| *p == pid) else { return false };
        if ancestors.contains(parent) {
            return true;
        }
        if *parent <= 1 {
            return false;
        }
        pid = *parent;
    }
    false
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses: state, then the parent's pid.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}
