//! The `anthropic` backend against the scripted model, over real HTTP on loopback, in temp git
//! repositories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use baton::agent::anthropic::{AnthropicBackend, RetryPolicy};
use baton::agent::scripted::Profile;
use baton::agent::{AgentEvent, Backend, EndReason, Limits};
use baton::project::config::Config;
use tokio_util::sync::CancellationToken;

use common::{Scripted as Ran, assert_greeter_done, greeter as session};

async fn run(scenario: &str, dir: &Path, limits: Limits, cancel: CancellationToken) -> Ran {
    let backend = |url: &str| -> Box<dyn Backend> {
        Box::new(AnthropicBackend::new(url, "test-key", &Config::default()).unwrap().with_retry(RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
        }))
    };
    common::scripted(backend, Profile::Anthropic, scenario, dir, limits, cancel).await
}

fn limits() -> Limits {
    Limits { max_turns: 20, wall_time: Duration::from_secs(60) }
}

#[tokio::test]
async fn a_multi_turn_session_writes_edits_runs_and_commits() {
    let dir = common::temp_repo();
    let ran = run(&session(""), dir.path(), limits(), CancellationToken::new()).await;
    assert_greeter_done(dir.path(), &ran);

    let results = common::tool_results(&ran.events);
    assert_eq!(results.len(), 5, "two calls at once, then one a turn");
    assert!(results.iter().all(|(_, err)| !err), "{results:?}");
    assert!(results[4].0.contains("Hello, world\n1\n"), "{results:?}");
    assert_eq!(common::thinking_of(&ran.events), "I should look around first.");

    // Usage and cost add up over the turns, at the configured price.
    let turn_costs: f64 = ran
        .events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Usage { cost_usd, .. } => Some(*cost_usd),
            _ => None,
        })
        .sum();
    assert!(ran.end.usage.input_tokens > 0 && ran.end.usage.output_tokens > 0);
    assert!((turn_costs - ran.end.cost_usd).abs() < 1e-12);
    let expected = (ran.end.usage.input_tokens as f64 * 3.0 + ran.end.usage.output_tokens as f64 * 15.0) / 1e6;
    assert!((ran.end.cost_usd - expected).abs() < 1e-12, "{} vs {expected}", ran.end.cost_usd);

    // Each request carries the conversation so far, the thinking block with its signature, and
    // cache breakpoints on the system prompt, the tools and the conversation's tail.
    assert_eq!(ran.requests.len(), 5);
    let last = &ran.requests[4];
    assert_eq!(last["messages"].as_array().unwrap().len(), 9);
    assert_eq!(last["messages"][1]["content"][0]["type"], "thinking");
    assert_eq!(last["messages"][1]["content"][0]["signature"], "scripted-signature");
    assert_eq!(last["system"][0]["cache_control"]["type"], "ephemeral");
    assert_eq!(last["tools"].as_array().unwrap().last().unwrap()["cache_control"]["type"], "ephemeral");
    let tail =
        last["messages"].as_array().unwrap().last().unwrap()["content"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(tail["cache_control"]["type"], "ephemeral");
    assert!(
        ran.requests[1]["messages"][1]["content"].as_array().unwrap().iter().all(|b| b.get("cache_control").is_none()),
        "only the tail is marked"
    );
}

#[tokio::test]
async fn every_passing_fault_is_ridden_through_and_shown() {
    let faults = [
        ("{ kind = \"rate_limit\", retry_after = 1 }", "rate limited (429)"),
        ("{ kind = \"overloaded\" }", "overloaded (529)"),
        ("{ kind = \"server_error\" }", "server error (500)"),
        ("{ kind = \"stream_cut\" }", "the stream"),
        ("{ kind = \"error_event\" }", "error event in the stream: overloaded_error"),
        ("{ kind = \"reset\" }", "cannot reach the API"),
    ];
    for (fault, shown) in faults {
        let dir = common::temp_repo();
        let ran = run(&session(&format!("faults = [{fault}]")), dir.path(), limits(), CancellationToken::new()).await;
        assert_greeter_done(dir.path(), &ran);
        let retries = common::retries(&ran.events);
        assert_eq!(retries.len(), 1, "{fault}: {retries:?}");
        assert!(retries[0].0.contains(shown), "{fault}: {retries:?}");
        if fault.contains("retry_after") {
            assert_eq!(retries[0].1, 1000, "retry-after is honoured");
            assert!(ran.elapsed >= Duration::from_secs(1));
        } else {
            assert!(retries[0].1 <= 200, "backoff is bounded by the policy: {retries:?}");
        }
        // The write ran once: the retried request was re-sent before any tool ran.
        let writes = ran
            .events
            .iter()
            .filter(|e| matches!(e, AgentEvent::ToolCall { name, .. } if name == "write_file"))
            .count();
        assert_eq!(writes, 1, "{fault}");
    }
}

#[tokio::test]
async fn faults_that_do_not_pass_end_the_session_bounded() {
    let dir = common::temp_repo();
    let ran =
        run(&session("faults = [{ kind = \"unauthorized\" }]"), dir.path(), limits(), CancellationToken::new()).await;
    match &ran.end.reason {
        EndReason::ApiError { status: Some(401), message } => {
            assert!(message.contains("invalid x-api-key"), "{message}")
        }
        other => panic!("expected a 401 API error, got {other:?}"),
    }
    assert_eq!(ran.requests.len(), 2, "a 401 is not retried");
    assert!(!dir.path().join("bin/greet.sh").exists());

    // Overloaded more times than the retry budget: rate limited, after exactly that many tries.
    let dir = common::temp_repo();
    let ran = run(
        &session("faults = [{ kind = \"overloaded\", times = 10 }]"),
        dir.path(),
        limits(),
        CancellationToken::new(),
    )
    .await;
    assert!(matches!(ran.end.reason, EndReason::RateLimited { .. }), "{:?}", ran.end.reason);
    assert_eq!(ran.requests.len(), 1 + 4);
    assert_eq!(ran.events.iter().filter(|e| matches!(e, AgentEvent::Retry { .. })).count(), 3);
}

#[tokio::test]
async fn a_refused_command_does_not_run_and_the_model_is_told_why() {
    let dir = common::temp_repo();
    let scenario = include_str!("fixtures/refused.toml");
    let ran = run(scenario, dir.path(), limits(), CancellationToken::new()).await;
    assert_eq!(ran.end.reason, EndReason::Completed);
    assert!(!dir.path().join("ran.txt").exists(), "nothing of the refused command ran");
    let denied: Vec<_> = ran.events.iter().filter(|e| matches!(e, AgentEvent::PolicyDenied { .. })).collect();
    assert_eq!(denied.len(), 1);
    let results = common::tool_results(&ran.events);
    assert!(results[0].1 && results[0].0.contains("`curl` is not on the allowlist"), "{results:?}");
    let sent_back = &ran.requests[1]["messages"][2]["content"][0];
    assert_eq!(sent_back["is_error"], true);
    assert!(sent_back["content"].as_str().unwrap().contains("Refused by baton's policy"));
}

#[tokio::test]
async fn paths_that_escape_the_project_are_refused() {
    let dir = common::temp_repo();
    std::os::unix::fs::symlink("/etc", dir.path().join("link-out")).unwrap();
    let scenario = r#"
name = "escape"
[[turns]]
id = "escape"
start = "Build"
tools = [
  { name = "read_file", input = { path = "../../etc/passwd" } },
  { name = "read_file", input = { path = "/etc/passwd" } },
  { name = "read_file", input = { path = "link-out/passwd" } },
  { name = "write_file", input = { path = "/tmp/../etc/baton-test", content = "x" } },
  { name = "edit", input = { path = "link-out/hostname", old_string = "a", new_string = "b" } },
]
[[turns]]
id = "end"
text = "Stayed inside."
"#;
    let ran = run(scenario, dir.path(), limits(), CancellationToken::new()).await;
    let results = common::tool_results(&ran.events);
    assert_eq!(results.len(), 5);
    for (out, is_error) in &results {
        assert!(is_error, "{out}");
        assert!(out.contains("outside the project"), "{out}");
        assert!(!out.contains("root:"), "no byte of /etc/passwd came back: {out}");
    }
    assert!(!Path::new("/etc/baton-test").exists());
}

fn processes_with(marker: &str) -> Vec<String> {
    // The `bash -c` wrapper shows the marker too; the processes it started are what matter.
    common::processes(|c| c.contains(marker) && !c.contains("bash -c"))
}

#[tokio::test]
async fn a_background_process_is_killed_with_its_group_at_timeout() {
    let dir = common::temp_repo();
    let marker = format!("{}", 900_000 + std::process::id() % 90_000);
    let scenario = format!(
        r#"
name = "timeout"
[[turns]]
id = "hang"
start = "Build"
tools = [{{ name = "bash", input = {{ command = "sleep {marker} & echo started", timeout = 1 }} }}]
[[turns]]
id = "end"
text = "ok"
"#
    );
    let ran = run(&scenario, dir.path(), limits(), CancellationToken::new()).await;
    assert_eq!(ran.end.reason, EndReason::Completed);
    let results = common::tool_results(&ran.events);
    assert!(results[0].1 && results[0].0.starts_with("started\n"), "{results:?}");
    assert!(results[0].0.contains("timed out after 1s"), "{results:?}");
    assert!(ran.elapsed < Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(processes_with(&format!("sleep {marker}")), Vec::<String>::new());
}

#[tokio::test]
async fn cancelling_kills_the_running_command_and_its_group() {
    let dir = common::temp_repo();
    let marker = format!("{}", 800_000 + std::process::id() % 90_000);
    let scenario = format!(
        r#"
name = "cancel"
[[turns]]
id = "hang"
start = "Build"
tools = [{{ name = "bash", input = {{ command = "sleep {marker} & sleep {marker}", timeout = 600 }} }}]
[[turns]]
id = "end"
text = "never"
"#
    );
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let pattern = format!("sleep {marker}");
    let watcher = tokio::spawn(async move {
        // Cancel once the command is really running.
        for _ in 0..100 {
            if processes_with(&pattern).len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        trigger.cancel();
    });
    let ran = run(&scenario, dir.path(), limits(), cancel).await;
    watcher.await.unwrap();
    assert_eq!(ran.end.reason, EndReason::Cancelled);
    assert!(ran.elapsed < Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(processes_with(&format!("sleep {marker}")), Vec::<String>::new());
}

#[tokio::test]
async fn ten_megabytes_of_output_come_back_capped() {
    let dir = common::temp_repo();
    let scenario = r#"
name = "flood"
[[turns]]
id = "flood"
start = "Build"
tools = [{ name = "bash", input = { command = "head -c 10000000 /dev/zero | tr '\\0' a; echo; echo THE-END" } }]
[[turns]]
id = "end"
text = "ok"
"#;
    let ran = run(scenario, dir.path(), limits(), CancellationToken::new()).await;
    let results = common::tool_results(&ran.events);
    let (out, is_error) = &results[0];
    assert!(!is_error);
    assert!(out.len() < 40_000, "{} bytes came back", out.len());
    assert!(out.starts_with("aaaa"));
    assert!(out.trim_end().ends_with("THE-END"), "the tail is kept");
    assert!(out.contains("bytes of output omitted"));
    let sent = ran.requests[1].to_string().len();
    assert!(sent < 100_000, "the model got the capped output, not 10 MB: {sent}");
}

#[tokio::test]
async fn max_turns_and_wall_time_end_a_session() {
    let dir = common::temp_repo();
    let ran = run(
        &session(""),
        dir.path(),
        Limits { max_turns: 2, wall_time: Duration::from_secs(60) },
        CancellationToken::new(),
    )
    .await;
    assert_eq!(ran.end.reason, EndReason::MaxTurns);
    assert_eq!(ran.requests.len(), 2);

    let scenario = r#"
name = "slow"
[[turns]]
id = "slow"
start = "Build"
tools = [{ name = "bash", input = { command = "sleep 30" } }]
[[turns]]
id = "end"
text = "ok"
"#;
    let ran = run(
        scenario,
        dir.path(),
        Limits { max_turns: 5, wall_time: Duration::from_millis(700) },
        CancellationToken::new(),
    )
    .await;
    assert_eq!(ran.end.reason, EndReason::TimedOut);
    assert!(ran.elapsed < Duration::from_secs(5));
}

/// An overload in the middle of a reply: the text the failed attempt had streamed is dropped, so
/// the transcript reads as what the model finally said, once.
#[tokio::test]
async fn a_reply_cut_by_an_overload_reads_once_in_the_transcript() {
    let dir = common::temp_repo();
    let ran =
        run(&session("faults = [{ kind = \"error_event\" }]"), dir.path(), limits(), CancellationToken::new()).await;
    assert_greeter_done(dir.path(), &ran);
    let streamed = common::text_of(&ran.events);
    assert!(
        streamed.contains("I will stWriting the script."),
        "the failed attempt streamed some text first: {streamed}"
    );
    let mut pane = baton::tui::panes::transcript::TranscriptPane::new();
    for e in &ran.events {
        pane.push(e);
    }
    let text: String = pane
        .entries
        .iter()
        .filter_map(|e| match e {
            baton::tui::panes::transcript::View::Text(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(text.matches("Writing the script.").count(), 1, "{text}");
    assert!(!text.contains("I will st"), "the cut-off attempt is dropped: {text}");
    assert!(text.contains("Let me get my bearings."), "the earlier turn's text stays: {text}");
}

/// A reply cut at the output token limit in the middle of a tool call: the call does not run,
/// the agent is told and goes on, and the session's record says a reply was cut.
#[tokio::test]
async fn a_reply_cut_at_max_tokens_is_told_to_the_agent_and_the_session_goes_on() {
    let dir = common::temp_repo();
    let scenario = include_str!("fixtures/cut.toml");
    let ran = run(scenario, dir.path(), limits(), CancellationToken::new()).await;
    assert_eq!(ran.end.reason, EndReason::Completed, "{:#?}", ran.events);
    assert!(!dir.path().join("half.txt").exists(), "the cut tool call did not run");
    assert_eq!(std::fs::read_to_string(dir.path().join("whole.txt")).unwrap(), "done\n");
    let shown = common::notices(&ran.events);
    assert!(
        shown.iter().any(|n| n.contains("cut at the output token limit") && n.contains("did not run")),
        "{shown:?}"
    );
    assert_eq!(ran.end.notes, ["1 reply was cut at the output token limit"]);
    // The model heard why: its next request ends with baton's word, after no dangling tool call.
    let second = &ran.requests[1]["messages"];
    let last = second.as_array().unwrap().last().unwrap();
    assert!(last["content"][0]["text"].as_str().unwrap().contains("its tool call did not run"), "{last}");
    assert!(!second.to_string().contains("half of a fi"), "the cut call is not sent back");
}

/// A model that refuses: shown in the transcript, and the session's end says so.
#[tokio::test]
async fn a_refusal_is_shown_and_recorded() {
    let dir = common::temp_repo();
    let scenario = r#"
name = "refusal"
[[turns]]
id = "no"
start = "Build"
text = "I can't help with that."
stop_reason = "refusal"
"#;
    let ran = run(scenario, dir.path(), limits(), CancellationToken::new()).await;
    assert_eq!(ran.end.reason, EndReason::Refused);
    assert!(common::notices(&ran.events).iter().any(|n| n.contains("refused to go on")), "{:?}", ran.events);
    let (outcome, detail) = baton::harness::outcome_of(&ran.end.reason, false);
    assert_eq!(outcome, baton::project::session::Outcome::NoProgress);
    assert!(detail.unwrap().contains("stop_reason: refusal"));
}
