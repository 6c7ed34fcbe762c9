//! `baton status`: features, sessions and any pending review, read from the journal, so it answers
//! while another baton runs the loop.

use std::io::Write;

use color_eyre::Result;

use crate::project::Project;
use crate::project::state::{RunState, Status};

pub fn run(project: &Project, json: bool, out: &mut dyn Write) -> Result<()> {
    let status = Status::read(project)?;
    super::warn_all(&status.warnings);
    if json {
        return super::print_json(out, &status);
    }
    let f = status.features;
    writeln!(out, "project   {}", status.project)?;
    match &status.loop_pid {
        Some(pid) => writeln!(out, "state     {} (loop running in pid {pid})", status.state)?,
        None => writeln!(out, "state     {}", status.state)?,
    }
    if f.total == 0 {
        writeln!(
            out,
            "features  none yet (the initializer session writes {})",
            project.config().files.features.display()
        )?;
    } else {
        writeln!(out, "features  {}/{} passing", f.passing, f.total)?;
    }
    match status.pending_review {
        Some(n) => writeln!(out, "review    session {n} is waiting for a verdict (baton review approve|veto)")?,
        None => writeln!(out, "review    nothing pending")?,
    }
    writeln!(out, "sessions  {} run, ${:.2} in total", status.sessions.len(), status.total_cost_usd)?;
    if !status.journal_problems.is_empty() {
        writeln!(out, "journal   changed behind baton's back; nothing acts on what baton did not write:")?;
        for p in &status.journal_problems {
            writeln!(out, "          ! {p}")?;
        }
    }
    match status.next_session {
        None => writeln!(out, "done      every feature passes; mark one failing or add one to go on")?,
        Some(next) if status.pending_review.is_none() && status.state != RunState::Running => {
            writeln!(out, "next      session {} ({})", next.number, next.kind)?
        }
        Some(_) => {}
    }
    Ok(())
}
