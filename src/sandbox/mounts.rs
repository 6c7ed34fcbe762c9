//! The view of the file system a session gets, made once by its holder in the session's mount
//! namespace and shared by every process of the session: hidden keys, no host Unix socket, the
//! project and the session's temporary directory writable and nothing else, and the places that
//! steer baton or git (`.baton/`, `.git/config`, `.git/hooks/`, `.git/info/`) read-only.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::sys::{self, mount};

/// Where the holder binds the session's user and network namespace files, for a launcher inside
/// the `claude` CLI's sandbox to join (it cannot reach the holder's `/proc` entry).
pub const NS_DIR: &str = "/tmp/.baton-session";

/// What the holder makes of the file system.
#[derive(Debug, Default)]
pub struct View {
    pub root: PathBuf,
    /// Writable besides the project: the session's temporary directory, `[sandbox] writable`,
    /// the `claude` CLI's own state.
    pub write: Vec<PathBuf>,
    pub hide: Vec<PathBuf>,
    /// Left readable where a covered directory would hide them (baton itself, the CLI, `$HOME`).
    pub expose: Vec<PathBuf>,
    /// The project too is read-only (the evaluator's session).
    pub read_only: bool,
}

/// Directories that hold the host's Unix sockets (ssh-agent, D-Bus, tmux, Docker, X11) and
/// scratch files of other programs: each is covered by an empty file system, with the session's
/// own paths bound back into it.
fn covered() -> Vec<PathBuf> {
    let mut dirs = ["/tmp", "/var/tmp", "/run", "/var/run"].map(PathBuf::from).to_vec();
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        dirs.push(PathBuf::from(xdg));
    }
    // A symlink (`/var/run` -> `/run`) is covered where it points; a directory only once.
    let mut real: Vec<PathBuf> =
        dirs.into_iter().filter_map(|d| d.canonicalize().ok()).filter(|d| d.is_dir()).collect();
    real.sort();
    real.dedup();
    // A directory inside another covered one goes with it.
    let all = real.clone();
    real.retain(|d| !all.iter().any(|o| o != d && d.starts_with(o)));
    real
}

/// The host's table of bound Unix sockets (`/proc/net/unix`), opened before the holder leaves the
/// host's network namespace, so it keeps listing the host's: a socket bound on the host while
/// the session runs is found there and covered too.
pub struct HostSockets {
    table: Option<std::fs::File>,
    seen: std::collections::HashSet<PathBuf>,
}

impl HostSockets {
    pub fn open() -> HostSockets {
        HostSockets { table: std::fs::File::open("/proc/net/unix").ok(), seen: Default::default() }
    }

    /// The socket paths bound since the last look (all of them, the first time).
    pub fn new_ones(&mut self) -> Vec<PathBuf> {
        use std::io::{Read, Seek};
        let Some(table) = self.table.as_mut() else { return Vec::new() };
        let mut text = String::new();
        if table.rewind().and_then(|()| table.read_to_string(&mut text)).is_err() {
            return Vec::new();
        }
        text.lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(7))
            // Abstract sockets start with `@`: the network namespace and Landlock keep those.
            .filter(|p| p.starts_with('/'))
            .map(PathBuf::from)
            .filter(|p| self.seen.insert(p.clone()))
            .collect()
    }
}

impl View {
    fn writable(&self) -> Vec<PathBuf> {
        let mut w = if self.read_only { Vec::new() } else { vec![self.root.clone()] };
        w.extend(self.write.iter().filter(|p| p.is_dir()).cloned());
        w
    }

    /// Makes the view in the current (new) mount namespace. `sockets` are the host's, read
    /// before the network namespace was left.
    pub fn make(&self, sockets: &[PathBuf]) -> Result<(), String> {
        // git's hooks and info directories exist before the session, so they are protected
        // rather than made by it.
        let git = self.root.join(".git");
        if git.is_dir() {
            for dir in ["hooks", "info"] {
                let _ = std::fs::create_dir_all(git.join(dir));
            }
        }
        mount(None, Path::new("/"), None, libc::MS_REC | libc::MS_PRIVATE, None)?;
        for hidden in &self.hide {
            hide(hidden)?;
        }
        self.hide_sockets(sockets);
        let covered = covered();
        // What must stay visible inside a covered directory, held open before it is covered.
        let mut keep: Vec<(PathBuf, OwnedFd)> = Vec::new();
        // Outermost first: a path inside one already kept comes with it (and is made a mount of
        // its own below when it is writable).
        let mut wanted: Vec<PathBuf> = std::iter::once(&self.root)
            .chain(&self.write)
            .chain(&self.expose)
            .filter_map(|p| p.canonicalize().ok())
            .collect();
        wanted.sort_by_key(|p| p.components().count());
        for real in wanted {
            if covered.iter().any(|c| real.starts_with(c) && real != *c)
                && !keep.iter().any(|(k, _)| real.starts_with(k))
            {
                keep.push((real.clone(), open_path(&real)?));
            }
        }
        if let Some(resolv) = resolv_conf()
            && covered.iter().any(|c| resolv.starts_with(c))
        {
            keep.push((resolv.clone(), open_path(&resolv)?));
        }
        for dir in &covered {
            mount(
                Some(Path::new("tmpfs")),
                dir,
                Some("tmpfs"),
                libc::MS_NOSUID | libc::MS_NODEV,
                Some("size=64k,mode=755"),
            )?;
        }
        for (path, fd) in &keep {
            let is_dir = std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd())).is_ok_and(|m| m.is_dir());
            if is_dir {
                std::fs::create_dir_all(path).map_err(|e| format!("cannot make {}: {e}", path.display()))?;
            } else {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| format!("cannot make {}: {e}", parent.display()))?;
                }
                std::fs::write(path, "").map_err(|e| format!("cannot make {}: {e}", path.display()))?;
            }
            let source = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            mount(Some(&source), path, None, libc::MS_BIND | libc::MS_REC, None)?;
        }
        drop(keep);
        namespace_files()?;
        let writable = self.writable();
        // The project and `.git` are mount points of their own: neither can be renamed away or
        // removed, so the protected files below cannot be swapped for others.
        for w in writable.iter().chain(git.is_dir().then_some(&git)) {
            mount(Some(w), w, None, libc::MS_BIND | libc::MS_REC, None)?;
        }
        // Everything read-only but the writable paths: Landlock does not cover chmod, chown or
        // utimes, a read-only mount does.
        sys::set_read_only(Path::new("/"), true)?;
        for w in &writable {
            sys::set_read_only(w, false)?;
        }
        if !self.read_only && git.is_dir() {
            sys::set_read_only(&git, false)?;
        }
        for protected in self.protected() {
            sys::bind_read_only(&protected, &protected)?;
        }
        Ok(())
    }

    /// Covers the host's Unix sockets at `sockets` with `/dev/null`; the session's own (in its
    /// writable paths) stay.
    pub fn hide_sockets(&self, sockets: &[PathBuf]) {
        let writable = self.writable();
        for socket in sockets.iter().filter(|s| !writable.iter().any(|w| s.starts_with(w))) {
            // A socket that went away, or one inside a covered directory, needs nothing.
            if std::fs::symlink_metadata(socket)
                .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
            {
                let _ = mount(Some(Path::new("/dev/null")), socket, None, libc::MS_BIND, None);
            }
        }
    }

    /// What steers baton and git: read-only to every process of the session. `.git/hooks` and
    /// `.git/info` are made by baton before the session when missing, so they cannot be created
    /// inside it (in a repository below the top, a new name is moved out after the session).
    fn protected(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.root.join(".baton")];
        // The project's repository, and each one below it (the operator's `git status` runs git
        // in a submodule, with its own config).
        let nested = crate::project::gitdir::nested(&self.root);
        for git in std::iter::once(self.root.join(".git")).chain(nested) {
            if std::fs::symlink_metadata(&git).is_ok_and(|m| m.is_dir()) {
                paths.extend(["config", "hooks", "info", "modules", "config.worktree"].iter().map(|p| git.join(p)));
            }
        }
        paths.retain(|p| p.exists());
        paths
    }
}

/// Covers a key or credential: an empty, unreadable file system over a directory, `/dev/null`
/// over a file.
fn hide(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => mount(
            Some(Path::new("tmpfs")),
            path,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            Some("size=4k,mode=000"),
        ),
        Ok(_) => mount(Some(Path::new("/dev/null")), path, None, libc::MS_BIND, None),
        Err(_) => Ok(()),
    }
}

fn open_path(path: &Path) -> Result<OwnedFd, String> {
    let c = sys::cstr(path)?;
    // SAFETY: open with O_PATH on a NUL-terminated path; returns a new fd or -1.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(sys::os_error(&format!("hold {} open", path.display())));
    }
    // SAFETY: a fresh fd the kernel just gave us.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// Where name resolution is configured, when `/etc/resolv.conf` points into a directory that is
/// covered (systemd-resolved's stub in `/run`).
fn resolv_conf() -> Option<PathBuf> {
    let link = Path::new("/etc/resolv.conf");
    std::fs::symlink_metadata(link).ok()?.file_type().is_symlink().then(|| link.canonicalize().ok()).flatten()
}

/// Binds this process's user and network namespace files into [`NS_DIR`].
fn namespace_files() -> Result<(), String> {
    let dir = Path::new(NS_DIR);
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {NS_DIR}: {e}"))?;
    for ns in ["user", "net"] {
        let file = dir.join(ns);
        std::fs::write(&file, "").map_err(|e| format!("cannot make {}: {e}", file.display()))?;
        mount(Some(&Path::new("/proc/self/ns").join(ns)), &file, None, libc::MS_BIND, None)?;
    }
    Ok(())
}
