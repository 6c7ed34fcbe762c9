//! The circuit breaker: an agent that keeps failing one feature trips it after K sessions, the run
//! pauses naming the feature (headless: exit status 3), and skipping it lets the run go on to the
//! others; a session that makes the same failing call again and again is stopped at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::harness::{Harness, HarnessEvent, RunOptions, StopReason};
use baton::project::Project;
use baton::project::config::{ApprovePolicy, Mode};
use baton::project::journal::{self, Record};
use baton::project::session::Outcome;
use common::Sandbox;

const FEATURES: &str = r#"[
  {"category": "functional", "description": "the hard feature", "steps": ["./hard"], "passes": false},
  {"category": "functional", "description": "the easy feature", "steps": ["./easy"], "passes": false}
]
"#;

/// The agent's work: the hard feature never comes out right (a commit, and it still fails); once
/// it is set aside, the easy one is built and passes.
const WORK: &str = r#"#!/bin/sh
if grep -q '"skipped": true' feature_list.json; then
  sed -i '0,/"passes": false/s//"passes": true/' feature_list.json
  echo easy >> work.log
  git add -A && git commit -qm "The easy feature"
  echo "the easy feature works"
else
  echo attempt >> work.log
  git add -A && git commit -qm "Another try at the hard feature"
  echo "the hard feature still fails"
fi
"#;

const SESSION: &str = r#"
name = "stuck"
[[turns]]
id = "work"
start = "one of many agent sessions"
text = "Working on the first failing feature."
tools = [{ name = "bash", input = { command = "sh work.sh" } }]

[[turns]]
id = "done"
text = "That is all for this session."
"#;

fn project(config: &str) -> tempfile::TempDir {
    common::checklist_project(FEATURES, &[("work.sh", WORK)], config)
}

fn descriptions(dir: &Path) -> Vec<(String, bool, bool)> {
    let list = Project::open(dir).unwrap().features().unwrap().unwrap();
    list.features()
        .iter()
        .map(|f| (f.description().to_owned(), f.passes(), baton::project::features::is_skipped(f)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_feature_failed_again_and_again_trips_the_breaker_and_skipping_it_lets_the_run_go_on() {
    let sandbox = Sandbox::new();
    let dir = project("[evaluate]\nmode = \"off\"\n[run]\nsame_feature_sessions = 2\nno_progress_sessions = 10\n");
    let model = ScriptedModel::start(Scenario::parse("stuck.toml", SESSION).unwrap(), None).await.unwrap();
    let baton = |args: &[&str]| {
        let mut cmd = sandbox.baton(dir.path());
        cmd.env("ANTHROPIC_BASE_URL", model.url()).env("ANTHROPIC_API_KEY", "test-key").stdin(Stdio::null());
        common::Run::from(cmd.args(args).output().unwrap())
    };

    // Two sessions on the hard feature, each committing and none passing it: the breaker trips.
    let run = baton(&["run", "--headless", "--approve", "auto"]);
    assert_eq!(run.code, Some(3), "the breaker's exit status\n{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "circuit breaker (same_feature): feature 1 (\"the hard feature\") was attempted in 2 sessions in a row (1, 2) and still fails"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("baton features skip 1"), "it says what to do: {}", run.stdout);
    assert!(run.stdout.contains("run ended: no_progress"), "{}", run.stdout);
    let entries = Project::open(dir.path()).unwrap().journal().unwrap().entries;
    let tripped: Vec<_> = entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::BreakerTripped { rule, feature, .. } => Some((rule.clone(), *feature)),
            _ => None,
        })
        .collect();
    assert_eq!(tripped, [("same_feature".to_owned(), Some(1))]);
    let sessions = journal::sessions(&entries);
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|s| s.target == Some(1) && s.outcome() == Some(Outcome::Completed)));

    // The operator sets it aside: it moves to the end, marked skipped, in an operator commit.
    let skip = baton(&["features", "skip", "1"]).ok();
    assert!(skip.stdout.contains("feature 1 skipped for now: it is feature 2, the last"), "{}", skip.stdout);
    assert_eq!(
        descriptions(dir.path()),
        [("the easy feature".to_owned(), false, false), ("the hard feature".to_owned(), false, true)]
    );
    let repo = git2::Repository::open(dir.path()).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    assert!(head.message().unwrap().starts_with("Skip feature 1 for now"), "{:?}", head.message());

    // And hands the next session a note.
    let note = baton(&["features", "note", "the hard one needs the parser in lib/"]).ok();
    assert!(note.stdout.contains("the next coding session's prompt carries the note"), "{}", note.stdout);

    // The run goes on to the other feature, which passes; the run ends as asked.
    let run = baton(&["run", "--headless", "--approve", "auto", "--sessions", "1"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        descriptions(dir.path()),
        [("the easy feature".to_owned(), true, false), ("the hard feature".to_owned(), false, true)]
    );
    let entries = Project::open(dir.path()).unwrap().journal().unwrap().entries;
    let third = journal::sessions(&entries).pop().unwrap();
    assert_eq!((third.number, third.target), (3, Some(1)), "the easy feature, now first, was the target");
    let prompt = std::fs::read_to_string(dir.path().join(".baton/sessions/0003.jsonl")).unwrap();
    assert!(prompt.contains("A note from the operator: the hard one needs the parser in lib/"), "{prompt}");
    assert!(run.stdout.contains("summary: 3 coding sessions"), "{}", run.stdout);
    let report = baton::project::report::report(&entries);
    assert_eq!((report.limits.breaker_trips, report.interventions.skips), (1, 1));
}

/// An agent that runs the same failing command over and over, for ever.
const LOOPING: &str = r#"
name = "looping"
[[turns]]
id = "again"
start = "one of many agent sessions"
text = "Trying again."
tools = [{ name = "bash", input = { command = "cat missing-file.txt" } }]
next = [{ goto = "again" }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_failing_call_again_and_again_stops_the_session_and_trips_the_breaker() {
    let dir = project("[evaluate]\nmode = \"off\"\n[run]\nrepeated_failures = 3\n");
    let model = ScriptedModel::start(Scenario::parse("looping.toml", LOOPING).unwrap(), None).await.unwrap();
    let project = Project::open(dir.path()).unwrap();
    let backend = std::sync::Arc::new(common::agent(project.config())(&model.url()));
    let mut opts = RunOptions::from_config(project.config());
    opts.mode = Mode::Continuous;
    opts.approve = ApprovePolicy::Auto;
    let (harness, mut handles) = Harness::new(project, backend, opts).unwrap();
    let task = tokio::spawn(harness.run());
    let mut events = Vec::new();
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(60), handles.events.recv()).await.unwrap() {
        events.push(ev);
    }
    assert_eq!(task.await.unwrap().unwrap(), StopReason::NoProgress);
    let failures = events
        .iter()
        .filter(|e| {
            matches!(e, HarnessEvent::Agent { event: baton::agent::AgentEvent::ToolResult { is_error: true, .. }, .. })
        })
        .count();
    assert_eq!(failures, 3, "stopped at the third failure");
    assert!(model.requests().len() <= 4, "{} requests", model.requests().len());
    let tripped = events.iter().find_map(|e| match e {
        HarnessEvent::Tripped { rule, feature, detail } => Some((rule.clone(), *feature, detail.clone())),
        _ => None,
    });
    let (rule, feature, detail) = tripped.expect("the breaker tripped");
    assert_eq!((rule.as_str(), feature), ("repeated_failure", Some(1)));
    assert!(detail.contains("made the same failing call 3 times (`bash cat missing-file.txt`)"), "{detail}");
    let sessions = journal::sessions(&Project::open(dir.path()).unwrap().journal().unwrap().entries);
    assert_eq!(sessions.len(), 1, "no session after the trip");
    assert_eq!(sessions[0].outcome(), Some(Outcome::Interrupted));
}

/// The same on the screen, in a pseudo-terminal: the breaker's dialog opens; a note and a skip are
/// carried out without starting the run again; `n` goes on and the run finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_screen_the_breakers_dialog_takes_a_note_and_a_skip_and_n_goes_on() {
    let sandbox = Sandbox::new();
    let config =
        "[evaluate]\nmode = \"off\"\n[run]\nsame_feature_sessions = 2\napprove = \"auto\"\nmode = \"continuous\"\n";
    let dir = project(config);
    let model = ScriptedModel::start(Scenario::parse("stuck.toml", SESSION).unwrap(), None).await.unwrap();
    let url = model.url();
    let env = [("ANTHROPIC_BASE_URL", Some(url.as_str())), ("ANTHROPIC_API_KEY", Some("test-key"))];
    let mut screen = common::pty::Screen::start(sandbox.home.path(), dir.path(), &[], (120, 40), &env);
    // Waited for whole: a frame can be caught half drawn.
    let wanted =
        ["Circuit breaker: same feature", "the hard feature\") was attempted in 2 sessions", "paused: circuit breaker"];
    let shown =
        screen.wait_until(|t| wanted.iter().all(|w| t.contains(w)), "the breaker's dialog", Duration::from_secs(30));
    assert!(shown.contains("feature 1 (\"the hard feature\") was attempted in 2 sessions"), "{shown}");
    assert!(shown.contains("paused: circuit breaker"), "{shown}");

    screen.send("o");
    screen.send("try the other parser");
    screen.send("\r");
    screen.wait_for("the next coding session's prompt carries the note", Duration::from_secs(10));
    screen.send("s");
    screen.wait_for("feature 1 skipped for now: it is feature 2", Duration::from_secs(10));
    // Neither started the run again: two sessions, the skip committed by the operator.
    let entries = || Project::open(dir.path()).unwrap().journal().unwrap().entries;
    assert_eq!(journal::sessions(&entries()).len(), 2);
    assert_eq!(descriptions(dir.path())[1], ("the hard feature".to_owned(), false, true));

    screen.send("n");
    screen.wait_for("done: every feature passes", Duration::from_secs(30));
    let sessions = journal::sessions(&entries());
    assert_eq!(sessions[2].target, Some(1), "the easy feature, now first");
    let prompt = std::fs::read_to_string(dir.path().join(".baton/sessions/0003.jsonl")).unwrap();
    assert!(prompt.contains("A note from the operator: try the other parser"));
    screen.send("q");
    assert!(screen.wait_exit(Duration::from_secs(20)));
}
