//! baton's own agent as an MCP client (the official Rust SDK, `rmcp`): a session starts the
//! project's servers, offers their tools to the model as `mcp__<server>__<tool>`, calls them, and
//! stops them when it ends, with whatever they started (a browser). A server that does not start
//! (it crashes, hangs past `[mcp] startup_timeout_seconds`, or answers garbage) is left out with a
//! clear note; the session goes on without it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use crate::project::mcp::{McpServer, tool_name};
use crate::sandbox::Profile;

/// The end of a server's standard error kept, for the note when it fails.
const STDERR_KEPT: usize = 2000;

/// One tool of one server, as the model is offered it.
#[derive(Debug, Clone)]
pub struct Tool {
    pub name: String,
    pub description: String,
    pub schema: Value,
}

/// What a tool call answered: its text, its images (media type, base64 data), and whether the
/// server called it an error.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub text: String,
    pub images: Vec<(String, String)>,
    pub is_error: bool,
}

struct Running {
    name: String,
    service: Option<RunningService<RoleClient, ()>>,
    pgid: i32,
    tools: Vec<Tool>,
    stderr: Arc<Mutex<String>>,
    /// Why it no longer answers.
    gone: Option<String>,
    /// Tools left out for a name the API would refuse.
    unfit: Vec<String>,
}

/// The MCP servers of one session.
#[derive(Default)]
pub struct Servers {
    running: Vec<Running>,
    /// One line for each server that did not start (or left tools out).
    pub failures: Vec<String>,
    /// The servers that did not start, and why: a call to one of their tools says so.
    failed: Vec<(String, String)>,
    call_timeout: Duration,
}

/// How the session's servers are started.
pub struct Start<'a> {
    pub workdir: &'a Path,
    /// The session's sandbox, for servers with `sandbox = true`.
    pub profile: Option<&'a Profile>,
    /// The session's mark and the like, for every server's environment.
    pub env: Vec<(String, String)>,
    pub startup_timeout: Duration,
    pub call_timeout: Duration,
}

fn kill_group(pgid: i32) {
    crate::agent::process::kill_group(pgid);
}

fn tail(stderr: &Mutex<String>) -> String {
    let text = stderr.lock().map(|s| s.trim().to_owned()).unwrap_or_default();
    if text.is_empty() { String::new() } else { format!("; its stderr ended with: {text}") }
}

impl Servers {
    pub async fn start(servers: &[McpServer], how: &Start<'_>) -> Servers {
        let mut out = Servers { call_timeout: how.call_timeout, ..Servers::default() };
        // One at a time: a browser server's start is cheap (the browser starts on first use).
        for server in servers {
            match start_one(server, how).await {
                Ok(r) => {
                    if !r.unfit.is_empty() {
                        out.failures.push(format!(
                            "MCP server `{}`: left out {} whose names the API does not accept: {}",
                            r.name,
                            crate::words::count(r.unfit.len() as u64, "tool"),
                            r.unfit.join(", ")
                        ));
                    }
                    out.running.push(r);
                }
                Err(e) => {
                    tracing::warn!("MCP server `{}` did not start: {e}", server.name);
                    out.failures.push(format!("MCP server `{}` did not start: {e}", server.name));
                    out.failed.push((server.name.clone(), e));
                }
            }
        }
        out
    }

    /// The tools of every running server, for the model.
    pub fn tools(&self) -> impl Iterator<Item = &Tool> {
        self.running.iter().flat_map(|r| r.tools.iter())
    }

    /// The tool definitions in the Messages API's shape.
    pub fn definitions(&self) -> Vec<Value> {
        self.tools().map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.schema})).collect()
    }

    /// Calls `name` (`mcp__server__tool`) with `input`.
    pub async fn call(&mut self, name: &str, input: &Value) -> Answer {
        let error = |text: String| Answer { text, images: Vec::new(), is_error: true };
        let of = |server: &str| name.starts_with(&format!("mcp__{server}__"));
        if let Some((server, why)) = self.failed.iter().find(|(s, _)| of(s)) {
            return error(format!(
                "MCP server `{server}` did not start this session ({why}), so `{name}` is not available"
            ));
        }
        let Some(r) = self.running.iter_mut().find(|r| of(&r.name)) else {
            return error(format!("there is no MCP server for `{name}` in this session"));
        };
        if let Some(why) = &r.gone {
            return error(format!("MCP server `{}` is not running: {why}", r.name));
        }
        let tool = &name[format!("mcp__{}__", r.name).len()..];
        let Some(service) = &r.service else { return error(format!("MCP server `{}` is not running", r.name)) };
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Some(args) = input.as_object() {
            params = params.with_arguments(args.clone());
        }
        match tokio::time::timeout(self.call_timeout, service.call_tool(params)).await {
            Err(_) => error(format!(
                "MCP server `{}` did not answer `{tool}` within {} s",
                r.name,
                self.call_timeout.as_secs()
            )),
            Ok(Err(e)) => {
                let why = format!("{e}{}", tail(&r.stderr));
                tracing::warn!("MCP server `{}` failed on `{tool}`: {why}", r.name);
                r.gone = Some(why.clone());
                error(format!("MCP server `{}` failed: {why}", r.name))
            }
            Ok(Ok(result)) => answer(&serde_json::to_value(&result).unwrap_or(Value::Null)),
        }
    }

    /// Stops every server and whatever it started.
    pub async fn stop(self) {
        for r in self.running {
            if let Some(service) = r.service {
                let _ = tokio::time::timeout(Duration::from_secs(3), service.cancel()).await;
            }
            kill_group(r.pgid);
        }
    }
}

/// A tool call's result (`{content: [...], isError}`) as text and images.
fn answer(v: &Value) -> Answer {
    let mut out = Answer { is_error: v["isError"].as_bool().unwrap_or(false), ..Answer::default() };
    let mut texts = Vec::new();
    for block in v["content"].as_array().into_iter().flatten() {
        match block["type"].as_str().unwrap_or("") {
            "text" => texts.push(block["text"].as_str().unwrap_or("").to_owned()),
            "image" => out.images.push((
                block["mimeType"].as_str().unwrap_or("image/png").to_owned(),
                block["data"].as_str().unwrap_or("").to_owned(),
            )),
            _ => texts.push(block.to_string()),
        }
    }
    if texts.is_empty()
        && let Some(s) = v.get("structuredContent")
    {
        texts.push(s.to_string());
    }
    out.text = texts.join("\n");
    out
}

/// How `server` is started: its program and arguments (inside the session's sandbox; one with
/// `sandbox = false` keeps the host's network there, its files walled as ever) and the variables it
/// gets on top of its starter's allowlisted ones.
pub fn launch(
    server: &McpServer,
    profile: Option<&Profile>,
    mark: &[(String, String)],
) -> (Vec<OsString>, Vec<(String, String)>) {
    // `${TMPDIR}` in an argument or a variable is the session's own temporary directory.
    let tmp = profile.map_or_else(std::env::temp_dir, |p| p.tmp().to_owned());
    let expand = |s: &String| s.replace("${TMPDIR}", &tmp.to_string_lossy());
    let mut program: Vec<OsString> = vec![server.command.clone().into()];
    program.extend(server.args.iter().map(|a| expand(a).into()));
    let mut env = mark.to_vec();
    if let Some(p) = profile {
        // Caches and profiles go to the session's own temporary directory, the writable one.
        let tmp = p.tmp().to_string_lossy().into_owned();
        env.extend([
            ("TMPDIR".to_owned(), tmp.clone()),
            ("XDG_CACHE_HOME".to_owned(), format!("{tmp}/cache")),
            ("XDG_CONFIG_HOME".to_owned(), format!("{tmp}/config")),
        ]);
    }
    env.extend(server.env.iter().map(|(k, v)| (k.clone(), expand(v))));
    if let Some(p) = profile {
        // The launcher keeps only its allowlist of variables, and these.
        let p = p.clone().keep_env(env.iter().map(|(k, _)| k.clone())).with_network(!server.sandbox);
        program = p.wrap(&program);
    }
    (program, env)
}

/// The `--mcp-config` the `claude` CLI gets for a session: the same servers, started the same way.
pub fn claude_config(servers: &[McpServer], profile: Option<&Profile>, mark: &[(String, String)]) -> Value {
    let entries: serde_json::Map<String, Value> = servers
        .iter()
        .map(|s| {
            let (argv, env) = launch(s, profile, mark);
            let argv: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
            let env: serde_json::Map<String, Value> = env.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            (s.name.clone(), json!({"type": "stdio", "command": argv[0], "args": argv[1..], "env": env}))
        })
        .collect();
    json!({"mcpServers": entries})
}

fn command(server: &McpServer, how: &Start<'_>) -> tokio::process::Command {
    let (argv, env) = launch(server, how.profile, &how.env);
    let mut cmd = tokio::process::Command::new(&argv[0]);
    // A server gets the sandbox's allowlist of baton's environment (the launcher cuts it too),
    // and its own settings; never baton's credentials.
    let allowed = std::env::vars().filter(|(k, _)| crate::sandbox::env_allowed(k, &[]));
    cmd.args(&argv[1..]).current_dir(how.workdir).env_clear().envs(allowed).envs(env);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).process_group(0);
    cmd
}

async fn start_one(server: &McpServer, how: &Start<'_>) -> Result<Running, String> {
    let (process, stderr) = TokioChildProcess::builder(command(server, how))
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{}`: {e}", server.command))?;
    let pgid = process.id().map_or(0, |p| p as i32);
    let kept = Arc::new(Mutex::new(String::new()));
    if let Some(mut err) = stderr {
        let kept = kept.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut k) = kept.lock() {
                    k.push_str(&String::from_utf8_lossy(&buf[..n]));
                    let cut = k.len().saturating_sub(STDERR_KEPT);
                    let cut = k.ceil_char_boundary(cut);
                    k.drain(..cut);
                }
            }
        });
    }
    let started = async {
        let service = ().serve(process).await.map_err(|e| e.to_string())?;
        let tools = service.list_all_tools().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((service, tools))
    };
    let (service, tools) = match tokio::time::timeout(how.startup_timeout, started).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            kill_group(pgid);
            // Let its last words arrive.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Err(format!("{e}{}", tail(&kept)));
        }
        Err(_) => {
            kill_group(pgid);
            return Err(format!("no answer within {} s{}", how.startup_timeout.as_secs(), tail(&kept)));
        }
    };
    // The Messages API takes tool names of letters, digits, `_` and `-`, at most 64 long: a tool
    // named otherwise would fail every request of the session, so it is left out and told.
    let fits = |n: &str| n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let listed: Vec<Value> = tools.iter().filter_map(|t| serde_json::to_value(t).ok()).collect();
    let unfit: Vec<String> =
        listed.iter().map(|t| tool_name(&server.name, t["name"].as_str().unwrap_or(""))).filter(|n| !fits(n)).collect();
    let tools = listed
        .into_iter()
        .filter(|t| fits(&tool_name(&server.name, t["name"].as_str().unwrap_or(""))))
        .map(|t| Tool {
            name: tool_name(&server.name, t["name"].as_str().unwrap_or("")),
            description: t["description"].as_str().unwrap_or("").to_owned(),
            schema: {
                // The schema's own `$schema` line says nothing to the model: left out of every turn.
                let mut schema = t.get("inputSchema").cloned().unwrap_or_else(|| json!({"type": "object"}));
                if let Some(o) = schema.as_object_mut() {
                    o.remove("$schema");
                }
                schema
            },
        })
        .collect();
    Ok(Running { name: server.name.clone(), service: Some(service), pgid, tools, stderr: kept, gone: None, unfit })
}

/// How the transcript names a saved image: one line, `[image saved: PATH]`.
pub const IMAGE_SAVED: &str = "[image saved: ";

/// Saves a tool result's images under `dir` (`image-NNN.EXT`, numbered on from what is there)
/// and returns the lines that name them, to follow the result's text (nothing for no image).
pub fn save_images(dir: Option<&Path>, images: &[(String, String)]) -> String {
    use base64::Engine;
    let Some(dir) = dir else {
        return match images.len() {
            0 => String::new(),
            n => format!("\n[{} not saved]", crate::words::count(n as u64, "image")),
        };
    };
    let save = |media: &str, data: &str| -> Result<PathBuf, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        let ext = media.strip_prefix("image/").unwrap_or("bin").replace("jpeg", "jpg");
        let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0) + 1;
        let path = dir.join(format!("image-{n:03}.{ext}"));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("the image is not base64: {e}"))?;
        std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    };
    images
        .iter()
        .enumerate()
        .map(|(i, (media, data))| match save(media, data) {
            Ok(path) => format!("\n{IMAGE_SAVED}{}]", path.display()),
            Err(e) => format!("\n[image {} not saved: {e}]", i + 1),
        })
        .collect()
}
