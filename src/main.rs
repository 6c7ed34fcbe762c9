//! The command line: parsing and dispatch only.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use baton::commands;
use baton::project::Project;
use baton::project::config::{ApprovePolicy, BackendKind};

/// Run an AI coding agent over a project too big for one context window: one fresh session at a
/// time, state carried in plain files and git, a human approving or vetoing each session's work.
#[derive(Parser, Debug)]
#[command(name = "baton", version, about)]
struct Cli {
    /// Run as if baton was started in DIR (as `git -C`).
    #[arg(short = 'C', global = true, value_name = "DIR")]
    chdir: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make DIR a baton project: git init if needed, .baton/config.toml, the spec.
    Init {
        /// The project directory (created if missing); the current directory by default.
        dir: Option<PathBuf>,
        /// A file describing what to build, copied to app_spec.txt.
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
        /// Give the sessions a browser: the Playwright MCP server with this machine's Chromium.
        #[arg(long)]
        browser: bool,
    },
    /// A new demo project driven by the scripted model: no key, no network.
    Demo {
        /// Where to make it (a new or empty directory); a fresh temp directory by default.
        dir: Option<PathBuf>,
        /// Without the screen: every session approved, run to done.
        #[arg(long)]
        headless: bool,
        /// With --headless: one JSON object per event.
        #[arg(long)]
        json: bool,
        /// How fast the scripted model types.
        #[arg(long, value_enum, default_value = "normal")]
        pace: commands::demo::DemoPace,
        /// Drive the demo with baton's own agent (on the Messages API or on chat completions) or
        /// with the real Claude Code CLI.
        #[arg(long, value_enum, default_value = "anthropic")]
        backend: BackendKind,
        /// The `claude` binary, for --backend claude-code.
        #[arg(long, value_name = "PATH")]
        claude_bin: Option<PathBuf>,
        /// The web demo: a one-page app, each feature tested in a real browser (needs the
        /// Playwright MCP server and Chromium, as `baton init --browser` does).
        #[arg(long)]
        web: bool,
    },
    /// The run's numbers: cost and tokens per newly passing feature, veto and false-pass rates,
    /// what the operator did.
    Report {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The screen, attached to the loop another baton runs on this project (what `baton` does
    /// then anyway): watch the running session live and steer it from here.
    Attach,
    /// Features, sessions and any pending review.
    Status {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The feature checklist.
    Features {
        #[command(subcommand)]
        command: FeaturesCommand,
    },
    /// The sessions run so far.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Run the loop: sessions one after another, each reviewed.
    Run {
        /// Without the screen: one line per event on stdout.
        #[arg(long)]
        headless: bool,
        /// With --headless: one JSON object per event instead of text.
        #[arg(long)]
        json: bool,
        /// How sessions run (default from the config).
        #[arg(long, value_enum)]
        backend: Option<BackendKind>,
        /// The model (default from the config).
        #[arg(long)]
        model: Option<String>,
        /// Stop after N sessions.
        #[arg(long, value_name = "N")]
        sessions: Option<u32>,
        /// Who approves each session's commits (default from the config).
        #[arg(long, value_enum)]
        approve: Option<ApprovePolicy>,
        /// Stop when this run has cost this many US dollars.
        #[arg(long, value_name = "USD")]
        budget: Option<f64>,
        /// The `claude` binary for the claude-code backend.
        #[arg(long, value_name = "PATH")]
        claude_bin: Option<PathBuf>,
        /// Put commands off the allowlist to the operator (answered with `baton answer`)
        /// instead of refusing them.
        #[arg(long)]
        ask: bool,
    },
    /// Answer a question a session waits on: may its command run?
    Answer {
        /// The question's number, as the run printed it.
        number: u32,
        /// allow: this once; always: and add its programs to [policy] allow; deny: do not run it.
        #[arg(value_enum)]
        answer: AnswerWord,
        /// With deny: what the agent reads instead of the command's output.
        #[arg(long)]
        message: Option<String>,
    },
    /// The kernel sandbox an agent's commands run in.
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
    /// Hooks baton installs in the agents it drives.
    Hook {
        #[command(subcommand)]
        command: HookCommand,
    },
    /// Serve a scenario as the scripted model on loopback, for trying clients against it.
    #[command(hide = true)]
    ScriptedModel {
        /// The scenario file (TOML).
        scenario: PathBuf,
    },
    /// Approve or veto the session waiting for a verdict.
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
    },
}

#[derive(Subcommand, Debug)]
enum SandboxCommand {
    /// What the sandbox allows on this machine, proved by a denied write and a denied connect.
    Check,
}

#[derive(Subcommand, Debug)]
enum HookCommand {
    /// baton's policy as a Claude Code PreToolUse hook: the hook's JSON on stdin, the decision on stdout.
    PreToolUse,
}

#[derive(Subcommand, Debug)]
enum ReviewCommand {
    /// Keep the session's commits.
    Approve,
    /// Take the branch back to where the session started; its tip is kept under refs/baton/vetoed/.
    Veto {
        /// Why: handed to the next session.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand, Debug)]
enum FeaturesCommand {
    /// List every feature, numbered from 1, with its pass mark.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Mark feature N passing or failing, and commit the change.
    Mark {
        /// The feature's number, counted from 1.
        number: usize,
        #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
        passes: bool,
    },
    /// Set feature N aside for now: moved to the end of the list and marked skipped (what to do
    /// when the circuit breaker says the run is stuck on it).
    Skip {
        /// The feature's number, counted from 1.
        number: usize,
    },
    /// Hand the next coding session a note (it is put in its prompt).
    Note {
        /// What the next session should know or try.
        text: String,
    },
}

#[derive(Subcommand, Debug)]
enum SessionsCommand {
    /// One line per session.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Everything recorded about session N.
    Show {
        number: u32,
        #[arg(long)]
        json: bool,
    },
}

/// The answers `baton answer` takes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum AnswerWord {
    Allow,
    Always,
    Deny,
}

fn main() -> ExitCode {
    // The sandbox launcher confines itself before anything else runs: no threads, no logging.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.len() > 2 && args[1] == "sandbox" && args[2] == "exec" {
        baton::sandbox::exec::main(&args[3..]);
    }
    // The file tools' process of a sandboxed session: small, and quiet on the terminal.
    if args.len() > 2 && args[1] == "tools" && args[2] == "serve" {
        baton::agent::tools::serve::main(&args[3..]);
    }
    if args.len() > 2 && args[1] == "sandbox" && args[2] == "hold" {
        baton::sandbox::hold::main(&args[3..]);
    }
    let _ = color_eyre::config::HookBuilder::default().display_env_section(false).install();
    baton::logging::init();
    let cli = Cli::parse();
    match run(cli) {
        // A headless run says how it ended in its exit status (3: the circuit breaker tripped).
        Ok(status) => ExitCode::from(status),
        // The reader went away (`baton features list --json | head -1`): nothing more to say.
        Err(err)
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                    || e.downcast_ref::<serde_json::Error>()
                        .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
                    || e.to_string().ends_with("Broken pipe (os error 32)")
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(err) => {
            let chain: Vec<String> = err.chain().map(|e| e.to_string()).collect();
            eprintln!("baton: {}", chain.join(": "));
            tracing::error!("{}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}

/// A command's exit status: 0 when it ended as asked, 1 when not.
fn status(as_asked: bool) -> u8 {
    u8::from(!as_asked)
}

/// Runs the command; the exit status when it ran (not 0 when it did not end as asked).
fn run(cli: Cli) -> color_eyre::Result<u8> {
    let explicit_dir = cli.chdir.clone();
    let base = cli.chdir.unwrap_or_else(|| PathBuf::from("."));
    // Not locked for the whole run: the screen writes to stdout from its own thread.
    let mut stdout = std::io::stdout();
    let out: &mut dyn Write = &mut stdout;
    let project = || Project::open_existing(&base);
    let done = match cli.command {
        Some(Command::Demo { dir, headless, json, pace, backend, claude_bin, web }) => {
            let dir = dir.map(|d| base.join(d));
            let args = commands::demo::DemoArgs { dir, pace, backend, claude_bin, web };
            if !headless {
                return commands::screen::demo(args, out);
            }
            return commands::demo::headless(args, json, out);
        }
        Some(Command::Sandbox { command: SandboxCommand::Check }) => {
            let project = Project::open_existing(&base).ok();
            return commands::sandbox::check(project.as_ref(), out).map(status);
        }
        Some(Command::Hook { command: HookCommand::PreToolUse }) => {
            let mut input = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)?;
            let root = explicit_dir.as_deref().map(std::path::absolute).transpose()?;
            let root = root.as_deref();
            if let Some(answer) = baton::agent::claude_code::pre_tool_use_hook(&input, root) {
                writeln!(out, "{answer}")?;
            }
            return Ok(0);
        }
        Some(Command::Run { headless, json, backend, model, sessions, approve, budget, claude_bin, ask }) => {
            if json && !headless {
                return Err(color_eyre::eyre::eyre!("--json goes with --headless: the screen has no JSON to print"));
            }
            let args =
                commands::run::RunArgs { json, backend, model, sessions, approve, budget_usd: budget, claude_bin, ask };
            if !headless {
                // The loop with the screen, as `baton` opens it, with these settings.
                return commands::screen::open(project()?, args, out);
            }
            return commands::run::run(project()?, args, out);
        }
        Some(Command::ScriptedModel { scenario }) => {
            let scenario = baton::agent::scripted::Scenario::load(&scenario)?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            return runtime.block_on(async {
                let model = baton::agent::scripted::ScriptedModel::start(scenario, None).await?;
                writeln!(out, "{}", model.url())?;
                out.flush()?;
                tokio::signal::ctrl_c().await?;
                Ok(0)
            });
        }
        Some(Command::Review { command }) => match command {
            ReviewCommand::Approve => commands::review::run(&project()?, true, None, out),
            ReviewCommand::Veto { reason } => commands::review::run(&project()?, false, Some(reason), out),
        },
        Some(Command::Init { dir, spec, browser }) => {
            let dir = base.join(dir.unwrap_or_default());
            let found = if browser { Some(commands::browser::find(&dir)?) } else { None };
            commands::init::run(&dir, spec.as_deref(), out).and_then(|()| match &found {
                Some(found) => commands::browser::add(&dir, found, out),
                None => Ok(()),
            })
        }
        Some(Command::Status { json }) => commands::status::run(&project()?, json, out),
        Some(Command::Report { json }) => commands::report::run(&project()?, json, out),
        Some(Command::Answer { number, answer, message }) => {
            use baton::project::journal::Answer;
            let answer = match (answer, message) {
                (AnswerWord::Allow, None) => Answer::Once,
                (AnswerWord::Always, None) => Answer::Always,
                (AnswerWord::Deny, Some(m)) if !m.trim().is_empty() => Answer::Deny { message: m },
                (AnswerWord::Deny, _) => {
                    return Err(color_eyre::eyre::eyre!("a denial needs --message TEXT: the agent reads it"));
                }
                (_, Some(_)) => return Err(color_eyre::eyre::eyre!("--message goes with deny only")),
            };
            commands::answer::run(&project()?, number, answer, out)
        }
        None => {
            return commands::screen::open(Project::open(&base)?, commands::run::RunArgs::default(), out);
        }
        Some(Command::Attach) => {
            let project = project()?;
            if baton::project::lock::holder(&project.baton_dir()).is_none() {
                writeln!(out, "no loop runs on {} now: the screen runs it here", project.root().display())?;
            }
            return commands::screen::open(project, commands::run::RunArgs::default(), out);
        }
        Some(Command::Features { command }) => match command {
            FeaturesCommand::List { json } => commands::features::list(&project()?, json, out),
            FeaturesCommand::Mark { number, passes } => commands::features::mark(&project()?, number, passes, out),
            FeaturesCommand::Skip { number } => commands::features::skip(&project()?, number, out),
            FeaturesCommand::Note { text } => commands::features::note(&project()?, &text, out),
        },
        Some(Command::Sessions { command }) => match command {
            SessionsCommand::List { json } => commands::sessions::list(&project()?, json, out),
            SessionsCommand::Show { number, json } => commands::sessions::show(&project()?, number, json, out),
        },
    };
    done.map(|()| 0)
}
