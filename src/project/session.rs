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
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_creation_input_tokens += other.cache_creation_input_tokens;
        self.cache_read_input_tokens += other.cache_read_input_tokens;
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
