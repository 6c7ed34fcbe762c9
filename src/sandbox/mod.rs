//! The kernel sandbox every process of a session runs in: the wall behind the policy. A session's
//! commands, its file tools, its MCP servers and browser, and the `claude` CLI itself may write
//! only the project, the session's temporary directory and `[sandbox] writable`; they cannot read
//! `[sandbox] hidden`, write `.baton/`, `.git/config`, `.git/hooks/` or `.git/info/`, connect to a
//! Unix socket of the host's, reach the network (their own loopback aside; the CLI keeps the
//! network for the model), signal a process outside the session, see baton's credentials in their
//! environment, or outlive baton.
//!
//! A session's namespaces are held by one process ([`hold`]); everything of the session joins them
//! through baton's launcher ([`exec`]), which confines itself and becomes the program.

pub mod exec;
pub mod hold;
mod mounts;
mod reap;
mod sys;

pub use exec::{ENV_ALLOWED, env_allowed};
pub use reap::{become_subreaper, end_session};

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

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

/// Set (to `1`) in the `claude` CLI's environment for a read-only session: the hook then applies
/// the read-only policy and sandbox. The CLI's commands cannot change the CLI's environment.
pub const READ_ONLY_ENV: &str = "BATON_READ_ONLY";

/// How a launch enters the session's sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// From baton, through the holder with this pid.
    Holder(u32),
    /// From inside the `claude` CLI's sandbox (the hook's rewrite of a command).
    Nested,
}

/// How one session's processes are confined.
#[derive(Debug, Clone)]
pub struct Profile {
    launcher: PathBuf,
    root: PathBuf,
    tmp: PathBuf,
    writable: Vec<PathBuf>,
    hidden: Vec<PathBuf>,
    /// Left readable although they lie in a directory the session does not see (`/tmp`).
    expose: Vec<PathBuf>,
    /// `[sandbox] env`: names a confined program keeps besides [`ENV_ALLOWED`].
    env: Vec<String>,
    network: bool,
    /// The project may be read, not written (the evaluator's session).
    read_only: bool,
    way: Way,
}

impl Profile {
    /// The profile for processes in `root` under `config`, with `tmp` as their temporary
    /// directory, entered from inside the CLI's sandbox; `None` when the user turned the sandbox
    /// off. A [`Session`] makes the one baton enters through its holder.
    pub fn new(root: &Path, config: &config::Sandbox, tmp: &Path) -> Result<Option<Profile>, SandboxError> {
        if config.mode == SandboxMode::Off {
            return Ok(None);
        }
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let expand = |p: &String| crate::agent::policy::expand_home(p, home.as_deref());
        let real = |p: PathBuf| p.canonicalize().unwrap_or(p);
        let launcher = launcher()?;
        let mut expose: Vec<PathBuf> = launcher.parent().map(Path::to_owned).into_iter().collect();
        let mut hidden: Vec<PathBuf> = config.hidden.iter().filter_map(expand).collect();
        // baton's own secrets (the journal's key) are hidden whatever `[sandbox] hidden` says.
        hidden.extend(secrets_dir());
        expose.extend(home.clone().map(real));
        Ok(Some(Profile {
            launcher,
            root: real(root.to_owned()),
            tmp: real(tmp.to_owned()),
            writable: config.writable.iter().filter_map(expand).map(real).collect(),
            hidden,
            expose,
            env: config.env.clone(),
            network: config.network == config::Network::On,
            read_only: false,
            way: Way::Nested,
        }))
    }

    /// The project is read-only to the session's processes too: they may write only the
    /// session's temporary directory and `[sandbox] writable`.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// The program keeps these variables of its starter's too (an MCP server's own settings).
    pub fn keep_env(mut self, names: impl IntoIterator<Item = String>) -> Self {
        self.env.extend(names);
        self
    }

    /// The program keeps the host's network (an MCP server that must reach the internet); its
    /// files stay behind the wall.
    pub fn with_network(mut self, network: bool) -> Self {
        self.network |= network;
        self
    }

    /// Also leaves `paths` readable (a program the session runs that lies in `/tmp`).
    pub fn expose_all(mut self, paths: &[PathBuf]) -> Self {
        self.expose.extend(paths.iter().cloned());
        self
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The session's temporary directory (the commands' `TMPDIR`).
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What a confined program may write.
    fn writes(&self) -> Vec<PathBuf> {
        let mut w = if self.read_only { Vec::new() } else { vec![self.root.clone()] };
        w.push(self.tmp.clone());
        w.extend(self.writable.iter().cloned());
        w
    }

    /// The launcher's arguments that run `bash -c command` confined.
    pub fn argv(&self, command: &str) -> Vec<OsString> {
        self.wrap(&["bash".into(), "-c".into(), command.into()])
    }

    /// The launcher's arguments that run `program` (with its arguments) confined.
    pub fn wrap(&self, program: &[OsString]) -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec![self.launcher.clone().into(), "sandbox".into(), "exec".into()];
        match self.way {
            Way::Holder(pid) => argv.extend(["--join".into(), pid.to_string().into()]),
            Way::Nested => argv.push("--nested".into()),
        }
        self.options(&mut argv, &self.writes());
        argv.push("--".into());
        argv.extend(program.iter().cloned());
        argv
    }

    /// The launcher's arguments that run the `claude` CLI confined: the session's mount and PID
    /// namespaces, the host's network, writes in the project, its temporary directory and
    /// `state` (the CLI's own settings directory, made for the session).
    pub fn cli(&self, program: &[OsString], state: &Path) -> Vec<OsString> {
        let Way::Holder(pid) = self.way else { return self.wrap(program) };
        let mut argv: Vec<OsString> =
            vec![self.launcher.clone().into(), "sandbox".into(), "exec".into(), "--cli".into(), pid.to_string().into()];
        let mut writes = self.writes();
        writes.push(state.to_owned());
        self.options(&mut argv, &writes);
        argv.push("--".into());
        argv.extend(program.iter().cloned());
        argv
    }

    fn options(&self, argv: &mut Vec<OsString>, writes: &[PathBuf]) {
        for w in writes {
            argv.extend(["--write".into(), w.clone().into_os_string()]);
        }
        // The project is readable even where it is not writable (a read-only session in /tmp).
        for e in std::iter::once(&self.root).chain(&self.expose) {
            argv.extend(["--expose".into(), e.clone().into_os_string()]);
        }
        for name in &self.env {
            argv.extend(["--env".into(), name.into()]);
        }
        if self.network {
            argv.push("--network".into());
        }
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
            "denied by baton's sandbox? Commands may write only in {}; {} keys and credentials ([sandbox] hidden) are hidden;{} signals reach only the session's processes",
            writable.join(", "),
            if self.read_only {
                "the project is read-only to this session;"
            } else {
                ".baton/, .git/config, .git/hooks and .git/info are read-only;"
            },
            if self.network { "" } else { " the network is off (loopback inside the sandbox works);" }
        ))
    }
}

/// What a session must still see of `program` (a path, relative to `cwd`, or a name looked up on
/// `PATH`) where its view covers it (in /tmp): the directory it lies in, as named and as it really
/// is (npm's `node_modules/.bin/` holds links), or, inside an npm install, the whole
/// `node_modules` its packages are resolved from.
pub fn program_dirs(program: &Path, cwd: &Path) -> Vec<PathBuf> {
    let found = if program.components().count() > 1 {
        Some(cwd.join(program))
    } else {
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(program)).find(|c| c.is_file()))
    };
    let Some(found) = found.and_then(|f| std::path::absolute(f).ok()) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = [Some(found.clone()), found.canonicalize().ok()]
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let npm = p.ancestors().filter(|a| a.file_name().is_some_and(|n| n == "node_modules")).last();
            npm.or(p.parent()).map(Path::to_owned)
        })
        .collect();
    dirs.dedup();
    dirs
}

/// Where baton keeps what no session may read (`$XDG_STATE_HOME/baton/keys`).
pub fn secrets_dir() -> Option<PathBuf> {
    crate::project::journal::keys::dir()
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
    match session(scratch.path(), config, &Options { prefix: "baton-probe-", ..Options::default() })? {
        Some(session) => probe(&session.profile),
        None => Ok(()),
    }
}

/// What a session's sandbox is made for.
#[derive(Debug, Default, Clone)]
pub struct Options<'a> {
    /// The project is read-only to the session (the evaluator).
    pub read_only: bool,
    /// The prefix of the session's temporary directory.
    pub prefix: &'a str,
    /// Writable for the `claude` CLI alone: its settings directory for the session.
    pub cli_state: Option<PathBuf>,
    /// Left readable although they lie in `/tmp` (the CLI's binary).
    pub expose: Vec<PathBuf>,
}

/// A session's sandbox: its profile, its temporary directory and the process holding its
/// namespaces; when it drops, every process of the session ends.
#[derive(Debug)]
pub struct Session {
    pub profile: Profile,
    hold: Hold,
    _tmp: tempfile::TempDir,
}

impl Session {
    /// The launcher's arguments that run the `claude` CLI in this session (see [`Profile::cli`]).
    pub fn cli(&self, program: &[OsString]) -> Vec<OsString> {
        match &self.hold.cli_state {
            Some(state) => self.profile.cli(program, state),
            None => self.profile.wrap(program),
        }
    }

    /// The holder's process id.
    pub fn holder(&self) -> u32 {
        self.hold.pid
    }
}

/// The sandbox of one session in `root`; `None` when the user turned the sandbox off.
pub fn session(root: &Path, config: &config::Sandbox, opts: &Options) -> Result<Option<Session>, SandboxError> {
    if config.mode == SandboxMode::Off {
        return Ok(None);
    }
    let tmp = tempfile::Builder::new()
        .prefix(if opts.prefix.is_empty() { "baton-session-" } else { opts.prefix })
        .tempdir()
        .map_err(|e| SandboxError::Unavailable(format!("cannot make a temporary directory: {e}")))?;
    let Some(mut profile) = Profile::new(root, config, tmp.path())? else { return Ok(None) };
    profile = profile.read_only(opts.read_only);
    profile = profile.expose_all(&opts.expose);
    let hold = Hold::start(&profile, opts.cli_state.clone())?;
    profile.way = Way::Holder(hold.pid);
    Ok(Some(Session { profile, hold, _tmp: tmp }))
}

/// `baton sandbox hold`, running: its standard input open until the session is over.
#[derive(Debug)]
struct Hold {
    child: Child,
    stdin: Option<ChildStdin>,
    pid: u32,
    cli_state: Option<PathBuf>,
}

impl Hold {
    fn start(profile: &Profile, cli_state: Option<PathBuf>) -> Result<Hold, SandboxError> {
        let mut cmd = Command::new(&profile.launcher);
        cmd.args(["sandbox", "hold", "--root"]).arg(&profile.root);
        let mut writes = profile.writes();
        writes.retain(|w| *w != profile.root);
        writes.extend(cli_state.clone());
        for w in &writes {
            cmd.arg("--write").arg(w);
        }
        for h in &profile.hidden {
            cmd.arg("--hide").arg(h);
        }
        for e in &profile.expose {
            cmd.arg("--expose").arg(e);
        }
        if profile.network {
            cmd.arg("--network");
        }
        if profile.read_only {
            cmd.arg("--read-only");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SandboxError::Unavailable(format!("cannot start the session's sandbox: {e}")))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        match line.trim().strip_prefix("ready ").and_then(|p| p.parse().ok()) {
            Some(pid) => Ok(Hold { stdin: child.stdin.take(), child, pid, cli_state }),
            None => {
                let _ = child.kill();
                let out = child.wait_with_output().ok();
                let err = out.map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned()).unwrap_or_default();
                let err = err.trim_start_matches("baton sandbox: ").to_owned();
                Err(SandboxError::Unavailable(if err.is_empty() {
                    "the session's sandbox did not start".into()
                } else {
                    err
                }))
            }
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        // Its standard input closes; the holder ends, and the kernel ends the session's
        // processes with its PID namespace. A kill makes sure.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks that a confined command runs here: the kernel has what the sandbox needs.
pub fn probe(profile: &Profile) -> Result<(), SandboxError> {
    let argv = profile.argv("true");
    let out = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(profile.root())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_s_directories_are_where_it_is_named_and_where_it_lies() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        // npm's layout: a link in `.bin`, the package beside the packages it needs.
        let npm = root.join("install/node_modules");
        std::fs::create_dir_all(npm.join(".bin")).unwrap();
        std::fs::create_dir_all(npm.join("@scope/server")).unwrap();
        std::fs::write(npm.join("@scope/server/cli.js"), "").unwrap();
        std::os::unix::fs::symlink("../@scope/server/cli.js", npm.join(".bin/server")).unwrap();
        assert_eq!(program_dirs(&npm.join(".bin/server"), Path::new("/")), std::slice::from_ref(&npm));
        // A link elsewhere: its directory and the real one; a relative path from `cwd`.
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(npm.join("@scope/server/cli.js"), bin.join("server")).unwrap();
        assert_eq!(program_dirs(Path::new("bin/server"), &root), [bin, npm]);
        // A name is looked up on PATH; one that is nowhere needs nothing.
        let sh = program_dirs(Path::new("sh"), Path::new("/"));
        assert!(sh.iter().any(|d| d.join("sh").exists()), "{sh:?}");
        assert!(program_dirs(Path::new("no-such-program-anywhere"), Path::new("/")).is_empty());
    }
}
