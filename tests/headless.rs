//! `baton run --headless` as the real binary: its output, its exit code, secrets kept off disk, and
//! a run killed with SIGKILL mid-session that resumes without losing or redoing anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::project::Project;
use baton::project::journal::{self, Record};
use baton::project::session::{Outcome, Verdict};
use common::Sandbox;

const LOOP: &str = include_str!("fixtures/loop.toml");
const SECRET: &str = "sk-ant-test-0123456789abcdef";

fn project_dir(sandbox: &Sandbox) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.txt"), "A greeter in shell.\n").unwrap();
    sandbox.run(dir.path(), &["init", "--spec", "spec.txt"]).ok();
    std::fs::remove_file(dir.path().join("spec.txt")).unwrap();
    dir
}

fn baton(sandbox: &Sandbox, dir: &Path, model: &ScriptedModel) -> std::process::Command {
    let mut cmd = sandbox.baton(dir);
    cmd.env("ANTHROPIC_BASE_URL", model.url()).env("ANTHROPIC_API_KEY", SECRET).stdin(Stdio::null());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_run_prints_one_line_per_event_and_ends_done() {
    let sandbox = Sandbox::new();
    let dir = project_dir(&sandbox);
    // The agent echoes the API key; it must not reach disk.
    let text = LOOP.replace("SLOW_STEP", "echo key=$ANTHROPIC_API_KEY");
    let model = ScriptedModel::start(Scenario::parse("loop.toml", &text).unwrap(), None).await.unwrap();
    let out = baton(&sandbox, dir.path(), &model).args(["run", "--headless", "--approve", "auto"]).output().unwrap();
    let run = common::Run::from(out);
    let run = run.ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    // First, how to come back to it: the attach command, with the project's path.
    let root = dir.path().canonicalize().unwrap();
    assert!(
        lines[0].starts_with("watch and steer this run from another terminal: baton -C ")
            && lines[0].ends_with(" attach")
            && std::path::Path::new(lines[0].split(" -C ").nth(1).unwrap().trim_end_matches(" attach"))
                .canonicalize()
                .is_ok_and(|p| p == root),
        "{}",
        run.stdout
    );
    assert!(
        lines[1].starts_with("baton: anthropic backend, model claude-sonnet-4-5, approve auto, continuous mode"),
        "{}",
        run.stdout
    );
    // It starts from the spec's commit, which `baton init` made in the operator's name.
    let spec_commit = git2::Repository::open(dir.path()).unwrap().revparse_single("HEAD~4").unwrap().id().to_string();
    assert!(
        run.stdout.contains(&format!("── session 1 (initializer) from {} ──", &spec_commit[..7])),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("  ▸ write_file: feature_list.json"), "{}", run.stdout);
    assert!(run.stdout.contains("session 4: auto-approved"), "{}", run.stdout);
    assert!(run.stdout.contains("review session 1: 1 commit, 3 files +"), "counted in words: {}", run.stdout);
    assert!(
        lines[lines.len() - 2].starts_with("run ended: done: every feature passes; 3/3 features passing"),
        "{}",
        run.stdout
    );
    // Then the run's numbers, as `baton report` gives them.
    assert!(
        lines.last().unwrap().starts_with("summary: 1 initializer + 3 coding + 3 evaluator sessions, $")
            && lines.last().unwrap().contains("per newly passing feature (3)"),
        "{}",
        run.stdout
    );

    for entry in std::fs::read_dir(dir.path().join(".baton/sessions")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains(SECRET), "a transcript holds the key");
    }
    let t = std::fs::read_to_string(dir.path().join(".baton/sessions/0002.jsonl")).unwrap();
    // The agent's commands never get baton's key in their environment: the echo prints nothing.
    assert!(t.contains("key=\\n"), "the echo is there, empty: {t}");
    assert!(!std::fs::read_to_string(dir.path().join(".baton/journal.jsonl")).unwrap().contains(SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_one_object_per_line() {
    let sandbox = Sandbox::new();
    let dir = project_dir(&sandbox);
    let model = ScriptedModel::start(Scenario::parse("loop.toml", &LOOP.replace("SLOW_STEP", "true")).unwrap(), None)
        .await
        .unwrap();
    let out = baton(&sandbox, dir.path(), &model)
        .args(["run", "--headless", "--json", "--approve", "auto", "--sessions", "2"])
        .output()
        .unwrap();
    let run = common::Run::from(out).ok();
    let events: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events[0]["type"], "run_started");
    assert!(events.iter().any(|e| e["type"] == "agent" && e["event"]["type"] == "tool_call"));
    let stopped = &events[events.len() - 2];
    assert_eq!(stopped["type"], "stopped");
    assert_eq!(stopped["reason"], "session_cap");
    // The last object is the run's numbers: what `baton report --json` computes from the journal.
    let summary = events.last().unwrap();
    assert_eq!((summary["type"].as_str(), summary["reason"].as_str()), (Some("summary"), Some("session_cap")));
    let entries = Project::open(dir.path()).unwrap().journal().unwrap().entries;
    let report = serde_json::to_value(baton::project::report::report(&entries)).unwrap();
    assert_eq!(summary["report"], report);
    assert_eq!(summary["report"]["sessions"], 3, "the initializer, a coding session and its evaluator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_a_key_fails_clearly() {
    let sandbox = Sandbox::new();
    let dir = project_dir(&sandbox);
    let out = sandbox.baton(dir.path()).args(["run", "--headless"]).env_remove("ANTHROPIC_API_KEY").output().unwrap();
    let run = common::Run::from(out).failed();
    assert!(run.stderr.contains("ANTHROPIC_API_KEY is not set"), "{}", run.stderr);
}

fn processes_with(marker: &str) -> usize {
    common::processes(|c| c.starts_with(&format!("sleep {marker}"))).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_session_resumes_as_interrupted_with_nothing_lost_or_done_twice() {
    let sandbox = Sandbox::sharing_keys();
    let dir = project_dir(&sandbox);
    let marker = 700_000 + std::process::id() % 90_000;
    let flag_dir = tempfile::tempdir().unwrap();
    let flag = flag_dir.path().join("slept");
    // The flag lives outside the project: the sandbox lets the agent write it only when told to.
    let config = dir.path().join(".baton/config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replace("# writable = []", &format!("writable = [{:?}]", flag_dir.path().display().to_string()));
    std::fs::write(&config, text).unwrap();
    // Session 2 writes its file, plants what would steer the operator's git (a name at the top of
    // `.git`, through an interpreter, and a repository below the top), then hangs once (the flag
    // makes later sessions quick).
    let plant = "git init -q nested; python3 -c 'open(chr(46) + chr(103) + chr(105) + chr(116) + chr(47) + chr(112), chr(119))'";
    let slow = format!("test -f {f} || {{ touch {f}; {plant}; sleep {marker}; }}", f = flag.display());
    let model = ScriptedModel::start(Scenario::parse("loop.toml", &LOOP.replace("SLOW_STEP", &slow)).unwrap(), None)
        .await
        .unwrap();
    let mut child = baton(&sandbox, dir.path(), &model)
        .args(["run", "--headless", "--approve", "auto"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while processes_with(&marker.to_string()) == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "session 2 never reached its slow step");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // SAFETY: sending SIGKILL to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert!(dir.path().join("feature_1.txt").exists(), "session 2 had written its file");
    assert!(dir.path().join(".git/p").exists() && dir.path().join("nested/.git").is_dir(), "session 2 had planted");
    // The kernel ends the session with baton: its PID namespace goes with the holder.
    let killed = Instant::now();
    while processes_with(&marker.to_string()) > 0 {
        assert!(killed.elapsed() < Duration::from_secs(2), "the agent's command outlived the killed baton");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let status = sandbox.run(dir.path(), &["status", "--json"]).ok().json();
    assert_ne!(status["state"], "running", "no loop runs any more");

    let out = baton(&sandbox, dir.path(), &model)
        .args(["run", "--headless", "--approve", "auto", "--sessions", "1"])
        .output()
        .unwrap();
    let run = common::Run::from(out).ok();
    assert!(run.stdout.contains("session 2 was running when baton stopped"), "{}", run.stdout);
    assert!(
        run.stdout.contains("1 session run, as asked")
            && run.stdout.contains("; this run: 1 coding + 1 evaluator sessions, $"),
        "{}",
        run.stdout
    );

    let project = Project::open(dir.path()).unwrap();
    let read = project.journal().unwrap();
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    let starts: Vec<u32> = read
        .entries
        .iter()
        .filter_map(|e| match e.record {
            Record::SessionStarted { number, .. } => Some(number),
            _ => None,
        })
        .collect();
    // Session 4 is session 3's evaluator.
    assert_eq!(starts, vec![1, 2, 3, 4], "no session was started twice");
    let s = journal::sessions(&read.entries);
    assert_eq!(s[1].outcome(), Some(Outcome::Interrupted));
    assert_eq!(s[1].verdict, Some(Verdict::AutoApproved));
    // What it used before baton died is what its transcript holds, not nothing: the report and
    // the budget count it.
    let spent = baton::project::transcript::spent(&dir.path().join(".baton/sessions/0002.jsonl"));
    let r = s[1].end.as_ref().unwrap();
    assert!(spent.usage.input_tokens > 0 && spent.cost_usd > 0.0, "{spent:?}");
    assert_eq!((r.usage, r.cost_usd, r.turns), (spent.usage, spent.cost_usd, spent.turns));
    assert_eq!(r.duration_ms, spent.duration.as_millis() as u64);
    let report = baton::project::report::report(&read.entries);
    assert_eq!(report.per_session[1].cost_usd, spent.cost_usd);
    let detail = s[1].end.as_ref().unwrap().detail.as_deref().unwrap();
    assert!(detail.contains("recorded as interrupted"), "{detail}");
    // What it planted in git was swept on the restart, from what was kept of `.git` before it.
    assert!(!dir.path().join(".git/p").exists() && !dir.path().join("nested/.git").exists(), "{detail}");
    assert!(detail.contains(".git/p (moved to .baton/quarantine/0002/p)"), "{detail}");
    assert!(
        detail.contains("nested/.git (a repository the session made, moved to .baton/quarantine/0002/nested/git)"),
        "{detail}"
    );
    assert!(!dir.path().join(".baton/sessions/0002.git-before.json").exists());
    // What session 2 wrote but never committed is kept in a baton commit.
    let repo = git2::Repository::open(dir.path()).unwrap();
    let kept = repo.find_commit(git2::Oid::from_str(s[1].head().unwrap()).unwrap()).unwrap();
    assert!(kept.summary().unwrap().unwrap().starts_with("baton: commit what session 2 left uncommitted"));
    assert!(kept.tree().unwrap().get_path(Path::new("feature_1.txt")).is_ok());
    // Session 3 went on from there: feature 1 was still failing, so it finished it.
    assert_eq!(s[2].outcome(), Some(Outcome::Completed));
    assert_eq!(s[2].base.as_deref(), s[1].head());
    assert_eq!(s[2].end.as_ref().unwrap().flipped[0].feature, 1);
}
