//! git: settings that make it run programs, subcommands that run a command they are given, and
//! directories outside the project.

use super::walk::{Check, Walk, operands};
use crate::shell::Word;

/// Settings `git -c` and `git config` may set: none of them makes git run a program.
const SAFE_GIT_KEYS: &[&str] = &[
    "user.name",
    "user.email",
    "init.defaultbranch",
    "core.quotepath",
    "core.autocrlf",
    "core.filemode",
    "core.abbrev",
    "commit.gpgsign",
    "tag.gpgsign",
    "pull.rebase",
    "pull.ff",
    "merge.ff",
    "push.default",
    "diff.noprefix",
    "diff.mnemonicprefix",
    "diff.renames",
    "log.showsignature",
    "status.showuntrackedfiles",
    "safe.directory",
];
const SAFE_GIT_PREFIXES: &[&str] = &["color.", "advice.", "column.", "format.pretty"];

fn git_key(key: &str) -> Check {
    let key = key.to_ascii_lowercase();
    if SAFE_GIT_KEYS.contains(&key.as_str()) || SAFE_GIT_PREFIXES.iter().any(|p| key.starts_with(p)) {
        return Ok(());
    }
    Err(format!(
        "git setting `{key}` may make git run another program (aliases, pagers, editors, hooks, filters); baton lets agents set only user.*, color.*, advice.* and settings like them"
    ))
}

/// `git`: settings that run programs, subcommands that run a command they are given, and
/// directories outside the project.
/// The git commands that only read, for a read-only session.
const READING: &[&str] = &[
    "status",
    "log",
    "show",
    "diff",
    "grep",
    "ls-files",
    "ls-tree",
    "rev-parse",
    "rev-list",
    "blame",
    "describe",
    "cat-file",
    "shortlog",
    "whatchanged",
    "name-rev",
    "merge-base",
    "help",
    "version",
    "--version",
];

pub(super) fn git(w: &mut Walk, args: &[Word]) -> Check {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let t = a.text.as_str();
        match t {
            "-c" => {
                let setting = args.get(i + 1).ok_or("`git -c` without a setting")?;
                git_key(setting.text.split_once('=').map_or(setting.text.as_str(), |(k, _)| k))?;
                i += 2;
            }
            "-C" | "--git-dir" | "--work-tree" | "--namespace" => i += 2,
            _ if t.starts_with("--config-env") => {
                return Err("`git --config-env` takes a setting from a variable, which baton cannot check".into());
            }
            _ if t.starts_with("--exec-path=") => {
                return Err("`git --exec-path=` runs git's programs from elsewhere".into());
            }
            _ if t.starts_with('-') => i += 1,
            _ => break,
        }
    }
    let Some(sub) = args.get(i) else { return Ok(()) };
    let rest = &args[i + 1..];
    if w.policy.read_only && !READING.contains(&sub.text.as_str()) {
        return Err(format!("`git {}` changes the repository: {}", sub.text, super::READ_ONLY));
    }
    let value_of = |names: &[&str]| -> Option<String> {
        rest.iter().enumerate().find_map(|(k, a)| {
            names.iter().find_map(|n| {
                if a.text == *n {
                    rest.get(k + 1).map(|v| v.text.clone())
                } else {
                    a.text.strip_prefix(&format!("{n}=")).map(str::to_owned)
                }
            })
        })
    };
    match sub.text.as_str() {
        "config" => {
            if rest.iter().any(|a| matches!(a.text.as_str(), "--global" | "--system" | "--file" | "-f")) {
                return Err(
                    "`git config` may change only this repository's settings, not the user's or the system's".into()
                );
            }
            let reading = rest.iter().any(|a| {
                matches!(
                    a.text.as_str(),
                    "--get"
                        | "--get-all"
                        | "--get-regexp"
                        | "--list"
                        | "-l"
                        | "get"
                        | "list"
                        | "--unset"
                        | "unset"
                        | "--show-origin"
                )
            });
            let ops: Vec<&Word> = operands(rest)
                .into_iter()
                .filter(|a| !matches!(a.text.as_str(), "set" | "get" | "list" | "unset"))
                .collect();
            if !reading && ops.len() >= 2 {
                git_key(&ops[0].text)?;
            }
            Ok(())
        }
        "rebase" => match value_of(&["-x", "--exec"]) {
            Some(cmd) => w.clone().script(&cmd),
            None => Ok(()),
        },
        "bisect" if rest.first().is_some_and(|a| a.text == "run") => w.clone().simple(&rest[1..]),
        "submodule" if rest.iter().any(|a| a.text == "foreach") => {
            let at = rest.iter().position(|a| a.text == "foreach").unwrap_or(0);
            let cmd: Vec<&str> =
                rest[at + 1..].iter().filter(|a| a.text != "--recursive").map(|a| a.text.as_str()).collect();
            w.clone().script(&cmd.join(" "))
        }
        "difftool" | "mergetool" => match value_of(&["-x", "--extcmd"]) {
            Some(cmd) => w.clone().script(&cmd),
            None => Ok(()),
        },
        "filter-branch" => Err("`git filter-branch` runs the shell snippets it is given; baton refuses it".into()),
        "credential" | "credential-store" | "credential-cache" => {
            Err("`git credential` reads stored credentials, which baton hides from agents".into())
        }
        "clone" | "fetch" | "pull" | "push" | "ls-remote" | "archive"
            if value_of(&["-u", "--upload-pack", "--receive-pack", "--exec", "--remote"]).is_some()
                && sub.text != "archive" =>
        {
            Err(format!("`git {}` with a remote program runs it; baton refuses it", sub.text))
        }
        "clone" | "init" | "worktree" => {
            let ops = operands(rest);
            let dir = match sub.text.as_str() {
                "clone" => ops.get(1),
                "init" => ops.first(),
                _ => ops.iter().find(|a| a.text != "add"),
            };
            dir.map_or(Ok(()), |d| w.write(d))
        }
        "archive" | "format-patch" | "bundle" => match value_of(&["-o", "--output", "--output-directory"]) {
            Some(out) => w.write(&Word::plain(&out)),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}
