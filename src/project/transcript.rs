//! What a session's transcript (`.baton/sessions/NNNN.jsonl`, one agent event a line) tells once
//! the session is over: the tokens, cost, turns and time it used (for a session baton stopped
//! mid-way, whose end was never recorded), and what the policy and the sandbox refused. Read by
//! meaning, line by line; a line that does not parse is skipped.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;

use super::session::Usage;

/// What a session used, as its transcript records it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    pub usage: Usage,
    pub cost_usd: f64,
    /// Model turns (each reports its usage once).
    pub turns: u32,
    /// From its first line to its last.
    pub duration: Duration,
}

#[derive(Deserialize)]
struct Line {
    at: Option<Timestamp>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    cost_usd: Option<f64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    input: Option<serde_json::Value>,
}

fn lines(path: &Path) -> Vec<Line> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// The usage, cost, turns and time the transcript at `path` records (nothing for a missing file).
pub fn spent(path: &Path) -> Spent {
    let lines = lines(path);
    let mut spent = Spent::default();
    for l in lines.iter().filter(|l| l.kind == "usage") {
        if let Some(u) = &l.usage {
            spent.usage.add(u);
        }
        spent.cost_usd += l.cost_usd.unwrap_or(0.0);
        spent.turns += 1;
    }
    let first = lines.iter().find_map(|l| l.at);
    let last = lines.iter().rev().find_map(|l| l.at);
    if let (Some(a), Some(b)) = (first, last) {
        spent.duration = Duration::try_from(b.duration_since(a)).unwrap_or_default();
    }
    spent
}

/// What the policy refused and the sandbox denied in the session, one line each: the call and
/// why ("`curl -s https://…`: `curl` is not on the allowlist").
pub fn refusals(path: &Path) -> Vec<String> {
    let lines = lines(path);
    let call = |id: &Option<String>| {
        lines.iter().find(|l| l.kind == "tool_call" && l.id.is_some() && l.id == *id).map(|l| {
            match l.input.as_ref().and_then(|i| i.get("command")).and_then(|c| c.as_str()) {
                Some(c) => c.to_owned(),
                None => l.name.clone().unwrap_or_default(),
            }
        })
    };
    lines
        .iter()
        .filter_map(|l| {
            let who = match l.kind.as_str() {
                "policy_denied" => "refused by the policy",
                "sandbox_denied" => "denied by the sandbox",
                _ => return None,
            };
            let what = call(&l.id).or_else(|| l.name.clone()).unwrap_or_default();
            Some(format!("`{what}` {who}: {}", l.reason.as_deref().unwrap_or("")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_cost_turns_and_time_add_up_and_refusals_name_the_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0003.jsonl");
        let text = [
            r#"{"at":"2025-01-01T10:00:00Z","type":"prompt","text":"go"}"#,
            r#"{"at":"2025-01-01T10:00:05Z","type":"usage","usage":{"input_tokens":100,"output_tokens":20},"cost_usd":0.01}"#,
            r#"{"at":"2025-01-01T10:00:06Z","type":"tool_call","id":"t1","name":"bash","input":{"command":"curl -s x"}}"#,
            r#"{"at":"2025-01-01T10:00:06Z","type":"policy_denied","id":"t1","name":"bash","reason":"`curl` is not on the allowlist"}"#,
            "not json at all",
            r#"{"at":"2025-01-01T10:01:30Z","type":"usage","usage":{"input_tokens":50,"output_tokens":5,"cache_read_input_tokens":7},"cost_usd":0.02}"#,
        ]
        .join("\n");
        std::fs::write(&path, text).unwrap();
        let s = spent(&path);
        assert_eq!((s.usage.input_tokens, s.usage.output_tokens, s.usage.cache_read_input_tokens), (150, 25, 7));
        assert!((s.cost_usd - 0.03).abs() < 1e-9);
        assert_eq!((s.turns, s.duration), (2, Duration::from_secs(90)));
        assert_eq!(refusals(&path), ["`curl -s x` refused by the policy: `curl` is not on the allowlist"]);
        assert_eq!(spent(&dir.path().join("none.jsonl")), Spent::default());
    }
}
