//! `baton demo`: the bundled project built by the scripted agent, headless to done, and driven by
//! an operator through a veto and a manual mark.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use baton::agent::scripted::ScriptedModel;
use baton::commands::demo::{self, DemoPace};
use baton::harness::{Command, HarnessEvent, StopReason};
use baton::project::config::{ApprovePolicy, Mode};
use baton::project::journal::{self, Record};
use baton::project::session::{SessionKind, Verdict};
use common::Sandbox;

/// `baton demo --headless` on `backend`, in a new directory of `parent`; what it printed.
fn demo_headless(sandbox: &Sandbox, parent: &std::path::Path, backend: &str) -> common::Run {
    let out = sandbox
        .baton(parent)
        .args(["demo", "tally", "--headless", "--pace", "fast", "--backend", backend])
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    common::Run::from(out).ok()
}

/// What the demo shows, whichever backend ran it: a refusal, a guard repair, the evaluator catching
/// feature 6's false claim, and a real project whose tests pass.
fn assert_demo_done(run: &common::Run, dir: &std::path::Path) {
    assert!(run.stdout.contains("run ended: done: every feature passes; 8/8 features passing"), "{}", run.stdout);
    assert!(run.stdout.contains("⛔ policy refused bash: `curl` is not on the allowlist"), "the demo shows a refusal");
    assert!(
        run.stdout.contains("guard: feature 8 \"tally help describes every command\": description changed (repaired)"),
        "{}",
        run.stdout
    );
    // The evaluator catches feature 6's first, false claim; baton flips it back and the next
    // session builds it for real (the `tally top` below prints the highest count).
    assert!(
        run.stdout.contains("✗ feature 6 fail: ran ./tally add apples 2, ./tally add pears 7, ./tally add figs, ./tally top: got 'figs 1', but the steps say 'pears 7'")
            && run.stdout.contains("1 fail; marked failing again: 6"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.matches("(evaluator) from").count(), 9, "one evaluation per passing claim: {}", run.stdout);
    // Counted one way: the review line says the claim was flipped back, not that 6 passes; the end
    // of the run counts each kind of session, with the dollars of all of them.
    assert!(run.stdout.contains(", feature 6 claimed passing, flipped back\n"), "{}", run.stdout);
    assert!(run.stdout.contains("this run: 1 initializer + 9 coding + 9 evaluator sessions, $"), "{}", run.stdout);
    assert!(run.stdout.contains("its dollar figures are what claude-sonnet-4-5 would cost"), "{}", run.stdout);
    // The project is real: its own tests pass, and the tool works.
    let tests = std::process::Command::new("sh").arg("tests/run.sh").current_dir(dir).output().unwrap();
    assert!(tests.status.success());
    assert!(String::from_utf8_lossy(&tests.stdout).contains("8 passed, 0 failed"));
    let tally = std::process::Command::new("sh")
        .args(["-c", "./tally add tea 2 && ./tally add coffee && ./tally top"])
        .current_dir(dir)
        .env("TALLY_FILE", dir.join(".t"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&tally.stdout), "tea 2\n");
    let status = Sandbox::new().run(dir, &["status", "--json"]).ok().json();
    assert_eq!(status["state"], "done");
    assert_eq!(status["features"]["passing"], 8);
}

#[test]
fn demo_headless_builds_a_real_project_to_done() {
    let sandbox = Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let run = demo_headless(&sandbox, parent.path(), "anthropic");
    assert_demo_done(&run, &parent.path().join("tally"));
    // A directory that holds something else is refused: baton demo makes a new project.
    std::fs::create_dir(parent.path().join("mine")).unwrap();
    std::fs::write(parent.path().join("mine/notes.txt"), "keep me").unwrap();
    let refused = sandbox.run(parent.path(), &["demo", "mine", "--headless"]).failed();
    assert!(refused.stderr.contains("is not empty and not a demo project"), "{}", refused.stderr);
    assert_eq!(std::fs::read_to_string(parent.path().join("mine/notes.txt")).unwrap(), "keep me");
}

/// The same demo on chat completions: the scripted model speaks them too, offline.
#[test]
fn demo_headless_on_the_openai_backend_builds_the_same_project_to_done() {
    let sandbox = Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let run = demo_headless(&sandbox, parent.path(), "openai");
    assert!(run.stdout.contains("baton: openai backend, model claude-sonnet-4-5"), "{}", run.stdout);
    assert_demo_done(&run, &parent.path().join("tally"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_demo_goes_on_where_it_stopped() {
    let sandbox = Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let project = demo::create(Some(&parent.path().join("tally")), false, &mut std::io::sink()).unwrap();
    let dir = project.root().to_owned();
    // Two sessions, then the demo is left (as a quit or a kill leaves it).
    let model = ScriptedModel::start(demo::scenario(DemoPace::Fast, false).unwrap(), None).await.unwrap();
    let (harness, _handles) =
        common::demo_harness(project, &model, ApprovePolicy::Auto, Mode::Continuous, |o| o.max_sessions = Some(2));
    assert_eq!(harness.run().await.unwrap(), StopReason::SessionCap);
    let head_before = git2::Repository::open(&dir).unwrap().head().unwrap().target().unwrap();

    let again = sandbox.run(parent.path(), &["demo", "tally", "--headless", "--pace", "fast"]).ok();
    assert!(again.stdout.contains("going on where it stopped"), "{}", again.stdout);
    // Session 2 (coding) was followed by its evaluator, session 3.
    assert!(again.stdout.contains("── session 4 (coding)"), "numbering goes on: {}", again.stdout);
    assert!(!again.stdout.contains("session 1 (initializer)"), "{}", again.stdout);
    let status = sandbox.run(&dir, &["status", "--json"]).ok().json();
    assert_eq!(status["state"], "done");
    assert!(status["next_session"].is_null(), "a done project names no next session: {status}");
    let repo = git2::Repository::open(&dir).unwrap();
    assert!(repo.graph_descendant_of(repo.head().unwrap().target().unwrap(), head_before).unwrap());
    let text = sandbox.run(&dir, &["status"]).ok().stdout;
    assert!(text.contains("done      every feature passes"), "{text}");
    assert!(!text.contains("next "), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_copes_with_a_veto_and_a_manual_mark_and_still_reaches_done() {
    let parent = tempfile::tempdir().unwrap();
    let project = demo::create(Some(&parent.path().join("tally")), false, &mut std::io::sink()).unwrap();
    let dir = project.root().to_owned();
    let model = ScriptedModel::start(demo::scenario(DemoPace::Fast, false).unwrap(), None).await.unwrap();
    let (harness, mut handles) = common::demo_harness(project, &model, ApprovePolicy::Manual, Mode::Continuous, |_| {});
    let task = tokio::spawn(harness.run());
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(60), handles.events.recv()).await.unwrap() {
        if let HarnessEvent::ReviewNeeded { review, waiting: true } = ev {
            let cmd = match review.number {
                // Session 2 built feature 1: vetoed, so it is built again.
                2 => Command::Veto(2, "show must print one line per name".into()),
                n => {
                    // Session 3 was session 2's evaluator; session 4 built feature 1 again.
                    if n == 4 {
                        // The operator marks feature 3 by hand: the agent skips it.
                        handles.commands.send(Command::Mark { feature: 3, passes: true }).unwrap();
                    }
                    Command::Approve(n)
                }
            };
            handles.commands.send(cmd).unwrap();
        }
    }
    assert_eq!(task.await.unwrap().unwrap(), StopReason::Done);
    let project = baton::project::Project::open(&dir).unwrap();
    let sessions = journal::sessions(&project.journal().unwrap().entries);
    let sessions: Vec<_> = sessions.into_iter().filter(|s| s.kind != SessionKind::Evaluator).collect();
    assert_eq!(sessions[1].verdict, Some(Verdict::Vetoed));
    assert_eq!(sessions[1].end.as_ref().unwrap().flipped[0].feature, 1);
    assert_eq!(sessions[2].end.as_ref().unwrap().flipped[0].feature, 1, "after the veto, feature 1 is built again");
    assert!(
        sessions.iter().all(|s| s.end.iter().flat_map(|r| &r.flipped).all(|f| f.feature != 3)),
        "no session built the hand-marked feature"
    );
    assert_eq!(project.features().unwrap().unwrap().passing(), 8);
    let repo = git2::Repository::open(&dir).unwrap();
    assert!(repo.find_reference("refs/baton/vetoed/session-0002").is_ok());
    // Feature 3 was marked by hand, not built: the project's tests say so honestly (its test is
    // missing), yet every test that exists passes.
    assert!(!dir.join("tests/test_3.sh").exists());

    // The run's numbers, as `baton report --json` gives them, recomputed from the journal's records.
    let report = Sandbox::new().run(&dir, &["report", "--json"]).ok().json();
    let entries = project.journal().unwrap().entries;
    let records = |pick: &dyn Fn(&Record) -> bool| entries.iter().filter(|e| pick(&e.record)).count();
    let ended: Vec<&journal::SessionReport> = entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::SessionEnded(r) => Some(r),
            _ => None,
        })
        .collect();
    let cost: f64 = ended.iter().map(|r| r.cost_usd).sum();
    assert_eq!(report["sessions"], records(&|r| matches!(r, Record::SessionStarted { .. })));
    assert!((report["cost_usd"]["total"].as_f64().unwrap() - cost).abs() < 1e-9, "{report}");
    assert_eq!(
        report["reviews"]["vetoed"],
        records(&|r| matches!(r, Record::Verdict { verdict: Verdict::Vetoed, .. }))
    );
    assert_eq!(report["reviews"]["vetoed"], 1);
    assert_eq!(report["reviews"]["decided"], records(&|r| matches!(r, Record::Verdict { .. })));
    assert_eq!(report["interventions"]["marks"], records(&|r| matches!(r, Record::FeatureMarked { .. })));
    assert_eq!(report["interventions"]["marks"], 1);
    let judged: Vec<&baton::project::evaluation::FeatureJudgement> = entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::Evaluated(ev) => Some(&ev.features),
            _ => None,
        })
        .flatten()
        .collect();
    let failed = judged.iter().filter(|j| j.judgement == baton::project::evaluation::Judgement::Fail).count();
    assert_eq!(report["claims"]["evaluated"], judged.len());
    assert_eq!(report["claims"]["failed"], failed);
    assert_eq!(failed, 1, "feature 6's first claim");
    // Every feature passes: built by sessions that stood, or marked by hand (feature 3).
    let newly = report["newly_passing"].as_u64().unwrap();
    assert_eq!(newly + 1, 8, "{report}");
    let per = report["per_passing_feature"]["cost_usd"].as_f64().unwrap();
    assert!((per - cost / newly as f64).abs() < 1e-9, "{report}");
}
