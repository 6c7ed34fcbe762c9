//! A session's conversation in no wire format's words: what baton said, what the model answered,
//! what the tools gave back. Each wire (the Messages API, chat completions) writes it its own way
//! and reads a reply into the same [`Reply`].

use serde_json::Value;

use crate::project::session::Usage;

/// Something the model said in a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Text(String),
    /// Reasoning the server showed; `signature` is the Messages API's seal on it (empty elsewhere).
    Thinking {
        text: String,
        signature: String,
    },
    /// A block one wire sends back as it came (the Messages API's `redacted_thinking`).
    Opaque(Value),
    /// A tool call. `input` is the arguments as JSON; when the model wrote arguments that are not
    /// a JSON object, it is the string it wrote, and the call is answered with an error.
    ToolCall {
        id: String,
        name: String,
        input: Value,
    },
}

/// Why the model stopped, in one vocabulary for every wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Done with the turn (`end_turn`, `stop`).
    EndTurn,
    /// It wants its tool calls run (`tool_use`, `tool_calls`).
    ToolUse,
    /// Cut at the output token limit (`max_tokens`, `length`).
    MaxTokens,
    /// It declined to go on (`refusal`, `content_filter`).
    Refusal,
    /// Anything else a server says (`stop_sequence`, words newer than this code).
    Other(String),
}

/// One whole reply of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub content: Vec<Block>,
    pub stop: Stop,
    /// What the turn used; `None` when the server did not say (never taken as zero).
    pub usage: Option<Usage>,
    /// What the server says the turn cost in US dollars (OpenRouter does), when it says.
    pub cost_usd: Option<f64>,
}

impl Reply {
    /// The reply's tool calls: (id, name, input).
    pub fn calls(&self) -> Vec<(String, String, Value)> {
        self.content
            .iter()
            .filter_map(|b| match b {
                Block::ToolCall { id, name, input } => Some((id.clone(), name.clone(), input.clone())),
                _ => None,
            })
            .collect()
    }
}

/// Part of what baton sends: text, or an image a tool returned (a browser's screenshot).
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image { media_type: String, data: String },
}

/// What a tool call gave back.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub id: String,
    pub content: Vec<Part>,
    pub is_error: bool,
}

impl ToolResult {
    pub fn text(id: &str, text: impl Into<String>, is_error: bool) -> Self {
        ToolResult { id: id.to_owned(), content: vec![Part::Text(text.into())], is_error }
    }

    /// The result's text, its parts joined.
    pub fn joined_text(&self) -> String {
        self.content
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                Part::Image { .. } => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// baton speaking: the prompt, or a word after a reply was cut.
    User(String),
    Assistant(Vec<Block>),
    /// The results of the last reply's tool calls, one for each call, in order.
    Results(Vec<ToolResult>),
}

/// What every request of a session carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub system: String,
    /// Tool definitions as baton's tools and MCP servers give them: `name`, `description`,
    /// `input_schema`.
    pub tools: Vec<Value>,
    pub messages: Vec<Message>,
}

/// One request to make: the conversation, for which model, within which output limit.
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    pub conversation: &'a Conversation,
    pub model: &'a str,
    pub max_tokens: u32,
}
