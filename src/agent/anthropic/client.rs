//! The Messages API as a wire of baton's own agent: a request to `/v1/messages`, its stream read by
//! [`Assembler`]. A server that refuses `cache_control` or thinking blocks (400) is asked again
//! once without them, and never sent them again.

use std::sync::Mutex;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::request::{self, Leave};
use super::stream::Assembler;
use crate::agent::native::Wire;
use crate::agent::native::conversation::{Reply, Turn};
use crate::agent::native::endpoint::{Endpoint, Header, Provider};
use crate::agent::native::http::{Http, Progress, RequestError, RetryPolicy};

pub const API_VERSION: &str = "2023-06-01";
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

pub const PROVIDER: Provider = Provider {
    backend: "anthropic",
    url_env: "ANTHROPIC_BASE_URL",
    key_env: "ANTHROPIC_API_KEY",
    default_url: DEFAULT_BASE_URL,
    header: Header::XApiKey,
};

pub struct Client {
    http: Http,
    endpoint: Endpoint,
    /// What the server refused, for the rest of this backend's life.
    leave: Mutex<Leave>,
}

impl Client {
    pub fn new(endpoint: Endpoint) -> Result<Self, reqwest::Error> {
        Ok(Client { http: Http::new()?, endpoint, leave: Mutex::default() })
    }

    fn leave(&self) -> Leave {
        *self.leave.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn send(
        &self,
        turn: Turn<'_>,
        cancel: &CancellationToken,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Reply, RequestError> {
        let mut refused_once = false;
        loop {
            let leave = self.leave();
            let body = request::body(&turn, leave);
            // About four bytes a token: the request's input, to weigh against what is left.
            let tokens = body.to_string().len() as u64 / 4;
            let url = format!("{}/v1/messages", self.endpoint.base_url);
            let build = || {
                self.endpoint
                    .authorize(self.http.client().post(&url))
                    .header("anthropic-version", API_VERSION)
                    .header("content-type", "application/json")
                    .json(&body)
            };
            let result = self.http.stream::<Assembler>(&build, tokens, cancel, progress).await;
            let Err(RequestError::Api { status: Some(400), message }) = &result else {
                return result;
            };
            let Some((without, what)) = refused(message, leave).filter(|_| !refused_once) else {
                return result;
            };
            refused_once = true;
            progress(Progress::Notice(format!(
                "the server at {} refused {what}; asking again without it, and leaving it out from now on ({message})",
                crate::agent::native::explain::server_name(&self.endpoint.base_url)
            )));
            *self.leave.lock().unwrap_or_else(|e| e.into_inner()) = without;
        }
    }
}

/// What a 400 says the server refused, and the requests to send instead; `None` when it is not
/// about something baton can leave out.
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

impl Wire for Client {
    fn base_url(&self) -> &str {
        &self.endpoint.base_url
    }

    fn turn<'a>(
        &'a self,
        turn: Turn<'a>,
        cancel: &'a CancellationToken,
        progress: &'a mut (dyn FnMut(Progress) + Send),
    ) -> BoxFuture<'a, Result<Reply, RequestError>> {
        Box::pin(self.send(turn, cancel, progress))
    }

    fn set_retry(&mut self, retry: RetryPolicy) {
        self.http.retry = retry;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_of_cache_control_or_thinking_is_recognised_once() {
        let none = Leave::default();
        let cache = "invalid_request_error: tools.6.cache_control: Extra inputs are not permitted";
        assert_eq!(refused(cache, none).unwrap().0, Leave { cache_control: true, thinking: false });
        assert_eq!(refused(cache, Leave { cache_control: true, thinking: false }), None);
        let thinking = "invalid_request_error: messages.1.content.0.type: Input tag 'thinking' found using 'type' does not match any of the expected tags";
        assert_eq!(refused(thinking, none).unwrap().0, Leave { cache_control: false, thinking: true });
        assert_eq!(refused("invalid_request_error: max_tokens: too large", none), None);
    }
}
