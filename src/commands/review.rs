//! `baton review approve|veto`: the verdict on the session waiting for one. With a loop running in
//! another process, the request goes through the journal and that loop carries it out.

use std::io::Write;
use std::time::{Duration, Instant};

use color_eyre::Result;
use color_eyre::eyre::eyre;

use crate::harness::review;
use crate::project::Project;
use crate::project::journal::{self, Record};
use crate::project::lock::{self, LockError};
use crate::project::session::Verdict;

pub fn run(project: &Project, approve: bool, reason: Option<String>, out: &mut dyn Write) -> Result<()> {
    let Some(pending) = review::pending(project)? else {
        return Err(eyre!("no session is waiting for a verdict"));
    };
    let number = pending.number;
    if !approve && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(eyre!("a veto needs --reason TEXT: it goes to the next session"));
    }
    match lock::acquire(&project.baton_dir()) {
        Ok(_lock) => {
            let repo = project.repo()?;
            let mut journal = project.open_journal()?;
            let verdict = if approve { Verdict::Approved } else { Verdict::Vetoed };
            review::decide(project, &repo, &mut journal, number, verdict, reason)?;
            report(project, number, out)
        }
        Err(LockError::Held { pid }) => {
            project.open_journal()?.append(Record::ReviewRequested { number, approve, reason })?;
            writeln!(
                out,
                "asked the running loop (pid {pid}) to {} session {number}",
                if approve { "approve" } else { "veto" }
            )?;
            // Wait for the loop to carry it out, so the exit code means something.
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                let sessions = journal::sessions(&project.journal()?.entries);
                if sessions.iter().any(|s| s.number == number && s.verdict != Some(Verdict::Pending)) {
                    return report(project, number, out);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(eyre!("the running loop has not taken up the request after 30 s; it stays in the journal"))
        }
        Err(e) => Err(e.into()),
    }
}

fn report(project: &Project, number: u32, out: &mut dyn Write) -> Result<()> {
    let sessions = journal::sessions(&project.journal()?.entries);
    let s = sessions
        .iter()
        .find(|s| s.number == number)
        .ok_or_else(|| eyre!("session {number} is gone from the journal"))?;
    match (s.verdict, &s.reason) {
        (Some(Verdict::Vetoed), Some(r)) => writeln!(
            out,
            "session {number} vetoed: {r}\nits tip is kept at {}; the branch is back at {}",
            review::vetoed_ref(number),
            super::short(s.base.as_deref())
        )?,
        (Some(v), _) => writeln!(out, "session {number} {v}")?,
        (None, _) => writeln!(out, "session {number} has no verdict")?,
    }
    Ok(())
}
