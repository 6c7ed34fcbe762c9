//! The real binary in a pseudo-terminal, on the demo: approve one session, veto the next with a
//! reason, then check git and the journal. The screen is read back with a terminal emulator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::pty::Screen;

#[test]
fn approve_one_session_and_veto_the_next_in_a_real_terminal() {
    let sandbox = common::Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("tally");
    let mut screen = Screen::start(
        sandbox.home.path(),
        parent.path(),
        &["demo", dir.to_str().unwrap(), "--pace", "fast"],
        (120, 40),
        &[],
    );
    let first = screen.wait_for("Review · session 1 (initializer)", Duration::from_secs(60));
    assert!(first.contains("Lay the groundwork"), "{first}");
    screen.send("y");
    // Step mode once session 2 runs, so the veto leaves the branch where it put it. (Sent before
    // session 2 starts, the switch could stop the loop from starting it at all.)
    screen.wait_for("── session 2 (coding)", Duration::from_secs(60));
    screen.send("c");
    let second = screen.wait_for("Review · session 2 (coding)", Duration::from_secs(60));
    assert!(second.contains("Feature 1: implement and test it"), "{second}");
    screen.send("v");
    screen.wait_for("Why veto?", Duration::from_secs(10));
    screen.send("no test for an empty name");
    screen.send("\r");
    let after = screen.wait_for("session 2 vetoed: no test for an empty name", Duration::from_secs(20));
    assert!(after.contains("S2✗ vetoed:"), "the git log marks the vetoed tip:\n{after}");

    // git and the journal agree with the screen: the vetoed session's base is HEAD, its tip kept.
    let project = baton::project::Project::open(&dir).unwrap();
    let sessions = baton::project::journal::sessions(&project.journal().unwrap().entries);
    let vetoed = &sessions[1];
    assert_eq!(vetoed.verdict, Some(baton::project::session::Verdict::Vetoed));
    assert_eq!(vetoed.reason.as_deref(), Some("no test for an empty name"));
    let repo = git2::Repository::open(&dir).unwrap();
    assert_eq!(Some(repo.head().unwrap().target().unwrap().to_string()), vetoed.base);
    let tip = repo.find_reference("refs/baton/vetoed/session-0002").unwrap().target().unwrap();
    assert_eq!(Some(tip.to_string().as_str()), vetoed.head());
    // Session 3 evaluated session 2 (before its review); step mode started nothing after the veto.
    assert_eq!(sessions.len(), 3, "step mode: no session started after the veto");
    assert_eq!(sessions[2].kind, baton::project::session::SessionKind::Evaluator);

    screen.send("q");
    assert!(screen.wait_exit(Duration::from_secs(20)), "baton exited with an error");
    // The terminal was restored: the alternate screen is gone and the demo's path is printed.
    let last = screen.text();
    assert!(screen.restored(), "the terminal was left in full-screen mode");
    assert!(last.contains("demo project:"), "{last}");
    assert!(!last.contains("Transcript ·"), "the screen was left on the terminal:\n{last}");
}

/// With the sandbox turned off, the screen says so for the whole run, on the status line.
#[test]
fn a_run_with_the_sandbox_off_says_so_on_the_status_line() {
    let sandbox = common::Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    sandbox.run(dir.path(), &["init"]).ok();
    let config = dir.path().join(".baton/config.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace("# mode = \"on\"", "mode = \"off\"");
    std::fs::write(&config, text).unwrap();
    let mut screen = Screen::start(sandbox.home.path(), dir.path(), &[], (120, 30), &[]);
    let shown = screen.wait_for("⚠ sandbox off", Duration::from_secs(20));
    assert!(
        shown.lines().last().unwrap_or("").contains("⚠ sandbox off") || shown.contains("│ ⚠ sandbox off │"),
        "{shown}"
    );
    screen.send("q");
    assert!(screen.wait_exit(Duration::from_secs(20)));
}
