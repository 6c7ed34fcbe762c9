//! Pacing by the server's own word: each reply's `anthropic-ratelimit-*` headers say how many
//! requests and input tokens are left in the window and when it resets. A request that would go
//! past them waits for the reset first, so the limit is met before a 429 rather than after. A
//! server that sends no such headers is not paced.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

/// What the last reply said was left, and until when.
#[derive(Debug, Default)]
struct Left {
    requests: Option<(u64, Instant)>,
    input_tokens: Option<(u64, Instant)>,
}

/// Shared by every request of a backend (its sessions one after the other).
#[derive(Debug, Default)]
pub struct Pacer {
    left: Mutex<Left>,
}

/// When an RFC 3339 reset time comes, as an instant; now if it is past.
fn reset_at(value: &str) -> Option<Instant> {
    let at: jiff::Timestamp = value.trim().parse().ok()?;
    let ahead = at.duration_since(jiff::Timestamp::now());
    let ahead = Duration::try_from(ahead).unwrap_or(Duration::ZERO);
    Some(Instant::now() + ahead)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn limit(headers: &HeaderMap, kind: &str) -> Option<(u64, Instant)> {
    let remaining = header(headers, &format!("anthropic-ratelimit-{kind}-remaining"))?.trim().parse().ok()?;
    let reset = reset_at(&header(headers, &format!("anthropic-ratelimit-{kind}-reset"))?)?;
    Some((remaining, reset))
}

impl Pacer {
    /// Takes a reply's headers.
    pub fn observe(&self, headers: &HeaderMap) {
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = limit(headers, "requests") {
            left.requests = Some(r);
        }
        if let Some(t) = limit(headers, "input-tokens").or_else(|| limit(headers, "tokens")) {
            left.input_tokens = Some(t);
        }
    }

    /// How long a request of about `tokens` input tokens should wait, and why; `None` to go now.
    /// The wait is counted as spent: the next request does not wait for the same reset again.
    pub fn wait(&self, tokens: u64) -> Option<(Duration, String)> {
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let mut wait: Option<(Duration, String)> = None;
        let mut take = |w: Duration, why: String| {
            if wait.as_ref().is_none_or(|(d, _)| w > *d) {
                wait = Some((w, why));
            }
        };
        if let Some((0, reset)) = left.requests
            && reset > now
        {
            take(reset - now, "no request is left in the API's rate-limit window".into());
        }
        if let Some((n, reset)) = left.input_tokens
            && n < tokens
            && reset > now
        {
            take(reset - now, format!("{n} input tokens are left in the window, and the request needs about {tokens}"));
        }
        if wait.is_some() {
            *left = Left::default();
        }
        // A little past the reset, for clocks that disagree.
        wait.map(|(d, why)| (d + Duration::from_millis(50), why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn waits_for_the_reset_when_nothing_is_left_and_not_otherwise() {
        let p = Pacer::default();
        let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_millis(800)).to_string();
        p.observe(&headers(&[
            ("anthropic-ratelimit-requests-remaining", "1".into()),
            ("anthropic-ratelimit-requests-reset", soon.clone()),
        ]));
        assert_eq!(p.wait(10), None);
        p.observe(&headers(&[
            ("anthropic-ratelimit-requests-remaining", "0".into()),
            ("anthropic-ratelimit-requests-reset", soon.clone()),
            ("anthropic-ratelimit-input-tokens-remaining", "100".into()),
            ("anthropic-ratelimit-input-tokens-reset", soon),
        ]));
        let (wait, why) = p.wait(10).unwrap();
        assert!(wait > Duration::from_millis(500) && wait < Duration::from_millis(1000), "{wait:?}");
        assert!(why.contains("no request is left"), "{why}");
        assert_eq!(p.wait(10), None, "one wait per reset");
    }

    #[test]
    fn too_few_tokens_left_waits_too() {
        let p = Pacer::default();
        let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_millis(500)).to_string();
        p.observe(&headers(&[
            ("anthropic-ratelimit-input-tokens-remaining", "100".into()),
            ("anthropic-ratelimit-input-tokens-reset", soon),
        ]));
        assert_eq!(p.wait(50), None);
        assert!(p.wait(500).unwrap().1.contains("100 input tokens are left"));
    }
}
