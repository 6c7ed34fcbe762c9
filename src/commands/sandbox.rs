//! `baton sandbox check`: what the sandbox holds on this machine, proved by trying it, in a
//! session's sandbox made for the check (a scratch project: nothing of the operator's is at stake):
//! a write outside, a connect to the host's loopback, a server one command starts reached from the
//! next, a file tool's write into `.baton/`, a write to `.git/config`, a connect to a host Unix
//! socket, a credential in the environment, a signal to a process outside the session.

use std::io::Write;
use std::path::{Path, PathBuf};

use color_eyre::Result;

use crate::project::Project;
use crate::project::config::{Config, Network};
use crate::sandbox::Profile;

/// Prints what a session's commands may do here; `Ok(false)` when the sandbox does not hold.
pub fn check(project: Option<&Project>, out: &mut dyn Write) -> Result<bool> {
    let config = project.map_or_else(Config::default, |p| p.config().clone());
    // Outside /tmp where it can be: the session does not see /tmp at all, which would prove less.
    let base = [PathBuf::from("/var/tmp"), std::env::temp_dir()].into_iter().find(|d| d.is_dir()).unwrap_or_default();
    let scratch = tempfile::tempdir_in(&base)?;
    let (root, outside) = (scratch.path().join("project"), scratch.path().join("outside"));
    for d in [&root.join(".baton"), &outside] {
        std::fs::create_dir_all(d)?;
    }
    git2::Repository::init(&root)?;
    std::fs::write(root.join(".baton/journal.jsonl"), "")?;
    writeln!(out, "kernel: {}", std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim())?;
    let abi = (1..=7).rev().find(|v| landlock_abi_at_least(*v)).unwrap_or(0);
    writeln!(out, "landlock: {}", if abi > 0 { format!("ABI {abi}") } else { "not available".into() })?;
    let session = match crate::sandbox::session(&root, &config.sandbox, &crate::sandbox::Options::default()) {
        Ok(Some(s)) => s,
        Ok(None) => {
            writeln!(out, "sandbox: off ([sandbox] mode = \"off\"): an agent's commands run unconfined")?;
            return Ok(true);
        }
        Err(e) => {
            writeln!(out, "sandbox: does not work here: {e}")?;
            return Ok(false);
        }
    };
    let profile = session.profile.clone();
    if let Err(e) = crate::sandbox::probe(&profile) {
        writeln!(out, "sandbox: does not work here: {e}")?;
        return Ok(false);
    }
    writeln!(
        out,
        "sandbox: works (user, mount, PID and network namespaces; read-only mounts; Landlock; an allowlisted environment)"
    )?;
    writeln!(out, "  writable: the project, the session's $TMPDIR{}", list(&config.sandbox.writable))?;
    writeln!(out, "  read-only: .baton/, .git/config, .git/hooks, .git/info")?;
    writeln!(out, "  hidden:   {}", config.sandbox.hidden.join(", "))?;
    let net = config.sandbox.network == Network::On;
    writeln!(
        out,
        "  network:  {}",
        if net { "on" } else { "off (the session's own loopback, shared by its commands and its MCP servers)" }
    )?;
    let mut held = true;

    let target = outside.join("written");
    let said = run(&profile, &format!("echo x > {}", target.display()), &[]);
    held &= prove(out, format!("a write to {}", target.display()), !target.exists(), &said)?;

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let said = run(&profile, &format!("exec 3<>/dev/tcp/127.0.0.1/{port}"), &[]);
    held &=
        prove(out, format!("a connect to 127.0.0.1:{port} on this host"), listener.accept().is_err() || net, &said)?;

    if !net && super::on_path("python3").is_some() {
        // A server one command starts (it ends itself), reached from the next command.
        run(&profile, "(timeout 10 python3 -m http.server 8199 --bind 127.0.0.1 > /dev/null 2>&1 &)", &[]);
        // The server takes a moment to listen: the next command tries for up to 5 s.
        let reached = run(
            &profile,
            "python3 -c \"import time, urllib.request\nfor i in range(50):\n    try:\n        urllib.request.urlopen('http://127.0.0.1:8199/'); print('reached'); break\n    except OSError as e:\n        err = e; time.sleep(0.1)\nelse:\n    print(err)\" 2>&1 | tail -1 >&2",
            &[],
        );
        let ok = reached.contains("reached");
        writeln!(
            out,
            "proof: a server one command starts on 127.0.0.1, from the next command: {}",
            if ok { "reached".to_owned() } else { format!("NOT REACHED ({})", reached.trim()) }
        )?;
        held &= ok;
    }

    let journal = root.join(".baton/journal.jsonl");
    let ctx = crate::agent::tools::ToolContext::new(&root, tokio_util::sync::CancellationToken::new())
        .with_sandbox(Some(profile.clone()));
    let input = serde_json::json!({"path": ".baton/journal.jsonl", "content": "{\"record\":\"forged\"}\n"});
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let wrote = runtime.block_on(crate::agent::tools::run("write_file", &input, &ctx));
    drop(ctx);
    let untouched = std::fs::read(&journal)?.is_empty();
    held &= prove(out, "a file tool's write into .baton/".into(), untouched && wrote.is_error, &wrote.output)?;

    let git_config = std::fs::read(root.join(".git/config"))?;
    let said = run(&profile, "printf '[core]\\n\\tfsmonitor = touch /tmp/pwned\\n' >> .git/config", &[]);
    held &= prove(out, "a write to .git/config".into(), std::fs::read(root.join(".git/config"))? == git_config, &said)?;

    let socket = outside.join("host.sock");
    let unix = std::os::unix::net::UnixListener::bind(&socket)?;
    unix.set_nonblocking(true)?;
    if super::on_path("python3").is_some() {
        let said = run(
            &profile,
            &format!("python3 -c \"import socket; socket.socket(socket.AF_UNIX).connect('{}')\"", socket.display()),
            &[],
        );
        held &= prove(
            out,
            format!("a connect to the host's Unix socket {}", socket.display()),
            unix.accept().is_err(),
            &said,
        )?;
    }

    let token = format!("baton-check-{}-not-for-agents", std::process::id());
    let listed = run(&profile, "env >&2", &[("GITHUB_TOKEN", &token)]);
    prove(
        out,
        "a credential in baton's environment (GITHUB_TOKEN)".into(),
        !listed.contains(&token) && listed.contains("PATH="),
        if listed.contains(&token) { "the command saw it" } else { "the command's environment has no GITHUB_TOKEN" },
    )?;

    let mut victim = std::process::Command::new("sleep").arg("30").spawn()?;
    let said = run(&profile, &format!("kill -9 {} ; kill -9 -1", victim.id()), &[]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let alive = victim.try_wait()?.is_none();
    let _ = victim.kill();
    let _ = victim.wait();
    held &= prove(out, "a signal to a process outside the session".into(), alive, &said)?;
    Ok(held)
}

/// Says how one proof went; whether it held.
fn prove(out: &mut dyn Write, what: String, ok: bool, said: &str) -> Result<bool> {
    let said = said.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").trim();
    writeln!(out, "proof: {what}: {}", if ok { format!("held ({said})") } else { format!("NOT HELD ({said})") })?;
    Ok(ok)
}

fn list(items: &[String]) -> String {
    items.iter().map(|i| format!(", {i}")).collect()
}

/// Runs `command` confined, with `env` added to what the launcher is given; what it printed on
/// stderr (or the error).
fn run(profile: &Profile, command: &str, env: &[(&str, &str)]) -> String {
    let argv = profile.argv(command);
    let root: &Path = profile.root();
    match std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(root)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
        Err(e) => e.to_string(),
    }
}

fn landlock_abi_at_least(version: i32) -> bool {
    // LANDLOCK_CREATE_RULESET_VERSION: the syscall answers the ABI version.
    // SAFETY: with a NULL attr, size 0 and this flag, the call only returns a number.
    let v = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, 1u32) };
    v >= version as i64
}
