//! Files opened beneath the project and nowhere else: every path is opened relative to the
//! project's directory with `openat2(RESOLVE_BENEATH)`, so a symlink or `..` swapped in between
//! the policy's check and the use cannot lead out of it. Where the kernel has no `openat2` (before
//! 5.6) paths are opened as given: the policy has checked them, and the sandbox holds.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The project's directory, held open.
pub struct Beneath {
    root: PathBuf,
    fd: OwnedFd,
}

impl Beneath {
    pub fn new(root: &Path) -> io::Result<Beneath> {
        let fd = File::open(root)?;
        Ok(Beneath { root: root.to_owned(), fd: fd.into() })
    }

    /// Opens `path` (absolute inside the project, or relative to it) beneath the project.
    fn open(&self, path: &Path, flags: libc::c_int, mode: libc::mode_t) -> io::Result<File> {
        let rel = self.relative(path)?;
        let c = CString::new(rel.as_os_str().as_bytes()).map_err(|_| io::Error::other("a NUL byte in the path"))?;
        // SAFETY: open_how is plain data.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (flags | libc::O_CLOEXEC) as u64;
        how.mode = if flags & libc::O_CREAT != 0 { u64::from(mode) } else { 0 };
        how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: openat2 reads the path and the struct, both alive for the call; returns a new fd.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.fd.as_raw_fd(),
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOSYS) {
                return std::fs::OpenOptions::new()
                    .read(flags & libc::O_ACCMODE != libc::O_WRONLY)
                    .write(flags & libc::O_ACCMODE != libc::O_RDONLY)
                    .create(flags & libc::O_CREAT != 0)
                    .truncate(flags & libc::O_TRUNC != 0)
                    .open(self.root.join(&rel));
            }
            if e.raw_os_error() == Some(libc::EXDEV) {
                return Err(io::Error::new(io::ErrorKind::PermissionDenied, "it leads outside the project"));
            }
            return Err(e);
        }
        // SAFETY: a fresh fd the kernel just gave us.
        Ok(unsafe { File::from_raw_fd(fd as libc::c_int) })
    }

    /// `path` relative to the project (`.` for the project itself).
    fn relative(&self, path: &Path) -> io::Result<PathBuf> {
        let rel = if path.is_absolute() {
            path.strip_prefix(&self.root)
                .map_err(|_| io::Error::new(io::ErrorKind::PermissionDenied, "it is outside the project"))?
        } else {
            path
        };
        Ok(if rel.as_os_str().is_empty() { PathBuf::from(".") } else { rel.to_owned() })
    }

    pub fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open(path, libc::O_RDONLY, 0)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    pub fn exists(&self, path: &Path) -> bool {
        self.open(path, libc::O_PATH, 0).is_ok()
    }

    /// Writes `bytes` to `path`, making its directories as needed.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let rel = self.relative(path)?;
        if let Some(dir) = rel.parent() {
            self.make_dirs(dir)?;
        }
        let mut f = self.open(&rel, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644)?;
        f.write_all(bytes)
    }

    /// Makes `dir` and its parents beneath the project, one at a time.
    fn make_dirs(&self, dir: &Path) -> io::Result<()> {
        let mut so_far = PathBuf::new();
        for part in dir.components() {
            let Component::Normal(name) = part else { continue };
            let parent = self.open(
                if so_far.as_os_str().is_empty() { Path::new(".") } else { &so_far },
                libc::O_PATH | libc::O_DIRECTORY,
                0,
            )?;
            so_far.push(name);
            let c = CString::new(name.as_bytes()).map_err(|_| io::Error::other("a NUL byte in the path"))?;
            // SAFETY: mkdirat on a directory fd we hold, with a NUL-terminated name.
            if unsafe { libc::mkdirat(parent.as_raw_fd(), c.as_ptr(), 0o755) } != 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::AlreadyExists {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// The entries of the directory `path`.
    pub fn read_dir(&self, path: &Path) -> io::Result<std::fs::ReadDir> {
        let dir = self.open(path, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        let held: OwnedFd = dir.into();
        let listing = std::fs::read_dir(format!("/proc/self/fd/{}", held.as_raw_fd()));
        drop(held);
        listing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_opened_or_written_outside_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("project"), dir.path().join("outside"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), "outside").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        std::os::unix::fs::symlink("../outside/secret", root.join("relative")).unwrap();
        let b = Beneath::new(&root).unwrap();
        for path in ["link/secret", "relative", "../outside/secret", "link/new"] {
            assert!(b.read(Path::new(path)).is_err(), "{path}");
        }
        assert!(b.write(Path::new("link/new"), b"x").is_err());
        assert!(b.write(Path::new("link/deeper/new"), b"x").is_err());
        assert!(!outside.join("new").exists() && !outside.join("deeper").exists());
        b.write(Path::new("src/deep/a.txt"), b"inside").unwrap();
        assert_eq!(b.read(&root.join("src/deep/a.txt")).unwrap(), b"inside");
        let names: Vec<String> =
            b.read_dir(Path::new("src")).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into()).collect();
        assert_eq!(names, ["deep"]);
        assert!(b.read(&outside.join("secret")).is_err(), "an absolute path outside is refused");
    }
}
