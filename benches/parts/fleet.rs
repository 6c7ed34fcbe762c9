//! The fleet's screen over fifty projects, the real binary in a pseudo-terminal: from process
//! start to the first whole frame, the CPU it uses while nothing happens, its resident memory,
//! and how long from a review appearing in one project's journal to that project's row showing
//! it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton::project::journal::{Entry, Journal, Record, SessionReport};
use baton::project::session::{Outcome, SessionKind, Verdict};

const PROJECTS: usize = 50;
const SESSIONS: u32 = 20;

/// Fifty projects, each with twenty sessions in its journal (a day old) and a twenty-feature
/// list, in a fleet of their own; returns the home the fleet's list is in.
fn make_fleet(root: &Path) -> PathBuf {
    let home = root.join("home");
    let mut list = String::from("max = 2\n");
    let day_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24);
    for p in 0..PROJECTS {
        let dir = root.join(format!("p{p:02}"));
        std::fs::create_dir_all(dir.join(".baton")).unwrap();
        std::fs::write(dir.join(".baton/config.toml"), "").unwrap();
        let features: Vec<String> = (0..20)
            .map(|i| format!(r#"{{"category":"c","description":"feature {i}","steps":["s"],"passes":{}}}"#, i < p % 20))
            .collect();
        std::fs::write(dir.join("feature_list.json"), format!("[{}]", features.join(","))).unwrap();
        let mut journal = Journal::open(&dir.join(".baton/journal.jsonl")).unwrap();
        let mut at = day_ago;
        let mut put = |record: Record| {
            at += jiff::SignedDuration::from_secs(60);
            journal.append_entry(&Entry { at, record }).unwrap();
        };
        put(Record::RunStarted {
            pid: 1,
            backend: "anthropic".into(),
            approve: "manual".into(),
            mode: "continuous".into(),
        });
        for n in 1..=SESSIONS {
            put(Record::SessionStarted {
                number: n,
                kind: SessionKind::Coding,
                backend: "anthropic".into(),
                model: "m".into(),
                base: Some("a".repeat(40)),
                uncommitted: Vec::new(),
                target: Some(1),
            });
            let report = SessionReport {
                cost_usd: 0.12,
                commits: vec!["b".repeat(40)],
                ..SessionReport::new(n, Outcome::Completed)
            };
            put(Record::SessionEnded(report));
            put(Record::ReviewWaiting { number: n });
            put(Record::Verdict { number: n, verdict: Verdict::Approved, reason: None });
        }
        put(Record::RunStopped { reason: "paused".into(), detail: Some("paused by the operator".into()) });
        list.push_str(&format!("[[project]]\nplace = {:?}\n", dir.display().to_string()));
    }
    std::fs::create_dir_all(home.join(".config/baton")).unwrap();
    std::fs::write(home.join(".config/baton/fleet.toml"), list).unwrap();
    home
}

struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Screen {
    fn start(home: &Path) -> Screen {
        use portable_pty::{CommandBuilder, PtySize, native_pty_system};
        let pair =
            native_pty_system().openpty(PtySize { rows: 40, cols: 120, pixel_width: 0, pixel_height: 0 }).unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_baton"));
        cmd.args(["fleet"]);
        cmd.env("HOME", home);
        cmd.env("XDG_CONFIG_HOME", home.join(".config"));
        cmd.env("XDG_STATE_HOME", home.join(".local/state"));
        cmd.env("TERM", "xterm-256color");
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let mut answer = pair.master.take_writer().unwrap();
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            std::num::NonZero::new(40).unwrap(),
            std::num::NonZero::new(120).unwrap(),
            0,
        )));
        let p = parser.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                    let _ = answer.write_all(b"\x1b[1;1R");
                }
                p.lock().unwrap().process(&buf[..n]);
            }
        });
        Screen { parser, child, _master: pair.master }
    }

    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits (checking every half millisecond) until the screen shows what `ok` wants.
    fn until(&self, ok: impl Fn(&str) -> bool, within: Duration) -> Duration {
        let started = Instant::now();
        while !ok(&self.text()) {
            assert!(started.elapsed() < within, "the fleet's screen never showed it:\n{}", self.text());
            std::thread::sleep(Duration::from_micros(500));
        }
        started.elapsed()
    }

    fn pid(&self) -> u32 {
        self.child.process_id().unwrap()
    }
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<u64> =
        stat.rsplit(')').next().unwrap().split_whitespace().skip(11).take(2).map(|f| f.parse().unwrap()).collect();
    f[0] + f[1]
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Every visible row read.
fn whole(text: &str) -> bool {
    text.contains("50 projects") && !text.contains("reading…") && text.contains("p32")
}

pub fn fleet(report: impl Fn(&str, String, &str)) {
    let root = tempfile::tempdir_in(super::bench_dir()).unwrap();
    let home = make_fleet(root.path());
    let mut firsts = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut screen = Screen::start(&home);
        screen.until(whole, Duration::from_secs(20));
        firsts.push(started.elapsed().as_secs_f64() * 1e3);
        let _ = screen.child.kill();
        let _ = screen.child.wait();
    }
    report(
        "fleet: process start to first whole frame, 50 projects",
        format!("{:.0} ms", super::median(firsts)),
        "< 100 ms",
    );

    let mut screen = Screen::start(&home);
    screen.until(whole, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    let pid = screen.pid();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(30));
    let idle = (cpu_ticks(pid) - before) as f64 / 100.0 / 30.0 * 100.0;
    report("fleet: CPU over 30 s with nothing happening, 50 projects", format!("{idle:.2} % of a core"), "< 0.5 %");
    report("fleet: resident memory, 50 projects", format!("{:.1} MB", rss_mb(pid)), "< 60 MB");

    // A review appears in one project's journal, another loop's process writing it: how soon its
    // row says so.
    let mut latencies = Vec::new();
    for p in [7, 13, 21, 28, 34, 40, 45, 49, 3, 17, 25] {
        let dir = root.path().join(format!("p{p:02}"));
        let mut journal = Journal::open(&dir.join(".baton/journal.jsonl")).unwrap();
        let name = format!("p{p:02}");
        let shows = |t: &str| t.lines().any(|l| l.contains(&format!("! {name} ")) && l.contains(" review "));
        // Apart from the last frame, as a review comes by itself (not coalesced into a frame due).
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        journal.append(Record::ReviewWaiting { number: SESSIONS + 1 }).unwrap();
        screen.until(shows, Duration::from_secs(5));
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
    }
    report(
        "fleet: a review in a journal to its row showing it, median of 11",
        format!("{:.1} ms", super::median(latencies)),
        "< 100 ms",
    );
    let _ = screen.child.kill();
    let _ = screen.child.wait();
}
