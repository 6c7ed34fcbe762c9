//! The CLI's stream-json, folded into baton's events and, at the end, into how the session ended.

use std::path::PathBuf;

use serde_json::Value;

use super::{REFUSAL_PREFIX, cost};
use crate::agent::AgentEvent;
use crate::project::config::Price;
use crate::project::session::Usage;

mod ending;

/// The CLI's permission prompt on stdio: a tool call it asks baton about (`can_use_tool`).
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionRequest {
    /// Answered with this id.
    pub id: String,
    pub tool: String,
    /// The input as the CLI holds it (what the hook gave it).
    pub input: Value,
    /// The tool call it is about, to find the call as the agent made it.
    pub tool_use_id: Option<String>,
}

/// A `control_request` line asking whether a tool may be used, read by value: the line's keys
/// may come in any order.
pub fn permission_request(line: &str) -> Option<PermissionRequest> {
    if line_type(line).as_deref() != Some("control_request") {
        return None;
    }
    let v: Value = serde_json::from_str(line).ok()?;
    let r = &v["request"];
    if r["subtype"] != "can_use_tool" {
        return None;
    }
    Some(PermissionRequest {
        id: v["request_id"].as_str()?.to_owned(),
        tool: r["tool_name"].as_str().unwrap_or("").to_owned(),
        input: r["input"].clone(),
        tool_use_id: r["tool_use_id"].as_str().map(str::to_owned),
    })
}

/// Whether `line` is the session's `result`: after it the CLI reads no more input. Read by value
/// (the CLI 2.1.332 starts it with `{"duration_api_ms":...`, 2.1.197 with `{"type":"result"`).
pub fn is_result(line: &str) -> bool {
    line_type(line).as_deref() == Some("result")
}

/// The `type` of a line of the stream, `None` when the line is no JSON object. When the line
/// starts with a plain `{"type":"X",` that is read at once; anything else (another key first,
/// an escape in the name) is parsed for its `type` alone, whatever the order of its keys.
pub fn line_type(line: &str) -> Option<std::borrow::Cow<'_, str>> {
    if let Some(rest) = line.strip_prefix("{\"type\":\"")
        && let Some(end) = rest.find(['"', '\\'])
        && rest[end..].starts_with("\",")
    {
        return Some(std::borrow::Cow::Borrowed(&rest[..end]));
    }
    #[derive(serde::Deserialize)]
    struct Typed<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<Typed>(line).ok().map(|t| t.kind)
}

/// Folds the CLI's stream-json into events and, at the end, into how the session ended.
#[derive(Debug, Default)]
pub struct StreamParser {
    /// Message ids whose text arrived as partial stream events (not repeated from `assistant`).
    streamed: std::collections::HashSet<String>,
    current_message: Option<String>,
    /// Whether the current message's text came as partial events (then `assistant` repeats it).
    current_streamed: bool,
    /// Events of a line read the slow way, handed out by `line_into`.
    pending: Vec<AgentEvent>,
    /// Tool names by id, to name a refused call.
    tool_names: std::collections::HashMap<String, String>,
    turn_usage: Usage,
    /// Replies the model ended at the output token limit (the CLI goes on after them).
    cut_replies: u32,
    /// Whether the model ended a reply with `stop_reason: refusal`.
    refused: bool,
    /// The last `rate_limit_event`: what the API said of the account's usage limits.
    limit: Option<crate::agent::UsageLimit>,
    pub result: Option<Value>,
    pub saw_anything: bool,
    /// The CLI's Bash commands run in baton's sandbox: their failures are read for its marks.
    pub sandboxed: bool,
    /// Where the session's images are saved.
    pub artifacts: Option<PathBuf>,
}

fn usage_of(v: &Value) -> Usage {
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n("input_tokens"),
        output_tokens: n("output_tokens"),
        cache_creation_input_tokens: n("cache_creation_input_tokens"),
        cache_read_input_tokens: n("cache_read_input_tokens"),
        ..Usage::default()
    }
}

fn text_of_result(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

impl StreamParser {
    /// A parser for a session whose Bash commands are `sandboxed` (or not), saving its images in
    /// `artifacts`.
    pub fn new(sandboxed: bool, artifacts: Option<PathBuf>) -> Self {
        StreamParser { sandboxed, artifacts, ..StreamParser::default() }
    }

    /// A tool result's text; its images (a browser's screenshots) are saved with the session and
    /// named in it.
    fn result_text(&self, content: &Value) -> String {
        let mut text = text_of_result(content);
        let images: Vec<(String, String)> = content
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["type"] == "image")
            .map(|p| {
                let source = &p["source"];
                let media = source["media_type"].as_str().unwrap_or("image/png").to_owned();
                (media, source["data"].as_str().unwrap_or("").to_owned())
            })
            .collect();
        text.push_str(&crate::agent::mcp::save_images(self.artifacts.as_deref(), &images));
        text
    }

    /// Marks a refused call: by baton's policy (the hook's refusal), or, for a confined Bash
    /// command that failed the sandbox's way, by the sandbox.
    fn denials(&self, id: &str, output: &str, is_error: bool, out: &mut Vec<AgentEvent>) {
        if !is_error {
            return;
        }
        let name = self.tool_names.get(id).cloned().unwrap_or_default();
        if let Some(i) = output.find(REFUSAL_PREFIX) {
            let reason = output[i + REFUSAL_PREFIX.len()..].trim().to_owned();
            out.push(AgentEvent::PolicyDenied { id: id.to_owned(), name, reason });
        } else if self.sandboxed
            && name == "Bash"
            && let Some(reason) = crate::sandbox::denial(output)
        {
            out.push(AgentEvent::SandboxDenied { id: id.to_owned(), reason });
        }
    }

    /// One line of the stream. Unknown types and lines that are not JSON are skipped.
    pub fn line(&mut self, line: &str, price: Option<Price>) -> Vec<AgentEvent> {
        let mut out = Vec::new();
        self.line_into(line, price, &mut out);
        out
    }

    /// Like [`StreamParser::line`], appending to `out` (no allocation for lines that say nothing).
    /// Consecutive text (or thinking) deltas are joined into one event: a burst of small deltas
    /// read together costs one event, not one each.
    pub fn line_into(&mut self, line: &str, price: Option<Price>, out: &mut Vec<AgentEvent>) {
        match (self.parse_line(line, price), out.last_mut()) {
            (Some(AgentEvent::TextDelta { text }), Some(AgentEvent::TextDelta { text: last })) => last.push_str(&text),
            (Some(AgentEvent::ThinkingDelta { text }), Some(AgentEvent::ThinkingDelta { text: last })) => {
                last.push_str(&text)
            }
            (Some(event), _) => out.push(event),
            (None, _) => {}
        }
        out.append(&mut self.pending);
    }

    fn parse_line(&mut self, line: &str, price: Option<Price>) -> Option<AgentEvent> {
        // Most lines carry at most one event: the common ones are answered without a Vec.
        if let Some(rest) = line.strip_prefix("{\"type\":\"stream_event\",\"event\":") {
            let mut de = serde_json::Deserializer::from_str(rest);
            if let Ok(event) = <fast::StreamEvent as serde::Deserialize>::deserialize(&mut de) {
                self.saw_anything = true;
                return self.stream_event(event, price);
            }
        }
        // Status lines ("requesting", ...) say nothing baton shows: skipped unread.
        if line.starts_with("{\"type\":\"system\",\"subtype\":\"status\"") {
            self.saw_anything = true;
            return None;
        }
        // Messages likewise: `message` comes first, and what follows it (a `user` line repeats the
        // whole tool output in `tool_use_result`) is left unread.
        for kind in ["assistant", "user"] {
            let prefix =
                if kind == "user" { "{\"type\":\"user\",\"message\":" } else { "{\"type\":\"assistant\",\"message\":" };
            if let Some(rest) = line.strip_prefix(prefix) {
                let mut de = serde_json::Deserializer::from_str(rest);
                if let Ok(message) = <fast::MessageBody as serde::Deserialize>::deserialize(&mut de) {
                    self.saw_anything = true;
                    let events = self.message_line(fast::MessageLine { kind, message });
                    self.pending.extend(events);
                    return None;
                }
            }
        }
        let events = self.slow_line(line, price);
        self.pending.extend(events);
        None
    }

    /// A line the fast paths above did not take: its keys in another order, or a kind they do
    /// not know. Read by value, whatever the order of its keys.
    fn slow_line(&mut self, line: &str, price: Option<Price>) -> Vec<AgentEvent> {
        // Partial-message events are read into borrowed, typed fields (no tree of values, no
        // copies of what is skipped), and so are messages; anything else as a JSON value.
        let kind = line_type(line);
        if kind.as_deref() == Some("stream_event")
            && let Ok(l) = serde_json::from_str::<fast::StreamLine>(line)
        {
            self.saw_anything = true;
            return self.stream_event(l.event, price).into_iter().collect();
        }
        if matches!(kind.as_deref(), Some("assistant" | "user"))
            && let Ok(l) = serde_json::from_str::<fast::MessageLine>(line)
        {
            self.saw_anything = true;
            return self.message_line(l);
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            if !line.trim().is_empty() {
                tracing::debug!(
                    "claude-code: skipping a line that is not JSON: {}",
                    line.chars().take(200).collect::<String>()
                );
            }
            return Vec::new();
        };
        self.saw_anything = true;
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let mut out = Vec::new();
        match (v["type"].as_str().unwrap_or(""), v["subtype"].as_str().unwrap_or("")) {
            ("system", "init") => out.push(AgentEvent::Started {
                model: s(&v, "model"),
                session_id: v["session_id"].as_str().map(str::to_owned),
            }),
            ("system", "api_retry") => {
                let status = v["error_status"].as_u64().map(|n| format!(" ({n})")).unwrap_or_default();
                let error = v
                    .get("error")
                    .map(|e| e.as_str().map(str::to_owned).unwrap_or_else(|| e.to_string()))
                    .unwrap_or_default();
                out.push(AgentEvent::Retry {
                    reason: format!("the API failed{status}: {error}").trim_end_matches(": ").to_owned(),
                    attempt: v["attempt"].as_u64().unwrap_or(0) as u32,
                    wait_ms: v["retry_delay_ms"].as_f64().unwrap_or(0.0).round() as u64,
                })
            }
            ("rate_limit_event", _) => {
                let info = &v["rate_limit_info"];
                let limit = crate::agent::UsageLimit {
                    status: serde_json::from_value(info["status"].clone()).unwrap_or(crate::agent::LimitStatus::Other),
                    resets_at: info["resetsAt"].as_i64().or_else(|| info["resetsAt"].as_f64().map(|f| f as i64)),
                    kind: info["rateLimitType"].as_str().map(str::to_owned),
                    utilization: info["utilization"].as_f64(),
                };
                self.limit = Some(limit.clone());
                out.push(AgentEvent::Limit { limit });
            }
            ("stream_event", _) => {
                // Rare (the fast path reads these): through text again, to share the typed reader.
                let text = v.to_string();
                if let Ok(l) = serde_json::from_str::<fast::StreamLine>(&text) {
                    out.extend(self.stream_event(l.event, price));
                }
            }
            ("assistant", _) => {
                let m = &v["message"];
                let id = s(m, "id");
                for block in m["content"].as_array().into_iter().flatten() {
                    match block["type"].as_str().unwrap_or("") {
                        "text" if !self.streamed.contains(&id) => {
                            out.push(AgentEvent::TextDelta { text: s(block, "text") })
                        }
                        "thinking" if !self.streamed.contains(&id) => {
                            out.push(AgentEvent::ThinkingDelta { text: s(block, "thinking") })
                        }
                        "tool_use" => {
                            let (tid, name) = (s(block, "id"), s(block, "name"));
                            self.tool_names.insert(tid.clone(), name.clone());
                            out.push(AgentEvent::ToolCall { id: tid, name, input: block["input"].clone() });
                        }
                        _ => {}
                    }
                }
            }
            ("user", _) => {
                for block in v["message"]["content"].as_array().into_iter().flatten() {
                    if block["type"] != "tool_result" {
                        continue;
                    }
                    let id = s(block, "tool_use_id");
                    let output = self.result_text(&block["content"]);
                    let is_error = block["is_error"].as_bool().unwrap_or(false);
                    self.denials(&id, &output, is_error, &mut out);
                    out.push(AgentEvent::ToolResult { id, output, is_error });
                }
            }
            ("result", _) => self.result = Some(v),
            (t, st) => tracing::debug!("claude-code: skipping a `{t}`/`{st}` line"),
        }
        out
    }

    /// An `assistant` line (tool calls, and text not already streamed) or a `user` line (tool
    /// results).
    fn message_line(&mut self, l: fast::MessageLine<'_>) -> Vec<AgentEvent> {
        let mut out = Vec::new();
        let id = l.message.id.as_deref().unwrap_or("");
        let streamed = self.streamed.contains(id);
        for b in l.message.content {
            match (l.kind, b.kind) {
                ("assistant", "text") if !streamed => {
                    out.push(AgentEvent::TextDelta { text: b.text.unwrap_or_default().into_owned() })
                }
                ("assistant", "thinking") if !streamed => {
                    out.push(AgentEvent::ThinkingDelta { text: b.thinking.unwrap_or_default().into_owned() })
                }
                ("assistant", "tool_use") => {
                    let tid = b.id.unwrap_or_default().into_owned();
                    let name = b.name.unwrap_or_default().into_owned();
                    self.tool_names.insert(tid.clone(), name.clone());
                    out.push(AgentEvent::ToolCall { id: tid, name, input: b.input.unwrap_or(Value::Null) });
                }
                ("user", "tool_result") => {
                    let id = b.tool_use_id.unwrap_or_default().into_owned();
                    let output = match b.content {
                        Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
                            Ok(v) => self.result_text(&v),
                            Err(_) => String::new(),
                        },
                        None => String::new(),
                    };
                    let is_error = b.is_error.unwrap_or(false);
                    self.denials(&id, &output, is_error, &mut out);
                    out.push(AgentEvent::ToolResult { id, output, is_error });
                }
                _ => {}
            }
        }
        out
    }

    fn stream_event(&mut self, e: fast::StreamEvent<'_>, price: Option<Price>) -> Option<AgentEvent> {
        match e.kind {
            "message_start" => {
                if let Some(m) = e.message {
                    self.current_message = Some(m.id.into_owned());
                    self.current_streamed = false;
                    self.turn_usage = m.usage.map(fast::UsageLite::usage).unwrap_or_default();
                }
                None
            }
            "content_block_delta" => {
                let d = e.delta?;
                let event = match (d.kind, d.text, d.thinking) {
                    ("text_delta", Some(t), _) => AgentEvent::TextDelta { text: t.into_owned() },
                    ("thinking_delta", _, Some(t)) => AgentEvent::ThinkingDelta { text: t.into_owned() },
                    _ => return None,
                };
                if !self.current_streamed {
                    self.current_streamed = true;
                    self.streamed.insert(self.current_message.clone().unwrap_or_default());
                }
                Some(event)
            }
            "message_delta" => {
                if let Some(n) = e.usage.and_then(|u| u.output_tokens) {
                    self.turn_usage.output_tokens = n;
                }
                match e.delta.and_then(|d| d.stop_reason)? {
                    "max_tokens" => {
                        self.cut_replies += 1;
                        Some(AgentEvent::Notice {
                            text: "the reply was cut at the output token limit (stop_reason: max_tokens)".into(),
                        })
                    }
                    "refusal" => {
                        self.refused = true;
                        Some(AgentEvent::Notice { text: crate::agent::REFUSAL_NOTICE.into() })
                    }
                    _ => None,
                }
            }
            "message_stop" => {
                let u = std::mem::take(&mut self.turn_usage);
                Some(AgentEvent::Usage { usage: u, cost_usd: cost(price, &u) })
            }
            _ => None,
        }
    }

    /// The notes for the session's record: replies cut at the output token limit.
    pub fn notes(&self) -> Vec<String> {
        crate::agent::cut_notes(self.cut_replies)
    }
}

/// Typed, borrowed views of the `stream_event` lines, which are most of a session's stream.
mod fast {
    use std::borrow::Cow;

    use serde::Deserialize;

    use crate::project::session::Usage;

    #[derive(Deserialize)]
    pub struct StreamLine<'a> {
        #[serde(borrow)]
        pub event: StreamEvent<'a>,
    }

    #[derive(Deserialize)]
    pub struct StreamEvent<'a> {
        #[serde(rename = "type", borrow)]
        pub kind: &'a str,
        #[serde(default, borrow)]
        pub delta: Option<Delta<'a>>,
        #[serde(default, borrow)]
        pub message: Option<Message<'a>>,
        #[serde(default)]
        pub usage: Option<UsageLite>,
    }

    #[derive(Deserialize)]
    pub struct Delta<'a> {
        /// A `message_delta`'s delta has no type (it holds the stop reason): then empty.
        #[serde(rename = "type", default, borrow)]
        pub kind: &'a str,
        #[serde(default, borrow)]
        pub text: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub thinking: Option<Cow<'a, str>>,
        /// A `message_delta`'s: why the reply ended.
        #[serde(default, borrow)]
        pub stop_reason: Option<&'a str>,
    }

    #[derive(Deserialize)]
    pub struct Message<'a> {
        #[serde(default, borrow)]
        pub id: Cow<'a, str>,
        #[serde(default)]
        pub usage: Option<UsageLite>,
    }

    #[derive(Deserialize)]
    pub struct MessageLine<'a> {
        #[serde(rename = "type", borrow)]
        pub kind: &'a str,
        #[serde(borrow)]
        pub message: MessageBody<'a>,
    }

    #[derive(Deserialize)]
    pub struct MessageBody<'a> {
        #[serde(default, borrow)]
        pub id: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub content: Vec<Block<'a>>,
    }

    #[derive(Deserialize)]
    pub struct Block<'a> {
        #[serde(rename = "type", borrow)]
        pub kind: &'a str,
        #[serde(default, borrow)]
        pub text: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub thinking: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub id: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub name: Option<Cow<'a, str>>,
        #[serde(default)]
        pub input: Option<serde_json::Value>,
        #[serde(default, borrow)]
        pub tool_use_id: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub content: Option<&'a serde_json::value::RawValue>,
        #[serde(default)]
        pub is_error: Option<bool>,
    }

    #[derive(Deserialize, Clone, Copy, Default)]
    pub struct UsageLite {
        #[serde(default)]
        pub input_tokens: Option<u64>,
        #[serde(default)]
        pub output_tokens: Option<u64>,
        #[serde(default)]
        pub cache_creation_input_tokens: Option<u64>,
        #[serde(default)]
        pub cache_read_input_tokens: Option<u64>,
    }

    impl UsageLite {
        pub fn usage(self) -> Usage {
            Usage {
                input_tokens: self.input_tokens.unwrap_or(0),
                output_tokens: self.output_tokens.unwrap_or(0),
                cache_creation_input_tokens: self.cache_creation_input_tokens.unwrap_or(0),
                cache_read_input_tokens: self.cache_read_input_tokens.unwrap_or(0),
                ..Usage::default()
            }
        }
    }
}
