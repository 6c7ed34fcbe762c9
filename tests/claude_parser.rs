//! The stream-json parser on streams recorded from the real Claude Code CLI
//! (`tests/fixtures/claude/`, recorded by `tests/claude_code.rs` with `BATON_RECORD_FIXTURES=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use baton::agent::claude_code::StreamParser;
use baton::agent::{AgentEvent, EndReason, LimitStatus};

fn parse(name: &str) -> (Vec<AgentEvent>, StreamParser) {
    let text =
        std::fs::read_to_string(format!("{}/tests/fixtures/claude/{name}.jsonl", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut p = StreamParser::default();
    let mut events = Vec::new();
    for line in text.lines() {
        events.extend(p.line(line, None));
    }
    (events, p)
}

fn tool_calls(events: &[AgentEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolCall { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_whole_session_becomes_events_and_a_completed_end() {
    let (events, p) = parse("session");
    assert!(matches!(&events[0], AgentEvent::Started { model, session_id: Some(_) } if model == "claude-sonnet-4-5"));
    assert_eq!(tool_calls(&events), ["Bash", "Write", "Read", "Edit", "Bash"]);
    let results: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolResult { is_error, .. } => Some(*is_error),
            _ => None,
        })
        .collect();
    assert_eq!(results, [false; 5]);
    // Text comes once, from the partial stream events, not again from the whole messages.
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Let me look around.Writing the script.The greeter is committed.");
    let usages = events.iter().filter(|e| matches!(e, AgentEvent::Usage { .. })).count();
    assert_eq!(usages, 6, "one per model turn");
    let (reason, usage, cost, turns) = p.end("");
    assert_eq!(reason, EndReason::Completed);
    assert_eq!(turns, 6);
    assert!(usage.input_tokens > 0 && cost > 0.0);
}

#[test]
fn a_hook_refusal_is_a_policy_denial() {
    let (events, p) = parse("refused");
    let denied: Vec<_> =
        events.iter().filter(|e| matches!(e, AgentEvent::PolicyDenied { name, .. } if name == "Bash")).collect();
    assert_eq!(denied.len(), 1);
    assert_eq!(p.end("").0, EndReason::Completed);
}

#[test]
fn an_api_retry_is_a_retry_event() {
    let (events, _) = parse("retry");
    let retries: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Retry { reason, attempt, wait_ms } => Some((reason.clone(), *attempt, *wait_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 1);
    assert!(retries[0].0.contains("(529)") && retries[0].1 == 1 && retries[0].2 > 0, "{retries:?}");
}

#[test]
fn a_cut_stream_reported_as_success_is_an_api_error() {
    let (_, p) = parse("stream-cut");
    let result = p.result.as_ref().unwrap();
    assert_eq!((result["subtype"].as_str(), result["is_error"].as_bool()), (Some("success"), Some(true)));
    assert!(matches!(p.end("").0, EndReason::ApiError { status: None, .. }));
}

#[test]
fn a_stream_without_a_result_is_a_crash() {
    let (events, p) = parse("interrupt");
    assert_eq!(tool_calls(&events), ["Bash"]);
    match p.end("Error: killed\n") {
        (EndReason::Crashed { message }, ..) => {
            assert!(message.contains("without a result: Error: killed"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn junk_unknown_types_and_very_long_lines_are_fine() {
    let mut p = StreamParser::default();
    assert!(p.line("not json at all", None).is_empty());
    assert!(p.line(r#"{"type":"something_new","x":1}"#, None).is_empty());
    let long = "x".repeat(2_000_000);
    let line =
        serde_json::json!({"type": "assistant", "message": {"id": "m1", "content": [{"type": "text", "text": long}]}})
            .to_string();
    let events = p.line(&line, None);
    assert!(matches!(&events[..], [AgentEvent::TextDelta { text }] if text.len() == 2_000_000));
}

/// The live figures (each turn's `Usage` event, from `message_start` and `message_delta`) add up
/// to what the CLI's own `result` line says at the end.
#[test]
fn the_live_token_figures_add_up_to_the_clis_result() {
    let (events, p) = parse("session");
    let live: (u64, u64) = events.iter().fold((0, 0), |acc, e| match e {
        AgentEvent::Usage { usage, .. } => (acc.0 + usage.input_tokens, acc.1 + usage.output_tokens),
        _ => acc,
    });
    let result = p.result.as_ref().unwrap();
    let output: u64 = result["usage"]["output_tokens"].as_u64().unwrap();
    let input: u64 = result["usage"]["input_tokens"].as_u64().unwrap();
    assert!(output > 6, "more than one token a turn: {output}");
    assert_eq!(live, (input, output), "live figures against the result line");
}

/// After an API overload the CLI can end with `error_during_execution` and `is_error: false`:
/// that is the API failing, said with the CLI's reason, not a session that made no progress.
#[test]
fn an_error_during_execution_is_an_outside_failure_with_the_clis_reason() {
    let result = |errors: &str| {
        let mut p = StreamParser::default();
        p.line(
            &format!(
                r#"{{"type":"result","subtype":"error_during_execution","is_error":false,"duration_ms":900,"num_turns":2,"session_id":"s","total_cost_usd":0.01,"usage":{{"input_tokens":10,"output_tokens":3}},"errors":[{errors}]}}"#
            ),
            None,
        );
        p.end("").0
    };
    match result(
        r#""API Error: 529 {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}""#,
    ) {
        EndReason::RateLimited { message } => assert!(message.contains("Overloaded"), "{message}"),
        other => panic!("{other:?}"),
    }
    match result(r#""Connection error.""#) {
        EndReason::ApiError { message, .. } => assert_eq!(message, "Connection error."),
        other => panic!("{other:?}"),
    }
}

/// The CLI reports a model's refusal as an API error in its own words; baton calls it what it is.
#[test]
fn a_models_refusal_is_a_refusal_not_an_api_error() {
    let (events, p) = parse("model-refusal");
    assert_eq!(common::notices(&events), [baton::agent::REFUSAL_NOTICE]);
    assert_eq!(p.end("").0, EndReason::Refused);
    assert!(p.notes().is_empty());
}

#[test]
fn a_reply_cut_at_the_output_limit_is_shown_and_noted() {
    let (events, p) = parse("max-tokens");
    assert_eq!(common::notices(&events), ["the reply was cut at the output token limit (stop_reason: max_tokens)"]);
    assert_eq!(p.end("").0, EndReason::Completed);
    assert_eq!(p.notes(), ["1 reply was cut at the output token limit"]);
}

/// The permission prompt on stdio, as the pinned CLI (2.1.197) sends it when baton's hook answers
/// `ask` (recorded): read as a question about the call, with the id to answer and the tool call
/// it is about; nothing else is taken for one.
#[test]
fn the_clis_permission_request_is_read_as_recorded() {
    let line = include_str!("fixtures/claude/permission-request.jsonl").trim_end();
    let asked = baton::agent::claude_code::permission_request(line).expect("a can_use_tool request");
    assert_eq!(asked.tool, "Bash");
    assert_eq!(asked.id.len(), 36, "{asked:?}");
    assert_eq!(asked.tool_use_id.as_deref(), Some("toolu_0000000000000001"));
    assert!(asked.input["command"].as_str().unwrap().contains("touch made-by-ask.txt"), "{asked:?}");
    assert!(!baton::agent::claude_code::is_result(line));
    for other in [
        r#"{"type":"assistant","message":{"content":[{"type":"text","text":"{\"type\":\"control_request\"}"}]}}"#,
        r#"{"type":"control_request","request_id":"x","request":{"subtype":"interrupt"}}"#,
    ] {
        assert_eq!(baton::agent::claude_code::permission_request(other), None, "{other}");
    }
    assert!(baton::agent::claude_code::is_result(r#"{"type":"result","subtype":"success"}"#));
}

/// The three shapes of a subscriber's limits, recorded from the real CLI signed in with an OAuth
/// token against a server sending the API's unified rate-limit headers (as the scripted model's
/// `usage_limit` fault and `usage` headers do in `tests/governor.rs`).
#[test]
fn a_plan_limit_is_told_from_throttling_by_the_clis_rate_limit_event() {
    // The plan's limit: `rejected` with its kind and reset.
    let (events, p) = parse("usage-limit");
    let limit = events.iter().find_map(|e| match e {
        AgentEvent::Limit { limit } => Some(limit.clone()),
        _ => None,
    });
    let limit = limit.expect("the rate_limit_event is read");
    assert_eq!((limit.status, limit.kind.as_deref()), (LimitStatus::Rejected, Some("five_hour")));
    match p.end("").0 {
        EndReason::UsageLimit { resets_at, kind, message } => {
            assert_eq!((resets_at, kind), (limit.resets_at, Some("five_hour".to_owned())));
            assert!(resets_at.is_some());
            assert!(message.starts_with("You've hit your session limit"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // Throttling: a 429 the CLI also calls `rejected`, but with no kind and no reset.
    let (events, p) = parse("throttled");
    assert!(events.iter().any(|e| matches!(e, AgentEvent::Limit { limit } if limit.status == LimitStatus::Rejected)));
    match p.end("").0 {
        EndReason::RateLimited { message } => assert!(message.contains("not your usage limit"), "{message}"),
        other => panic!("{other:?}"),
    }

    // Nearly used up: the session goes on and ends as it ends; the figure is kept for the loop.
    let (events, p) = parse("limit-warning");
    let warning = events.iter().find_map(|e| match e {
        AgentEvent::Limit { limit } => Some(limit.clone()),
        _ => None,
    });
    assert_eq!(warning.as_ref().map(|l| (l.status, l.utilization)), Some((LimitStatus::AllowedWarning, Some(0.91))));
    assert_eq!(p.end("").0, EndReason::Completed);
}

#[test]
fn the_clis_own_words_are_the_last_resort_and_the_agents_words_are_not_read() {
    // No event and no status: only the CLI's error text says it.
    let mut p = StreamParser::default();
    p.line(
        r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":null,"num_turns":1,"result":"You've hit your weekly limit · resets Mon 9am","usage":{}}"#,
        None,
    );
    assert!(matches!(p.end("").0, EndReason::UsageLimit { resets_at: None, .. }));
    // A session that ended well, its last words about a limit: nothing.
    let mut p = StreamParser::default();
    p.line(
        r#"{"type":"result","subtype":"success","is_error":false,"num_turns":3,"result":"You've hit your usage limit, the test says; it passes.","usage":{}}"#,
        None,
    );
    assert_eq!(p.end("").0, EndReason::Completed);
}
