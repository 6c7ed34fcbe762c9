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

mod hook;
mod login;
mod parser;

pub use hook::pre_tool_use_hook;
pub use parser::{PermissionRequest, StreamParser, is_result, permission_request};

use super::{AgentEvent, Backend, EndReason, SessionEnd, SessionRequest};
use crate::project::config::{self, Price};
use crate::project::session::Usage;

/// Tools a session may use without asking (there is nobody to ask in `-p` mode); baton's hook
/// still decides every call.
pub const ALLOWED_TOOLS: &[&str] =
    &["Bash", "Read", "Write", "Edit", "MultiEdit", "NotebookEdit", "Glob", "Grep", "LS", "TodoWrite", "Task"];

/// The CLI's tools that change files: a read-only session (the evaluator) goes without them.
pub const WRITING_TOOLS: &[&str] = &["Write", "Edit", "MultiEdit", "NotebookEdit"];

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

    /// The CLI and its arguments for one session.
    fn argv(&self, req: &SessionRequest, mcp: Option<&(PathBuf, Vec<String>)>) -> Vec<std::ffi::OsString> {
        let mut allowed: Vec<String> = ALLOWED_TOOLS
            .iter()
            .filter(|t| !(req.read_only && WRITING_TOOLS.contains(t)))
            .map(|s| s.to_string())
            .collect();
        allowed.extend(self.config.agent.mcp_tools.iter().cloned());
        allowed.extend(mcp.iter().flat_map(|(_, tools)| tools.iter().cloned()));
        let mut argv: Vec<std::ffi::OsString> = vec![self.claude.clone().into()];
        let mut push = |args: &[&str]| argv.extend(args.iter().map(|a| std::ffi::OsString::from(*a)));
        push(&["-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages"]);
        push(&["--input-format", "stream-json"]);
        push(&["--model", &self.model]);
        push(&["--max-turns", &req.limits.max_turns.to_string()]);
        push(&["--allowedTools", &allowed.join(",")]);
        push(&["--permission-mode", "acceptEdits"]);
        push(&["--settings", &self.settings(&req.workdir).to_string()]);
        // No settings file is read: not the project's (an agent can write `.claude/`), not the
        // user's or local ones; baton's own come through --settings. No MCP server but baton's.
        push(&["--setting-sources", "", "--strict-mcp-config"]);
        if req.read_only {
            // The hook refuses them too (it reads READ_ONLY_ENV), and the sandbox holds the tree.
            push(&["--disallowedTools", &WRITING_TOOLS.join(",")]);
        }
        if req.asker.is_some() {
            // A command off the allowlist: the hook answers `ask` (with the confined command),
            // and the CLI puts it to baton on stdio (`can_use_tool`), which puts it to the operator.
            push(&["--permission-prompt-tool", "stdio"]);
        }
        if let Some((path, _)) = mcp {
            argv.push("--mcp-config".into());
            argv.push(path.clone().into());
        }
        argv
    }

    /// The CLI's environment: what it needs to reach the model (see [`login::cli_keeps`]), the
    /// sandbox's allowlist, and what baton was told to give it; never baton's other credentials.
    fn env(&self) -> Vec<(String, String)> {
        let var = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
        let (bedrock, vertex) = (var("CLAUDE_CODE_USE_BEDROCK"), var("CLAUDE_CODE_USE_VERTEX"));
        let mut env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| {
                crate::sandbox::env_allowed(k, &self.config.sandbox.env) || login::cli_keeps(k, bedrock, vertex)
            })
            .collect();
        env.extend(self.env.iter().cloned());
        env
    }
}

impl ClaudeCodeBackend {
    /// One line of the CLI's output, for its permission prompt: a `can_use_tool` request is put
    /// to the operator (the CLI waits; baton goes on reading) and answered on stdin; the
    /// `result` ends the input.
    async fn permission(
        &self,
        line: &str,
        asker: &super::Asker,
        req: &SessionRequest,
        calls: &std::collections::HashMap<String, Value>,
        stdin: &std::sync::Arc<tokio::sync::Mutex<Option<tokio::process::ChildStdin>>>,
    ) {
        if parser::is_result(line) {
            stdin.lock().await.take();
            return;
        }
        let Some(asked) = parser::permission_request(line) else { return };
        let parser::PermissionRequest { id, tool, input: given, tool_use_id } = asked;
        // What the CLI holds is the confined form the hook gave it; the operator sees the call as
        // the agent wrote it.
        let original = tool_use_id.and_then(|t| calls.get(&t)).cloned().unwrap_or_else(|| given.clone());
        let programs =
            match super::policy::Policy::new(&req.workdir, &self.config).asking(true).check_tool(&tool, &original) {
                super::policy::Decision::Ask(p) => p,
                _ => Vec::new(),
            };
        let (asker, cancel, stdin) = (asker.clone(), req.cancel.clone(), stdin.clone());
        tokio::spawn(async move {
            let answer = super::ask(&asker, &tool, &original, &programs, &cancel).await;
            let response = match answer {
                super::Answer::Once | super::Answer::Always => json!({"behavior": "allow", "updatedInput": given}),
                super::Answer::Deny { message } => {
                    json!({"behavior": "deny", "message": format!("{REFUSAL_PREFIX}the operator said no: {message}")})
                }
            };
            let msg = json!({"type": "control_response", "response": {"subtype": "success", "request_id": id, "response": response}});
            if let Some(stdin) = stdin.lock().await.as_mut() {
                use tokio::io::AsyncWriteExt;
                let _ = stdin.write_all(format!("{msg}\n").as_bytes()).await;
                let _ = stdin.flush().await;
            }
        });
    }

    /// The project's MCP servers for the CLI (`--mcp-config`, and only those; with the tools to
    /// let through to the hook), started as baton's
    /// own agent starts them: inside the session's sandbox, on its loopback. The hook decides on
    /// each call (`[policy] mcp_allow`, `mcp_deny`).
    fn mcp(
        &self,
        req: &SessionRequest,
        dir: &Path,
        profile: Option<&crate::sandbox::Profile>,
    ) -> Result<Option<(PathBuf, Vec<String>)>, String> {
        let servers = self.config.mcp_servers(&req.workdir).map_err(|e| e.to_string())?;
        if servers.is_empty() {
            return Ok(None);
        }
        let mark = [(super::policy::procs::SESSION_ENV.to_owned(), req.session.clone())];
        let config = super::mcp::claude_config(&servers, profile, &mark);
        let path = dir.join("mcp.json");
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
            // The CLI's own settings directory, holding a copy of the operator's login.
            let env = self.env();
            let login = match login::Login::seed(&env) {
                Ok(l) => l,
                Err(e) => return crashed(format!("cannot make the CLI's settings directory: {e}")),
            };
            // The session's sandbox: the CLI runs in it, and so does everything it starts.
            // The project's settings as they are now, as the hook reads them for every call.
            let config = config::Config::load(&req.workdir).unwrap_or_else(|_| self.config.clone());
            // The CLI's own program, its MCP servers' and the home it is given stay readable where
            // the session's view covers them (in /tmp).
            let cwd = std::env::current_dir().unwrap_or_default();
            let mut exposed = crate::sandbox::program_dirs(&self.claude, &cwd);
            for server in config.mcp_servers(&req.workdir).unwrap_or_default() {
                exposed.extend(crate::sandbox::program_dirs(Path::new(&server.command), &req.workdir));
            }
            // And the home it is given, and the certificates it is told to trust.
            let read = ["HOME", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR"];
            exposed.extend(
                env.iter().filter(|(k, v)| read.contains(&k.as_str()) && !v.is_empty()).map(|(_, v)| PathBuf::from(v)),
            );
            let opts = crate::sandbox::Options {
                read_only: req.read_only,
                prefix: "baton-session-",
                cli_state: Some(login.dir().to_owned()),
                expose: exposed.clone(),
            };
            let sandbox = match self.sandboxed {
                true => match crate::sandbox::session(&req.workdir, &config.sandbox, &opts) {
                    Ok(s) => s,
                    Err(e) => return crashed(e.to_string()),
                },
                false => None,
            };
            // The session's own temporary directory: the CLI's commands get it as TMPDIR, and the
            // hook confines them to it (with the project).
            let own_tmp = match &sandbox {
                Some(_) => None,
                None => match tempfile::Builder::new().prefix("baton-session-").tempdir() {
                    Ok(t) => Some(t),
                    Err(e) => return crashed(format!("cannot make the session's temporary directory: {e}")),
                },
            };
            let tmp: PathBuf = match (&sandbox, &own_tmp) {
                (Some(s), _) => s.profile.tmp().to_owned(),
                (None, Some(t)) => t.path().to_owned(),
                (None, None) => std::env::temp_dir(),
            };
            // The CLI's MCP servers start inside its sandbox, so they enter the session's the way
            // its commands do.
            let nested = sandbox.as_ref().and_then(|s| {
                crate::sandbox::Profile::new(&req.workdir, &config.sandbox, s.profile.tmp())
                    .ok()
                    .flatten()
                    .map(|p| p.read_only(req.read_only).expose_all(&opts.expose))
            });
            let mcp = match self.mcp(&req, login.dir(), nested.as_ref()) {
                Ok(m) => m,
                Err(e) => {
                    let _ = events.send(AgentEvent::Notice { text: format!("no MCP servers this session: {e}") });
                    None
                }
            };
            let mut argv = self.argv(&req, mcp.as_ref());
            if let Some(s) = &sandbox {
                argv = s.cli(&argv);
            }
            let mut command = tokio::process::Command::new(&argv[0]);
            command.args(&argv[1..]).env_clear().envs(env).env("CLAUDE_CONFIG_DIR", login.dir()).env("TMPDIR", &tmp);
            if req.read_only {
                command.env(crate::sandbox::READ_ONLY_ENV, "1");
            }
            if req.asker.is_some() {
                command.env(hook::ASK_ENV, "1");
            }
            // The CLI's commands inherit the mark, and so does baton's hook, which compares them.
            command
                .env(super::policy::procs::SESSION_ENV, &req.session)
                .current_dir(&req.workdir)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .kill_on_drop(true);
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
            // When questions may come, stdin stays open for the answers until the result.
            let stdin = match child.stdin.take() {
                Some(mut stdin) => {
                    use tokio::io::AsyncWriteExt;
                    let msg = json!({"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": req.prompt}]}});
                    let _ = stdin.write_all(format!("{msg}\n").as_bytes()).await;
                    req.asker.as_ref().map(|_| stdin)
                }
                None => None,
            };
            let stdin = std::sync::Arc::new(tokio::sync::Mutex::new(stdin));
            let mut calls: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
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
            let mut parser = StreamParser::new(self.sandboxed, req.artifacts.clone());
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
                                if let Some(asker) = &req.asker {
                                    self.permission(&l, asker, &req, &calls, &stdin).await;
                                }
                                parser.line_into(&l, self.price, &mut batch);
                                if lines.get_ref().buffer().contains(&b'\n')
                                    && let Ok(Some(next)) = lines.next_line().await
                                {
                                    line = Some(next);
                                }
                            }
                            for ev in batch.drain(..) {
                                if let AgentEvent::ToolCall { id, input, .. } = &ev {
                                    calls.insert(id.clone(), input.clone());
                                }
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
            // Everything the session started ends with its sandbox; a login the CLI refreshed
            // goes back to the operator's settings.
            drop(sandbox);
            if let Some(said) = login.sync_back() {
                tracing::info!("{said}");
            }
            let (reason, usage, cost_usd, turns) = parser.end(&stderr_tail);
            SessionEnd { reason: stopped.unwrap_or(reason), usage, cost_usd, turns, notes: parser.notes() }
        })
    }
}
