//! Under `[evaluate] mode = "enforce"` the evaluator's pass is the only way a claim stands, even
//! when baton does not live through the evaluation: an evaluator cut short by a stopped baton, or
//! by a baton killed with SIGKILL, runs again when baton resumes, before the session's review, and
//! the false claim is flipped back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::harness::{Command, Harness, HarnessEvent, RunOptions, StopReason};
use baton::project::Project;
use baton::project::config::{ApprovePolicy, Mode};
use baton::project::evaluation::Judgement;
use baton::project::journal::{self, Record, SessionSummary};
use baton::project::session::{Outcome, SessionKind, Verdict};

const FEATURES: &str = include_str!("fixtures/evaluator/features.json");
const CODING: &str = include_str!("fixtures/evaluator/coding.toml");
const JUDGE: &str = include_str!("fixtures/evaluator/judge.toml");

/// The judge, first running `first` before it looks.
fn judge_after(first: &str) -> String {
    JUDGE.replacen("command = '''\n", &format!("command = '''\n{first}\n"), 1)
}

fn scenario(text: &str) -> Scenario {
    Scenario::parse("claims.toml", &format!("name = \"claims\"\n{text}")).unwrap()
}

fn sessions(dir: &Path) -> Vec<SessionSummary> {
    journal::sessions(&Project::open(dir).unwrap().journal().unwrap().entries)
}

fn passes(dir: &Path) -> Vec<bool> {
    let list = Project::open(dir).unwrap().features().unwrap().unwrap();
    list.features().iter().map(|f| f.passes()).collect()
}

/// What the journal shows after a resumed evaluation: the coding session, the evaluator cut
/// short, the evaluator run again whose verdicts stand (the false claim flipped back), and the
/// review after it.
fn evaluated_again(dir: &Path) {
    let s = sessions(dir);
    let kinds: Vec<SessionKind> = s.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [SessionKind::Coding, SessionKind::Evaluator, SessionKind::Evaluator], "{s:#?}");
    assert_eq!(s[1].outcome(), Some(Outcome::Interrupted));
    assert_eq!(s[2].outcome(), Some(Outcome::Completed));
    let e = s[0].evaluation.as_ref().expect("session 1 was evaluated on resume");
    assert_eq!(e.evaluator, 3);
    let judged: Vec<Judgement> = e.features.iter().map(|f| f.judgement).collect();
    assert_eq!(judged, [Judgement::Pass, Judgement::Fail]);
    assert_eq!(e.reverted, [2]);
    assert_eq!(passes(dir), [true, false], "the false claim did not stand");
    // The evaluation came before the review's verdict.
    let entries = Project::open(dir).unwrap().journal().unwrap().entries;
    let evaluated = entries.iter().position(|e| matches!(e.record, Record::Evaluated(_))).unwrap();
    let verdict = entries.iter().position(|e| matches!(e.record, Record::Verdict { number: 1, .. })).unwrap();
    assert!(evaluated < verdict);
    assert_eq!(s[0].verdict, Some(Verdict::AutoApproved));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluation_cut_short_by_a_stopped_baton_runs_again_on_resume() {
    let dir = common::checklist_project(FEATURES, &[], "[evaluate]\nmode = \"enforce\"\n");
    let run = |text: String, quit_at_evaluator: bool| {
        let dir = dir.path().to_owned();
        async move {
            let model = ScriptedModel::start(scenario(&text), None).await.unwrap();
            let project = Project::open(&dir).unwrap();
            let backend = common::backend(&project, &model.url(), false, &dir);
            let mut opts = RunOptions::from_config(project.config());
            opts.mode = Mode::Continuous;
            opts.approve = ApprovePolicy::Auto;
            opts.max_sessions = Some(if quit_at_evaluator { 1 } else { 0 });
            let (harness, mut handles) = Harness::new(project, backend, opts).unwrap();
            let task = tokio::spawn(harness.run());
            while let Some(ev) = tokio::time::timeout(Duration::from_secs(60), handles.events.recv()).await.unwrap() {
                // The operator quits while the evaluator is at work.
                if let HarnessEvent::Agent { number: 2, event: baton::agent::AgentEvent::ToolCall { .. } } = ev
                    && quit_at_evaluator
                {
                    handles.commands.send(Command::Quit).unwrap();
                }
            }
            task.await.unwrap().unwrap()
        }
    };
    let stopped = run(format!("{CODING}{}", judge_after("sleep 30")), true).await;
    assert_eq!(stopped, StopReason::Paused);
    let s = sessions(dir.path());
    assert!(s[0].evaluation.is_none(), "no verdict was taken from an evaluator cut short: {s:#?}");
    assert!(s[1].end.as_ref().unwrap().detail.as_deref().unwrap().contains("evaluated again when baton resumes"));
    assert_eq!(passes(dir.path()), [true, true], "nothing decided yet");
    assert_eq!(s[0].verdict, Some(Verdict::Pending));

    let resumed = run(JUDGE.to_owned(), false).await;
    assert_eq!(resumed, StopReason::SessionCap);
    evaluated_again(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baton_killed_while_the_evaluator_runs_runs_it_again_on_restart() {
    let sandbox = common::Sandbox::sharing_keys();
    let flags = tempfile::tempdir().unwrap();
    let flag = flags.path().join("judged");
    let config =
        format!("[evaluate]\nmode = \"enforce\"\n[sandbox]\nwritable = [{:?}]\n", flags.path().display().to_string());
    let dir = common::checklist_project(FEATURES, &[], &config);
    let marker = 710_000 + std::process::id() % 80_000;
    // The evaluator hangs the first time (the flag makes the next one quick).
    let slow = format!("test -f {f} || {{ touch {f}; sleep {marker}; }}", f = flag.display());
    let model = ScriptedModel::start(scenario(&format!("{CODING}{}", judge_after(&slow))), None).await.unwrap();
    let baton = |sessions: &str| {
        let mut cmd = sandbox.baton(dir.path());
        cmd.env("ANTHROPIC_BASE_URL", model.url())
            .env("ANTHROPIC_API_KEY", "test-key")
            .args(["run", "--headless", "--approve", "auto", "--sessions", sessions])
            .stdin(Stdio::null());
        cmd
    };
    let mut child = baton("1").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while common::processes(|c| c.starts_with(&format!("sleep {marker}"))).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "the evaluator never reached its slow step");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // SAFETY: SIGKILL to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let s = sessions(dir.path());
    assert_eq!(s.len(), 2);
    assert!(s[1].end.is_none() && s[0].evaluation.is_none(), "baton died mid-evaluation: {s:#?}");
    assert_eq!(passes(dir.path()), [true, true]);

    let out = common::Run::from(baton("0").output().unwrap()).ok();
    assert!(out.stdout.contains("session 1's claims were evaluated now"), "{}", out.stdout);
    evaluated_again(dir.path());
    assert!(common::processes(|c| c.starts_with(&format!("sleep {marker}"))).is_empty());
}
