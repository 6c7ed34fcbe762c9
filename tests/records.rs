//! What `status --json` and `sessions --json` print after a real session, pinned: scripts read
//! these, so their shape changes only on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::Value;

/// A session that flips feature 4, commits, and also edits the list beyond `passes` (a violation
/// the guard repairs): every part of a session's record is filled.
const SCENARIO: &str = r#"
name = "pinned"
[[turns]]
id = "work"
start = "one of many agent sessions"
text = "Feature 4, tested."
tools = [{ name = "bash", input = { command = "sed -i '0,/\"passes\": false/s//\"passes\": true/' feature_list.json && sed -i 's/exits with status 2/exits with status 3/' feature_list.json && git commit -qam 'Feature 4 passes'" } }]
[[turns]]
id = "done"
text = "Done."
[[turns]]
id = "judge"
start = "You are the evaluator"
tools = [{ name = "bash", input = { command = "grep -c '\"passes\": true' feature_list.json" } }]
[[turns]]
id = "answer"
text = '<evaluation>[{"feature": 4, "verdict": "pass", "evidence": "it passes when run"}]</evaluation>'
"#;

/// Timestamps, commit ids, durations, paths and process ids differ on every run: replaced by their
/// kind.
fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                let volatile = matches!(
                    k.as_str(),
                    "started_at" | "ended_at" | "at" | "base" | "head" | "duration_ms" | "loop_pid" | "id" | "path" | "project"
                        // The prompt's size, and so the cost, moves with every change to the prompts.
                        | "input_tokens" | "cost_usd" | "total_cost_usd"
                ) || (k == "commits" && val.is_array());
                if volatile && !val.is_null() {
                    *val = match val {
                        Value::Array(a) => Value::String(format!("<{} items>", a.len())),
                        Value::Number(_) => Value::String("<number>".into()),
                        _ => Value::String("<redacted>".into()),
                    };
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_records_of_a_session_keep_their_shape() {
    let (dir, _repo) = common::quickstart_repo();
    let (summary, _) = common::one_session(dir.path(), SCENARIO, None).await;
    assert_eq!(summary.number, 1);
    let sandbox = common::Sandbox::sharing_keys();
    let mut pinned = serde_json::Map::new();
    for (name, args) in [
        ("status", &["status", "--json"][..]),
        ("sessions list", &["sessions", "list", "--json"]),
        ("sessions show 1", &["sessions", "show", "1", "--json"]),
    ] {
        let mut v = sandbox.run(dir.path(), args).ok().json();
        redact(&mut v);
        pinned.insert(name.into(), v);
    }
    insta::assert_snapshot!(serde_json::to_string_pretty(&pinned).unwrap());
}

/// The screen's worker: with the feature list broken by hand, the pending review still shows
/// (the list is read once a pass, and its fault goes to the features pane alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_feature_list_does_not_hide_the_pending_review() {
    use baton::tui::app::Reply;
    let (dir, _repo) = common::quickstart_repo();
    common::one_session(dir.path(), SCENARIO, None).await;
    std::fs::write(dir.path().join("feature_list.json"), "[{\"passes\": tru\n}]\n").unwrap();
    let project = baton::project::Project::open(dir.path()).unwrap();
    let (req_tx, req_rx) = std::sync::mpsc::channel();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = baton::tui::worker::spawn(project, req_rx, tx);
    let mut replies = Vec::new();
    while replies.len() < 5 {
        match tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await {
            Ok(Some(r)) => replies.push(r),
            _ => break,
        }
    }
    drop(req_tx);
    worker.join().unwrap();
    let pending = replies.iter().find_map(|r| match r {
        Reply::Journal(v) => Some(v.pending.as_ref().map(|p| p.number)),
        _ => None,
    });
    assert_eq!(pending, Some(Some(1)), "{replies:?}");
    let error = replies.iter().find_map(|r| match r {
        Reply::Error(e) => Some(e.clone()),
        _ => None,
    });
    assert!(error.as_deref().is_some_and(|e| e.contains("feature_list.json:1:")), "{replies:?}");
    // The last transcript: session 1's evaluator's.
    assert!(replies.iter().any(|r| matches!(r, Reply::Transcript { number: 2, .. })), "the last transcript");
}
