//! A conversation as a chat completions request body: the system prompt as the first message,
//! each tool call's result as a `tool` message answering its `tool_call_id` (every call is
//! answered, or servers refuse the conversation), images a tool returned in a user message after
//! them (tool messages carry text only). Reasoning is not sent back: servers that show it ask not
//! to be sent it.

use serde_json::{Value, json};

use crate::agent::native::conversation::{Block, Message, Part, Turn};

/// What the server has refused, left out of every request from then on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leave {
    /// `stream_options: {"include_usage": true}`: without it usage is unknown.
    pub stream_options: bool,
    /// `max_tokens`, which newer OpenAI models refuse for `max_completion_tokens`.
    pub max_tokens: bool,
}

/// The request body for `turn`, streamed.
pub fn body(turn: &Turn, leave: Leave) -> Value {
    let c = turn.conversation;
    let mut messages = vec![json!({"role": "system", "content": c.system})];
    for m in &c.messages {
        add(&mut messages, m);
    }
    let tools: Vec<Value> = c
        .tools
        .iter()
        .map(|t| {
            json!({"type": "function", "function": {
                "name": t["name"],
                "description": t.get("description").cloned().unwrap_or_else(|| json!("")),
                "parameters": t.get("input_schema").cloned().unwrap_or_else(|| json!({"type": "object"})),
            }})
        })
        .collect();
    let mut body = json!({"model": turn.model, "stream": true, "messages": messages, "tools": tools});
    let limit = if leave.max_tokens { "max_completion_tokens" } else { "max_tokens" };
    body[limit] = json!(turn.max_tokens);
    if !leave.stream_options {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn add(messages: &mut Vec<Value>, m: &Message) {
    match m {
        Message::User(text) => messages.push(json!({"role": "user", "content": text})),
        Message::Assistant(blocks) => {
            let text: String = blocks
                .iter()
                .filter_map(|b| match b {
                    Block::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n");
            let calls: Vec<Value> = blocks
                .iter()
                .filter_map(|b| match b {
                    Block::ToolCall { id, name, input } => {
                        let arguments = match input {
                            Value::String(written) => written.clone(),
                            other => other.to_string(),
                        };
                        Some(json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}))
                    }
                    _ => None,
                })
                .collect();
            let mut message = json!({"role": "assistant", "content": text});
            if !calls.is_empty() {
                if text.is_empty() {
                    message["content"] = Value::Null;
                }
                message["tool_calls"] = Value::Array(calls);
            }
            messages.push(message);
        }
        Message::Results(results) => {
            let mut images = Vec::new();
            for r in results {
                messages.push(json!({"role": "tool", "tool_call_id": r.id, "content": r.joined_text()}));
                for p in &r.content {
                    if let Part::Image { media_type, data } = p {
                        images.push(json!({"type": "image_url", "image_url": {"url": format!("data:{media_type};base64,{data}")}}));
                    }
                }
            }
            if !images.is_empty() {
                let mut content = vec![json!({"type": "text", "text": "The images the tool calls above returned:"})];
                content.extend(images);
                messages.push(json!({"role": "user", "content": content}));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::native::conversation::{Conversation, ToolResult};

    #[test]
    fn every_call_is_answered_by_a_tool_message_and_images_follow_them() {
        let c = Conversation {
            system: "Be careful.".into(),
            tools: vec![json!({"name": "bash", "description": "Run", "input_schema": {"type": "object"}})],
            messages: vec![
                Message::User("Build it.".into()),
                Message::Assistant(vec![
                    Block::Thinking { text: "hmm".into(), signature: String::new() },
                    Block::ToolCall { id: "call_1".into(), name: "bash".into(), input: json!({"command": "ls"}) },
                    Block::ToolCall { id: "call_2".into(), name: "mcp__web__shot".into(), input: json!({}) },
                ]),
                Message::Results(vec![
                    ToolResult::text("call_1", "a.txt", false),
                    ToolResult {
                        id: "call_2".into(),
                        content: vec![
                            Part::Text("shot".into()),
                            Part::Image { media_type: "image/png".into(), data: "AAAA".into() },
                        ],
                        is_error: false,
                    },
                ]),
            ],
        };
        let b = body(&Turn { conversation: &c, model: "gpt", max_tokens: 9 }, Leave::default());
        let m = b["messages"].as_array().unwrap();
        assert_eq!(m[0], json!({"role": "system", "content": "Be careful."}));
        assert_eq!(m[2]["content"], Value::Null);
        assert!(!m[2].to_string().contains("hmm"), "reasoning is not sent back");
        assert_eq!(m[2]["tool_calls"][0]["function"]["arguments"], "{\"command\":\"ls\"}");
        assert_eq!(m[3], json!({"role": "tool", "tool_call_id": "call_1", "content": "a.txt"}));
        assert_eq!(m[4]["tool_call_id"], "call_2");
        assert_eq!(m[5]["content"][1]["image_url"]["url"], "data:image/png;base64,AAAA");
        assert_eq!(b["tools"][0]["function"]["parameters"], json!({"type": "object"}));
        assert_eq!((b["max_tokens"].as_u64(), b["stream_options"]["include_usage"].as_bool()), (Some(9), Some(true)));

        let plain = body(
            &Turn { conversation: &c, model: "gpt", max_tokens: 9 },
            Leave { stream_options: true, max_tokens: true },
        );
        assert!(plain.get("stream_options").is_none() && plain.get("max_tokens").is_none());
        assert_eq!(plain["max_completion_tokens"], 9);
    }
}
