//! OpenAI's chat completions as a wire of baton's own agent: a request to `{base}/chat/completions`
//! (the base holds `/v1`, as `OPENAI_BASE_URL` does), its stream read by [`Assembler`]. A server
//! that refuses `stream_options` or `max_tokens` (400) is asked again once without it, and never
//! sent it again.

use std::sync::Mutex;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::request::{self, Leave};
use super::stream::Assembler;
use crate::agent::native::Wire;
use crate::agent::native::conversation::{Reply, Turn};
use crate::agent::native::endpoint::{Endpoint, Header, Provider};
use crate::agent::native::http::{Http, Progress, RequestError, RetryPolicy};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

pub const PROVIDER: Provider = Provider {
    backend: "openai",
    url_env: "OPENAI_BASE_URL",
    key_env: "OPENAI_API_KEY",
    default_url: DEFAULT_BASE_URL,
    header: Header::Bearer,
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
            let tokens = body.to_string().len() as u64 / 4;
            let url = format!("{}/chat/completions", self.endpoint.base_url);
            let build = || {
                self.endpoint
                    .authorize(self.http.client().post(&url))
                    .header("content-type", "application/json")
                    .json(&body)
            };
            let result = self.http.stream::<Assembler>(&build, tokens, cancel, progress).await;
            let Err(RequestError::Api { status: Some(400 | 422), message }) = &result else {
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
    fn refused_options_are_recognised_once() {
        let none = Leave::default();
        let azure = "invalid_request_error: Unrecognized request argument supplied: stream_options";
        assert_eq!(refused(azure, none).unwrap().0, Leave { stream_options: true, max_tokens: false });
        assert_eq!(refused(azure, Leave { stream_options: true, max_tokens: false }), None);
        let o_series = "invalid_request_error: Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.";
        assert_eq!(refused(o_series, none).unwrap().0, Leave { stream_options: false, max_tokens: true });
        assert_eq!(refused("invalid_request_error: messages: too short", none), None);
    }
}
