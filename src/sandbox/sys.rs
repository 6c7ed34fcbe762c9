//! The system calls the sandbox is made of, each wrapped once: namespaces, mounts, capabilities,
//! loopback. Used only by the launcher and the holder, which are single-threaded when they call
//! them.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub fn os_error(what: &str) -> String {
    format!("cannot {what}: {}", io::Error::last_os_error())
}

pub fn cstr(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| format!("{} holds a NUL byte", p.display()))
}

/// Enters new namespaces (`CLONE_NEW*` flags).
pub fn unshare(flags: libc::c_int, what: &str) -> Result<(), String> {
    // SAFETY: unshare changes this process's namespaces only; callers are single-threaded.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(os_error(&format!("enter new {what} namespaces (unshare)")));
    }
    Ok(())
}

/// Opens a namespace file (`/proc/PID/ns/NAME`, or a bind mount of one).
pub fn open_ns(path: &Path) -> Result<OwnedFd, String> {
    std::fs::File::open(path)
        .map(OwnedFd::from)
        .map_err(|e| format!("cannot open {} (the session's namespace): {e}", path.display()))
}

/// The user namespace that owns the one `fd` refers to (`NS_GET_PARENT`).
pub fn parent_ns(fd: &OwnedFd) -> Result<OwnedFd, String> {
    const NS_GET_PARENT: libc::c_ulong = 0xb702;
    // SAFETY: the ioctl reads the namespace fd and returns a new fd or -1.
    let parent = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_PARENT as _) };
    if parent < 0 {
        return Err(os_error("find the session's outer user namespace"));
    }
    // SAFETY: a fresh fd the kernel just gave us.
    Ok(unsafe { OwnedFd::from_raw_fd(parent) })
}

/// Joins the namespace `fd` refers to (`flag` says which kind).
pub fn setns(fd: &OwnedFd, flag: libc::c_int, what: &str) -> Result<(), String> {
    // SAFETY: setns on a namespace fd this process opened; callers are single-threaded.
    if unsafe { libc::setns(fd.as_raw_fd(), flag) } != 0 {
        return Err(os_error(&format!("join the session's {what} namespace (setns)")));
    }
    Ok(())
}

/// This process as itself inside the user namespace it just entered.
pub fn map_ids(uid: libc::uid_t, gid: libc::gid_t) -> Result<(), String> {
    let write = |path: &str, text: String| std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"));
    if let Err(e) = std::fs::write("/proc/self/setgroups", "deny")
        && e.kind() != io::ErrorKind::NotFound
    {
        return Err(format!("cannot write /proc/self/setgroups: {e}"));
    }
    write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))?;
    write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))
}

pub fn ids() -> (libc::uid_t, libc::gid_t) {
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    unsafe { (libc::getuid(), libc::getgid()) }
}

pub fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), String> {
    let source = source.map(cstr).transpose()?;
    let target_c = cstr(target)?;
    let fstype = fstype.map(|f| CString::new(f).unwrap_or_default());
    let data = data.map(|d| CString::new(d).unwrap_or_default());
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is NULL or a NUL-terminated string alive for the call.
    let rc = unsafe { libc::mount(ptr(&source), target_c.as_ptr(), ptr(&fstype), flags, ptr(&data).cast()) };
    if rc != 0 {
        return Err(os_error(&format!("mount over {}", target.display())));
    }
    Ok(())
}

/// Binds `source` over `target` and makes that one mount read-only, keeping the flags a user
/// namespace may not clear.
pub fn bind_read_only(source: &Path, target: &Path) -> Result<(), String> {
    mount(Some(source), target, None, libc::MS_BIND | libc::MS_REC, None)?;
    let keep = locked_flags(target);
    mount(None, target, None, libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | keep, None)
}

/// The flags of the mount `path` lies on that a bind remount in a user namespace must keep.
fn locked_flags(path: &Path) -> libc::c_ulong {
    let Ok(c) = cstr(path) else { return 0 };
    // SAFETY: statvfs fills the struct it is given; it is zeroed and valid.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    let pairs = [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ];
    pairs.iter().filter(|(st_flag, _)| st.f_flag & st_flag != 0).fold(0, |acc, (_, ms)| acc | ms)
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// Makes the mount tree at `path` read-only, or writable again, submounts included.
pub fn set_read_only(path: &Path, read_only: bool) -> Result<(), String> {
    let c = cstr(path)?;
    let attr = MountAttr {
        attr_set: if read_only { MOUNT_ATTR_RDONLY } else { 0 },
        attr_clr: if read_only { 0 } else { MOUNT_ATTR_RDONLY },
        propagation: 0,
        userns_fd: 0,
    };
    let call = |flags: libc::c_uint| {
        // SAFETY: mount_setattr reads the path and the attr struct, both alive for the call.
        unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                c.as_ptr(),
                flags,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        }
    };
    // A submount the parent namespace made read-only stays so: then only the top one changes.
    if call(AT_RECURSIVE) != 0 && (read_only || call(0) != 0) {
        return Err(os_error(&format!("make {} {}", path.display(), if read_only { "read-only" } else { "writable" })));
    }
    Ok(())
}

/// Brings up `lo` in the new network namespace: a server the command starts on loopback works.
pub fn loopback_up() -> Result<(), String> {
    // SAFETY: a plain datagram socket, closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(os_error("open a socket to bring up loopback"));
    }
    // SAFETY: ifreq is plain data; the name fits; the ioctls read and write only it.
    let result = unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) != 0 {
            Err(os_error("read loopback's flags"))
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) != 0 { Err(os_error("bring up loopback")) } else { Ok(()) }
        }
    };
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    result
}

/// Drops every capability from the bounding and ambient sets, so nothing the command runs (not
/// even as uid 0 in the namespace) can undo the mounts.
pub fn drop_capabilities() -> Result<(), String> {
    let last: u32 =
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(40);
    for cap in 0..=last {
        // SAFETY: prctl with these options reads only its integer arguments.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
            return Err(os_error("drop capabilities"));
        }
    }
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) };
    Ok(())
}

/// Forks a child the kernel kills when this process dies (`PR_SET_PDEATHSIG`); `Ok(None)` in the
/// child. A pipe tells the child whether its parent died before the request took hold: the
/// parent's pid means nothing to a child in another PID namespace.
pub fn fork_tied() -> Result<Option<libc::pid_t>, String> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(os_error("make a pipe"));
    }
    // SAFETY: the callers are single-threaded, so the child may run any code.
    match unsafe { libc::fork() } {
        -1 => Err(os_error("fork")),
        0 => {
            // SAFETY: closing our copy of the write end, setting the death signal, polling the
            // read end: plain calls on our own descriptors.
            unsafe {
                libc::close(fds[1]);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
                let mut poll = libc::pollfd { fd: fds[0], events: libc::POLLIN, revents: 0 };
                let gone = libc::poll(&mut poll, 1, 0) > 0 && poll.revents & libc::POLLHUP != 0;
                libc::close(fds[0]);
                if gone {
                    libc::_exit(0);
                }
            }
            Ok(None)
        }
        // The write end stays open for as long as this process lives.
        pid => {
            // SAFETY: closing our copy of the read end.
            unsafe { libc::close(fds[0]) };
            Ok(Some(pid))
        }
    }
}

/// Waits for `pid` and ends this process the way it ended: the same exit status, or the same
/// signal.
pub fn exit_like(pid: libc::pid_t) -> ! {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child with a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            std::process::exit(super::exec::SETUP_FAILED);
        }
    }
    if libc::WIFEXITED(status) {
        std::process::exit(libc::WEXITSTATUS(status));
    }
    let sig = libc::WTERMSIG(status);
    // SAFETY: resetting a handler and raising a signal on ourselves.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
    std::process::exit(128 + sig)
}
