//! What stands where a file should be, the real binary's way: a FIFO, a socket, a device or a
//! directory in place of the config, the journal, the progress notes or the spec is an error naming
//! the file within a second (never a hang) from `status`, `run` and the screen; a byte-order mark
//! and bytes that are not UTF-8 are named; a key said twice in the feature list is refused at the
//! second.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Sandbox;

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; mkfifo has no other effect.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

/// Runs baton with `args` in `dir` with a deadline: it must be done within a second (plus the
/// process's own start), and fail.
fn fails_at_once(sandbox: &Sandbox, dir: &Path, args: &[&str]) -> common::Run {
    let started = Instant::now();
    let mut child = sandbox
        .baton(dir)
        .args(args)
        .env("ANTHROPIC_API_KEY", "test-key")
        // A backtrace for the error report costs most of a second in a debug build.
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(3) {
            let _ = child.kill();
            panic!("baton {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = common::Run::from(child.wait_with_output().unwrap()).failed();
    assert!(started.elapsed() < Duration::from_millis(1500), "{args:?} took {:?}", started.elapsed());
    run
}

#[test]
fn a_fifo_config_or_journal_is_an_error_within_a_second_from_status_and_run() {
    let sandbox = Sandbox::new();
    let (dir, _repo) = common::quickstart_repo();
    sandbox.run(dir.path(), &["init"]).ok();
    let config = dir.path().join(".baton/config.toml");
    mkfifo(&config);
    for args in [&["status"][..], &["status", "--json"], &["features", "list"], &["run", "--headless"]] {
        let run = fails_at_once(&sandbox, dir.path(), args);
        assert!(run.stderr.contains(&format!("{}: it is a FIFO, not a file", config.display())), "{}", run.stderr);
    }
    std::fs::remove_file(&config).unwrap();

    let journal = dir.path().join(".baton/journal.jsonl");
    for (make, what) in [
        (&(|p: &Path| mkfifo(p)) as &dyn Fn(&Path), "a FIFO"),
        (&|p: &Path| std::fs::create_dir(p).unwrap(), "a directory"),
        (&|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap(), "a device"),
    ] {
        make(&journal);
        for args in [&["status"][..], &["run", "--headless"], &["review", "approve"]] {
            let run = fails_at_once(&sandbox, dir.path(), args);
            assert!(run.stderr.contains(&format!("{}: it is {what}, not a file", journal.display())), "{}", run.stderr);
        }
        if journal.is_dir() {
            std::fs::remove_dir(&journal).unwrap();
        } else {
            std::fs::remove_file(&journal).unwrap();
        }
    }

    // The spec handed to init, and one already where init would write it.
    let fresh = tempfile::tempdir().unwrap();
    let spec = fresh.path().join("spec.txt");
    mkfifo(&spec);
    let run = fails_at_once(&sandbox, fresh.path(), &["init", "--spec", spec.to_str().unwrap()]);
    assert!(run.stderr.contains("spec.txt: it is a FIFO, not a file"), "{}", run.stderr);
}

#[test]
fn on_the_screen_a_fifo_config_or_journal_is_an_error_and_the_terminal_is_left_as_it_was() {
    let sandbox = Sandbox::new();
    let (dir, _repo) = common::quickstart_repo();
    sandbox.run(dir.path(), &["init"]).ok();
    let config = dir.path().join(".baton/config.toml");
    mkfifo(&config);
    let mut screen =
        common::pty::Screen::start(sandbox.home.path(), dir.path(), &[], (100, 30), &[("RUST_BACKTRACE", None)]);
    let started = Instant::now();
    assert!(!screen.wait_exit(Duration::from_secs(3)), "it fails");
    assert!(started.elapsed() < Duration::from_millis(1500));
    let text = screen.text();
    assert!(text.contains("config.toml: it is a FIFO, not a file"), "{text}");
    assert!(screen.restored());

    std::fs::remove_file(&config).unwrap();
    mkfifo(&dir.path().join(".baton/journal.jsonl"));
    let mut screen =
        common::pty::Screen::start(sandbox.home.path(), dir.path(), &[], (100, 30), &[("RUST_BACKTRACE", None)]);
    let started = Instant::now();
    let ok = screen.wait_exit(Duration::from_secs(3));
    let text = screen.text();
    assert!(!ok && started.elapsed() < Duration::from_millis(1500), "{text}");
    assert!(text.contains("journal.jsonl: it is a FIFO, not a file"), "{text}");
    assert!(screen.restored());
}

#[test]
fn a_fifo_in_place_of_the_progress_notes_is_refused_at_once() {
    let notes = baton::project::progress::ProgressNotes::new(tempfile::tempdir().unwrap().keep().join("notes.txt"));
    mkfifo(notes.path());
    let started = Instant::now();
    let e = notes.read().unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(e.ends_with("notes.txt: it is a FIFO, not a file; baton reads only a plain file there"), "{e}");
    let _ = std::fs::remove_dir_all(notes.path().parent().unwrap());
}

#[test]
fn a_byte_order_mark_bad_bytes_and_a_key_said_twice_are_named_by_the_commands() {
    let sandbox = Sandbox::new();
    let (dir, _repo) = common::quickstart_repo();
    let list = dir.path().join("feature_list.json");
    let text = std::fs::read(&list).unwrap();
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(&text);
    std::fs::write(&list, &bom).unwrap();
    let run = sandbox.run(dir.path(), &["features", "list"]).failed();
    assert!(run.stderr.contains("feature_list.json:1:1: the file starts with a byte-order mark"), "{}", run.stderr);

    let broken = String::from_utf8(text.clone()).unwrap().replacen("\"passes\": false", "\"passes\": \u{1}", 1);
    let mut bytes = broken.into_bytes();
    let at = bytes.iter().position(|b| *b == 1).unwrap();
    bytes[at] = 0xFF;
    std::fs::write(&list, &bytes).unwrap();
    let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
    let run = sandbox.run(dir.path(), &["status"]).failed();
    assert!(
        run.stderr.contains(&format!("feature_list.json:{line}:")) && run.stderr.contains("not UTF-8"),
        "{}",
        run.stderr
    );

    let twice =
        String::from_utf8(text).unwrap().replacen("\"passes\": false", "\"passes\": false, \"passes\": true", 1);
    std::fs::write(&list, &twice).unwrap();
    let (line, column) = twice
        .lines()
        .enumerate()
        .find_map(|(i, l)| {
            l.find("\"passes\": false, \"passes\"").map(|c| (i + 1, c + "\"passes\": false, ".len() + 1))
        })
        .unwrap();
    let run = sandbox.run(dir.path(), &["features", "list"]).failed();
    assert!(
        run.stderr.contains(&format!("feature_list.json:{line}:{column}: feature "))
            && run.stderr.contains("`passes` appears twice"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&list).unwrap(), twice, "left as it was");

    // A config with a byte-order mark.
    std::fs::write(&list, b"[]\n").unwrap();
    std::fs::create_dir_all(dir.path().join(".baton")).unwrap();
    std::fs::write(dir.path().join(".baton/config.toml"), b"\xEF\xBB\xBF[run]\n").unwrap();
    let run = sandbox.run(dir.path(), &["status"]).failed();
    assert!(run.stderr.contains("config.toml: the file starts with a byte-order mark"), "{}", run.stderr);
}
