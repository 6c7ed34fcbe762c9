//! OpenAI's chat completions as a wire format of baton's own agent: a turn is a request to
//! `{base}/chat/completions` (the base holds `/v1`, as `OPENAI_BASE_URL` does), its stream read by
//! [`Assembler`]. A server that refuses `stream_options` or `max_tokens` is asked again once
//! without it, and never sent it again.

use serde_json::Value;

use super::request::{self, Leave};
use super::stream::Assembler;
use crate::agent::native::client::Format;
use crate::agent::native::conversation::Turn;
use crate::agent::native::endpoint::{Header, Provider};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

pub const PROVIDER: Provider = Provider {
    backend: "openai",
    url_env: "OPENAI_BASE_URL",
    key_env: "OPENAI_API_KEY",
    default_url: DEFAULT_BASE_URL,
    header: Header::Bearer,
};

/// OpenAI's chat completions.
pub struct Chat;

impl Format for Chat {
    const BACKEND: &'static str = "openai";
    const PROVIDER: Provider = PROVIDER;
    type Assembler = Assembler;
    type Leave = Leave;

    fn url(base_url: &str) -> String {
        format!("{base_url}/chat/completions")
    }

    fn body(turn: &Turn, leave: Leave) -> Value {
        request::body(turn, leave)
    }

    /// What a 400 says the server refused, and the requests to send instead.
    fn refused(message: &str, leave: Leave) -> Option<(Leave, &'static str)> {
        let m = message.to_lowercase();
        if m.contains("stream_options") && !leave.stream_options {
            return Some((Leave { stream_options: true, ..leave }, "stream_options (so usage may go unreported)"));
        }
        if m.contains("max_tokens") && m.contains("max_completion_tokens") && !leave.max_tokens {
            return Some((Leave { max_tokens: true, ..leave }, "max_tokens (max_completion_tokens instead)"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_options_are_recognised_once() {
        let none = Leave::default();
        let azure = "invalid_request_error: Unrecognized request argument supplied: stream_options";
        assert_eq!(Chat::refused(azure, none).unwrap().0, Leave { stream_options: true, max_tokens: false });
        assert_eq!(Chat::refused(azure, Leave { stream_options: true, max_tokens: false }), None);
        let o_series = "invalid_request_error: Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.";
        assert_eq!(Chat::refused(o_series, none).unwrap().0, Leave { stream_options: false, max_tokens: true });
        assert_eq!(Chat::refused("invalid_request_error: messages: too short", none), None);
    }
}
