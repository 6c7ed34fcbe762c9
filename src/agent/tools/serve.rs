//! The file tools behind the wall: `read_file`, `write_file`, `edit`, `list`, `glob` and `grep` of a
//! sandboxed session run in a process of the session's own (`baton tools serve`, started through
//! the sandbox's launcher like its commands), so they meet the same kernel wall: `.baton/` and
//! git's control files read-only, nothing outside the project written, hidden paths unreadable.
//! One JSON request a line on its standard input, one answer a line on its standard output.

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::{ToolContext, ToolOutput, WRITING};

#[derive(Serialize, Deserialize)]
struct Request {
    name: String,
    input: Value,
}

#[derive(Serialize, Deserialize)]
struct Answer {
    output: String,
    is_error: bool,
}

/// Runs `baton tools serve --root DIR [--read-only]` until its input ends; never returns.
pub fn main(args: &[OsString]) -> ! {
    let mut root = None;
    let mut read_only = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--root") => root = it.next().map(PathBuf::from),
            Some("--read-only") => read_only = true,
            _ => {}
        }
    }
    let Some(root) = root else {
        eprintln!("usage: baton tools serve --root DIR [--read-only]");
        std::process::exit(2)
    };
    let ctx = ToolContext::new(&root, tokio_util::sync::CancellationToken::new());
    let (stdin, mut stdout) = (std::io::stdin().lock(), std::io::stdout().lock());
    for line in stdin.lines() {
        let Ok(line) = line else { break };
        let answer = match serde_json::from_str::<Request>(&line) {
            Ok(req) if read_only && WRITING.contains(&req.name.as_str()) => {
                ToolOutput::error(format!("refused: {} changes files, and this session may only read", req.name))
            }
            Ok(req) => in_process(&req.name, &req.input, &ctx),
            Err(e) => ToolOutput::error(format!("baton's file tools could not read the request: {e}")),
        };
        let answer = Answer { output: answer.output, is_error: answer.is_error };
        let Ok(text) = serde_json::to_string(&answer) else { break };
        if writeln!(stdout, "{text}").and_then(|()| stdout.flush()).is_err() {
            break;
        }
    }
    std::process::exit(0)
}

/// Runs file tool `name` in this process.
pub(super) fn in_process(name: &str, input: &Value, ctx: &ToolContext) -> ToolOutput {
    match name {
        "read_file" => super::files::read(input, ctx),
        "write_file" => super::files::write(input, ctx),
        "edit" => super::files::edit(input, ctx),
        "list" => super::files::list(input, ctx),
        "glob" => super::search::glob(input, ctx),
        "grep" => super::search::grep(input, ctx),
        other => ToolOutput::error(format!("there is no file tool named `{other}`")),
    }
}

/// A session's file tools process, running.
#[derive(Debug)]
pub(super) struct Server {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::BufReader<tokio::process::ChildStdout>,
}

impl Server {
    /// Starts `baton tools serve` for `root` in `profile`'s sandbox.
    pub(super) fn start(root: &Path, profile: &crate::sandbox::Profile) -> std::io::Result<Server> {
        let launcher = crate::sandbox::launcher().map_err(std::io::Error::other)?;
        let mut program: Vec<OsString> =
            vec![launcher.into(), "tools".into(), "serve".into(), "--root".into(), root.into()];
        if profile.is_read_only() {
            program.push("--read-only".into());
        }
        let argv = profile.wrap(&program);
        let mut child = tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(root)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("no pipes to the file tools' process"));
        };
        Ok(Server { child, stdin, stdout: tokio::io::BufReader::new(stdout) })
    }

    /// Asks for one tool call and waits for its answer.
    pub(super) async fn call(&mut self, name: &str, input: &Value) -> std::io::Result<ToolOutput> {
        let request = serde_json::to_string(&Request { name: name.to_owned(), input: input.clone() })?;
        self.stdin.write_all(format!("{request}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line).await? == 0 {
            let status = self.child.try_wait().ok().flatten();
            return Err(std::io::Error::other(match status {
                Some(s) => format!("it ended ({s})"),
                None => "it closed its output".to_owned(),
            }));
        }
        let answer: Answer = serde_json::from_str(&line)?;
        Ok(ToolOutput { output: answer.output, is_error: answer.is_error })
    }
}
