//! `baton features list|mark|skip|note`: read the checklist, mark or skip features by hand, hand
//! the next session a note.

use std::io::Write;

use color_eyre::Result;
use color_eyre::eyre::eyre;

use crate::project::journal::{Record, Remote};
use crate::project::repo::Author;
use crate::project::state::RunState;
use crate::project::{Project, features::FeatureList};

fn load(project: &Project) -> Result<FeatureList> {
    project.features()?.ok_or_else(|| {
        eyre!(
            "{} does not exist yet: the initializer session writes it from {}",
            project.features_path().display(),
            project.config().files.spec.display()
        )
    })
}

pub fn list(project: &Project, json: bool, out: &mut dyn Write) -> Result<()> {
    let list = load(project)?;
    if json {
        let rows: Vec<_> = list
            .features()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                serde_json::json!({
                    "number": i + 1,
                    "category": f.category(),
                    "description": f.description(),
                    "steps": f.steps().collect::<Vec<_>>(),
                    "passes": f.passes(),
                    "skipped": crate::project::features::is_skipped(f),
                })
            })
            .collect();
        return super::print_json(out, &rows);
    }
    let width = list.len().to_string().len();
    let cat_width = list.features().iter().map(|f| f.category().chars().count()).max().unwrap_or(0).min(16);
    for (i, f) in list.features().iter().enumerate() {
        let skipped = crate::project::features::is_skipped(f) && !f.passes();
        let mark = match (f.passes(), skipped) {
            (true, _) => "✓",
            (false, true) => "–",
            (false, false) => "✗",
        };
        let category = super::clip(f.category(), cat_width);
        let aside = if skipped { " (skipped for now)" } else { "" };
        writeln!(out, "{:>width$} {mark} {category:<cat_width$}  {}{aside}", i + 1, f.description())?;
    }
    let skipped = list.features().iter().filter(|f| crate::project::features::is_skipped(f) && !f.passes()).count();
    match skipped {
        0 => writeln!(out, "{}/{} passing", list.passing(), list.len())?,
        n => writeln!(out, "{}/{} passing, {n} skipped for now", list.passing(), list.len())?,
    }
    Ok(())
}

/// When a running loop carries out a change asked of it now: at once when it is idle (waiting
/// for `n`), else when its session ends or after the verdict it waits for.
fn when_the_loop_takes_it(project: &Project) -> Option<String> {
    let status = crate::project::state::Status::read(project).ok()?;
    match status.state {
        RunState::Running => {
            let n = status.sessions.iter().rev().find(|s| s.end.is_none()).map(|s| s.number)?;
            Some(format!("when session {n} ends"))
        }
        RunState::AwaitingReview => Some(format!("after the verdict on session {}", status.pending_review?)),
        RunState::Idle | RunState::Done => None,
    }
}

/// The loop lock, so the list can be changed here; or, when a loop runs, `request` appended to the
/// journal for it and what became of it said: done at once by an idle loop (`done` finds its
/// record), or when the loop will do it. `None` then.
fn lock_or_tell_the_loop(
    project: &Project,
    request: Record,
    out: &mut dyn Write,
    what: &str,
    done: impl Fn(&Record) -> Option<String>,
) -> Result<Option<crate::project::lock::LoopLock>> {
    match crate::project::lock::acquire(&project.baton_dir()) {
        Ok(lock) => Ok(Some(lock)),
        Err(crate::project::lock::LockError::Held { pid }) => {
            let later = when_the_loop_takes_it(project);
            let (_, mut after) = crate::project::journal::follow(&project.journal_path())?;
            project.open_journal()?.append(request)?;
            if let Some(when) = later {
                writeln!(out, "the loop running in pid {pid} will {what} {when}")?;
                return Ok(None);
            }
            // An idle loop does it at once: said when it is done.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while std::time::Instant::now() < deadline {
                let read = crate::project::journal::read_from(&project.journal_path(), &mut after, false)?;
                if let Some(said) = read.entries.iter().find_map(|e| done(&e.record)) {
                    writeln!(out, "{said} (by the loop running in pid {pid})")?;
                    return Ok(None);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            writeln!(out, "the loop running in pid {pid} will {what} at its next session boundary")?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Marks feature `number` (from 1) and commits the list in the operator's name.
pub fn mark(project: &Project, number: usize, passes: bool, out: &mut dyn Write) -> Result<()> {
    // Everything that can fail is checked before the file is touched.
    let repo = project.repo()?;
    let mut list = load(project)?;
    list.get(number)?;
    // A running loop owns the list: the mark goes to it and is applied at the next boundary.
    let word = if passes { "passing" } else { "failing" };
    let request = Record::MarkRequested { feature: number, passes };
    let what = format!("mark feature {number} {word}");
    let done = |r: &Record| match r {
        Record::FeatureMarked { feature, passes: p, commit } if *feature == number && *p == passes => Some(format!(
            "feature {number} marked {word}, commit {}",
            commit.as_deref().map_or("-", |c| &c[..c.len().min(7)])
        )),
        _ => None,
    };
    let Some(_lock) = lock_or_tell_the_loop(project, request, out, &what, done)? else { return Ok(()) };
    let feature = list.get_mut(number)?;
    if feature.passes() == passes {
        writeln!(out, "feature {number} is already {word}; nothing changed")?;
        return Ok(());
    }
    feature.set_passes(passes);
    let description = feature.description().to_owned();
    list.save()?;
    let relative = project.config().files.features.as_path();
    let message = format!(
        "Mark feature {number} {word}: {}\n\nFeature {number}: {description}\nMarked by hand with baton.\n",
        super::clip(&description, 60)
    );
    let commit = repo.commit_paths(&[relative], &message, Author::Operator)?;
    project.open_journal()?.append(Record::FeatureMarked {
        feature: number,
        passes,
        commit: Some(commit.to_string()),
    })?;
    writeln!(
        out,
        "feature {number} marked {word} ({}/{} passing), commit {}",
        list.passing(),
        list.len(),
        &commit.to_string()[..7]
    )?;
    Ok(())
}

/// Sets feature `number` aside for now: moved to the end of the list, marked `"skipped": true`,
/// committed in the operator's name. A running loop does it at its next boundary.
pub fn skip(project: &Project, number: usize, out: &mut dyn Write) -> Result<()> {
    let repo = project.repo()?;
    let list = load(project)?;
    list.get(number)?;
    let (_, request) = Record::request(Remote::Skip { feature: number });
    let what = format!("skip feature {number} for now");
    let done = |r: &Record| match r {
        Record::FeatureSkipped { feature, to, .. } if *feature == number => {
            Some(format!("feature {number} skipped for now: it is feature {to}, the last"))
        }
        _ => None,
    };
    let Some(_lock) = lock_or_tell_the_loop(project, request, out, &what, done)? else { return Ok(()) };
    let (to, commit) = project.skip_feature(&repo, list, number)?;
    project.open_journal()?.append(Record::FeatureSkipped { feature: number, to, commit: Some(commit.to_string()) })?;
    writeln!(
        out,
        "feature {number} skipped for now: it is feature {to}, the last; commit {}",
        &commit.to_string()[..7]
    )?;
    Ok(())
}

/// A note for the next coding session's prompt, recorded in the journal (a running loop reads it
/// there too).
pub fn note(project: &Project, text: &str, out: &mut dyn Write) -> Result<()> {
    let text = text.trim();
    if text.is_empty() {
        return Err(eyre!("the note is empty: say what the next session should know"));
    }
    project.open_journal()?.append(Record::NoteGiven { text: text.to_owned() })?;
    writeln!(out, "the next coding session's prompt carries the note")?;
    Ok(())
}
