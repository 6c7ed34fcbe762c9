//! baton's built-in tools for its own agent: each a small module with its JSON schema. File tools
//! never reach outside the project directory; `bash` runs in its own process group, killed whole
//! on timeout or cancellation.

mod bash;
mod beneath;
mod files;
mod search;
pub mod serve;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::policy::confine;

/// What a tool call produced, as it goes back to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub output: String,
    pub is_error: bool,
}

impl ToolOutput {
    pub fn ok(output: impl Into<String>) -> Self {
        ToolOutput { output: output.into(), is_error: false }
    }

    pub fn error(output: impl Into<String>) -> Self {
        ToolOutput { output: output.into(), is_error: true }
    }
}

/// Where tools run, and what they leave behind to clean up.
#[derive(Debug, Clone)]
pub struct ToolContext {
    root: PathBuf,
    cancel: CancellationToken,
    /// Process groups started by `bash` calls; whatever is still alive is killed when the session
    /// ends.
    groups: Arc<Mutex<Vec<i32>>>,
    /// Where each group id is also written, so a baton killed mid-session can clean up on restart.
    group_file: Option<PathBuf>,
    /// The session's mark, set on every command it runs.
    session: Option<String>,
    /// How the session's commands are confined; `None` runs them unconfined.
    sandbox: Option<crate::sandbox::Profile>,
    /// The file tools' process of a sandboxed session, started at its first call.
    files: Arc<tokio::sync::Mutex<Option<serve::Server>>>,
}

impl ToolContext {
    pub fn new(root: &Path, cancel: CancellationToken) -> Self {
        let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
        ToolContext {
            root,
            cancel,
            groups: Arc::default(),
            group_file: None,
            session: None,
            sandbox: None,
            files: Arc::default(),
        }
    }

    /// Marks every command with `session` (in [`crate::agent::policy::procs::SESSION_ENV`]).
    pub fn with_session(mut self, session: String) -> Self {
        self.session = Some(session);
        self
    }

    /// Runs every command in `profile`'s sandbox.
    pub fn with_sandbox(mut self, profile: Option<crate::sandbox::Profile>) -> Self {
        self.sandbox = profile;
        self
    }

    pub fn sandbox(&self) -> Option<&crate::sandbox::Profile> {
        self.sandbox.as_ref()
    }

    /// The environment every command gets on top of baton's.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        self.session.iter().map(|s| (crate::agent::policy::procs::SESSION_ENV, s.clone())).collect()
    }

    /// Also records every process group in `path`, one id a line.
    pub fn with_group_file(mut self, path: PathBuf) -> Self {
        self.group_file = Some(path);
        self
    }

    fn remember_group(&self, pgid: i32) {
        self.groups.lock().unwrap_or_else(|e| e.into_inner()).push(pgid);
        if let Some(path) = &self.group_file {
            use std::io::Write;
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                let _ = writeln!(f, "{pgid}");
            }
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a path the model gave, or explains why it may not be used.
    fn resolve(&self, path: &str) -> Result<PathBuf, ToolOutput> {
        confine(&self.root, Path::new(path)).ok_or_else(|| {
            ToolOutput::error(format!(
                "refused: `{path}` is outside the project directory {}; use paths inside it",
                self.root.display()
            ))
        })
    }

    /// Kills every process group a `bash` call of this session started that is still alive.
    pub fn kill_leftovers(&self) {
        let groups = std::mem::take(&mut *self.groups.lock().unwrap_or_else(|e| e.into_inner()));
        for pgid in groups {
            bash::kill_group(pgid);
        }
        if let Some(path) = &self.group_file {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The tools that change files, left out of a read-only session's definitions.
pub const WRITING: &[&str] = &["write_file", "edit"];

/// The tool definitions sent to the model; a read-only session gets none of [`WRITING`].
pub fn definitions_for(read_only: bool) -> Vec<Value> {
    let mut all = definitions();
    if read_only {
        all.retain(|t| !WRITING.contains(&t["name"].as_str().unwrap_or("")));
    }
    all
}

/// The tool definitions sent to the model.
pub fn definitions() -> Vec<Value> {
    vec![
        json!({
            "name": "bash",
            "description": "Run a shell command in the project directory and return its output (stdout and stderr together). Commands are checked against the project's policy. Long output is cut in the middle. Start servers in the background with their output redirected to a file.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The command line, run with bash -c."},
                    "timeout": {"type": "integer", "description": "Seconds before the command and everything it started are killed (default 120, at most 600)."}
                },
                "required": ["command"]
            }
        }),
        json!({
            "name": "read_file",
            "description": "Read a text file in the project, with line numbers.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the project directory."},
                    "offset": {"type": "integer", "description": "First line to read, counted from 1."},
                    "limit": {"type": "integer", "description": "How many lines to read (default 2000)."}
                },
                "required": ["path"]
            }
        }),
        json!({
            "name": "write_file",
            "description": "Create or replace a file in the project with the given content. Directories are created as needed.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "content": {"type": "string"}
                },
                "required": ["path", "content"]
            }
        }),
        json!({
            "name": "edit",
            "description": "Replace an exact piece of text in a file. old_string must occur exactly once unless replace_all is true.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "old_string": {"type": "string"},
                    "new_string": {"type": "string"},
                    "replace_all": {"type": "boolean"}
                },
                "required": ["path", "old_string", "new_string"]
            }
        }),
        json!({
            "name": "list",
            "description": "List a directory of the project: files, and directories with a trailing slash.",
            "input_schema": {
                "type": "object",
                "properties": {"path": {"type": "string", "description": "Directory, default the project root."}}
            }
        }),
        json!({
            "name": "glob",
            "description": "Find files whose path relative to the project matches a glob such as src/**/*.rs. Files ignored by git are skipped.",
            "input_schema": {
                "type": "object",
                "properties": {"pattern": {"type": "string"}},
                "required": ["pattern"]
            }
        }),
        json!({
            "name": "grep",
            "description": "Search file contents with a regular expression; prints path:line:text for each match. Files ignored by git are skipped.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "pattern": {"type": "string"},
                    "path": {"type": "string", "description": "File or directory to search, default the project root."},
                    "glob": {"type": "string", "description": "Only files whose path matches this glob."},
                    "case_insensitive": {"type": "boolean"}
                },
                "required": ["pattern"]
            }
        }),
    ]
}

/// Runs tool `name` with `input`. The caller has already asked the policy.
pub async fn run(name: &str, input: &Value, ctx: &ToolContext) -> ToolOutput {
    let str_field = |k: &str| input.get(k).and_then(Value::as_str);
    match name {
        "bash" => match str_field("command") {
            Some(cmd) => bash::run(cmd, input.get("timeout").and_then(Value::as_u64), ctx).await,
            None => ToolOutput::error("bash needs a `command` string"),
        },
        "read_file" | "write_file" | "edit" | "list" | "glob" | "grep" => match &ctx.sandbox {
            Some(profile) => behind_the_wall(name, input, ctx, profile).await,
            None => {
                let (name, input, ctx) = (name.to_owned(), input.clone(), ctx.clone());
                tokio::task::spawn_blocking(move || serve::in_process(&name, &input, &ctx))
                    .await
                    .unwrap_or_else(|e| ToolOutput::error(format!("the tool failed: {e}")))
            }
        },
        other => ToolOutput::error(format!("there is no tool named `{other}`")),
    }
}

/// Runs a file tool in the session's file tools process (started at the first call, and again
/// after it died: an agent's `kill -9 -1` reaches it, it is the session's).
async fn behind_the_wall(
    name: &str,
    input: &Value,
    ctx: &ToolContext,
    profile: &crate::sandbox::Profile,
) -> ToolOutput {
    let mut server = ctx.files.lock().await;
    if server.is_none() {
        match serve::Server::start(&ctx.root, profile) {
            Ok(s) => *server = Some(s),
            Err(e) => return ToolOutput::error(format!("cannot start baton's file tools in the sandbox: {e}")),
        }
    }
    let Some(running) = server.as_mut() else { return ToolOutput::error("no file tools process") };
    let answer = tokio::select! {
        a = running.call(name, input) => a,
        _ = ctx.cancel.cancelled() => {
            *server = None;
            return ToolOutput::error("[interrupted by the operator]");
        }
    };
    answer.unwrap_or_else(|e| {
        *server = None;
        ToolOutput::error(format!(
            "baton's file tools process failed ({e}); the call was not completed, and the next call starts it again"
        ))
    })
}

/// Reads a required string field, or says which is missing.
fn required<'a>(input: &'a Value, tool: &str, key: &str) -> Result<&'a str, ToolOutput> {
    input.get(key).and_then(Value::as_str).ok_or_else(|| ToolOutput::error(format!("{tool} needs a `{key}` string")))
}

/// The path relative to the project root, for messages.
fn shown(ctx: &ToolContext, path: &Path) -> String {
    path.strip_prefix(&ctx.root).unwrap_or(path).display().to_string()
}
