//! The kernel sandbox every command of a session runs in: the wall behind the policy. A command
//! may write only the project, the session's temporary directory and `[sandbox] writable`; it
//! cannot read `[sandbox] hidden`, write `.baton/`, reach the network (its own loopback aside),
//! signal or trace a process outside its sandbox, or undo any of this. baton runs itself as the
//! launcher (`baton sandbox exec`, in [`exec`]), which sets the sandbox up and becomes the command.
//!
//! What is not confined: baton's own connection to the model, and the file tools that run inside
//! baton or the `claude` CLI (`write_file`, `Write`, `Edit`), which the policy checks exactly.

pub mod exec;
mod net;
mod reap;

pub use net::{NET_ENV, SessionNet};

pub use reap::{become_subreaper, end_session};

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::project::config::{self, SandboxMode};

#[derive(Debug, Clone, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot find baton's sandbox launcher: {0}")]
    NoLauncher(String),
    #[error(
        "the sandbox does not work on this machine ({0}); baton will not run an agent's commands unconfined. Set [sandbox] mode = \"off\" in .baton/config.toml to run them anyway"
    )]
    Unavailable(String),
}

/// Where the `claude` CLI's environment names the session's record of sandboxes, for the hook.
pub const RECORD_ENV: &str = "BATON_SANDBOX_RECORD";

/// Set (to `1`) in the `claude` CLI's environment for a read-only session: the hook then applies
/// the read-only policy and sandbox. The CLI's commands cannot change the CLI's environment.
pub const READ_ONLY_ENV: &str = "BATON_READ_ONLY";

/// How one session's commands are confined.
#[derive(Debug, Clone)]
pub struct Profile {
    launcher: PathBuf,
    root: PathBuf,
    tmp: PathBuf,
    writable: Vec<PathBuf>,
    hidden: Vec<PathBuf>,
    network: bool,
    record: Option<PathBuf>,
    /// The session's network holder to join, when the network is off.
    net: Option<u32>,
    /// The project may be read, not written (the evaluator's session).
    read_only: bool,
}

impl Profile {
    /// The profile for commands in `root` under `config`, with `tmp` as their temporary directory;
    /// `None` when the user turned the sandbox off.
    pub fn new(root: &Path, config: &config::Sandbox, tmp: &Path) -> Result<Option<Profile>, SandboxError> {
        if config.mode == SandboxMode::Off {
            return Ok(None);
        }
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let expand = |p: &String| crate::agent::policy::expand_home(p, home.as_deref());
        let real = |p: PathBuf| p.canonicalize().unwrap_or(p);
        Ok(Some(Profile {
            launcher: launcher()?,
            root: real(root.to_owned()),
            tmp: real(tmp.to_owned()),
            writable: config.writable.iter().filter_map(expand).map(real).collect(),
            hidden: config.hidden.iter().filter_map(expand).collect(),
            network: config.network == config::Network::On,
            record: None,
            net: None,
            read_only: false,
        }))
    }

    /// Notes each command's user namespace in `path` (one a line), for [`end_session`]: every
    /// process in those namespaces belongs to the session, whatever it did to its environment.
    ///
    /// [`end_session`]: crate::sandbox::end_session
    pub fn with_record(mut self, path: Option<PathBuf>) -> Self {
        self.record = path;
        self
    }

    /// Commands join the session's network held by `pid` (one loopback for the whole session)
    /// rather than each getting a network of its own.
    pub fn with_net(mut self, pid: Option<u32>) -> Self {
        self.net = pid;
        self
    }

    /// The project is read-only to the commands too: they may write only the session's temporary
    /// directory and `[sandbox] writable` (the evaluator judges the tree, it does not change it).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// The session's temporary directory (the commands' `TMPDIR`).
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The launcher's arguments that run `bash -c command` confined.
    pub fn argv(&self, command: &str) -> Vec<OsString> {
        let mut argv = self.launch(signals_only(command));
        argv.extend(["--".into(), "bash".into(), "-c".into(), command.into()]);
        argv
    }

    /// The launcher's arguments that run `program` (with its arguments) confined.
    pub fn wrap(&self, program: &[OsString]) -> Vec<OsString> {
        let mut argv = self.launch(false);
        argv.push("--".into());
        argv.extend(program.iter().cloned());
        argv
    }

    /// The launcher and its options, up to the program.
    fn launch(&self, signals: bool) -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec![self.launcher.clone().into(), "sandbox".into(), "exec".into()];
        argv.extend(["--root".into(), self.root.clone().into_os_string()]);
        for w in std::iter::once(&self.tmp).chain(&self.writable) {
            argv.extend(["--write".into(), w.clone().into_os_string()]);
        }
        for h in &self.hidden {
            argv.extend(["--hide".into(), h.clone().into_os_string()]);
        }
        if self.network {
            argv.push("--network".into());
        } else if let Some(pid) = self.net {
            argv.extend(["--join".into(), pid.to_string().into()]);
        }
        if signals {
            argv.push("--signals".into());
        }
        if self.read_only {
            argv.push("--read-only".into());
        }
        if let Some(record) = &self.record {
            argv.extend(["--record".into(), record.clone().into_os_string()]);
        }
        argv
    }

    /// `bash -c command`, confined, as one shell line (for the `claude` CLI's Bash tool).
    pub fn shell_line(&self, command: &str) -> String {
        let words: Vec<String> = self.argv(command).iter().map(|a| shell_quote(&a.to_string_lossy())).collect();
        words.join(" ")
    }

    /// What to tell the agent when a confined command failed the way the sandbox makes commands
    /// fail; `None` when the output shows nothing of it.
    pub fn explain(&self, output: &str) -> Option<String> {
        let net = !self.network && NETWORK_SIGNS.iter().any(|s| output.contains(s));
        if !net && !FILE_SIGNS.iter().any(|s| output.contains(s)) {
            return None;
        }
        let mut writable = vec![format!("{} ($TMPDIR)", self.tmp.display())];
        if !self.read_only {
            writable.insert(0, self.root.display().to_string());
        }
        writable.extend(self.writable.iter().map(|w| w.display().to_string()));
        Some(format!(
            "denied by baton's sandbox? Commands may write only in {}; {} keys and credentials ([sandbox] hidden) are hidden;{} signals reach only processes this command started",
            writable.join(", "),
            if self.read_only { "the project is read-only to this session;" } else { ".baton/ is read-only;" },
            if self.network { "" } else { " the network is off (loopback inside the sandbox works);" }
        ))
    }
}

/// The line of a failed confined command's output that shows the sandbox at work (a write
/// refused, the network unreachable), if one does.
pub fn denial(output: &str) -> Option<String> {
    output
        .lines()
        .find(|l| {
            !l.starts_with("[denied by baton's sandbox?")
                && FILE_SIGNS.iter().chain(NETWORK_SIGNS).any(|s| l.contains(s))
        })
        .map(|l| l.trim().to_owned())
}

/// What a command prints when the sandbox refused it a file, or (with the network off) a
/// connection.
const FILE_SIGNS: &[&str] = &["Permission denied", "Read-only file system", "Operation not permitted"];
const NETWORK_SIGNS: &[&str] = &[
    "Network is unreachable",
    "Connection refused",
    "Name or service not known",
    "Temporary failure in name resolution",
];

/// Whether `command` only signals processes (`kill`, `pkill`, with `sleep` and the like around
/// them): the policy has checked its targets are the session's, so it may reach processes earlier
/// commands started.
pub fn signals_only(command: &str) -> bool {
    let Ok(parsed) = crate::shell::parse(command) else { return false };
    let names: Vec<&str> = parsed.commands.iter().filter_map(|c| c.words.first()).map(|w| w.text.as_str()).collect();
    names.iter().any(|n| matches!(*n, "kill" | "pkill"))
        && parsed.commands.iter().all(|c| {
            c.writes.is_empty()
                && c.words.first().is_none_or(|w| {
                    !w.dynamic
                        && matches!(w.text.as_str(), "kill" | "pkill" | "sleep" | "true" | "echo" | "wait" | "pgrep")
                })
        })
}

/// The `baton` executable that launches sandboxes: this one, or (in baton's own test binaries)
/// the one cargo built beside them.
pub fn launcher() -> Result<PathBuf, SandboxError> {
    let exe = std::env::current_exe().map_err(|e| SandboxError::NoLauncher(e.to_string()))?;
    if exe.file_name().is_some_and(|n| n == "baton") {
        return Ok(exe);
    }
    let dir = exe.parent().map(Path::to_owned).unwrap_or_default();
    [dir.join("baton"), dir.join("../baton")]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| SandboxError::NoLauncher(format!("{} is not baton and has no baton beside it", exe.display())))
}

/// Whether sessions may start under `config`: with the sandbox on, a confined command must run
/// on this machine. Said once, before any session, with what to do about it.
pub fn ready(config: &config::Sandbox) -> Result<(), SandboxError> {
    let scratch = tempfile::tempdir().map_err(|e| SandboxError::Unavailable(e.to_string()))?;
    match with_tmp(scratch.path(), config, "baton-probe-")? {
        Some((_tmp, profile)) => probe(&profile),
        None => Ok(()),
    }
}

/// A sandbox for commands in `root` with a temporary directory of its own (its `TMPDIR`), which
/// goes when the returned guard drops; `None` when the user turned the sandbox off.
pub fn with_tmp(
    root: &Path,
    config: &config::Sandbox,
    prefix: &str,
) -> Result<Option<(tempfile::TempDir, Profile)>, SandboxError> {
    if config.mode == SandboxMode::Off {
        return Ok(None);
    }
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| SandboxError::Unavailable(format!("cannot make a temporary directory: {e}")))?;
    Ok(Profile::new(root, config, tmp.path())?.map(|profile| (tmp, profile)))
}

/// A session's sandbox: its profile, its temporary directory and its network, which go when it
/// drops.
#[derive(Debug)]
pub struct Session {
    pub profile: Profile,
    pub net: Option<SessionNet>,
    _tmp: tempfile::TempDir,
}

/// The sandbox of one session in `root`; `None` when the user turned the sandbox off.
pub fn session(root: &Path, config: &config::Sandbox) -> Result<Option<Session>, SandboxError> {
    let Some((tmp, profile)) = with_tmp(root, config, "baton-session-")? else { return Ok(None) };
    let net = if config.network == config::Network::On { None } else { Some(SessionNet::start()?) };
    let profile = profile.with_net(net.as_ref().map(SessionNet::pid));
    Ok(Some(Session { profile, net, _tmp: tmp }))
}

/// Checks that a confined command runs here: the kernel has what the sandbox needs.
pub fn probe(profile: &Profile) -> Result<(), SandboxError> {
    let argv = profile.argv("true");
    let out = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| SandboxError::Unavailable(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        let why = String::from_utf8_lossy(&out.stderr).trim().trim_start_matches("baton sandbox: ").to_owned();
        Err(SandboxError::Unavailable(if why.is_empty() {
            format!("the launcher ended with {}", out.status)
        } else {
            why
        }))
    }
}

/// `s` as one shell word: bare when it is safe so, in single quotes otherwise.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=,@".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
