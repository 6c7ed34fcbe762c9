//! `baton sandbox exec`: the process that joins a session's sandbox and then becomes the program.
//! It runs before anything else in `main` (no threads, no runtime, no logging), because joining a
//! user namespace needs a single-threaded process.
//!
//! Three ways in, one wall:
//! - `--join HOLDER` (a command, a file tool, an MCP server, the verify command, from baton): the
//!   session's user, mount, PID and (network off) network namespaces, then a fork, so the program
//!   is inside the PID namespace; this process waits and ends as the program ends.
//! - `--cli HOLDER` (the `claude` CLI): the session's outer user namespace, its mount and PID
//!   namespaces, the host's network (the CLI must reach the model); its own Landlock layer.
//! - `--nested` (a command or MCP server the CLI starts, rewritten so by baton's hook): from inside
//!   the CLI's sandbox, the session's user and network namespaces, and a Landlock layer of its own
//!   on top of the CLI's.
//!
//! Then every capability is dropped; Landlock: read and run anywhere but the host's `/tmp` (where
//! the CLI's own state is kept), write only beneath the writable paths, no abstract Unix socket
//! outside the sandbox; the environment cut to an allowlist; `exec`.

use std::convert::Infallible;
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
    path_beneath_rules,
};

use super::mounts::NS_DIR;
use super::sys;

/// Exit status when the sandbox could not be set up (the command did not run).
pub const SETUP_FAILED: i32 = 125;

/// The environment every confined program gets from the one it was started with (plus
/// `[sandbox] env`): nothing that holds a credential.
pub const ENV_ALLOWED: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TERM",
    "USER",
    "LOGNAME",
    "SHELL",
    "TMPDIR",
    "TZ",
    "NO_COLOR",
    "BATON_SESSION",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
];

/// Whether `name` passes the allowlist (`LC_*` included).
pub fn env_allowed(name: &str, extra: &[String]) -> bool {
    ENV_ALLOWED.contains(&name) || name.starts_with("LC_") || extra.iter().any(|e| e == name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Join(u32),
    Cli(u32),
    Nested,
}

/// The options of `baton sandbox hold` and `baton sandbox exec`.
#[derive(Debug, Default)]
pub struct Args {
    pub root: Option<PathBuf>,
    pub write: Vec<PathBuf>,
    pub hide: Vec<PathBuf>,
    pub expose: Vec<PathBuf>,
    pub env: Vec<String>,
    pub network: bool,
    pub read_only: bool,
    way: Option<Way>,
    program: Vec<OsString>,
}

impl Args {
    pub fn parse(args: &[OsString], exec: bool) -> Result<Args, String> {
        let mut spec = Args::default();
        let mut it = args.iter();
        let pid = |v: Option<&OsString>| -> Result<u32, String> {
            let v = v.ok_or("the holder's pid is missing")?;
            v.to_string_lossy().parse().map_err(|_| format!("not a pid: {}", v.to_string_lossy()))
        };
        while let Some(a) = it.next() {
            let mut value =
                || it.next().map(PathBuf::from).ok_or_else(|| format!("{} needs a value", a.to_string_lossy()));
            match a.to_str() {
                Some("--root") => spec.root = Some(value()?),
                Some("--write") => spec.write.push(value()?),
                Some("--hide") => spec.hide.push(value()?),
                Some("--expose") => spec.expose.push(value()?),
                Some("--env") => spec.env.push(value()?.to_string_lossy().into_owned()),
                Some("--network") => spec.network = true,
                Some("--read-only") => spec.read_only = true,
                Some("--join") => spec.way = Some(Way::Join(pid(it.next())?)),
                Some("--cli") => spec.way = Some(Way::Cli(pid(it.next())?)),
                Some("--nested") => spec.way = Some(Way::Nested),
                Some("--") if exec => {
                    spec.program = it.cloned().collect();
                    break;
                }
                _ => return Err(format!("unknown option {}", a.to_string_lossy())),
            }
        }
        if exec && (spec.way.is_none() || spec.program.is_empty()) {
            return Err("usage: baton sandbox exec (--join PID | --cli PID | --nested) [--write DIR]... [--env NAME]... [--network] -- PROGRAM [ARG]...".into());
        }
        Ok(spec)
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

fn run(args: &[OsString]) -> Result<Infallible, String> {
    let args = Args::parse(args, true)?;
    let cwd = std::env::current_dir().ok();
    let proc_ns = |pid: u32, ns: &str| sys::open_ns(&PathBuf::from(format!("/proc/{pid}/ns/{ns}")));
    match args.way {
        Some(Way::Join(holder)) => {
            // Every namespace is opened first: after the mount namespace, `/proc` is the session's.
            let user = proc_ns(holder, "user")?;
            let net = if args.network { None } else { Some(proc_ns(holder, "net")?) };
            let mnt = proc_ns(holder, "mnt")?;
            let pid = proc_ns(holder, "pid_for_children")?;
            sys::setns(&user, libc::CLONE_NEWUSER, "user")?;
            if let Some(net) = &net {
                sys::setns(net, libc::CLONE_NEWNET, "network")?;
            }
            sys::setns(&mnt, libc::CLONE_NEWNS, "mount")?;
            sys::setns(&pid, libc::CLONE_NEWPID, "PID")?;
            inside_pid_namespace(&args, cwd.as_deref(), false)
        }
        Some(Way::Cli(holder)) => {
            let inner = proc_ns(holder, "user")?;
            let outer = sys::parent_ns(&inner)?;
            let mnt = proc_ns(holder, "mnt")?;
            let pid = proc_ns(holder, "pid_for_children")?;
            sys::setns(&outer, libc::CLONE_NEWUSER, "outer user")?;
            sys::setns(&mnt, libc::CLONE_NEWNS, "mount")?;
            sys::setns(&pid, libc::CLONE_NEWPID, "PID")?;
            inside_pid_namespace(&args, cwd.as_deref(), true)
        }
        Some(Way::Nested) => {
            let user = sys::open_ns(&Path::new(NS_DIR).join("user"))?;
            let net = if args.network { None } else { Some(sys::open_ns(&Path::new(NS_DIR).join("net"))?) };
            sys::setns(&user, libc::CLONE_NEWUSER, "user")?;
            if let Some(net) = &net {
                sys::setns(net, libc::CLONE_NEWNET, "network")?;
            }
            confine_and_exec(&args, false)
        }
        None => Err("no way into the sandbox given".into()),
    }
}

/// Forks the program into the session's PID namespace (joined for children only); this process
/// waits for it and ends as it ends. The program dies with this process.
fn inside_pid_namespace(args: &Args, cwd: Option<&Path>, cli: bool) -> Result<Infallible, String> {
    match sys::fork_tied()? {
        Some(child) => sys::exit_like(child),
        None => {
            // The working directory still points into the mounts as they were: enter it again.
            if let Some(cwd) = cwd {
                std::env::set_current_dir(cwd).map_err(|e| format!("cannot enter {}: {e}", cwd.display()))?;
            }
            confine_and_exec(args, cli)
        }
    }
}

fn confine_and_exec(args: &Args, cli: bool) -> Result<Infallible, String> {
    sys::drop_capabilities()?;
    landlock(&args.write, &args.expose, cli)?;
    let program: Vec<CString> = args
        .program
        .iter()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| "an argument holds a NUL byte".to_owned()))
        .collect::<Result<_, _>>()?;
    // The CLI's environment was chosen by baton (it must reach the model); everything else gets
    // the allowlist.
    let env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| cli || env_allowed(&k.to_string_lossy(), &args.env))
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let mut argv: Vec<*const libc::c_char> = program.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: argv and envp are NULL-terminated arrays of pointers to NUL-terminated strings that
    // outlive the call; execvpe only returns on failure.
    unsafe { libc::execvpe(argv[0], argv.as_ptr(), envp.as_ptr()) };
    Err(sys::os_error(&format!("run {}", args.program[0].to_string_lossy())))
}

/// Landlock: read and run everywhere but `/tmp` (the CLI's state lives there, and nothing else
/// of the host's does in the session's view), write beneath `writable` only, no abstract Unix
/// socket outside the sandbox; the CLI's layer also keeps signals inside it.
fn landlock(writable: &[PathBuf], exposed: &[PathBuf], cli: bool) -> Result<(), String> {
    let abi = ABI::V6;
    let fail = |e: landlock::RulesetError| format!("cannot set up Landlock: {e}");
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(fail)?;
    ruleset = ruleset.scope(Scope::AbstractUnixSocket).map_err(fail)?;
    if cli {
        ruleset = ruleset.scope(Scope::Signal).map_err(fail)?;
    }
    let readable: Vec<PathBuf> = std::fs::read_dir("/")
        .map_err(|e| format!("cannot list /: {e}"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p != Path::new("/tmp"))
        .chain([PathBuf::from(NS_DIR)])
        .chain(exposed.iter().cloned())
        .filter(|p| p.exists())
        .collect();
    let devices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/ptmx", "/dev/pts", "/dev/shm"];
    let status = ruleset
        .create()
        .map_err(fail)?
        // Names may be listed anywhere (a listing of `/` is what the launcher inside the CLI's
        // sandbox starts from); contents read only outside `/tmp`.
        .add_rules(path_beneath_rules(["/"], AccessFs::ReadDir))
        .map_err(fail)?
        .add_rules(path_beneath_rules(&readable, AccessFs::from_read(abi)))
        .map_err(fail)?
        .add_rules(path_beneath_rules(writable, AccessFs::from_all(abi)))
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
