//! What was not committed when a session started: the operator's files. Each is snapshotted into
//! git's object store (not into a commit), and into baton's mirror, so baton can leave it out of the
//! session's leftover commit while it is unchanged, and put it back exactly as it was after a veto,
//! still uncommitted, even if the session pruned the repository's objects or removed it. A name that
//! is not UTF-8 is kept byte for byte.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;

use git2::{ObjectType, Oid, StatusOptions};
use serde::{Deserialize, Serialize};

use super::repo::{Author, Repo, RepoError};

/// One path that differed from HEAD (changed, new or deleted) when a session started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uncommitted {
    /// Relative to the work tree (for a name that is not UTF-8, as shown: see `name`).
    pub path: String,
    /// A name that is not UTF-8, its bytes in base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The blob of its content then; `None` when it was deleted.
    pub blob: Option<String>,
    /// The git file mode: 0o100644, 0o100755 or 0o120000 (a symlink).
    pub mode: u32,
}

impl Uncommitted {
    /// The path as the file system names it, relative to the work tree.
    pub fn rel(&self) -> PathBuf {
        match self.name.as_deref().and_then(|n| base64::engine::general_purpose::STANDARD.decode(n).ok()) {
            Some(bytes) => PathBuf::from(OsString::from_vec(bytes)),
            None => PathBuf::from(&self.path),
        }
    }

    fn new(rel: &Path, blob: Option<String>, mode: u32) -> Self {
        let bytes = rel.as_os_str().as_bytes();
        let name = std::str::from_utf8(bytes).is_err().then(|| base64::engine::general_purpose::STANDARD.encode(bytes));
        Uncommitted { path: rel.to_string_lossy().into_owned(), name, blob, mode }
    }
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
    /// Every path that differs from HEAD (ignored files aside), relative to the work tree; a name
    /// that is not UTF-8 too.
    pub fn dirty_paths(&self) -> Result<Vec<PathBuf>, RepoError> {
        let mut opts = StatusOptions::new();
        opts.include_untracked(true).recurse_untracked_dirs(true).exclude_submodules(true);
        let statuses = self
            .git()
            .statuses(Some(&mut opts))
            .map_err(|source| RepoError::Git { context: "reading git status".into(), source })?;
        // baton's own directory is never a file of the project's, whatever an agent did to
        // `.git/info/exclude`: it is neither committed nor cleared away.
        let baton = Path::new(".baton");
        Ok(statuses
            .iter()
            .map(|s| PathBuf::from(OsString::from_vec(s.path_bytes().to_vec())))
            .filter(|p| !p.starts_with(baton))
            .collect())
    }

    /// Snapshots every path that differs from HEAD now.
    pub fn uncommitted(&self) -> Result<Vec<Uncommitted>, RepoError> {
        let mut out = Vec::new();
        for rel in self.dirty_paths()? {
            let full = self.workdir().join(&rel);
            let (blob, mode) = match content(&full)? {
                Some((data, mode)) => {
                    let id = self
                        .git()
                        .blob(&data)
                        .map_err(|source| RepoError::Git { context: format!("storing {}", rel.display()), source })?;
                    (Some(id.to_string()), mode)
                }
                None => (None, 0),
            };
            out.push(Uncommitted::new(&rel, blob, mode));
        }
        Ok(out)
    }

    /// Whether `u` is still as it was snapshotted.
    fn unchanged(&self, u: &Uncommitted) -> Result<bool, RepoError> {
        Ok(match content(&self.workdir().join(u.rel()))? {
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
        let paths = self.not_theirs(theirs)?;
        if paths.is_empty() {
            return Ok(None);
        }
        let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        self.commit_paths(&paths, message, author).map(Some)
    }

    /// What differs from HEAD and is not one of the operator's files in `theirs` as it was.
    pub(super) fn not_theirs(&self, theirs: &[Uncommitted]) -> Result<Vec<PathBuf>, RepoError> {
        let mut paths = Vec::new();
        for path in self.dirty_paths()? {
            match theirs.iter().find(|u| u.rel() == path) {
                Some(u) if self.unchanged(u)? => {}
                _ => paths.push(path),
            }
        }
        Ok(paths)
    }

    /// Puts the operator's files back as they were snapshotted (after a reset took the work tree
    /// back to a session's base). A snapshot the repository lost (a session pruned it) is read
    /// from baton's mirror.
    pub fn restore_uncommitted(&self, theirs: &[Uncommitted]) -> Result<(), RepoError> {
        let mirror = match theirs.is_empty() {
            true => None,
            false => self
                .workdir()
                .join(".baton")
                .is_dir()
                .then(|| super::mirror::Mirror::open(&self.workdir().join(".baton")).ok())
                .flatten(),
        };
        for u in theirs {
            let full = self.workdir().join(u.rel());
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
            let data = match self.blob(id).or_else(|| mirror.as_ref().and_then(|m| m.blob(id))) {
                Some(data) => data,
                None => {
                    return Err(RepoError::Io {
                        context: format!("restoring {}", u.path),
                        source: std::io::Error::other(format!(
                            "its snapshot {id} is in neither the repository nor the mirror"
                        )),
                    });
                }
            };
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
        let mut changed = self.not_theirs(theirs)?;
        // An operator's change taken back to HEAD's content is a change too.
        changed.extend(theirs.iter().map(Uncommitted::rel).filter(|p| !dirty.contains(p)));
        if changed.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(h) = head {
            self.reset_hard(h)?;
        }
        self.clear_untracked(theirs)?;
        self.restore_uncommitted(theirs)?;
        Ok(changed.iter().map(|p| p.to_string_lossy().into_owned()).collect())
    }

    /// Removes what is still there beyond HEAD and is not one of the operator's files in `theirs`:
    /// after a reset to HEAD, only what a session made new.
    pub fn clear_untracked(&self, theirs: &[Uncommitted]) -> Result<(), RepoError> {
        for path in self.dirty_paths()? {
            if !theirs.iter().any(|u| u.rel() == path) {
                let full = self.workdir().join(&path);
                if let Err(e) = std::fs::remove_file(&full)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    return Err(RepoError::Io { context: format!("removing {}", full.display()), source: e });
                }
            }
        }
        Ok(())
    }
}
