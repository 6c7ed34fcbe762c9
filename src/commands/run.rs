//! `baton run --headless`: the loop without a screen. One readable line per event, or one JSON
//! object per event with `--json`.

use std::io::Write;
use std::sync::Arc;

use color_eyre::Result;
use color_eyre::eyre::{WrapErr, eyre};

use crate::agent::anthropic::AnthropicBackend;
use crate::agent::openai::OpenAiBackend;
use crate::agent::{AgentEvent, Backend};
use crate::harness::{Command, Handles, Harness, HarnessEvent, RunOptions};
use crate::project::Project;
use crate::project::config::{ApprovePolicy, BackendKind, Config, Mode};
use crate::project::session;

/// What the command line may override.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    pub json: bool,
    pub backend: Option<BackendKind>,
    pub model: Option<String>,
    pub sessions: Option<u32>,
    pub approve: Option<ApprovePolicy>,
    pub budget_usd: Option<f64>,
    pub claude_bin: Option<std::path::PathBuf>,
    /// Headless: put commands off the allowlist to the operator (`baton answer`).
    pub ask: bool,
}

impl RunArgs {
    /// The project's config and run options with the command line's overrides applied.
    pub fn apply(&self, config: &Config) -> (Config, RunOptions) {
        let mut config = config.clone();
        if let Some(m) = &self.model {
            config.agent.model = m.clone();
        }
        let mut opts = RunOptions::from_config(&config);
        // A loop the command line starts shares the user's fleet (its cap, its accounts' limits).
        opts.fleet = crate::fleet::Dirs::from_env();
        if let Some(a) = self.approve {
            opts.approve = a;
        }
        if let Some(n) = self.sessions {
            opts.max_sessions = Some(n);
        }
        if let Some(b) = self.budget_usd {
            opts.budget_usd = Some(b);
        }
        (config, opts)
    }
}

/// The backend a run uses: from the command line, else the config.
pub fn backend_for(
    config: &Config,
    kind: BackendKind,
    claude_bin: Option<&std::path::Path>,
) -> Result<Arc<dyn Backend>> {
    crate::sandbox::ready(&config.sandbox)?;
    match kind {
        // Loops on one key pace together, as they share the key's rate limits.
        BackendKind::Anthropic => Ok(Arc::new(paced_with_the_fleet(AnthropicBackend::from_config(config)?))),
        BackendKind::Openai => Ok(Arc::new(paced_with_the_fleet(OpenAiBackend::from_config(config)?))),
        BackendKind::ClaudeCode => {
            let claude = crate::agent::claude_code::find_claude(claude_bin, &config.agent.claude_bin)?;
            Ok(Arc::new(crate::agent::claude_code::ClaudeCodeBackend::new(claude, config)?))
        }
    }
}

/// baton's own agent pacing by its server's rate-limit headers with every other loop on the same
/// key, through the user's state directory.
fn paced_with_the_fleet<F: crate::agent::native::client::Format>(
    agent: crate::agent::native::Agent<F>,
) -> crate::agent::native::Agent<F> {
    match crate::fleet::Dirs::from_env() {
        Some(dirs) => agent.with_shared_pacing(&dirs),
        None => agent,
    }
}

/// The evaluator's backend when `[evaluate]` names another backend or model than the sessions'
/// (`kind` is theirs); `None` when the sessions' own serves.
pub fn evaluator_for(
    config: &Config,
    kind: BackendKind,
    claude_bin: Option<&std::path::Path>,
) -> Result<Option<Arc<dyn Backend>>> {
    let evaluator = config.for_evaluator();
    let evaluator_kind = config.evaluate.backend.unwrap_or(kind);
    // The same backend, model and server as the sessions': their backend serves.
    let same = |a: &crate::project::config::Agent| (a.model.clone(), a.base_url.clone(), a.api_key_env.clone(), a.auth);
    if evaluator_kind == kind && same(&evaluator.agent) == same(&config.agent) {
        return Ok(None);
    }
    backend_for(&evaluator, evaluator_kind, claude_bin)
        .map(Some)
        .wrap_err("cannot set up the evaluator's backend ([evaluate] in .baton/config.toml)")
}

/// Runs the loop headless. Returns its exit status (see `StopReason::exit_code`; 1 when
/// interrupted).
pub fn run(project: Project, args: RunArgs, out: &mut dyn Write) -> Result<u8> {
    // Say who runs the loop before anything else can go wrong.
    if let Some(pid) = crate::project::lock::holder(&project.baton_dir()) {
        return Err(crate::project::lock::LockError::Held { pid }.into());
    }
    let root = project.root().to_owned();
    let (config, mut opts) = args.apply(project.config());
    let kind = args.backend.unwrap_or(config.agent.backend);
    let backend = backend_for(&config, kind, args.claude_bin.as_deref())?;
    let evaluator = evaluator_for(&config, kind, args.claude_bin.as_deref())?;
    // Without a screen nobody presses `n`: sessions follow one another. Nobody is asked
    // anything unless --ask says someone will answer.
    opts.mode = Mode::Continuous;
    opts.ask = args.ask;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("cannot start the async runtime")?;
    runtime.block_on(async move {
        let (mut harness, handles) = Harness::new(project, backend, opts.clone())?;
        if let Some(e) = evaluator {
            harness = harness.with_evaluator(e);
        }
        if !args.json {
            let root = std::path::absolute(&root).unwrap_or(root);
            let root = crate::sandbox::shell_quote(&root.display().to_string());
            writeln!(out, "watch and steer this run from another terminal: baton -C {root} attach")?;
        }
        if opts.approve == ApprovePolicy::Manual && !args.json {
            writeln!(
                out,
                "reviews wait for `baton review approve` or `baton review veto --reason ...` from another terminal"
            )?;
        }
        drive_headless(harness, handles, args.json, out).await
    })
}

/// Runs a loop to its end, printing its events and then the run's numbers; Ctrl-C interrupts the
/// session and stops. Returns the exit status: 0 when the run ended as asked.
pub async fn drive_headless(harness: Harness, mut handles: Handles, json: bool, out: &mut dyn Write) -> Result<u8> {
    let project = harness.project().clone();
    let task = tokio::spawn(harness.run());
    let mut printer = Printer { json, text: String::new() };
    let mut interrupts = 0;
    // SIGTERM (`baton fleet`'s stop, `kill`) is a Ctrl-C: the session is stopped and recorded.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            ev = handles.events.recv() => match ev {
                Some(ev) => printer.print(&ev, out)?,
                None => break,
            },
            _ = async { tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} } } => {
                interrupts += 1;
                if interrupts > 1 {
                    return Err(eyre!("interrupted twice; stopping at once"));
                }
                writeln!(out, "interrupting: the session is stopped and recorded (Ctrl-C again to stop at once)")?;
                let _ = handles.commands.send(Command::Quit);
            }
        }
    }
    let reason = task.await.wrap_err("the loop task failed")??;
    // The run's numbers, from the journal it wrote: the same figures `baton report` gives.
    if let Ok(read) = project.journal() {
        let report = crate::project::report::report(&read.entries);
        if json {
            serde_json::to_writer(
                &mut *out,
                &serde_json::json!({ "type": "summary", "reason": reason, "report": report }),
            )?;
            writeln!(out)?;
        } else {
            let per = report.per_passing_feature.as_ref().map_or("no feature newly passing".to_owned(), |p| {
                format!(
                    "{} and {:.0} tokens per newly passing feature ({})",
                    session::dollars(p.cost_usd, report.cost_usd.unpriced_sessions > 0),
                    p.tokens,
                    report.newly_passing
                )
            });
            writeln!(
                out,
                "summary: {}; {per}; waited {} for usage limits; baton report has the rest",
                report.count,
                duration(report.limits.waited_seconds * 1000)
            )?;
        }
    }
    Ok(if interrupts > 0 { 1 } else { reason.exit_code() })
}

/// How many lines of a command a tool call's line shows.
const COMMAND_LINES: usize = 40;

struct Printer {
    json: bool,
    /// Assistant text not printed yet: printed condensed, one line, when something else happens.
    text: String,
}

fn clip(s: &str, n: usize) -> String {
    super::clip(&s.split_whitespace().collect::<Vec<_>>().join(" "), n)
}

fn tokens(n: u64) -> String {
    if n >= 10_000 {
        format!("{:.0}k", n as f64 / 1000.0)
    } else if n >= 1000 {
        format!("{:.1}k", n as f64 / 1000.0)
    } else {
        n.to_string()
    }
}

pub(crate) fn duration(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}.{}s", s, ms % 1000 / 100)
    }
}

/// How a line marks the evaluator's word on a feature.
pub fn judgement_mark(j: crate::project::evaluation::Judgement) -> &'static str {
    use crate::project::evaluation::Judgement;
    match j {
        Judgement::Pass => "✓",
        Judgement::Fail => "✗",
        Judgement::Error => "?",
    }
}

impl Printer {
    fn flush_text(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if !self.text.trim().is_empty() {
            writeln!(out, "  │ {}", clip(&self.text, 200))?;
        }
        self.text.clear();
        Ok(())
    }

    fn print(&mut self, ev: &HarnessEvent, out: &mut dyn Write) -> Result<()> {
        if self.json {
            serde_json::to_writer(&mut *out, ev)?;
            writeln!(out)?;
            out.flush()?;
            return Ok(());
        }
        if let HarnessEvent::Agent { event: AgentEvent::TextDelta { text }, .. } = ev {
            self.text.push_str(text);
            return Ok(());
        }
        if matches!(ev, HarnessEvent::Agent { event: AgentEvent::ThinkingDelta { .. } | AgentEvent::Usage { .. }, .. })
        {
            // A message ended: the next one's text is not run into it.
            if !self.text.is_empty() && !self.text.ends_with(char::is_whitespace) {
                self.text.push(' ');
            }
            return Ok(());
        }
        if matches!(ev, HarnessEvent::Agent { event: AgentEvent::Retry { .. }, .. }) {
            // The failed attempt's text is said again by the retried request.
            self.text.clear();
        }
        self.flush_text(out)?;
        match ev {
            HarnessEvent::RunStarted { backend, model, approve, mode } => {
                writeln!(out, "baton: {backend} backend, model {model}, approve {approve}, {mode} mode")?
            }
            HarnessEvent::SessionStarted { number, kind, base } => {
                writeln!(out, "── session {number} ({kind}) from {} ──", super::short(base.as_deref()))?
            }
            HarnessEvent::Agent { event, .. } => match event {
                AgentEvent::ToolCall { name, input, .. } => match input.get("command").and_then(|c| c.as_str()) {
                    // A command keeps its lines, each under the one before.
                    Some(command) if command.trim().contains('\n') => {
                        let lines: Vec<&str> = command.trim().lines().collect();
                        let indent = " ".repeat(name.chars().count() + 6);
                        for (i, line) in lines.iter().take(COMMAND_LINES).enumerate() {
                            let lead = if i == 0 { format!("  ▸ {name}: ") } else { indent.clone() };
                            writeln!(out, "{lead}{}", super::clip(line.trim_end(), 200))?;
                        }
                        if lines.len() > COMMAND_LINES {
                            writeln!(out, "{indent}… {} more lines", lines.len() - COMMAND_LINES)?;
                        }
                    }
                    _ => writeln!(out, "  ▸ {name}: {}", clip(&crate::agent::key_argument(input), 160))?,
                },
                // A refusal is already shown by its PolicyDenied line.
                AgentEvent::ToolResult { output, is_error: true, .. }
                    if !output.starts_with("Refused by baton's policy") =>
                {
                    let last = output.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                    writeln!(out, "    ✗ {}", clip(last, 160))?
                }
                // A screenshot a tool returned: where it was saved.
                AgentEvent::ToolResult { output, is_error: false, .. }
                    if output.contains(crate::agent::mcp::IMAGE_SAVED) =>
                {
                    for path in output.lines().filter_map(|l| l.strip_prefix(crate::agent::mcp::IMAGE_SAVED)) {
                        writeln!(out, "    image {}", path.trim_end_matches(']'))?
                    }
                }
                AgentEvent::PolicyDenied { name, reason, .. } => {
                    writeln!(out, "  ⛔ policy refused {name}: {}", clip(reason, 200))?
                }
                AgentEvent::SandboxDenied { reason, .. } => {
                    writeln!(out, "  ⛔ sandbox denied: {}", clip(reason, 200))?
                }
                AgentEvent::Retry { reason, attempt, wait_ms } => {
                    writeln!(out, "  ↻ retry {attempt} in {}: {}", duration(*wait_ms), clip(reason, 160))?
                }
                AgentEvent::Notice { text } => writeln!(out, "  ! {}", clip(text, 200))?,
                AgentEvent::Limit { limit } if limit.status != crate::agent::LimitStatus::Allowed => {
                    writeln!(out, "  ! {}", crate::harness::governor::describe(limit))?
                }
                _ => {}
            },
            HarnessEvent::SessionEnded { number, outcome, usage, cost_usd, duration_ms } => writeln!(
                out,
                "session {number} ended: {} · {} in / {} out · {} · {}",
                outcome.words(),
                session::tokens(
                    usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens,
                    usage,
                    tokens
                ),
                session::tokens(usage.output_tokens, usage, tokens),
                session::dollars(*cost_usd, !usage.priced()),
                duration(*duration_ms)
            )?,
            HarnessEvent::ReviewNeeded { review, waiting } => {
                // A claim the evaluator flipped back is not passing: said as what it is.
                let reverted = |n: usize| review.evaluation.as_ref().is_some_and(|e| e.reverted.contains(&n));
                let flips: Vec<String> = review
                    .flipped
                    .iter()
                    .map(|f| match (f.passes, reverted(f.feature)) {
                        (true, true) => format!("{} claimed passing, flipped back", f.feature),
                        (true, false) => format!("{} passing", f.feature),
                        (false, _) => format!("{} failing", f.feature),
                    })
                    .collect();
                writeln!(
                    out,
                    "review session {}: {}, {} +{} -{}{}",
                    review.number,
                    crate::words::count(review.commits.len() as u64, "commit"),
                    crate::words::count(review.diffstat.files.len() as u64, "file"),
                    review.diffstat.insertions,
                    review.diffstat.deletions,
                    match flips.len() {
                        0 => String::new(),
                        1 => format!(", feature {}", flips[0]),
                        _ => format!(", features {}", flips.join(", ")),
                    }
                )?;
                for h in &review.history {
                    writeln!(out, "  history: {h}")?;
                }
                for v in &review.violations {
                    writeln!(out, "  guard: {v} (repaired)")?;
                }
                for r in &review.refusals {
                    writeln!(out, "  ⛔ {}", clip(r, 200))?;
                }
                if let Some(e) = &review.evaluation {
                    writeln!(out, "  evaluator: {}", e.summary())?;
                }
                if let Some(v) = &review.verify {
                    writeln!(
                        out,
                        "  verify: {}",
                        if v.passed {
                            "passed".to_owned()
                        } else {
                            format!("FAILED (exit status {})", v.exit_code.map_or("-".to_owned(), |c| c.to_string()))
                        }
                    )?;
                }
                if *waiting {
                    writeln!(out, "  waiting for `baton review approve` or `baton review veto --reason ...`")?;
                }
            }
            HarnessEvent::Verdict { number, verdict, reason } => match reason {
                Some(r) => writeln!(out, "session {number}: {}: {r}", verdict.words())?,
                None => writeln!(out, "session {number}: {}", verdict.words())?,
            },
            HarnessEvent::FeaturesChanged { total, passing } => writeln!(out, "features: {passing}/{total} passing")?,
            HarnessEvent::Question { number, session, command, reason, .. } => {
                writeln!(
                    out,
                    "? question {number} (session {session} waits): may it run `{}`? {reason}",
                    clip(command, 200)
                )?;
                writeln!(out, "  answer with: baton answer {number} allow|always|deny [--message TEXT]")?;
            }
            HarnessEvent::Answered { number, answer } => writeln!(out, "question {number}: {answer}")?,
            HarnessEvent::Evaluated { evaluation: e } => {
                let reverted: Vec<String> = e.reverted.iter().map(usize::to_string).collect();
                writeln!(
                    out,
                    "evaluation of session {} (session {}): {}{}",
                    e.session,
                    e.evaluator,
                    e.summary(),
                    if reverted.is_empty() {
                        String::new()
                    } else {
                        format!("; marked failing again: {}", reverted.join(", "))
                    }
                )?;
                for f in &e.features {
                    writeln!(
                        out,
                        "  {} feature {} {}: {}",
                        judgement_mark(f.judgement),
                        f.feature,
                        f.judgement,
                        clip(&f.evidence, 200)
                    )?;
                }
            }
            HarnessEvent::Waiting { .. } => {}
            HarnessEvent::Backoff { seconds, reason } => {
                writeln!(out, "waiting {seconds}s before the next session: {reason}")?
            }
            HarnessEvent::LimitWait { until, reason, .. } => {
                let secs = (until - crate::harness::governor::now_unix()).max(0) as u64;
                writeln!(
                    out,
                    "waiting until {} ({}) before the next session: {reason}",
                    crate::harness::governor::clock(*until),
                    duration(secs * 1000)
                )?
            }
            HarnessEvent::SlotWait { reason, .. } => writeln!(out, "waiting for a fleet slot: {reason}")?,
            HarnessEvent::Tripped { rule, detail, .. } => writeln!(out, "circuit breaker ({rule}): {detail}")?,
            HarnessEvent::Queued { change } => writeln!(out, "queued: {change}")?,
            HarnessEvent::Notice { text } => writeln!(out, "note: {text}")?,
            HarnessEvent::Stopped { reason, detail } => writeln!(out, "run ended: {}: {detail}", reason.as_str())?,
        }
        out.flush()?;
        Ok(())
    }
}
