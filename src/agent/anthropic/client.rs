//! The Messages API as a wire format of baton's own agent: a turn is a request to `/v1/messages`,
//! its stream read by [`Assembler`]. A server that refuses `cache_control` or thinking blocks is
//! asked again once without them, and never sent them again.

use serde_json::Value;

use super::request::{self, Leave};
use super::stream::Assembler;
use crate::agent::native::client::Format;
use crate::agent::native::conversation::Turn;
use crate::agent::native::endpoint::{Header, Provider};

pub const API_VERSION: &str = "2023-06-01";
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

pub const PROVIDER: Provider = Provider {
    backend: "anthropic",
    url_env: "ANTHROPIC_BASE_URL",
    key_env: "ANTHROPIC_API_KEY",
    default_url: DEFAULT_BASE_URL,
    header: Header::XApiKey,
};

/// The Messages API.
pub struct Messages;

impl Format for Messages {
    const BACKEND: &'static str = "anthropic";
    const PROVIDER: Provider = PROVIDER;
    type Assembler = Assembler;
    type Leave = Leave;

    fn url(base_url: &str) -> String {
        format!("{base_url}/v1/messages")
    }

    fn headers(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.header("anthropic-version", API_VERSION)
    }

    fn body(turn: &Turn, leave: Leave) -> Value {
        request::body(turn, leave)
    }

    /// What a 400 says the server refused, and the requests to send instead.
    fn refused(message: &str, leave: Leave) -> Option<(Leave, &'static str)> {
        let m = message.to_lowercase();
        if m.contains("cache_control") && !leave.cache_control {
            return Some((Leave { cache_control: true, ..leave }, "prompt caching (cache_control)"));
        }
        if (m.contains("thinking") || m.contains("signature")) && !leave.thinking {
            return Some((Leave { thinking: true, ..leave }, "thinking blocks"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_of_cache_control_or_thinking_is_recognised_once() {
        let none = Leave::default();
        let cache = "invalid_request_error: tools.6.cache_control: Extra inputs are not permitted";
        assert_eq!(Messages::refused(cache, none).unwrap().0, Leave { cache_control: true, thinking: false });
        assert_eq!(Messages::refused(cache, Leave { cache_control: true, thinking: false }), None);
        let thinking = "invalid_request_error: messages.1.content.0.type: Input tag 'thinking' found using 'type' does not match any of the expected tags";
        assert_eq!(Messages::refused(thinking, none).unwrap().0, Leave { cache_control: false, thinking: true });
        assert_eq!(Messages::refused("invalid_request_error: max_tokens: too large", none), None);
    }
}
