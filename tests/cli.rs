//! The command line, run as the real binary on real git repositories in temp dirs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;

use common::{Sandbox, commit_count, quickstart_repo};

#[test]
fn quickstart_project_shows_three_of_five_and_marking_makes_four_with_one_commit() {
    let sandbox = Sandbox::new();
    let (dir, repo) = quickstart_repo();
    let path = dir.path();
    let before = fs::read_to_string(path.join("feature_list.json")).unwrap();

    let status = sandbox.run(path, &["status", "--json"]).ok().json();
    assert_eq!(status["features"]["total"], 5);
    assert_eq!(status["features"]["passing"], 3);
    assert_eq!(status["state"], "idle");
    assert_eq!(status["pending_review"], serde_json::Value::Null);
    assert_eq!(status["sessions"], serde_json::json!([]));
    assert_eq!(status["next_session"]["kind"], "coding", "an adopted project goes on coding");

    let commits = commit_count(&repo);
    let out = sandbox.run(path, &["features", "mark", "4", "--passes", "true"]).ok();
    assert!(out.stdout.contains("feature 4 marked passing (4/5 passing)"), "{}", out.stdout);

    let status = sandbox.run(path, &["status", "--json"]).ok().json();
    assert_eq!(status["features"]["passing"], 4);
    assert_eq!(commit_count(&repo), commits + 1);

    // Only feature 4's `passes` changed; the notes field and the formatting are intact.
    let after = fs::read_to_string(path.join("feature_list.json")).unwrap();
    let feature4 = before.find("exits with status 2").unwrap();
    let flip = feature4 + before[feature4..].find("\"passes\": false").unwrap();
    let mut expected = before.clone();
    expected.replace_range(flip..flip + "\"passes\": false".len(), "\"passes\": true");
    assert_eq!(after, expected);
    assert!(after.contains("\"notes\": \"Re-checked by hand after the storage rewrite.\""));

    // The commit names the feature, is in the operator's name, and holds only the list.
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    let message = head.message().unwrap();
    assert!(message.starts_with("Mark feature 4 passing: tally add without a name"), "{message}");
    assert_eq!(head.author().name().unwrap(), "Ada Operator");
    let parent = head.parent(0).unwrap();
    let diff = repo.diff_tree_to_tree(Some(&parent.tree().unwrap()), Some(&head.tree().unwrap()), None).unwrap();
    assert_eq!(diff.deltas().len(), 1);
    assert!(common::is_clean(&repo), "the work tree is clean after the mark");

    // Marking it again changes nothing and says so.
    let out = sandbox.run(path, &["features", "mark", "4", "--passes", "true"]).ok();
    assert!(out.stdout.contains("already passing"), "{}", out.stdout);
    assert_eq!(commit_count(&repo), commits + 1);
}

#[test]
fn a_syntax_error_on_line_4_is_named_and_the_file_is_left_byte_for_byte() {
    let sandbox = Sandbox::new();
    let (dir, _repo) = quickstart_repo();
    let list = dir.path().join("feature_list.json");
    let text = fs::read_to_string(&list).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert!(lines[3].contains("\"description\""));
    let broken_line = lines[3].replacen("\":", "\"", 1);
    lines[3] = &broken_line; // line 4 loses the colon after its key
    let broken = lines.join("\n") + "\n";
    fs::write(&list, &broken).unwrap();

    for args in
        [&["status"][..], &["status", "--json"], &["features", "list"], &["features", "mark", "4", "--passes", "true"]]
    {
        let out = sandbox.run(dir.path(), args).failed();
        assert!(out.stderr.contains("feature_list.json:4:"), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("expected `:`"), "{args:?}: {}", out.stderr);
        assert_eq!(fs::read(&list).unwrap(), broken.as_bytes(), "{args:?} left the file alone");
    }
}

#[test]
fn a_feature_missing_a_field_is_named_with_its_line() {
    let sandbox = Sandbox::new();
    let (dir, _repo) = quickstart_repo();
    let list = dir.path().join("feature_list.json");
    let text = fs::read_to_string(&list).unwrap().replacen("\"passes\": true\n", "\"done\": true\n", 1);
    fs::write(&list, &text).unwrap();
    let out = sandbox.run(dir.path(), &["features", "mark", "1", "--passes", "false"]).failed();
    assert!(out.stderr.contains("feature_list.json:11:"), "{}", out.stderr);
    assert!(out.stderr.contains("feature 1 has no `passes` field"), "{}", out.stderr);
    assert_eq!(fs::read_to_string(&list).unwrap(), text);
}

#[test]
fn marking_a_feature_that_does_not_exist_says_how_many_there_are() {
    let sandbox = Sandbox::new();
    let (dir, repo) = quickstart_repo();
    let commits = commit_count(&repo);
    let out = sandbox.run(dir.path(), &["features", "mark", "9", "--passes", "true"]).failed();
    assert!(out.stderr.contains("there is no feature 9") && out.stderr.contains("has 5"), "{}", out.stderr);
    let out = sandbox.run(dir.path(), &["features", "mark", "0", "--passes", "true"]).failed();
    assert!(out.stderr.contains("numbered from 1"), "{}", out.stderr);
    assert_eq!(commit_count(&repo), commits);
}

#[test]
fn features_list_numbers_from_one_with_marks() {
    let sandbox = Sandbox::new();
    let (dir, _repo) = quickstart_repo();
    let out = sandbox.run(dir.path(), &["features", "list"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("1 ✓ functional"), "{}", out.stdout);
    assert!(lines[3].starts_with("4 ✗ error-handling"), "{}", out.stdout);
    assert_eq!(lines[5], "3/5 passing");
    let json = sandbox.run(dir.path(), &["features", "list", "--json"]).ok().json();
    assert_eq!(json[4]["number"], 5);
    assert_eq!(json[4]["passes"], false);
}

#[test]
fn dash_c_works_before_and_after_the_command() {
    let sandbox = Sandbox::new();
    let (dir, _repo) = quickstart_repo();
    let elsewhere = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let before = sandbox.run(elsewhere.path(), &["-C", d, "status", "--json"]).ok().json();
    let after = sandbox.run(elsewhere.path(), &["status", "-C", d, "--json"]).ok().json();
    assert_eq!(before["features"]["passing"], 3);
    assert_eq!(before, after);
}

#[test]
fn init_sets_up_a_project_and_a_second_run_changes_nothing() {
    let sandbox = Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let spec = parent.path().join("my-spec.txt");
    fs::write(&spec, "Build a tally counter.\n").unwrap();

    let out = sandbox.run(parent.path(), &["init", "proj", "--spec", "my-spec.txt"]).ok();
    assert!(out.stdout.contains("initialised a git repository"), "{}", out.stdout);
    let proj = parent.path().join("proj");
    assert_eq!(fs::read_to_string(proj.join("app_spec.txt")).unwrap(), "Build a tally counter.\n");
    let config = fs::read_to_string(proj.join(".baton/config.toml")).unwrap();
    assert!(config.contains("# approve = \"manual\""), "every setting is there, commented");
    let exclude = fs::read_to_string(proj.join(".git/info/exclude")).unwrap();
    assert!(exclude.lines().any(|l| l == "/.baton/"), "{exclude}");

    let snapshot = |p: &std::path::Path| {
        let mut files = Vec::new();
        for rel in ["app_spec.txt", ".baton/config.toml", ".git/info/exclude", ".git/HEAD"] {
            files.push(fs::read(p.join(rel)).unwrap());
        }
        files
    };
    let first = snapshot(&proj);
    let out = sandbox.run(parent.path(), &["init", "proj", "--spec", "my-spec.txt"]).ok();
    assert!(out.stdout.contains("already a baton project; nothing changed"), "{}", out.stdout);
    assert_eq!(snapshot(&proj), first);

    // A new project is initializer-first and its status works at once.
    let status = sandbox.run(&proj, &["status", "--json"]).ok().json();
    assert_eq!(status["next_session"]["kind"], "initializer");
    assert_eq!(status["features"]["total"], 0);
    let agent_sees = sandbox.run(&proj, &["sessions", "list"]).ok();
    assert_eq!(agent_sees.stdout.trim(), "no sessions yet");
}

#[test]
fn init_refuses_to_overwrite_a_different_spec() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("app_spec.txt"), "the operator's own spec\n").unwrap();
    fs::write(dir.path().join("other.txt"), "another spec\n").unwrap();
    let out = sandbox.run(dir.path(), &["init", "--spec", "other.txt"]).failed();
    assert!(out.stderr.contains("app_spec.txt already exists and differs"), "{}", out.stderr);
    assert_eq!(fs::read_to_string(dir.path().join("app_spec.txt")).unwrap(), "the operator's own spec\n");
    assert!(!dir.path().join(".git").exists(), "a refusal changes nothing");
    let out = sandbox.run(dir.path(), &["init", "--spec", "missing.txt"]).failed();
    assert!(out.stderr.contains("cannot read the spec missing.txt"), "{}", out.stderr);
}

#[test]
fn init_in_a_quickstart_project_keeps_its_files_and_commits() {
    let sandbox = Sandbox::new();
    let (dir, repo) = quickstart_repo();
    let head = repo.head().unwrap().target();
    let before = fs::read(dir.path().join("feature_list.json")).unwrap();
    sandbox.run(dir.path(), &["init"]).ok();
    assert_eq!(repo.head().unwrap().target(), head);
    assert_eq!(fs::read(dir.path().join("feature_list.json")).unwrap(), before);
    assert!(common::is_clean(&repo), ".baton/ is excluded from git");
}

#[test]
fn a_bad_config_key_is_named_with_its_file() {
    let sandbox = Sandbox::new();
    let (dir, _repo) = quickstart_repo();
    fs::create_dir_all(dir.path().join(".baton")).unwrap();
    fs::write(dir.path().join(".baton/config.toml"), "[run]\napprove = \"manual\"\nbudget = 5\n").unwrap();
    let out = sandbox.run(dir.path(), &["status"]).failed();
    assert!(out.stderr.contains(".baton/config.toml"), "{}", out.stderr);
    assert!(out.stderr.contains("unknown field `budget`"), "{}", out.stderr);
    assert!(out.stderr.contains("budget_usd"), "the message lists the keys there are: {}", out.stderr);

    // The user's file is checked too, and named.
    fs::write(dir.path().join(".baton/config.toml"), "").unwrap();
    let user = sandbox.home.path().join(".config/baton");
    fs::create_dir_all(&user).unwrap();
    fs::write(user.join("config.toml"), "[agent]\nmax_turns = \"lots\"\n").unwrap();
    let out = sandbox.run(dir.path(), &["status"]).failed();
    assert!(out.stderr.contains(".config/baton/config.toml"), "{}", out.stderr);
    assert!(out.stderr.contains("max_turns"), "{}", out.stderr);
}

#[test]
fn project_config_overrides_the_user_config_key_by_key() {
    let sandbox = Sandbox::new();
    let (dir, repo) = quickstart_repo();
    let user = sandbox.home.path().join(".config/baton");
    fs::create_dir_all(&user).unwrap();
    // The user renames the feature list; the project renames it back: the project wins.
    fs::write(user.join("config.toml"), "[files]\nfeatures = \"features.json\"\nprogress = \"notes.txt\"\n").unwrap();
    let out = sandbox.run(dir.path(), &["status"]).ok();
    assert!(out.stdout.contains("none yet (the initializer session writes features.json)"), "{}", out.stdout);
    fs::create_dir_all(dir.path().join(".baton")).unwrap();
    fs::write(dir.path().join(".baton/config.toml"), "[files]\nfeatures = \"feature_list.json\"\n").unwrap();
    let status = sandbox.run(dir.path(), &["status", "--json"]).ok().json();
    assert_eq!(status["features"]["passing"], 3);
    drop(repo);
}

#[test]
fn every_command_has_help() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--help"][..],
        &["init", "--help"],
        &["status", "--help"],
        &["features", "--help"],
        &["features", "list", "--help"],
        &["features", "mark", "--help"],
        &["sessions", "--help"],
        &["sessions", "list", "--help"],
        &["sessions", "show", "--help"],
    ] {
        let out = sandbox.run(dir.path(), args).ok();
        assert!(out.stdout.contains("Usage: baton"), "{args:?}: {}", out.stdout);
    }
    let out = sandbox.run(dir.path(), &["features", "mark", "1"]);
    assert_eq!(out.code, Some(2), "a usage error exits 2");
    assert!(out.stderr.contains("--passes"), "{}", out.stderr);
}

#[test]
fn a_directory_that_does_not_exist_is_a_clear_error() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let out = sandbox.run(dir.path(), &["-C", "nowhere", "status"]).failed();
    assert!(out.stderr.contains("nowhere does not exist"), "{}", out.stderr);
}

#[test]
fn marking_outside_a_git_repository_changes_nothing() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&common::sample_dir(), dir.path());
    let before = fs::read(dir.path().join("feature_list.json")).unwrap();
    let out = sandbox.run(dir.path(), &["features", "mark", "4", "--passes", "true"]).failed();
    assert!(out.stderr.contains("is not a git repository"), "{}", out.stderr);
    assert_eq!(fs::read(dir.path().join("feature_list.json")).unwrap(), before);
}

#[test]
fn marking_without_a_git_identity_commits_as_baton() {
    let sandbox = Sandbox::new();
    let (dir, repo) = quickstart_repo();
    {
        let mut config = repo.config().unwrap().open_level(git2::ConfigLevel::Local).unwrap();
        config.remove("user.name").unwrap();
        config.remove("user.email").unwrap();
    }
    sandbox.run(dir.path(), &["features", "mark", "5", "--passes", "true"]).ok();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    assert_eq!(head.author().name().unwrap(), "baton");
    assert_eq!(head.author().email().unwrap(), "baton@localhost");
}

fn write_journal(dir: &std::path::Path, records: Vec<baton::project::journal::Record>) {
    let mut journal = baton::project::journal::Journal::open(&dir.join(".baton/journal.jsonl")).unwrap();
    for r in records {
        journal.append(r).unwrap();
    }
}

#[test]
fn sessions_and_status_read_the_journal_even_with_a_torn_last_line() {
    use baton::project::journal::{Record, SessionReport};
    use baton::project::session::{Outcome, SessionKind, Usage, Verdict};
    let sandbox = Sandbox::new();
    let (dir, repo) = quickstart_repo();
    let head = repo.head().unwrap().target().unwrap().to_string();
    write_journal(
        dir.path(),
        vec![
            Record::SessionStarted {
                number: 1,
                kind: SessionKind::Coding,
                backend: "anthropic".into(),
                model: "claude-sonnet-4-5".into(),
                base: Some(head.clone()),
                uncommitted: Vec::new(),
                target: None,
            },
            Record::SessionEnded(SessionReport {
                head: Some(head.clone()),
                usage: Usage { input_tokens: 1200, output_tokens: 340, ..Usage::default() },
                cost_usd: 0.0087,
                ..SessionReport::new(1, Outcome::Completed)
            }),
            Record::Verdict { number: 1, verdict: Verdict::Vetoed, reason: Some("no test for feature 4".into()) },
            Record::SessionStarted {
                number: 2,
                kind: SessionKind::Coding,
                backend: "anthropic".into(),
                model: "claude-sonnet-4-5".into(),
                base: Some(head.clone()),
                uncommitted: Vec::new(),
                target: None,
            },
            Record::SessionEnded(SessionReport {
                head: Some(head.clone()),
                cost_usd: 0.01,
                ..SessionReport::new(2, Outcome::MaxTurns)
            }),
        ],
    );
    // A crash cut the last record in half.
    let journal = dir.path().join(".baton/journal.jsonl");
    let mut bytes = fs::read(&journal).unwrap();
    bytes.extend_from_slice(br#"{"at":"2026-11-24T10:00:00Z","type":"verdict","num"#);
    fs::write(&journal, &bytes).unwrap();

    let status = sandbox.run(dir.path(), &["status", "--json"]).ok();
    assert!(status.stderr.contains("journal.jsonl:6: the line is incomplete"), "{}", status.stderr);
    let json = status.json();
    assert_eq!(json["state"], "awaiting_review");
    assert_eq!(json["pending_review"], 2);
    let s = &json["sessions"][0];
    for key in ["number", "kind", "outcome", "verdict", "base", "head", "input_tokens", "output_tokens", "cost_usd"] {
        assert!(s.get(key).is_some(), "sessions[0] has {key}: {s}");
    }
    assert_eq!(s["verdict"], "vetoed");
    assert_eq!(s["input_tokens"], 1200);
    assert_eq!(json["sessions"][1]["outcome"], "max_turns");

    let list = sandbox.run(dir.path(), &["sessions", "list"]).ok();
    assert!(list.stdout.lines().nth(1).unwrap().contains("vetoed"), "{}", list.stdout);
    assert!(list.stdout.lines().nth(2).unwrap().contains("pending"), "{}", list.stdout);
    let show = sandbox.run(dir.path(), &["sessions", "show", "1"]).ok();
    assert!(show.stdout.contains("vetoed: no test for feature 4"), "{}", show.stdout);
    let show = sandbox.run(dir.path(), &["sessions", "show", "1", "--json"]).ok().json();
    assert_eq!(show["output_tokens"], 340);
    let missing = sandbox.run(dir.path(), &["sessions", "show", "7"]).failed();
    assert!(missing.stderr.contains("sessions run so far are 1 to 2"), "{}", missing.stderr);
}

#[test]
fn logs_go_to_a_file_in_the_state_dir_not_to_the_terminal() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let out = sandbox.baton(dir.path()).args(["sessions", "show", "3"]).env("RUST_LOG", "debug").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "only the error itself reaches the terminal: {stderr}");
    let log = fs::read_to_string(sandbox.home.path().join(".local/state/baton/baton.log")).unwrap();
    assert!(log.contains("is not a baton project"), "{log}");
}

#[test]
fn commands_refuse_a_directory_that_is_not_a_project() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    for args in
        [&["status"][..], &["status", "--json"], &["features", "list"], &["sessions", "list"], &["review", "approve"]]
    {
        let run = sandbox.run(dir.path(), args).failed();
        assert!(run.stderr.contains("is not a baton project"), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("baton init"), "says what to do: {}", run.stderr);
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was written there");
}

#[test]
fn sandbox_check_proves_every_wall_by_trying_it() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let run = sandbox.run(dir.path(), &["sandbox", "check"]).ok();
    assert!(run.stdout.contains("landlock: ABI "), "{}", run.stdout);
    assert!(run.stdout.contains("sandbox: works"), "{}", run.stdout);
    for proof in [
        "a write to ",
        "a connect to 127.0.0.1:",
        "a file tool's write into .baton/",
        "a write to .git/config",
        "a connect to the host's Unix socket ",
        "a credential in baton's environment",
        "a signal to a process outside the session",
    ] {
        assert!(
            run.stdout.lines().any(|l| l.starts_with(&format!("proof: {proof}")) && l.contains(": held (")),
            "{proof}: {}",
            run.stdout
        );
    }
    assert!(!run.stdout.contains("NOT HELD"), "{}", run.stdout);
    assert!(run.stdout.contains("proof: a server one command starts on 127.0.0.1, from the next command: reached"));
}

/// `baton features list --json | head -1`: the reader leaves early, baton exits quietly.
#[test]
fn a_reader_that_leaves_early_gets_no_broken_pipe_error() {
    let sandbox = Sandbox::new();
    let (dir, _repo) = quickstart_repo();
    for args in [&["features", "list", "--json"][..], &["features", "list"], &["status", "--json"]] {
        let mut child = sandbox
            .baton(dir.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The read end closes before baton writes a byte.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("Broken pipe") && !stderr.contains("baton:"), "{args:?}: {stderr}");
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
    }
}

/// A typo at the end of a line is reported where it is: its line, and the column where the bad
/// word starts (serde_json alone says the next line, column 0).
#[test]
fn a_typo_at_the_end_of_a_line_is_named_where_it_is() {
    let sandbox = Sandbox::new();
    let (dir, _repo) = quickstart_repo();
    let text = "[\n  {\n    \"description\": \"a\",\n    \"passes\": tru\n  }\n]\n";
    std::fs::write(dir.path().join("feature_list.json"), text).unwrap();
    let run = sandbox.run(dir.path(), &["features", "list"]).failed();
    assert!(run.stderr.contains("feature_list.json:4:15: "), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(dir.path().join("feature_list.json")).unwrap(), text, "left as it was");
}

/// `baton init --browser`: with the server or the browser missing, it says how to install it and
/// writes nothing; with both, the project's config gets a working browser server, once, and keeps
/// what the operator wrote in it.
#[test]
fn init_browser_adds_a_browser_server_or_says_what_to_install() {
    let sandbox = Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("web");
    // A PATH of nothing: the machine may have both installed where PATH looks (the README's own
    // `npm install -g` puts the server in /usr/bin).
    let bare = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)]| {
        let mut cmd = sandbox.baton(parent.path());
        cmd.args(["init", "web", "--browser"]).env("PATH", bare.path()).env_remove("BATON_PLAYWRIGHT_MCP");
        for (k, v) in env {
            cmd.env(k, v);
        }
        common::Run::from(cmd.output().unwrap())
    };
    let missing = run(&[]);
    assert_ne!(missing.code, Some(0));
    assert!(missing.stderr.contains("npm install -g @playwright/mcp@"), "{}", missing.stderr);
    assert!(!dir.exists(), "nothing was made");

    let server = common::playwright_mcp();
    let chromium = common::chromium();
    let env = [("BATON_PLAYWRIGHT_MCP", server.to_str().unwrap()), ("BATON_CHROMIUM", chromium.to_str().unwrap())];
    let added = run(&env).ok();
    assert!(added.stdout.contains("added a browser to"), "{}", added.stdout);
    let config = baton::project::config::Config::load(&dir).unwrap();
    let servers = config.mcp_servers(&dir).unwrap();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].command, server.display().to_string());
    assert!(servers[0].args.iter().any(|a| a == chromium.to_str().unwrap()), "{:?}", servers[0].args);
    assert!(servers[0].args.iter().any(|a| a == "--headless"));
    let again = run(&env).ok();
    assert!(again.stdout.contains("already has a `playwright` MCP server"), "{}", again.stdout);

    // An operator's own config keeps its words.
    let own = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(own.path().join(".baton")).unwrap();
    let mine = "# my settings\n[run]\nverify = \"make test\"  # keep this\n";
    std::fs::write(own.path().join(".baton/config.toml"), mine).unwrap();
    let mut cmd = sandbox.baton(own.path());
    cmd.args(["init", "--browser"]).envs(env);
    common::Run::from(cmd.output().unwrap()).ok();
    let text = std::fs::read_to_string(own.path().join(".baton/config.toml")).unwrap();
    assert!(text.starts_with(mine), "{text}");
    assert!(text.contains("[[mcp.servers]]\nname = \"playwright\""), "{text}");
}
