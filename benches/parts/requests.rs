//! How big the fixed part of a session's request is (the system prompt and the tool definitions,
//! sent with every turn): baton's own agent on the Messages API (`anthropic`) and on chat
//! completions (`openai`), with and without the browser server, beside the `claude` CLI's first
//! request to the same scripted model.

use std::path::{Path, PathBuf};
use std::time::Duration;

use baton::agent::anthropic::AnthropicBackend;
use baton::agent::claude_code::ClaudeCodeBackend;
use baton::agent::openai::OpenAiBackend;
use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::agent::{Backend, Limits, SessionRequest};
use baton::project::config::Config;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const SCENARIO: &str = "name = \"one turn\"\n[[turns]]\nid = \"done\"\nstart = \".\"\ntext = \"Done.\"\n";

fn kb(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

/// The request without its conversation: what every turn sends again (on chat completions the
/// system prompt is the first message, and is kept).
fn fixed(request: &Value) -> usize {
    let mut r = request.clone();
    let system = request["messages"].as_array().and_then(|m| m.first()).filter(|m| m["role"] == "system").cloned();
    if let Some(o) = r.as_object_mut() {
        o.remove("messages");
        if let Some(system) = system {
            o.insert("messages".into(), Value::Array(vec![system]));
        }
    }
    r.to_string().len()
}

/// Which client makes the first request.
enum Client<'a> {
    Anthropic,
    OpenAi,
    Claude(&'a Path),
}

fn tool_count(request: &Value) -> usize {
    request["tools"].as_array().map_or(0, Vec::len)
}

fn project(browser: Option<(&Path, &Path)>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git2::Repository::init(dir.path()).unwrap();
    std::fs::create_dir_all(dir.path().join(".baton")).unwrap();
    if let Some((server, chromium)) = browser {
        std::fs::write(dir.path().join(".baton/config.toml"), baton::commands::browser::server_toml(server, chromium))
            .unwrap();
    }
    dir
}

async fn first_request(dir: &Path, client: Client<'_>) -> Value {
    let model = ScriptedModel::start(Scenario::parse("one.toml", SCENARIO).unwrap(), None).await.unwrap();
    let config = Config::load(dir).unwrap();
    let home = tempfile::tempdir().unwrap();
    let backend: Box<dyn Backend> = match client {
        Client::Anthropic => Box::new(AnthropicBackend::new(&model.url(), "bench-key", &config).unwrap()),
        Client::OpenAi => Box::new(OpenAiBackend::new(&format!("{}/v1", model.url()), "bench-key", &config).unwrap()),
        Client::Claude(bin) => Box::new(ClaudeCodeBackend::new(bin.to_owned(), &config).unwrap().with_env([
            ("ANTHROPIC_BASE_URL".to_owned(), model.url()),
            ("ANTHROPIC_API_KEY".to_owned(), "bench-key".to_owned()),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".to_owned(), "1".to_owned()),
            ("HOME".to_owned(), home.path().display().to_string()),
        ])),
    };
    let request = SessionRequest::new(
        "Say done.",
        dir,
        Limits { max_turns: 3, wall_time: Duration::from_secs(120) },
        CancellationToken::new(),
    );
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    backend.run(request, tx).await;
    // The CLI may send small side requests first (a title, a quota check): the session's own
    // request is the one with tools.
    model.requests().into_iter().max_by_key(tool_count).unwrap_or(Value::Null)
}

pub fn run(report: impl Fn(&str, String, &str)) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let from = |env: &str, path: &str| {
        std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| root.join(path)).canonicalize().ok()
    };
    let server = from("BATON_PLAYWRIGHT_MCP", "target/playwright-mcp/node_modules/.bin/playwright-mcp");
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.exists());
    let claude = from("BATON_CLAUDE_BIN", "target/claude-cli/node_modules/.bin/claude");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let plain = project(None);
        let bare = first_request(plain.path(), Client::Anthropic).await;
        report(
            "request: baton's agent, fixed part",
            format!("{} ({} tools)", kb(fixed(&bare)), tool_count(&bare)),
            "(lean)",
        );
        let chat = first_request(plain.path(), Client::OpenAi).await;
        report(
            "request: baton's agent on chat completions, fixed part",
            format!("{} ({} tools)", kb(fixed(&chat)), tool_count(&chat)),
            "(lean)",
        );
        let browser = match (&server, &chromium) {
            (Some(s), Some(c)) => Some(project(Some((s, c)))),
            _ => None,
        };
        if let Some(web) = &browser {
            let with = first_request(web.path(), Client::Anthropic).await;
            report(
                "request: baton's agent + browser server",
                format!("{} ({} tools)", kb(fixed(&with)), tool_count(&with)),
                "(lean)",
            );
            let chat = first_request(web.path(), Client::OpenAi).await;
            report(
                "request: baton's agent on chat completions + browser server",
                format!("{} ({} tools)", kb(fixed(&chat)), tool_count(&chat)),
                "(lean)",
            );
        } else {
            report("request: baton's agent + browser server", "skipped: no playwright-mcp or chromium".into(), "");
        }
        let Some(claude) = &claude else {
            report("request: claude CLI, first request", "skipped: no claude CLI".into(), "");
            return;
        };
        let cli = first_request(plain.path(), Client::Claude(claude)).await;
        report(
            "request: claude CLI, fixed part",
            format!("{} ({} tools; whole request {})", kb(fixed(&cli)), tool_count(&cli), kb(cli.to_string().len())),
            "(beside it)",
        );
        if let Some(web) = &browser {
            let cli = first_request(web.path(), Client::Claude(claude)).await;
            report(
                "request: claude CLI + browser server",
                format!("{} ({} tools)", kb(fixed(&cli)), tool_count(&cli)),
                "(beside it)",
            );
        }
    });
}
