//! Assembles one streamed chat completion from its `data:` chunks, in thin types that take what
//! servers really send: `finish_reason` null until the end, or `""` all along; usage in a last
//! chunk whose `choices` is empty, on every chunk, as `{}`, or not at all; tool calls keyed by
//! `index` with `id` and `name` only on a call's first fragment and `arguments` a string built
//! across chunks (or sent whole, or as an object); reasoning as `reasoning_content` or
//! `reasoning`; an error as a chunk of its own; comments (OpenRouter's keep-alives) and a missing
//! `[DONE]` after the last chunk.

use serde::Deserialize;
use serde_json::Value;

use crate::agent::native::conversation::{Block, Reply, Stop};
use crate::agent::native::http::{Assemble, Delta, StreamFault};
use crate::project::session::Usage;

#[derive(Debug, Default, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
    /// vLLM's error chunk: `{"object": "error", "message": ...}`.
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Choice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: ChunkDelta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ChunkDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<CallDelta>>,
}

#[derive(Debug, Default, Deserialize)]
struct CallDelta {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Debug, Default, Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    /// A string built across chunks; a few servers send an object, whole.
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Debug, Default)]
struct Call {
    /// The server's `index` for it.
    index: Option<u32>,
    id: String,
    name: String,
    arguments: String,
}

#[derive(Debug, Default)]
pub struct Assembler {
    text: String,
    thinking: String,
    refusal: String,
    calls: Vec<Call>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    cost_usd: Option<f64>,
    done: bool,
}

impl Assembler {
    /// The call a fragment belongs to: by `index`, except that a new `id` at an index already
    /// taken is a new call (Ollama numbers parallel calls all 0); a fragment with neither goes to
    /// the last call.
    fn call_for(&mut self, index: Option<u32>, id: Option<&str>) -> &mut Call {
        let id = id.filter(|i| !i.is_empty());
        let found = match (index, id) {
            (Some(i), Some(id)) => {
                self.calls.iter().rposition(|c| c.index == Some(i) && (c.id.is_empty() || c.id == id))
            }
            (Some(i), None) => self.calls.iter().rposition(|c| c.index == Some(i)),
            (None, Some(id)) => self.calls.iter().rposition(|c| c.id == id),
            (None, None) => self.calls.len().checked_sub(1),
        };
        let n = found.unwrap_or_else(|| {
            self.calls.push(Call { index, ..Call::default() });
            self.calls.len() - 1
        });
        &mut self.calls[n]
    }

    fn take_usage(&mut self, usage: &Value) {
        let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64);
        let (prompt, completion) = (n(usage, "prompt_tokens"), n(usage, "completion_tokens"));
        if prompt.is_none() && completion.is_none() {
            return; // `{}` says nothing, and nothing is taken as zero
        }
        let prompt = prompt.unwrap_or(0);
        let cached = usage
            .get("prompt_tokens_details")
            .and_then(|d| n(d, "cached_tokens"))
            .or_else(|| n(usage, "prompt_cache_hit_tokens")) // DeepSeek's
            .unwrap_or(0)
            .min(prompt);
        self.usage = Some(Usage {
            input_tokens: prompt - cached,
            output_tokens: completion.unwrap_or(0),
            cache_read_input_tokens: cached,
            ..Usage::default()
        });
        if let Some(cost) = usage.get("cost").and_then(Value::as_f64) {
            self.cost_usd = Some(cost); // OpenRouter's own figure
        }
    }
}

fn error_of(e: &Value) -> (String, String) {
    let s = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    match e {
        Value::String(m) => ("error".into(), m.clone()),
        _ => {
            let kind = [s(e.get("type")), s(e.get("code"))].into_iter().find(|k| !k.is_empty());
            (kind.unwrap_or_else(|| "error".into()), s(e.get("message")))
        }
    }
}

impl Assemble for Assembler {
    fn is_done(&self) -> bool {
        self.done
    }

    fn feed(&mut self, _event: &str, data: &str, deltas: &mut Vec<Delta>) -> Result<(), StreamFault> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| StreamFault::Malformed(format!("{e}: {data}")))?;
        if let Some(e) = &chunk.error {
            let (kind, message) = error_of(e);
            return Err(StreamFault::ErrorEvent(kind, message));
        }
        if chunk.object.as_deref() == Some("error") {
            return Err(StreamFault::ErrorEvent("error".into(), chunk.message.unwrap_or_default()));
        }
        if let Some(usage) = chunk.usage.as_ref().filter(|u| u.is_object()) {
            self.take_usage(usage);
        }
        // With n > 1 a server streams several choices; the agent reads the first.
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            let d = choice.delta;
            for thought in [d.reasoning_content, d.reasoning].into_iter().flatten().filter(|t| !t.is_empty()) {
                self.thinking.push_str(&thought);
                deltas.push(Delta::Thinking(thought));
            }
            if let Some(t) = d.content.filter(|t| !t.is_empty()) {
                self.text.push_str(&t);
                deltas.push(Delta::Text(t));
            }
            if let Some(r) = d.refusal.filter(|r| !r.is_empty()) {
                self.refusal.push_str(&r);
                deltas.push(Delta::Text(r));
            }
            for fragment in d.tool_calls.unwrap_or_default() {
                let call = self.call_for(fragment.index, fragment.id.as_deref());
                if let Some(id) = fragment.id.filter(|i| !i.is_empty()) {
                    call.id = id;
                }
                if let Some(f) = fragment.function {
                    if let Some(name) = f.name.filter(|n| !n.is_empty()) {
                        call.name = name;
                    }
                    match f.arguments {
                        Some(Value::String(a)) => call.arguments.push_str(&a),
                        Some(Value::Null) | None => {}
                        Some(whole) => call.arguments = whole.to_string(),
                    }
                }
            }
            // `""` is what some servers send instead of null while the reply goes on.
            if let Some(r) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.finish_reason = Some(r);
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Reply, String> {
        // A server that ends the stream after its last chunk without `[DONE]` has said all.
        if !self.done && self.finish_reason.is_none() {
            return Err("the stream ended before its finish_reason and [DONE]".into());
        }
        let mut content = Vec::new();
        if !self.thinking.is_empty() {
            content.push(Block::Thinking { text: self.thinking, signature: String::new() });
        }
        let refused = !self.refusal.is_empty();
        let text = self.text + &self.refusal;
        if !text.is_empty() {
            content.push(Block::Text(text));
        }
        for (n, c) in self.calls.into_iter().enumerate() {
            let input = if c.arguments.trim().is_empty() {
                Value::Object(Default::default())
            } else {
                serde_json::from_str(&c.arguments).unwrap_or(Value::String(c.arguments))
            };
            // A server that gives a call no id still needs one to match its result.
            let id = if c.id.is_empty() { format!("call_{n}") } else { c.id };
            content.push(Block::ToolCall { id, name: c.name, input });
        }
        let has_calls = content.iter().any(|b| matches!(b, Block::ToolCall { .. }));
        let stop = match self.finish_reason.as_deref() {
            _ if refused => Stop::Refusal,
            Some("stop") | Some("end_turn") => Stop::EndTurn,
            Some("tool_calls") | Some("function_call") | Some("tool_use") => Stop::ToolUse,
            Some("length") | Some("max_tokens") => Stop::MaxTokens,
            Some("content_filter") => Stop::Refusal,
            Some(other) => Stop::Other(other.to_owned()),
            None if has_calls => Stop::ToolUse,
            None => Stop::EndTurn,
        };
        Ok(Reply { content, stop, usage: self.usage, cost_usd: self.cost_usd })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assemble(chunks: &[&str]) -> (Reply, Vec<Delta>) {
        let mut a = Assembler::default();
        let mut deltas = Vec::new();
        for c in chunks {
            a.feed("message", c, &mut deltas).unwrap();
        }
        (a.finish().unwrap(), deltas)
    }

    #[test]
    fn a_tool_call_is_built_from_its_fragments() {
        let (r, _) = assemble(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"bash","arguments":""}}]},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"comm"}}]},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"and\":\"ls\"}"}}]},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"[DONE]"#,
        ]);
        assert_eq!(r.stop, Stop::ToolUse);
        assert_eq!(r.calls(), [("call_1".to_owned(), "bash".to_owned(), json!({"command": "ls"}))]);
        assert_eq!(r.usage, None, "no usage chunk: unknown, not zero");
    }

    #[test]
    fn an_empty_finish_reason_is_not_the_end_and_usage_comes_last() {
        let (r, deltas) = assemble(&[
            r#"{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":""}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":""}],"usage":{}}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":40}}}"#,
            r#"[DONE]"#,
        ]);
        assert_eq!(deltas, [Delta::Text("Hel".into()), Delta::Text("lo".into())]);
        assert_eq!(r.stop, Stop::EndTurn);
        assert_eq!(r.content, [Block::Text("Hello".into())]);
        let u = r.usage.unwrap();
        assert_eq!((u.input_tokens, u.cache_read_input_tokens, u.output_tokens), (60, 40, 5));
    }

    #[test]
    fn parallel_calls_all_at_index_zero_are_told_apart_by_id() {
        let (r, _) = assemble(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_a","index":0,"type":"function","function":{"name":"bash","arguments":"{\"command\":\"ls\"}"}}]},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_b","index":0,"type":"function","function":{"name":"read_file","arguments":"{\"path\":\"a\"}"}}]},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        ]);
        let calls = r.calls();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!((calls[1].0.as_str(), calls[1].1.as_str()), ("call_b", "read_file"));
    }

    #[test]
    fn an_error_chunk_is_a_fault() {
        let mut a = Assembler::default();
        let r = a.feed("", r#"{"error":{"message":"Overloaded","code":502},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#, &mut Vec::new());
        assert_eq!(r, Err(StreamFault::ErrorEvent("502".into(), "Overloaded".into())));
        let r = a.feed(
            "",
            r#"{"object":"error","message":"boom","type":"InternalServerError","code":500}"#,
            &mut Vec::new(),
        );
        assert_eq!(r, Err(StreamFault::ErrorEvent("error".into(), "boom".into())));
    }

    #[test]
    fn a_stream_cut_before_it_finished_is_not_a_reply() {
        let mut a = Assembler::default();
        a.feed(
            "",
            r#"{"choices":[{"index":0,"delta":{"content":"I will st"},"finish_reason":null}]}"#,
            &mut Vec::new(),
        )
        .unwrap();
        assert!(a.finish().is_err());
    }
}
