//! `baton demo [DIR]`: a new project built by the scripted model, with no key and no network,
//! through the same code paths a real run uses: the real HTTP and SSE, tools, policy, guard, git.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use color_eyre::Result;
use color_eyre::eyre::{WrapErr, eyre};

use crate::agent::Backend;
use crate::agent::anthropic::AnthropicBackend;
use crate::agent::claude_code::{ClaudeCodeBackend, find_claude};
use crate::agent::openai::OpenAiBackend;
use crate::agent::scripted::{Pace, Scenario, ScriptedModel};
use crate::harness::{Harness, RunOptions};
use crate::project::Project;
use crate::project::config::{ApprovePolicy, BackendKind, Mode, project_config_path};

pub const SPEC: &str = include_str!("../../assets/demo/app_spec.txt");
pub const SCENARIO: &str = include_str!("../../assets/demo/scenario.toml");
/// The web demo: a one-page counter, each feature tested in a real browser.
pub const WEB_SPEC: &str = include_str!("../../assets/demo-web/app_spec.txt");
pub const WEB_SCENARIO: &str = include_str!("../../assets/demo-web/scenario.toml");
/// The demo checks every session with the project's own tests.
pub const VERIFY: &str = "sh tests/run.sh";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoPace {
    /// Slow enough to read along.
    Slow,
    Normal,
    /// No pauses at all (for tests).
    Fast,
}

impl DemoPace {
    pub fn pace(self) -> Pace {
        match self {
            DemoPace::Slow => Pace { chunk_chars: 3, delay_ms: 45 },
            DemoPace::Normal => Pace { chunk_chars: 4, delay_ms: 20 },
            DemoPace::Fast => Pace { chunk_chars: 64, delay_ms: 0 },
        }
    }
}

#[derive(Debug, Clone)]
pub struct DemoArgs {
    pub dir: Option<PathBuf>,
    pub pace: DemoPace,
    pub backend: BackendKind,
    pub claude_bin: Option<PathBuf>,
    /// The web demo rather than the shell tool.
    pub web: bool,
}

/// The file that marks a directory as a demo project `baton demo` made, so that it goes on there.
const MARKER: &str = ".baton/demo";

/// Makes the demo project: the spec, git, baton's config with the project's tests as the verify
/// command. A demo project made before is opened as it is, to go on where it stopped; any other
/// directory that holds anything is refused.
pub fn create(dir: Option<&Path>, web: bool, out: &mut dyn Write) -> Result<Project> {
    let dir = match dir {
        Some(d) if d.join(MARKER).is_file() => {
            writeln!(out, "demo project: {} (going on where it stopped)", d.display())?;
            return Ok(Project::open(d)?);
        }
        Some(d) => {
            if d.exists() && std::fs::read_dir(d).map(|mut e| e.next().is_some()).unwrap_or(true) {
                return Err(eyre!(
                    "{} is not empty and not a demo project: baton demo makes a new project, so give it a new directory",
                    d.display()
                ));
            }
            d.to_owned()
        }
        None => tempfile::Builder::new().prefix("baton-demo-").tempdir().wrap_err("cannot make a temp dir")?.keep(),
    };
    // The browser first: without one the web demo cannot run, and nothing is made.
    let browser = if web { Some(super::browser::find(&dir)?) } else { None };
    std::fs::create_dir_all(&dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("app_spec.txt"), if web { WEB_SPEC } else { SPEC }).wrap_err("cannot write the spec")?;
    super::init::run(&dir, None, &mut std::io::sink())?;
    let config_path = project_config_path(&dir);
    match &browser {
        // The web demo is checked in the browser, by the agent; the shell demo by its tests.
        Some(found) => super::browser::add(&dir, found, &mut std::io::sink())?,
        None => {
            // The demo shows the evaluator catching a false claim and baton flipping it back.
            let config = std::fs::read_to_string(&config_path)?
                .replacen("# verify = \"\"", &format!("verify = \"{VERIFY}\""), 1)
                .replacen("# mode = \"report\"", "mode = \"enforce\"", 1);
            std::fs::write(&config_path, config)?;
        }
    }
    // The scripted agent commits with git; give the demo repo an identity if the machine has none.
    // In the repository's own config: the claude CLI runs with a home of its own, where the
    // machine's global identity is not seen.
    let git = git2::Repository::open(&dir)?;
    let (name, email) = match git.signature() {
        Ok(s) => (s.name().unwrap_or("baton demo").to_owned(), s.email().unwrap_or("demo@baton.invalid").to_owned()),
        Err(_) => ("baton demo".to_owned(), "demo@baton.invalid".to_owned()),
    };
    let mut c = git.config()?.open_level(git2::ConfigLevel::Local)?;
    c.set_str("user.name", &name)?;
    c.set_str("user.email", &email)?;
    crate::project::repo::Repo::open(&dir)?.commit_paths(
        &[Path::new("app_spec.txt")],
        "Add the demo's spec\n\nWritten by baton demo.\n",
        crate::project::repo::Author::Operator,
    )?;
    std::fs::write(dir.join(MARKER), "made by `baton demo`; `baton demo DIR` goes on here\n")
        .wrap_err("cannot mark the demo project")?;
    writeln!(out, "demo project: {}", dir.display())?;
    Ok(Project::open(&dir)?)
}

/// What runs the demo's sessions, for the status line: short, and long where there is room.
pub fn label(config: &crate::project::config::Config) -> (String, String) {
    ("demo: scripted model".to_owned(), format!("demo: scripted model, $ as {} would cost", config.agent.model))
}

/// What runs the demo's sessions, and whose prices its dollar figures are (the model it stands
/// in for): nobody is billed.
pub fn about(config: &crate::project::config::Config) -> String {
    format!(
        "demo: a scripted model on loopback plays the agent (no key, no network); its dollar figures are what {} would cost",
        config.agent.model
    )
}

/// The backend for the demo, talking to the scripted model at `url`.
pub fn backend(args: &DemoArgs, project: &Project, url: &str) -> Result<Arc<dyn Backend>> {
    crate::sandbox::ready(&project.config().sandbox)?;
    Ok(match args.backend {
        BackendKind::Anthropic => Arc::new(AnthropicBackend::new(url, "demo-key", project.config())?),
        // Chat completions' base address holds the `/v1`, as OPENAI_BASE_URL does.
        BackendKind::Openai => Arc::new(OpenAiBackend::new(&format!("{url}/v1"), "demo-key", project.config())?),
        BackendKind::ClaudeCode => {
            let claude = find_claude(args.claude_bin.as_deref(), &project.config().agent.claude_bin)?;
            let home = project.baton_dir().join("claude-home");
            std::fs::create_dir_all(&home)?;
            Arc::new(ClaudeCodeBackend::new(claude, project.config())?.with_env([
                ("ANTHROPIC_BASE_URL".to_owned(), url.to_owned()),
                ("ANTHROPIC_API_KEY".to_owned(), "demo-key".to_owned()),
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".to_owned(), "1".to_owned()),
                ("HOME".to_owned(), home.display().to_string()),
            ]))
        }
    })
}

pub fn scenario(pace: DemoPace, web: bool) -> Result<Scenario> {
    let mut s = match web {
        true => Scenario::parse("assets/demo-web/scenario.toml", WEB_SCENARIO)?,
        false => Scenario::parse("assets/demo/scenario.toml", SCENARIO)?,
    };
    s.pace = pace.pace();
    Ok(s)
}

/// `baton demo --headless`: every session approved as it ends, run to done.
pub fn headless(args: DemoArgs, json: bool, out: &mut dyn Write) -> Result<u8> {
    let project = create(args.dir.as_deref(), args.web, out)?;
    let root = project.root().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let ok = runtime.block_on(async {
        let model = ScriptedModel::start(scenario(args.pace, args.web)?, None).await?;
        let backend = backend(&args, &project, &model.url())?;
        let mut opts = RunOptions::from_config(project.config());
        opts.approve = ApprovePolicy::Auto;
        opts.mode = Mode::Continuous;
        if !json {
            writeln!(out, "{}", about(project.config()))?;
        }
        let (harness, handles) = Harness::new(project, backend, opts)?;
        super::run::drive_headless(harness, handles, json, out).await
    })?;
    if !json {
        writeln!(out, "demo project: {} (try: cd {} && baton status)", root.display(), root.display())?;
    }
    Ok(ok)
}
