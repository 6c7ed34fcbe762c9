//! The fleet's cap on sessions running at once, held by the kernel across processes: the real
//! `baton fleet run` starts each project's loop (`baton run --headless`, a process of its own)
//! against the scripted model on loopback, and the journals' times say how many sessions ran at
//! once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::project::journal::Record;
use common::Sandbox;
use common::fleet::{LoopsEnd, intervals, most_at_once, project, records};

/// `baton fleet run ARGS --headless` in the sandbox, against the model at `url`; its output.
fn fleet_run(sandbox: &Sandbox, url: &str, args: &[&str]) -> common::Run {
    let mut cmd = sandbox.baton(sandbox.home.path());
    cmd.args(["fleet", "run", "--headless"]).args(args);
    cmd.env("ANTHROPIC_BASE_URL", url).env("ANTHROPIC_API_KEY", "test-key");
    common::Run::from(cmd.output().unwrap())
}

fn add(sandbox: &Sandbox, dirs: &[&Path]) {
    let mut args = vec!["fleet".to_owned(), "add".to_owned()];
    args.extend(dirs.iter().map(|d| d.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sandbox.run(sandbox.home.path(), &args).ok();
}

async fn model() -> ScriptedModel {
    ScriptedModel::start(Scenario::parse("fleet.toml", common::fleet::SCENARIO).unwrap(), None).await.unwrap()
}

/// Three projects of two features each, in the sandbox's fleet.
fn three(sandbox: &Sandbox) -> ([tempfile::TempDir; 3], LoopsEnd) {
    let projects = [project(2, ""), project(2, ""), project(2, "")];
    let end = LoopsEnd(projects.iter().map(|p| p.path().to_owned()).collect());
    add(sandbox, &[projects[0].path(), projects[1].path(), projects[2].path()]);
    (projects, end)
}

fn all_sessions(projects: &[tempfile::TempDir]) -> Vec<(i64, Option<i64>)> {
    projects.iter().flat_map(|p| intervals(p.path())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_projects_under_max_1_never_run_two_sessions_at_once() {
    let sandbox = Sandbox::new();
    let (projects, _end) = three(&sandbox);
    // One notify command for the whole fleet, in the user's config: each event names its project.
    let heard = sandbox.home.path().join("heard.jsonl");
    let config = sandbox.home.path().join(".config/baton/config.toml");
    std::fs::write(&config, format!("[notify]\ncommand = \"cat >> {}\"\n", heard.display())).unwrap();
    let model = model().await;
    let url = model.url();
    let run = tokio::task::spawn_blocking(move || {
        let run = fleet_run(&sandbox, &url, &["--max", "1"]);
        (run, sandbox)
    });
    let (run, sandbox) = tokio::time::timeout(Duration::from_secs(120), run).await.unwrap().unwrap();
    let run = run.ok();
    assert!(run.stdout.contains("at most 1 session at once"), "{}", run.stdout);
    let all = all_sessions(&projects);
    assert_eq!(all.len(), 6, "two sessions each, every feature built: {}", run.stdout);
    assert!(all.iter().all(|(_, end)| end.is_some()));
    assert_eq!(most_at_once(&all), 1, "two sessions ran at once under --max 1: {all:?}");
    // Each loop waited its turn, and said so.
    let waited =
        projects.iter().filter(|p| records(p.path()).iter().any(|r| matches!(r, Record::SlotWait { max: 1, .. })));
    assert!(waited.count() >= 2, "the loops waiting for a slot say so in their journals");
    // The headless run names each project on each line, and ends with every one done.
    for p in &projects {
        let name = p.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(run.stdout.contains(&format!("{name}: session 1 started (coding)")), "{}", run.stdout);
        assert!(run.stdout.contains(&format!("{name}: done: every feature passes")), "{}", run.stdout);
    }
    let list = sandbox.run(sandbox.home.path(), &["fleet", "list", "--json"]).ok().json();
    assert!(list.as_array().unwrap().iter().all(|p| p["state"] == "done" && p["loop_pid"].is_null()), "{list}");
    let heard: Vec<serde_json::Value> =
        std::fs::read_to_string(&heard).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for p in &projects {
        let path = std::fs::canonicalize(p.path()).unwrap().display().to_string();
        let ended = heard.iter().filter(|e| e["event"] == "run_ended" && e["project"] == path.as_str());
        assert_eq!(ended.count(), 1, "{path} in {heard:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_max_2_two_sessions_run_at_once_and_never_three() {
    let sandbox = Sandbox::new();
    let (projects, _end) = three(&sandbox);
    let model = model().await;
    let url = model.url();
    let run = tokio::task::spawn_blocking(move || fleet_run(&sandbox, &url, &["--max", "2"]));
    tokio::time::timeout(Duration::from_secs(120), run).await.unwrap().unwrap().ok();
    let all = all_sessions(&projects);
    assert_eq!(all.len(), 6);
    assert_eq!(most_at_once(&all), 2, "under --max 2, two at once and never three: {all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_fleet_run_started_beside_the_first_shares_its_cap() {
    let sandbox = std::sync::Arc::new(Sandbox::new());
    let (projects, _end) = three(&sandbox);
    let names: Vec<String> = projects.iter().map(|p| p.path().display().to_string()).collect();
    let model = model().await;
    let url = model.url();
    let (s, u, first) = (sandbox.clone(), url.clone(), names[..2].to_vec());
    let one = tokio::task::spawn_blocking(move || {
        let mut args = vec!["--max", "1"];
        args.extend(first.iter().map(String::as_str));
        fleet_run(&s, &u, &args)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The second names no cap: it takes the fleet's, which the first set.
    let (s, u, last) = (sandbox.clone(), url.clone(), names[2].clone());
    let two = tokio::task::spawn_blocking(move || fleet_run(&s, &u, &[&last]));
    let one = tokio::time::timeout(Duration::from_secs(120), one).await.unwrap().unwrap().ok();
    let two = tokio::time::timeout(Duration::from_secs(120), two).await.unwrap().unwrap().ok();
    assert!(two.stdout.contains("at most 1 session at once"), "{}", two.stdout);
    assert!(!one.stdout.contains(&format!("{}:", projects[2].path().file_name().unwrap().to_string_lossy())));
    let all = all_sessions(&projects);
    assert_eq!(all.len(), 6, "{}\n{}", one.stdout, two.stdout);
    assert_eq!(most_at_once(&all), 1, "the two runs shared one cap: {all:?}");
}
