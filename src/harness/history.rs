//! Nothing lost: before a session the repository's refs and objects are kept in baton's mirror
//! (`.baton/mirror.git`, out of every agent's reach); after it, a branch that does not descend from
//! the session's base, a ref deleted, a repository damaged or removed is put back from there, and
//! the review says what the session did. Such a session waits for the operator whatever the
//! approve policy.

use super::*;
use crate::project::history;
use crate::project::mirror::Mirror;
use crate::project::uncommitted::Uncommitted;

impl Harness {
    /// Before a session: the mirror is brought up to what the repository holds now, with the
    /// operator's uncommitted files `theirs`. No session starts when this fails: its history could
    /// not be put back.
    pub(super) fn keep_history(&self, theirs: &[Uncommitted]) -> Result<(), HarnessError> {
        let kept = Mirror::open(&self.project.baton_dir()).and_then(|m| m.keep(&self.repo(), theirs));
        kept.map_err(|e| {
            HarnessError::Io(format!(
                "cannot keep the repository's history in .baton/mirror.git before the session ({e}); no session starts without it"
            ))
        })
    }

    /// After session `number` (before anything else looks at the repository): what it took of
    /// the history the mirror kept is put back. Returns what happened, in words for the review;
    /// empty when the history is whole.
    pub(super) fn protect_history(&mut self, number: u32, theirs: &[Uncommitted]) -> Result<Vec<String>, HarnessError> {
        let baton = self.project.baton_dir();
        if !baton.join("mirror.git").exists() {
            return Ok(Vec::new());
        }
        let mirror = Mirror::open(&baton)?;
        let found = history::check(self.project.root(), &mirror)?;
        if found.is_clean() {
            return Ok(Vec::new());
        }
        let restored = history::restore(self.project.root(), &baton, &mirror, &found, number, theirs)?;
        // The repository may be a new one: the loop's handle on the old one is no use.
        *self.repo.lock().unwrap_or_else(|e| e.into_inner()) = self.project.repo()?;
        let words = restored.words;
        self.emit(HarnessEvent::Notice {
            text: format!("session {number} took the operator's history: {}", words.join("; ")),
        });
        Ok(words)
    }
}
