//! A session's processes end with it: baton is the reaper of every orphan below it, and when a
//! session ends, everything the session started (marked, below a marked process, or in one of the
//! user namespaces its sandboxes noted) is killed and reaped, before the guard looks at the tree.

use std::path::Path;
use std::time::Duration;

/// Makes this process the reaper of its orphaned descendants: a session's double-forked daemon
/// stays below baton, where [`end_session`] finds it, instead of moving to init.
pub fn become_subreaper() {
    // SAFETY: prctl with this option reads only its integer argument.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Ends every process the session `session` left: those carrying its mark, their descendants,
/// and every process in a user namespace the session's sandboxes noted in `record` (a daemon
/// that dropped the mark and double-forked is still in its command's namespace). Then reaps the
/// orphans that became this process's children.
pub fn end_session(session: &str, record: Option<&Path>) {
    use crate::agent::policy::procs::{Live, Processes};
    let me = std::process::id() as i32;
    let namespaces: Vec<String> = record
        .and_then(|r| std::fs::read_to_string(r).ok())
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default();
    let procs = Live.all();
    let parents: Vec<(i32, i32)> = procs.iter().map(|p| (p.pid, parent_of(p.pid).unwrap_or(0))).collect();
    let below_me = |pid: i32| ancestor_in(&parents, pid, &[me]);
    // A namespace's number can be reused once it is gone: one of this session's is only trusted
    // for a process below this one that carries no other session's mark.
    let ours = |p: &crate::agent::policy::procs::Proc| {
        p.session.as_deref() == Some(session)
            || (p.session.is_none()
                && std::fs::read_link(format!("/proc/{}/ns/user", p.pid))
                    .is_ok_and(|ns| namespaces.iter().any(|n| *n == ns.display().to_string()))
                && below_me(p.pid))
    };
    let marked: Vec<i32> = procs.iter().filter(|p| ours(p)).map(|p| p.pid).collect();
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
