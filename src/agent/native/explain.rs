//! A refused request said in the operator's words: which server, which model, what went wrong and
//! what to do. Servers word the same faults differently (Anthropic, OpenAI, Ollama, llama.cpp,
//! vLLM, OpenRouter); the patterns below are theirs.

/// What kind of refusal a server's message describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server has no such model.
    NoModel,
    /// The conversation is longer than the model's context window.
    ContextOverflow,
    /// A tool call was sent back without its result.
    UnansweredToolCall,
    /// The server or model does not do tool calls.
    NoTools,
    Other,
}

const NO_TOOLS: &[&str] = &[
    "does not support tools",               // Ollama
    "tools param requires --jinja",         // llama.cpp without --jinja
    "requires --enable-auto-tool-choice",   // vLLM without a tool parser
    "no endpoints found that support tool", // OpenRouter
    "tool use is not supported",
    "tools are not supported",
    "does not support function calling",
    "function calling is not enabled",
];

const UNANSWERED: &[&str] = &[
    "must be followed by tool messages",    // OpenAI
    "did not have response messages",       // OpenAI
    "ids were found without `tool_result`", // Anthropic
    "ids were found without tool_result",
    "tool_use` block must have a corresponding",
];

const OVERFLOW: &[&str] = &[
    "context_length_exceeded",            // OpenAI's code
    "maximum context length",             // OpenAI, vLLM
    "exceeds the available context size", // llama.cpp
    "exceed_context_size",                // llama.cpp's type
    "prompt is too long",                 // Anthropic
    "context window",
    "input is too long",
    "too many tokens",
    "reduce the length of the messages",
];

const NO_MODEL: &[&str] = &[
    "model_not_found",           // OpenAI's code
    "does not exist",            // OpenAI, vLLM
    "not found, try pulling it", // Ollama
    "model not found",
    "unknown model",
    "is not a valid model id", // OpenRouter
    "no such model",
];

/// Which refusal `message` (with HTTP `status`) is.
pub fn classify(status: Option<u16>, message: &str) -> Refusal {
    let m = message.to_lowercase();
    let any = |list: &[&str]| list.iter().any(|p| m.contains(&p.to_lowercase()));
    if any(NO_TOOLS) {
        Refusal::NoTools
    } else if any(UNANSWERED) {
        Refusal::UnansweredToolCall
    } else if any(OVERFLOW) {
        Refusal::ContextOverflow
    } else if any(NO_MODEL) || (status == Some(404) && m.contains("model")) {
        Refusal::NoModel
    } else {
        Refusal::Other
    }
}

/// The refusal of a request to `server` for `model`, in words that name both and say what to do.
pub fn refusal(status: Option<u16>, message: &str, server: &str, model: &str) -> String {
    let code = status.map(|s| format!(" ({s})")).unwrap_or_default();
    let head = match classify(status, message) {
        Refusal::NoModel => format!(
            "the server at {server} has no model `{model}`{code}: set [agent] model to one it serves (Ollama: `ollama pull {model}`)"
        ),
        Refusal::ContextOverflow => format!(
            "the conversation no longer fits model `{model}`'s context window at {server}{code}: give the server a larger context (llama.cpp: -c, Ollama: num_ctx) or use a model with a longer one"
        ),
        Refusal::UnansweredToolCall => format!(
            "the server at {server} refused the conversation{code} because a tool call of model `{model}` went unanswered: this is baton's fault, please report it"
        ),
        Refusal::NoTools => format!(
            "the server at {server} does not do tool calls with model `{model}`{code}, and baton's agent works through tools: use a model that calls tools (llama.cpp needs --jinja, vLLM --enable-auto-tool-choice with a --tool-call-parser)"
        ),
        Refusal::Other if status == Some(402) => {
            format!("the server at {server} refused the request for billing{code}: add credit for model `{model}`")
        }
        Refusal::Other => format!("the server at {server} refused the request for model `{model}`{code}"),
    };
    format!("{head}. It said: {message}")
}

/// The host and port of a base URL, or the URL as given when it has none.
pub fn server_name(base_url: &str) -> String {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    rest.split('/').next().filter(|h| !h.is_empty()).unwrap_or(base_url).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_servers_wording_is_recognised() {
        let cases = [
            (404, r#"model "qwen3:8b" not found, try pulling it first"#, Refusal::NoModel),
            (
                404,
                "invalid_request_error: The model `gpt-9` does not exist or you do not have access to it.",
                Refusal::NoModel,
            ),
            (404, "NotFoundError: The model `x` does not exist.", Refusal::NoModel),
            (
                400,
                "invalid_request_error: This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
                Refusal::ContextOverflow,
            ),
            (
                400,
                "exceed_context_size_error: request (9000 tokens) exceeds the available context size (8192 tokens), try increasing it",
                Refusal::ContextOverflow,
            ),
            (
                400,
                "invalid_request_error: prompt is too long: 210000 tokens > 200000 maximum",
                Refusal::ContextOverflow,
            ),
            (
                400,
                "invalid_request_error: An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: call_1",
                Refusal::UnansweredToolCall,
            ),
            (
                400,
                "invalid_request_error: messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1",
                Refusal::UnansweredToolCall,
            ),
            (400, "registry.ollama.ai/library/gemma3:1b does not support tools", Refusal::NoTools),
            (500, "tools param requires --jinja flag", Refusal::NoTools),
            (
                400,
                "BadRequestError: \"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set",
                Refusal::NoTools,
            ),
            (404, "No endpoints found that support tool use.", Refusal::NoTools),
            (400, "invalid_request_error: max_tokens: must be positive", Refusal::Other),
        ];
        for (status, message, want) in cases {
            assert_eq!(classify(Some(status), message), want, "{message}");
        }
    }

    #[test]
    fn a_refusal_names_the_server_and_the_model() {
        let text = refusal(Some(404), r#"model "qwen3:8b" not found"#, "localhost:11434", "qwen3:8b");
        assert!(text.starts_with("the server at localhost:11434 has no model `qwen3:8b` (404)"), "{text}");
        assert!(text.ends_with(r#"It said: model "qwen3:8b" not found"#), "{text}");
        assert_eq!(server_name("http://127.0.0.1:8080/v1"), "127.0.0.1:8080");
        assert_eq!(server_name("https://openrouter.ai/api/v1"), "openrouter.ai");
        assert!(refusal(Some(402), "Insufficient credits", "openrouter.ai", "m").contains("billing"));
    }
}
