//! The real binary in a pseudo-terminal, on the demo: approve one session, veto the next with a
//! reason, then check git and the journal. The screen is read back with a terminal emulator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Screen {
    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    fn wait_for(&self, what: &str, within: Duration) -> String {
        let started = Instant::now();
        loop {
            let text = self.text();
            if text.contains(what) {
                return text;
            }
            assert!(started.elapsed() < within, "the screen never showed {what:?}; it shows:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn send(&self, keys: &str) {
        let mut w = self.writer.lock().unwrap();
        w.write_all(keys.as_bytes()).unwrap();
        w.flush().unwrap();
        drop(w);
        std::thread::sleep(Duration::from_millis(150));
    }
}

#[test]
fn approve_one_session_and_veto_the_next_in_a_real_terminal() {
    let sandbox = common::Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("tally");
    let pair = native_pty_system().openpty(PtySize { rows: 40, cols: 120, pixel_width: 0, pixel_height: 0 }).unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_baton"));
    cmd.args(["demo", dir.to_str().unwrap(), "--pace", "fast"]);
    cmd.cwd(parent.path());
    let home = sandbox.home.path();
    cmd.env("HOME", home);
    cmd.env("XDG_CONFIG_HOME", home.join(".config"));
    cmd.env("XDG_STATE_HOME", home.join(".local/state"));
    cmd.env("TERM", "xterm-256color");
    let mut child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let writer: Arc<Mutex<Box<dyn Write + Send>>> = Arc::new(Mutex::new(pair.master.take_writer().unwrap()));
    let parser = Arc::new(Mutex::new(vt100::Parser::new(
        std::num::NonZero::new(40).unwrap(),
        std::num::NonZero::new(120).unwrap(),
        0,
    )));
    let screen = Screen { parser: parser.clone(), writer: writer.clone() };
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            // A real terminal answers the cursor-position query; so must this one.
            if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                let _ = writer.lock().unwrap().write_all(b"\x1b[1;1R");
            }
            parser.lock().unwrap().process(&buf[..n]);
        }
    });

    let first = screen.wait_for("Review · session 1 (initializer)", Duration::from_secs(60));
    assert!(first.contains("Lay the groundwork"), "{first}");
    screen.send("y");
    // Step mode from here, so the veto leaves the branch where it put it.
    screen.send("c");
    let second = screen.wait_for("Review · session 2 (coding)", Duration::from_secs(60));
    assert!(second.contains("Feature 1: implement and test it"), "{second}");
    screen.send("v");
    screen.wait_for("Why veto?", Duration::from_secs(10));
    screen.send("no test for an empty name");
    screen.send("\r");
    let after = screen.wait_for("session 2 vetoed: no test for an empty name", Duration::from_secs(20));
    assert!(after.contains("vetoed S2"), "the git log marks the vetoed tip:\n{after}");

    // git and the journal agree with the screen: the vetoed session's base is HEAD, its tip kept.
    let project = baton::project::Project::open(&dir).unwrap();
    let sessions = baton::project::journal::sessions(&project.journal().unwrap().entries);
    let vetoed = &sessions[1];
    assert_eq!(vetoed.verdict, Some(baton::project::session::Verdict::Vetoed));
    assert_eq!(vetoed.reason.as_deref(), Some("no test for an empty name"));
    let repo = git2::Repository::open(&dir).unwrap();
    assert_eq!(Some(repo.head().unwrap().target().unwrap().to_string()), vetoed.base);
    let tip = repo.find_reference("refs/baton/vetoed/session-0002").unwrap().target().unwrap();
    assert_eq!(Some(tip.to_string()), vetoed.head);
    assert_eq!(sessions.len(), 2, "step mode: no session started after the veto");

    screen.send("q");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "baton exited with {status:?}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "baton did not quit:\n{}", screen.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The terminal was restored: the alternate screen is gone and the demo's path is printed.
    std::thread::sleep(Duration::from_millis(200));
    let last = screen.text();
    assert!(last.contains("demo project:"), "{last}");
    assert!(!last.contains("Transcript ·"), "the screen was left on the terminal:\n{last}");
}
