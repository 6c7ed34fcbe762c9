//! The fleet's list on the command line: `baton fleet add`, `remove`, `list` and `status`, with
//! `--json` one object per project (path, state, what waits, features, cost, loop pid), the
//! states read from real loops' journals; and a list that does not read is named, never
//! overwritten.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use baton::agent::anthropic::AnthropicBackend;
use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::harness::{Harness, HarnessEvent, RunOptions};
use baton::project::Project;
use baton::project::config::{ApprovePolicy, Mode};
use common::Sandbox;
use common::fleet::{SCENARIO, project};
use serde_json::Value;

fn name(dir: &std::path::Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

fn by_name<'a>(list: &'a Value, dir: &std::path::Path) -> &'a Value {
    list.as_array().unwrap().iter().find(|p| p["name"] == name(dir)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_status_give_one_object_per_project_from_real_loops() {
    let sandbox = Sandbox::new();
    let home = sandbox.home.path();
    let (reviewed, idle, held) = (project(2, ""), project(2, ""), project(2, ""));
    // One session whose review waits: a real loop, left at its review.
    let (session, _) = common::one_session(reviewed.path(), SCENARIO, None).await;
    // A loop that runs now, in this process, waiting for `n`.
    let model = ScriptedModel::start(Scenario::parse("fleet.toml", SCENARIO).unwrap(), None).await.unwrap();
    let p = Project::open(held.path()).unwrap();
    let backend = AnthropicBackend::new(&model.url(), "k", p.config()).unwrap();
    let mut opts = RunOptions::from_config(p.config());
    (opts.mode, opts.approve) = (Mode::Step, ApprovePolicy::Manual);
    let (harness, mut handles) = Harness::new(p, std::sync::Arc::new(backend), opts).unwrap();
    let task = tokio::spawn(harness.run());
    while !matches!(handles.events.recv().await, Some(HarnessEvent::Waiting { .. })) {}

    let added = sandbox
        .run(home, &["fleet", "add", &idle.path().display().to_string(), &reviewed.path().display().to_string()])
        .ok();
    assert!(added.stdout.contains(&format!("{}: added", name(idle.path()))), "{}", added.stdout);
    sandbox.run(home, &["fleet", "add", &held.path().display().to_string(), &idle.path().display().to_string()]).ok();

    // list: in the order added; status: what waits for you first.
    let list = sandbox.run(home, &["fleet", "list", "--json"]).ok().json();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, [name(idle.path()), name(reviewed.path()), name(held.path())], "added once each, in order");
    let status = sandbox.run(home, &["fleet", "status", "--json"]).ok().json();
    assert_eq!(status[0]["name"], name(reviewed.path()), "the review waiting is first: {status}");

    let r = by_name(&list, reviewed.path());
    let canonical = |d: &std::path::Path| std::fs::canonicalize(d).unwrap().display().to_string();
    assert_eq!(r["path"], canonical(reviewed.path()));
    assert_eq!(r["state"], "awaiting_review");
    assert_eq!(r["waiting"]["kind"], "review");
    assert_eq!(r["waiting"]["session"], session.number);
    assert_eq!(r["features"], serde_json::json!({"total": 2, "passing": 1}));
    let cost = sandbox.run(reviewed.path(), &["status", "--json"]).ok().json()["total_cost_usd"].as_f64().unwrap();
    assert!((r["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-4, "{r} against {cost}");
    assert!(r["loop_pid"].is_null());
    assert!(r["last"]["what"].as_str().unwrap().starts_with("run stopped: paused"), "{r}");

    let i = by_name(&list, idle.path());
    assert_eq!((&i["state"], &i["waiting"], &i["cost_usd"]), (&Value::from("idle"), &Value::Null, &Value::from(0.0)));
    assert_eq!(i["features"], serde_json::json!({"total": 2, "passing": 0}));

    let h = by_name(&list, held.path());
    assert_eq!(h["loop_pid"], std::process::id(), "{h}");
    assert_eq!(h["state"], "idle");

    // Text, for people: the one that waits is marked.
    let text = sandbox.run(home, &["fleet", "status"]).ok().stdout;
    assert!(text.starts_with("fleet: 3 projects, 1 waiting for you, 0 running (no cap)"), "{text}");
    assert!(text.contains(&format!("! {}", name(reviewed.path()))), "{text}");

    // remove, by name: the project leaves the list and nothing in it changes.
    sandbox.run(home, &["fleet", "remove", &name(idle.path())]).ok();
    let list = sandbox.run(home, &["fleet", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(idle.path().join(".baton/config.toml").exists());

    drop(handles.commands);
    tokio::time::timeout(Duration::from_secs(20), task).await.unwrap().unwrap().unwrap();
}

#[test]
fn a_folder_that_is_no_project_is_refused_and_a_list_that_does_not_read_is_named_and_kept() {
    let sandbox = Sandbox::new();
    let home = sandbox.home.path();
    let empty = tempfile::tempdir().unwrap();
    let err = sandbox.run(home, &["fleet", "add", &empty.path().display().to_string()]).failed().stderr;
    assert!(err.contains("cannot add") && err.contains("is not a baton project"), "{err}");
    assert!(!home.join(".config/baton/fleet.toml").exists(), "nothing written");

    let list = home.join(".config/baton/fleet.toml");
    std::fs::create_dir_all(list.parent().unwrap()).unwrap();
    let bad = "max = \"two\"\n";
    std::fs::write(&list, bad).unwrap();
    let err = sandbox.run(home, &["fleet", "list"]).failed().stderr;
    assert!(err.contains("fleet.toml") && err.contains("line 1"), "{err}");
    let p = project(1, "");
    sandbox.run(home, &["fleet", "add", &p.path().display().to_string()]).failed();
    assert_eq!(std::fs::read_to_string(&list).unwrap(), bad, "left as it was");

    std::fs::write(&list, "[[project]]\nplace = \"ssh://build-box/srv/app\"\n").unwrap();
    let err = sandbox.run(home, &["fleet", "status"]).failed().stderr;
    assert!(err.contains("cannot be a fleet row yet"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_loop_from_the_fleet_records_its_running_session_as_interrupted() {
    use baton::fleet::Place;
    use baton::fleet::control::{Controls, Processes};
    let sandbox = Sandbox::new();
    let dir = project(2, "");
    let _end = common::fleet::LoopsEnd(vec![dir.path().to_owned()]);
    // A session of several seconds, to be stopped in the middle.
    let slow = SCENARIO.replace("delay_ms = 30", "delay_ms = 300");
    let model = ScriptedModel::start(Scenario::parse("slow.toml", &slow).unwrap(), None).await.unwrap();
    let mut run = sandbox.baton(dir.path());
    run.args(["run", "--headless"]).env("ANTHROPIC_BASE_URL", model.url()).env("ANTHROPIC_API_KEY", "k");
    let mut child = run.spawn().unwrap();
    let started = |d: &std::path::Path| common::fleet::intervals(d).first().is_some_and(|(_, end)| end.is_none());
    let begun = std::time::Instant::now();
    while !(started(dir.path())
        && Project::open(dir.path()).is_ok_and(|p| baton::project::lock::holder(&p.baton_dir()).is_some()))
    {
        assert!(begun.elapsed() < Duration::from_secs(30), "the session never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let place = Place::parse(&dir.path().display().to_string(), dir.path()).unwrap();
    let said = Processes.stop(&place).unwrap();
    assert!(said.contains("stopping its loop"), "{said}");
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert_eq!(status.code(), Some(1), "interrupted, as Ctrl-C does");
    let sessions = baton::project::journal::sessions(&Project::open(dir.path()).unwrap().journal().unwrap().entries);
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].outcome(), Some(baton::project::session::Outcome::Interrupted));
    assert!(Processes.stop(&place).unwrap_err().contains("no loop runs there"));
}
