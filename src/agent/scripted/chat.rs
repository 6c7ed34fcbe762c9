//! The scripted model's answers on OpenAI's chat completions, in the shapes of OpenAI's own
//! stream and of Ollama's, llama.cpp's, vLLM's and OpenRouter's (see [`super::profile`]). A chat
//! request is read as a Messages one, so one scenario plays on either API.

use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::profile::{Profile, UsageReport};
use super::{Content, Server, Sse, chunks, json_response, stream_head};

/// A chat completions request in the Messages API's shape: the system messages joined, each
/// assistant message's tool calls as `tool_use` blocks, each run of `tool` messages as one user
/// message of `tool_result` blocks, the tools as `name`, `description`, `input_schema`.
pub fn as_messages(chat: &Value) -> Value {
    let mut system = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for m in chat["messages"].as_array().into_iter().flatten() {
        let text = text(&m["content"]);
        match m["role"].as_str().unwrap_or("") {
            "system" | "developer" => system.push(text),
            "assistant" => {
                let mut content = Vec::new();
                if !text.is_empty() {
                    content.push(json!({"type": "text", "text": text}));
                }
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    let f = &call["function"];
                    let input = match &f["arguments"] {
                        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| json!({})),
                        other => other.clone(),
                    };
                    content.push(json!({"type": "tool_use", "id": call["id"], "name": f["name"], "input": input}));
                }
                messages.push(json!({"role": "assistant", "content": content}));
            }
            "tool" => {
                let result = json!({"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": text});
                match messages.last_mut() {
                    Some(last) if last["role"] == "user" && last["content"][0]["type"] == "tool_result" => {
                        if let Some(c) = last["content"].as_array_mut() {
                            c.push(result);
                        }
                    }
                    _ => messages.push(json!({"role": "user", "content": [result]})),
                }
            }
            _ => messages.push(json!({"role": "user", "content": [{"type": "text", "text": text}]})),
        }
    }
    let tools: Vec<Value> = chat["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let f = &t["function"];
            json!({"name": f["name"], "description": f["description"], "input_schema": f["parameters"]})
        })
        .collect();
    json!({"model": chat["model"], "system": system.join("\n"), "messages": messages, "tools": tools, "stream": chat["stream"]})
}

/// A message's text, whether its content is a string or parts.
fn text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

/// `finish_reason` for a Messages stop reason.
fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "tool_use" => "tool_calls",
        "max_tokens" => "length",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// Writes one reply as the profile's chunks.
struct Chunks<'a, 'b> {
    sse: &'a mut Sse<'b>,
    profile: Profile,
    base: Value,
    /// `finish_reason` before the last chunk: null, or `""` for servers that send that.
    pending: Value,
    /// OpenAI adds `usage: null` to every chunk once usage is asked for.
    usage_null: bool,
}

impl Chunks<'_, '_> {
    async fn send(&mut self, delta: Value, finish: Option<&str>, extra: Option<(&str, Value)>) -> std::io::Result<()> {
        let mut chunk = self.base.clone();
        let mut choice = json!({"index": 0, "delta": delta});
        choice["finish_reason"] = finish.map_or(self.pending.clone(), |f| json!(f));
        match self.profile {
            Profile::OpenAi | Profile::Anthropic | Profile::Vllm => choice["logprobs"] = Value::Null,
            Profile::OpenRouter => choice["native_finish_reason"] = finish.map_or(Value::Null, |f| json!(f)),
            _ => {}
        }
        if self.profile == Profile::Vllm && finish.is_some() {
            choice["stop_reason"] = Value::Null;
        }
        chunk["choices"] = json!([choice]);
        if self.usage_null {
            chunk["usage"] = Value::Null;
        }
        if let Some((k, v)) = extra {
            chunk[k] = v;
        }
        self.sse.pause().await;
        self.sse.data(&chunk.to_string()).await
    }
}

impl Server {
    pub(super) async fn chat_reply(
        &self,
        out: &mut TcpStream,
        content: &Content,
        model: &str,
        streaming: bool,
        headers: &str,
    ) -> std::io::Result<bool> {
        let id = format!("chatcmpl-{}", self.ids(1).remove(0));
        let profile = self.profile();
        let calls: Vec<&Value> = content.blocks.iter().filter(|b| b["type"] == "tool_use").collect();
        let call_id = |b: &Value| {
            let n = b["id"].as_str().unwrap_or("").trim_start_matches("toolu_").to_owned();
            if profile == Profile::Vllm { format!("chatcmpl-tool-{n}") } else { format!("call_{n}") }
        };
        let text: String = content.blocks.iter().filter_map(|b| b["text"].as_str()).collect();
        let thinking: String = content.blocks.iter().filter_map(|b| b["thinking"].as_str()).collect();
        let finish = finish_reason(&content.stop_reason);
        let usage = json!({
            "prompt_tokens": content.input_tokens, "completion_tokens": content.output_tokens,
            "total_tokens": content.input_tokens + content.output_tokens,
        });
        if !streaming {
            let mut message = json!({"role": "assistant", "content": text});
            if !calls.is_empty() {
                let calls: Vec<Value> = calls.iter().map(|b| json!({"id": call_id(b), "type": "function", "function": {"name": b["name"], "arguments": b["input"].to_string()}})).collect();
                message["tool_calls"] = json!(calls);
            }
            let body = json!({"id": id, "object": "chat.completion", "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage});
            out.write_all(&json_response(200, &body, headers)).await?;
            return Ok(true);
        }
        let asked = self.lock().requests.last().is_some_and(|r| r["stream_options"]["include_usage"] == true);
        // OpenRouter reports usage whether asked or not; the others only when asked.
        let report = match self.scenario.quirks.usage {
            UsageReport::None => None,
            UsageReport::Empty => Some(json!({})),
            UsageReport::Reported if asked || profile == Profile::OpenRouter => Some(usage_of(profile, usage)),
            UsageReport::Reported => None,
        };
        out.write_all(stream_head(headers).as_bytes()).await?;
        let mut sse = Sse { out, delay: std::time::Duration::from_millis(self.pace.delay_ms) };
        let mut base = json!({"id": id, "object": "chat.completion.chunk", "created": 1_750_000_000, "model": model});
        match profile {
            Profile::Ollama => base["system_fingerprint"] = json!("fp_ollama"),
            Profile::OpenRouter => base["provider"] = json!("Scripted"),
            Profile::LlamaCpp => base["system_fingerprint"] = json!("b6000-scripted"),
            _ => {}
        }
        if profile == Profile::OpenRouter {
            sse.write(": OPENROUTER PROCESSING\n\n").await?;
        }
        let mut c = Chunks {
            sse: &mut sse,
            profile,
            base,
            pending: if self.scenario.quirks.empty_finish_reason { json!("") } else { Value::Null },
            usage_null: report.is_some() && matches!(profile, Profile::OpenAi | Profile::Anthropic),
        };
        let n = self.pace.chunk_chars;
        // The first chunk says who speaks.
        match profile {
            Profile::Ollama => {}
            Profile::Vllm => c.send(json!({"role": "assistant", "content": ""}), None, None).await?,
            Profile::OpenAi | Profile::Anthropic => {
                c.send(json!({"role": "assistant", "content": null, "refusal": null}), None, None).await?
            }
            _ => c.send(json!({"role": "assistant", "content": null}), None, None).await?,
        }
        // Reasoning, under the name each server gives it (OpenAI streams none).
        let reasoning = match profile {
            Profile::Ollama | Profile::OpenRouter => Some("reasoning"),
            Profile::Vllm | Profile::LlamaCpp => Some("reasoning_content"),
            _ => None,
        };
        if let Some(field) = reasoning {
            for piece in chunks(&thinking, n) {
                let mut delta = Map::new();
                delta.insert(field.to_owned(), json!(piece));
                c.send(Value::Object(delta), None, None).await?;
            }
        }
        for piece in chunks(&text, n) {
            let delta = if profile == Profile::Ollama {
                json!({"role": "assistant", "content": piece})
            } else {
                json!({"content": piece})
            };
            c.send(delta, None, None).await?;
        }
        let last_call = calls.len().checked_sub(1);
        let mut held: Option<Value> = None;
        for (i, b) in calls.iter().enumerate() {
            let arguments = b["input"].to_string();
            match profile {
                // Each call whole in one chunk, every one at index 0.
                Profile::Ollama => {
                    let call = json!({"id": call_id(b), "index": 0, "type": "function", "function": {"name": b["name"], "arguments": arguments}});
                    c.send(json!({"role": "assistant", "content": "", "tool_calls": [call]}), None, None).await?;
                }
                _ => {
                    let mut first =
                        json!({"index": i, "id": call_id(b), "type": "function", "function": {"name": b["name"]}});
                    if matches!(profile, Profile::OpenAi | Profile::Anthropic | Profile::OpenRouter) {
                        first["function"]["arguments"] = json!("");
                    }
                    c.send(json!({"tool_calls": [first]}), None, None).await?;
                    let mut pieces = chunks(&arguments, n.max(8));
                    // vLLM sends the last piece of the last call in the chunk that finishes.
                    if profile == Profile::Vllm && Some(i) == last_call {
                        held =
                            pieces.pop().map(|p| json!({"tool_calls": [{"index": i, "function": {"arguments": p}}]}));
                    }
                    for p in pieces {
                        c.send(json!({"tool_calls": [{"index": i, "function": {"arguments": p}}]}), None, None).await?;
                    }
                }
            }
        }
        let finishing = match (profile, held) {
            (_, Some(h)) => h,
            (Profile::Ollama, _) => json!({"role": "assistant", "content": ""}),
            (Profile::Vllm, _) => json!({"content": ""}),
            _ => json!({}),
        };
        let timings =
            (profile == Profile::LlamaCpp && report.is_none()).then(|| ("timings", json!({"predicted_n": 1})));
        c.send(finishing, Some(finish), timings).await?;
        if let Some(usage) = report {
            let mut chunk = c.base.clone();
            chunk["choices"] = json!([]);
            chunk["usage"] = usage;
            if profile == Profile::LlamaCpp {
                chunk["timings"] = json!({"predicted_n": 1});
            }
            sse.data(&chunk.to_string()).await?;
        }
        sse.data("[DONE]").await?;
        sse.end().await?;
        Ok(true)
    }

    /// A chat stream that breaks: cut before it finishes, or carrying an error chunk.
    pub(super) async fn broken_chat(&self, out: &mut TcpStream, model: &str, error: bool) -> std::io::Result<()> {
        out.write_all(stream_head("").as_bytes()).await?;
        let mut sse = Sse { out, delay: std::time::Duration::ZERO };
        let base = json!({"id": "chatcmpl-broken", "object": "chat.completion.chunk", "model": model});
        let mut chunk = base.clone();
        chunk["choices"] =
            json!([{"index": 0, "delta": {"role": "assistant", "content": "I will st"}, "finish_reason": null}]);
        sse.data(&chunk.to_string()).await?;
        if error {
            sse.data(&json!({"error": {"message": "The server is overloaded", "type": "server_error", "param": null, "code": null}}).to_string())
                .await?;
            sse.end().await?;
        }
        out.flush().await?;
        out.shutdown().await
    }
}

/// Usage as each server reports it.
fn usage_of(profile: Profile, mut usage: Value) -> Value {
    let details = |u: &mut Value| u["prompt_tokens_details"] = json!({"cached_tokens": 0});
    match profile {
        Profile::OpenAi | Profile::Anthropic | Profile::LlamaCpp => details(&mut usage),
        Profile::OpenRouter => {
            details(&mut usage);
            // OpenRouter says what the turn cost.
            let cost = (usage["prompt_tokens"].as_f64().unwrap_or(0.0) * 0.5
                + usage["completion_tokens"].as_f64().unwrap_or(0.0) * 2.0)
                / 1e6;
            usage["cost"] = json!(cost);
        }
        _ => {}
    }
    usage
}
