//! The `claude-code` backend driving the real Claude Code CLI (from the npm registry) against the
//! scripted model on loopback, with baton's policy as its PreToolUse hook. With
//! `BATON_RECORD_FIXTURES=1` the raw streams are kept as `tests/fixtures/claude/VERSION/*.jsonl`
//! (the CLI's own version) for the parser tests, which read every version recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::agent::{AgentEvent, Backend, EndReason, Limits, SessionEnd, SessionRequest};
use baton::project::config::Config;
use tokio_util::sync::CancellationToken;

struct Ran {
    end: SessionEnd,
    events: Vec<AgentEvent>,
    model: ScriptedModel,
    elapsed: Duration,
}

async fn run(name: &str, scenario: &str, dir: &Path, cancel: CancellationToken) -> Ran {
    run_with(name, scenario, dir, cancel, &[]).await
}

/// [`run`], with `env` set for the CLI.
async fn run_with(name: &str, scenario: &str, dir: &Path, cancel: CancellationToken, env: &[(&str, &str)]) -> Ran {
    let model = ScriptedModel::start(Scenario::parse("test.toml", scenario).unwrap(), None).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let backend = common::claude(&Config::default(), home.path())(&model.url()).with_env(env);
    let raw = tempfile::tempdir().unwrap();
    let mut request = SessionRequest::new(
        "Build the greeter.",
        dir,
        Limits { max_turns: 20, wall_time: Duration::from_secs(120) },
        cancel,
    );
    request.raw_log = Some(raw.path().join("raw.jsonl"));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    let end = backend.run(request, tx).await;
    let elapsed = started.elapsed();
    let events = common::drain(&mut rx);
    if std::env::var_os("BATON_RECORD_FIXTURES").is_some() {
        let dest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude").join(common::claude_version());
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::copy(raw.path().join("raw.jsonl"), dest.join(format!("{name}.jsonl"))).unwrap();
    }
    Ran { end, events, model, elapsed }
}

const SESSION: &str = r##"
name = "claude session"
pace = { chunk_chars = 7 }

[[turns]]
id = "look"
start = "Build the greeter"
text = "Let me look around."
tools = [{ name = "bash", input = { command = "git status --short; ls -a" } }]

[[turns]]
id = "write"
text = "Writing the script."
tools = [{ name = "write_file", input = { path = "greet.sh", content = "#!/bin/sh\necho \"hello, $1\"\n" } }]

[[turns]]
id = "read"
tools = [{ name = "read_file", input = { path = "greet.sh" } }]

[[turns]]
id = "edit"
tools = [{ name = "edit", input = { path = "greet.sh", old_string = "hello", new_string = "Hello" } }]

[[turns]]
id = "commit"
tools = [{ name = "bash", input = { command = "sh greet.sh world && git add -A && git commit -qm 'Add the greeter' && echo committed" } }]

[[turns]]
id = "done"
text = "The greeter is committed."
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_runs_commands_and_edits_files_in_a_temp_repo() {
    let dir = common::temp_repo();
    let ran = run("session", SESSION, dir.path(), CancellationToken::new()).await;
    assert_eq!(ran.end.reason, EndReason::Completed, "{:#?}", ran.events);
    assert_eq!(std::fs::read_to_string(dir.path().join("greet.sh")).unwrap(), "#!/bin/sh\necho \"Hello, $1\"\n");
    let repo = git2::Repository::open(dir.path()).unwrap();
    assert_eq!(repo.head().unwrap().peel_to_commit().unwrap().summary().unwrap(), Some("Add the greeter"));

    let calls: Vec<&str> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolCall { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(calls, ["Bash", "Write", "Read", "Edit", "Bash"]);
    let r = common::tool_results(&ran.events);
    assert!(r.iter().all(|(_, err)| !err), "{r:?}");
    assert!(r[4].0.contains("Hello, world"), "{r:?}");
    assert!(matches!(ran.events.first(), Some(AgentEvent::Started { session_id: Some(_), .. })));
    let text = common::text_of(&ran.events);
    assert!(text.starts_with("Let me look around.Writing the script."), "{text}");
    assert!(ran.end.usage.input_tokens > 0 && ran.end.turns == 6, "{:?}", ran.end);
    assert!(ran.end.cost_usd > 0.0);
}

/// npm puts `claude` in `node_modules/.bin/` as a link: installed under /tmp (which a session's
/// view covers), the path it is run by must lead to the program inside the sandbox too (seen: every
/// session crashed with "cannot run .../node_modules/.bin/claude").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_run_by_a_link_in_tmp_runs_in_the_sandbox() {
    let dir = common::temp_repo();
    let install = tempfile::Builder::new().prefix("npm-").tempdir_in("/tmp").unwrap();
    let bin = install.path().join("node_modules/.bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(common::claude_bin().canonicalize().unwrap(), bin.join("claude")).unwrap();
    let model = ScriptedModel::start(Scenario::parse("test.toml", SESSION).unwrap(), None).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let backend = common::claude_at(bin.join("claude"), &Config::default(), home.path())(&model.url());
    let limits = Limits { max_turns: 20, wall_time: Duration::from_secs(120) };
    let request = SessionRequest::new("Build the greeter.", dir.path(), limits, CancellationToken::new());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let end = backend.run(request, tx).await;
    let events = common::drain(&mut rx);
    assert_eq!(end.reason, EndReason::Completed, "{events:#?}");
    assert!(dir.path().join("greet.sh").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_the_policy_refuses_does_not_run_and_the_model_hears_why() {
    let dir = common::temp_repo();
    let scenario = r#"
name = "refused"
[[turns]]
id = "fetch"
start = "Build"
tools = [{ name = "bash", input = { command = "curl -s https://example.com; touch ran.txt" } }]
[[turns]]
id = "end"
text = "The policy refused curl."
"#;
    let ran = run("refused", scenario, dir.path(), CancellationToken::new()).await;
    assert_eq!(ran.end.reason, EndReason::Completed);
    assert!(!dir.path().join("ran.txt").exists(), "nothing of the refused command ran");
    let denied: Vec<_> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::PolicyDenied { name, reason, .. } => Some((name.clone(), reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(denied.len(), 1, "{:#?}", ran.events);
    assert_eq!(denied[0].0, "Bash");
    assert!(denied[0].1.contains("`curl` is not on the allowlist"), "{denied:?}");
    // The refusal reached the model as an error tool result.
    let requests = ran.model.requests();
    let last = requests.last().unwrap()["messages"].as_array().unwrap().last().unwrap().clone();
    let block = last["content"].as_array().unwrap().iter().find(|b| b["type"] == "tool_result").unwrap().clone();
    assert_eq!(block["is_error"], true);
    assert!(block["content"].to_string().contains("Refused by baton's policy"), "{block}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_api_is_retried_by_the_cli_and_shown() {
    let dir = common::temp_repo();
    let scenario = SESSION.replace("id = \"write\"", "id = \"write\"\nfaults = [{ kind = \"overloaded\" }]");
    let ran = run("retry", &scenario, dir.path(), CancellationToken::new()).await;
    assert_eq!(ran.end.reason, EndReason::Completed);
    let retries: Vec<_> = ran.events.iter().filter(|e| matches!(e, AgentEvent::Retry { .. })).collect();
    assert_eq!(retries.len(), 1, "{retries:?}");
    let AgentEvent::Retry { reason, attempt, .. } = retries[0] else { unreachable!() };
    assert!(reason.contains("529"), "{reason}");
    assert_eq!(*attempt, 1);
    assert!(dir.path().join("greet.sh").exists());
}

fn processes_matching(needle: &str) -> Vec<String> {
    common::processes(|c| c.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_stops_claude_and_leaves_no_process_behind() {
    let dir = common::temp_repo();
    let marker = 600_000 + std::process::id() % 90_000;
    // Not a bare `sleep N`: the CLI (2.1.332) refuses a standalone sleep itself, and the command
    // must run for the interrupt to find it.
    let scenario = format!(
        r#"
name = "hang"
[[turns]]
id = "hang"
start = "Build"
tools = [{{ name = "bash", input = {{ command = "echo waiting && sleep {marker}" }} }}]
[[turns]]
id = "end"
text = "never"
"#
    );
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let needle = format!("sleep {marker}");
    let watcher = tokio::spawn(async move {
        for _ in 0..400 {
            if !processes_matching(&needle).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        trigger.cancel();
    });
    let ran = run("interrupt", &scenario, dir.path(), cancel).await;
    watcher.await.unwrap();
    assert_eq!(ran.end.reason, EndReason::Cancelled);
    assert!(ran.elapsed < Duration::from_secs(30));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(processes_matching(&format!("sleep {marker}")), Vec::<String>::new(), "the agent's command is gone");
    // Nothing at all still runs in the project directory: not claude, not its children.
    let dir_real = dir.path().canonicalize().unwrap();
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path().join("cwd")).is_ok_and(|c| c == dir_real))
        .map(|e| {
            String::from_utf8_lossy(&std::fs::read(e.path().join("cmdline")).unwrap_or_default()).replace('\0', " ")
        })
        .collect();
    assert_eq!(left, Vec::<String>::new(), "no process is left in the project");
    drop(ran.model);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_reported_as_success_is_classified_as_an_api_error() {
    let dir = common::temp_repo();
    let scenario = SESSION.replace("id = \"look\"", "id = \"look\"\nfaults = [{ kind = \"stream_cut\", times = 50 }]");
    // The CLI retries a cut stream itself (2.1.332: ten times, over minutes; 2.1.197: not at all):
    // one retry, so that it gives up within the test, as it does in the end.
    let retries = [("CLAUDE_CODE_MAX_RETRIES", "1")];
    let ran = run_with("stream-cut", &scenario, dir.path(), CancellationToken::new(), &retries).await;
    match &ran.end.reason {
        EndReason::ApiError { message, .. } => assert!(message.contains("API"), "{message}"),
        other => panic!("a cut stream is an API error, not {other:?}"),
    }
    assert!(!dir.path().join("greet.sh").exists());
    // And the loop calls a session that did nothing no_progress, whatever the CLI says.
    let (outcome, _) = baton::harness::outcome_of(&EndReason::Completed, false);
    assert_eq!(outcome, baton::project::session::Outcome::NoProgress);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baton_run_headless_with_claude_code_runs_a_whole_project() {
    let sandbox = common::Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.txt"), "A greeter in shell.\n").unwrap();
    sandbox.run(dir.path(), &["init", "--spec", "spec.txt"]).ok();
    std::fs::remove_file(dir.path().join("spec.txt")).unwrap();
    // The agent commits under the identity git finds, as on an operator's machine.
    let mut git = git2::Repository::open(dir.path()).unwrap().config().unwrap();
    git.set_str("user.name", "Agent").unwrap();
    git.set_str("user.email", "agent@example.com").unwrap();
    let text = include_str!("fixtures/loop.toml").replace("SLOW_STEP", "true");
    let model = ScriptedModel::start(Scenario::parse("loop.toml", &text).unwrap(), None).await.unwrap();
    let out = sandbox
        .baton(dir.path())
        .args(["run", "--headless", "--backend", "claude-code", "--approve", "auto", "--claude-bin"])
        .arg(common::claude_bin())
        .env("ANTHROPIC_BASE_URL", model.url())
        .env("ANTHROPIC_API_KEY", "test-key")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let run = common::Run::from(out).ok();
    assert!(run.stdout.lines().nth(1).is_some_and(|l| l.starts_with("baton: claude-code backend")), "{}", run.stdout);
    // Claude Code's own tools ran (2.1.197 names the file by its absolute path, 2.1.332 `./`).
    let wrote = run.stdout.lines().any(|l| l.starts_with("  ▸ Write: ") && l.ends_with("/feature_list.json"));
    assert!(wrote, "{}", run.stdout);
    // And every command of the agent's worked: its own commits too.
    assert!(!run.stdout.contains("    ✗ "), "{}", run.stdout);
    assert!(run.stdout.contains("run ended: done: every feature passes; 3/3 features passing"), "{}", run.stdout);
    let status = sandbox.run(dir.path(), &["status", "--json"]).ok().json();
    assert_eq!(status["state"], "done", "{}", run.stdout);
    assert_eq!(status["features"]["passing"], 3);
    let sessions = status["sessions"].as_array().unwrap();
    let kinds: Vec<&str> = sessions.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    // Each feature's session is followed by its evaluator, run through the CLI too.
    assert_eq!(kinds, ["initializer", "coding", "evaluator", "coding", "evaluator", "coding", "evaluator"]);
    assert!(sessions.iter().all(|s| s["outcome"] == "completed"), "{sessions:?}");
    assert!(
        sessions
            .iter()
            .filter(|s| s["kind"] == "coding")
            .all(|s| s["evaluation"]["features"][0]["judgement"] == "pass"),
        "{sessions:?}"
    );
    // The raw stream of each session is kept beside its transcript.
    assert!(dir.path().join(".baton/sessions/0002.raw.jsonl").exists());
}

/// The CLI's commands carry the session's mark, and baton's hook, run by the CLI, lets them
/// signal nothing else: an operator's process survives a `kill` in the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claude_session_may_signal_only_its_own_processes() {
    let dir = common::temp_repo();
    let mut operator = std::process::Command::new("sleep").arg("302").spawn().unwrap();
    let scenario = format!(
        r#"
name = "signals"
[[turns]]
id = "mark"
start = "Build"
tools = [{{ name = "bash", input = {{ command = "echo mark=$BATON_SESSION" }} }}]
[[turns]]
id = "kill"
tools = [{{ name = "bash", input = {{ command = "kill {pid}" }} }}]
[[turns]]
id = "end"
text = "Done."
"#,
        pid = operator.id()
    );
    let ran = run("signals", &scenario, dir.path(), CancellationToken::new()).await;
    let results = common::tool_results(&ran.events);
    assert!(results[0].0.contains("mark=") && !results[0].0.trim().ends_with("mark="), "{results:?}");
    let denied: Vec<String> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::PolicyDenied { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(denied.len(), 1, "{:#?}", ran.events);
    // The hook sees the session's own processes only (its PID namespace): the operator's is not
    // one of them.
    assert!(denied[0].contains("this session started"), "{denied:?}");
    assert!(operator.try_wait().unwrap().is_none(), "the operator's process still runs");
    operator.kill().unwrap();
    let _ = operator.wait();
}

/// The CLI's commands run in baton's sandbox (the hook hands the CLI the confined command): a
/// script the agent writes and runs cannot write outside the project, read a hidden file or reach
/// a server on the host's loopback, and work inside the project still goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claude_sessions_commands_are_confined_by_the_kernel() {
    let dir = common::temp_repo();
    let outside = common::outside_tmp();
    let secret_dir = outside.path().join("keys");
    std::fs::create_dir_all(&secret_dir).unwrap();
    std::fs::write(secret_dir.join("id_rsa"), "SECRET-KEY-MATERIAL").unwrap();
    std::fs::create_dir_all(dir.path().join(".baton")).unwrap();
    std::fs::write(
        dir.path().join(".baton/config.toml"),
        format!("[sandbox]\nhidden = [{:?}]\n", secret_dir.display().to_string()),
    )
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    // The policy sees `python3 escape.py`; what the script does only the kernel sees.
    let script = [
        "import socket".to_owned(),
        format!("try:\\n    open('{}/escaped', 'w').write('x')\\nexcept Exception as e:\\n    print('write:', e)", outside.path().display()),
        format!("try:\\n    print(open('{}/id_rsa').read())\\nexcept Exception as e:\\n    print('read:', e)", secret_dir.display()),
        format!("try:\\n    socket.create_connection(('127.0.0.1', {port}), 2)\\nexcept Exception as e:\\n    print('connect:', e)"),
    ]
    .join("\\n");
    let scenario = format!(
        r#"
name = "confined"
[[turns]]
id = "write-script"
start = "Build"
tools = [{{ name = "write_file", input = {{ path = "escape.py", content = "{script}" }} }}]
[[turns]]
id = "run-script"
tools = [{{ name = "bash", input = {{ command = "python3 escape.py; echo inside > made.txt && cat made.txt" }} }}]
[[turns]]
id = "fail"
tools = [{{ name = "bash", input = {{ command = "python3 -c \"open('/etc/baton-escape', 'w')\"" }} }}]
[[turns]]
id = "end"
text = "Done."
"#
    );
    let ran = run("confined", &scenario, dir.path(), CancellationToken::new()).await;
    let results = common::tool_results(&ran.events);
    let output = &results[results.len() - 2].0;
    assert!(!outside.path().join("escaped").exists(), "the script wrote outside: {output}");
    assert!(!output.contains("SECRET-KEY-MATERIAL"), "{output}");
    assert!(listener.accept().is_err(), "nothing reached the host's loopback: {output}");
    assert!(output.contains("write:") && output.contains("read:") && output.contains("connect:"), "{output}");
    assert!(output.contains("inside"), "work inside the project goes on: {output}");
    assert_eq!(std::fs::read_to_string(dir.path().join("made.txt")).unwrap(), "inside\n");
    let marked: Vec<&String> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::SandboxDenied { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    // Only the command that failed the sandbox's way is marked as refused by it.
    assert_eq!(marked.len(), 1, "{marked:?}");
    assert!(marked[0].contains("Read-only file system") || marked[0].contains("Permission denied"), "{marked:?}");
    assert!(!Path::new("/etc/baton-escape").exists());
}

/// A model that refuses: the CLI ends its turn; baton shows it and the session's end says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_through_the_cli_is_shown_and_recorded() {
    let dir = common::temp_repo();
    let scenario = r#"
name = "refusal"
[[turns]]
id = "no"
start = "Build the greeter"
text = "I can't help with that."
stop_reason = "refusal"
"#;
    let ran = run("model-refusal", scenario, dir.path(), CancellationToken::new()).await;
    assert_eq!(ran.end.reason, EndReason::Refused, "{:#?}", ran.events);
    assert!(common::notices(&ran.events).contains(&baton::agent::REFUSAL_NOTICE), "{:#?}", ran.events);
    let (outcome, detail) = baton::harness::outcome_of(&ran.end.reason, false);
    assert_eq!(outcome, baton::project::session::Outcome::NoProgress);
    assert!(detail.unwrap().contains("stop_reason: refusal"));
}

/// A reply cut at the output token limit through the CLI: the CLI goes on (it runs what the
/// reply held: baton cannot hold a call back from it), and the transcript and the record say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_cut_through_the_cli_is_shown_and_recorded() {
    let dir = common::temp_repo();
    let scenario = r#"
name = "cut"
[[turns]]
id = "long"
start = "Build the greeter"
text = "Writing everything at once."
stop_reason = "max_tokens"
tools = [{ name = "write_file", input = { path = "half.txt", content = "cut in the midd" } }]
[[turns]]
id = "end"
text = "Done."
"#;
    let ran = run("max-tokens", scenario, dir.path(), CancellationToken::new()).await;
    assert_eq!(ran.end.reason, EndReason::Completed, "{:#?}", ran.events);
    let shown = common::notices(&ran.events);
    assert_eq!(shown, ["the reply was cut at the output token limit (stop_reason: max_tokens)"], "{:#?}", ran.events);
    assert_eq!(ran.end.notes, ["1 reply was cut at the output token limit"]);
}

/// The CLI's commands share the session's loopback: a server one Bash call starts in the
/// background answers the next one (each command is confined on its own, in one network).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claude_sessions_server_is_reachable_from_its_next_command() {
    let dir = common::temp_repo();
    let scenario = r#"
name = "shared loopback"
[[turns]]
id = "serve"
start = "Build"
tools = [{ name = "bash", input = { command = "echo served > page.txt && (python3 -m http.server 8124 --bind 127.0.0.1 > server.log 2>&1 &) && for i in $(seq 100); do python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8124/')\" 2>/dev/null && break; sleep 0.1; done && echo started" } }]
[[turns]]
id = "fetch"
tools = [{ name = "bash", input = { command = "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8124/page.txt').read().decode())\"" } }]
[[turns]]
id = "end"
text = "Done."
"#;
    let ran = run("shared-loopback", scenario, dir.path(), CancellationToken::new()).await;
    let results = common::tool_results(&ran.events);
    assert_eq!(results.len(), 2, "{:#?}", ran.events);
    assert!(results[0].0.contains("started"), "{results:?}");
    assert!(results[1].0.contains("served"), "the next command reached the server: {results:?}");
    // The loop ends a session's daemons (tests/sandbox.rs); this backend-only test ends its own.
    let _ = std::process::Command::new("pkill").args(["-f", "http.server 8124"]).status();
}
