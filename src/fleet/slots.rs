//! The cap on sessions running at once across the fleet, held by the kernel: slot `i` is
//! `slots/i.lock`, held with an exclusive `flock` for one session (and its evaluation). The kernel
//! lets go when the holder goes, however it goes, so a stale slot is never a problem. A short lock
//! on `slots/.take` makes counting and taking one step: two loops never both take the last free
//! slot, and a cap lowered while slots are held is honoured.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

/// A slot held until dropped.
#[derive(Debug)]
pub struct Slot {
    file: File,
    pub index: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // SAFETY: flock on a descriptor we own.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
        // Written after the lock is let go: the change wakes the loops waiting for a slot.
        let _ = self.file.set_len(0);
    }
}

/// Who holds a slot, as its file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub index: usize,
    pub pid: Option<i32>,
    /// The place of the project whose session holds it.
    pub place: String,
}

fn try_flock(file: &File) -> bool {
    // SAFETY: flock on a descriptor we own; no memory effects.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

fn slot_indices(dir: &Path) -> Vec<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().filter_map(|e| e.file_name().to_str()?.strip_suffix(".lock")?.parse().ok()).collect()
}

/// Takes a slot for `place` when fewer than `max` are held; else says who holds them.
pub fn try_take(dir: &Path, max: u32, place: &str) -> std::io::Result<Result<Slot, Vec<Holder>>> {
    let _taking = super::lock_file(&dir.join(".take"))?;
    let upper = slot_indices(dir).into_iter().map(|i| i + 1).max().unwrap_or(0).max(max as usize);
    let mut free: Option<(File, usize)> = None;
    let mut holders = Vec::new();
    for index in 0..upper {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join(format!("{index}.lock")))?;
        if try_flock(&file) {
            if free.is_none() {
                free = Some((file, index));
            } else {
                // SAFETY: as above; dropping the file would let go too, said plainly.
                unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
            }
        } else {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            holders.push(holder(index, &text));
        }
    }
    match free {
        Some((mut file, index)) if holders.len() < max as usize => {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{}\t{place}", std::process::id())?;
            Ok(Ok(Slot { file, index }))
        }
        // Not taken after all: let go quietly (no write, so no waiter wakes for nothing).
        Some((file, _)) => {
            // SAFETY: as above.
            unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
            Ok(Err(holders))
        }
        None => Ok(Err(holders)),
    }
}

fn holder(index: usize, text: &str) -> Holder {
    let (pid, place) = text.trim().split_once('\t').unwrap_or((text.trim(), ""));
    Holder { index, pid: pid.parse().ok(), place: place.to_owned() }
}

/// Who holds slots now.
pub fn holders(dir: &Path) -> Vec<Holder> {
    let mut out: Vec<Holder> = slot_indices(dir)
        .into_iter()
        .filter_map(|index| {
            let mut file = File::open(dir.join(format!("{index}.lock"))).ok()?;
            // SAFETY: flock on a descriptor we own.
            let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) == 0 };
            if free {
                return None;
            }
            let mut text = String::new();
            file.read_to_string(&mut text).ok()?;
            Some(holder(index, &text))
        })
        .collect();
    out.sort_by_key(|h| h.index);
    out
}

/// Waits for a slot to be let go: a holder writing as it lets go (inotify on the directory), or a
/// holder's process ending (its pidfd). `watch` must have been made before the slots were last
/// looked at, so that nothing let go in between is missed.
pub async fn released(watch: &mut crate::project::watch::DirWatch, holders: &[Holder]) {
    let ends: Vec<_> = holders.iter().filter_map(|h| h.pid).map(|pid| Box::pin(super::pid::exited(pid))).collect();
    if ends.is_empty() {
        return watch.changed().await;
    }
    tokio::select! {
        _ = watch.changed() => {}
        _ = futures_util::future::select_all(ends) => {}
    }
}

/// A watch on the slots' directory for [`released`]; its slow poll only covers what neither
/// inotify nor a pidfd can tell.
pub fn watch(dir: &Path) -> crate::project::watch::DirWatch {
    let _ = std::fs::create_dir_all(dir);
    crate::project::watch::DirWatch::new(&[dir], Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_are_held_and_a_dropped_slot_is_free_again() {
        let dir = tempfile::tempdir().unwrap();
        let a = try_take(dir.path(), 2, "/a").unwrap().unwrap();
        let b = try_take(dir.path(), 2, "/b").unwrap().unwrap();
        let held = try_take(dir.path(), 2, "/c").unwrap().unwrap_err();
        assert_eq!(held.iter().map(|h| h.place.as_str()).collect::<Vec<_>>(), ["/a", "/b"]);
        assert_eq!(held[0].pid, Some(std::process::id() as i32));
        assert_eq!(holders(dir.path()).len(), 2);
        drop(a);
        let c = try_take(dir.path(), 2, "/c").unwrap().unwrap();
        assert_eq!(c.index, 0);
        // A cap lowered while two are held: nobody more until one goes.
        assert!(try_take(dir.path(), 1, "/d").unwrap().is_err());
        drop((b, c));
        assert!(holders(dir.path()).is_empty());
        assert!(try_take(dir.path(), 1, "/d").unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_slot_let_go_wakes_the_waiter() {
        let dir = tempfile::tempdir().unwrap();
        let slot = try_take(dir.path(), 1, "/a").unwrap().unwrap();
        let mut watch = watch(dir.path());
        watch.changed().await;
        let holders = try_take(dir.path(), 1, "/b").unwrap().unwrap_err();
        let started = std::time::Instant::now();
        let dropper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(slot);
        });
        tokio::time::timeout(Duration::from_secs(5), released(&mut watch, &holders)).await.unwrap();
        dropper.await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(try_take(dir.path(), 1, "/b").unwrap().is_ok());
    }
}
