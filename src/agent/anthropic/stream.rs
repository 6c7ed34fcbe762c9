//! Assembles one streamed Messages API response from its server-sent events: text, thinking (with
//! its signature) and tool calls whose JSON input arrives in pieces.

use serde_json::{Value, json};

use crate::project::session::Usage;

/// A complete assistant message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub id: String,
    pub content: Vec<Value>,
    pub stop_reason: Option<String>,
    pub usage: Usage,
}

/// Something to tell the watcher while the message streams in.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    Text(String),
    Thinking(String),
}

/// Why a stream could not give a message.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamFault {
    /// An `error` event inside the stream: (error type, message).
    ErrorEvent(String, String),
    /// An event whose data is not what the API sends.
    Malformed(String),
}

#[derive(Debug, Default)]
struct Block {
    start: Value,
    text: String,
    json: String,
    signature: String,
}

#[derive(Debug, Default)]
pub struct Assembler {
    message: Message,
    blocks: Vec<Option<Block>>,
    done: bool,
}

fn usage_from(v: &Value, into: &mut Usage) {
    let get = |k: &str| v.get(k).and_then(Value::as_u64);
    if let Some(n) = get("input_tokens") {
        into.input_tokens = n;
    }
    if let Some(n) = get("output_tokens") {
        into.output_tokens = n;
    }
    if let Some(n) = get("cache_creation_input_tokens") {
        into.cache_creation_input_tokens = n;
    }
    if let Some(n) = get("cache_read_input_tokens") {
        into.cache_read_input_tokens = n;
    }
}

impl Assembler {
    /// Whether `message_stop` has arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds one event's data (the JSON after `data:`). Unknown event types are ignored.
    pub fn feed(&mut self, data: &str) -> Result<Option<Delta>, StreamFault> {
        let v: Value = serde_json::from_str(data).map_err(|e| StreamFault::Malformed(format!("{e}: {data}")))?;
        let index = v.get("index").and_then(Value::as_u64).map(|i| i as usize);
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                let m = &v["message"];
                self.message.id = m.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
                usage_from(&m["usage"], &mut self.message.usage);
            }
            "content_block_start" => {
                let i = index.ok_or_else(|| StreamFault::Malformed("content_block_start without index".into()))?;
                if self.blocks.len() <= i {
                    self.blocks.resize_with(i + 1, || None);
                }
                self.blocks[i] = Some(Block { start: v["content_block"].clone(), ..Block::default() });
            }
            "content_block_delta" => {
                let block = index
                    .and_then(|i| self.blocks.get_mut(i))
                    .and_then(Option::as_mut)
                    .ok_or_else(|| StreamFault::Malformed("delta for a block that never started".into()))?;
                let d = &v["delta"];
                let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                match d.get("type").and_then(Value::as_str).unwrap_or("") {
                    "text_delta" => {
                        let t = s("text");
                        block.text.push_str(&t);
                        return Ok(Some(Delta::Text(t)));
                    }
                    "input_json_delta" => block.json.push_str(&s("partial_json")),
                    "thinking_delta" => {
                        let t = s("thinking");
                        block.text.push_str(&t);
                        return Ok(Some(Delta::Thinking(t)));
                    }
                    "signature_delta" => block.signature.push_str(&s("signature")),
                    _ => {}
                }
            }
            "content_block_stop" => {
                let i = index.ok_or_else(|| StreamFault::Malformed("content_block_stop without index".into()))?;
                let block = self
                    .blocks
                    .get_mut(i)
                    .and_then(Option::take)
                    .ok_or_else(|| StreamFault::Malformed("stop for a block that never started".into()))?;
                self.message.content.push(finish(block)?);
            }
            "message_delta" => {
                if let Some(r) = v["delta"].get("stop_reason").and_then(Value::as_str) {
                    self.message.stop_reason = Some(r.to_owned());
                }
                usage_from(&v["usage"], &mut self.message.usage);
            }
            "message_stop" => self.done = true,
            "error" => {
                let e = &v["error"];
                let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                return Err(StreamFault::ErrorEvent(s("type"), s("message")));
            }
            _ => {} // ping, and event types newer than this code
        }
        Ok(None)
    }

    pub fn into_message(self) -> Message {
        self.message
    }
}

fn finish(block: Block) -> Result<Value, StreamFault> {
    let mut start = block.start;
    match start.get("type").and_then(Value::as_str).unwrap_or("") {
        "text" => Ok(json!({"type": "text", "text": block.text})),
        "thinking" => {
            let signature = if block.signature.is_empty() {
                start.get("signature").and_then(Value::as_str).unwrap_or("").to_owned()
            } else {
                block.signature
            };
            Ok(json!({"type": "thinking", "thinking": block.text, "signature": signature}))
        }
        "tool_use" | "server_tool_use" => {
            let input: Value = if block.json.trim().is_empty() {
                start.get("input").cloned().unwrap_or_else(|| json!({}))
            } else {
                serde_json::from_str(&block.json)
                    .map_err(|e| StreamFault::Malformed(format!("tool input is not JSON ({e}): {}", block.json)))?
            };
            start["input"] = input;
            Ok(start)
        }
        _ => Ok(start), // redacted_thinking and others go back as they came
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut a = Assembler::default();
        let mut deltas = Vec::new();
        for e in events {
            if let Some(d) = a.feed(e).unwrap() {
                deltas.push(d);
            }
        }
        assert!(a.is_done());
        assert_eq!(deltas, [Delta::Thinking("hmm".into()), Delta::Text("Hel".into()), Delta::Text("lo".into())]);
        let m = a.into_message();
        assert_eq!(m.stop_reason.as_deref(), Some("tool_use"));
        assert_eq!((m.usage.input_tokens, m.usage.output_tokens, m.usage.cache_read_input_tokens), (10, 42, 4));
        assert_eq!(m.content[0], json!({"type": "thinking", "thinking": "hmm", "signature": "sig"}));
        assert_eq!(m.content[1], json!({"type": "text", "text": "Hello"}));
        assert_eq!(m.content[2], json!({"type": "tool_use", "id": "t1", "name": "bash", "input": {"command": "ls"}}));
    }

    #[test]
    fn an_error_event_is_a_fault() {
        let mut a = Assembler::default();
        let r = a.feed(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#);
        assert_eq!(r, Err(StreamFault::ErrorEvent("overloaded_error".into(), "Overloaded".into())));
    }
}
