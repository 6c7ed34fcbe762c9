//! `demo.tape` types only what baton has: its shell commands run, its keys are in the key map.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use baton::tui::keys::{BINDINGS, Scope};

fn typed() -> Vec<String> {
    let tape = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/demo.tape")).unwrap();
    tape.lines()
        .filter_map(|l| l.trim().strip_prefix("Type \"").and_then(|r| r.strip_suffix('"')).map(str::to_owned))
        .collect()
}

#[test]
fn every_command_and_key_the_tape_types_exists() {
    let typed = typed();
    assert!(typed.len() >= 5, "{typed:?}");
    let sandbox = common::Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let mut after_veto = false;
    for t in &typed {
        if let Some(args) = t.strip_prefix("baton ") {
            // The command parses: its --help answers.
            let mut argv: Vec<&str> = args.split_whitespace().collect();
            argv.push("--help");
            sandbox.run(dir.path(), &argv).ok();
        } else if t.chars().count() == 1 {
            let bound = BINDINGS.iter().any(|b| matches!(b.scope, Scope::Global | Scope::Review) && b.keys.contains(&t.as_str()))
                // `y` also confirms the quit dialog.
                || t == "y";
            assert!(bound, "the tape types {t:?}, which no key binding has");
            after_veto = t == "v";
        } else {
            assert!(after_veto, "free text {t:?} is typed only as a veto's reason");
            after_veto = false;
        }
    }
}
