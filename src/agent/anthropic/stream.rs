//! Assembles one streamed Messages API response from its server-sent events: text, thinking (with
//! its signature) and tool calls whose JSON input arrives in pieces. Tolerant of the servers that
//! speak the API besides Anthropic's own: usage missing or partial (no cache fields), a tool's
//! input in one delta or a start block without `input` (Ollama, llama.cpp), blocks closed all at
//! the end (llama.cpp).

use serde_json::{Value, json};

use crate::agent::native::conversation::{Block as Said, Reply, Stop};
use crate::agent::native::http::{Assemble, Delta, StreamFault};
use crate::project::session::Usage;

#[derive(Debug, Default)]
struct Block {
    start: Value,
    text: String,
    json: String,
    signature: String,
}

#[derive(Debug, Default)]
pub struct Assembler {
    /// Each block by its index, once it is finished.
    content: Vec<Option<Value>>,
    open: Vec<Option<Block>>,
    stop_reason: Option<String>,
    usage: Usage,
    /// Whether the server said anything of usage at all.
    usage_seen: bool,
    done: bool,
}

impl Assembler {
    fn usage_from(&mut self, v: &Value) {
        let mut get = |k: &str| {
            let n = v.get(k).and_then(Value::as_u64);
            self.usage_seen |= n.is_some();
            n
        };
        if let Some(n) = get("input_tokens") {
            self.usage.input_tokens = n;
        }
        if let Some(n) = get("output_tokens") {
            self.usage.output_tokens = n;
        }
        if let Some(n) = get("cache_creation_input_tokens") {
            self.usage.cache_creation_input_tokens = n;
        }
        if let Some(n) = get("cache_read_input_tokens") {
            self.usage.cache_read_input_tokens = n;
        }
    }

    fn close(&mut self, i: usize) -> Result<(), StreamFault> {
        let block = self
            .open
            .get_mut(i)
            .and_then(Option::take)
            .ok_or_else(|| StreamFault::Malformed("stop for a block that never started".into()))?;
        if self.content.len() <= i {
            self.content.resize_with(i + 1, || None);
        }
        self.content[i] = Some(finish(block));
        Ok(())
    }
}

impl Assemble for Assembler {
    fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds one event's data (the JSON after `data:`). Unknown event types are ignored.
    fn feed(&mut self, _event: &str, data: &str, deltas: &mut Vec<Delta>) -> Result<(), StreamFault> {
        let v: Value = serde_json::from_str(data).map_err(|e| StreamFault::Malformed(format!("{e}: {data}")))?;
        let index = v.get("index").and_then(Value::as_u64).map(|i| i as usize);
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => self.usage_from(&v["message"]["usage"]),
            "content_block_start" => {
                let i = index.ok_or_else(|| StreamFault::Malformed("content_block_start without index".into()))?;
                if self.open.len() <= i {
                    self.open.resize_with(i + 1, || None);
                }
                self.open[i] = Some(Block { start: v["content_block"].clone(), ..Block::default() });
            }
            "content_block_delta" => {
                let block = index
                    .and_then(|i| self.open.get_mut(i))
                    .and_then(Option::as_mut)
                    .ok_or_else(|| StreamFault::Malformed("delta for a block that never started".into()))?;
                let d = &v["delta"];
                let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                match d.get("type").and_then(Value::as_str).unwrap_or("") {
                    "text_delta" => {
                        let t = s("text");
                        block.text.push_str(&t);
                        deltas.push(Delta::Text(t));
                    }
                    "input_json_delta" => block.json.push_str(&s("partial_json")),
                    "thinking_delta" => {
                        let t = s("thinking");
                        block.text.push_str(&t);
                        deltas.push(Delta::Thinking(t));
                    }
                    "signature_delta" => block.signature.push_str(&s("signature")),
                    _ => {}
                }
            }
            "content_block_stop" => {
                let i = index.ok_or_else(|| StreamFault::Malformed("content_block_stop without index".into()))?;
                self.close(i)?;
            }
            "message_delta" => {
                if let Some(r) = v["delta"].get("stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(r.to_owned());
                }
                self.usage_from(&v["usage"]);
            }
            "message_stop" => {
                // A block a server left open is finished as it stands.
                for i in 0..self.open.len() {
                    if self.open[i].is_some() {
                        self.close(i)?;
                    }
                }
                self.done = true;
            }
            "error" => {
                let e = &v["error"];
                let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                return Err(StreamFault::ErrorEvent(s("type"), s("message")));
            }
            _ => {} // ping, and event types newer than this code
        }
        Ok(())
    }

    fn finish(self) -> Result<Reply, String> {
        if !self.done {
            return Err("the stream ended before message_stop".into());
        }
        let content: Vec<Said> = self.content.into_iter().flatten().map(said).collect();
        let has_calls = content.iter().any(|b| matches!(b, Said::ToolCall { .. }));
        let stop = match self.stop_reason.as_deref() {
            Some("end_turn") => Stop::EndTurn,
            Some("tool_use") => Stop::ToolUse,
            Some("max_tokens") => Stop::MaxTokens,
            Some("refusal") => Stop::Refusal,
            Some(other) if !other.is_empty() => Stop::Other(other.to_owned()),
            // A server that never said why it stopped: from what it sent.
            _ if has_calls => Stop::ToolUse,
            _ => Stop::EndTurn,
        };
        Ok(Reply { content, stop, usage: self.usage_seen.then_some(self.usage), cost_usd: None })
    }
}

/// A finished block in the API's own JSON.
fn finish(block: Block) -> Value {
    let mut start = block.start;
    match start.get("type").and_then(Value::as_str).unwrap_or("") {
        "text" => json!({"type": "text", "text": block.text}),
        "thinking" => {
            let signature = if block.signature.is_empty() {
                start.get("signature").and_then(Value::as_str).unwrap_or("").to_owned()
            } else {
                block.signature
            };
            json!({"type": "thinking", "thinking": block.text, "signature": signature})
        }
        "tool_use" | "server_tool_use" => {
            let input: Value = if block.json.trim().is_empty() {
                start.get("input").cloned().unwrap_or_else(|| json!({}))
            } else {
                // Arguments that are not JSON (a reply cut in the middle of them) are kept as the
                // model wrote them; such a call is not run.
                serde_json::from_str(&block.json).unwrap_or(Value::String(block.json))
            };
            start["input"] = input;
            start
        }
        _ => start, // redacted_thinking and others go back as they came
    }
}

/// A block in the conversation's words.
fn said(block: Value) -> Said {
    let s = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    match block.get("type").and_then(Value::as_str).unwrap_or("") {
        "text" => Said::Text(s("text")),
        "thinking" => Said::Thinking { text: s("thinking"), signature: s("signature") },
        "tool_use" => Said::ToolCall { id: s("id"), name: s("name"), input: block["input"].clone() },
        _ => Said::Opaque(block),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(events: &[&str]) -> (Reply, Vec<Delta>) {
        let mut a = Assembler::default();
        let mut deltas = Vec::new();
        for e in events {
            a.feed("", e, &mut deltas).unwrap();
        }
        assert!(a.is_done());
        (a.finish().unwrap(), deltas)
    }

    #[test]
    fn assembles_text_thinking_and_tool_input_in_pieces() {
        let events = [
            r#"{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":4}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hel"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"lo"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t1","name":"bash","input":{}}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"comm"}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"and\": \"ls\"}"}}"#,
            r#"{"type":"content_block_stop","index":2}"#,
            r#"{"type":"some_future_event","data":1}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":42}}"#,
            r#"{"type":"message_stop"}"#,
        ];
        let (m, deltas) = feed_all(&events);
        assert_eq!(deltas, [Delta::Thinking("hmm".into()), Delta::Text("Hel".into()), Delta::Text("lo".into())]);
        assert_eq!(m.stop, Stop::ToolUse);
        let u = m.usage.unwrap();
        assert_eq!((u.input_tokens, u.output_tokens, u.cache_read_input_tokens), (10, 42, 4));
        assert_eq!(m.content[0], Said::Thinking { text: "hmm".into(), signature: "sig".into() });
        assert_eq!(m.content[1], Said::Text("Hello".into()));
        assert_eq!(
            m.content[2],
            Said::ToolCall { id: "t1".into(), name: "bash".into(), input: json!({"command": "ls"}) }
        );
    }

    #[test]
    fn an_error_event_is_a_fault() {
        let mut a = Assembler::default();
        let r = a.feed(
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            &mut Vec::new(),
        );
        assert_eq!(r, Err(StreamFault::ErrorEvent("overloaded_error".into(), "Overloaded".into())));
    }

    #[test]
    fn a_stream_without_usage_has_unknown_usage_never_zero() {
        let (m, _) = feed_all(&[
            r#"{"type":"message_start","message":{"id":"m","content":[]}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#,
            r#"{"type":"message_stop"}"#,
        ]);
        assert_eq!(m.usage, None);
        assert_eq!(m.content, [Said::Text("Hi".into())]);
    }

    #[test]
    fn a_stream_cut_before_message_stop_is_not_a_reply() {
        let mut a = Assembler::default();
        a.feed("", r#"{"type":"message_start","message":{"usage":{"input_tokens":3}}}"#, &mut Vec::new()).unwrap();
        assert!(a.finish().unwrap_err().contains("before message_stop"));
    }

    #[test]
    fn arguments_that_are_not_json_are_kept_as_written() {
        let (m, _) = feed_all(&[
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"write_file"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"path\": \"a"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":9}}"#,
            r#"{"type":"message_stop"}"#,
        ]);
        assert_eq!(m.stop, Stop::MaxTokens);
        assert_eq!(m.calls()[0].2, Value::String("{\"path\": \"a".into()));
    }
}
