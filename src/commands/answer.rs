//! `baton answer N allow|always|deny [--message TEXT]`: the answer to a question a session waits
//! on, given from any terminal. It goes to the running loop through the journal.

use std::io::Write;
use std::time::{Duration, Instant};

use color_eyre::Result;
use color_eyre::eyre::eyre;

use crate::harness::Command;
use crate::project::Project;
use crate::project::journal::{Answer, Record};

pub fn run(project: &Project, number: u32, answer: Answer, out: &mut dyn Write) -> Result<()> {
    let Some(pid) = crate::project::lock::holder(&project.baton_dir()) else {
        return Err(eyre!("no loop runs on {}: no question waits for an answer", project.root().display()));
    };
    let answered = |entries: &[crate::project::journal::Entry]| {
        entries.iter().find_map(|e| match &e.record {
            Record::Answered { number: n, answer } if *n == number => Some(answer.clone()),
            _ => None,
        })
    };
    let asked =
        project.journal()?.entries.iter().any(|e| matches!(e.record, Record::Asked { number: n, .. } if n == number));
    if !asked {
        return Err(eyre!("there is no question {number} (the questions are numbered in the run's output)"));
    }
    if let Some(given) = answered(&project.journal()?.entries) {
        return Err(eyre!("question {number} was answered already: {given}"));
    }
    let command = Command::Answer { number, answer: answer.clone() }.to_remote().ok_or_else(|| eyre!("cannot send"))?;
    project.open_journal()?.append(Record::request(command).1)?;
    // Wait for the loop to carry it out, so the exit code means something; then one line says it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(given) = answered(&project.journal()?.entries) {
            if given != answer {
                return Err(eyre!("question {number} was answered otherwise first: {given}"));
            }
            writeln!(out, "question {number}: {given} (taken by the loop in pid {pid})")?;
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(eyre!("the running loop has not taken up the answer after 30 s; it stays in the journal"))
}
