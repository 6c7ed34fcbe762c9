//! `baton status`: features, sessions, any pending review and the questions a session waits on,
//! read from the journal, so it answers while another baton runs the loop.

use std::io::Write;

use color_eyre::Result;
use serde::Serialize;

use crate::project::Project;
use crate::project::journal::Question;
use crate::project::state::{RunState, Status};

/// A question a running session waits on, and how to answer it.
#[derive(Debug, Serialize)]
struct Waiting<'a> {
    session: u32,
    #[serde(flatten)]
    question: &'a Question,
    answer_with: String,
}

/// The questions the running session waits on: asked, not answered, with a loop to answer them.
fn waiting(status: &Status) -> Vec<Waiting<'_>> {
    if status.loop_pid.is_none() {
        return Vec::new();
    }
    status
        .sessions
        .iter()
        .filter(|s| s.end.is_none())
        .flat_map(|s| s.questions.iter().filter(|q| q.answer.is_none()).map(move |q| (s.number, q)))
        .map(|(session, question)| Waiting {
            session,
            question,
            answer_with: format!("baton answer {} allow|always|deny [--message TEXT]", question.number),
        })
        .collect()
}

pub fn run(project: &Project, json: bool, out: &mut dyn Write) -> Result<()> {
    let status = Status::read(project)?;
    super::warn_all(&status.warnings);
    let questions = waiting(&status);
    if json {
        #[derive(Serialize)]
        struct WithQuestions<'a> {
            #[serde(flatten)]
            status: &'a Status,
            questions_waiting: &'a [Waiting<'a>],
        }
        return super::print_json(out, &WithQuestions { status: &status, questions_waiting: &questions });
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
    for w in &questions {
        let q = w.question;
        writeln!(out, "question  {}: session {} waits: may it run this? {}", q.number, w.session, q.reason)?;
        for (i, line) in q.command.lines().enumerate() {
            writeln!(out, "          {} {line}", if i == 0 { "$" } else { " " })?;
        }
        writeln!(out, "          answer with: {}", w.answer_with)?;
    }
    let count = crate::project::report::SessionCount::of(&status.sessions);
    writeln!(out, "sessions  {count}")?;
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
