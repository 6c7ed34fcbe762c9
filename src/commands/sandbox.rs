//! `baton sandbox check`: what the sandbox allows on this machine, proved by trying a denied
//! write and a denied connect, and by reaching a server one command starts from the next.

use std::io::Write;

use color_eyre::Result;

use crate::project::Project;
use crate::project::config::Config;
use crate::sandbox::Profile;

/// Prints what a session's commands may do here; `Ok(false)` when the sandbox does not hold.
pub fn check(project: Option<&Project>, out: &mut dyn Write) -> Result<bool> {
    let config = project.map_or_else(Config::default, |p| p.config().clone());
    let scratch = tempfile::tempdir()?;
    let root = match project {
        Some(p) => p.root().to_owned(),
        None => scratch.path().join("project"),
    };
    let (tmp, outside) = (scratch.path().join("tmp"), scratch.path().join("outside"));
    for d in [&root, &tmp, &outside] {
        std::fs::create_dir_all(d)?;
    }
    writeln!(out, "kernel: {}", std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim())?;
    let abi = (1..=7).rev().find(|v| landlock_abi_at_least(*v)).unwrap_or(0);
    writeln!(out, "landlock: {}", if abi > 0 { format!("ABI {abi}") } else { "not available".into() })?;
    let Some(_) = Profile::new(&root, &config.sandbox, &tmp)? else {
        writeln!(out, "sandbox: off ([sandbox] mode = \"off\"): an agent's commands run unconfined")?;
        return Ok(true);
    };
    let session = match crate::sandbox::session(&root, &config.sandbox, &crate::sandbox::Options::default()) {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(true),
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
    writeln!(out, "sandbox: works (user, mount and network namespaces; read-only mounts; Landlock)")?;
    writeln!(
        out,
        "  writable: {}, {} ($TMPDIR){}",
        profile.root().display(),
        tmp.display(),
        list(&config.sandbox.writable)
    )?;
    writeln!(out, "  hidden:   {}", config.sandbox.hidden.join(", "))?;
    let net = config.sandbox.network == crate::project::config::Network::On;
    writeln!(
        out,
        "  network:  {}",
        if net { "on" } else { "off (the session's own loopback, shared by its commands and its MCP servers)" }
    )?;

    let target = outside.join("written");
    let write = run(&profile, &format!("echo x > {}", target.display()));
    let write_held = !target.exists();
    writeln!(out, "proof: a write to {}: {}", target.display(), verdict(write_held, &write))?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let connect = run(&profile, &format!("exec 3<>/dev/tcp/127.0.0.1/{port}"));
    let connect_held = listener.accept().is_err();
    writeln!(out, "proof: a connect to 127.0.0.1:{port} on this host: {}", verdict(connect_held || net, &connect))?;
    let shared = if net || super::on_path("python3").is_none() {
        true
    } else {
        // A server one command starts (it ends itself), reached from the next command.
        run(&profile, "(timeout 10 python3 -m http.server 8199 --bind 127.0.0.1 > /dev/null 2>&1 &)");
        // The server takes a moment to listen: the next command tries for up to 5 s.
        let reached = run(
            &profile,
            "python3 -c \"import time, urllib.request\nfor i in range(50):\n    try:\n        urllib.request.urlopen('http://127.0.0.1:8199/'); print('reached'); break\n    except OSError as e:\n        err = e; time.sleep(0.1)\nelse:\n    print(err)\" 2>&1 | tail -1 >&2",
        );
        let ok = reached.contains("reached");
        writeln!(
            out,
            "proof: a server one command starts on 127.0.0.1, from the next command: {}",
            if ok { "reached".to_owned() } else { format!("NOT REACHED ({})", reached.trim()) }
        )?;
        ok
    };
    Ok(write_held && (connect_held || net) && shared)
}

fn list(items: &[String]) -> String {
    items.iter().map(|i| format!(", {i}")).collect()
}

fn verdict(held: bool, output: &str) -> String {
    let said = output.lines().next().unwrap_or("").trim();
    if held { format!("denied ({said})") } else { format!("NOT DENIED ({said})") }
}

fn run(profile: &Profile, command: &str) -> String {
    let argv = profile.argv(command);
    match std::process::Command::new(&argv[0]).args(&argv[1..]).current_dir(profile.root()).output() {
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
