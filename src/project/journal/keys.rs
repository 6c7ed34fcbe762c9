//! baton's own secret for sealing a journal: one key per journal, kept in the user's state
//! directory (`$XDG_STATE_HOME/baton/keys/`, hidden from every session), beside the journal's
//! high-water mark (the last record sealed), so that a journal cut short is noticed too. Every
//! process of the operator's (the loop, attached screens, `baton review`) reads the same key.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::hmac;
use serde::{Deserialize, Serialize};

/// Where baton keeps the keys that seal its journals: `$XDG_STATE_HOME/baton/keys/` on Linux
/// (`~/.local/state/baton/keys/`). Nothing an agent runs may read it.
/// (The sandbox hides this same directory: `sandbox::secrets_dir`.)
pub fn dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "baton").and_then(|d| d.state_dir().map(|s| s.join("keys")))
}

/// How far the journal was sealed, and what came before sealing began: kept beside the key, out
/// of every agent's reach, so a journal cut short or replaced is told from one that never had
/// more.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The last record sealed.
    pub seq: u64,
    /// Its tag's first 16 hex digits.
    pub tag: String,
    /// The lines before the first sealed record.
    pub legacy: super::seal::Legacy,
}

/// The file a key is kept in.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    /// The journal it seals, to tell a stale key from a live one.
    journal: PathBuf,
    /// 32 random bytes, hex.
    key: String,
}

/// A journal's key.
pub struct Key {
    /// The key's files are `dir/id`, `dir/id.head` and `dir/id.lock`.
    dir: PathBuf,
    id: String,
    secret: hmac::Key,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Key").field("id", &self.id).finish()
    }
}

/// The key's name for the journal at `path`: its absolute path, hashed.
fn id_of(journal: &Path) -> String {
    let absolute = match (journal.parent(), journal.file_name()) {
        (Some(parent), Some(name)) => match parent.canonicalize() {
            Ok(p) => p.join(name),
            Err(_) => std::path::absolute(journal).unwrap_or_else(|_| journal.to_owned()),
        },
        _ => journal.to_owned(),
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, absolute.as_os_str().as_encoded_bytes());
    hex(&digest.as_ref()[..16])
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

impl Key {
    /// The key of the journal at `journal`, if this user has one.
    pub fn find(journal: &Path) -> io::Result<Option<Key>> {
        let Some(dir) = dir() else { return Ok(None) };
        let id = id_of(journal);
        let text = match fs::read_to_string(dir.join(&id)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let file: KeyFile = serde_json::from_str(&text).map_err(io::Error::other)?;
        let bytes = unhex(&file.key).filter(|b| b.len() == 32).ok_or_else(|| io::Error::other("a damaged key"))?;
        Ok(Some(Key { dir, id, secret: hmac::Key::new(hmac::HMAC_SHA256, &bytes) }))
    }

    /// The journal's key, made now if it has none.
    pub fn find_or_make(journal: &Path) -> io::Result<Key> {
        if let Some(key) = Key::find(journal)? {
            return Ok(key);
        }
        let dir = dir().ok_or_else(|| io::Error::other("no state directory to keep the journal's key in"))?;
        fs::create_dir_all(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        sweep(&dir);
        let mut bytes = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| io::Error::other("no randomness for the journal's key"))?;
        let id = id_of(journal);
        let file = KeyFile { journal: journal.to_owned(), key: hex(&bytes) };
        // Made whole, then put in place: a reader never sees half a key, and of two processes
        // making one at once, one key wins and both use it.
        let mut tmp = tempfile::Builder::new().prefix(".key-").tempfile_in(&dir)?;
        tmp.write_all(serde_json::to_string(&file).map_err(io::Error::other)?.as_bytes())?;
        tmp.as_file().sync_all()?;
        match tmp.persist_noclobber(dir.join(&id)) {
            Ok(_) => {}
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.error),
        }
        Key::find(journal)?.ok_or_else(|| io::Error::other("the journal's key vanished as it was made"))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The tag of `bytes`: HMAC-SHA256, hex.
    pub fn tag(&self, bytes: &[u8]) -> String {
        hex(hmac::sign(&self.secret, bytes).as_ref())
    }

    /// Whether `tag` (hex) is `bytes`'s tag, compared in constant time.
    pub fn verify(&self, bytes: &[u8], tag: &str) -> bool {
        unhex(tag).is_some_and(|t| hmac::verify(&self.secret, bytes, &t).is_ok())
    }

    /// Holds the journal's lock: exclusive for a writer, shared for a reader, so a reader never
    /// sees a record without the high-water mark that goes with it.
    pub fn lock(&self, exclusive: bool) -> io::Result<KeyLock> {
        let path = self.dir.join(format!("{}.lock", self.id));
        let file = OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(path)?;
        let kind = if exclusive { libc::LOCK_EX } else { libc::LOCK_SH };
        // SAFETY: flock on a descriptor we own; no memory effects.
        if unsafe { libc::flock(file.as_raw_fd(), kind) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(KeyLock { _file: file })
    }

    /// How far the journal was sealed; `None` before its first sealed record.
    pub fn head(&self) -> Option<Head> {
        let text = fs::read_to_string(self.dir.join(format!("{}.head", self.id))).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Moves the high-water mark. Put in place whole (a reader never sees half of it) but not
    /// synced: after a crash it may say less than the journal holds, never more, and less only
    /// weakens the check of a cut journal for that one crash.
    pub fn set_head(&self, head: &Head) -> io::Result<()> {
        let mut tmp = tempfile::Builder::new().prefix(".head-").tempfile_in(&self.dir)?;
        tmp.write_all(serde_json::to_string(head).map_err(io::Error::other)?.as_bytes())?;
        tmp.persist(self.dir.join(format!("{}.head", self.id))).map_err(|e| e.error)?;
        Ok(())
    }
}

/// A journal's lock, held until dropped.
pub struct KeyLock {
    _file: File,
}

/// Removes the keys of journals that are gone (temporary projects), a week after they were made.
fn sweep(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let week = std::time::Duration::from_secs(7 * 24 * 3600);
    for entry in entries.flatten() {
        let path = entry.path();
        let old = entry.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok());
        if path.extension().is_some() || old.is_none_or(|age| age < week) {
            continue;
        }
        let Ok(file) = fs::read_to_string(&path).map(|t| serde_json::from_str::<KeyFile>(&t)) else { continue };
        if file.is_ok_and(|f| !f.journal.exists() && f.journal.parent().is_none_or(|d| !d.exists())) {
            for suffix in ["", ".head", ".lock"] {
                let _ = fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}
