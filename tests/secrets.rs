//! baton's own credential never appears in anything it writes, whichever way it travels: the
//! agent reads it from a project file (a tool result), writes it in a command (a tool call), says
//! it in its reply streamed in pieces of five characters (split across deltas), and puts it in a
//! commit message (the review). The key holds `"` and `\`, so it is stored JSON-escaped where JSON
//! holds it. Both backends; headless text, `--json`, every file under `.baton/`, the log, and the
//! screen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use baton::agent::scripted::{Scenario, ScriptedModel};
use common::Sandbox;

const KEY: &str = r#"sk-ant-"quo\te-0123456789abcdef"#;

const FEATURES: &str = r#"[
  {"category": "functional", "description": "feature one", "steps": ["cat f1.txt"], "passes": false}
]
"#;

fn scenario() -> Scenario {
    let text = r#"
name = "leaky"
pace = { chunk_chars = 5 }

[[turns]]
id = "look"
start = "one of many agent sessions"
text = "Reading the project's settings."
tools = [{ name = "bash", input = { command = "cat .env" } }]

[[turns]]
id = "say"
text = '''The key is KEY and I will keep it to myself.'''
tools = [{ name = "bash", input = { command = '''echo 'KEY' | wc -c && echo ok > notes.txt && git add notes.txt && git commit -qm 'Note the key KEY' && echo committed''' } }]

[[turns]]
id = "done"
text = "Done."
"#
    .replace("KEY", KEY);
    Scenario::parse("leaky.toml", &text).unwrap()
}

/// Every form the key could be written in: as it is, JSON-escaped, and escaped twice.
fn forms() -> Vec<String> {
    let once = serde_json::to_string(KEY).unwrap();
    let once = once[1..once.len() - 1].to_owned();
    let twice = serde_json::to_string(&once).unwrap();
    let twice = twice[1..twice.len() - 1].to_owned();
    // The part after the quote, which no mask that cut the key short could hide.
    vec![KEY.to_owned(), once, twice, r#"quo\te-0123456789abcdef"#.to_owned(), "te-0123456789abcdef".to_owned()]
}

fn assert_clean(what: &str, text: &str) {
    for form in forms() {
        assert!(!text.contains(&form), "{what} holds the key ({form}):\n{text}");
    }
}

/// Every file under `dir`, and what it holds.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if path.is_file() {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn project() -> tempfile::TempDir {
    let env = format!("ANTHROPIC_API_KEY={KEY}\n");
    common::checklist_project(FEATURES, &[(".env", &env)], "[evaluate]\nmode = \"off\"\n")
}

fn headless(backend: &str, json: bool) {
    let sandbox = Sandbox::new();
    let dir = project();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let model = runtime.block_on(ScriptedModel::start(scenario(), None)).unwrap();
    let mut cmd = sandbox.baton(dir.path());
    cmd.args(["run", "--headless", "--approve", "auto", "--sessions", "1", "--backend", backend])
        .env("ANTHROPIC_BASE_URL", model.url())
        .env("ANTHROPIC_API_KEY", KEY)
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .stdin(Stdio::null());
    if backend == "claude-code" {
        cmd.args(["--claude-bin"]).arg(common::claude_bin());
    }
    if json {
        cmd.arg("--json");
    }
    let run = common::Run::from(cmd.output().unwrap()).ok();
    let what = format!("{backend}{}", if json { " --json" } else { "" });
    // It went through: the agent read the key, said it and committed it, all masked.
    assert!(run.stdout.contains("[redacted]"), "{what}: {}", run.stdout);
    assert!(run.stdout.contains("committed"), "{what}: {}", run.stdout);
    assert_clean(&format!("{what}: stdout"), &run.stdout);
    assert_clean(&format!("{what}: stderr"), &run.stderr);
    for (path, bytes) in files(&dir.path().join(".baton")) {
        assert_clean(&format!("{what}: {path}"), &String::from_utf8_lossy(&bytes));
    }
    // baton's own state (its log among it); the CLI's own files in its home are the CLI's.
    for (path, bytes) in files(&sandbox.home.path().join(".local/state")) {
        assert_clean(&format!("{what}: {path}"), &String::from_utf8_lossy(&bytes));
    }
    // The transcript shows the masked reply whole.
    let transcript = std::fs::read_to_string(dir.path().join(".baton/sessions/0001.jsonl")).unwrap();
    let said: String = transcript
        .lines()
        .filter_map(|l| serde_json::from_str::<baton::agent::AgentEvent>(&l[l.find('{').unwrap()..]).ok())
        .filter_map(|e| match e {
            baton::agent::AgentEvent::TextDelta { text } => Some(text),
            _ => None,
        })
        .collect();
    assert!(said.contains("The key is [redacted] and I will keep it to myself."), "{what}: {said}");
}

#[test]
fn baton_s_key_reaches_no_output_and_no_file_with_its_own_agent() {
    headless("anthropic", false);
    headless("anthropic", true);
}

#[test]
fn baton_s_key_reaches_no_output_and_no_file_through_the_claude_cli() {
    headless("claude-code", false);
    headless("claude-code", true);
}

#[test]
fn baton_s_key_is_not_on_the_screen() {
    let sandbox = Sandbox::new();
    let dir = project();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let model = runtime.block_on(ScriptedModel::start(scenario(), None)).unwrap();
    let url = model.url();
    let env = [("ANTHROPIC_BASE_URL", Some(url.as_str())), ("ANTHROPIC_API_KEY", Some(KEY))];
    let mut screen = common::pty::Screen::start(sandbox.home.path(), dir.path(), &[], (120, 40), &env);
    screen.wait_for("Features", Duration::from_secs(20));
    screen.send("n");
    let shown = screen.wait_for("Review · session 1", Duration::from_secs(60));
    assert_clean("the review", &shown);
    assert!(shown.contains("Note the key [redacted]"), "{shown}");
    screen.send("\x1b");
    let shown = screen.wait_for("The key is [redacted] and I will keep it", Duration::from_secs(10));
    assert_clean("the screen", &shown);
    screen.send("q");
    screen.send("y");
    screen.wait_exit(Duration::from_secs(20));
    drop(model);
}
