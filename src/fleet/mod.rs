//! The fleet: the projects a person runs, each keeping its own loop, lock and journal exactly as
//! alone, seen and run together. What the loops share lives in the user's directories, so loops
//! started separately honour it too: the list and the cap in the config (`fleet.toml`), the
//! session slots and each account's limits in the state directory, held by the kernel (`flock`)
//! or replaced whole (`rename`). No terminal code here: the screen and the commands use this.

pub mod account;
pub mod control;
pub mod follow;
pub mod list;
pub mod pid;
pub mod place;
pub mod row;
pub mod slots;
pub mod state;

use std::path::{Path, PathBuf};

pub use list::{Fleet, FleetError};
pub use place::Place;

/// Set in the environment of a project's screen the fleet screen opens: `Esc` there comes back.
pub const CHILD_ENV: &str = "BATON_FLEET_SCREEN";

/// Where a fleet keeps what its loops share: the user's config and state directories, or, for a
/// fleet of its own (the demo, a test), two folders under one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// Holds `fleet.toml`: the projects and the cap.
    pub config: PathBuf,
    /// Holds the session slots (`fleet/slots/`) and each account's shared limits (`accounts/`).
    pub state: PathBuf,
}

impl Dirs {
    /// The user's: `$XDG_CONFIG_HOME/baton/` and `$XDG_STATE_HOME/baton/` on Linux.
    pub fn from_env() -> Option<Dirs> {
        let dirs = directories::ProjectDirs::from("", "", "baton")?;
        let state = dirs.state_dir().unwrap_or_else(|| dirs.data_local_dir()).to_owned();
        Some(Dirs { config: dirs.config_dir().to_owned(), state })
    }

    /// A fleet of its own under `root`.
    pub fn at(root: &Path) -> Dirs {
        Dirs { config: root.join("config"), state: root.join("state") }
    }

    /// `fleet.toml`: the projects and the cap.
    pub fn list_path(&self) -> PathBuf {
        self.config.join("fleet.toml")
    }

    /// One lock file per session slot.
    pub fn slots_dir(&self) -> PathBuf {
        self.state.join("fleet").join("slots")
    }

    /// One file per account: the limits and pacing its loops share.
    pub fn accounts_dir(&self) -> PathBuf {
        self.state.join("accounts")
    }
}

/// `now` in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Writes `bytes` to `path` whole: a reader sees the old file or the new one, never half.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_data()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// An exclusive `flock` on `path` (created if missing), held until the file is dropped: for a
/// short read-modify-write of a file several processes change.
pub(crate) fn lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
    // SAFETY: flock on a descriptor we own; no memory effects.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}
