//! The scripted model's rate limits: the `anthropic-ratelimit-*` headers an API key's replies carry
//! (a window of requests and input tokens, a request past it answered 429), and the unified
//! headers a subscription's replies carry (its usage limit: allowed, nearly used up, rejected).

use std::time::{Duration, Instant};

use super::scenario::{RateLimits, UsageHeaders};

/// Unix seconds `seconds` from now.
fn unix_in(seconds: f64) -> i64 {
    (jiff::Timestamp::now().as_millisecond() as f64 / 1000.0 + seconds).ceil() as i64
}

/// The unified headers of a subscription's usage limit.
pub fn unified(status: &str, kind: &str, reset_in: f64, utilization: Option<f64>) -> String {
    let reset = unix_in(reset_in);
    let mut h = format!(
        "anthropic-ratelimit-unified-status: {status}\r\nanthropic-ratelimit-unified-reset: {reset}\r\nanthropic-ratelimit-unified-representative-claim: {kind}\r\n"
    );
    if let Some(u) = utilization {
        let claim = match kind {
            "seven_day" => "7d",
            _ => "5h",
        };
        h.push_str(&format!(
            "anthropic-ratelimit-unified-{claim}-utilization: {u}\r\nanthropic-ratelimit-unified-{claim}-reset: {reset}\r\n"
        ));
        if status == "allowed_warning" {
            h.push_str(&format!("anthropic-ratelimit-unified-{claim}-surpassed-threshold: {u}\r\n"));
        }
    }
    h
}

/// A turn's usage headers.
pub fn usage_headers(u: &UsageHeaders) -> String {
    unified(&u.status, &u.limit, u.reset_in, Some(u.utilization))
}

/// One window of the API's request and token limits.
#[derive(Debug)]
pub struct Window {
    limits: RateLimits,
    started: Instant,
    requests: u32,
    tokens: u64,
    /// Requests answered 429 because they came past the limit.
    pub throttled: u32,
}

impl Window {
    pub fn new(limits: RateLimits) -> Self {
        Window { limits, started: Instant::now(), requests: 0, tokens: 0, throttled: 0 }
    }

    fn length(&self) -> Duration {
        Duration::from_secs_f64(self.limits.window_seconds.max(0.001))
    }

    /// Takes a request of `tokens` input tokens: the headers to answer with, or the seconds to
    /// wait when it comes past the limit (answered 429).
    pub fn admit(&mut self, tokens: u64) -> Result<String, f64> {
        if self.started.elapsed() >= self.length() {
            self.started = Instant::now();
            self.requests = 0;
            self.tokens = 0;
        }
        let reset_in = self.length().saturating_sub(self.started.elapsed()).as_secs_f64();
        let over_tokens = self.limits.input_tokens > 0 && self.tokens + tokens > self.limits.input_tokens;
        if self.requests >= self.limits.requests || over_tokens {
            self.throttled += 1;
            return Err(reset_in);
        }
        self.requests += 1;
        self.tokens += tokens;
        let reset = jiff::Timestamp::from_millisecond(
            jiff::Timestamp::now().as_millisecond() + (reset_in * 1000.0).ceil() as i64,
        )
        .map(|t| t.to_string())
        .unwrap_or_default();
        let mut h = format!(
            "anthropic-ratelimit-requests-limit: {}\r\nanthropic-ratelimit-requests-remaining: {}\r\nanthropic-ratelimit-requests-reset: {reset}\r\n",
            self.limits.requests,
            self.limits.requests - self.requests
        );
        if self.limits.input_tokens > 0 {
            h.push_str(&format!(
                "anthropic-ratelimit-input-tokens-limit: {}\r\nanthropic-ratelimit-input-tokens-remaining: {}\r\nanthropic-ratelimit-input-tokens-reset: {reset}\r\n",
                self.limits.input_tokens,
                self.limits.input_tokens - self.tokens
            ));
        }
        Ok(h)
    }
}
