//! A conversation as a Messages API request body. The system prompt, the tools and the tail of the
//! conversation are marked for prompt caching, so each turn re-reads the rest from cache, unless
//! the server refused `cache_control`; thinking goes back with its signature, unless the server
//! refused thinking blocks.

use serde_json::{Value, json};

use crate::agent::native::conversation::{Block, Message, Part, ToolResult, Turn};

/// What the server has refused, left out of every request from then on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leave {
    pub cache_control: bool,
    pub thinking: bool,
}

/// The request body for `turn`, streamed.
pub fn body(turn: &Turn, leave: Leave) -> Value {
    let c = turn.conversation;
    let cache = json!({"type": "ephemeral"});
    let mut tools = c.tools.clone();
    let mut messages: Vec<Value> = c.messages.iter().filter_map(|m| message(m, leave)).collect();
    let mut system = json!({"type": "text", "text": c.system});
    if !leave.cache_control {
        if let Some(last) = tools.last_mut() {
            last["cache_control"] = cache.clone();
        }
        if let Some(last) = messages.last_mut()
            && let Some(block) = last["content"].as_array_mut().and_then(|c| c.last_mut())
        {
            block["cache_control"] = cache.clone();
        }
        system["cache_control"] = cache;
    }
    json!({
        "model": turn.model,
        "max_tokens": turn.max_tokens,
        "stream": true,
        "system": [system],
        "tools": tools,
        "messages": messages,
    })
}

fn message(m: &Message, leave: Leave) -> Option<Value> {
    Some(match m {
        Message::User(text) => json!({"role": "user", "content": [{"type": "text", "text": text}]}),
        Message::Assistant(blocks) => {
            let mut content: Vec<Value> = blocks.iter().filter_map(|b| block(b, leave)).collect();
            if content.is_empty() {
                content.push(json!({"type": "text", "text": "(no text)"}));
            }
            json!({"role": "assistant", "content": content})
        }
        Message::Results(results) => json!({"role": "user", "content": results.iter().map(result).collect::<Vec<_>>()}),
    })
}

fn block(b: &Block, leave: Leave) -> Option<Value> {
    Some(match b {
        Block::Text(t) => json!({"type": "text", "text": t}),
        Block::Thinking { .. } | Block::Opaque(_) if leave.thinking => return None,
        Block::Thinking { text, signature } => json!({"type": "thinking", "thinking": text, "signature": signature}),
        Block::Opaque(v) => v.clone(),
        Block::ToolCall { id, name, input } => {
            // The API takes an object; arguments the model wrote that were not one go back empty.
            let input = if input.is_object() { input.clone() } else { json!({}) };
            json!({"type": "tool_use", "id": id, "name": name, "input": input})
        }
    })
}

fn result(r: &ToolResult) -> Value {
    let content = match r.content.as_slice() {
        [Part::Text(t)] => Value::String(t.clone()),
        parts => Value::Array(
            parts
                .iter()
                .map(|p| match p {
                    Part::Text(t) => json!({"type": "text", "text": t}),
                    Part::Image { media_type, data } => {
                        json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
                    }
                })
                .collect(),
        ),
    };
    json!({"type": "tool_result", "tool_use_id": r.id, "content": content, "is_error": r.is_error})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::native::conversation::Conversation;

    fn conversation() -> Conversation {
        Conversation {
            system: "Be careful.".into(),
            tools: vec![json!({"name": "bash", "description": "Run", "input_schema": {"type": "object"}})],
            messages: vec![
                Message::User("Build it.".into()),
                Message::Assistant(vec![
                    Block::Thinking { text: "hmm".into(), signature: "sig".into() },
                    Block::ToolCall { id: "t1".into(), name: "bash".into(), input: json!({"command": "ls"}) },
                ]),
                Message::Results(vec![ToolResult::text("t1", "a.txt", false)]),
            ],
        }
    }

    #[test]
    fn cache_marks_and_thinking_go_unless_refused() {
        let c = conversation();
        let turn = Turn { conversation: &c, model: "m", max_tokens: 10 };
        let b = body(&turn, Leave::default());
        assert_eq!(b["system"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(b["tools"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(b["messages"][2]["content"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(b["messages"][1]["content"][0]["signature"], "sig");
        assert_eq!(b["messages"][2]["content"][0]["content"], "a.txt");

        let plain = body(&turn, Leave { cache_control: true, thinking: true });
        assert!(!plain.to_string().contains("cache_control"), "{plain}");
        assert_eq!(plain["messages"][1]["content"].as_array().unwrap().len(), 1);
        assert_eq!(plain["messages"][1]["content"][0]["type"], "tool_use");
    }
}
