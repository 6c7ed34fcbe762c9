//! The `claude-code` backend: each session is a headless `claude -p` process whose stream-json
//! output becomes baton's [`AgentEvent`]s. baton's policy runs inside it as a PreToolUse hook
//! (`baton hook pre-tool-use`), given with `--settings`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::mpsc::UnboundedSender;

use super::{AgentEvent, Backend, EndReason, SessionEnd, SessionRequest};
use crate::project::config::{self, Price};
use crate::project::session::Usage;

/// Tools a session may use without asking (there is nobody to ask in `-p` mode); baton's hook
/// still decides every call.
pub const ALLOWED_TOOLS: &[&str] =
    &["Bash", "Read", "Write", "Edit", "MultiEdit", "NotebookEdit", "Glob", "Grep", "LS", "TodoWrite", "Task"];

/// Marks a refusal by baton's hook, so the backend can tell it from other tool errors.
pub const REFUSAL_PREFIX: &str = "Refused by baton's policy: ";

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "cannot find the `claude` CLI ({tried}). Install it with `npm install -g @anthropic-ai/claude-code`, or point --claude-bin, BATON_CLAUDE_BIN or [agent] claude_bin in .baton/config.toml at it"
    )]
    NotFound { tried: String },
    #[error("cannot tell where baton itself is, for the policy hook: {0}")]
    NoSelf(std::io::Error),
}

/// Finds the `claude` binary: the command line's choice, then `BATON_CLAUDE_BIN`, then the
/// config, then `PATH`.
pub fn find_claude(flag: Option<&Path>, config_bin: &str) -> Result<PathBuf, SetupError> {
    let env = std::env::var_os("BATON_CLAUDE_BIN").filter(|v| !v.is_empty()).map(PathBuf::from);
    let configured = (!config_bin.is_empty()).then(|| PathBuf::from(config_bin));
    let mut tried = Vec::new();
    for (source, candidate) in
        [("--claude-bin", flag.map(Path::to_owned)), ("BATON_CLAUDE_BIN", env), ("config", configured)]
    {
        if let Some(c) = candidate {
            if is_executable(&c) {
                return Ok(c);
            }
            tried.push(format!("{source} {} is not an executable file", c.display()));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let c = dir.join("claude");
            if is_executable(&c) {
                return Ok(c);
            }
        }
    }
    tried.push("no `claude` on PATH".into());
    Err(SetupError::NotFound { tried: tried.join("; ") })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

pub struct ClaudeCodeBackend {
    claude: PathBuf,
    /// baton itself, for the hook command.
    baton: PathBuf,
    model: String,
    price: Option<Price>,
    /// The project's settings, for its MCP servers and its sandbox.
    config: config::Config,
    /// The hook confines the CLI's Bash commands (`[sandbox] mode = "on"`).
    sandboxed: bool,
    /// The sandbox's network is off: the session's commands share a loopback of their own.
    network_off: bool,
    /// How long an interrupted `claude` gets between SIGINT, SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Environment for `claude` on top of baton's own (which passes through).
    env: Vec<(String, String)>,
}

impl ClaudeCodeBackend {
    pub fn new(claude: PathBuf, config: &config::Config) -> Result<Self, SetupError> {
        let baton = std::env::current_exe().map_err(SetupError::NoSelf)?;
        Ok(ClaudeCodeBackend {
            claude,
            baton,
            model: config.agent.model.clone(),
            sandboxed: config.sandbox.mode == config::SandboxMode::On,
            network_off: config.sandbox.network == config::Network::Off,
            price: config.price(&config.agent.model),
            config: config.clone(),
            grace: Duration::from_secs(3),
            env: Vec::new(),
        })
    }

    /// Sets variables for the `claude` process (tests point it at a scripted model this way).
    pub fn with_env(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env.extend(vars);
        self
    }

    /// Uses `baton` as the hook command instead of the running executable (tests run the
    /// library from a test binary).
    pub fn with_baton(mut self, baton: PathBuf) -> Self {
        self.baton = baton;
        self
    }

    /// The `--settings` JSON: baton's policy as a PreToolUse hook on every tool.
    pub fn settings(&self, workdir: &Path) -> Value {
        let command = format!(
            "{} -C {} hook pre-tool-use",
            crate::sandbox::shell_quote(&self.baton.to_string_lossy()),
            crate::sandbox::shell_quote(&workdir.to_string_lossy())
        );
        json!({"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": command, "timeout": 30}]}]}})
    }

    fn command(&self, req: &SessionRequest, mcp: Option<&(PathBuf, Vec<String>)>) -> tokio::process::Command {
        let mut allowed: Vec<String> = ALLOWED_TOOLS.iter().map(|s| s.to_string()).collect();
        allowed.extend(self.config.agent.mcp_tools.iter().cloned());
        allowed.extend(mcp.iter().flat_map(|(_, tools)| tools.iter().cloned()));
        let mut cmd = tokio::process::Command::new(&self.claude);
        cmd.arg("-p")
            .args(["--output-format", "stream-json", "--verbose", "--include-partial-messages"])
            .args(["--input-format", "stream-json"])
            .args(["--model", &self.model])
            .args(["--max-turns", &req.limits.max_turns.to_string()])
            .args(["--allowedTools", &allowed.join(",")])
            .args(["--permission-mode", "acceptEdits"])
            .args(["--settings", &self.settings(&req.workdir).to_string()]);
        if let Some((path, _)) = mcp {
            cmd.arg("--mcp-config").arg(path).arg("--strict-mcp-config");
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        // The CLI's commands inherit the mark, and so does baton's hook, which compares them.
        cmd.env(super::policy::procs::SESSION_ENV, &req.session);
        cmd.current_dir(&req.workdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        cmd
    }
}

impl ClaudeCodeBackend {
    /// The project's MCP servers for the CLI (`--mcp-config`, and only those; with the tools to
    /// let through to the hook), started as baton's
    /// own agent starts them: inside the session's sandbox, on its loopback. The hook decides on
    /// each call (`[policy] mcp_allow`, `mcp_deny`).
    fn mcp(
        &self,
        req: &SessionRequest,
        tmp: &Path,
        net: Option<&crate::sandbox::SessionNet>,
    ) -> Result<Option<(PathBuf, Vec<String>)>, String> {
        let servers = self.config.mcp_servers(&req.workdir).map_err(|e| e.to_string())?;
        if servers.is_empty() {
            return Ok(None);
        }
        let profile = match self.sandboxed {
            true => crate::sandbox::Profile::new(&req.workdir, &self.config.sandbox, tmp)
                .map_err(|e| e.to_string())?
                .map(|p| p.with_net(net.map(|n| n.pid())).with_record(req.sandbox_record.clone())),
            false => None,
        };
        let mark = [(super::policy::procs::SESSION_ENV.to_owned(), req.session.clone())];
        let config = super::mcp::claude_config(&servers, profile.as_ref(), &mark);
        let path = tmp.join("mcp.json");
        std::fs::write(&path, config.to_string()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(Some((path, servers.iter().map(|s| format!("mcp__{}", s.name)).collect())))
    }
}

fn signal_group(pgid: i32, sig: libc::c_int) {
    if pgid > 0 {
        // SAFETY: sends a signal to a process group we started; no memory effects.
        unsafe {
            libc::killpg(pgid, sig);
        }
    }
}

/// Folds the CLI's stream-json into events and, at the end, into how the session ended.
#[derive(Debug, Default)]
pub struct StreamParser {
    /// Message ids whose text arrived as partial stream events (not repeated from `assistant`).
    streamed: std::collections::HashSet<String>,
    current_message: Option<String>,
    /// Whether the current message's text came as partial events (then `assistant` repeats it).
    current_streamed: bool,
    /// Events of a line read the slow way, handed out by `line_into`.
    pending: Vec<AgentEvent>,
    /// Tool names by id, to name a refused call.
    tool_names: std::collections::HashMap<String, String>,
    turn_usage: Usage,
    /// Replies the model ended at the output token limit (the CLI goes on after them).
    cut_replies: u32,
    /// Whether the model ended a reply with `stop_reason: refusal`.
    refused: bool,
    pub result: Option<Value>,
    pub saw_anything: bool,
    /// The CLI's Bash commands run in baton's sandbox: their failures are read for its marks.
    pub sandboxed: bool,
    /// Where the session's images are saved.
    pub artifacts: Option<PathBuf>,
}

fn usage_of(v: &Value) -> Usage {
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n("input_tokens"),
        output_tokens: n("output_tokens"),
        cache_creation_input_tokens: n("cache_creation_input_tokens"),
        cache_read_input_tokens: n("cache_read_input_tokens"),
    }
}

fn text_of_result(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

impl StreamParser {
    /// A tool result's text; its images (a browser's screenshots) are saved with the session and
    /// named in it.
    fn result_text(&self, content: &Value) -> String {
        let mut text = text_of_result(content);
        let images: Vec<(String, String)> = content
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["type"] == "image")
            .map(|p| {
                let source = &p["source"];
                let media = source["media_type"].as_str().unwrap_or("image/png").to_owned();
                (media, source["data"].as_str().unwrap_or("").to_owned())
            })
            .collect();
        if images.is_empty() {
            return text;
        }
        match &self.artifacts {
            Some(dir) => {
                for (i, saved) in super::mcp::save_images(dir, &images).into_iter().enumerate() {
                    match saved {
                        Ok(path) => text.push_str(&format!("\n[image saved: {}]", path.display())),
                        Err(e) => text.push_str(&format!("\n[image {} not saved: {e}]", i + 1)),
                    }
                }
            }
            None => text.push_str(&format!("\n[{} not saved]", crate::words::count(images.len() as u64, "image"))),
        }
        text
    }

    /// Marks a refused call: by baton's policy (the hook's refusal), or, for a confined Bash
    /// command that failed the sandbox's way, by the sandbox.
    fn denials(&self, id: &str, output: &str, is_error: bool, out: &mut Vec<AgentEvent>) {
        if !is_error {
            return;
        }
        let name = self.tool_names.get(id).cloned().unwrap_or_default();
        if let Some(i) = output.find(REFUSAL_PREFIX) {
            let reason = output[i + REFUSAL_PREFIX.len()..].trim().to_owned();
            out.push(AgentEvent::PolicyDenied { id: id.to_owned(), name, reason });
        } else if self.sandboxed
            && name == "Bash"
            && let Some(reason) = crate::sandbox::denial(output)
        {
            out.push(AgentEvent::SandboxDenied { id: id.to_owned(), reason });
        }
    }

    /// One line of the stream. Unknown types and lines that are not JSON are skipped.
    pub fn line(&mut self, line: &str, price: Option<Price>) -> Vec<AgentEvent> {
        let mut out = Vec::new();
        self.line_into(line, price, &mut out);
        out
    }

    /// Like [`StreamParser::line`], appending to `out` (no allocation for lines that say nothing).
    /// Consecutive text (or thinking) deltas are joined into one event: a burst of small deltas
    /// read together costs one event, not one each.
    pub fn line_into(&mut self, line: &str, price: Option<Price>, out: &mut Vec<AgentEvent>) {
        match (self.parse_line(line, price), out.last_mut()) {
            (Some(AgentEvent::TextDelta { text }), Some(AgentEvent::TextDelta { text: last })) => last.push_str(&text),
            (Some(AgentEvent::ThinkingDelta { text }), Some(AgentEvent::ThinkingDelta { text: last })) => {
                last.push_str(&text)
            }
            (Some(event), _) => out.push(event),
            (None, _) => {}
        }
        out.append(&mut self.pending);
    }

    fn parse_line(&mut self, line: &str, price: Option<Price>) -> Option<AgentEvent> {
        // Most lines carry at most one event: the common ones are answered without a Vec.
        if let Some(rest) = line.strip_prefix("{\"type\":\"stream_event\",\"event\":") {
            let mut de = serde_json::Deserializer::from_str(rest);
            if let Ok(event) = <fast::StreamEvent as serde::Deserialize>::deserialize(&mut de) {
                self.saw_anything = true;
                return self.stream_event(event, price);
            }
        }
        // Status lines ("requesting", ...) say nothing baton shows: skipped unread.
        if line.starts_with("{\"type\":\"system\",\"subtype\":\"status\"") {
            self.saw_anything = true;
            return None;
        }
        // Messages likewise: `message` comes first, and what follows it (a `user` line repeats the
        // whole tool output in `tool_use_result`) is left unread.
        for kind in ["assistant", "user"] {
            let prefix =
                if kind == "user" { "{\"type\":\"user\",\"message\":" } else { "{\"type\":\"assistant\",\"message\":" };
            if let Some(rest) = line.strip_prefix(prefix) {
                let mut de = serde_json::Deserializer::from_str(rest);
                if let Ok(message) = <fast::MessageBody as serde::Deserialize>::deserialize(&mut de) {
                    self.saw_anything = true;
                    let events = self.message_line(fast::MessageLine { kind, message });
                    self.pending.extend(events);
                    return None;
                }
            }
        }
        let events = self.slow_line(line, price);
        self.pending.extend(events);
        None
    }

    fn slow_line(&mut self, line: &str, price: Option<Price>) -> Vec<AgentEvent> {
        // Partial-message events are read into borrowed, typed fields (no tree of values, no
        // copies of what is skipped), and so are messages; anything else as a JSON value.
        if line.starts_with("{\"type\":\"stream_event\"")
            && let Ok(l) = serde_json::from_str::<fast::StreamLine>(line)
        {
            self.saw_anything = true;
            return self.stream_event(l.event, price).into_iter().collect();
        }
        if (line.starts_with("{\"type\":\"assistant\"") || line.starts_with("{\"type\":\"user\""))
            && let Ok(l) = serde_json::from_str::<fast::MessageLine>(line)
        {
            self.saw_anything = true;
            return self.message_line(l);
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            if !line.trim().is_empty() {
                tracing::debug!(
                    "claude-code: skipping a line that is not JSON: {}",
                    line.chars().take(200).collect::<String>()
                );
            }
            return Vec::new();
        };
        self.saw_anything = true;
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let mut out = Vec::new();
        match (v["type"].as_str().unwrap_or(""), v["subtype"].as_str().unwrap_or("")) {
            ("system", "init") => out.push(AgentEvent::Started {
                model: s(&v, "model"),
                session_id: v["session_id"].as_str().map(str::to_owned),
            }),
            ("system", "api_retry") => {
                let status = v["error_status"].as_u64().map(|n| format!(" ({n})")).unwrap_or_default();
                let error = v
                    .get("error")
                    .map(|e| e.as_str().map(str::to_owned).unwrap_or_else(|| e.to_string()))
                    .unwrap_or_default();
                out.push(AgentEvent::Retry {
                    reason: format!("the API failed{status}: {error}").trim_end_matches(": ").to_owned(),
                    attempt: v["attempt"].as_u64().unwrap_or(0) as u32,
                    wait_ms: v["retry_delay_ms"].as_f64().unwrap_or(0.0).round() as u64,
                })
            }
            ("rate_limit_event", _) => {
                let info = &v["rate_limit_info"];
                let status = info["status"].as_str().unwrap_or("");
                if status != "allowed" {
                    out.push(AgentEvent::Notice {
                        text: format!(
                            "rate limit: {}",
                            if status.is_empty() { info.to_string() } else { status.to_owned() }
                        ),
                    });
                }
            }
            ("stream_event", _) => {
                // Rare (the fast path reads these): through text again, to share the typed reader.
                let text = v.to_string();
                if let Ok(l) = serde_json::from_str::<fast::StreamLine>(&text) {
                    out.extend(self.stream_event(l.event, price));
                }
            }
            ("assistant", _) => {
                let m = &v["message"];
                let id = s(m, "id");
                for block in m["content"].as_array().into_iter().flatten() {
                    match block["type"].as_str().unwrap_or("") {
                        "text" if !self.streamed.contains(&id) => {
                            out.push(AgentEvent::TextDelta { text: s(block, "text") })
                        }
                        "thinking" if !self.streamed.contains(&id) => {
                            out.push(AgentEvent::ThinkingDelta { text: s(block, "thinking") })
                        }
                        "tool_use" => {
                            let (tid, name) = (s(block, "id"), s(block, "name"));
                            self.tool_names.insert(tid.clone(), name.clone());
                            out.push(AgentEvent::ToolCall { id: tid, name, input: block["input"].clone() });
                        }
                        _ => {}
                    }
                }
            }
            ("user", _) => {
                for block in v["message"]["content"].as_array().into_iter().flatten() {
                    if block["type"] != "tool_result" {
                        continue;
                    }
                    let id = s(block, "tool_use_id");
                    let output = self.result_text(&block["content"]);
                    let is_error = block["is_error"].as_bool().unwrap_or(false);
                    self.denials(&id, &output, is_error, &mut out);
                    out.push(AgentEvent::ToolResult { id, output, is_error });
                }
            }
            ("result", _) => self.result = Some(v),
            (t, st) => tracing::debug!("claude-code: skipping a `{t}`/`{st}` line"),
        }
        out
    }

    /// An `assistant` line (tool calls, and text not already streamed) or a `user` line (tool
    /// results).
    fn message_line(&mut self, l: fast::MessageLine<'_>) -> Vec<AgentEvent> {
        let mut out = Vec::new();
        let id = l.message.id.as_deref().unwrap_or("");
        let streamed = self.streamed.contains(id);
        for b in l.message.content {
            match (l.kind, b.kind) {
                ("assistant", "text") if !streamed => {
                    out.push(AgentEvent::TextDelta { text: b.text.unwrap_or_default().into_owned() })
                }
                ("assistant", "thinking") if !streamed => {
                    out.push(AgentEvent::ThinkingDelta { text: b.thinking.unwrap_or_default().into_owned() })
                }
                ("assistant", "tool_use") => {
                    let tid = b.id.unwrap_or_default().into_owned();
                    let name = b.name.unwrap_or_default().into_owned();
                    self.tool_names.insert(tid.clone(), name.clone());
                    out.push(AgentEvent::ToolCall { id: tid, name, input: b.input.unwrap_or(Value::Null) });
                }
                ("user", "tool_result") => {
                    let id = b.tool_use_id.unwrap_or_default().into_owned();
                    let output = match b.content {
                        Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
                            Ok(v) => self.result_text(&v),
                            Err(_) => String::new(),
                        },
                        None => String::new(),
                    };
                    let is_error = b.is_error.unwrap_or(false);
                    self.denials(&id, &output, is_error, &mut out);
                    out.push(AgentEvent::ToolResult { id, output, is_error });
                }
                _ => {}
            }
        }
        out
    }

    fn stream_event(&mut self, e: fast::StreamEvent<'_>, price: Option<Price>) -> Option<AgentEvent> {
        match e.kind {
            "message_start" => {
                if let Some(m) = e.message {
                    self.current_message = Some(m.id.into_owned());
                    self.current_streamed = false;
                    self.turn_usage = m.usage.map(fast::UsageLite::usage).unwrap_or_default();
                }
                None
            }
            "content_block_delta" => {
                let d = e.delta?;
                let event = match (d.kind, d.text, d.thinking) {
                    ("text_delta", Some(t), _) => AgentEvent::TextDelta { text: t.into_owned() },
                    ("thinking_delta", _, Some(t)) => AgentEvent::ThinkingDelta { text: t.into_owned() },
                    _ => return None,
                };
                if !self.current_streamed {
                    self.current_streamed = true;
                    self.streamed.insert(self.current_message.clone().unwrap_or_default());
                }
                Some(event)
            }
            "message_delta" => {
                if let Some(n) = e.usage.and_then(|u| u.output_tokens) {
                    self.turn_usage.output_tokens = n;
                }
                match e.delta.and_then(|d| d.stop_reason)? {
                    "max_tokens" => {
                        self.cut_replies += 1;
                        Some(AgentEvent::Notice {
                            text: "the reply was cut at the output token limit (stop_reason: max_tokens)".into(),
                        })
                    }
                    "refusal" => {
                        self.refused = true;
                        Some(AgentEvent::Notice { text: crate::agent::REFUSAL_NOTICE.into() })
                    }
                    _ => None,
                }
            }
            "message_stop" => {
                let u = std::mem::take(&mut self.turn_usage);
                Some(AgentEvent::Usage { usage: u, cost_usd: cost(price, &u) })
            }
            _ => None,
        }
    }

    /// How the session ended, decided from what was seen (an API failure arrives as
    /// `subtype: success` with `is_error: true`; no result at all means the process crashed).
    pub fn end(&self, stderr_tail: &str) -> (EndReason, Usage, f64, u32) {
        let (reason, usage, cost, turns) = self.end_of_result(stderr_tail);
        // A refusal ends the CLI's session as an error with the CLI's words: it is the model's.
        let refused = self.refused || self.result.as_ref().is_some_and(|r| r["stop_reason"] == "refusal");
        let reason = match reason {
            EndReason::ApiError { .. } | EndReason::Completed if refused => EndReason::Refused,
            r => r,
        };
        (reason, usage, cost, turns)
    }

    /// The notes for the session's record: replies cut at the output token limit.
    pub fn notes(&self) -> Vec<String> {
        crate::agent::cut_notes(self.cut_replies)
    }

    fn end_of_result(&self, stderr_tail: &str) -> (EndReason, Usage, f64, u32) {
        let Some(r) = &self.result else {
            let message = if stderr_tail.trim().is_empty() {
                "claude exited without a result".to_owned()
            } else {
                format!("claude exited without a result: {}", stderr_tail.trim())
            };
            return (EndReason::Crashed { message }, Usage::default(), 0.0, 0);
        };
        let usage = usage_of(&r["usage"]);
        let cost = r["total_cost_usd"].as_f64().unwrap_or(0.0);
        let turns = r["num_turns"].as_u64().unwrap_or(0) as u32;
        let is_error = r["is_error"].as_bool().unwrap_or(false);
        let subtype = r["subtype"].as_str().unwrap_or("");
        let status = r["api_error_status"].as_u64().map(|s| s as u16);
        let message = r["result"].as_str().map(str::to_owned).unwrap_or_else(|| {
            r["errors"]
                .as_array()
                .map(|e| e.iter().map(|x| x.as_str().unwrap_or("").to_owned()).collect::<Vec<_>>().join("; "))
                .unwrap_or_default()
        });
        let reason = match (subtype, is_error, status) {
            ("error_max_turns", _, _) => EndReason::MaxTurns,
            // After an overload the CLI can end so with `is_error: false`: the API failed.
            ("error_during_execution", _, Some(429 | 529)) => EndReason::RateLimited { message },
            ("error_during_execution", _, _) if message.contains("verloaded") || message.contains("rate limit") => {
                EndReason::RateLimited { message }
            }
            ("error_during_execution", _, status) => EndReason::ApiError {
                status,
                message: if message.is_empty() { "the CLI ended with error_during_execution".into() } else { message },
            },
            (_, true, Some(429 | 529)) => EndReason::RateLimited { message },
            (_, true, status) if status.is_some() || subtype == "success" => EndReason::ApiError { status, message },
            (_, true, _) => EndReason::Crashed { message: format!("{subtype}: {message}") },
            _ => EndReason::Completed,
        };
        (reason, usage, cost, turns)
    }
}

fn cost(price: Option<Price>, u: &Usage) -> f64 {
    price.map_or(0.0, |p| p.cost(u))
}

impl Backend for ClaudeCodeBackend {
    fn name(&self) -> &'static str {
        "claude-code"
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn run(&self, req: SessionRequest, events: UnboundedSender<AgentEvent>) -> BoxFuture<'_, SessionEnd> {
        Box::pin(async move {
            let crashed = |message: String| SessionEnd {
                reason: EndReason::Crashed { message },
                usage: Usage::default(),
                cost_usd: 0.0,
                turns: 0,
                notes: Vec::new(),
            };
            // The session's own temporary directory: the CLI's commands get it as TMPDIR, and the
            // hook confines them to it (with the project).
            let tmp = match tempfile::Builder::new().prefix("baton-session-").tempdir() {
                Ok(t) => t,
                Err(e) => return crashed(format!("cannot make the session's temporary directory: {e}")),
            };
            // One loopback for the session's commands: the hook has them join it.
            let net = match self.sandboxed && self.network_off {
                true => match crate::sandbox::SessionNet::start() {
                    Ok(n) => Some(n),
                    Err(e) => return crashed(e.to_string()),
                },
                false => None,
            };
            let mcp = match self.mcp(&req, tmp.path(), net.as_ref()) {
                Ok(m) => m,
                Err(e) => {
                    let _ = events.send(AgentEvent::Notice { text: format!("no MCP servers this session: {e}") });
                    None
                }
            };
            let mut command = self.command(&req, mcp.as_ref());
            command.env("TMPDIR", tmp.path());
            if let Some(net) = &net {
                command.env(crate::sandbox::NET_ENV, net.pid().to_string());
            }
            if let Some(record) = &req.sandbox_record {
                command.env(crate::sandbox::RECORD_ENV, record);
            }
            let mut child = match command.spawn() {
                Ok(c) => c,
                Err(e) => return crashed(format!("cannot start {}: {e}", self.claude.display())),
            };
            let pgid = child.id().map_or(0, |id| id as i32);
            if let Some(path) = &req.pid_file {
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let _ = std::fs::write(path, format!("{pgid}\n"));
            }
            // The prompt goes in as one stream-json user message; closing stdin ends the input.
            if let Some(mut stdin) = child.stdin.take() {
                use tokio::io::AsyncWriteExt;
                let msg = json!({"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": req.prompt}]}});
                let _ = stdin.write_all(format!("{msg}\n").as_bytes()).await;
                drop(stdin);
            }
            let Some(stdout) = child.stdout.take() else { return crashed("no stdout from claude".into()) };
            let stderr = child.stderr.take();
            let stderr_task = tokio::spawn(async move {
                let mut buf = Vec::new();
                if let Some(mut e) = stderr {
                    let _ = e.read_to_end(&mut buf).await;
                }
                let text = String::from_utf8_lossy(&buf).into_owned();
                let start = text.len().saturating_sub(2000);
                text[text.floor_char_boundary(start)..].to_owned()
            });
            let mut raw = None;
            let mut lines = BufReader::new(stdout).lines();
            let mut parser =
                StreamParser { sandboxed: self.sandboxed, artifacts: req.artifacts.clone(), ..StreamParser::default() };
            let mut batch = Vec::new();
            let deadline = tokio::time::sleep(req.limits.wall_time);
            tokio::pin!(deadline);
            let stopped = loop {
                tokio::select! {
                    line = lines.next_line() => match line {
                        Ok(Some(first)) => {
                            // Whole lines already read from the pipe go together, so a burst of
                            // text deltas becomes one event.
                            let mut line = Some(first);
                            while let Some(l) = line.take() {
                                if let Some(path) = &req.raw_log {
                                    raw = raw.or_else(|| {
                                        let _ = path.parent().map(std::fs::create_dir_all);
                                        std::fs::File::create(path).ok()
                                    });
                                    if let Some(f) = raw.as_mut() {
                                        use std::io::Write;
                                        let _ = writeln!(f, "{}", crate::project::secrets::global().redact(&l));
                                    }
                                }
                                parser.line_into(&l, self.price, &mut batch);
                                if lines.get_ref().buffer().contains(&b'\n')
                                    && let Ok(Some(next)) = lines.next_line().await
                                {
                                    line = Some(next);
                                }
                            }
                            for ev in batch.drain(..) {
                                let _ = events.send(ev);
                            }
                        }
                        Ok(None) | Err(_) => break None,
                    },
                    _ = &mut deadline => break Some(EndReason::TimedOut),
                    _ = req.cancel.cancelled() => break Some(EndReason::Cancelled),
                }
            };
            if stopped.is_some() {
                // SIGINT lets claude stop cleanly; then SIGTERM, then SIGKILL.
                for sig in [libc::SIGINT, libc::SIGTERM] {
                    signal_group(pgid, sig);
                    if tokio::time::timeout(self.grace, child.wait()).await.is_ok() {
                        break;
                    }
                }
            }
            // Whatever is left of the group (the CLI's own children) goes too.
            signal_group(pgid, libc::SIGKILL);
            let _ = child.wait().await;
            if let Some(path) = &req.pid_file {
                let _ = std::fs::remove_file(path);
            }
            let stderr_tail = stderr_task.await.unwrap_or_default();
            let (reason, usage, cost_usd, turns) = parser.end(&stderr_tail);
            SessionEnd { reason: stopped.unwrap_or(reason), usage, cost_usd, turns, notes: parser.notes() }
        })
    }
}

/// `baton hook pre-tool-use`: reads Claude Code's hook input on stdin and answers with a denial
/// when baton's policy refuses the call (nothing, for an allowed one: Claude Code's own
/// permissions then apply).
pub fn pre_tool_use_hook(input: &str, project_root: Option<&Path>) -> Option<Value> {
    let deny = |reason: String| {
        json!({"hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": format!("{REFUSAL_PREFIX}{reason}"),
        }})
    };
    let v: Value = match serde_json::from_str(input) {
        Ok(v) => v,
        Err(e) => return Some(deny(format!("baton's hook could not read its input ({e})"))),
    };
    let cwd = v["cwd"].as_str().filter(|c| !c.is_empty()).map(PathBuf::from);
    let Some(root) = project_root.map(Path::to_owned).or_else(|| cwd.clone()) else {
        return Some(deny(
            "baton's hook was given no project (no `-C DIR` and no `cwd` in its input), so it has nothing to confine the agent to"
                .into(),
        ));
    };
    let config = match config::Config::load(&root) {
        Ok(c) => c,
        Err(e) => return Some(deny(format!("baton cannot read its config: {e}"))),
    };
    let policy = super::policy::Policy::new(&root, &config);
    let cwd = cwd.unwrap_or_else(|| root.clone());
    let tool = v["tool_name"].as_str().unwrap_or("");
    match policy.check_tool_in(tool, &v["tool_input"], &cwd) {
        super::policy::Decision::Deny(reason) => Some(deny(reason)),
        super::policy::Decision::Allow if tool == "Bash" => {
            // The command runs, inside baton's sandbox: the hook hands the CLI the confined form.
            let tmp = std::env::var_os("TMPDIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
            match crate::sandbox::Profile::new(&root, &config.sandbox, &tmp) {
                Ok(None) => None,
                Err(e) => Some(deny(e.to_string())),
                Ok(Some(profile)) => {
                    let net = std::env::var(crate::sandbox::NET_ENV).ok().and_then(|p| p.parse().ok());
                    let profile = profile
                        .with_record(std::env::var_os(crate::sandbox::RECORD_ENV).map(PathBuf::from))
                        .with_net(net);
                    let mut input = v["tool_input"].clone();
                    let command = input["command"].as_str().unwrap_or("").to_owned();
                    input["command"] = Value::String(profile.shell_line(&command));
                    Some(json!({"hookSpecificOutput": {
                        "hookEventName": "PreToolUse",
                        "permissionDecision": "allow",
                        "permissionDecisionReason": "baton's policy allows it; it runs in baton's sandbox",
                        "updatedInput": input,
                    }}))
                }
            }
        }
        super::policy::Decision::Allow => None,
    }
}

/// Typed, borrowed views of the `stream_event` lines, which are most of a session's stream.
mod fast {
    use std::borrow::Cow;

    use serde::Deserialize;

    use crate::project::session::Usage;

    #[derive(Deserialize)]
    pub struct StreamLine<'a> {
        #[serde(borrow)]
        pub event: StreamEvent<'a>,
    }

    #[derive(Deserialize)]
    pub struct StreamEvent<'a> {
        #[serde(rename = "type", borrow)]
        pub kind: &'a str,
        #[serde(default, borrow)]
        pub delta: Option<Delta<'a>>,
        #[serde(default, borrow)]
        pub message: Option<Message<'a>>,
        #[serde(default)]
        pub usage: Option<UsageLite>,
    }

    #[derive(Deserialize)]
    pub struct Delta<'a> {
        /// A `message_delta`'s delta has no type (it holds the stop reason): then empty.
        #[serde(rename = "type", default, borrow)]
        pub kind: &'a str,
        #[serde(default, borrow)]
        pub text: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub thinking: Option<Cow<'a, str>>,
        /// A `message_delta`'s: why the reply ended.
        #[serde(default, borrow)]
        pub stop_reason: Option<&'a str>,
    }

    #[derive(Deserialize)]
    pub struct Message<'a> {
        #[serde(default, borrow)]
        pub id: Cow<'a, str>,
        #[serde(default)]
        pub usage: Option<UsageLite>,
    }

    #[derive(Deserialize)]
    pub struct MessageLine<'a> {
        #[serde(rename = "type", borrow)]
        pub kind: &'a str,
        #[serde(borrow)]
        pub message: MessageBody<'a>,
    }

    #[derive(Deserialize)]
    pub struct MessageBody<'a> {
        #[serde(default, borrow)]
        pub id: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub content: Vec<Block<'a>>,
    }

    #[derive(Deserialize)]
    pub struct Block<'a> {
        #[serde(rename = "type", borrow)]
        pub kind: &'a str,
        #[serde(default, borrow)]
        pub text: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub thinking: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub id: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub name: Option<Cow<'a, str>>,
        #[serde(default)]
        pub input: Option<serde_json::Value>,
        #[serde(default, borrow)]
        pub tool_use_id: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub content: Option<&'a serde_json::value::RawValue>,
        #[serde(default)]
        pub is_error: Option<bool>,
    }

    #[derive(Deserialize, Clone, Copy, Default)]
    pub struct UsageLite {
        #[serde(default)]
        pub input_tokens: Option<u64>,
        #[serde(default)]
        pub output_tokens: Option<u64>,
        #[serde(default)]
        pub cache_creation_input_tokens: Option<u64>,
        #[serde(default)]
        pub cache_read_input_tokens: Option<u64>,
    }

    impl UsageLite {
        pub fn usage(self) -> Usage {
            Usage {
                input_tokens: self.input_tokens.unwrap_or(0),
                output_tokens: self.output_tokens.unwrap_or(0),
                cache_creation_input_tokens: self.cache_creation_input_tokens.unwrap_or(0),
                cache_read_input_tokens: self.cache_read_input_tokens.unwrap_or(0),
            }
        }
    }
}
