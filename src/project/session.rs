//! The words the journal records sessions in: kind, outcome, verdict, usage.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// The first session: turns the spec into the feature list, `init.sh` and notes.
    Initializer,
    /// Every later session: one feature, tested, committed, with notes.
    Coding,
    /// A fresh, read-only session that re-tests what a coding session marked passing.
    Evaluator,
}

/// How a session ended, decided by baton from what it saw, never taken on the agent's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    MaxTurns,
    TimedOut,
    Interrupted,
    RateLimited,
    ApiError,
    AgentCrashed,
    NoProgress,
    /// An initializer that ended without writing the feature list: the run cannot go on from it.
    NoFeatureList,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pending,
    Approved,
    AutoApproved,
    Vetoed,
}

/// Tokens a session used, as the API counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    /// Model turns whose server said nothing of the tokens they used: the counts above leave them
    /// out, and they are "unknown", never zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub unreported_turns: u32,
    /// Model turns whose cost is not in the session's cost: no price for the model in `[prices]`
    /// and none from the server, or no tokens to price. The cost is then "price unknown", never $0.
    #[serde(skip_serializing_if = "is_zero")]
    pub unpriced_turns: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_creation_input_tokens += other.cache_creation_input_tokens;
        self.cache_read_input_tokens += other.cache_read_input_tokens;
        self.unreported_turns += other.unreported_turns;
        self.unpriced_turns += other.unpriced_turns;
    }

    /// Whether every turn's cost is counted.
    pub fn priced(&self) -> bool {
        self.unpriced_turns == 0
    }
}

/// A cost as people read it: `$0.42`; "price unknown" when nothing of it could be priced, and
/// `$0.42 + price unknown` when part of it could not, never a $0 that is not one.
pub fn dollars(cost_usd: f64, price_unknown: bool) -> String {
    match (price_unknown, cost_usd > 0.0) {
        (false, _) => format!("${cost_usd:.2}"),
        (true, false) => "price unknown".to_owned(),
        (true, true) => format!("${cost_usd:.2} + price unknown"),
    }
}

/// Token counts as people read them (`fmt` writes one count): "unknown" when the server reported
/// none of them, `≥N` when it reported some.
pub fn tokens(n: u64, usage: &Usage, fmt: impl Fn(u64) -> String) -> String {
    match (usage.unreported_turns, n) {
        (0, n) => fmt(n),
        (_, 0) => "unknown".to_owned(),
        (_, n) => format!("≥{}", fmt(n)),
    }
}

/// The snake_case name serde gives a unit variant, for display.
fn serde_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

macro_rules! display_as_serde_name {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(&serde_name(self))
            }
        }
    )*};
}

display_as_serde_name!(SessionKind, Outcome, Verdict);

impl Outcome {
    /// The outcome in words, for people (the journal, JSON and `Display` keep the snake_case name).
    pub fn words(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::MaxTurns => "hit the turn limit",
            Outcome::TimedOut => "timed out",
            Outcome::Interrupted => "interrupted",
            Outcome::RateLimited => "rate limited",
            Outcome::ApiError => "API error",
            Outcome::AgentCrashed => "agent crashed",
            Outcome::NoProgress => "no progress",
            Outcome::NoFeatureList => "no feature list",
        }
    }
}

impl Verdict {
    /// The verdict in words, for people.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Pending => "pending",
            Verdict::Approved => "approved",
            Verdict::AutoApproved => "auto-approved",
            Verdict::Vetoed => "vetoed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_price_is_never_shown_as_zero() {
        let priced = Usage { input_tokens: 10, ..Usage::default() };
        assert_eq!(dollars(0.0, !priced.priced()), "$0.00");
        let unpriced = Usage { unpriced_turns: 2, unreported_turns: 1, ..priced };
        assert_eq!(dollars(0.0, !unpriced.priced()), "price unknown");
        assert_eq!(dollars(0.5, true), "$0.50 + price unknown");
        let mut total = priced;
        total.add(&unpriced);
        assert!(!total.priced());
        assert_eq!(tokens(10, &priced, |n| n.to_string()), "10");
        assert_eq!(tokens(0, &unpriced, |n| n.to_string()), "unknown");
        assert_eq!(tokens(10, &unpriced, |n| n.to_string()), "≥10");
        let json = serde_json::to_value(priced).unwrap();
        assert!(json.get("unpriced_turns").is_none(), "a priced usage reads as before: {json}");
    }

    #[test]
    fn names_are_the_ones_design_uses() {
        assert_eq!(Outcome::NoProgress.to_string(), "no_progress");
        assert_eq!(Verdict::AutoApproved.to_string(), "auto_approved");
        assert_eq!(SessionKind::Initializer.to_string(), "initializer");
    }
}

/// Where a usage limit stands, in the API's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitStatus {
    Allowed,
    /// Nearly used up.
    AllowedWarning,
    /// Reached (or the server throttles: then the limit has no kind and no reset).
    Rejected,
    /// A word a newer CLI uses.
    #[serde(other)]
    Other,
}

/// The state of a subscription's usage limit, as the API reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageLimit {
    pub status: LimitStatus,
    /// When the limit resets (Unix seconds), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<i64>,
    /// `five_hour`, `seven_day`, `seven_day_opus`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// How much of the limit is used, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization: Option<f64>,
}

impl UsageLimit {
    /// A reached limit of `kind`, resetting at `resets_at`.
    pub fn reached(resets_at: Option<i64>, kind: Option<String>) -> Self {
        UsageLimit { status: LimitStatus::Rejected, resets_at, kind, utilization: None }
    }

    /// The plan's limit reached, as opposed to throttling: rejected, with a reset or a kind.
    pub fn is_plan_limit(&self) -> bool {
        self.status == LimitStatus::Rejected && (self.resets_at.is_some() || self.kind.is_some())
    }

    /// The limit's name as a person says it: "five-hour limit".
    pub fn name(kind: Option<&str>) -> String {
        match kind {
            Some("five_hour") => "five-hour limit".into(),
            Some("seven_day") => "weekly limit".into(),
            Some("seven_day_opus") => "weekly Opus limit".into(),
            Some("seven_day_sonnet") => "weekly Sonnet limit".into(),
            Some(k) if !k.is_empty() => format!("{} limit", k.replace('_', " ")),
            _ => "usage limit".into(),
        }
    }
}
