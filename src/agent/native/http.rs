//! One streamed request to a model server, sent again when the failure is a passing one (429,
//! 529, 5xx, a broken connection, an error inside the stream, a stream cut short), with every
//! retry reported and bounded. The wire formats differ only in how a stream is read
//! ([`Assemble`]); how hard to try, and what counts as passing, is the same for both.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::conversation::Reply;
use super::pace::Pacer;

/// How hard to try before giving up on a request.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 8, base_delay: Duration::from_secs(1), max_delay: Duration::from_secs(60) }
    }
}

impl RetryPolicy {
    /// Exponential backoff with jitter: half to all of `base * 2^(attempt-1)`, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
        let capped = exp.min(self.max_delay);
        capped.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// How a request failed for good.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestError {
    Cancelled,
    /// Rate limited or overloaded on every attempt.
    RateLimited(String),
    /// Refused (400, 401, 404, ...), or failing on every attempt for other reasons.
    Api {
        status: Option<u16>,
        message: String,
    },
}

/// Something to tell the watcher while a reply streams in.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    Text(String),
    Thinking(String),
}

/// What the caller hears while a request runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Delta(Delta),
    Retry {
        reason: String,
        attempt: u32,
        wait: Duration,
    },
    /// The request waits for the server's rate-limit window to reset, as its last reply said.
    Paced {
        reason: String,
        wait: Duration,
    },
    /// Something the operator should know (a feature the server refused, left out from now on).
    Notice(String),
}

/// Why a stream could not give a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamFault {
    /// An error inside the stream: its type (or code) and message.
    ErrorEvent(String, String),
    /// An event whose data is not what the server's format says.
    Malformed(String),
}

/// Reads one wire format's stream into a [`Reply`].
pub trait Assemble: Default + Send {
    /// Feeds one event: its name and its data; what it says to show goes on `deltas`.
    fn feed(&mut self, event: &str, data: &str, deltas: &mut Vec<Delta>) -> Result<(), StreamFault>;
    /// Whether the stream said it is over.
    fn is_done(&self) -> bool;
    /// The reply, once the stream is over or has ended; why not, when it ended too soon.
    fn finish(self) -> Result<Reply, String>;
}

enum Attempt {
    Retry { reason: String, wait: Option<Duration>, rate_limited: bool },
    Fatal(RequestError),
}

/// The HTTP side both wires share: the client, the retry policy, the pacing.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    pub retry: RetryPolicy,
    /// What the server's replies said is left of its rate limits, shared by every request.
    pacer: std::sync::Arc<Pacer>,
}

impl Http {
    pub fn new() -> Result<Self, reqwest::Error> {
        // reqwest is built without a default TLS crypto provider; ring is ours.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(600))
            .build()?;
        Ok(Http { client, retry: RetryPolicy::default(), pacer: Default::default() })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request `build` makes (a POST with `stream: true`) until it gives a whole reply
    /// or fails for good. `tokens` is about how many input tokens it carries, for pacing.
    pub async fn stream<A: Assemble>(
        &self,
        build: &(dyn Fn() -> reqwest::RequestBuilder + Send + Sync),
        tokens: u64,
        cancel: &CancellationToken,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Reply, RequestError> {
        let mut attempt = 1;
        loop {
            if let Some((wait, reason)) = self.pacer.wait(tokens) {
                progress(Progress::Paced { reason, wait });
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => return Err(RequestError::Cancelled),
                }
            }
            let outcome = tokio::select! {
                r = self.attempt::<A>(build(), progress) => r,
                _ = cancel.cancelled() => return Err(RequestError::Cancelled),
            };
            let (reason, wait, rate_limited) = match outcome {
                Ok(m) => return Ok(m),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry { reason, wait, rate_limited }) => (reason, wait, rate_limited),
            };
            if attempt >= self.retry.max_attempts {
                let message = format!("gave up after {attempt} attempts: {reason}");
                return Err(if rate_limited {
                    RequestError::RateLimited(message)
                } else {
                    RequestError::Api { status: None, message }
                });
            }
            // `retry-after` is honoured, but no single wait is longer than ten minutes.
            let wait = wait.unwrap_or_else(|| self.retry.backoff(attempt)).min(Duration::from_secs(600));
            tracing::warn!(attempt, ?wait, "retrying the model request: {reason}");
            progress(Progress::Retry { reason, attempt, wait });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => return Err(RequestError::Cancelled),
            }
            attempt += 1;
        }
    }

    async fn attempt<A: Assemble>(
        &self,
        request: reqwest::RequestBuilder,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Reply, Attempt> {
        let response = request.send().await.map_err(|e| Attempt::Retry {
            reason: format!("cannot reach the API: {}", error_chain(&e)),
            wait: None,
            rate_limited: false,
        })?;
        let status = response.status().as_u16();
        self.pacer.observe(response.headers());
        if status != 200 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(Duration::from_secs_f64);
            let text = response.text().await.unwrap_or_default();
            let message = error_message(&text).unwrap_or_else(|| format!("HTTP {status}"));
            // A fault no retry mends (no such model, no tool calls, too long), whatever its status.
            let lasting = super::explain::classify(Some(status), &message) != super::explain::Refusal::Other;
            return Err(match status {
                _ if lasting => Attempt::Fatal(RequestError::Api { status: Some(status), message }),
                429 | 529 => Attempt::Retry {
                    reason: format!(
                        "{} ({status}): {message}",
                        if status == 429 { "rate limited" } else { "overloaded" }
                    ),
                    wait: retry_after,
                    rate_limited: true,
                },
                408 | 409 | 500..=599 => Attempt::Retry {
                    reason: format!("server error ({status}): {message}"),
                    wait: retry_after,
                    rate_limited: false,
                },
                _ => Attempt::Fatal(RequestError::Api { status: Some(status), message }),
            });
        }

        let mut events = response.bytes_stream().eventsource();
        let mut assembler = A::default();
        while let Some(event) = events.next().await {
            let event = event.map_err(|e| Attempt::Retry {
                reason: format!("the stream broke: {e}"),
                wait: None,
                rate_limited: false,
            })?;
            let mut deltas = Vec::new();
            let fed = assembler.feed(&event.event, &event.data, &mut deltas);
            for delta in deltas {
                progress(Progress::Delta(delta));
            }
            match fed {
                Ok(()) => {}
                Err(StreamFault::ErrorEvent(kind, message)) => return Err(stream_error(&kind, &message)),
                Err(StreamFault::Malformed(m)) => {
                    return Err(Attempt::Retry {
                        reason: format!("malformed event: {m}"),
                        wait: None,
                        rate_limited: false,
                    });
                }
            }
            if assembler.is_done() {
                break;
            }
        }
        assembler.finish().map_err(|reason| Attempt::Retry { reason, wait: None, rate_limited: false })
    }
}

/// An error inside a stream: a refused request ends the turn; an overload or a server fault is
/// passing.
fn stream_error(kind: &str, message: &str) -> Attempt {
    let fatal = matches!(
        kind,
        "invalid_request_error" | "authentication_error" | "permission_error" | "400" | "401" | "403" | "404"
    );
    if fatal {
        let status = kind.parse().ok();
        return Attempt::Fatal(RequestError::Api { status, message: format!("{kind}: {message}") });
    }
    Attempt::Retry {
        reason: format!("error event in the stream: {kind}: {message}"),
        wait: None,
        rate_limited: matches!(kind, "overloaded_error" | "rate_limit_error" | "429" | "529"),
    }
}

/// What an error body says, in any of the shapes servers use: `{"error": {"type", "message"}}`
/// (Anthropic, OpenAI, llama.cpp, OpenRouter), `{"error": "text"}` (Ollama's own), or
/// `{"object": "error", "message"}` (vLLM).
pub fn error_message(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    match v.get("error") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(e) => {
            let message = e.get("message").and_then(text)?;
            let kind = e.get("type").and_then(text).filter(|k| !k.is_empty());
            Some(match kind {
                Some(k) => format!("{k}: {message}"),
                None => message,
            })
        }
        None => {
            let message = v.get("message").and_then(text)?;
            Some(match v.get("type").and_then(text) {
                Some(k) => format!("{k}: {message}"),
                None => message,
            })
        }
    }
}

pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_every_shape_are_read() {
        let anthropic = r#"{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}"#;
        assert_eq!(error_message(anthropic).as_deref(), Some("invalid_request_error: bad"));
        let openai = r#"{"error":{"message":"no such model","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#;
        assert_eq!(error_message(openai).as_deref(), Some("invalid_request_error: no such model"));
        let openrouter = r#"{"error":{"code":402,"message":"Insufficient credits"}}"#;
        assert_eq!(error_message(openrouter).as_deref(), Some("Insufficient credits"));
        let ollama = r#"{"error":"model \"qwen3\" not found, try pulling it first"}"#;
        assert_eq!(error_message(ollama).as_deref(), Some("model \"qwen3\" not found, try pulling it first"));
        let vllm = r#"{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":404}"#;
        assert_eq!(error_message(vllm).as_deref(), Some("NotFoundError: The model `x` does not exist."));
        assert_eq!(error_message("<html>Bad Gateway</html>"), None);
    }
}
