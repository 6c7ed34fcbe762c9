//! A small client for the Messages API: one streamed request, sent again when the failure is a
//! passing one (429, 529, 5xx, a broken connection, an `error` event, a stream cut short), with
//! every retry reported and bounded.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::stream::{Assembler, Delta, Message, StreamFault};

pub const API_VERSION: &str = "2023-06-01";
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

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
    /// Refused (400, 401, ...), or failing on every attempt for other reasons.
    Api {
        status: Option<u16>,
        message: String,
    },
}

/// What the caller hears while a request runs.
pub enum Progress {
    Delta(Delta),
    Retry {
        reason: String,
        attempt: u32,
        wait: Duration,
    },
    /// The request waits for the API's rate-limit window to reset, as its last reply said.
    Paced {
        reason: String,
        wait: Duration,
    },
}

enum Attempt {
    Retry { reason: String, wait: Option<Duration>, rate_limited: bool },
    Fatal(RequestError),
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    pub retry: RetryPolicy,
    /// What the API's replies said is left of its rate limits, shared by every request.
    pacer: std::sync::Arc<super::pace::Pacer>,
}

impl Client {
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, reqwest::Error> {
        // reqwest is built without a default TLS crypto provider; ring is ours.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(600))
            .build()?;
        Ok(Client {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            retry: RetryPolicy::default(),
            pacer: Default::default(),
        })
    }

    /// Paces this client's requests together with every other loop's on the same key, through
    /// the account's ledger in the fleet's state directory `dirs`.
    pub fn share_pacing(&mut self, dirs: &crate::fleet::Dirs) {
        let account = crate::fleet::account::Account::of_api_key(&self.base_url, &self.api_key);
        let ledger = crate::fleet::account::Ledger::new(dirs, &account);
        self.pacer = std::sync::Arc::new(super::pace::Pacer::shared(ledger));
    }

    /// Sends `body` (a Messages API request with `stream: true`) until it gives a whole message or
    /// fails for good.
    pub async fn message(
        &self,
        body: &Value,
        cancel: &CancellationToken,
        mut progress: impl FnMut(Progress),
    ) -> Result<Message, RequestError> {
        let mut attempt = 1;
        loop {
            // About four bytes a token: the request's input, to weigh against what is left.
            let tokens = body.to_string().len() as u64 / 4;
            if let Some((wait, reason)) = self.pacer.wait(tokens) {
                progress(Progress::Paced { reason, wait });
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => return Err(RequestError::Cancelled),
                }
            }
            let outcome = tokio::select! {
                r = self.attempt(body, &mut progress) => r,
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
            tracing::warn!(attempt, ?wait, "retrying the Messages API request: {reason}");
            progress(Progress::Retry { reason, attempt, wait });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => return Err(RequestError::Cancelled),
            }
            attempt += 1;
        }
    }

    async fn attempt(&self, body: &Value, progress: &mut impl FnMut(Progress)) -> Result<Message, Attempt> {
        let response = self
            .http
            .post(format!("{}/v1/messages", self.base_url))
            .header("x-api-key", &self.api_key)
            .header("anthropic-version", API_VERSION)
            .header("content-type", "application/json")
            .json(body)
            .send()
            .await
            .map_err(|e| Attempt::Retry {
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
            let message = api_message(&text).unwrap_or_else(|| format!("HTTP {status}"));
            return Err(match status {
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
        let mut assembler = Assembler::default();
        while let Some(event) = events.next().await {
            let event = event.map_err(|e| Attempt::Retry {
                reason: format!("the stream broke: {e}"),
                wait: None,
                rate_limited: false,
            })?;
            match assembler.feed(&event.data) {
                Ok(Some(delta)) => progress(Progress::Delta(delta)),
                Ok(None) => {}
                Err(StreamFault::ErrorEvent(kind, message)) => {
                    let fatal =
                        matches!(kind.as_str(), "invalid_request_error" | "authentication_error" | "permission_error");
                    return Err(if fatal {
                        Attempt::Fatal(RequestError::Api { status: None, message: format!("{kind}: {message}") })
                    } else {
                        Attempt::Retry {
                            reason: format!("error event in the stream: {kind}: {message}"),
                            wait: None,
                            rate_limited: kind == "overloaded_error" || kind == "rate_limit_error",
                        }
                    });
                }
                Err(StreamFault::Malformed(m)) => {
                    return Err(Attempt::Retry {
                        reason: format!("malformed event: {m}"),
                        wait: None,
                        rate_limited: false,
                    });
                }
            }
            if assembler.is_done() {
                return Ok(assembler.into_message());
            }
        }
        Err(Attempt::Retry { reason: "the stream ended before message_stop".into(), wait: None, rate_limited: false })
    }
}

/// The `error.message` of an API error body.
fn api_message(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let e = v.get("error")?;
    let kind = e.get("type").and_then(Value::as_str).unwrap_or("error");
    let message = e.get("message").and_then(Value::as_str)?;
    Some(format!("{kind}: {message}"))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
