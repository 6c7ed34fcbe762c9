//! The `openai` backend against the scripted model's chat completions, over real HTTP on loopback,
//! in temp git repositories: the same agent as the `anthropic` backend on the other wire, through
//! the servers' shapes (OpenAI, vLLM, Ollama, llama.cpp, OpenRouter), their faults and quirks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use baton::agent::openai::{OpenAiBackend, RetryPolicy};
use baton::agent::scripted::Profile;
use baton::agent::{AgentEvent, Backend, EndReason, Limits};
use baton::project::config::Config;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use common::{Scripted as Ran, assert_greeter_done, greeter};

fn config(model: &str) -> Config {
    Config::parse(Path::new("c.toml"), &format!("[agent]\nbackend = \"openai\"\nmodel = \"{model}\"\n")).unwrap()
}

async fn run_as(scenario: &str, dir: &Path, profile: Profile, config: &Config) -> Ran {
    let backend = |url: &str| -> Box<dyn Backend> {
        Box::new(OpenAiBackend::new(&format!("{url}/v1"), "test-key", config).unwrap().with_retry(RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
        }))
    };
    let limits = Limits { max_turns: 20, wall_time: Duration::from_secs(60) };
    common::scripted(backend, profile, scenario, dir, limits, CancellationToken::new()).await
}

async fn run(scenario: &str, dir: &Path) -> Ran {
    run_as(scenario, dir, Profile::OpenAi, &config("gpt-4.1")).await
}

#[tokio::test]
async fn a_multi_turn_session_over_chat_completions_writes_edits_runs_and_commits() {
    let dir = common::temp_repo();
    let ran = run(&greeter(""), dir.path()).await;
    assert_greeter_done(dir.path(), &ran);
    let results = common::tool_results(&ran.events);
    assert_eq!(results.len(), 5, "two calls at once, then one a turn");
    assert!(results.iter().all(|(_, err)| !err), "{results:?}");
    assert!(results[4].0.contains("Hello, world\n1\n"), "{results:?}");

    // Each request: the system prompt first, the tools as functions, every call answered by a tool
    // message with its id, usage asked for; the key as a bearer token.
    assert_eq!(ran.requests.len(), 5);
    let last = &ran.requests[4];
    let m = last["messages"].as_array().unwrap();
    assert_eq!(m[0]["role"], "system");
    assert_eq!((m[1]["role"].as_str(), m[2]["role"].as_str()), (Some("user"), Some("assistant")));
    let calls = m[2]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    for (n, call) in calls.iter().enumerate() {
        assert_eq!(m[3 + n]["role"], "tool");
        assert_eq!(m[3 + n]["tool_call_id"], call["id"]);
    }
    assert!(m[3]["content"].as_str().unwrap().contains("clean"));
    assert_eq!(last["tools"][0]["type"], "function");
    assert!(last["tools"].as_array().unwrap().iter().any(|t| t["function"]["name"] == "write_file"));
    assert_eq!(last["stream_options"], json!({"include_usage": true}));
    assert!(ran.headers.iter().all(|h| h.get("authorization").map(String::as_str) == Some("Bearer test-key")));
    assert!(ran.headers.iter().all(|h| !h.contains_key("x-api-key")));

    // Usage and cost add up over the turns, at gpt-4.1's configured price (the cached part of the
    // prompt at the cached price).
    let u = ran.end.usage;
    assert!(u.input_tokens > 0 && u.output_tokens > 0 && u.priced() && u.unreported_turns == 0, "{u:?}");
    let expected =
        (u.input_tokens as f64 * 2.0 + u.cache_read_input_tokens as f64 * 0.5 + u.output_tokens as f64 * 8.0) / 1e6;
    assert!((ran.end.cost_usd - expected).abs() < 1e-12, "{} vs {expected}", ran.end.cost_usd);
}

#[tokio::test]
async fn every_passing_fault_is_ridden_through_and_shown() {
    let faults = [
        ("{ kind = \"rate_limit\", retry_after = 1 }", "rate limited (429)"),
        ("{ kind = \"overloaded\" }", "server error (503)"),
        ("{ kind = \"server_error\" }", "server error (500)"),
        ("{ kind = \"stream_cut\" }", "the stream"),
        ("{ kind = \"error_event\" }", "error event in the stream: server_error"),
        ("{ kind = \"reset\" }", "cannot reach the API"),
    ];
    for (fault, shown) in faults {
        let dir = common::temp_repo();
        let ran = run(&greeter(&format!("faults = [{fault}]")), dir.path()).await;
        assert_greeter_done(dir.path(), &ran);
        let retries = common::retries(&ran.events);
        assert_eq!(retries.len(), 1, "{fault}: {retries:?}");
        assert!(retries[0].0.contains(shown), "{fault}: {retries:?}");
        if fault.contains("retry_after") {
            assert_eq!(retries[0].1, 1000, "retry-after is honoured");
            assert!(ran.elapsed >= Duration::from_secs(1));
        }
        let writes =
            ran.events.iter().filter(|e| matches!(e, AgentEvent::ToolCall { name, .. } if name == "write_file"));
        assert_eq!(writes.count(), 1, "{fault}: the retried request was re-sent before any tool ran");
    }
}

#[tokio::test]
async fn a_refused_key_ends_the_session_at_once_and_a_lasting_overload_after_the_retry_budget() {
    let dir = common::temp_repo();
    let ran = run(&greeter("faults = [{ kind = \"unauthorized\" }]"), dir.path()).await;
    assert!(matches!(&ran.end.reason, EndReason::ApiError { status: Some(401), .. }), "{:?}", ran.end.reason);
    assert_eq!(ran.requests.len(), 2, "a 401 is not retried");
    assert!(!dir.path().join("bin/greet.sh").exists());

    let dir = common::temp_repo();
    let ran = run(&greeter("faults = [{ kind = \"rate_limit\", times = 10 }]"), dir.path()).await;
    assert!(matches!(ran.end.reason, EndReason::RateLimited { .. }), "{:?}", ran.end.reason);
    assert_eq!(ran.requests.len(), 1 + 4);
}

#[tokio::test]
async fn a_refused_command_does_not_run_and_the_model_is_told_why() {
    let dir = common::temp_repo();
    let scenario = include_str!("fixtures/refused.toml");
    let ran = run(scenario, dir.path()).await;
    assert_eq!(ran.end.reason, EndReason::Completed, "{:#?}", ran.events);
    assert!(!dir.path().join("ran.txt").exists(), "nothing of the refused command ran");
    assert_eq!(ran.events.iter().filter(|e| matches!(e, AgentEvent::PolicyDenied { .. })).count(), 1);
    let answer = &ran.requests[1]["messages"][3];
    assert_eq!(answer["role"], "tool");
    assert!(answer["content"].as_str().unwrap().contains("`curl` is not on the allowlist"), "{answer}");
}

/// A reply cut at the output limit (`length`) in the middle of a call: the call does not run, and
/// it is not sent back (a call sent back without its result is refused by every server).
#[tokio::test]
async fn a_reply_cut_at_length_is_told_and_its_call_not_sent_back() {
    let dir = common::temp_repo();
    let scenario = include_str!("fixtures/cut.toml");
    let ran = run(scenario, dir.path()).await;
    assert_eq!(ran.end.reason, EndReason::Completed, "{:#?}", ran.events);
    assert!(!dir.path().join("half.txt").exists());
    assert_eq!(std::fs::read_to_string(dir.path().join("whole.txt")).unwrap(), "done\n");
    assert_eq!(ran.end.notes, ["1 reply was cut at the output token limit"]);
    assert!(!ran.requests[1].to_string().contains("half of a fi"), "the cut call is not sent back");
}

#[tokio::test]
async fn every_servers_chat_stream_plays_the_session_to_its_end() {
    for profile in [Profile::Vllm, Profile::Ollama, Profile::LlamaCpp, Profile::OpenRouter] {
        let dir = common::temp_repo();
        let ran = run_as(&greeter(""), dir.path(), profile, &config("gpt-4.1")).await;
        assert_greeter_done(dir.path(), &ran);
        assert_eq!(
            common::thinking_of(&ran.events),
            "I should look around first.",
            "{profile:?} streams its reasoning"
        );
        assert_eq!(common::tool_results(&ran.events).len(), 5, "{profile:?}");
        assert!(ran.end.usage.output_tokens > 0 && ran.end.usage.priced(), "{profile:?}: {:?}", ran.end.usage);
        if profile == Profile::OpenRouter {
            // OpenRouter says what each turn cost; that figure is the one counted.
            let u = ran.end.usage;
            let theirs =
                ((u.input_tokens + u.cache_read_input_tokens) as f64 * 0.5 + u.output_tokens as f64 * 2.0) / 1e6;
            assert!((ran.end.cost_usd - theirs).abs() < 1e-12, "{} vs {theirs}", ran.end.cost_usd);
        }
    }
}

#[tokio::test]
async fn a_server_that_refuses_stream_options_is_asked_again_without_it_once_for_the_backend() {
    let dir = common::temp_repo();
    let scenario = format!("{}\n[quirks]\nrefuse = [\"stream_options\"]\n", greeter(""));
    let ran = run(&scenario, dir.path()).await;
    assert_greeter_done(dir.path(), &ran);
    let with: Vec<bool> = ran.requests.iter().map(|r| r.get("stream_options").is_some()).collect();
    assert_eq!(with, [true, false, false, false, false, false], "refused once, then left out");
    let told = common::notices(&ran.events);
    assert!(told.iter().any(|n| n.contains("refused stream_options") && n.contains("leaving it out")), "{told:?}");
    // Without stream_options this server reports no usage: tokens and price unknown, never 0.
    assert_eq!((ran.end.usage.unreported_turns, ran.end.usage.unpriced_turns), (5, 5), "{:?}", ran.end.usage);
    assert_eq!(ran.end.cost_usd, 0.0);
    assert_eq!(baton::project::session::dollars(ran.end.cost_usd, !ran.end.usage.priced()), "price unknown");
}

#[tokio::test]
async fn an_empty_finish_reason_and_an_empty_usage_are_read_for_what_they_are() {
    let dir = common::temp_repo();
    let scenario = format!("{}\n[quirks]\nempty_finish_reason = true\nusage = \"empty\"\n", greeter(""));
    let ran = run(&scenario, dir.path()).await;
    assert_greeter_done(dir.path(), &ran);
    assert_eq!(ran.end.usage.unreported_turns, 5, "usage {{}} says nothing: {:?}", ran.end.usage);
    assert_eq!(ran.end.usage.input_tokens + ran.end.usage.output_tokens, 0);
}
