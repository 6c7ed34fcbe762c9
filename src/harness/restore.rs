//! After a session: the feature list is judged as the file really is — its type, whether git
//! holds it, and its content — and put back, in a baton commit, wherever the session broke it.

use std::path::Path;

use super::{Harness, HarnessError, guard};
use crate::project::features::{FeatureList, file_kind};
use crate::project::journal::Flip;
use crate::project::repo::Author;
use crate::project::session::SessionKind;

impl Harness {
    /// Runs the guard and repairs the list in a baton commit when the session broke the rules.
    /// Returns the violations, in words for the operator, and the `passes` changes that stand.
    pub(super) fn guard(
        &mut self,
        number: u32,
        kind: SessionKind,
        before: Option<&FeatureList>,
    ) -> Result<(Vec<String>, Vec<Flip>), HarnessError> {
        let path = self.project.features_path();
        let mut violations = Vec::new();
        let mut repair = false;
        // Something other than a plain file in the list's place goes first: a directory (the list
        // could not be written back), a FIFO (reading it would hang), a symlink (git would hold
        // the link, not the list). A symlink's target is judged as the list it shows.
        let special = clear_special(&path)?;
        let after = match &special {
            Some((violation, shown)) => {
                violations.push(violation.clone());
                repair = true;
                Ok(shown.clone())
            }
            None => FeatureList::load_if_exists(&path),
        };
        let mut flips = Vec::new();
        match (before, after) {
            (before, Err(e)) => {
                // The agent left a list that does not parse: put back the one it started from.
                let Some(before) = before else {
                    return Ok((vec![format!("the feature list does not parse: {e}")], Vec::new()));
                };
                before.save()?;
                repair = true;
                violations.push(format!("the feature list was left unparsable ({e}); restored"));
            }
            (Some(before), Ok(Some(after))) => {
                let report = guard::check(before, &after);
                match &report.repaired {
                    Some(repaired) => repaired.save()?,
                    // What a symlink showed, kept as the file it should have stayed.
                    None if special.is_some() => after.save()?,
                    None => {}
                }
                repair |= report.repaired.is_some();
                violations.extend(report.violations);
                flips = report.flips;
            }
            (Some(before), Ok(None)) => {
                before.save()?;
                repair = true;
                if special.is_none() {
                    violations.push("the feature list was deleted; restored".to_owned());
                }
            }
            (None, Ok(Some(after))) if kind == SessionKind::Initializer => {
                let (initial, fixed) = guard::check_initial(&after);
                if let Some(fixed) = fixed {
                    fixed.save()?;
                    repair = true;
                }
                violations.extend(initial);
            }
            (None, Ok(_)) => {}
        }
        // The list on disk must also be the one git holds: a list untracked (`git rm --cached`,
        // a `.gitignore` entry) is gone from what the operator approves.
        let rel = self.project.config().files.features.clone();
        if let Ok(bytes) = std::fs::read(&path)
            && !self.repo().head_has_file(&rel, &bytes)?
            && !repair
        {
            let how =
                if self.repo().is_ignored(&rel) { "untracked and ignored by .gitignore" } else { "left out of git" };
            violations.push(format!("the feature list was {how}; baton committed it"));
            repair = true;
        }
        if repair {
            self.commit_repair(number)?;
        }
        Ok((violations, flips))
    }

    fn commit_repair(&self, number: u32) -> Result<(), HarnessError> {
        let rel = self.project.config().files.features.clone();
        self.repo().commit_paths(
            &[rel.as_path()],
            &format!("baton: restore the feature list after session {number}\n\nAn agent may change only `passes`; baton put back everything else and kept the `passes` changes.\n"),
            Author::Baton,
        )?;
        Ok(())
    }
}

/// Removes whatever stands at `path` if it is not a plain file, and says what it was. A symlink
/// to a plain file also gives the list that file holds, if it parses.
fn clear_special(path: &Path) -> Result<Option<(String, Option<FeatureList>)>, HarnessError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) if !m.is_file() => m,
        _ => return Ok(None),
    };
    let io = |e: std::io::Error| HarnessError::Io(format!("cannot remove {}: {e}", path.display()));
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        let shown = FeatureList::load_if_exists(path).ok().flatten();
        let target = std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
        std::fs::remove_file(path).map_err(io)?;
        let violation = format!("the feature list was replaced by a symlink to {target}; baton put the file back");
        return Ok(Some((violation, shown)));
    }
    if file_type.is_dir() {
        std::fs::remove_dir_all(path).map_err(io)?;
    } else {
        std::fs::remove_file(path).map_err(io)?;
    }
    let what = file_kind(&file_type);
    Ok(Some((format!("the feature list was replaced by {what}; baton removed it and put the file back"), None)))
}
