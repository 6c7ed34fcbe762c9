//! The scripted model's answers on the Messages API, in the shapes of Anthropic's own stream,
//! Ollama's (no ping, no cache fields, a tool's whole input in one delta, thinking without a
//! signature) and llama.cpp's (a tool block started without `input`, every block closed at the
//! end, usage in `message_delta` with output tokens only).

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::profile::{Profile, UsageReport};
use super::{Content, Server, Sse, chunks, json_response, stream_head};

impl Server {
    pub(super) async fn messages_reply(
        &self,
        out: &mut TcpStream,
        content: &Content,
        model: &str,
        streaming: bool,
        headers: &str,
    ) -> std::io::Result<bool> {
        let msg_id = format!("msg_{}", self.ids(1).remove(0));
        let (input, output) = (content.input_tokens, content.output_tokens);
        if !streaming {
            let body = json!({
                "id": msg_id, "type": "message", "role": "assistant", "model": model,
                "content": content.blocks, "stop_reason": content.stop_reason, "stop_sequence": null,
                "usage": {"input_tokens": input, "output_tokens": output,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
            });
            out.write_all(&json_response(200, &body, headers)).await?;
            return Ok(true);
        }
        let mut sse = self.start_stream(out, &msg_id, model, input, headers).await?;
        let llama = self.profile() == Profile::LlamaCpp;
        for (index, block) in content.blocks.iter().enumerate() {
            self.stream_block(&mut sse, index, block).await?;
            if !llama {
                sse.event("content_block_stop", json!({"type": "content_block_stop", "index": index})).await?;
            }
        }
        if llama {
            // llama.cpp closes every block at the end, the thinking block after an empty signature.
            for (index, block) in content.blocks.iter().enumerate() {
                if block["type"] == "thinking" {
                    let delta = json!({"type": "signature_delta", "signature": ""});
                    sse.event(
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": index, "delta": delta}),
                    )
                    .await?;
                }
                sse.event("content_block_stop", json!({"type": "content_block_stop", "index": index})).await?;
            }
        }
        let delta = json!({"stop_reason": content.stop_reason, "stop_sequence": null});
        let mut message_delta = json!({"type": "message_delta", "delta": delta});
        if let Some(usage) = self.final_usage(input, output) {
            message_delta["usage"] = usage;
        }
        sse.event("message_delta", message_delta).await?;
        sse.event("message_stop", json!({"type": "message_stop"})).await?;
        sse.end().await?;
        Ok(true)
    }

    /// What `message_start` says of usage, as the profile says it.
    fn start_usage(&self, input: u64) -> Option<Value> {
        if self.scenario.quirks.usage == UsageReport::None {
            return None;
        }
        Some(match self.profile() {
            Profile::Ollama => json!({"input_tokens": input, "output_tokens": 0}),
            Profile::LlamaCpp => json!({"cache_read_input_tokens": 0, "input_tokens": input, "output_tokens": 0}),
            _ => {
                json!({"input_tokens": input, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
            }
        })
    }

    /// What `message_delta` says of usage, as the profile says it.
    fn final_usage(&self, input: u64, output: u64) -> Option<Value> {
        if self.scenario.quirks.usage == UsageReport::None {
            return None;
        }
        Some(match self.profile() {
            Profile::Ollama => json!({"input_tokens": input, "output_tokens": output}),
            _ => json!({"output_tokens": output}),
        })
    }

    pub(super) async fn start_stream<'a>(
        &self,
        out: &'a mut TcpStream,
        msg_id: &str,
        model: &str,
        input_tokens: u64,
        headers: &str,
    ) -> std::io::Result<Sse<'a>> {
        out.write_all(stream_head(headers).as_bytes()).await?;
        let mut sse = Sse { out, delay: std::time::Duration::from_millis(self.pace.delay_ms) };
        let mut message = json!({
            "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
        });
        if let Some(usage) = self.start_usage(input_tokens) {
            message["usage"] = usage;
        }
        sse.event("message_start", json!({"type": "message_start", "message": message})).await?;
        if self.profile() == Profile::Anthropic {
            sse.event("ping", json!({"type": "ping"})).await?;
        }
        Ok(sse)
    }

    async fn stream_block(&self, sse: &mut Sse<'_>, index: usize, block: &Value) -> std::io::Result<()> {
        let n = self.pace.chunk_chars;
        let delta = |delta: Value| json!({"type": "content_block_delta", "index": index, "delta": delta});
        let start = |block: Value| json!({"type": "content_block_start", "index": index, "content_block": block});
        match block["type"].as_str().unwrap_or("") {
            "text" => {
                sse.event("content_block_start", start(json!({"type": "text", "text": ""}))).await?;
                for piece in chunks(block["text"].as_str().unwrap_or(""), n) {
                    sse.pause().await;
                    sse.event("content_block_delta", delta(json!({"type": "text_delta", "text": piece}))).await?;
                }
            }
            "thinking" => {
                let opening = match self.profile() {
                    Profile::Anthropic => json!({"type": "thinking", "thinking": "", "signature": ""}),
                    _ => json!({"type": "thinking", "thinking": ""}),
                };
                sse.event("content_block_start", start(opening)).await?;
                for piece in chunks(block["thinking"].as_str().unwrap_or(""), n) {
                    sse.pause().await;
                    sse.event("content_block_delta", delta(json!({"type": "thinking_delta", "thinking": piece})))
                        .await?;
                }
                if self.profile() == Profile::Anthropic {
                    let signature = json!({"type": "signature_delta", "signature": block["signature"]});
                    sse.event("content_block_delta", delta(signature)).await?;
                }
            }
            _ => {
                let input = block["input"].to_string();
                let (opening, pieces) = match self.profile() {
                    // The whole input in one delta.
                    Profile::Ollama => (
                        json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
                        vec![input],
                    ),
                    // No `input` in the opening block.
                    Profile::LlamaCpp => (
                        json!({"type": "tool_use", "id": block["id"], "name": block["name"]}),
                        chunks(&input, n.max(8)),
                    ),
                    _ => (
                        json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
                        chunks(&input, n.max(8)),
                    ),
                };
                sse.event("content_block_start", start(opening)).await?;
                for piece in pieces {
                    sse.pause().await;
                    sse.event("content_block_delta", delta(json!({"type": "input_json_delta", "partial_json": piece})))
                        .await?;
                }
            }
        }
        Ok(())
    }
}
