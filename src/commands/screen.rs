//! Opening the screen: `baton` in a project, `baton run` without `--headless`, `baton demo`.

use std::io::Write;

use color_eyre::Result;

use crate::agent::scripted::ScriptedModel;
use crate::harness::RunOptions;
use crate::project::Project;
use crate::project::config::{ApprovePolicy, Mode};
use crate::tui::{self, Launch};

/// `baton` with no command, and `baton run` without `--headless`: the screen, or what to do when
/// this is not a project yet. Returns the exit status (128 plus the signal that ended it, if one did).
pub fn open(project: Project, args: super::run::RunArgs, out: &mut dyn Write) -> Result<u8> {
    if !project.looks_like_one() {
        writeln!(out, "{} is not a baton project yet.", project.root().display())?;
        writeln!(out, "  baton init --spec SPEC.txt   make it one, from a description of what to build")?;
        writeln!(out, "  baton demo                   try baton on a small demo project (no key, no network)")?;
        return Ok(0);
    }
    // A journal that cannot be read (a FIFO or a directory in its place) is said here, plainly,
    // as `baton status` says it, rather than as an empty screen.
    project.journal()?;
    let (config, mut opts) = args.apply(project.config());
    // `--ask` puts commands off the allowlist to the operator, as `[policy] unknown = "ask"` does.
    opts.ask |= args.ask;
    // Watching, reviewing and marking need no backend; the screen says why sessions cannot start.
    let kind = args.backend.unwrap_or(config.agent.backend);
    let claude_bin = args.claude_bin.as_deref();
    let (backend, evaluator) = match super::run::backend_for(&config, kind, claude_bin) {
        Ok(b) => match super::run::evaluator_for(&config, kind, claude_bin) {
            Ok(e) => (Ok(b), e),
            Err(e) => (Err(format!("{e:#}")), None),
        },
        Err(e) => (Err(e.to_string()), None),
    };
    tui::run(project, Launch { backend, evaluator, opts, start: false, label: None })
}

/// `baton demo` with the screen: sessions run on their own; each waits for your review.
pub fn demo(args: super::demo::DemoArgs, out: &mut dyn Write) -> Result<u8> {
    let project = super::demo::create(args.dir.as_deref(), args.web, out)?;
    let root = project.root().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    // The scripted model lives on this runtime for as long as the screen is open.
    let model = runtime.block_on(async {
        ScriptedModel::start(super::demo::scenario(args.pace, args.web)?, None).await.map_err(color_eyre::Report::from)
    })?;
    let backend = super::demo::backend(&args, &project, &model.url())?;
    let mut opts = RunOptions::from_config(project.config());
    opts.approve = ApprovePolicy::Manual;
    opts.mode = Mode::Continuous;
    let label = Some((super::demo::label(project.config()), super::demo::about(project.config())));
    let launch = Launch { backend: Ok(backend), evaluator: None, opts, start: true, label };
    let result = std::thread::scope(|s| s.spawn(|| tui::run(project, launch)).join());
    drop(model);
    drop(runtime);
    let status = match result {
        Ok(r) => r?,
        Err(_) => return Err(color_eyre::eyre::eyre!("the screen panicked (the terminal was restored)")),
    };
    writeln!(out, "demo project: {} (baton -C {} status)", root.display(), root.display())?;
    Ok(status)
}
