//! The loop on temp git repositories, with baton's own agent talking to the scripted model over
//! loopback: initializer and coding sessions, the guard, review and veto, the approve policies,
//! caps, back-off, and a restart after SIGKILL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use baton::agent::anthropic::{AnthropicBackend, RetryPolicy};
use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::harness::{Command, Handles, Harness, HarnessEvent, RunOptions, StopReason};
use baton::project::Project;
use baton::project::config::{ApprovePolicy, Mode};
use baton::project::journal::{self, SessionSummary};
use baton::project::session::{Outcome, SessionKind, Verdict};
use common::Ended;
use common::Sandbox;

const LOOP: &str = include_str!("fixtures/loop.toml");

fn scenario(slow_step: &str) -> Scenario {
    Scenario::parse("loop.toml", &LOOP.replace("SLOW_STEP", slow_step)).unwrap()
}

/// A new project: a git repo with a spec and an operator identity, and `baton init` done.
fn project_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.txt"), "A greeter in shell.\n").unwrap();
    let sandbox = Sandbox::new();
    sandbox.run(dir.path(), &["init", "--spec", "spec.txt"]).ok();
    std::fs::remove_file(dir.path().join("spec.txt")).unwrap();
    let repo = git2::Repository::open(dir.path()).unwrap();
    let mut config = repo.config().unwrap();
    config.set_str("user.name", "Ada Operator").unwrap();
    config.set_str("user.email", "ada@example.com").unwrap();
    dir
}

fn options(project: &Project) -> RunOptions {
    let mut opts = RunOptions::from_config(project.config());
    opts.mode = Mode::Continuous;
    opts.approve = ApprovePolicy::Auto;
    opts.backoff_base = Duration::from_millis(20);
    opts
}

async fn harness(dir: &Path, model: &ScriptedModel, tweak: impl FnOnce(&mut RunOptions)) -> (Harness, Handles) {
    let project = Project::open(dir).unwrap();
    let backend = AnthropicBackend::new(&model.url(), "test-key", project.config()).unwrap().with_retry(RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    });
    let mut opts = options(&project);
    tweak(&mut opts);
    Harness::new(project, Arc::new(backend), opts).unwrap()
}

/// Runs a loop to its end, answering events with `respond`; returns the stop reason and events.
async fn drive(
    harness: Harness,
    mut handles: Handles,
    mut respond: impl FnMut(&HarnessEvent) -> Option<Command>,
) -> (StopReason, Vec<HarnessEvent>) {
    let task = tokio::spawn(harness.run());
    let mut events = Vec::new();
    while let Some(ev) =
        tokio::time::timeout(Duration::from_secs(60), handles.events.recv()).await.expect("the loop went quiet")
    {
        if let Some(cmd) = respond(&ev) {
            handles.commands.send(cmd).unwrap();
        }
        events.push(ev);
    }
    (task.await.unwrap().unwrap(), events)
}

fn sessions(dir: &Path) -> Vec<SessionSummary> {
    let project = Project::open(dir).unwrap();
    journal::sessions(&project.journal().unwrap().entries)
}

fn head(dir: &Path) -> String {
    git2::Repository::open(dir).unwrap().head().unwrap().target().unwrap().to_string()
}

fn passing(dir: &Path) -> usize {
    Project::open(dir).unwrap().features().unwrap().unwrap().passing()
}

#[tokio::test]
async fn an_initializer_and_three_coding_sessions_run_to_done() {
    let dir = project_dir();
    let model = ScriptedModel::start(scenario("true"), None).await.unwrap();
    let (h, handles) = harness(dir.path(), &model, |_| {}).await;
    let (reason, events) = drive(h, handles, |_| None).await;
    assert_eq!(reason, StopReason::Done);

    let all = sessions(dir.path());
    let kinds: Vec<SessionKind> = all.iter().map(|s| s.kind).collect();
    use SessionKind::{Coding, Evaluator, Initializer};
    assert_eq!(kinds, [Initializer, Coding, Evaluator, Coding, Evaluator, Coding, Evaluator]);
    // Each evaluator re-tested its session's claim, and has no verdict of its own.
    for e in all.iter().filter(|s| s.kind == Evaluator) {
        assert_eq!(e.verdict, None);
        let judged = all.iter().find(|s| s.number == e.number - 1).unwrap().evaluation.as_ref().unwrap();
        assert_eq!((judged.evaluator, judged.passed()), (e.number, true), "{judged:?}");
    }
    let s: Vec<SessionSummary> = all.iter().filter(|s| s.kind != Evaluator).cloned().collect();
    assert!(
        s.iter().all(|s| s.outcome() == Some(Outcome::Completed) && s.verdict == Some(Verdict::AutoApproved)),
        "{s:#?}"
    );
    for (i, session) in s[1..].iter().enumerate() {
        assert_eq!(session.r().flipped.len(), 1);
        assert_eq!(session.r().flipped[0].feature, i + 1, "each session takes the first failing feature");
        assert_eq!(session.base.as_deref(), s[i].head(), "each session starts where the last ended");
        assert!(session.r().violations.is_empty());
    }
    assert_eq!(passing(dir.path()), 3);
    for n in 1..=3 {
        assert!(dir.path().join(format!("feature_{n}.txt")).exists());
    }
    // Transcripts hold the prompt and every event.
    let t = std::fs::read_to_string(dir.path().join(".baton/sessions/0002.jsonl")).unwrap();
    assert!(t.lines().next().unwrap().contains("\"type\":\"prompt\""));
    assert!(t.contains("\"type\":\"tool_call\""));
    // The status the CLI prints agrees.
    let status = Sandbox::new().run(dir.path(), &["status", "--json"]).ok().json();
    assert_eq!(status["state"], "done");
    assert_eq!(status["features"]["passing"], 3);
    assert_eq!(status["sessions"].as_array().unwrap().len(), 7);
    assert_eq!(status["sessions"][5]["verdict"], "auto_approved");
    assert_eq!(status["sessions"][5]["evaluation"]["features"][0]["judgement"], "pass");
    assert_eq!(status["sessions"][6]["kind"], "evaluator");
    assert!(matches!(events.last(), Some(HarnessEvent::Stopped { reason: StopReason::Done, .. })));
    assert!(common::is_clean(&git2::Repository::open(dir.path()).unwrap()));
}

const TAMPER: &str = r#"
[[turns]]
id = "tamper"
start = "one of many agent sessions"
text = "Making the job look smaller."
tools = [{ name = "bash", input = { command = "python3 - <<'EOF'\nimport json\nf = json.load(open('feature_list.json'))\nf[0]['passes'] = True\nf[1]['description'] = 'greet prints something'\ndel f[2]\njson.dump(f, open('feature_list.json', 'w'), indent=2)\nEOF\ngit commit -qam 'Simplify the feature list' && echo done" } }]

[[turns]]
id = "tampered"
text = "Done."
"#;

#[tokio::test]
async fn a_session_that_deletes_and_rewords_features_is_repaired_and_its_flip_kept() {
    let dir = project_dir();
    let text = LOOP
        .replace("SLOW_STEP", "true")
        .replace("start = \"one of many agent sessions\"", "start = \"never matches\"")
        + TAMPER;
    let model = ScriptedModel::start(Scenario::parse("tamper.toml", &text).unwrap(), None).await.unwrap();
    let (h, handles) = harness(dir.path(), &model, |o| o.max_sessions = Some(2)).await;
    let (reason, _) = drive(h, handles, |_| None).await;
    assert_eq!(reason, StopReason::SessionCap);
    let s = &sessions(dir.path())[1];
    assert_eq!(s.r().violations.len(), 2, "{:?}", s.r().violations);
    assert!(
        s.r().violations[0].contains("feature 2 \"greet NAME prints hello NAME\": description changed"),
        "{:?}",
        s.r().violations
    );
    assert!(
        s.r().violations[1].contains("feature 3 \"greet --help prints usage\" was removed"),
        "{:?}",
        s.r().violations
    );
    assert_eq!(s.r().flipped.len(), 1);
    assert!(s.r().flipped[0].passes && s.r().flipped[0].feature == 1);

    let list = Project::open(dir.path()).unwrap().features().unwrap().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list.get(2).unwrap().description(), "greet NAME prints hello NAME");
    assert!(list.get(1).unwrap().passes(), "the honest flip stays");
    // The repair is baton's own commit, on top of the agent's.
    let repo = git2::Repository::open(dir.path()).unwrap();
    let tip = repo.head().unwrap().peel_to_commit().unwrap();
    assert!(tip.summary().unwrap().unwrap().starts_with("baton: restore the feature list after session 2"));
    assert_eq!(tip.author().name().unwrap(), "baton");
    assert_eq!(tip.parent(0).unwrap().summary().unwrap(), Some("Simplify the feature list"));
}

#[tokio::test]
async fn a_veto_resets_the_branch_keeps_the_tip_and_tells_the_next_session() {
    let dir = project_dir();
    let model = ScriptedModel::start(scenario("true"), None).await.unwrap();
    let (h, handles) = harness(dir.path(), &model, |o| {
        o.approve = ApprovePolicy::Manual;
        o.max_sessions = Some(3);
    })
    .await;
    let (reason, _) = drive(h, handles, |ev| match ev {
        HarnessEvent::ReviewNeeded { review, waiting: true } => Some(match review.number {
            2 => Command::Veto(2, "the greeting has no test".into()),
            n => Command::Approve(n),
        }),
        _ => None,
    })
    .await;
    assert_eq!(reason, StopReason::SessionCap);
    let s = sessions(dir.path());
    assert_eq!(s[1].verdict, Some(Verdict::Vetoed));
    assert_eq!(s[1].reason.as_deref(), Some("the greeting has no test"));
    let repo = git2::Repository::open(dir.path()).unwrap();
    let kept = repo.find_reference("refs/baton/vetoed/session-0002").unwrap().target().unwrap();
    assert_eq!(Some(kept.to_string().as_str()), s[1].head(), "the vetoed tip is kept");
    // Session 3 evaluated session 2 before its review; session 4 started from session 2's base,
    // did feature 1 again, and heard why.
    assert_eq!(s[2].kind, SessionKind::Evaluator);
    assert_eq!(s[3].base, s[1].base);
    assert_eq!(s[3].r().flipped[0].feature, 1);
    let requests = model.requests();
    let first_of_last = requests
        .iter()
        .rev()
        .filter(|r| r["messages"].as_array().unwrap().len() == 1)
        .find(|r| r["messages"][0]["content"][0]["text"].as_str().unwrap().contains("one of many agent sessions"))
        .unwrap();
    let prompt = &first_of_last["messages"][0]["content"][0]["text"];
    assert!(prompt.as_str().unwrap().contains("the greeting has no test"), "{prompt}");
}

#[tokio::test]
async fn checks_approves_only_when_verify_passes() {
    // verify passes once feature_1.txt exists: the initializer (no feature yet) waits for the
    // operator, the first coding session is approved on its own.
    let dir = project_dir();
    let model = ScriptedModel::start(scenario("true"), None).await.unwrap();
    let (h, handles) = harness(dir.path(), &model, |o| {
        o.approve = ApprovePolicy::Checks;
        o.verify = Some("test -f feature_1.txt".into());
        o.max_sessions = Some(2);
    })
    .await;
    let mut waited_for = Vec::new();
    let (reason, _) = drive(h, handles, |ev| match ev {
        HarnessEvent::ReviewNeeded { review, waiting: true } => {
            waited_for.push(review.number);
            assert!(!review.verify.as_ref().unwrap().passed);
            Some(Command::Approve(review.number))
        }
        _ => None,
    })
    .await;
    assert_eq!(reason, StopReason::SessionCap);
    assert_eq!(waited_for, vec![1]);
    let s = sessions(dir.path());
    assert_eq!(s[0].verdict, Some(Verdict::Approved));
    assert_eq!(s[1].verdict, Some(Verdict::AutoApproved));
    assert!(s[1].r().verify.as_ref().unwrap().passed);
}

#[tokio::test]
async fn the_budget_cap_stops_the_loop() {
    let dir = project_dir();
    let model = ScriptedModel::start(scenario("true"), None).await.unwrap();
    let (h, handles) = harness(dir.path(), &model, |o| o.budget_usd = Some(0.000_001)).await;
    let (reason, events) = drive(h, handles, |_| None).await;
    assert_eq!(reason, StopReason::Budget);
    assert_eq!(sessions(dir.path()).len(), 1);
    let Some(HarnessEvent::Stopped { detail, .. }) = events.last() else { panic!() };
    assert!(detail.contains("budget"), "{detail}");
}

#[tokio::test]
async fn sessions_that_do_nothing_pause_the_loop() {
    let dir = project_dir();
    let text = LOOP.replace("SLOW_STEP", "true").replace("start = \"one of many agent sessions\"", "start = \"never\"")
        + "\n[[turns]]\nid = \"idle\"\nstart = \"one of many agent sessions\"\ntext = \"I think everything is fine.\"\n";
    let model = ScriptedModel::start(Scenario::parse("idle.toml", &text).unwrap(), None).await.unwrap();
    let (h, handles) = harness(dir.path(), &model, |o| o.no_progress_sessions = 2).await;
    let (reason, _) = drive(h, handles, |_| None).await;
    assert_eq!(reason, StopReason::NoProgress);
    let s = sessions(dir.path());
    assert_eq!(s.len(), 3);
    assert_eq!(s[1].outcome(), Some(Outcome::NoProgress));
    assert_eq!(s[2].outcome(), Some(Outcome::NoProgress));
}

#[tokio::test]
async fn outside_failures_back_off_visibly_and_stop() {
    let dir = project_dir();
    let text = "name = \"down\"\n[[turns]]\nid = \"down\"\nstart = \".\"\ntext = \"x\"\nfaults = [{ kind = \"overloaded\", times = 1000 }]\n";
    let model = ScriptedModel::start(Scenario::parse("down.toml", text).unwrap(), None).await.unwrap();
    let (h, handles) = harness(dir.path(), &model, |o| o.max_outside_failures = 3).await;
    let (reason, events) = drive(h, handles, |_| None).await;
    assert_eq!(reason, StopReason::OutsideFailures);
    let backoffs: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            HarnessEvent::Backoff { .. } => Some(1),
            _ => None,
        })
        .collect();
    assert_eq!(backoffs.len(), 2, "a visible wait before each retry session");
    assert!(sessions(dir.path()).iter().all(|s| s.outcome() == Some(Outcome::RateLimited)));
}

#[tokio::test]
async fn one_loop_per_project() {
    let dir = project_dir();
    let model = ScriptedModel::start(scenario("true"), None).await.unwrap();
    let (_h, _handles) = harness(dir.path(), &model, |_| {}).await;
    let project = Project::open(dir.path()).unwrap();
    let backend = AnthropicBackend::new(&model.url(), "k", project.config()).unwrap();
    let second = Harness::new(project, Arc::new(backend), RunOptions::from_config(&Default::default()));
    let err = second.err().expect("a second loop is refused").to_string();
    assert!(err.contains(&format!("another baton (pid {}) is running the loop", std::process::id())), "{err}");
    // The CLI says the same, and status still answers.
    let sandbox = Sandbox::new();
    let out = sandbox.run(dir.path(), &["run", "--headless"]).failed();
    assert!(out.stderr.contains("is running the loop"), "{}", out.stderr);
    sandbox.run(dir.path(), &["status"]).ok();
}

#[tokio::test]
async fn review_and_marks_from_another_terminal_reach_the_running_loop() {
    let dir = project_dir();
    let model = ScriptedModel::start(scenario("true"), None).await.unwrap();
    let (h, handles) = harness(dir.path(), &model, |o| {
        o.approve = ApprovePolicy::Manual;
        o.max_sessions = Some(2);
    })
    .await;
    let path = dir.path().to_owned();
    let (reason, events) = drive(h, handles, move |ev| {
        if let HarnessEvent::ReviewNeeded { review, waiting: true } = ev {
            let path = path.clone();
            let number = review.number;
            std::thread::spawn(move || {
                let sandbox = Sandbox::sharing_keys();
                if number == 1 {
                    // Queued while the loop waits for the verdict, applied after it in the operator's name.
                    let out = sandbox.run(&path, &["features", "mark", "3", "--passes", "true"]).ok();
                    assert!(
                        out.stdout.contains("will mark feature 3 passing after the verdict on session 1"),
                        "{}",
                        out.stdout
                    );
                    let out = sandbox.run(&path, &["review", "approve"]).ok();
                    assert!(out.stdout.contains("session 1 approved"), "{}", out.stdout);
                } else {
                    let status = sandbox.run(&path, &["status", "--json"]).ok().json();
                    assert_eq!(status["state"], "awaiting_review");
                    assert_eq!(status["pending_review"], 2);
                    let out = sandbox.run(&path, &["review", "veto", "--reason", "not like this"]).ok();
                    assert!(out.stdout.contains("session 2 vetoed: not like this"), "{}", out.stdout);
                }
            });
        }
        None
    })
    .await;
    assert_eq!(reason, StopReason::SessionCap, "{events:#?}");
    let s = sessions(dir.path());
    assert_eq!(s[0].verdict, Some(Verdict::Approved));
    assert_eq!(s[1].verdict, Some(Verdict::Vetoed));
    // The mark landed before session 2, so session 2 started with feature 3 passing; the veto
    // took the branch back to that point.
    let repo = git2::Repository::open(dir.path()).unwrap();
    let base = repo.find_commit(git2::Oid::from_str(s[1].base.as_deref().unwrap()).unwrap()).unwrap();
    assert!(base.summary().unwrap().unwrap().starts_with("Mark feature 3 passing"));
    assert_eq!(base.author().name().unwrap(), "Ada Operator");
    assert_eq!(head(dir.path()), base.id().to_string());
    assert_eq!(passing(dir.path()), 1);
}

#[tokio::test]
async fn operator_edits_and_additions_are_applied_between_sessions_and_are_no_violations() {
    let dir = project_dir();
    let model = ScriptedModel::start(scenario("true"), None).await.unwrap();
    let (h, handles) = harness(dir.path(), &model, |o| o.max_sessions = Some(2)).await;
    let mut sent = false;
    let (reason, _) = drive(h, handles, |ev| match ev {
        // While session 2 runs: queued, applied after its guard.
        HarnessEvent::SessionStarted { number: 2, .. } if !sent => {
            sent = true;
            Some(Command::EditFeature {
                number: None,
                category: "functional".into(),
                description: "greet --shout prints HELLO".into(),
                steps: vec!["Run ./greet --shout".into(), "See HELLO".into()],
            })
        }
        _ => None,
    })
    .await;
    assert_eq!(reason, StopReason::SessionCap);
    let s = sessions(dir.path());
    assert!(s[1].r().violations.is_empty(), "an operator change is never a violation: {:?}", s[1].r().violations);
    let list = Project::open(dir.path()).unwrap().features().unwrap().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list.get(4).unwrap().description(), "greet --shout prints HELLO");
    assert_eq!(list.get(4).unwrap().steps().collect::<Vec<_>>(), ["Run ./greet --shout", "See HELLO"]);
    let repo = git2::Repository::open(dir.path()).unwrap();
    let tip = repo.head().unwrap().peel_to_commit().unwrap();
    assert!(tip.summary().unwrap().unwrap().starts_with("Add feature 4: greet --shout"), "{:?}", tip.summary());
    assert_eq!(tip.author().name().unwrap(), "Ada Operator");
}

/// An initializer that writes notes but no feature list is not `completed`: it says so, waits for
/// the operator even under `--approve auto`, and no second initializer follows on its own.
#[tokio::test]
async fn an_initializer_without_a_feature_list_is_named_and_never_auto_approved() {
    let dir = project_dir();
    let scenario = Scenario::parse(
        "lazy.toml",
        r#"
name = "lazy initializer"
[[turns]]
id = "notes"
start = "first session"
tools = [{ name = "write_file", input = { path = "claude-progress.txt", content = "Thought about it.\n" } }]
[[turns]]
id = "done"
text = "The groundwork is laid."
"#,
    )
    .unwrap();
    let model = ScriptedModel::start(scenario, None).await.unwrap();
    let (h, handles) = harness(dir.path(), &model, |_| {}).await;
    let mut waited = false;
    let (_, events) = drive(h, handles, |ev| match ev {
        HarnessEvent::ReviewNeeded { waiting: true, .. } => {
            waited = true;
            Some(Command::Quit)
        }
        _ => None,
    })
    .await;
    assert!(waited, "the review waited for the operator: {events:?}");
    let s = sessions(dir.path());
    assert_eq!(s.len(), 1, "no second initializer started on its own");
    assert_eq!(s[0].outcome(), Some(Outcome::NoFeatureList));
    assert_eq!(s[0].verdict, Some(Verdict::Pending));
    assert!(
        s[0].r().detail.as_deref().unwrap_or("").contains("without writing feature_list.json"),
        "{:?}",
        s[0].r().detail
    );
}

/// When every feature passes but verify fails, the loop goes on; verify ran once on that commit
/// (after the session), not again to decide whether to stop.
#[tokio::test]
async fn verify_runs_once_per_commit_when_every_feature_passes_and_it_fails() {
    let dir = project_dir();
    let model = ScriptedModel::start(scenario("true"), None).await.unwrap();
    let (h, handles) = harness(dir.path(), &model, |o| {
        o.verify = Some("echo ran >> verify-runs.log; false".into());
        o.max_sessions = Some(4);
    })
    .await;
    let (reason, events) = drive(h, handles, |_| None).await;
    assert_eq!(reason, StopReason::SessionCap);
    assert_eq!(passing(dir.path()), 3);
    assert!(
        events.iter().any(|e| matches!(e, HarnessEvent::Notice { text } if text.contains("verify fails: going on"))),
        "{events:?}"
    );
    let runs = std::fs::read_to_string(dir.path().join("verify-runs.log")).unwrap();
    assert_eq!(runs.lines().count(), 4, "once after each of the four sessions");
}
