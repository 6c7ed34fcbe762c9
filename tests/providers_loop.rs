//! The whole loop (initializer, coding sessions, a refused command, the guard, the evaluator) on the
//! demo project, with baton's own agent against the scripted model playing other servers: the
//! `anthropic` backend on Ollama's and llama.cpp's Messages endpoints, the evaluator on another
//! backend than the sessions, and `baton run --headless --backend openai` as the real binary, its
//! evaluator on the Messages API, and with a model nobody priced.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use baton::agent::Backend;
use baton::agent::anthropic::AnthropicBackend;
use baton::agent::openai::OpenAiBackend;
use baton::agent::scripted::{Profile, ScriptedModel};
use baton::commands::demo::{self, DemoPace};
use baton::harness::{Harness, HarnessEvent, RunOptions, StopReason};
use baton::project::Project;
use baton::project::config::{ApprovePolicy, Mode};
use baton::project::journal::{self, Record};
use baton::project::session::SessionKind;
use common::Sandbox;

/// A new demo project in `parent`.
fn demo_project(parent: &Path) -> Project {
    demo::create(Some(&parent.join("tally")), false, &mut std::io::sink()).unwrap()
}

/// Runs the demo's loop to its end on `sessions`, with `evaluator` judging the claims.
async fn run_loop(
    project: Project,
    sessions: Arc<dyn Backend>,
    evaluator: Arc<dyn Backend>,
) -> (StopReason, Vec<HarnessEvent>) {
    let mut opts = RunOptions::from_config(project.config());
    opts.approve = ApprovePolicy::Auto;
    opts.mode = Mode::Continuous;
    let (harness, mut handles) = Harness::new(project, sessions, opts).unwrap();
    let task = tokio::spawn(harness.with_evaluator(evaluator).run());
    let mut events = Vec::new();
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(120), handles.events.recv()).await.unwrap() {
        events.push(ev);
    }
    (task.await.unwrap().unwrap(), events)
}

/// What the demo shows on any backend: a refusal, a guard repair, the evaluator catching feature
/// 6's false claim, and every feature passing with the project's own tests.
fn assert_the_demo_ran_to_done(dir: &Path, reason: StopReason, events: &[HarnessEvent]) {
    assert_eq!(reason, StopReason::Done, "{events:#?}");
    let denied = events.iter().any(|e| {
        matches!(e, HarnessEvent::Agent { event: baton::agent::AgentEvent::PolicyDenied { reason, .. }, .. } if reason.contains("`curl` is not on the allowlist"))
    });
    assert!(denied, "the demo's refused command");
    let repaired = events.iter().any(|e| {
        matches!(e, HarnessEvent::ReviewNeeded { review, .. } if review.violations.iter().any(|v| v.contains("description changed")))
    });
    assert!(repaired, "the guard repaired feature 8's description");
    let caught =
        events.iter().any(|e| matches!(e, HarnessEvent::Evaluated { evaluation } if evaluation.reverted == [6]));
    assert!(caught, "the evaluator caught feature 6's false claim");
    let tests = std::process::Command::new("sh").arg("tests/run.sh").current_dir(dir).output().unwrap();
    assert!(String::from_utf8_lossy(&tests.stdout).contains("8 passed, 0 failed"));
}

/// The backends that ran each kind of session, from the journal.
fn backends(dir: &Path) -> Vec<(SessionKind, String)> {
    let entries = Project::open(dir).unwrap().journal().unwrap().entries;
    let mut seen: Vec<(SessionKind, String)> =
        journal::sessions(&entries).into_iter().map(|s| (s.kind, s.backend)).collect();
    seen.sort_by_key(|(k, b)| (format!("{k}"), b.clone()));
    seen.dedup();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anthropic_backend_runs_the_whole_loop_against_ollamas_messages_endpoint() {
    let parent = tempfile::tempdir().unwrap();
    let project = demo_project(parent.path());
    let dir = project.root().to_owned();
    let model =
        ScriptedModel::start_as(demo::scenario(DemoPace::Fast, false).unwrap(), None, Profile::Ollama).await.unwrap();
    let backend: Arc<dyn Backend> = Arc::new(AnthropicBackend::new(&model.url(), "", project.config()).unwrap());
    let (reason, events) = run_loop(project, backend.clone(), backend).await;
    assert_the_demo_ran_to_done(&dir, reason, &events);
    assert!(
        model.requests().iter().all(|r| r.get("max_tokens").is_some() && r.get("system").is_some()),
        "all on the Messages API"
    );
    assert!(model.headers().iter().all(|h| !h.contains_key("x-api-key")), "no key for a server of one's own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_llama_cpp_the_sessions_run_on_the_messages_api_and_the_evaluator_on_chat_completions() {
    let parent = tempfile::tempdir().unwrap();
    let project = demo_project(parent.path());
    let dir = project.root().to_owned();
    let model =
        ScriptedModel::start_as(demo::scenario(DemoPace::Fast, false).unwrap(), None, Profile::LlamaCpp).await.unwrap();
    let sessions: Arc<dyn Backend> = Arc::new(AnthropicBackend::new(&model.url(), "k", project.config()).unwrap());
    let judge: Arc<dyn Backend> =
        Arc::new(OpenAiBackend::new(&format!("{}/v1", model.url()), "k", project.config()).unwrap());
    let (reason, events) = run_loop(project, sessions, judge).await;
    assert_the_demo_ran_to_done(&dir, reason, &events);
    assert_eq!(
        backends(&dir),
        [
            (SessionKind::Coding, "anthropic".to_owned()),
            (SessionKind::Evaluator, "openai".to_owned()),
            (SessionKind::Initializer, "anthropic".to_owned()),
        ]
    );
}

/// `baton` run as the real binary on a demo project, against `model`, with `config` replacing
/// lines of the project's config.
fn baton_run(
    sandbox: &Sandbox,
    dir: &Path,
    model: &ScriptedModel,
    edits: &[(&str, &str)],
    args: &[&str],
) -> common::Run {
    let path = dir.join(".baton/config.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    for (from, to) in edits {
        assert!(config.contains(from), "the demo's config has {from:?}");
        config = config.replacen(from, to, 1);
    }
    std::fs::write(&path, config).unwrap();
    let out = sandbox
        .baton(dir)
        .args(args)
        .env("OPENAI_BASE_URL", format!("{}/v1", model.url()))
        .env("OPENAI_API_KEY", "sk-test")
        .env("ANTHROPIC_BASE_URL", model.url())
        .env("ANTHROPIC_API_KEY", "sk-ant-test")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    common::Run::from(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baton_run_on_the_openai_backend_reaches_done_with_its_evaluator_on_the_messages_api() {
    let sandbox = Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let dir = demo_project(parent.path()).root().to_owned();
    let model =
        ScriptedModel::start_as(demo::scenario(DemoPace::Fast, false).unwrap(), None, Profile::Vllm).await.unwrap();
    let run = baton_run(
        &sandbox,
        &dir,
        &model,
        &[("# backend = \"openai\"", "backend = \"anthropic\"")],
        &["run", "--headless", "--approve", "auto", "--backend", "openai"],
    )
    .ok();
    assert!(run.stdout.contains("baton: openai backend, model claude-sonnet-4-5"), "{}", run.stdout);
    assert!(run.stdout.contains("run ended: done: every feature passes; 8/8 features passing"), "{}", run.stdout);
    assert!(run.stdout.contains("⛔ policy refused bash: `curl` is not on the allowlist"), "{}", run.stdout);
    assert!(run.stdout.contains("1 fail; marked failing again: 6"), "{}", run.stdout);
    assert_eq!(
        backends(&dir),
        [
            (SessionKind::Coding, "openai".to_owned()),
            (SessionKind::Evaluator, "anthropic".to_owned()),
            (SessionKind::Initializer, "openai".to_owned()),
        ]
    );
    let requests = model.requests();
    assert!(
        requests.iter().any(|r| r.get("stream_options").is_some())
            && requests.iter().any(|r| r.get("system").is_some())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_nobody_priced_costs_price_unknown_and_a_budget_stops_the_run_rather_than_count_it_free() {
    let sandbox = Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let dir = demo_project(parent.path()).root().to_owned();
    let model =
        ScriptedModel::start_as(demo::scenario(DemoPace::Fast, false).unwrap(), None, Profile::Ollama).await.unwrap();
    let run = baton_run(
        &sandbox,
        &dir,
        &model,
        &[("# model = \"claude-sonnet-4-5\"", "model = \"qwen3-coder:30b\"")],
        &["run", "--headless", "--approve", "auto", "--backend", "openai", "--budget", "5"],
    );
    let run = run.ok();
    assert!(
        run.stdout.contains("session 1 ended: completed ·") && run.stdout.contains("· price unknown ·"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("run ended: budget: the budget ($5.00) cannot be kept: session 1's cost is unknown"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("session 2 ("), "no session after it: {}", run.stdout);
    let entries = Project::open(&dir).unwrap().journal().unwrap().entries;
    assert!(
        entries
            .iter()
            .any(|e| matches!(&e.record, Record::SessionEnded(r) if r.usage.unpriced_turns > 0 && r.cost_usd == 0.0))
    );
    // baton report says so too, in words and in its JSON.
    let report = sandbox.run(&dir, &["report"]).ok();
    assert!(report.stdout.contains("price unknown for 1 session"), "{}", report.stdout);
    let json = sandbox.run(&dir, &["report", "--json"]).ok().json();
    assert_eq!(json["cost_usd"]["unpriced_sessions"], 1);
    assert_eq!(json["per_session"][0]["price_unknown"], true);
    let status = sandbox.run(&dir, &["status"]).ok();
    assert!(status.stdout.contains("1 initializer session, price unknown"), "{}", status.stdout);
}
