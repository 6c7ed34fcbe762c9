//! What a session starts in the background does not outlive it: a test binary of its own, because
//! it makes the test process a subreaper (as the loop's process is) and counts processes, and
//! nothing else running in the same process may start, end or signal any.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use baton::agent::tools::{self, ToolContext};
use baton::project::config;
use serde_json::json;

/// The live processes whose arguments are exactly `argv` (a zombie has none).
fn running(argv: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn what_a_session_starts_in_the_background_does_not_outlive_it() {
    // As the loop does: orphans of the session stay below this process.
    baton::sandbox::become_subreaper();
    // Not under /tmp: the sandbox's writable paths are the project and the session's own dir.
    let dir = common::outside_tmp();
    let base = dir.path().canonicalize().unwrap();
    let root = base.join("project");
    std::fs::create_dir_all(root.join(".baton/sessions")).unwrap();
    let mark = format!("reap-test-{}", std::process::id());
    let sandbox = baton::sandbox::session(&root, &config::Sandbox::default(), &Default::default()).unwrap().unwrap();
    let ctx = ToolContext::new(&root, tokio_util::sync::CancellationToken::new())
        .with_session(mark)
        .with_sandbox(Some(sandbox.profile.clone()));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    // A daemon that drops the session's mark, leaves its process group and double-forks, then
    // would change the project after the session (and the guard) are over; and a plain
    // background process. Each sleep of a length of its own, so no other run's is counted.
    let (daemon, plain) = (format!("302.{}", std::process::id()), format!("301.{}", std::process::id()));
    let command = format!(
        "(env -u BATON_SESSION setsid sh -c 'sleep {daemon}; echo late > late.txt' > /dev/null 2>&1 &) ; nohup sleep {plain} > /dev/null 2>&1 & echo started"
    );
    let out = rt.block_on(tools::run("bash", &json!({ "command": command }), &ctx));
    assert!(!out.is_error && out.output.contains("started"), "{}", out.output);
    wait_until("the background process runs during the session", || running(&["sleep", &plain]).len() == 1);
    wait_until("the daemon runs during the session", || running(&["sleep", &daemon]).len() == 1);

    // The session's sandbox goes: its PID namespace, and everything in it, with it.
    drop(sandbox);
    wait_until("the background process ends with the session", || running(&["sleep", &plain]).is_empty());
    wait_until("the daemon ends with the session", || running(&["sleep", &daemon]).is_empty());
    std::thread::sleep(Duration::from_millis(300));
    assert!(!Path::new(&root.join("late.txt")).exists(), "the daemon wrote nothing after the session");
}
