//! Which tool calls an agent may make. A pure function of (tool name, input, project dir, config,
//! the processes running), so baton's own tools and the Claude Code PreToolUse hook decide the
//! same way.
//!
//! A shell command is allowed only if every command it would run is on the allowlist (ordinary
//! development tools by default, plus what the project's `[policy] allow` adds, minus its `deny`)
//! and every file it would write lies inside the project or the temporary directory. The check
//! follows `cd`, expands `~`, `$HOME` and braces, looks inside `sh -c`, `eval`, `find -exec`,
//! `xargs`, `git -c`, awk and sed programs, and refuses what it cannot know before the command
//! runs (a write target held in a variable) with a reason the agent can act on. Reads of the
//! paths the sandbox hides (keys, credentials) are refused too. Signals may go only to processes
//! this session started.
//!
//! The policy explains itself; the kernel sandbox is the wall behind it.

mod allow;
mod git;
mod paths;
pub mod procs;
mod programs;
mod scripts;
mod signals;
mod walk;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

pub use allow::DEFAULT_ALLOW;
pub use paths::{confine, expand_home};
use procs::Processes;
use walk::Walk;

use crate::project::config;

/// What the policy says of one tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(String),
    /// Nothing denies it, but the allowlist does not have these programs: the operator decides
    /// (only when the policy asks, see [`Policy::asking`]).
    Ask(Vec<String>),
}

/// What a question says the allowlist lacks.
pub fn ask_reason(programs: &[String]) -> String {
    let names: Vec<String> = programs.iter().map(|p| format!("`{p}`")).collect();
    format!("{} {} not on the allowlist", names.join(", "), if programs.len() == 1 { "is" } else { "are" })
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }

    fn from(check: Result<(), String>) -> Decision {
        match check {
            Ok(()) => Decision::Allow,
            Err(reason) => Decision::Deny(reason),
        }
    }
}

/// The parts of the world a decision depends on.
#[derive(Clone)]
pub struct Policy {
    root: PathBuf,
    allow: Vec<String>,
    deny: Vec<String>,
    sandbox: config::Sandbox,
    home: Option<PathBuf>,
    /// Directories outside the project that may be written: the temporary directory and
    /// `[sandbox] writable`.
    writable: Vec<PathBuf>,
    /// `[sandbox] hidden`, absolute.
    hidden: Vec<PathBuf>,
    /// `$TMPDIR` as the agent's commands see it.
    tmpdir: Option<String>,
    /// Whether `/tmp` itself may be written (not when the session has its own temporary dir).
    system_tmp: bool,
    /// The value of [`procs::SESSION_ENV`] in the processes this session started.
    session: Option<String>,
    processes: Arc<dyn Processes>,
    /// MCP tools that may be called; `mcp_deny` wins.
    mcp_allow: Vec<String>,
    mcp_deny: Vec<String>,
    /// The project may be read, not changed (the evaluator's session).
    read_only: bool,
    /// Someone watches and may be asked: a command off the allowlist is put to them.
    asking: bool,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").field("root", &self.root).field("session", &self.session).finish_non_exhaustive()
    }
}

impl Policy {
    /// The policy for `project_root` under `config`, in this process's environment: `$HOME`,
    /// `$TMPDIR`, the session marker in [`procs::SESSION_ENV`], the live process table.
    pub fn new(project_root: &Path, config: &config::Config) -> Self {
        let root = project_root.canonicalize().unwrap_or_else(|_| project_root.to_owned());
        // A server list that cannot be read allows no MCP tool (the session says why).
        let servers = config.mcp_servers(&root).unwrap_or_default();
        let p = Policy {
            mcp_allow: config.mcp_allowed(&servers),
            mcp_deny: config.policy.mcp_deny.clone(),
            root,
            allow: config.policy.allow.clone(),
            deny: config.policy.deny.clone(),
            sandbox: config.sandbox.clone(),
            home: None,
            writable: Vec::new(),
            hidden: Vec::new(),
            tmpdir: std::env::var("TMPDIR").ok().filter(|t| !t.is_empty()),
            system_tmp: true,
            session: std::env::var(procs::SESSION_ENV).ok().filter(|s| !s.is_empty()),
            processes: Arc::new(procs::Live),
            read_only: false,
            asking: false,
        };
        p.with_home(std::env::var_os("HOME").map(PathBuf::from))
    }

    /// The session's temporary directory: the only place outside the project (and `[sandbox]
    /// writable`) its commands may write, as in the sandbox.
    pub fn with_tmpdir(mut self, tmp: &Path) -> Self {
        self.tmpdir = Some(tmp.display().to_string());
        self.system_tmp = false;
        let home = self.home.clone();
        self.with_home(home)
    }

    /// Resolves `~` (and the sandbox's paths) against `home` instead of `$HOME`.
    pub fn with_home(mut self, home: Option<PathBuf>) -> Self {
        self.home = home;
        let expand = |p: &String| paths::expand_home(p, self.home.as_deref());
        self.hidden = self.sandbox.hidden.iter().filter_map(expand).collect();
        let mut writable = Vec::new();
        if self.system_tmp {
            writable.extend([PathBuf::from("/tmp"), std::env::temp_dir()]);
        }
        writable.extend(self.tmpdir.iter().map(PathBuf::from));
        writable.extend(self.sandbox.writable.iter().filter_map(expand));
        self.writable = writable.iter().map(|w| w.canonicalize().unwrap_or_else(|_| w.clone())).collect();
        self
    }

    /// The session whose processes may be signalled (the value of [`procs::SESSION_ENV`] they
    /// carry); none means no process may be.
    pub fn with_session(mut self, session: Option<String>) -> Self {
        self.session = session;
        self
    }

    /// The project may be read, not changed: no file tool writes, no command writes inside it
    /// (scratch files go to the temporary directory), git only reads.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Someone watches: a command whose only fault is a program off the allowlist gets
    /// [`Decision::Ask`] instead of a denial.
    pub fn asking(mut self, asking: bool) -> Self {
        self.asking = asking;
        self
    }

    /// Allows `programs` from now on (the operator said "always").
    pub fn allow_more(&mut self, programs: &[String]) {
        self.allow.extend(programs.iter().cloned());
    }

    /// Reads processes from `table` instead of `/proc`.
    pub fn with_processes(mut self, table: Arc<dyn Processes>) -> Self {
        self.processes = table;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Decides a tool call, by baton's tool names or Claude Code's. Shell commands start in the
    /// project root.
    pub fn check_tool(&self, tool: &str, input: &Value) -> Decision {
        self.check_tool_in(tool, input, &self.root)
    }

    /// Decides a tool call whose shell commands start in `cwd`.
    pub fn check_tool_in(&self, tool: &str, input: &Value, cwd: &Path) -> Decision {
        let field = |k: &str| input.get(k).and_then(Value::as_str);
        let walk = || Walk::new(self, cwd);
        match tool {
            "bash" | "Bash" => match field("command") {
                Some(cmd) => {
                    let mut w = walk();
                    let checked = w.script(cmd);
                    let unknown = w.unknown();
                    match checked {
                        Ok(()) if !unknown.is_empty() => Decision::Ask(unknown),
                        other => Decision::from(other),
                    }
                }
                None => Decision::Deny("the call has no `command`".into()),
            },
            "write_file" | "edit" | "Write" | "Edit" | "MultiEdit" | "NotebookEdit" if self.read_only => {
                Decision::Deny(READ_ONLY.into())
            }
            "write_file" | "edit" | "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => {
                match field("path").or(field("file_path")).or(field("notebook_path")) {
                    Some(path) => Decision::from(walk().write(&shell_word(path))),
                    None => Decision::Deny("the call names no file".into()),
                }
            }
            "read_file" | "Read" | "list_files" | "LS" => match field("path").or(field("file_path")) {
                Some(path) => Decision::from(walk().read(&shell_word(path), false)),
                None => Decision::Allow,
            },
            "search" | "Grep" | "Glob" => {
                let path = field("path").unwrap_or(".");
                let pattern = field("pattern").filter(|_| tool == "Glob").unwrap_or("");
                let w = walk();
                Decision::from(w.read(&shell_word(path), true).and_then(|()| {
                    // A glob's own pattern may reach anywhere (`/root/.ssh/*`).
                    if pattern.starts_with('/') || pattern.starts_with('~') {
                        w.read(&shell_word(pattern), true)
                    } else {
                        Ok(())
                    }
                }))
            }
            _ if tool.starts_with("mcp__") => self.check_mcp(tool),
            "WebFetch" | "WebSearch" if !self.allow.iter().any(|a| a == tool) => Decision::Deny(format!(
                "`{tool}` reaches the network, which this project does not allow (add \"{tool}\" to [policy] allow in .baton/config.toml)"
            )),
            _ => Decision::Allow,
        }
    }

    /// An MCP tool: allowed when `[policy] mcp_allow` (by default, every configured server) has it
    /// and `mcp_deny` does not.
    fn check_mcp(&self, tool: &str) -> Decision {
        use crate::project::mcp::matches;
        if let Some(p) = self.mcp_deny.iter().find(|p| matches(p, tool)) {
            return Decision::Deny(format!("`{tool}` is refused by [policy] mcp_deny (\"{p}\")"));
        }
        if self.mcp_allow.iter().any(|p| matches(p, tool)) {
            return Decision::Allow;
        }
        let server = tool.trim_start_matches("mcp__").split("__").next().unwrap_or("");
        Decision::Deny(format!(
            "`{tool}` is not an allowed MCP tool: server `{server}` is not configured for this project, or [policy] mcp_allow leaves this tool out"
        ))
    }

    /// Decides a shell command line run in the project root: every command it would run must be
    /// allowed.
    pub fn check_command(&self, command: &str) -> Decision {
        Decision::from(Walk::new(self, &self.root).script(command))
    }

    fn allowed(&self, base: &str) -> bool {
        (DEFAULT_ALLOW.contains(&base) || self.allow.iter().any(|a| a == base)) && !self.denied(base)
    }

    fn denied(&self, name: &str) -> bool {
        self.deny.iter().any(|d| d == name)
    }
}

/// Why a read-only session may not change the project.
const READ_ONLY: &str = "this session judges the project and may not change it: read files and run commands, and write scratch files only under $TMPDIR";

/// A path given by a file tool, as a word: a tool's path is not expanded, except a leading `~`,
/// which some models write.
fn shell_word(path: &str) -> crate::shell::Word {
    let raw = if path.starts_with('~') { path.to_owned() } else { format!("'{}'", path.replace('\'', "'\\''")) };
    crate::shell::Word { text: path.to_owned(), dynamic: false, raw }
}

#[cfg(test)]
mod tests;
