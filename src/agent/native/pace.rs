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

/// Shared by every request of a backend (its sessions one after the other), and, given the
/// account's ledger, by every loop on the same API key (`crate::fleet::account`).
#[derive(Debug, Default)]
pub struct Pacer {
    left: Mutex<Left>,
    shared: Option<crate::fleet::account::Ledger>,
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
    /// A pacer whose windows are the account's, kept in `ledger` with the other loops on it.
    pub fn shared(ledger: crate::fleet::account::Ledger) -> Pacer {
        Pacer { shared: Some(ledger), ..Pacer::default() }
    }

    /// Takes a reply's headers.
    pub fn observe(&self, headers: &HeaderMap) {
        if let Some(ledger) = &self.shared {
            return share(ledger, headers);
        }
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
        if let Some(ledger) = &self.shared {
            return wait_shared(ledger, tokens);
        }
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

/// What a reply says is left of a window, in Unix milliseconds.
fn left_now(headers: &HeaderMap, kind: &str) -> Option<crate::fleet::account::Left> {
    let remaining = header(headers, &format!("anthropic-ratelimit-{kind}-remaining"))?.trim().parse().ok()?;
    let at: jiff::Timestamp = header(headers, &format!("anthropic-ratelimit-{kind}-reset"))?.trim().parse().ok()?;
    Some(crate::fleet::account::Left { remaining, reset_ms: at.as_millisecond() })
}

/// Puts what a reply says is left into the account's ledger. In the window the ledger knows, the
/// smaller count stands: other loops' requests may be on their way (their places are taken).
fn share(ledger: &crate::fleet::account::Ledger, headers: &HeaderMap) {
    use crate::fleet::account::Left;
    let merge = |known: &mut Option<Left>, heard: Option<Left>| {
        let Some(heard) = heard else { return };
        *known = Some(match *known {
            // The same window (its reset a moment apart): the smaller count.
            Some(k) if (heard.reset_ms - k.reset_ms).abs() < 500 => {
                Left { remaining: k.remaining.min(heard.remaining), ..k }
            }
            _ => heard,
        });
    };
    let requests = left_now(headers, "requests");
    let tokens = left_now(headers, "input-tokens").or_else(|| left_now(headers, "tokens"));
    if let Err(e) = ledger.update(|s| {
        merge(&mut s.pace.requests, requests);
        merge(&mut s.pace.input_tokens, tokens);
    }) {
        tracing::warn!("cannot share the API's rate limits in {}: {e}", ledger.path().display());
    }
}

/// [`Pacer::wait`] on the account's ledger: a request that goes takes its place in the window
/// there, so loops on one key never send more together than the window holds.
fn wait_shared(ledger: &crate::fleet::account::Ledger, tokens: u64) -> Option<(Duration, String)> {
    let now = jiff::Timestamp::now().as_millisecond();
    let mut wait: Option<(i64, String)> = None;
    let mut take = |ms: i64, why: String| {
        if wait.as_ref().is_none_or(|(w, _)| ms > *w) {
            wait = Some((ms, why));
        }
    };
    let updated = ledger.update(|s| {
        let p = &mut s.pace;
        if let Some(r) = p.requests.as_mut().filter(|r| r.reset_ms > now) {
            match r.remaining {
                0 => take(r.reset_ms - now, "no request is left in the API's rate-limit window".into()),
                _ => r.remaining -= 1,
            }
        }
        if let Some(t) = p.input_tokens.as_mut().filter(|t| t.reset_ms > now) {
            if t.remaining < tokens {
                let why = format!(
                    "{} input tokens are left in the window, and the request needs about {tokens}",
                    t.remaining
                );
                take(t.reset_ms - now, why);
            } else {
                t.remaining -= tokens;
            }
        }
    });
    if let Err(e) = updated {
        tracing::warn!("cannot read the API's rate limits in {}: {e}", ledger.path().display());
    }
    wait.map(|(ms, why)| (Duration::from_millis(ms.max(0) as u64) + Duration::from_millis(50), why))
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
