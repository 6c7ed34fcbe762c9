//! The real binary in a pseudo-terminal, read back with a terminal emulator (vt100), for the tests
//! that drive baton as a person at a terminal would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};

pub struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    pub child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Screen {
    /// Starts baton with `args` in `cwd`, at `cols`×`rows`, with HOME and the XDG dirs in `home`
    /// and the extra environment `env` (a value of `None` removes the variable).
    pub fn start(
        home: &Path,
        cwd: &Path,
        args: &[&str],
        (cols, rows): (u16, u16),
        env: &[(&str, Option<&str>)],
    ) -> Screen {
        let pair = native_pty_system().openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_baton"));
        cmd.args(args);
        cmd.cwd(cwd);
        cmd.env("HOME", home);
        cmd.env("XDG_CONFIG_HOME", home.join(".config"));
        cmd.env("XDG_STATE_HOME", home.join(".local/state"));
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("ANTHROPIC_API_KEY");
        for (k, v) in env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            }
        }
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer: Arc<Mutex<Box<dyn Write + Send>>> = Arc::new(Mutex::new(pair.master.take_writer().unwrap()));
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            std::num::NonZero::new(rows).unwrap(),
            std::num::NonZero::new(cols).unwrap(),
            0,
        )));
        let (p, w) = (parser.clone(), writer.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                // A real terminal answers the cursor-position query; so must this one.
                if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                    let _ = w.lock().unwrap().write_all(b"\x1b[1;1R");
                }
                p.lock().unwrap().process(&buf[..n]);
            }
        });
        Screen { parser, writer, child, _master: pair.master }
    }

    /// The screen as an SVG image, cells, colours and all.
    #[allow(dead_code)]
    pub fn svg(&self) -> String {
        super::svg::render(self.parser.lock().unwrap().screen())
    }

    /// Whether the first cell of `needle`, where the screen shows it, is bold, and its colour.
    #[allow(dead_code)]
    pub fn style_of(&self, needle: &str) -> Option<(bool, vt100::Color)> {
        let p = self.parser.lock().unwrap();
        let screen = p.screen();
        let (rows, cols) = screen.size();
        let (rows, cols) = (u16::from(rows), u16::from(cols));
        for row in 0..rows {
            // The row's characters, each with the column it starts at.
            let cells: Vec<(u16, String)> = (0..cols)
                .filter_map(|c| {
                    screen.cell(row, c).filter(|x| !x.is_wide_continuation()).map(|x| (c, x.contents().to_owned()))
                })
                .collect();
            let text: Vec<&str> = cells.iter().map(|(_, t)| if t.is_empty() { " " } else { t.as_str() }).collect();
            let first = needle.chars().next()?.to_string();
            let n = needle.chars().count();
            for i in 0..text.len().saturating_sub(n - 1) {
                if text[i] == first && text[i..i + n].concat() == needle {
                    let cell = screen.cell(row, cells[i].0)?;
                    return Some((cell.bold(), cell.fgcolor()));
                }
            }
        }
        None
    }

    pub fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Whether the terminal is as a shell left it: main screen, cursor shown, no mouse reporting.
    pub fn restored(&self) -> bool {
        let p = self.parser.lock().unwrap();
        let s = p.screen();
        !s.alternate_screen() && !s.hide_cursor() && s.mouse_protocol_mode() == vt100::MouseProtocolMode::None
    }

    pub fn wait_for(&self, what: &str, within: Duration) -> String {
        self.wait_until(|t| t.contains(what), what, within)
    }

    pub fn wait_until(&self, ok: impl Fn(&str) -> bool, what: &str, within: Duration) -> String {
        let started = Instant::now();
        loop {
            let text = self.text();
            if ok(&text) {
                return text;
            }
            assert!(started.elapsed() < within, "the screen never showed {what:?}; it shows:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn send(&self, keys: &str) {
        let mut w = self.writer.lock().unwrap();
        w.write_all(keys.as_bytes()).unwrap();
        w.flush().unwrap();
        drop(w);
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Waits for baton to exit; returns whether it exited successfully.
    pub fn wait_exit(&mut self, within: Duration) -> bool {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the last bytes reach the emulator.
                std::thread::sleep(Duration::from_millis(200));
                return status.success();
            }
            assert!(started.elapsed() < within, "baton did not exit:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.process_id().unwrap() as i32
    }
}
