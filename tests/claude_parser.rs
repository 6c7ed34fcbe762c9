//! The stream-json parser on streams recorded from the real Claude Code CLI, every version
//! recorded (`tests/fixtures/claude/VERSION/`, recorded by `tests/claude_code.rs` with
//! `BATON_RECORD_FIXTURES=1`), and on the same streams with each line's keys in another order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use baton::agent::claude_code::StreamParser;
use baton::agent::{AgentEvent, EndReason, LimitStatus};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude")
}

/// The CLI's versions recorded, oldest first.
fn versions() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort_by_key(|v| v.split('.').map(|n| n.parse::<u32>().unwrap_or(0)).collect::<Vec<_>>());
    v
}

/// `name`'s recording by every version that has one, at least two.
fn recordings(name: &str) -> Vec<(String, String)> {
    let found: Vec<(String, String)> = versions()
        .into_iter()
        .filter_map(|v| std::fs::read_to_string(fixtures().join(&v).join(format!("{name}.jsonl"))).ok().map(|t| (v, t)))
        .collect();
    assert!(found.len() >= 2, "{name} is recorded from the pinned CLI and the newest: {found:?}");
    found
}

fn parse_text(text: &str) -> (Vec<AgentEvent>, StreamParser) {
    let mut p = StreamParser::default();
    let mut events = Vec::new();
    for line in text.lines() {
        events.extend(p.line(line, None));
    }
    (events, p)
}

/// `name` as each version recorded it: the version, the events, the parser at the end.
fn parse(name: &str) -> Vec<(String, Vec<AgentEvent>, StreamParser)> {
    recordings(name)
        .into_iter()
        .map(|(v, text)| {
            let (events, p) = parse_text(&text);
            (v, events, p)
        })
        .collect()
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
    for (version, events, p) in parse("session") {
        whole_session(&version, &events, &p);
    }
}

fn whole_session(version: &str, events: &[AgentEvent], p: &StreamParser) {
    assert!(matches!(&events[0], AgentEvent::Started { model, session_id: Some(_) } if model == "claude-sonnet-4-5"));
    assert_eq!(tool_calls(events), ["Bash", "Write", "Read", "Edit", "Bash"], "{version}");
    let results: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolResult { is_error, .. } => Some(*is_error),
            _ => None,
        })
        .collect();
    assert_eq!(results, [false; 5], "{version}");
    // Text comes once, from the partial stream events, not again from the whole messages.
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Let me look around.Writing the script.The greeter is committed.", "{version}");
    let usages = events.iter().filter(|e| matches!(e, AgentEvent::Usage { .. })).count();
    assert_eq!(usages, 6, "{version}: one per model turn");
    let (reason, usage, cost, turns) = p.end("");
    assert_eq!(reason, EndReason::Completed, "{version}");
    assert_eq!(turns, 6, "{version}");
    assert!(usage.input_tokens > 0 && cost > 0.0, "{version}");
}

#[test]
fn a_hook_refusal_is_a_policy_denial() {
    for (version, events, p) in parse("refused") {
        let denied: Vec<_> =
            events.iter().filter(|e| matches!(e, AgentEvent::PolicyDenied { name, .. } if name == "Bash")).collect();
        assert_eq!(denied.len(), 1, "{version}");
        assert_eq!(p.end("").0, EndReason::Completed, "{version}");
    }
}

#[test]
fn an_api_retry_is_a_retry_event() {
    for (version, events, _) in parse("retry") {
        let retries: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::Retry { reason, attempt, wait_ms } => Some((reason.clone(), *attempt, *wait_ms)),
                _ => None,
            })
            .collect();
        assert_eq!(retries.len(), 1, "{version}");
        assert!(retries[0].0.contains("(529)") && retries[0].1 == 1 && retries[0].2 > 0, "{version}: {retries:?}");
    }
}

#[test]
fn a_cut_stream_reported_as_success_is_an_api_error() {
    for (version, _, p) in parse("stream-cut") {
        let result = p.result.as_ref().unwrap();
        let said = (result["subtype"].as_str(), result["is_error"].as_bool());
        assert_eq!(said, (Some("success"), Some(true)), "{version}");
        assert!(matches!(p.end("").0, EndReason::ApiError { status: None, .. }), "{version}");
    }
}

#[test]
fn a_stream_without_a_result_is_a_crash() {
    for (version, events, p) in parse("interrupt") {
        assert_eq!(tool_calls(&events), ["Bash"], "{version}");
        match p.end("Error: killed\n") {
            (EndReason::Crashed { message }, ..) => {
                assert!(message.contains("without a result: Error: killed"), "{version}: {message}")
            }
            other => panic!("{version}: {other:?}"),
        }
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
    for (version, events, p) in parse("session") {
        let live: (u64, u64) = events.iter().fold((0, 0), |acc, e| match e {
            AgentEvent::Usage { usage, .. } => (acc.0 + usage.input_tokens, acc.1 + usage.output_tokens),
            _ => acc,
        });
        let result = p.result.as_ref().unwrap();
        let output: u64 = result["usage"]["output_tokens"].as_u64().unwrap();
        let input: u64 = result["usage"]["input_tokens"].as_u64().unwrap();
        assert!(output > 6, "{version}: more than one token a turn: {output}");
        assert_eq!(live, (input, output), "{version}: live figures against the result line");
    }
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
    for (version, events, p) in parse("model-refusal") {
        assert_eq!(common::notices(&events), [baton::agent::REFUSAL_NOTICE], "{version}");
        assert_eq!(p.end("").0, EndReason::Refused, "{version}");
        assert!(p.notes().is_empty(), "{version}");
    }
}

#[test]
fn a_reply_cut_at_the_output_limit_is_shown_and_noted() {
    for (version, events, p) in parse("max-tokens") {
        let shown = common::notices(&events);
        assert_eq!(shown, ["the reply was cut at the output token limit (stop_reason: max_tokens)"], "{version}");
        assert_eq!(p.end("").0, EndReason::Completed, "{version}");
        assert_eq!(p.notes(), ["1 reply was cut at the output token limit"], "{version}");
    }
}

/// The permission prompt on stdio, as each CLI sends it when baton's hook answers `ask`
/// (recorded): read as a question about the call, with the id to answer and the tool call it is
/// about; nothing else is taken for one.
#[test]
fn the_clis_permission_request_is_read_as_recorded() {
    use baton::agent::claude_code::{is_result, permission_request};
    for (version, text) in recordings("permission-request") {
        let line = text.trim_end();
        let asked = permission_request(line).unwrap_or_else(|| panic!("{version}: a can_use_tool request"));
        assert_eq!(asked.tool, "Bash", "{version}");
        assert_eq!(asked.id.len(), 36, "{version}: {asked:?}");
        assert_eq!(asked.tool_use_id.as_deref(), Some("toolu_0000000000000001"), "{version}");
        let command = asked.input["command"].as_str().unwrap();
        assert!(command.contains("touch made-by-ask.txt") || command.contains("'factor 84'"), "{version}: {asked:?}");
        assert!(!is_result(line), "{version}");
        // The same request with its keys in another order is the same request.
        assert_eq!(permission_request(&reordered(line)), Some(asked), "{version}");
    }
    for other in [
        r#"{"type":"assistant","message":{"content":[{"type":"text","text":"{\"type\":\"control_request\"}"}]}}"#,
        r#"{"type":"control_request","request_id":"x","request":{"subtype":"interrupt"}}"#,
        r#"{"request":{"subtype":"can_use_tool"},"note":{"type":"control_request"},"type":"control_response"}"#,
    ] {
        assert_eq!(permission_request(other), None, "{other}");
    }
    assert!(is_result(r#"{"type":"result","subtype":"success"}"#));
    assert!(is_result(r#"{"duration_api_ms":54,"type":"result","subtype":"success"}"#));
    assert!(is_result(r#"{"type":"result"}"#));
    assert!(!is_result(r#"{"type":"results","subtype":"success"}"#));
    assert!(!is_result(r#"{"subtype":"success","result":"{\"type\":\"result\"}","type":"user"}"#));
}

/// `line` with the keys of each of its objects in reverse order.
fn reordered(line: &str) -> String {
    fn reverse(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut pairs: Vec<_> = m.into_iter().collect();
                pairs.reverse();
                serde_json::Value::Object(pairs.into_iter().map(|(k, v)| (k, reverse(v))).collect())
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.into_iter().map(reverse).collect()),
            other => other,
        }
    }
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(v) => reverse(v).to_string(),
        Err(_) => line.to_owned(),
    }
}

/// Every recorded stream read with each line's keys in reverse order (`type` last) gives the same
/// events and the same end: the stream is read by value, never by the order of its keys.
#[test]
fn every_recorded_stream_reads_the_same_whatever_the_order_of_its_keys() {
    let mut streams = 0;
    for version in versions() {
        for entry in std::fs::read_dir(fixtures().join(&version)).unwrap().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let name = format!("{version}/{}", entry.file_name().to_string_lossy());
            let (events, p) = parse_text(&text);
            let turned: String = text.lines().map(|l| reordered(l) + "\n").collect();
            assert_ne!(turned, text, "{name}: the keys moved");
            let (events2, p2) = parse_text(&turned);
            assert_eq!(events2, events, "{name}");
            assert_eq!(p2.end("tail"), p.end("tail"), "{name}");
            assert_eq!(p2.result.is_some(), p.result.is_some(), "{name}");
            for line in text.lines() {
                let is = baton::agent::claude_code::is_result(line);
                assert_eq!(baton::agent::claude_code::is_result(&reordered(line)), is, "{name}: {line}");
            }
            streams += 1;
        }
    }
    assert!(streams >= 20, "{streams}");
}

/// The three shapes of a subscriber's limits, recorded from the real CLI signed in with an OAuth
/// token against a server sending the API's unified rate-limit headers (as the scripted model's
/// `usage_limit` fault and `usage` headers do in `tests/governor.rs`).
#[test]
fn a_plan_limit_is_told_from_throttling_by_the_clis_rate_limit_event() {
    // The plan's limit: `rejected` with its kind and reset.
    for (version, events, p) in parse("usage-limit") {
        let limit = events.iter().find_map(|e| match e {
            AgentEvent::Limit { limit } => Some(limit.clone()),
            _ => None,
        });
        let limit = limit.expect("the rate_limit_event is read");
        assert_eq!((limit.status, limit.kind.as_deref()), (LimitStatus::Rejected, Some("five_hour")), "{version}");
        match p.end("").0 {
            EndReason::UsageLimit { resets_at, kind, message } => {
                assert_eq!((resets_at, kind), (limit.resets_at, Some("five_hour".to_owned())), "{version}");
                assert!(resets_at.is_some(), "{version}");
                // 2.1.197: "You've hit your session limit", 2.1.332: "You've hit your 5-hour limit".
                assert!(message.starts_with("You've hit your"), "{version}: {message}");
            }
            other => panic!("{version}: {other:?}"),
        }
    }

    // Throttling: a 429 the CLI also calls `rejected`, but with no kind and no reset.
    for (version, events, p) in parse("throttled") {
        let rejected =
            events.iter().any(|e| matches!(e, AgentEvent::Limit { limit } if limit.status == LimitStatus::Rejected));
        assert!(rejected, "{version}");
        match p.end("").0 {
            EndReason::RateLimited { message } => {
                assert!(message.contains("not your usage limit"), "{version}: {message}")
            }
            other => panic!("{version}: {other:?}"),
        }
    }

    // Nearly used up: the session goes on and ends as it ends; the figure is kept for the loop.
    for (version, events, p) in parse("limit-warning") {
        let warning = events.iter().find_map(|e| match e {
            AgentEvent::Limit { limit } => Some(limit.clone()),
            _ => None,
        });
        let seen = warning.as_ref().map(|l| (l.status, l.utilization));
        assert_eq!(seen, Some((LimitStatus::AllowedWarning, Some(0.91))), "{version}");
        assert_eq!(p.end("").0, EndReason::Completed, "{version}");
    }
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
