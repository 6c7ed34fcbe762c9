//! What was not committed when a session started: the operator's files. Each is snapshotted into
//! git's object store (not into a commit), so baton can leave it out of the session's leftover
//! commit while it is unchanged, and put it back exactly as it was after a veto, still uncommitted.

use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use git2::{ObjectType, Oid, StatusOptions};
use serde::{Deserialize, Serialize};

use super::repo::{Author, Repo, RepoError};

/// One path that differed from HEAD (changed, new or deleted) when a session started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uncommitted {
    /// Relative to the work tree.
    pub path: String,
    /// The blob of its content then; `None` when it was deleted.
    pub blob: Option<String>,
    /// The git file mode: 0o100644, 0o100755 or 0o120000 (a symlink).
    pub mode: u32,
}

fn io(path: &Path, source: std::io::Error) -> RepoError {
    RepoError::Io { context: format!("reading {}", path.display()), source }
}

/// A file's content as git stores it (a symlink's target for a symlink) and its mode; `None` when
/// it does not exist.
fn content(full: &Path) -> Result<Option<(Vec<u8>, u32)>, RepoError> {
    let meta = match std::fs::symlink_metadata(full) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(full, e)),
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(full).map_err(|e| io(full, e))?;
        return Ok(Some((target.into_os_string().into_encoded_bytes(), 0o120000)));
    }
    if !meta.is_file() {
        return Ok(None);
    }
    let exec = meta.permissions().mode() & 0o111 != 0;
    Ok(Some((std::fs::read(full).map_err(|e| io(full, e))?, if exec { 0o100755 } else { 0o100644 })))
}

impl Repo {
    /// Every path that differs from HEAD (ignored files aside), relative to the work tree.
    pub fn dirty_paths(&self) -> Result<Vec<String>, RepoError> {
        let mut opts = StatusOptions::new();
        opts.include_untracked(true).recurse_untracked_dirs(true).exclude_submodules(true);
        let statuses = self
            .git()
            .statuses(Some(&mut opts))
            .map_err(|source| RepoError::Git { context: "reading git status".into(), source })?;
        Ok(statuses.iter().filter_map(|s| s.path().ok().map(str::to_owned)).collect())
    }

    /// Snapshots every path that differs from HEAD now.
    pub fn uncommitted(&self) -> Result<Vec<Uncommitted>, RepoError> {
        let mut out = Vec::new();
        for path in self.dirty_paths()? {
            let full = self.workdir().join(&path);
            let (blob, mode) = match content(&full)? {
                Some((data, mode)) => {
                    let id = self
                        .git()
                        .blob(&data)
                        .map_err(|source| RepoError::Git { context: format!("storing {path}"), source })?;
                    (Some(id.to_string()), mode)
                }
                None => (None, 0),
            };
            out.push(Uncommitted { path, blob, mode });
        }
        Ok(out)
    }

    /// Whether `u` is still as it was snapshotted.
    fn unchanged(&self, u: &Uncommitted) -> Result<bool, RepoError> {
        Ok(match content(&self.workdir().join(&u.path))? {
            Some((data, mode)) => {
                let id = Oid::hash_object(ObjectType::Blob, &data)
                    .map_err(|source| RepoError::Git { context: format!("hashing {}", u.path), source })?;
                u.blob.as_deref() == Some(id.to_string().as_str()) && u.mode == mode
            }
            None => u.blob.is_none(),
        })
    }

    /// Commits what the work tree holds beyond HEAD, except the operator's files in `theirs` that
    /// are still as they were: those stay uncommitted. `None` when nothing else is there.
    pub fn commit_leftover(
        &self,
        theirs: &[Uncommitted],
        message: &str,
        author: Author,
    ) -> Result<Option<Oid>, RepoError> {
        let mut paths = Vec::new();
        for path in self.dirty_paths()? {
            match theirs.iter().find(|u| u.path == path) {
                Some(u) if self.unchanged(u)? => {}
                _ => paths.push(path),
            }
        }
        if paths.is_empty() {
            return Ok(None);
        }
        let paths: Vec<&Path> = paths.iter().map(Path::new).collect();
        self.commit_paths(&paths, message, author).map(Some)
    }

    /// Puts the operator's files back as they were snapshotted (after a reset took the work tree
    /// back to a session's base).
    pub fn restore_uncommitted(&self, theirs: &[Uncommitted]) -> Result<(), RepoError> {
        for u in theirs {
            let full = self.workdir().join(&u.path);
            let write =
                |e: std::io::Error| RepoError::Io { context: format!("restoring {}", full.display()), source: e };
            let Some(blob) = &u.blob else {
                match std::fs::remove_file(&full) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(write(e)),
                    _ => continue,
                }
            };
            let id =
                Oid::from_str(blob).map_err(|source| RepoError::Git { context: format!("reading {blob}"), source })?;
            let data = self
                .git()
                .find_blob(id)
                .map_err(|source| RepoError::Git { context: format!("reading the snapshot of {}", u.path), source })?
                .content()
                .to_vec();
            if let Some(dir) = full.parent() {
                std::fs::create_dir_all(dir).map_err(write)?;
            }
            if std::fs::symlink_metadata(&full).is_ok() {
                std::fs::remove_file(&full).map_err(write)?;
            }
            if u.mode == 0o120000 {
                let target = std::ffi::OsString::from_vec(data);
                std::os::unix::fs::symlink(target, &full).map_err(write)?;
            } else {
                std::fs::write(&full, &data).map_err(write)?;
                let mode = if u.mode == 0o100755 { 0o755 } else { 0o644 };
                std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode)).map_err(write)?;
            }
        }
        Ok(())
    }

    /// Takes the work tree back to `head` and the operator's files in `theirs` as they were,
    /// undoing whatever else changed (a session that may not change anything did). Returns the
    /// paths it undid; nothing is touched when there are none.
    pub fn undo_changes(&self, head: Option<Oid>, theirs: &[Uncommitted]) -> Result<Vec<String>, RepoError> {
        let dirty = self.dirty_paths()?;
        let mut changed = Vec::new();
        for path in &dirty {
            match theirs.iter().find(|u| u.path == *path) {
                Some(u) if self.unchanged(u)? => {}
                _ => changed.push(path.clone()),
            }
        }
        // An operator's change taken back to HEAD's content is a change too.
        changed.extend(theirs.iter().filter(|u| !dirty.contains(&u.path)).map(|u| u.path.clone()));
        if changed.is_empty() {
            return Ok(changed);
        }
        if let Some(h) = head {
            self.reset_hard(h)?;
        }
        // What is still there beyond HEAD and is not the operator's is new: it goes.
        for path in self.dirty_paths()? {
            if !theirs.iter().any(|u| u.path == path) {
                let full = self.workdir().join(&path);
                if let Err(e) = std::fs::remove_file(&full)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    return Err(RepoError::Io { context: format!("removing {}", full.display()), source: e });
                }
            }
        }
        self.restore_uncommitted(theirs)?;
        Ok(changed)
    }
}
