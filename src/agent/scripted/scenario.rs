//! A scenario for the scripted model: assistant turns (text, thinking, tool calls), faults to inject
//! before a turn, and how to choose the next turn from the tool results the client sends back. The
//! choice is a pure function of the conversation, so a re-sent request gets the same turn and a
//! scenario plays sensibly whatever happened before.

use std::collections::BTreeMap;
use std::path::Path;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read the scenario {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pace {
    /// Characters of text (or of tool input JSON) per streamed delta.
    pub chunk_chars: usize,
    /// Pause between deltas.
    pub delay_ms: u64,
}

impl Default for Pace {
    fn default() -> Self {
        Pace { chunk_chars: 24, delay_ms: 0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 with `retry-after` when given.
    RateLimit,
    /// 529 overloaded.
    Overloaded,
    /// 500.
    ServerError,
    /// 400 invalid request: not worth retrying.
    BadRequest,
    /// 401: not worth retrying.
    Unauthorized,
    /// The stream starts, then the connection closes before `message_stop`.
    StreamCut,
    /// The stream starts, then carries an `error` event (overloaded).
    ErrorEvent,
    /// 429 for a plan's usage limit, as the API answers a subscription: the unified rate-limit
    /// headers say `rejected`, the limit's kind (`limit`) and its reset (`reset_in` seconds ahead).
    UsageLimit,
    /// The connection is reset before any response.
    Reset,
    /// 400: the conversation is longer than the model's context window, in the profile's words.
    ContextOverflow,
    /// 400: a tool call went back without its result, in the API's words.
    UnansweredToolCall,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub kind: FaultKind,
    /// Seconds, sent as the `retry-after` header.
    pub retry_after: Option<f64>,
    /// How many requests for this turn get the fault before one goes through.
    #[serde(default = "one")]
    pub times: u32,
    /// `usage_limit`: seconds from now to the limit's reset.
    #[serde(default)]
    pub reset_in: Option<f64>,
    /// `usage_limit`: the limit's kind (`five_hour`, `seven_day`, ...).
    #[serde(default)]
    pub limit: Option<String>,
}

/// What a turn's reply says of the account's usage limit (the unified rate-limit headers a
/// subscription's replies carry).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageHeaders {
    /// `allowed`, `allowed_warning` or `rejected`.
    pub status: String,
    /// 0 to 1.
    pub utilization: f64,
    /// Seconds from now to the reset.
    pub reset_in: f64,
    #[serde(default = "five_hour")]
    pub limit: String,
}

fn five_hour() -> String {
    "five_hour".into()
}

/// The API's request and token limits, as an API key's replies report them in the
/// `anthropic-ratelimit-*` headers: a request past them gets a 429.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Requests a window allows.
    pub requests: u32,
    /// Input tokens a window allows; 0 for no limit.
    #[serde(default)]
    pub input_tokens: u64,
    /// The window's length.
    pub window_seconds: f64,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolUse {
    pub name: String,
    pub input: toml::Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    /// A regex over the tool results of the turn; named groups become variables (`{{name}}`).
    #[serde(default)]
    pub when: Option<String>,
    pub goto: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    pub id: String,
    /// A regex over the first user message: a conversation whose prompt matches starts here.
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub thinking: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub tools: Vec<ToolUse>,
    /// Tried in order after this turn's tools ran; none matching means the turn after this one.
    #[serde(default)]
    pub next: Vec<Branch>,
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Overrides the stop reason (`tool_use` with tools, else `end_turn`).
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// The usage-limit headers this turn's reply carries.
    #[serde(default)]
    pub usage: Option<UsageHeaders>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    /// Which server it plays.
    #[serde(default)]
    profile: super::profile::Profile,
    #[serde(default)]
    quirks: super::profile::Quirks,
    /// The models the server has; empty, any name is taken.
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    pace: Pace,
    #[serde(default)]
    rate_limits: Option<RateLimits>,
    #[serde(rename = "turns")]
    turns: Vec<Turn>,
}

/// A loaded, checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub profile: super::profile::Profile,
    pub quirks: super::profile::Quirks,
    pub models: Vec<String>,
    pub pace: Pace,
    pub rate_limits: Option<RateLimits>,
    pub turns: Vec<Turn>,
    starts: Vec<(usize, Regex)>,
    branches: Vec<Vec<(Option<Regex>, usize)>>,
}

/// Variables captured from tool results, for `{{name}}` in later turns.
pub type Vars = BTreeMap<String, String>;

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ScenarioError::Read { path: path.display().to_string(), source })?;
        Self::parse(&path.display().to_string(), &text)
    }

    pub fn parse(path: &str, text: &str) -> Result<Self, ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid { path: path.to_owned(), message };
        let file: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let index_of = |id: &str| file.turns.iter().position(|t| t.id == id);
        let regex =
            |turn: &str, re: &str| Regex::new(re).map_err(|e| invalid(format!("turn `{turn}`: bad regex: {e}")));
        let mut starts = Vec::new();
        let mut branches = Vec::new();
        for (i, t) in file.turns.iter().enumerate() {
            if index_of(&t.id) != Some(i) {
                return Err(invalid(format!("two turns are called `{}`", t.id)));
            }
            if let Some(s) = &t.start {
                starts.push((i, regex(&t.id, s)?));
            }
            let mut bs = Vec::new();
            for b in &t.next {
                let target = index_of(&b.goto)
                    .ok_or_else(|| invalid(format!("turn `{}` goes to `{}`, which no turn is called", t.id, b.goto)))?;
                bs.push((b.when.as_deref().map(|w| regex(&t.id, w)).transpose()?, target));
            }
            branches.push(bs);
        }
        if starts.is_empty() {
            return Err(invalid("no turn has `start`, so no conversation can begin".into()));
        }
        for r in &file.quirks.refuse {
            if !["cache_control", "thinking", "stream_options", "max_tokens", "tools"].contains(&r.as_str()) {
                return Err(invalid(format!("quirks: the server cannot refuse `{r}`")));
            }
        }
        Ok(Scenario {
            name: file.name,
            profile: file.profile,
            quirks: file.quirks,
            models: file.models,
            pace: file.pace,
            rate_limits: file.rate_limits,
            turns: file.turns,
            starts,
            branches,
        })
    }

    /// The turn to play for a Messages API request, with the variables captured on the way; `None`
    /// when the scenario has nothing for this conversation.
    pub fn plan(&self, request: &Value) -> Option<(usize, Vars)> {
        let messages = request.get("messages")?.as_array()?;
        let first = messages.first().map(text_of).unwrap_or_default();
        let (first_turn, start) = self.starts.iter().find(|(_, re)| re.is_match(&first))?;
        let mut turn = *first_turn;
        let mut vars = Vars::new();
        // Named groups of the start pattern are variables too (which feature a prompt names).
        capture(start, &first, &mut vars);
        let mut i = 0;
        while i < messages.len() {
            if messages[i]["role"] == "assistant" {
                // The results the client sent back for this turn: every user message up to the next
                // assistant message.
                let mut results = String::new();
                let mut j = i + 1;
                while j < messages.len() && messages[j]["role"] != "assistant" {
                    results.push_str(&tool_results_of(&messages[j]));
                    j += 1;
                }
                turn = self.next_after(turn, &results, &mut vars)?;
                i = j;
            } else {
                i += 1;
            }
        }
        Some((turn, vars))
    }

    fn next_after(&self, turn: usize, results: &str, vars: &mut Vars) -> Option<usize> {
        for (when, target) in &self.branches[turn] {
            match when {
                None => return Some(*target),
                Some(re) => {
                    if capture(re, results, vars) {
                        return Some(*target);
                    }
                }
            }
        }
        if self.turns[turn].tools.is_empty() {
            return None; // the conversation ended with this turn
        }
        (turn + 1 < self.turns.len()).then_some(turn + 1)
    }
}

/// Whether `re` matches `text`; its named groups go into `vars` when it does.
fn capture(re: &Regex, text: &str, vars: &mut Vars) -> bool {
    let Some(caps) = re.captures(text) else { return false };
    for name in re.capture_names().flatten() {
        if let Some(m) = caps.name(name) {
            vars.insert(name.to_owned(), m.as_str().to_owned());
        }
    }
    true
}

/// All the text of a message, whether its content is a string or blocks.
pub fn text_of(message: &Value) -> String {
    match &message["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => {
            blocks.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

fn tool_results_of(message: &Value) -> String {
    let Some(blocks) = message["content"].as_array() else {
        return String::new();
    };
    let mut out = String::new();
    for b in blocks.iter().filter(|b| b["type"] == "tool_result") {
        match &b["content"] {
            Value::String(s) => out.push_str(s),
            Value::Array(parts) => {
                for p in parts {
                    out.push_str(p.get("text").and_then(Value::as_str).unwrap_or(""));
                }
            }
            _ => {}
        }
        out.push('\n');
    }
    out
}

/// Replaces `{{name}}` in every string of `value`.
pub fn substitute(value: &Value, vars: &Vars) -> Value {
    match value {
        Value::String(s) => Value::String(substitute_str(s, vars)),
        Value::Array(a) => Value::Array(a.iter().map(|v| substitute(v, vars)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), substitute(v, vars))).collect()),
        other => other.clone(),
    }
}

pub fn substitute_str(s: &str, vars: &Vars) -> String {
    let mut out = s.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCENARIO: &str = r#"
name = "branching"
[[turns]]
id = "look"
start = "^Build"
text = "Looking."
tools = [{ name = "bash", input = { command = "cat feature_list.json" } }]
next = [{ when = 'feature (?P<n>\d+) fails', goto = "fix" }, { goto = "done" }]

[[turns]]
id = "fix"
text = "Fixing feature {{n}}."
tools = [{ name = "bash", input = { command = "echo fix {{n}}" } }]

[[turns]]
id = "done"
text = "All done."
"#;

    fn conversation(results: &[&str]) -> Value {
        let mut messages = vec![json!({"role": "user", "content": "Build it"})];
        for r in results {
            messages.push(json!({"role": "assistant", "content": [{"type": "text", "text": "x"}]}));
            messages
                .push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": r}]}));
        }
        json!({"messages": messages})
    }

    #[test]
    fn the_next_turn_follows_the_tool_results() {
        let s = Scenario::parse("s.toml", SCENARIO).unwrap();
        assert_eq!(s.plan(&conversation(&[])).unwrap().0, 0);
        let (turn, vars) = s.plan(&conversation(&["feature 3 fails"])).unwrap();
        assert_eq!(s.turns[turn].id, "fix");
        assert_eq!(substitute_str(s.turns[turn].text.as_deref().unwrap(), &vars), "Fixing feature 3.");
        assert_eq!(s.turns[s.plan(&conversation(&["all pass"])).unwrap().0].id, "done");
        // After `fix` comes the next turn in the file; after `done` (no tools) nothing.
        assert_eq!(s.turns[s.plan(&conversation(&["feature 3 fails", "ok"])).unwrap().0].id, "done");
        assert!(s.plan(&conversation(&["all pass", "more"])).is_none());
        assert!(s.plan(&json!({"messages": [{"role": "user", "content": "Hello"}]})).is_none());
    }

    #[test]
    fn named_groups_of_the_start_pattern_are_variables() {
        let s = Scenario::parse(
            "s.toml",
            "name = \"x\"\n[[turns]]\nid = \"judge\"\nstart = 'Judge feature (?P<n>\\d+)'\ntext = \"Feature {{n}}.\"\n",
        )
        .unwrap();
        let (turn, vars) = s.plan(&json!({"messages": [{"role": "user", "content": "Judge feature 6 now"}]})).unwrap();
        assert_eq!(substitute_str(s.turns[turn].text.as_deref().unwrap(), &vars), "Feature 6.");
    }

    #[test]
    fn bad_scenarios_are_named() {
        let e = Scenario::parse("s.toml", "name = \"x\"\n[[turns]]\nid = \"a\"\nstart = \"(\"\n").unwrap_err();
        assert!(e.to_string().contains("turn `a`: bad regex"), "{e}");
        let e = Scenario::parse(
            "s.toml",
            "name = \"x\"\n[[turns]]\nid = \"a\"\nstart = \"x\"\nnext = [{ goto = \"b\" }]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("goes to `b`"), "{e}");
    }
}
