//! kill and pkill: signals go only to processes this session started.

use super::walk::{Check, Walk};
use crate::shell::Word;

/// `kill`: only processes this session started, named by their ids.
pub(super) fn kill(w: &mut Walk, args: &[Word]) -> Check {
    let mut targets = Vec::new();
    let (mut signal_seen, mut after_dashes) = (false, false);
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let t = a.text.as_str();
        if a.dynamic {
            return Err(format!(
                "baton cannot tell which process `kill {}` signals before it runs; give the process id, or stop it with `pkill -f PATTERN`",
                a.raw
            ));
        }
        match t {
            _ if after_dashes => targets.push(t),
            "--" => after_dashes = true,
            "-l" | "-L" | "--list" | "--table" => return Ok(()),
            "-s" | "-n" | "--signal" => {
                signal_seen = true;
                i += 1;
            }
            _ if t.starts_with('-') && !signal_seen && targets.is_empty() => signal_seen = true,
            _ => targets.push(t),
        }
        i += 1;
    }
    for t in targets {
        if t.starts_with('%') {
            continue;
        }
        match t.parse::<i32>() {
            Ok(pid) if pid > 0 => own_process(w, pid)?,
            Ok(_) => {
                return Err(format!(
                    "`kill {t}` signals a whole process group or every process; name the ids of processes this session started"
                ));
            }
            Err(_) => return Err(format!("`kill {t}`: baton cannot tell which process that is")),
        }
    }
    Ok(())
}

fn own_process(w: &Walk, pid: i32) -> Check {
    let p = w.policy;
    match p.processes.get(pid) {
        Some(proc) if proc.session.is_some() && proc.session == p.session => Ok(()),
        Some(proc) => Err(format!(
            "process {pid} (`{}`) was not started by this session; agents may signal only the processes they started",
            proc.name
        )),
        None => Err(format!("there is no process {pid} that this session started")),
    }
}

/// `pkill`: allowed when every process its pattern matches now is one this session started.
pub(super) fn pkill(w: &mut Walk, args: &[Word]) -> Check {
    let (mut full, mut exact, mut ignore_case) = (false, false, false);
    let mut pattern = None;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let t = a.text.as_str();
        if a.dynamic {
            return Err(format!(
                "baton cannot tell what `pkill {}` matches before it runs; write the pattern out",
                a.raw
            ));
        }
        match t {
            "-f" | "--full" => full = true,
            "-x" | "--exact" => exact = true,
            "-i" | "--ignore-case" => ignore_case = true,
            "-F" | "--pidfile" => {
                return Err("`pkill -F` takes its ids from a file baton cannot check; use `kill PID`".into());
            }
            "--signal" | "-u" | "-U" | "-g" | "-G" | "-P" | "-s" | "-t" | "--euid" | "--uid" | "--pgroup"
            | "--group" | "--parent" | "--session" | "--terminal" | "--ns" | "--nslist" => i += 1,
            _ if t.starts_with("--") => {}
            _ if t.starts_with('-') && t.len() > 1 => {
                let flags = &t[1..];
                if flags.chars().all(|c| matches!(c, 'f' | 'x' | 'i' | 'n' | 'o' | 'e' | 'c')) {
                    full |= flags.contains('f');
                    exact |= flags.contains('x');
                    ignore_case |= flags.contains('i');
                }
                // Otherwise a signal (`-9`, `-TERM`).
            }
            _ => {
                if pattern.replace(t).is_some() {
                    return Err("`pkill` takes one pattern".into());
                }
            }
        }
        i += 1;
    }
    let Some(pattern) = pattern else {
        return Err(
            "`pkill` without a pattern selects processes by user, group, session or terminal, which reaches processes this session did not start; name a pattern (`pkill -f PATTERN`) or the ids (`kill PID`)"
                .into(),
        );
    };
    let source = if exact { format!("^(?:{pattern})$") } else { pattern.to_owned() };
    let re = regex::RegexBuilder::new(&source)
        .case_insensitive(ignore_case)
        .build()
        .map_err(|_| format!("baton cannot read the pattern `{pattern}`, so it cannot tell what `pkill` would stop"))?;
    let p = w.policy;
    let foreign: Vec<String> = p
        .processes
        .all()
        .into_iter()
        .filter(|proc| re.is_match(if full { &proc.cmdline } else { &proc.name }))
        .filter(|proc| proc.session.is_none() || proc.session != p.session)
        .take(3)
        .map(|proc| format!("{} (`{}`)", proc.pid, proc.name))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(format!(
        "`pkill {pattern}` would also signal processes this session did not start: {}; agents may signal only their own processes (use a pattern that matches only those, or `kill PID`)",
        foreign.join(", ")
    ))
}
