//! The servers the scripted model can play: Anthropic's own API, and the shapes Ollama, llama.cpp,
//! vLLM, OpenRouter and OpenAI give their streams and their errors, on both wires. Where each
//! shape comes from:
//!
//! - Ollama: its source (`anthropic/anthropic.go` `StreamConverter`, `openai/openai.go` `ToChunk`,
//!   `middleware/openai.go`): no cache fields, a tool's input in one delta, thinking without a
//!   signature, usage only with `stream_options`, errors as `{"error": {...}}`.
//! - llama.cpp: its source (`tools/server/server-task.cpp` `to_json_anthropic_stream`,
//!   `to_json_oaicompat_chat_stream`) and its tests (`test_compat_anthropic.py`): a tool block
//!   started without `input`, every block closed at the end, `cache_read_input_tokens` without
//!   `cache_creation_input_tokens`, `reasoning_content`, `timings`, the model name not checked.
//! - vLLM: its protocol types (`DeltaToolCall`, `ChatCompletionStreamResponse`, dumped with
//!   `exclude_unset`): a tool call's first fragment without `arguments`, the last fragment in the
//!   chunk that finishes, `stop_reason`, `{"object": "error"}` bodies.
//! - OpenRouter: its streaming and error documentation: `: OPENROUTER PROCESSING` comments, usage
//!   (with `cost`) always in the last chunk, `native_finish_reason`, errors `{"error": {"code"}}`.
//! - OpenAI: the recorded streams in openai-python's tests (`.inline-snapshot/external/*.bin`):
//!   `refusal: null`, `logprobs: null`, `usage: null` on every chunk once usage is asked for.

use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    #[default]
    Anthropic,
    Ollama,
    #[serde(rename = "llama.cpp", alias = "llamacpp")]
    LlamaCpp,
    Vllm,
    OpenRouter,
    OpenAi,
}

/// Which API a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Messages,
    Chat,
}

/// How the server reports usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UsageReport {
    /// As the profile does.
    #[default]
    Reported,
    /// Not at all.
    None,
    /// As `usage: {}` (chat).
    Empty,
}

/// Ways a server differs beyond its profile, each a scenario may ask for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quirks {
    /// What the server refuses with a 400 when a request carries it: `cache_control`,
    /// `thinking` (blocks sent back), `stream_options`, `max_tokens`, `tools`.
    pub refuse: Vec<String>,
    pub usage: UsageReport,
    /// Chat: `finish_reason: ""` on every chunk before the one that finishes.
    pub empty_finish_reason: bool,
}

/// A refused request, to be written in the profile's shape.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
    pub code: Option<&'static str>,
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Error",
    }
}

impl Profile {
    /// The error body of `r` as this server writes it on `api`.
    pub fn error_body(self, api: Api, r: &Refusal) -> Value {
        match (api, self) {
            (Api::Messages, Profile::Ollama) => {
                json!({"type": "error", "error": {"type": r.kind, "message": r.message}, "request_id": "req_scripted"})
            }
            (Api::Messages, _) => json!({"type": "error", "error": {"type": r.kind, "message": r.message}}),
            (Api::Chat, Profile::Vllm) => {
                json!({"object": "error", "message": r.message, "type": r.kind, "param": null, "code": r.status})
            }
            (Api::Chat, Profile::LlamaCpp) => {
                json!({"error": {"code": r.status, "message": r.message, "type": r.kind}})
            }
            (Api::Chat, Profile::OpenRouter) => json!({"error": {"code": r.status, "message": r.message}}),
            (Api::Chat, _) => json!({"error": {"message": r.message, "type": r.kind, "param": null, "code": r.code}}),
        }
    }

    /// Whether the server checks the model's name (llama.cpp serves whatever it loaded).
    pub fn checks_model(self) -> bool {
        self != Profile::LlamaCpp
    }

    /// The answer to a model the server does not have.
    pub fn no_model(self, api: Api, model: &str) -> Refusal {
        match (api, self) {
            (_, Profile::Ollama) => Refusal {
                status: 404,
                kind: "not_found_error",
                message: format!("model \"{model}\" not found, try pulling it first"),
                code: None,
            },
            (Api::Messages, _) => {
                Refusal { status: 404, kind: "not_found_error", message: format!("model: {model}"), code: None }
            }
            (_, Profile::Vllm) => Refusal {
                status: 404,
                kind: "NotFoundError",
                message: format!("The model `{model}` does not exist."),
                code: None,
            },
            (_, Profile::OpenRouter) => {
                Refusal { status: 400, kind: "", message: format!("{model} is not a valid model ID"), code: None }
            }
            _ => Refusal {
                status: 404,
                kind: "invalid_request_error",
                message: format!("The model `{model}` does not exist or you do not have access to it."),
                code: Some("model_not_found"),
            },
        }
    }

    /// The answer to a conversation longer than the context window.
    pub fn overflow(self, api: Api) -> Refusal {
        let message = match (api, self) {
            (Api::Messages, _) => "prompt is too long: 210000 tokens > 200000 maximum".to_owned(),
            (_, Profile::LlamaCpp) => {
                return Refusal {
                    status: 400,
                    kind: "exceed_context_size_error",
                    message: "request (9000 tokens) exceeds the available context size (8192 tokens), try increasing it".into(),
                    code: None,
                };
            }
            (_, Profile::Vllm) => "This model's maximum context length is 32768 tokens. However, you requested 40000 tokens (39000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.".to_owned(),
            _ => "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.".to_owned(),
        };
        let kind = if self == Profile::Vllm && api == Api::Chat { "BadRequestError" } else { "invalid_request_error" };
        Refusal { status: 400, kind, message, code: Some("context_length_exceeded") }
    }

    /// The answer to a tool call sent back without its result.
    pub fn unanswered(self, api: Api, id: &str) -> Refusal {
        let message = match api {
            Api::Messages => format!(
                "messages: `tool_use` ids were found without `tool_result` blocks immediately after: {id}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
            ),
            Api::Chat => format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {id}"
            ),
        };
        Refusal { status: 400, kind: "invalid_request_error", message, code: None }
    }

    /// The answer to a request with tools, from a server that does none.
    pub fn no_tools(self, model: &str) -> Refusal {
        let (status, kind, message) = match self {
            Profile::Ollama => (400, "invalid_request_error", format!("registry.ollama.ai/library/{model} does not support tools")),
            Profile::LlamaCpp => (400, "invalid_request_error", "tools param requires --jinja flag".to_owned()),
            Profile::Vllm => (
                400,
                "BadRequestError",
                "\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set".to_owned(),
            ),
            Profile::OpenRouter => (
                404,
                "",
                "No endpoints found that support tool use. To learn more about provider routing, visit: https://openrouter.ai/docs/provider-routing".to_owned(),
            ),
            _ => (400, "invalid_request_error", "tools are not supported by this model".to_owned()),
        };
        Refusal { status, kind, message, code: None }
    }

    /// The answer to a request carrying `what`, which the server refuses.
    pub fn refuses(self, what: &str) -> Refusal {
        let message = match what {
            "cache_control" => "tools.0.cache_control: Extra inputs are not permitted".to_owned(),
            "thinking" => "messages.1.content.0.type: Input tag 'thinking' found using 'type' does not match any of the expected tags: 'text', 'image', 'tool_use', 'tool_result'".to_owned(),
            "stream_options" => "Unrecognized request argument supplied: stream_options".to_owned(),
            "max_tokens" => "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.".to_owned(),
            other => format!("{other}: Extra inputs are not permitted"),
        };
        Refusal { status: 400, kind: "invalid_request_error", message, code: None }
    }
}
