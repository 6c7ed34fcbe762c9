//! How far behind an attached screen is: from the loop writing a transcript line to the attached
//! screen drawing it, and from the attached screen sending a command to the loop acting on it.
//! The loop and the follower run in one process here, talking only through the project's files,
//! as two processes do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use baton::agent::AgentEvent;
use baton::agent::anthropic::AnthropicBackend;
use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::harness::{Command, Harness, HarnessEvent, RunOptions};
use baton::project::config::{ApprovePolicy, Mode};
use baton::tui::app::App;
use baton::tui::theme::Theme;

const SCENARIO: &str = r#"
name = "talk"
pace = { chunk_chars = 8, delay_ms = 20 }
[[turns]]
id = "talk"
start = "."
text = "TEXT"
"#;

/// `n` turns each running `command` (the first starts any conversation), then a last word.
pub fn tool_turns(name: &str, n: usize, command: impl Fn(usize) -> String) -> String {
    let mut text = format!("name = \"{name}\"\n");
    for i in 0..n {
        let start = if i == 0 { "start = \".\"\n" } else { "" };
        text.push_str(&format!(
            "[[turns]]\nid = \"t{i}\"\n{start}tools = [{{ name = \"bash\", input = {{ command = \"{}\" }} }}]\n",
            command(i)
        ));
    }
    text.push_str("[[turns]]\nid = \"done\"\ntext = \"Done.\"\n");
    text
}

/// A one-session loop of baton's own agent on the model at `url`, in a fresh project, approving
/// by itself; `ask` puts commands off the allowlist to the operator.
pub fn one_session(
    url: &str,
    ask: bool,
) -> (tempfile::TempDir, baton::harness::Handles, tokio::task::JoinHandle<RunResult>) {
    let dir = project();
    let project = baton::project::Project::open(dir.path()).unwrap();
    let backend = AnthropicBackend::new(url, "k", project.config()).unwrap();
    let mut opts = RunOptions::from_config(project.config());
    opts.approve = ApprovePolicy::Auto;
    opts.mode = Mode::Continuous;
    opts.max_sessions = Some(1);
    opts.ask = ask;
    let (h, handles) = Harness::new(project, Arc::new(backend), opts).unwrap();
    (dir, handles, tokio::spawn(h.run()))
}

/// What a loop's task gives back.
pub type RunResult = Result<baton::harness::StopReason, baton::harness::HarnessError>;

/// A git repository with a one-feature checklist, for a loop to run on.
pub fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("feature_list.json"),
        "[{\"category\":\"c\",\"description\":\"d\",\"steps\":[\"s\"],\"passes\":false}]\n",
    )
    .unwrap();
    let git = git2::Repository::init(dir.path()).unwrap();
    let mut c = git.config().unwrap();
    c.set_str("user.name", "b").unwrap();
    c.set_str("user.email", "b@b").unwrap();
    dir
}

pub fn attach(report: impl Fn(&str, String, &str)) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (lines, keys) = runtime.block_on(async {
        let text = (0..150).map(|i| format!("word{i:03} ")).collect::<String>();
        let scenario = Scenario::parse("talk", &SCENARIO.replace("TEXT", &text)).unwrap();
        let model = ScriptedModel::start(scenario, None).await.unwrap();
        let dir = project();
        let project = baton::project::Project::open(dir.path()).unwrap();
        let backend = AnthropicBackend::new(&model.url(), "k", project.config()).unwrap();
        let mut opts = RunOptions::from_config(project.config());
        opts.approve = ApprovePolicy::Auto;
        opts.mode = Mode::Step;
        opts.no_progress_sessions = 1000;
        // Ten sessions of talk on one feature: the breaker would pause the run at the third.
        opts.same_feature_sessions = 0;
        let (h, mut local) = Harness::new(project.clone(), Arc::new(backend), opts).unwrap();
        let task = tokio::spawn(h.run());
        let mut attached = baton::harness::attach::connect(project, std::process::id().to_string()).unwrap();
        let mut app = App::new(Theme { color: false }, "claude-progress.txt".into(), Mode::Step);
        let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
        let (mut line_lags, mut key_lags) = (Vec::new(), Vec::new());
        // The loop waits for `n` (step mode) before the first command.
        while !matches!(local.events.recv().await.unwrap(), HarnessEvent::Waiting { .. }) {}
        for _ in 0..10 {
            // A command from the attached side, until the loop starts the session; meanwhile the
            // attached screen takes in and draws what the loop writes.
            let sent = Instant::now();
            attached.commands.send(Command::StartNext).unwrap();
            let (mut written, mut drawn) = (Vec::new(), Vec::new());
            let mut waiting = false;
            while !waiting || drawn.len() < written.len() {
                tokio::select! {
                    ev = local.events.recv() => match ev.unwrap() {
                        HarnessEvent::SessionStarted { .. } => key_lags.push(sent.elapsed().as_secs_f64() * 1e3),
                        HarnessEvent::Agent { event: AgentEvent::TextDelta { .. }, .. } => written.push(Instant::now()),
                        HarnessEvent::Waiting { .. } => waiting = true,
                        _ => {}
                    },
                    ev = attached.events.recv() => {
                        let ev = ev.unwrap();
                        let is_line = matches!(&ev, HarnessEvent::Agent { event: AgentEvent::TextDelta { .. }, .. });
                        app.on_harness(ev);
                        if is_line {
                            terminal.draw(|f| app.render(f)).unwrap();
                            drawn.push(Instant::now());
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_secs(10)) => break,
                }
            }
            for (w, d) in written.iter().zip(&drawn) {
                line_lags.push(d.saturating_duration_since(*w).as_secs_f64() * 1e3);
            }
        }
        drop(local.commands);
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        (line_lags, key_lags)
    });
    report(
        "attach: transcript line written → drawn there",
        format!("{:.1} ms (of {})", super::median(lines.clone()), lines.len()),
        "< 100 ms",
    );
    report(
        "attach: command sent there → loop acts",
        format!("{:.1} ms (of {})", super::median(keys.clone()), keys.len()),
        "< 250 ms",
    );
}
