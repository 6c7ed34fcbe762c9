//! The evaluator on the scripted model: after a coding session marks features passing, a fresh,
//! read-only session re-tests each claim. An honest claim passes; a false one is caught with
//! evidence and, under `enforce`, flipped back in a baton commit, its evidence handed to the next
//! session; an evaluator that tries to change the project is refused and the tree is found as it
//! was (or put back, with the sandbox off); an answer baton cannot read is an error, never a pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use baton::agent::AgentEvent;
use baton::agent::anthropic::AnthropicBackend;
use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::harness::{Command, Harness, HarnessEvent, RunOptions};
use baton::project::Project;
use baton::project::config::{ApprovePolicy, Mode};
use baton::project::evaluation::{Evaluation, Judgement};
use baton::project::journal::{self, SessionSummary};
use baton::project::session::SessionKind;

const FEATURES: &str = include_str!("fixtures/evaluator/features.json");

/// A coding session that builds feature 1 and claims feature 2 as well (it built nothing for it).
const CODING: &str = include_str!("fixtures/evaluator/coding.toml");

/// An evaluator that checks each claimed feature's file itself and answers from what it saw.
const JUDGE: &str = include_str!("fixtures/evaluator/judge.toml");

/// A project whose checklist has two failing features, committed, with `config` as its baton
/// config.
fn project(config: &str) -> tempfile::TempDir {
    common::checklist_project(FEATURES, &[], config)
}

struct Ran {
    events: Vec<HarnessEvent>,
    sessions: Vec<SessionSummary>,
    requests: Vec<serde_json::Value>,
}

/// Runs `coding_sessions` coding sessions (each followed by its evaluator) on `scenario`, in
/// continuous mode under `approve`; a review that waits is answered by quitting.
async fn run(dir: &Path, scenario: &str, approve: ApprovePolicy, coding_sessions: u32) -> Ran {
    run_on(dir, scenario, approve, coding_sessions, false).await
}

/// As [`run`], with baton's own agent or (`cli`) the real `claude` CLI for every session.
async fn run_on(dir: &Path, scenario: &str, approve: ApprovePolicy, coding_sessions: u32, cli: bool) -> Ran {
    let scenario = Scenario::parse("evaluator.toml", &format!("name = \"evaluator\"\n{scenario}")).unwrap();
    let model = ScriptedModel::start(scenario, None).await.unwrap();
    let project = Project::open(dir).unwrap();
    let home = tempfile::tempdir().unwrap();
    let backend = common::backend(&project, &model.url(), cli, home.path());
    let mut opts = RunOptions::from_config(project.config());
    opts.mode = Mode::Continuous;
    opts.approve = approve;
    opts.max_sessions = Some(coding_sessions);
    let (harness, mut handles) = Harness::new(project, backend, opts).unwrap();
    let task = tokio::spawn(harness.run());
    let mut events = Vec::new();
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(60), handles.events.recv()).await.unwrap() {
        if let HarnessEvent::ReviewNeeded { waiting: true, .. } = ev {
            handles.commands.send(Command::Quit).unwrap();
        }
        events.push(ev);
    }
    task.await.unwrap().unwrap();
    let sessions = journal::sessions(&Project::open(dir).unwrap().journal().unwrap().entries);
    Ran { events, sessions, requests: model.requests() }
}

fn evaluation(ran: &Ran, session: u32) -> &Evaluation {
    ran.sessions.iter().find(|s| s.number == session).unwrap().evaluation.as_ref().expect("the session was evaluated")
}

fn passes(dir: &Path) -> Vec<bool> {
    let list = Project::open(dir).unwrap().features().unwrap().unwrap();
    list.features().iter().map(|f| f.passes()).collect()
}

fn head(dir: &Path) -> git2::Oid {
    git2::Repository::open(dir).unwrap().head().unwrap().target().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_claim_is_caught_flipped_back_and_its_evidence_goes_to_the_next_session() {
    let dir = project("[evaluate]\nmode = \"enforce\"\n");
    let ran = run(dir.path(), &format!("{CODING}{JUDGE}"), ApprovePolicy::Auto, 2).await;
    let kinds: Vec<SessionKind> = ran.sessions.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [SessionKind::Coding, SessionKind::Evaluator, SessionKind::Coding, SessionKind::Evaluator]);

    // The honest claim passes, the false one fails with what the evaluator saw.
    let e = evaluation(&ran, 1);
    assert_eq!(e.evaluator, 2);
    assert_eq!(e.features[0].judgement, Judgement::Pass, "{e:?}");
    assert_eq!(e.features[1].judgement, Judgement::Fail, "{e:?}");
    assert!(e.features[1].evidence.contains("feature_2.txt is missing"), "{e:?}");
    assert_eq!(e.reverted, [2]);
    assert!(e.restored.is_empty(), "the evaluator changed nothing: {e:?}");

    // Flipped back in a baton commit that says why; the review carried the verdicts.
    let repo = git2::Repository::open(dir.path()).unwrap();
    let flip_back = repo.find_commit(git2::Oid::from_str(e.head.as_deref().unwrap()).unwrap()).unwrap();
    assert_eq!(flip_back.author().name().unwrap(), "baton");
    assert!(
        flip_back.message().unwrap().contains("feature 2 not passed by the evaluator"),
        "{:?}",
        flip_back.message()
    );
    assert!(
        flip_back.message().unwrap().contains("- feature 2 failed: feature_2.txt is missing"),
        "{:?}",
        flip_back.message()
    );
    assert!(flip_back.message().unwrap().contains("feature_2.txt is missing"));
    let reviewed = ran.events.iter().find_map(|ev| match ev {
        HarnessEvent::ReviewNeeded { review, .. } if review.number == 1 => review.evaluation.clone(),
        _ => None,
    });
    assert_eq!(reviewed.as_ref(), Some(e));
    assert_eq!(ran.sessions[0].head(), e.head.as_deref(), "the flip-back is part of session 1's review");

    // The next coding session hears of it, and its own false claim is caught again.
    let prompts: Vec<String> = ran
        .requests
        .iter()
        .filter(|r| r["messages"].as_array().is_some_and(|m| m.len() == 1))
        .map(|r| r["messages"][0]["content"][0]["text"].as_str().unwrap_or("").to_owned())
        .filter(|t| t.contains("one of many agent sessions"))
        .collect();
    assert_eq!(prompts.len(), 2);
    assert!(!prompts[0].contains("evaluator"), "{}", prompts[0]);
    assert!(
        prompts[1].contains("marked feature 2 (\"feature two\") passing, but the evaluator tested it and it fails")
            && prompts[1].contains("feature_2.txt is missing"),
        "{}",
        prompts[1]
    );
    assert_eq!(evaluation(&ran, 3).reverted, [2]);
    assert_eq!(passes(dir.path()), [true, false]);
    // The evaluator's own prompt named the claims, their steps and the session's diff.
    let judge = ran.requests.iter().find_map(|r| {
        let t = r["messages"][0]["content"][0]["text"].as_str()?;
        t.contains("You are the evaluator").then(|| t.to_owned())
    });
    let judge = judge.unwrap();
    assert!(
        judge.contains("Feature 2 (functional): feature two") && judge.contains("2. See feature 2 works"),
        "{judge}"
    );
    assert!(judge.contains("+feature 1 works"), "the diff: {judge}");
    // Its tokens and cost are its own session's.
    let evaluator = &ran.sessions[1];
    assert!(evaluator.usage().input_tokens > 0 && evaluator.verdict.is_none(), "{evaluator:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_mode_keeps_the_flip_and_checks_do_not_approve_a_failed_evaluation() {
    let dir = project("[evaluate]\nmode = \"report\"\n");
    let ran = run(dir.path(), &format!("{CODING}{JUDGE}"), ApprovePolicy::Checks, 1).await;
    let e = evaluation(&ran, 1);
    assert_eq!(e.count(Judgement::Fail), 1);
    assert!(e.reverted.is_empty() && e.head.is_none());
    assert_eq!(passes(dir.path()), [true, true], "report mode changes nothing");
    let waiting = ran
        .events
        .iter()
        .any(|ev| matches!(ev, HarnessEvent::ReviewNeeded { review, waiting: true } if review.number == 1));
    assert!(waiting, "a failed evaluation is a failed check: the review waits for the operator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_claims_all_pass_and_checks_approve_them() {
    let dir = project("[evaluate]\nmode = \"enforce\"\n");
    let honest = CODING.replace(
        "{ name = \"write_file\", input = { path = \"feature_1.txt\", content = \"feature 1 works\\n\" } },",
        "{ name = \"write_file\", input = { path = \"feature_1.txt\", content = \"feature 1 works\\n\" } },\n  { name = \"write_file\", input = { path = \"feature_2.txt\", content = \"feature 2 works\\n\" } },",
    );
    assert_ne!(honest, CODING);
    let ran = run(dir.path(), &format!("{honest}{JUDGE}"), ApprovePolicy::Checks, 1).await;
    let e = evaluation(&ran, 1);
    assert!(e.passed(), "{e:?}");
    assert!(e.reverted.is_empty());
    assert_eq!(passes(dir.path()), [true, true]);
    assert_eq!(ran.sessions[0].verdict, Some(baton::project::session::Verdict::AutoApproved));
}

/// An evaluator that tries every way to change the project: file tools, a redirect, a commit,
/// and python (which the policy lets run, so the sandbox stops it).
const MEDDLER: &str = r#"
[[turns]]
id = "meddle"
start = "(?s)You are the evaluator"
text = "Making feature 2 true instead of judging it."
tools = [
  { name = "write_file", input = { path = "feature_2.txt", content = "feature 2 works\n" } },
  { name = "edit", input = { path = "feature_1.txt", old_string = "works", new_string = "is great" } },
  { name = "bash", input = { command = "echo 'feature 2 works' > feature_2.txt" } },
  { name = "bash", input = { command = "git commit --allow-empty -qm 'evaluator was here'" } },
  { name = "bash", input = { command = "python3 -c \"open('feature_2.txt', 'w').write('feature 2 works')\"" } },
  { name = "bash", input = { command = "echo scratch > $TMPDIR/scratch.txt && cat $TMPDIR/scratch.txt" } },
]
[[turns]]
id = "lie"
text = '<evaluation>[{"feature": 1, "verdict": "pass", "evidence": "fine"}, {"feature": 2, "verdict": "pass", "evidence": "fine now"}]</evaluation>'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluator_that_edits_is_refused_and_the_tree_is_found_unchanged() {
    let dir = project("[evaluate]\nmode = \"enforce\"\n");
    let ran = run(dir.path(), &format!("{CODING}{MEDDLER}"), ApprovePolicy::Auto, 1).await;
    let evaluator_events: Vec<&AgentEvent> = ran
        .events
        .iter()
        .filter_map(|ev| match ev {
            HarnessEvent::Agent { number: 2, event } => Some(event),
            _ => None,
        })
        .collect();
    let refused: Vec<&str> = evaluator_events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::PolicyDenied { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 4, "write_file, edit, the redirect and the commit: {refused:#?}");
    assert!(refused.iter().all(|r| r.contains("may not change it")), "{refused:#?}");
    let sandboxed = evaluator_events.iter().filter(|e| matches!(e, AgentEvent::SandboxDenied { .. })).count();
    assert_eq!(sandboxed, 1, "python's write met the read-only project: {evaluator_events:#?}");
    let results = common::tool_results(&evaluator_events.iter().map(|e| (*e).clone()).collect::<Vec<_>>());
    assert!(
        results.last().is_some_and(|(out, err)| !err && out.contains("scratch")),
        "$TMPDIR stays writable: {results:?}"
    );
    // Nothing changed: no file, no commit beyond the coding session's.
    assert!(!dir.path().join("feature_2.txt").exists());
    assert_eq!(std::fs::read_to_string(dir.path().join("feature_1.txt")).unwrap(), "feature 1 works\n");
    let e = evaluation(&ran, 1);
    assert!(e.restored.is_empty(), "{e:?}");
    assert_eq!(ran.sessions[0].end.as_ref().unwrap().commits.len(), 1);
    assert_eq!(Some(head(dir.path()).to_string().as_str()), ran.sessions[0].head());
    assert!(common::is_clean(&git2::Repository::open(dir.path()).unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_sandbox_off_what_an_evaluator_changes_is_undone_and_reported() {
    let dir = project("[evaluate]\nmode = \"enforce\"\n[sandbox]\nmode = \"off\"\n");
    let ran = run(dir.path(), &format!("{CODING}{MEDDLER}"), ApprovePolicy::Auto, 1).await;
    // python got past the policy and, with no sandbox, wrote: baton took it back.
    let e = evaluation(&ran, 1);
    assert_eq!(e.restored, ["feature_2.txt"], "{e:?}");
    assert!(!dir.path().join("feature_2.txt").exists());
    assert!(common::is_clean(&git2::Repository::open(dir.path()).unwrap()));
    let told = ran.events.iter().any(|ev| {
        matches!(ev, HarnessEvent::Notice { text } if text.contains("the evaluator changed what it may not; baton undid it: feature_2.txt"))
    });
    assert!(told, "the operator is told");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_baton_cannot_read_is_an_error_never_a_pass() {
    let dir = project("[evaluate]\nmode = \"enforce\"\n");
    let vague = r#"
[[turns]]
id = "vague"
start = "(?s)You are the evaluator"
text = "I looked around and everything seems to work. All features pass!"
"#;
    let ran = run(dir.path(), &format!("{CODING}{vague}"), ApprovePolicy::Checks, 1).await;
    let e = evaluation(&ran, 1);
    assert!(e.features.iter().all(|f| f.judgement == Judgement::Error), "{e:?}");
    assert!(e.features[0].evidence.contains("no <evaluation> block"), "{e:?}");
    assert!(!e.passed());
    // Under enforce only a pass lets a claim stand: both are flipped back, saying the evaluator
    // gave no verdict; and checks wait for the operator.
    assert_eq!(e.reverted, [1, 2]);
    assert_eq!(passes(dir.path()), [false, false]);
    let repo = git2::Repository::open(dir.path()).unwrap();
    let flip_back = repo.find_commit(git2::Oid::from_str(e.head.as_deref().unwrap()).unwrap()).unwrap();
    let message = flip_back.message().unwrap();
    assert!(message.contains("features 1, 2 not passed by the evaluator"), "{message}");
    assert!(message.contains("- feature 2, no verdict: the evaluator's answer has no <evaluation> block"), "{message}");
    assert!(ran.events.iter().any(|ev| matches!(ev, HarnessEvent::ReviewNeeded { waiting: true, .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_off_runs_no_evaluator() {
    let dir = project("[evaluate]\nmode = \"off\"\n");
    let ran = run(dir.path(), &format!("{CODING}{JUDGE}"), ApprovePolicy::Auto, 1).await;
    assert_eq!(ran.sessions.len(), 1);
    assert!(ran.sessions[0].evaluation.is_none());
}

/// The same catch through the real `claude` CLI: the evaluator runs read-only there too (no write
/// tools, the hook's read-only policy, the sandbox's read-only project).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_claude_cli_a_false_claim_is_caught_and_flipped_back() {
    let dir = project("[evaluate]\nmode = \"enforce\"\n");
    let ran = run_on(dir.path(), &format!("{CODING}{JUDGE}"), ApprovePolicy::Auto, 1, true).await;
    assert_eq!(ran.sessions[1].backend, "claude-code");
    let e = evaluation(&ran, 1);
    let judged: Vec<Judgement> = e.features.iter().map(|f| f.judgement).collect();
    assert_eq!(judged, [Judgement::Pass, Judgement::Fail], "{e:?}");
    assert_eq!(e.reverted, [2]);
    assert_eq!(passes(dir.path()), [true, false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_claude_cli_an_evaluator_that_edits_changes_nothing() {
    let dir = project("[evaluate]\nmode = \"enforce\"\n");
    let ran = run_on(dir.path(), &format!("{CODING}{MEDDLER}"), ApprovePolicy::Auto, 1, true).await;
    let results: Vec<(String, bool)> = ran
        .events
        .iter()
        .filter_map(|ev| match ev {
            HarnessEvent::Agent { number: 2, event: AgentEvent::ToolResult { output, is_error, .. } } => {
                Some((output.clone(), *is_error))
            }
            _ => None,
        })
        .collect();
    // Write, Edit, the redirect, the commit and python's write all fail; $TMPDIR works.
    assert_eq!(results.len(), 6, "{results:#?}");
    assert!(results[..5].iter().all(|(_, err)| *err), "{results:#?}");
    assert!(results[5].0.contains("scratch") && !results[5].1, "{results:#?}");
    assert!(!dir.path().join("feature_2.txt").exists());
    assert_eq!(std::fs::read_to_string(dir.path().join("feature_1.txt")).unwrap(), "feature 1 works\n");
    let e = evaluation(&ran, 1);
    assert!(e.restored.is_empty(), "nothing got through to undo: {e:?}");
    assert_eq!(Some(head(dir.path()).to_string().as_str()), ran.sessions[0].head());
    assert!(common::is_clean(&git2::Repository::open(dir.path()).unwrap()));
}

/// A claim never evaluated (baton stopped while the evaluator ran) is no pass for `checks`: the
/// review waits for the operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_wait_for_the_operator_when_a_claim_was_never_evaluated() {
    use baton::project::journal::{Flip, Journal, Record, SessionReport};
    use baton::project::session::Outcome;
    let dir = project("[evaluate]\nmode = \"report\"\n");
    let head = git2::Repository::open(dir.path()).unwrap().head().unwrap().target().unwrap().to_string();
    let project = Project::open(dir.path()).unwrap();
    let mut journal = Journal::open(&project.journal_path()).unwrap();
    journal
        .append(Record::SessionStarted {
            number: 1,
            kind: SessionKind::Coding,
            backend: "anthropic".into(),
            model: "m".into(),
            base: Some(head.clone()),
            uncommitted: Vec::new(),
            target: None,
        })
        .unwrap();
    let flipped = vec![Flip { feature: 1, passes: true, description: "feature one".into() }];
    let report = SessionReport { head: Some(head), flipped, ..SessionReport::new(1, Outcome::Completed) };
    journal.append(Record::SessionEnded(report)).unwrap();
    drop(journal);
    let model = ScriptedModel::start(
        Scenario::parse("none", "name = \"none\"\n[[turns]]\nid = \"x\"\nstart = \"^$\"\n").unwrap(),
        None,
    )
    .await
    .unwrap();
    let backend = AnthropicBackend::new(&model.url(), "test-key", project.config()).unwrap();
    let mut opts = RunOptions::from_config(project.config());
    opts.approve = ApprovePolicy::Checks;
    let (harness, mut handles) = Harness::new(project, Arc::new(backend), opts).unwrap();
    let task = tokio::spawn(harness.run());
    let waiting = loop {
        match tokio::time::timeout(Duration::from_secs(20), handles.events.recv()).await.unwrap().unwrap() {
            HarnessEvent::ReviewNeeded { review, waiting } => break (review.number, waiting),
            _ => continue,
        }
    };
    assert_eq!(waiting, (1, true), "checks do not approve a claim nobody evaluated");
    handles.commands.send(Command::Quit).unwrap();
    task.await.unwrap().unwrap();
}
