//! Which processes a session started: each carries [`SESSION_ENV`] in its environment, set by
//! baton on the agent's commands (and on the `claude` CLI, whose commands inherit it). The
//! environment of another process cannot be changed from outside it, so the mark cannot be put
//! on the operator's processes.

/// The environment variable that marks a session's processes; its value names the session.
pub const SESSION_ENV: &str = "BATON_SESSION";

/// One process, as the policy needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    /// The short name (`/proc/PID/comm`), what `pkill` matches by default.
    pub name: String,
    /// The command line, arguments joined by spaces, what `pkill -f` matches.
    pub cmdline: String,
    /// The value of [`SESSION_ENV`] it carries, if any (and if its environment can be read).
    pub session: Option<String>,
}

/// The processes running now.
pub trait Processes: Send + Sync {
    fn all(&self) -> Vec<Proc>;

    fn get(&self, pid: i32) -> Option<Proc> {
        self.all().into_iter().find(|p| p.pid == pid)
    }
}

/// The live process table, from `/proc`.
pub struct Live;

impl Processes for Live {
    fn all(&self) -> Vec<Proc> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.flatten().filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok()).filter_map(read).collect()
    }

    fn get(&self, pid: i32) -> Option<Proc> {
        read(pid)
    }
}

fn read(pid: i32) -> Option<Proc> {
    let dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    let name = std::fs::read_to_string(dir.join("comm")).ok()?.trim_end().to_owned();
    let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline).split('\0').filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
    let prefix = format!("{SESSION_ENV}=");
    let session = std::fs::read(dir.join("environ")).ok().and_then(|env| {
        env.split(|&b| b == 0)
            .find_map(|var| var.strip_prefix(prefix.as_bytes()).map(|v| String::from_utf8_lossy(v).into_owned()))
    });
    Some(Proc { pid, name, cmdline, session })
}

/// A fixed table, for tests and for callers that already know the processes.
pub struct Fixed(pub Vec<Proc>);

impl Processes for Fixed {
    fn all(&self) -> Vec<Proc> {
        self.0.clone()
    }
}
