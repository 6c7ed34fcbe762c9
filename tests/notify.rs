//! The operator's notify command (`[notify] command`): the right events, in order, on a demo run;
//! and a command that hangs or fails never holds the loop up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use baton::agent::scripted::ScriptedModel;
use baton::commands::demo::{self, DemoPace};
use baton::harness::{Command, HarnessEvent, StopReason};
use baton::project::config::{ApprovePolicy, Mode};

/// A demo project whose config runs `command` as its notify command.
fn demo_with(command: &str, timeout: u64) -> (tempfile::TempDir, baton::project::Project) {
    let parent = tempfile::tempdir().unwrap();
    let project = demo::create(Some(&parent.path().join("tally")), false, &mut std::io::sink()).unwrap();
    let config = project.root().join(".baton/config.toml");
    // The config `baton init` wrote has every key commented out under its table's header.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replacen("# command = \"\"", &format!("command = {command:?}"), 1)
        .replacen("# timeout_seconds = 10", &format!("timeout_seconds = {timeout}"), 1);
    std::fs::write(&config, text).unwrap();
    let project = baton::project::Project::open(project.root()).unwrap();
    (parent, project)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notify_command_hears_each_review_and_the_end_of_the_run_in_order() {
    let heard = tempfile::tempdir().unwrap();
    let log = heard.path().join("heard.jsonl");
    let (_parent, project) = demo_with(&format!("cat >> '{}'", log.display()), 10);
    let root = project.root().to_owned();
    let model = ScriptedModel::start(demo::scenario(DemoPace::Fast, false).unwrap(), None).await.unwrap();
    let (harness, mut handles) = common::demo_harness(project, &model, ApprovePolicy::Manual, Mode::Continuous, |_| {});
    let task = tokio::spawn(harness.run());
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(60), handles.events.recv()).await.unwrap() {
        if let HarnessEvent::ReviewNeeded { review, waiting: true } = ev {
            handles.commands.send(Command::Approve(review.number)).unwrap();
        }
    }
    assert_eq!(task.await.unwrap().unwrap(), StopReason::Done);
    // The run waits for its notifications to go out before it returns.
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let events: Vec<(String, Option<u64>)> =
        lines.iter().map(|l| (l["event"].as_str().unwrap().to_owned(), l["session"].as_u64())).collect();
    // The initializer, then every coding session (each evaluator takes the number after its
    // session, and asks for no review of its own); feature 6 is built twice (its first claim
    // failed evaluation).
    let mut expected: Vec<(String, Option<u64>)> =
        [1, 2, 4, 6, 8, 10, 12, 14, 16, 18].iter().map(|n| ("review_waiting".to_owned(), Some(*n))).collect();
    expected.push(("run_ended".to_owned(), None));
    assert_eq!(events, expected);
    assert!(lines.iter().all(|l| l["project"] == root.display().to_string()));
    assert!(
        lines[0]["summary"].as_str().unwrap().contains("session 1 (initializer) waits for a verdict"),
        "{}",
        lines[0]
    );
    assert!(lines[10]["summary"].as_str().unwrap().starts_with("done: every feature passes"), "{}", lines[10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_command_that_hangs_or_fails_never_holds_the_loop_up() {
    // A marker in the command line, to find its process.
    let marker = format!("sleep 601.{}", std::process::id());
    let (_parent, project) = demo_with(&format!("{marker}; exit 3"), 5);
    let model = ScriptedModel::start(demo::scenario(DemoPace::Fast, false).unwrap(), None).await.unwrap();
    let (harness, mut handles) = common::demo_harness(project, &model, ApprovePolicy::Manual, Mode::Step, |_| {});
    let task = tokio::spawn(harness.run());
    handles.commands.send(Command::StartNext).unwrap();
    let running = |m: &str| !common::processes(|c| c.contains(m)).is_empty();
    let mut answered_while_hung = false;
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(60), handles.events.recv()).await.unwrap() {
        match ev {
            HarnessEvent::ReviewNeeded { review, waiting: true } => {
                // Once the review's notification runs (and hangs), the operator approves.
                let asked = std::time::Instant::now();
                while !running(&marker) {
                    assert!(asked.elapsed() < Duration::from_secs(20), "the notify command never ran");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                handles.commands.send(Command::Approve(review.number)).unwrap();
            }
            // The verdict is carried out while the review's notification still hangs.
            HarnessEvent::Verdict { number: 1, .. } => {
                answered_while_hung = running(&marker);
                handles.commands.send(Command::Quit).unwrap();
            }
            _ => {}
        }
    }
    assert!(answered_while_hung, "the loop went on while the notify command hung");
    assert_eq!(task.await.unwrap().unwrap(), StopReason::Paused);
    // SIGKILL was sent at the timeout; on a loaded machine the process takes a moment to go.
    let ended = std::time::Instant::now();
    while running(&marker) && ended.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!running(&marker), "the hung command was ended at its timeout");
}
