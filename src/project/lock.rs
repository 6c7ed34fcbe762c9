//! One loop per project: `.baton/loop.lock`, held with `flock` by the process running the loop.
//! The kernel drops the lock when that process dies, however it dies, so a stale lock is never a
//! problem; the file holds the pid to say who has it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another baton (pid {pid}) is running the loop of this project; watch it with `baton status`, or act on it with `baton review` and `baton features mark`"
    )]
    Held { pid: String },
    #[error("cannot use the lock file {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// The loop lock, held until dropped.
#[derive(Debug)]
pub struct LoopLock {
    _file: File,
}

fn try_flock(file: &File, kind: libc::c_int) -> bool {
    // SAFETY: flock on a file descriptor we own; it has no memory effects.
    unsafe { libc::flock(file.as_raw_fd(), kind | libc::LOCK_NB) == 0 }
}

pub fn lock_path(baton_dir: &Path) -> PathBuf {
    baton_dir.join("loop.lock")
}

/// Takes the loop lock of the project whose `.baton/` is `baton_dir`.
pub fn acquire(baton_dir: &Path) -> Result<LoopLock, LockError> {
    let path = lock_path(baton_dir);
    let io = |source| LockError::Io { path: path.clone(), source };
    std::fs::create_dir_all(baton_dir).map_err(io)?;
    let mut file = match super::fsio::open_plain(&path, OpenOptions::new().create(true).read(true).write(true)) {
        Ok(Some(f)) => f,
        Ok(None) => return Err(io(std::io::ErrorKind::NotFound.into())),
        Err(e) => return Err(io(std::io::Error::other(e.to_string()))),
    };
    if !try_flock(&file, libc::LOCK_EX) {
        let mut pid = String::new();
        let _ = file.read_to_string(&mut pid);
        return Err(LockError::Held { pid: pid.trim().to_owned() });
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "{}", std::process::id()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(LoopLock { _file: file })
}

/// The pid of the process running the loop, if one is.
pub fn holder(baton_dir: &Path) -> Option<String> {
    // Never a wait: a FIFO in the lock's place is no lock.
    let mut file = super::fsio::open_plain(&lock_path(baton_dir), OpenOptions::new().read(true)).ok()??;
    if try_flock(&file, libc::LOCK_SH) {
        // Nobody holds it; ours is dropped with the file.
        return None;
    }
    let mut pid = String::new();
    file.read_to_string(&mut pid).ok()?;
    Some(pid.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(holder(dir.path()), None);
        let lock = acquire(dir.path()).unwrap();
        assert_eq!(holder(dir.path()), Some(std::process::id().to_string()));
        match acquire(dir.path()) {
            Err(LockError::Held { pid }) => assert_eq!(pid, std::process::id().to_string()),
            other => panic!("expected the lock to be held, got {other:?}"),
        }
        drop(lock);
        assert_eq!(holder(dir.path()), None);
        let _again = acquire(dir.path()).unwrap();
    }
}
