//! `baton sandbox hold`: the process that holds a session's namespaces for as long as the session
//! runs. It makes them once, and every process of the session joins them (see [`super::exec`]):
//!
//! - an outer user namespace, in which the `claude` CLI runs (it keeps the network for the model);
//! - inside it, the session's own user, mount, PID and (with the network off) network namespaces:
//!   one loopback for all the session's commands, one view of the file system (see
//!   [`super::mounts`]), one PID namespace so a signal reaches the session's processes and nothing
//!   else.
//!
//! Its first child is the PID namespace's init, which the kernel kills when the holder dies; the
//! holder dies when its standard input closes: when the session is over, or when baton is gone,
//! however it went. With init gone, the kernel ends every process of the session.

use std::io::{self, Read, Write};

use super::exec::{Args, SETUP_FAILED};
use super::mounts;
use super::sys;

/// Runs `baton sandbox hold ARGS`; never returns.
pub fn main(args: &[std::ffi::OsString]) -> ! {
    match run(args) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("baton sandbox: {e}");
            std::process::exit(SETUP_FAILED)
        }
    }
}

fn run(args: &[std::ffi::OsString]) -> Result<(), String> {
    let args = Args::parse(args, false)?;
    let view = mounts::View {
        root: args.root.clone().ok_or("hold needs --root")?,
        write: args.write.clone(),
        hide: args.hide.clone(),
        expose: args.expose.clone(),
        read_only: args.read_only,
    };
    let mut sockets = mounts::HostSockets::open();
    let (uid, gid) = sys::ids();
    sys::unshare(libc::CLONE_NEWUSER, "user")?;
    sys::map_ids(uid, gid)?;
    let mut flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID;
    if !args.network {
        flags |= libc::CLONE_NEWNET;
    }
    sys::unshare(flags, "user, mount, PID and network")?;
    sys::map_ids(uid, gid)?;
    if !args.network {
        sys::loopback_up()?;
    }
    view.make(&sockets.new_ones())?;
    // SAFETY: getpid cannot fail.
    let holder = unsafe { libc::getpid() };
    // Init says when the session's `/proc` is in place: a process that joined before would keep
    // the host's in its Landlock rules, and find the session's unreadable.
    let (ready_read, ready_write) = std::io::pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
    if sys::fork_tied()?.is_none() {
        drop(ready_read);
        init(ready_write);
    }
    drop(ready_write);
    let mut byte = [0u8; 1];
    let _ = (&ready_read).read(&mut byte);
    drop(ready_read);
    sys::drop_capabilities()?;
    let mut out = io::stdout();
    out.write_all(format!("ready {holder}\n").as_bytes()).and_then(|()| out.flush()).map_err(|e| e.to_string())?;
    // Until baton closes its end, or is gone; meanwhile a socket bound on the host is covered
    // within a tenth of a second.
    let mut buf = [0u8; 64];
    loop {
        let mut poll = libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 };
        // SAFETY: poll on our own standard input with a valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, 100) };
        if ready > 0 && !io::stdin().read(&mut buf).is_ok_and(|n| n > 0) {
            return Ok(());
        }
        if ready < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return Ok(());
        }
        view.hide_sockets(&sockets.new_ones());
    }
}

/// The session's PID 1: it dies with the holder, shows the session its own processes in `/proc`,
/// and reaps the orphans.
fn init(ready: std::io::PipeWriter) -> ! {
    // A `/proc` of the session's own: `ps` there lists the session's processes only. Without it
    // the host's stays, and signals still reach only the session's processes.
    let _ = sys::mount(
        Some(std::path::Path::new("proc")),
        std::path::Path::new("/proc"),
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    );
    let _ = (&ready).write_all(b"1");
    drop(ready);
    // Standard streams go: init holds no pipe of baton's open.
    // SAFETY: closing our own descriptors.
    unsafe {
        for fd in 0..3 {
            libc::close(fd);
        }
    }
    // SAFETY: a signal set on the stack, filled and used by the calls below only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let wait = libc::timespec { tv_sec: 1, tv_nsec: 0 };
        loop {
            let mut status = 0;
            while libc::waitpid(-1, &mut status, libc::WNOHANG) > 0 {}
            libc::sigtimedwait(&set, std::ptr::null_mut(), &wait);
        }
    }
}
