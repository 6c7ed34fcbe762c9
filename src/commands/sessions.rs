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

/// A session's outcome in words; `running` while it has none.
fn outcome_of(s: &SessionSummary) -> &'static str {
    s.outcome().map_or("running", |o| o.words())
}

/// A session's verdict; an evaluator's work has none of its own (it is judged with the session
/// it evaluated).
fn verdict_of(s: &SessionSummary) -> &'static str {
    match s.kind {
        crate::project::session::SessionKind::Evaluator if s.end.is_some() => "-",
        _ => s.verdict.map_or("running", |v| v.words()),
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
        "{:>4}  {:<11}  {:<18}  {:<13}  {:<16}  {:>15}  {:>8}",
        "#", "kind", "outcome", "verdict", "commits", "tokens in/out", "cost"
    )?;
    for s in &sessions {
        let commits = format!("{}..{}", super::short(s.base.as_deref()), super::short(s.head()));
        writeln!(
            out,
            "{:>4}  {:<11}  {:<18}  {:<13}  {:<16}  {:>15}  {:>8}",
            s.number,
            s.kind.to_string(),
            outcome_of(s),
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
    writeln!(out, "ended     {}", s.ended_at.map_or("running".to_owned(), |t| t.to_string()))?;
    writeln!(out, "outcome   {}", outcome_of(s))?;
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
    if let Some(r) = &s.end {
        writeln!(
            out,
            "time      {} · {}",
            super::run::duration(r.duration_ms),
            crate::words::count(u64::from(r.turns), "turn")
        )?;
    }
    if let Some(detail) = s.end.as_ref().and_then(|r| r.detail.as_deref()) {
        writeln!(out, "detail    {detail}")?;
    }
    if let Some(r) = &s.end {
        // What the review showed: commits, flips, the guard's findings, the verify command.
        writeln!(
            out,
            "commits   {}",
            if r.commits.is_empty() { "none".to_owned() } else { r.commits.len().to_string() }
        )?;
        for c in &r.commits {
            writeln!(out, "  {}", super::short(Some(c)))?;
        }
        for f in &r.flipped {
            let word = if f.passes { "passing" } else { "failing" };
            writeln!(out, "flipped   feature {} {word}: {}", f.feature, f.description)?;
        }
        match r.violations.as_slice() {
            [] if s.kind != crate::project::session::SessionKind::Evaluator => {
                writeln!(out, "guard     the feature list changed only in `passes`")?
            }
            [] => {}
            found => {
                writeln!(
                    out,
                    "guard     {} (baton repaired the list):",
                    crate::words::count(found.len() as u64, "finding")
                )?;
                for v in found {
                    writeln!(out, "  ✗ {v}")?;
                }
            }
        }
        match &r.verify {
            None => writeln!(out, "verify    none configured ([run] verify)")?,
            Some(v) if v.passed => writeln!(out, "verify    passed")?,
            Some(v) => {
                let why = match (v.timed_out, v.exit_code) {
                    (true, _) => "timed out".to_owned(),
                    (false, Some(c)) => format!("FAILED (exit status {c})"),
                    (false, None) => "FAILED".to_owned(),
                };
                writeln!(out, "verify    {why}; its output ended with:")?;
                let lines: Vec<&str> = v.output.lines().collect();
                for l in &lines[lines.len().saturating_sub(10)..] {
                    writeln!(out, "  │ {l}")?;
                }
            }
        }
    }
    for q in &s.questions {
        let answer = q.answer.as_ref().map_or("no answer".to_owned(), |a| a.to_string());
        writeln!(out, "question  {}: `{}`: {answer}", q.number, q.command)?;
    }
    let refusals = crate::project::transcript::refusals(&project.transcript_path(s.number));
    for r in &refusals {
        writeln!(out, "refused   {r}")?;
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
