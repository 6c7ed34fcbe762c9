//! Running agent sessions: one trait for every backend, the built-in tools, the policy that decides
//! which tool calls may run, and the scripted model that lets everything run offline. Nothing here
//! touches the terminal: a backend reports what happens as [`AgentEvent`]s.

pub mod anthropic;
pub mod claude_code;
pub mod mcp;
pub mod native;
pub mod openai;
pub mod policy;
pub mod process;
pub mod scripted;
pub mod tools;

use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::project::session::Usage;

/// What a session is asked to do, where, and within which limits.
#[derive(Debug, Clone)]
pub struct SessionRequest {
    pub prompt: String,
    /// The project directory: tools run here and may not reach outside it.
    pub workdir: PathBuf,
    pub limits: Limits,
    /// Cancelled by the operator's interrupt: the session stops at once, its tools killed.
    pub cancel: CancellationToken,
    /// Where the backend notes the process groups it starts, one id a line, so a baton restarted
    /// after being killed can end what the killed one left running.
    pub pid_file: Option<PathBuf>,
    /// Where a backend that drives another program keeps that program's raw output.
    pub raw_log: Option<PathBuf>,
    /// Where the session's files go (the screenshots its browser takes).
    pub artifacts: Option<PathBuf>,
    /// Marks the processes this session starts (in [`policy::procs::SESSION_ENV`]), the only
    /// ones its commands may signal. Unique to the session.
    pub session: String,
    /// The session may read the project and run commands, not change it (the evaluator): no
    /// file-writing tools, a read-only policy, and a sandbox in which the project is read-only.
    pub read_only: bool,
    /// Where calls the policy would put to the operator go; `None` when nobody is asked (a
    /// program off the allowlist is then refused).
    pub asker: Option<Asker>,
}

pub use crate::project::journal::Answer;
pub use crate::project::session::{LimitStatus, UsageLimit};

/// A tool call the policy puts to the operator; the answer goes back on `reply`.
#[derive(Debug)]
pub struct Question {
    pub tool: String,
    /// The call as the agent made it.
    pub input: serde_json::Value,
    /// The programs the allowlist lacks.
    pub programs: Vec<String>,
    pub reply: tokio::sync::oneshot::Sender<Answer>,
}

/// Where a session's questions go: the loop, which puts them to the operator.
pub type Asker = UnboundedSender<Question>;

/// Puts a call to the operator through `asker` and waits for the answer; a denial when the
/// session is cancelled meanwhile or the question could not be put.
pub async fn ask(
    asker: &Asker,
    tool: &str,
    input: &serde_json::Value,
    programs: &[String],
    cancel: &CancellationToken,
) -> Answer {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let question = Question { tool: tool.to_owned(), input: input.clone(), programs: programs.to_vec(), reply };
    if asker.send(question).is_err() {
        return Answer::Deny { message: "nobody could be asked, so it did not run".into() };
    }
    tokio::select! {
        a = answer => a.unwrap_or(Answer::Deny { message: "the question went unanswered".into() }),
        _ = cancel.cancelled() => Answer::Deny { message: "the session was interrupted".into() },
    }
}

impl SessionRequest {
    pub fn new(
        prompt: impl Into<String>,
        workdir: impl Into<PathBuf>,
        limits: Limits,
        cancel: CancellationToken,
    ) -> Self {
        let session = format!("{}.{:016x}", std::process::id(), fastrand::u64(..));
        SessionRequest {
            prompt: prompt.into(),
            workdir: workdir.into(),
            limits,
            cancel,
            pid_file: None,
            raw_log: None,
            artifacts: None,
            session,
            read_only: false,
            asker: None,
        }
    }
}

/// Kills the process groups listed in `pid_file` (left by a baton that was killed) and removes it.
pub fn kill_recorded_groups(pid_file: &std::path::Path) {
    if let Ok(text) = std::fs::read_to_string(pid_file) {
        for pgid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            process::kill_group(pgid);
        }
    }
    let _ = std::fs::remove_file(pid_file);
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_turns: u32,
    pub wall_time: Duration,
}

/// What a backend reports while a session runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// The prompt the session was given (written by the harness at the top of a transcript).
    Prompt {
        text: String,
    },
    Started {
        model: String,
        session_id: Option<String>,
    },
    TextDelta {
        text: String,
    },
    ThinkingDelta {
        text: String,
    },
    ToolCall {
        id: String,
        name: String,
        input: serde_json::Value,
    },
    ToolResult {
        id: String,
        output: String,
        is_error: bool,
    },
    /// The policy refused a tool call; the refusal went back to the model as an error result.
    PolicyDenied {
        id: String,
        name: String,
        reason: String,
    },
    /// A command ran and failed the way baton's sandbox makes commands fail (a write outside the
    /// writable paths, a connection with the network off): what it said.
    SandboxDenied {
        id: String,
        reason: String,
    },
    /// One model turn's usage and cost.
    Usage {
        usage: Usage,
        cost_usd: f64,
    },
    /// A request failed for a passing reason and will be sent again after `wait`.
    Retry {
        reason: String,
        attempt: u32,
        wait_ms: u64,
    },
    /// A message from the backend itself (not the model), such as a fatal API error.
    Notice {
        text: String,
    },
    /// What the API says of the account's usage limits (the CLI's `rate_limit_event`).
    Limit {
        limit: UsageLimit,
    },
}

/// The argument of a tool call that says the most about it (the command, the file, the pattern),
/// for a one-line summary, whichever backend's tool names it uses.
pub fn key_argument(input: &serde_json::Value) -> String {
    ["command", "file_path", "path", "pattern", "url", "element", "description"]
        .iter()
        .find_map(|k| input.get(*k).and_then(|v| v.as_str()))
        .map(str::to_owned)
        .unwrap_or_else(
            || if input.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { input.to_string() },
        )
}

/// How a session ended, as the backend saw it. The harness decides the outcome from this and from
/// what the session did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum EndReason {
    /// The model ended its turn with nothing more to do.
    Completed,
    /// The model hit its output limit and stopped.
    MaxTokens,
    MaxTurns,
    TimedOut,
    Cancelled,
    /// Rate limited or overloaded beyond the retry budget: the server throttles, and a later
    /// try goes through.
    RateLimited {
        message: String,
    },
    /// The subscription's usage limit is reached: nothing goes through until it resets.
    UsageLimit {
        message: String,
        /// Unix seconds, when known.
        resets_at: Option<i64>,
        kind: Option<String>,
    },
    /// The API refused the request (bad key, bad request) or kept failing.
    ApiError {
        status: Option<u16>,
        message: String,
    },
    /// The agent process died without saying how it ended.
    Crashed {
        message: String,
    },
    /// The model declined to go on (`stop_reason: refusal`).
    Refused,
}

impl EndReason {
    /// The plan's usage limit that ended the session, when one did.
    pub fn usage_limit(&self) -> Option<UsageLimit> {
        match self {
            EndReason::UsageLimit { resets_at, kind, .. } => Some(UsageLimit::reached(*resets_at, kind.clone())),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEnd {
    pub reason: EndReason,
    pub usage: Usage,
    pub cost_usd: f64,
    pub turns: u32,
    /// What the session's record should also say (turns cut at the output token limit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The session record's note for `n` replies cut at the output token limit (none for zero).
pub fn cut_notes(n: u32) -> Vec<String> {
    match n {
        0 => Vec::new(),
        1 => vec!["1 reply was cut at the output token limit".to_owned()],
        n => vec![format!("{n} replies were cut at the output token limit")],
    }
}

/// What the transcript says when the model refuses to go on.
pub const REFUSAL_NOTICE: &str = "the model refused to go on (stop_reason: refusal)";

/// A way of running an agent session.
pub trait Backend: Send + Sync {
    /// `anthropic`, `claude-code`, ...
    fn name(&self) -> &'static str;
    fn model(&self) -> &str;
    /// Runs one session to its end, reporting what happens on `events`.
    fn run(&self, request: SessionRequest, events: UnboundedSender<AgentEvent>) -> BoxFuture<'_, SessionEnd>;
}
