//! `baton sandbox exec`: the process that confines itself and then becomes the command. It runs
//! before anything else in `main` (no threads, no runtime, no logging), because entering a new
//! user namespace needs a single-threaded process.
//!
//! In order: a new user and mount namespace (and network namespace when the network is off, with
//! its own loopback up); the hidden paths covered (an empty, unreadable tmpfs over a directory,
//! `/dev/null` over a file); `.baton/` bound read-only; every capability dropped; Landlock:
//! read and run anywhere, write only beneath the writable paths, no signal to a process outside
//! the sandbox (unless `--signals`), no abstract Unix socket outside it; then `exec`.

use std::convert::Infallible;
use std::ffi::{CString, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
    path_beneath_rules,
};

/// Exit status when the sandbox could not be set up (the command did not run).
pub const SETUP_FAILED: i32 = 125;

#[derive(Debug, Default)]
struct Spec {
    /// The project: writable, its `.baton/` read-only.
    root: PathBuf,
    write: Vec<PathBuf>,
    hide: Vec<PathBuf>,
    network: bool,
    signals: bool,
    /// The project is read-only too (the evaluator's commands): only `--write` paths are writable.
    read_only: bool,
    /// A session's network holder to join (its user and network namespaces) instead of a new
    /// network of the command's own, so what one command starts on loopback the next can reach.
    join: Option<u32>,
    /// Where to note the new user namespace, so baton can end everything in it later.
    record: Option<PathBuf>,
    program: Vec<OsString>,
}

impl Spec {
    /// The project, unless it is read-only.
    fn writable_roots(&self) -> Vec<PathBuf> {
        if self.read_only { Vec::new() } else { vec![self.root.clone()] }
    }
}

/// Runs `baton sandbox exec ARGS`; never returns.
pub fn main(args: &[OsString]) -> ! {
    match run(args) {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("baton sandbox: {e}");
            std::process::exit(SETUP_FAILED)
        }
    }
}

fn parse(args: &[OsString]) -> Result<Spec, String> {
    let mut spec = Spec::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().map(PathBuf::from).ok_or_else(|| format!("{} needs a value", a.to_string_lossy()));
        match a.to_str() {
            Some("--root") => spec.root = value()?,
            Some("--write") => spec.write.push(value()?),
            Some("--hide") => spec.hide.push(value()?),
            Some("--network") => spec.network = true,
            Some("--signals") => spec.signals = true,
            Some("--read-only") => spec.read_only = true,
            Some("--join") => {
                let pid = value()?;
                spec.join = Some(
                    pid.to_string_lossy().parse().map_err(|_| format!("--join needs a pid, not {}", pid.display()))?,
                );
            }
            Some("--record") => spec.record = Some(value()?),
            Some("--") => {
                spec.program = it.cloned().collect();
                break;
            }
            _ => return Err(format!("unknown option {}", a.to_string_lossy())),
        }
    }
    if spec.root.as_os_str().is_empty() || spec.program.is_empty() {
        return Err(
            "usage: baton sandbox exec --root DIR [--write DIR]... [--hide PATH]... [--network] [--read-only] -- PROGRAM [ARG]..."
                .into(),
        );
    }
    Ok(spec)
}

fn os_error(what: &str) -> String {
    format!("cannot {what}: {}", io::Error::last_os_error())
}

fn cstr(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| format!("{} holds a NUL byte", p.display()))
}

fn run(args: &[OsString]) -> Result<Infallible, String> {
    let spec = parse(args)?;
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    if let Some(pid) = spec.join {
        join(pid)?;
    } else {
        let mut flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNS;
        if !spec.network {
            flags |= libc::CLONE_NEWNET;
        }
        // SAFETY: unshare changes this process's namespaces only; it is single-threaded here.
        if unsafe { libc::unshare(flags) } != 0 {
            return Err(os_error("enter new user, mount and network namespaces (unshare)"));
        }
        map_ids(uid, gid)?;
    }
    if let Some(record) = &spec.record {
        // Before any restriction: the record lives where the command may not write.
        let ns =
            std::fs::read_link("/proc/self/ns/user").map_err(|e| format!("cannot read the user namespace: {e}"))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(record)
            .map_err(|e| format!("cannot write {}: {e}", record.display()))?;
        io::Write::write_all(&mut f, format!("{}\n", ns.display()).as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", record.display()))?;
    }
    mounts(&spec)?;
    // The working directory still points into the mounts as they were: enter it again, through
    // the writable binds.
    if let Ok(cwd) = std::env::current_dir() {
        std::env::set_current_dir(&cwd).map_err(|e| format!("cannot enter {}: {e}", cwd.display()))?;
    }
    if !spec.network && spec.join.is_none() {
        loopback_up()?;
    }
    drop_capabilities()?;
    landlock(&spec)?;
    let program: Vec<CString> = spec
        .program
        .iter()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| "an argument holds a NUL byte".to_owned()))
        .collect::<Result<_, _>>()?;
    let mut argv: Vec<*const libc::c_char> = program.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: argv is a NULL-terminated array of pointers to NUL-terminated strings that outlive
    // the call; execvp only returns on failure.
    unsafe { libc::execvp(argv[0], argv.as_ptr()) };
    Err(os_error(&format!("run {}", spec.program[0].to_string_lossy())))
}

/// This process as root of its own user namespace, as the user it was outside.
fn map_ids(uid: libc::uid_t, gid: libc::gid_t) -> Result<(), String> {
    let write = |path: &str, text: String| std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"));
    if let Err(e) = std::fs::write("/proc/self/setgroups", "deny")
        && e.kind() != io::ErrorKind::NotFound
    {
        return Err(format!("cannot write /proc/self/setgroups: {e}"));
    }
    write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))?;
    write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))
}

/// Enters the user and network namespaces of the session's holder `pid`, then a mount namespace
/// of this command's own.
fn join(pid: u32) -> Result<(), String> {
    for (ns, flag) in [("user", libc::CLONE_NEWUSER), ("net", libc::CLONE_NEWNET)] {
        let path = format!("/proc/{pid}/ns/{ns}");
        let f = std::fs::File::open(&path).map_err(|e| format!("cannot open {path} (the session's network): {e}"))?;
        // SAFETY: setns on a namespace file this process opened; it is single-threaded here.
        if unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), flag) } != 0 {
            return Err(os_error(&format!("join the session's {ns} namespace (setns {path})")));
        }
    }
    // SAFETY: as above.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(os_error("enter a new mount namespace (unshare)"));
    }
    Ok(())
}

/// Runs `baton sandbox hold`: a user and network namespace with its loopback up, kept for a
/// session so its commands share one loopback. Says `ready PID` on stdout, then lives until its stdin
/// closes (the session is over, or baton is gone).
pub fn hold() -> ! {
    let run = || -> Result<(), String> {
        // No parent-death signal: it follows the thread that started it, not baton. The end of
        // stdin (baton gone, or the session over) is what ends it.
        // SAFETY: getuid and getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        // SAFETY: unshare changes this process's namespaces only; it is single-threaded here.
        if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) } != 0 {
            return Err(os_error("enter new user and network namespaces (unshare)"));
        }
        map_ids(uid, gid)?;
        loopback_up()?;
        drop_capabilities()?;
        let mut out = io::stdout();
        io::Write::write_all(&mut out, format!("ready {}\n", std::process::id()).as_bytes())
            .and_then(|()| io::Write::flush(&mut out))
            .map_err(|e| e.to_string())?;
        let _ = io::copy(&mut io::stdin(), &mut io::sink());
        Ok(())
    };
    match run() {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("baton sandbox: {e}");
            std::process::exit(SETUP_FAILED)
        }
    }
}

fn mount(
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

fn mounts(spec: &Spec) -> Result<(), String> {
    mount(None, Path::new("/"), None, libc::MS_REC | libc::MS_PRIVATE, None)?;
    for hidden in &spec.hide {
        match std::fs::metadata(hidden) {
            Ok(m) if m.is_dir() => mount(
                Some(Path::new("tmpfs")),
                hidden,
                Some("tmpfs"),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                Some("size=4k,mode=000"),
            )?,
            Ok(_) => mount(Some(Path::new("/dev/null")), hidden, None, libc::MS_BIND, None)?,
            Err(_) => {}
        }
    }
    // Everything read-only but the writable paths: Landlock does not cover chmod, chown or
    // utimes, a read-only mount does.
    let mut writable = spec.writable_roots();
    writable.extend(spec.write.iter().filter(|w| w.is_dir()).cloned());
    for w in &writable {
        mount(Some(w), w, None, libc::MS_BIND | libc::MS_REC, None)?;
    }
    set_read_only(Path::new("/"), true)?;
    for w in &writable {
        set_read_only(w, false)?;
    }
    let state = spec.root.join(".baton");
    if state.is_dir() {
        mount(Some(&state), &state, None, libc::MS_BIND | libc::MS_REC, None)?;
        let keep = locked_flags(&state);
        mount(None, &state, None, libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | keep, None)?;
    }
    Ok(())
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
fn set_read_only(path: &Path, read_only: bool) -> Result<(), String> {
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
fn loopback_up() -> Result<(), String> {
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
fn drop_capabilities() -> Result<(), String> {
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

fn landlock(spec: &Spec) -> Result<(), String> {
    let abi = ABI::V6;
    let fail = |e: landlock::RulesetError| format!("cannot set up Landlock: {e}");
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(fail)?;
    ruleset = ruleset.scope(Scope::AbstractUnixSocket).map_err(fail)?;
    if !spec.signals {
        ruleset = ruleset.scope(Scope::Signal).map_err(fail)?;
    }
    let mut writable = spec.writable_roots();
    writable.extend(spec.write.iter().cloned());
    let devices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/ptmx", "/dev/pts", "/dev/shm"];
    let status = ruleset
        .create()
        .map_err(fail)?
        .add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi)))
        .map_err(fail)?
        .add_rules(path_beneath_rules(&writable, AccessFs::from_all(abi)))
        .map_err(fail)?
        .add_rules(path_beneath_rules(devices, AccessFs::from_all(abi)))
        .map_err(fail)?
        .restrict_self()
        .map_err(fail)?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err("this kernel does not enforce Landlock, so nothing would confine the command".into());
    }
    Ok(())
}
