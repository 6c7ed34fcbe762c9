//! `baton sessions list|show`: the sessions the journal records.

use std::io::Write;

use color_eyre::Result;
use color_eyre::eyre::eyre;

use crate::project::Project;
use crate::project::journal::{self, SessionSummary};

fn read(project: &Project) -> Result<Vec<SessionSummary>> {
    let read = project.journal()?;
    super::warn_all(&read.warnings);
    Ok(journal::sessions(&read.entries))
}

fn or_running<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "running".to_owned(), |v| v.to_string())
}

/// A session's verdict; an evaluator's work has none of its own (it is judged with the session
/// it evaluated).
fn verdict_of(s: &SessionSummary) -> String {
    match s.kind {
        crate::project::session::SessionKind::Evaluator if s.end.is_some() => "-".to_owned(),
        _ => or_running(s.verdict),
    }
}

pub fn list(project: &Project, json: bool, out: &mut dyn Write) -> Result<()> {
    let sessions = read(project)?;
    if json {
        return super::print_json(out, &sessions);
    }
    if sessions.is_empty() {
        writeln!(out, "no sessions yet")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>4}  {:<11}  {:<13}  {:<13}  {:<16}  {:>15}  {:>8}",
        "#", "kind", "outcome", "verdict", "commits", "tokens in/out", "cost"
    )?;
    for s in &sessions {
        let commits = format!("{}..{}", super::short(s.base.as_deref()), super::short(s.head()));
        writeln!(
            out,
            "{:>4}  {:<11}  {:<13}  {:<13}  {:<16}  {:>15}  {:>8}",
            s.number,
            s.kind.to_string(),
            or_running(s.outcome()),
            verdict_of(s),
            commits,
            match s.usage().unreported_turns {
                0 => format!("{}/{}", s.usage().input_tokens, s.usage().output_tokens),
                _ => "unknown".to_owned(),
            },
            if s.usage().priced() { format!("${:.2}", s.cost_usd()) } else { "unknown".to_owned() },
        )?;
    }
    Ok(())
}

pub fn show(project: &Project, number: u32, json: bool, out: &mut dyn Write) -> Result<()> {
    let sessions = read(project)?;
    let Some(s) = sessions.iter().find(|s| s.number == number) else {
        return Err(match sessions.last() {
            None => eyre!("there is no session {number}: no session has run yet"),
            Some(last) => eyre!("there is no session {number}: sessions run so far are 1 to {}", last.number),
        });
    };
    if json {
        return super::print_json(out, s);
    }
    writeln!(out, "session   {} ({})", s.number, s.kind)?;
    writeln!(out, "backend   {} ({})", s.backend, s.model)?;
    writeln!(out, "started   {}", s.started_at)?;
    writeln!(out, "ended     {}", or_running(s.ended_at))?;
    writeln!(out, "outcome   {}", or_running(s.outcome()))?;
    let verdict = verdict_of(s);
    match &s.reason {
        Some(reason) => writeln!(out, "verdict   {verdict}: {reason}")?,
        None => writeln!(out, "verdict   {verdict}")?,
    }
    writeln!(out, "base      {}", s.base.as_deref().unwrap_or("(no commit yet)"))?;
    writeln!(out, "head      {}", s.head().unwrap_or("-"))?;
    writeln!(
        out,
        "tokens    {} in, {} out, {} cache write, {} cache read",
        s.usage().input_tokens,
        s.usage().output_tokens,
        s.usage().cache_creation_input_tokens,
        s.usage().cache_read_input_tokens
    )?;
    let u = s.usage();
    if u.unreported_turns > 0 {
        writeln!(out, "          (the server did not report the tokens of {} of its turns)", u.unreported_turns)?;
    }
    match u.priced() {
        true => writeln!(out, "cost      ${:.4}", s.cost_usd())?,
        false => writeln!(
            out,
            "cost      {} (${:.4} counted)",
            crate::project::session::dollars(s.cost_usd(), true),
            s.cost_usd()
        )?,
    }
    if let Some(detail) = s.end.as_ref().and_then(|r| r.detail.as_deref()) {
        writeln!(out, "detail    {detail}")?;
    }
    if let Some(e) = &s.evaluation {
        writeln!(out, "evaluated by session {}: {}", e.evaluator, e.summary())?;
        for f in &e.features {
            let again = if e.reverted.contains(&f.feature) { " (marked failing again)" } else { "" };
            let mark = super::run::judgement_mark(f.judgement);
            writeln!(out, "  {mark} feature {} {}{again}: {}", f.feature, f.judgement, f.evidence)?;
        }
    }
    let transcript = project.transcript_path(s.number);
    if transcript.exists() {
        writeln!(out, "transcript {}", transcript.display())?;
    }
    Ok(())
}
