//! The real binary in a pseudo-terminal, around the review: a pause never locks out the verdict,
//! SIGTERM restores the terminal and records the session, and a screen that cannot start
//! sessions (no API key) still shows what happened, takes verdicts and follows the journal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use baton::agent::scripted::ScriptedModel;
use baton::commands::demo::{self, DemoPace};
use baton::harness::{Command, HarnessEvent};
use baton::project::Project;
use baton::project::config::{ApprovePolicy, Mode};
use baton::project::journal;
use baton::project::session::{Outcome, Verdict};
use common::pty::Screen;

fn sessions(dir: &Path) -> Vec<journal::SessionSummary> {
    journal::sessions(&Project::open(dir).unwrap().journal().unwrap().entries)
}

#[test]
fn a_pause_at_the_review_still_takes_the_verdict_and_n_goes_on() {
    let sandbox = common::Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("tally");
    let args = ["demo", dir.to_str().unwrap(), "--pace", "fast"];
    let mut screen = Screen::start(sandbox.home.path(), parent.path(), &args, (80, 24), &[]);
    screen.wait_for("Review · session 1", Duration::from_secs(60));
    // Hide the review, pause, show it again, approve: the keys of the report.
    screen.send("\x1b");
    screen.send("p");
    screen.wait_for("pause queued", Duration::from_secs(5));
    screen.send("r");
    screen.wait_for("Review · session 1", Duration::from_secs(5));
    screen.send("y");
    screen.wait_for("paused", Duration::from_secs(10));
    assert_eq!(sessions(&dir)[0].verdict, Some(Verdict::Approved), "the verdict was recorded");
    assert_eq!(sessions(&dir).len(), 1, "the pause held: no session started");
    // n starts the loop again.
    screen.send("n");
    screen.wait_for("Review · session 2", Duration::from_secs(60));
    screen.send("q");
    assert!(screen.wait_exit(Duration::from_secs(20)));
    assert!(screen.restored());
}

#[test]
fn sigterm_restores_the_terminal_and_records_the_session_as_interrupted() {
    let sandbox = common::Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("tally");
    let args = ["demo", dir.to_str().unwrap(), "--pace", "slow"];
    let mut screen = Screen::start(sandbox.home.path(), parent.path(), &args, (120, 40), &[]);
    screen.wait_for("running", Duration::from_secs(30));
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(screen.pid(), libc::SIGTERM) };
    screen.wait_exit(Duration::from_secs(20));
    assert!(screen.restored(), "full screen, hidden cursor or mouse reporting left on:\n{}", screen.text());
    let s = &sessions(&dir)[0];
    assert_eq!(s.outcome(), Some(Outcome::Interrupted), "{s:?}");
    let status = sandbox.run(&dir, &["status", "--json"]).ok().json();
    assert_ne!(status["state"], "running", "{status}");
}

/// Runs the demo's loop in this process until its next review waits, then quits it, leaving the
/// review pending in the journal.
async fn one_session_to_review(project: Project, model: &ScriptedModel) {
    let (harness, mut handles) = common::demo_harness(project, model, ApprovePolicy::Manual, Mode::Continuous, |_| {});
    let task = tokio::spawn(harness.run());
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(60), handles.events.recv()).await.unwrap() {
        if matches!(ev, HarnessEvent::ReviewNeeded { waiting: true, .. }) {
            handles.commands.send(Command::Quit).unwrap();
        }
    }
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screen_that_cannot_start_sessions_shows_the_last_one_takes_verdicts_and_follows_the_journal() {
    let sandbox = common::Sandbox::sharing_keys();
    let parent = tempfile::tempdir().unwrap();
    let project = demo::create(Some(&parent.path().join("tally")), false, &mut std::io::sink()).unwrap();
    let dir = project.root().to_owned();
    let model = ScriptedModel::start(demo::scenario(DemoPace::Fast, false).unwrap(), None).await.unwrap();
    one_session_to_review(project, &model).await;

    // No API key: the screen cannot start sessions, and says why.
    // The loops run in this process: the screen and its commands read the journal's key beside it.
    let state = common::state_home();
    let env = [("ANTHROPIC_API_KEY", None), ("XDG_STATE_HOME", state.to_str())];
    let mut screen = Screen::start(sandbox.home.path(), &dir, &[], (120, 40), &env);
    let first = screen.wait_for("Review · session 1", Duration::from_secs(10));
    assert!(!first.contains("another baton"), "{first}");
    screen.send("\x1b");
    let panes = screen.wait_for("session 1, the last one", Duration::from_secs(5));
    assert!(panes.contains("read the spec"), "the last session's transcript shows:\n{panes}");
    // n with a review waiting shows it; the verdict is taken all the same, as `baton review
    // approve` would take it.
    screen.send("n");
    screen.wait_for("Review · session 1", Duration::from_secs(5));
    screen.send("y");
    screen.wait_for("session 1 approved", Duration::from_secs(10));
    assert_eq!(sessions(&dir)[0].verdict, Some(Verdict::Approved));
    // Now n says exactly why no session starts (the message log has it whole).
    screen.wait_for("watching: no session starts here", Duration::from_secs(5));
    screen.send("n");
    screen.send("m");
    screen.wait_for("sessions cannot start here: ANTHROPIC_API_KEY is not set", Duration::from_secs(5));
    screen.send("\x1b");

    // A loop elsewhere runs session 2 and leaves its review: the screen shows it...
    one_session_to_review(Project::open(&dir).unwrap(), &model).await;
    screen.wait_for("Review · session 2", Duration::from_secs(10));
    // ...and a veto given from another terminal closes it here.
    sandbox.run(&dir, &["review", "veto", "--reason", "no test for an empty name"]).ok();
    let after = screen.wait_for("session 2 vetoed", Duration::from_secs(10));
    assert!(!after.contains("Review · session 2"), "{after}");
    screen.send("q");
    assert!(screen.wait_exit(Duration::from_secs(10)));
    assert!(screen.restored());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screen_opened_while_another_loop_runs_takes_the_loop_over_when_it_ends() {
    let sandbox = common::Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let project = demo::create(Some(&parent.path().join("tally")), false, &mut std::io::sink()).unwrap();
    let dir = project.root().to_owned();
    let model = ScriptedModel::start(demo::scenario(DemoPace::Fast, false).unwrap(), None).await.unwrap();
    let (harness, mut handles) = common::demo_harness(project, &model, ApprovePolicy::Manual, Mode::Step, |_| {});
    let task = tokio::spawn(harness.run());
    handles.commands.send(Command::StartNext).unwrap();
    while !matches!(handles.events.recv().await.unwrap(), HarnessEvent::ReviewNeeded { waiting: true, .. }) {}

    // The demo opened again while this loop holds the project: it attaches.
    let demo_args = ["demo", dir.to_str().unwrap(), "--pace", "fast"];
    let state = common::state_home();
    let mut screen =
        Screen::start(sandbox.home.path(), parent.path(), &demo_args, (120, 40), &[("XDG_STATE_HOME", state.to_str())]);
    screen.wait_for("attached to pid", Duration::from_secs(10));
    handles.commands.send(Command::Quit).unwrap();
    task.await.unwrap().unwrap();
    screen.wait_for("session 1 waits for a verdict", Duration::from_secs(10));
    screen.send("m");
    screen.wait_for("the loop runs here now", Duration::from_secs(5));
    screen.send("r");
    screen.wait_for("Review · session 1", Duration::from_secs(10));
    screen.send("y");
    screen.wait_for("session 1 approved", Duration::from_secs(10));
    screen.send("n");
    screen.wait_for("Review · session 2", Duration::from_secs(60));
    screen.send("q");
    assert!(screen.wait_exit(Duration::from_secs(20)));
    assert_eq!(sessions(&dir)[0].verdict, Some(Verdict::Approved));
}
