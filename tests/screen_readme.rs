//! The README says what the binary does: its keys table against the key table the screen handles
//! keys from (and draws its help from), both ways; its command list against `baton --help` and
//! each command's own help, both ways.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use baton::tui::keys::{BINDINGS, Scope};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The scopes a row's `where` names.
fn scopes(place: &str) -> Vec<Scope> {
    const PANES: [Scope; 4] = [Scope::Features, Scope::Transcript, Scope::GitLog, Scope::Progress];
    if place == "transcript, after a search" {
        return vec![Scope::Search];
    }
    place
        .split(", ")
        .flat_map(|p| match p {
            "everywhere" => vec![Scope::Global],
            "panes" => PANES.to_vec(),
            "features" => vec![Scope::Features],
            "transcript" => vec![Scope::Transcript],
            "git log" => vec![Scope::GitLog],
            "progress" => vec![Scope::Progress],
            "review" => vec![Scope::Review],
            "a question" => vec![Scope::Question],
            "circuit breaker" => vec![Scope::Tripped],
            "feature editor" => vec![Scope::Editor],
            "help" | "diff" | "messages" => vec![Scope::Dialog],
            other => panic!("the README's keys table names a place the screen has no keys for: {other:?}"),
        })
        .collect()
}

/// The keys table's rows: the keys (each between backticks) and the scopes they work in.
fn key_rows() -> Vec<(Vec<String>, Vec<Scope>)> {
    let text = readme();
    let table = text.split("### Keys").nth(1).expect("the README has a Keys section");
    table
        .lines()
        .skip_while(|l| !l.starts_with("| keys"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split(" | ").collect();
            let keys = cells[0].trim_start_matches("| ").split('`').skip(1).step_by(2).map(str::to_owned).collect();
            (keys, scopes(cells[1].trim()))
        })
        .collect()
}

#[test]
fn the_readmes_keys_table_and_the_key_table_agree_both_ways() {
    let rows = key_rows();
    assert!(rows.len() >= 25, "{rows:?}");
    // Every key the README names is bound where it says.
    for (keys, places) in &rows {
        for k in keys {
            let bound = BINDINGS.iter().any(|b| places.contains(&b.scope) && b.keys.contains(&k.as_str()));
            assert!(bound, "the README says `{k}` works in {places:?}; the key table has no such binding");
        }
    }
    // Every binding is in the README, in a row for its scope.
    for b in BINDINGS {
        for k in b.keys {
            let listed = rows.iter().any(|(keys, places)| places.contains(&b.scope) && keys.iter().any(|x| x == k));
            assert!(listed, "`{k}` ({:?}: {}) is missing from the README's keys table", b.scope, b.help);
        }
    }
}

/// The commands `baton SUB --help` lists, and its options.
fn help(args: &[&str]) -> (Vec<String>, String) {
    let sandbox = common::Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let mut argv = args.to_vec();
    argv.push("--help");
    let text = sandbox.run(dir.path(), &argv).ok().stdout;
    let commands = text
        .split("Commands:")
        .nth(1)
        .map(|c| {
            c.lines()
                .skip(1)
                .take_while(|l| !l.trim().is_empty())
                .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
                .filter(|c| c != "help")
                .collect()
        })
        .unwrap_or_default();
    (commands, text)
}

/// The command list's lines: the words after `baton` up to the description.
fn command_lines() -> Vec<Vec<String>> {
    let text = readme();
    let section = text.split("\n## Commands").nth(1).expect("the README has a Commands section");
    let block = section.split("```").nth(1).expect("the command list");
    block
        .lines()
        .filter_map(|l| l.strip_prefix("baton"))
        .map(|rest| rest.split("  ").next().unwrap_or("").split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[test]
fn the_readmes_command_list_and_baton_help_agree_both_ways() {
    let lines = command_lines();
    let (top, _) = help(&[]);
    assert!(top.len() >= 10, "{top:?}");
    for words in lines.iter().filter(|w| !w.is_empty()) {
        let sub = &words[0];
        assert!(top.contains(sub), "the README lists `baton {sub}`; baton --help has no such command: {top:?}");
        // A second word of lower-case names (`list|show`, `approve|veto`) is the sub-commands.
        let (subs, text) = help(&[sub]);
        // The helps the line's options may come from: the command's, or its sub-commands' named.
        let mut owns = vec![text.clone()];
        if let Some(second) = words.get(1).filter(|w| w.chars().all(|c| c.is_ascii_lowercase() || "|-".contains(c))) {
            if subs.is_empty() {
                // Not a sub-command: the values of an argument (`allow|always|deny`).
                for v in second.split('|') {
                    assert!(text.contains(v), "`baton {sub}` takes no `{v}`:\n{text}");
                }
            } else {
                owns.clear();
                for s in second.split('|') {
                    assert!(subs.contains(&s.to_owned()), "`baton {sub} {s}` is not a command: {subs:?}");
                    owns.push(help(&[sub, s]).1);
                }
            }
        }
        // Every option the line names is one the command takes.
        for flag in words.iter().flat_map(|w| w.trim_matches(['[', ']']).split('|')).filter(|w| w.starts_with("--")) {
            assert!(
                owns.iter().any(|h| h.contains(flag)),
                "the README gives `baton {}` {flag}, which its help lacks",
                words.join(" ")
            );
        }
    }
    // Every command baton has is listed, with every sub-command.
    let listed = |sub: &str| lines.iter().filter(|w| w.first().map(String::as_str) == Some(sub)).collect::<Vec<_>>();
    for sub in &top {
        let rows = listed(sub);
        assert!(!rows.is_empty(), "`baton {sub}` is missing from the README's command list");
        let (subs, _) = help(&[sub]);
        for s in &subs {
            let named = rows.iter().any(|w| w.get(1).is_some_and(|x| x.split('|').any(|y| y == s)));
            assert!(named, "`baton {sub} {s}` is missing from the README's command list");
        }
    }
    // And every option of every command is documented somewhere in the README.
    let text = readme();
    for sub in &top {
        let (subs, own) = help(&[sub]);
        let mut helps = vec![own];
        helps.extend(subs.iter().map(|s| help(&[sub, s]).1));
        for h in helps {
            // The options section's lines: `  -C <DIR>`, `      --json`, `  -h, --help`.
            let options = h.lines().filter_map(|l| {
                let t = l.trim_start();
                let t = if t.len() > 3 && t.starts_with('-') && t[2..].starts_with(", ") { &t[4..] } else { t };
                t.starts_with("--").then(|| t.split_whitespace().next().unwrap_or(""))
            });
            for flag in options {
                if flag == "--help" || flag == "--version" {
                    continue;
                }
                assert!(text.contains(flag), "`baton {sub}` takes {flag}, which the README never mentions");
            }
        }
    }
}
