//! Helpers shared by the integration tests: the real binary with an isolated environment, and
//! real git repositories in temp dirs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod fleet;
pub mod lab;
pub mod pty;
pub mod screen;
pub mod svg;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// This test process's `XDG_STATE_HOME`, where baton's own state (the journal's keys) goes: for a
/// binary run beside a loop in this process.
pub fn state_home() -> PathBuf {
    let keys = baton::project::journal::keys::dir().expect("a state directory");
    keys.parent().and_then(Path::parent).expect("keys live in STATE/baton/keys").to_owned()
}

/// A temp dir that stands for the user's home: config, state and git's global config all go here,
/// so nothing on the machine leaks into a test and a test leaks nothing out.
pub struct Sandbox {
    pub home: tempfile::TempDir,
    /// Where the binary keeps its state (the journal's keys among it): the sandbox's own, or this
    /// test process's, for a test whose loop runs here and whose commands run as the binary.
    state: Option<PathBuf>,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox { home: tempfile::tempdir().unwrap(), state: None }
    }

    /// A sandbox whose binary keeps its state where this test process does: the journal a loop
    /// in this process seals, the binary's `baton review` seals with the same key, as the
    /// operator's processes all do.
    pub fn sharing_keys() -> Self {
        Sandbox { home: tempfile::tempdir().unwrap(), state: Some(state_home()) }
    }

    /// The real `baton` binary, run in `dir`, with HOME and the XDG dirs inside the sandbox.
    pub fn baton(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
        let home = self.home.path();
        cmd.current_dir(dir)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_STATE_HOME", self.state.clone().unwrap_or_else(|| home.join(".local/state")))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_AUTHOR_NAME")
            .env_remove("GIT_AUTHOR_EMAIL")
            .env_remove("GIT_COMMITTER_NAME")
            .env_remove("GIT_COMMITTER_EMAIL")
            .env_remove("RUST_LOG");
        cmd
    }

    /// Runs baton with `args` in `dir` and returns what it printed.
    pub fn run(&self, dir: &Path, args: &[&str]) -> Run {
        let output = self.baton(dir).args(args).output().unwrap();
        Run::from(output)
    }
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "baton failed:\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }

    pub fn failed(self) -> Self {
        assert_ne!(self.code, Some(0), "baton should have failed:\nstdout: {}", self.stdout);
        assert!(!self.stderr.is_empty(), "a failure says why on stderr");
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample")
}

/// Copies every file of `from` into `to` (flat), keeping permissions.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A git repository holding a copy of the sample project in the quickstart's layout, with every
/// file committed once, by a configured operator identity.
pub fn quickstart_repo() -> (tempfile::TempDir, git2::Repository) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&sample_dir(), dir.path());
    let repo = git2::Repository::init(dir.path()).unwrap();
    {
        let mut config = repo.config().unwrap();
        config.set_str("user.name", "Ada Operator").unwrap();
        config.set_str("user.email", "ada@example.com").unwrap();
    }
    commit_all(&repo, "Initial commit from the quickstart");
    (dir, repo)
}

pub fn commit_all(repo: &git2::Repository, message: &str) -> git2::Oid {
    let mut index = repo.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("Ada Operator", "ada@example.com").unwrap();
    let parent = repo.head().ok().and_then(|h| h.target()).map(|o| repo.find_commit(o).unwrap());
    let parents: Vec<_> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents).unwrap()
}

pub fn commit_count(repo: &git2::Repository) -> usize {
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    walk.count()
}

/// Whether git sees no change and no untracked file (ignored files, like `.baton/`, aside).
pub fn is_clean(repo: &git2::Repository) -> bool {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).include_ignored(false);
    let statuses = repo.statuses(Some(&mut opts)).unwrap();
    let dirty: Vec<_> = statuses.iter().map(|s| s.path().unwrap_or("?").to_owned()).collect();
    dirty.is_empty()
}

/// The version of Claude Code the tests and the recorded fixtures are made with.
pub const CLAUDE_CODE_VERSION: &str = "2.1.197";

/// The real `claude` CLI: `BATON_CLAUDE_BIN` if set, else a copy installed from the npm registry
/// into `target/claude-cli` (installed here on first use, so `cargo test` needs nothing by hand).
pub fn claude_bin() -> PathBuf {
    npm_bin("BATON_CLAUDE_BIN", "claude-cli", &format!("@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}"), "claude")
}

/// The version the real `claude` CLI says it is (`2.1.197`), for the fixtures recorded from it.
pub fn claude_version() -> String {
    let out = Command::new(claude_bin()).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next().expect("`claude --version` prints its version").to_owned()
}

/// The version of `@playwright/mcp` the browser tests drive.
pub const PLAYWRIGHT_MCP_VERSION: &str = "0.0.83";

/// The real Playwright MCP server: `BATON_PLAYWRIGHT_MCP` if set, else installed from the npm
/// registry into `target/playwright-mcp` on first use.
pub fn playwright_mcp() -> PathBuf {
    npm_bin(
        "BATON_PLAYWRIGHT_MCP",
        "playwright-mcp",
        &format!("@playwright/mcp@{PLAYWRIGHT_MCP_VERSION}"),
        "playwright-mcp",
    )
}

/// The machine's Chromium (Debian's `chromium` package; `.ci/run` installs it).
pub fn chromium() -> PathBuf {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.exists());
    found.expect("the browser tests need Chromium: apt-get install chromium (.ci/run installs it)")
}

/// `env` if set, else `bin` of `package` installed into `target/<dir>` (one installer at a time
/// across test processes).
fn npm_bin(env: &str, dir: &str, package: &str, bin: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join(dir);
    let path = dir.join("node_modules/.bin").join(bin);
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join(".lock")).unwrap();
    // SAFETY: flock on a file we own.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    if !path.exists() {
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(package)
            .status()
            .unwrap_or_else(|e| panic!("npm is needed to install {package} for the tests: {e}"));
        assert!(status.success(), "npm install {package} failed");
    }
    path
}

/// A new directory outside /tmp (and the other directories a session's view covers), for what a
/// test puts "outside the project": the target directory's, or, when the checkout itself lies
/// under /tmp, one in the user's cache directory.
pub fn outside_tmp() -> tempfile::TempDir {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let covered = ["/tmp", "/var/tmp", "/run"].iter().any(|c| target.starts_with(c));
    let base = if covered {
        let home = std::env::var_os("HOME").map(PathBuf::from).expect("HOME is set");
        home.join(".cache/baton-tests")
    } else {
        target.to_owned()
    };
    std::fs::create_dir_all(&base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

/// The command lines of the processes that carry `session`'s mark: none may outlive it.
pub fn marked_processes(session: &str) -> Vec<String> {
    let mark = format!("BATON_SESSION={session}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == mark.as_bytes()))
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect()
}

/// An empty git repository with an agent's identity, for a backend to work in.
pub fn temp_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(dir.path()).unwrap();
    let mut config = repo.config().unwrap();
    config.set_str("user.name", "Agent").unwrap();
    config.set_str("user.email", "agent@example.com").unwrap();
    dir
}

/// The command lines of the processes on the machine for which `pick` holds.
pub fn processes(pick: impl Fn(&str) -> bool) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let c = std::fs::read(e.path().join("cmdline")).ok()?;
            // A zombie has an empty cmdline; a live process shows its arguments.
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            pick(&c).then_some(c)
        })
        .collect()
}

/// The (output, is_error) of every tool result among `events`.
pub fn tool_results(events: &[baton::agent::AgentEvent]) -> Vec<(String, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            baton::agent::AgentEvent::ToolResult { output, is_error, .. } => Some((output.clone(), *is_error)),
            _ => None,
        })
        .collect()
}

/// All the assistant text among `events`.
pub fn text_of(events: &[baton::agent::AgentEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            baton::agent::AgentEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// All the model's thinking among `events`.
pub fn thinking_of(events: &[baton::agent::AgentEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            baton::agent::AgentEvent::ThinkingDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// A loop on a demo project, driven by baton's own agent against the scripted model at `model`,
/// with the approve policy and mode a test asks for (step mode's `n` is the test's to send).
pub fn demo_harness(
    project: baton::project::Project,
    model: &baton::agent::scripted::ScriptedModel,
    approve: baton::project::config::ApprovePolicy,
    mode: baton::project::config::Mode,
    tweak: impl FnOnce(&mut baton::harness::RunOptions),
) -> (baton::harness::Harness, baton::harness::Handles) {
    use baton::commands::demo::{self, DemoArgs, DemoPace};
    let args = DemoArgs {
        dir: None,
        pace: DemoPace::Fast,
        backend: baton::project::config::BackendKind::Anthropic,
        claude_bin: None,
        web: false,
    };
    let backend = demo::backend(&args, &project, &model.url()).unwrap();
    let mut opts = baton::harness::RunOptions::from_config(project.config());
    opts.approve = approve;
    opts.mode = mode;
    tweak(&mut opts);
    baton::harness::Harness::new(project, backend, opts).unwrap()
}

/// Runs one session of `scenario` (a scripted-model scenario's text) with baton's own agent in
/// `dir`, in step mode with manual approval; vetoes it with `veto` if given, else leaves it at
/// its review. Returns the session's summary and every event the loop sent.
pub async fn one_session(
    dir: &Path,
    scenario: &str,
    veto: Option<&str>,
) -> (baton::project::journal::SessionSummary, Vec<baton::harness::HarnessEvent>) {
    one_session_on(false, dir, scenario, veto).await
}

/// [`one_session`] on baton's own agent or (`cli`) the real `claude` CLI.
pub async fn one_session_on(
    cli: bool,
    dir: &Path,
    scenario: &str,
    veto: Option<&str>,
) -> (baton::project::journal::SessionSummary, Vec<baton::harness::HarnessEvent>) {
    use baton::harness::{Command, HarnessEvent};
    let scenario = baton::agent::scripted::Scenario::parse("inline.toml", scenario).unwrap();
    let model = baton::agent::scripted::ScriptedModel::start(scenario, None).await.unwrap();
    let project = baton::project::Project::open(dir).unwrap();
    let home = tempfile::tempdir().unwrap();
    let backend = backend(&project, &model.url(), cli, home.path());
    let mut opts = baton::harness::RunOptions::from_config(project.config());
    opts.approve = baton::project::config::ApprovePolicy::Manual;
    opts.mode = baton::project::config::Mode::Step;
    let (harness, mut handles) = baton::harness::Harness::new(project, backend, opts).unwrap();
    let task = tokio::spawn(harness.run());
    handles.commands.send(Command::StartNext).unwrap();
    let mut events = Vec::new();
    // Everything here must end within the timeout (a FIFO in the feature list's place once hung
    // the loop).
    while let Some(ev) = tokio::time::timeout(std::time::Duration::from_secs(60), handles.events.recv()).await.unwrap()
    {
        match (&ev, veto) {
            (HarnessEvent::ReviewNeeded { review, waiting: true }, Some(reason)) => {
                handles.commands.send(Command::Veto(review.number, reason.into())).unwrap();
            }
            (HarnessEvent::ReviewNeeded { waiting: true, .. }, None) | (HarnessEvent::Verdict { .. }, _) => {
                handles.commands.send(Command::Quit).unwrap();
            }
            _ => {}
        }
        events.push(ev);
    }
    task.await.unwrap().unwrap();
    let entries = baton::project::Project::open(dir).unwrap().journal().unwrap().entries;
    // The session asked for, not the evaluator that may have followed it.
    let sessions = baton::project::journal::sessions(&entries);
    let session = sessions.iter().rev().find(|s| s.kind != baton::project::session::SessionKind::Evaluator);
    (session.unwrap().clone(), events)
}

/// A finished session's report, in tests that know it finished.
pub trait Ended {
    fn r(&self) -> &baton::project::journal::SessionReport;
}

impl Ended for baton::project::journal::SessionSummary {
    fn r(&self) -> &baton::project::journal::SessionReport {
        self.end.as_ref().expect("the session ended")
    }
}

/// What one agent session did, as a test reads it.
pub struct AgentRun {
    pub end: baton::agent::SessionEnd,
    pub events: Vec<baton::agent::AgentEvent>,
    /// The request bodies the scripted model received.
    pub requests: Vec<serde_json::Value>,
    /// The session's mark, to find what it left running.
    pub session: String,
}

/// Every event a backend sent, once it is done.
pub fn drain(rx: &mut tokio::sync::mpsc::UnboundedReceiver<baton::agent::AgentEvent>) -> Vec<baton::agent::AgentEvent> {
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    events
}

/// One session of `backend` (given the scripted model's URL) on `scenario`, started with
/// `prompt` in `dir`; `tweak` adjusts the request (its artifacts, its cancel token).
pub async fn session_of<B: baton::agent::Backend>(
    backend: impl FnOnce(&str) -> B,
    dir: &Path,
    prompt: &str,
    scenario: &str,
    limits: baton::agent::Limits,
    tweak: impl FnOnce(&mut baton::agent::SessionRequest),
) -> AgentRun {
    let scenario = baton::agent::scripted::Scenario::parse("test.toml", scenario).unwrap();
    let model = baton::agent::scripted::ScriptedModel::start(scenario, None).await.unwrap();
    let backend = backend(&model.url());
    let mut request =
        baton::agent::SessionRequest::new(prompt, dir, limits, tokio_util::sync::CancellationToken::new());
    tweak(&mut request);
    let session = request.session.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let end = backend.run(request, tx).await;
    AgentRun { end, events: drain(&mut rx), requests: model.requests(), session }
}

/// baton's own agent under `config`, against the model at `url`.
pub fn agent(
    config: &baton::project::config::Config,
) -> impl FnOnce(&str) -> baton::agent::anthropic::AnthropicBackend {
    move |url| baton::agent::anthropic::AnthropicBackend::new(url, "test-key", config).unwrap()
}

/// The real `claude` CLI under `config`, against the model at `url`, offline and with a home of
/// its own in `home`.
pub fn claude(
    config: &baton::project::config::Config,
    home: &Path,
) -> impl FnOnce(&str) -> baton::agent::claude_code::ClaudeCodeBackend {
    claude_at(claude_bin(), config, home)
}

/// [`claude`], run by the path `bin`.
pub fn claude_at(
    bin: PathBuf,
    config: &baton::project::config::Config,
    home: &Path,
) -> impl FnOnce(&str) -> baton::agent::claude_code::ClaudeCodeBackend {
    move |url| {
        baton::agent::claude_code::ClaudeCodeBackend::new(bin, config)
            .unwrap()
            .with_baton(PathBuf::from(env!("CARGO_BIN_EXE_baton")))
            .with_env([
                ("ANTHROPIC_BASE_URL".to_owned(), url.to_owned()),
                ("ANTHROPIC_API_KEY".to_owned(), "test-key".to_owned()),
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".to_owned(), "1".to_owned()),
                ("HOME".to_owned(), home.display().to_string()),
                ("XDG_CONFIG_HOME".to_owned(), home.join(".config").display().to_string()),
            ])
    }
}

/// The notices among `events`.
pub fn notices(events: &[baton::agent::AgentEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            baton::agent::AgentEvent::Notice { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// A committed project that already has its checklist: `files` (name, content) written, `baton
/// init` done, `config` as its `.baton/config.toml`, an agent's git identity.
pub fn project_with(files: &[(&str, &str)], config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    project_in(dir.path(), files, config);
    dir
}

/// [`project_with`] in `dir` (made if missing).
pub fn project_in(dir: &Path, files: &[(&str, &str)], config: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
    Sandbox::new().run(dir, &["init"]).ok();
    std::fs::write(dir.join(".baton/config.toml"), config).unwrap();
    let repo = git2::Repository::open(dir).unwrap();
    let mut c = repo.config().unwrap();
    c.set_str("user.name", "Agent").unwrap();
    c.set_str("user.email", "agent@example.com").unwrap();
    commit_all(&repo, "The project");
}

/// A project past its initializer: a two-feature spec, `features` as its checklist, notes, an
/// `init.sh`, and `extra` files, committed, with `config` as its baton config.
pub fn checklist_project(features: &str, extra: &[(&str, &str)], config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    checklist_project_in(dir.path(), features, extra, config);
    dir
}

/// [`checklist_project`] in `dir` (made if missing).
pub fn checklist_project_in(dir: &Path, features: &str, extra: &[(&str, &str)], config: &str) {
    let mut files = vec![
        ("app_spec.txt", "Two features.\n"),
        ("feature_list.json", features),
        ("claude-progress.txt", "Session 1: wrote the list.\n"),
        ("init.sh", "#!/bin/sh\necho ready\n"),
    ];
    files.extend_from_slice(extra);
    project_in(dir, &files, config);
}

/// baton's own agent, or (`cli`) the real `claude` CLI with its home in `home`, against the
/// scripted model at `url`, for a loop on `project`.
pub fn backend(
    project: &baton::project::Project,
    url: &str,
    cli: bool,
    home: &Path,
) -> std::sync::Arc<dyn baton::agent::Backend> {
    if cli {
        std::sync::Arc::new(claude(project.config(), home)(url))
    } else {
        std::sync::Arc::new(agent(project.config())(url))
    }
}

/// The greeter session (`tests/fixtures/greeter.toml`), with `faults` (a TOML line such as
/// `faults = [{ kind = "overloaded" }]`) on its write turn.
pub fn greeter(faults: &str) -> String {
    include_str!("../fixtures/greeter.toml").replace("# FAULTS", faults)
}

/// What one session did against the scripted model, and what the model saw.
pub struct Scripted {
    pub end: baton::agent::SessionEnd,
    pub events: Vec<baton::agent::AgentEvent>,
    pub requests: Vec<serde_json::Value>,
    pub headers: Vec<std::collections::BTreeMap<String, String>>,
    pub elapsed: std::time::Duration,
    /// The scripted model's host and port.
    pub server: String,
}

/// One session of the backend `backend` makes (given the scripted model's URL) on `scenario`,
/// started with "Build the greeter." in `dir`, against the scripted model playing `profile`.
pub async fn scripted(
    backend: impl FnOnce(&str) -> Box<dyn baton::agent::Backend>,
    profile: baton::agent::scripted::Profile,
    scenario: &str,
    dir: &Path,
    limits: baton::agent::Limits,
    cancel: tokio_util::sync::CancellationToken,
) -> Scripted {
    let scenario = baton::agent::scripted::Scenario::parse("test.toml", scenario).unwrap();
    let model = baton::agent::scripted::ScriptedModel::start_as(scenario, None, profile).await.unwrap();
    let backend = backend(&model.url());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let started = std::time::Instant::now();
    let end = backend.run(baton::agent::SessionRequest::new("Build the greeter.", dir, limits, cancel), tx).await;
    let elapsed = started.elapsed();
    let server = model.url().trim_start_matches("http://").to_owned();
    Scripted { end, events: drain(&mut rx), requests: model.requests(), headers: model.headers(), elapsed, server }
}

/// The greeter went well: the script written, edited, run and committed, the closing word said,
/// in five turns.
pub fn assert_greeter_done(dir: &Path, ran: &Scripted) {
    assert_eq!(ran.end.reason, baton::agent::EndReason::Completed, "{:#?}", ran.events);
    assert_eq!(std::fs::read_to_string(dir.join("bin/greet.sh")).unwrap(), "#!/bin/sh\necho \"Hello, $1\"\n");
    let repo = git2::Repository::open(dir).unwrap();
    assert_eq!(repo.head().unwrap().peel_to_commit().unwrap().summary().unwrap(), Some("Add the greeter"));
    let text = text_of(&ran.events);
    assert!(text.ends_with("The greeter says hello to world. Done."), "{text}");
    assert_eq!(ran.end.turns, 5);
}

/// The retries a session showed: (reason, wait in ms).
pub fn retries(events: &[baton::agent::AgentEvent]) -> Vec<(String, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            baton::agent::AgentEvent::Retry { reason, wait_ms, .. } => Some((reason.clone(), *wait_ms)),
            _ => None,
        })
        .collect()
}
