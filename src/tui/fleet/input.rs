//! Keys for the fleet screen, read on a thread of their own that can be paused: while a project's
//! own screen runs in the terminal (a process of its own), nothing here reads the terminal, so
//! every key goes to that screen. The thread sleeps in `poll(2)` on the terminal and a wake-up
//! pipe: no timer, no polling.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use ratatui::crossterm::event::{self, Event};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

#[derive(Default)]
struct Gate {
    /// Asked to stop reading.
    paused: bool,
    /// The reader has stopped reading (it sleeps until resumed).
    parked: bool,
}

pub struct Keys {
    pub events: UnboundedReceiver<Event>,
    gate: Arc<(Mutex<Gate>, Condvar)>,
    wake: OwnedFd,
    /// The terminal opened for reading when stdin is not one (crossterm reads it then too).
    _tty: Option<std::fs::File>,
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two descriptors it makes, which we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just made, owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Keys {
    pub fn start() -> std::io::Result<Keys> {
        let (read_end, wake) = pipe()?;
        // SAFETY: isatty only looks at the descriptor.
        let tty = if unsafe { libc::isatty(libc::STDIN_FILENO) } == 1 {
            None
        } else {
            Some(std::fs::File::open("/dev/tty")?)
        };
        let input: RawFd = tty.as_ref().map_or(libc::STDIN_FILENO, |f| f.as_raw_fd());
        let gate: Arc<(Mutex<Gate>, Condvar)> = Arc::default();
        let (tx, events) = unbounded_channel();
        let g = gate.clone();
        std::thread::spawn(move || {
            loop {
                {
                    let mut state = g.0.lock().unwrap_or_else(|e| e.into_inner());
                    while state.paused {
                        state.parked = true;
                        g.1.notify_all();
                        state = g.1.wait(state).unwrap_or_else(|e| e.into_inner());
                    }
                    state.parked = false;
                }
                let mut fds = [
                    libc::pollfd { fd: input, events: libc::POLLIN, revents: 0 },
                    libc::pollfd { fd: read_end.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                ];
                // SAFETY: poll on two descriptors that live as long as this thread.
                let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
                if n < 0 {
                    if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return;
                }
                if fds[1].revents != 0 {
                    let mut buf = [0u8; 64];
                    // SAFETY: reading into a buffer we own.
                    unsafe { libc::read(read_end.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                    continue;
                }
                if fds[0].revents & (libc::POLLHUP | libc::POLLERR) != 0 && fds[0].revents & libc::POLLIN == 0 {
                    return;
                }
                // Everything the terminal has sent, as events; nothing is waited for.
                while event::poll(Duration::ZERO).unwrap_or(false) {
                    let Ok(ev) = event::read() else { return };
                    if tx.send(ev).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Keys { events, gate, wake, _tty: tty })
    }

    /// Stops reading the terminal; returns once the reader has stopped (or has ended).
    pub fn pause(&self) {
        let (m, cv) = &*self.gate;
        let mut state = m.lock().unwrap_or_else(|e| e.into_inner());
        state.paused = true;
        // SAFETY: one byte to our own pipe.
        unsafe { libc::write(self.wake.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        while !state.parked {
            let (s, waited) = cv.wait_timeout(state, Duration::from_secs(2)).unwrap_or_else(|e| e.into_inner());
            state = s;
            if waited.timed_out() {
                // The reader is gone (the terminal closed): nothing reads it.
                break;
            }
        }
    }

    /// Reads the terminal again.
    pub fn resume(&self) {
        let (m, cv) = &*self.gate;
        let mut state = m.lock().unwrap_or_else(|e| e.into_inner());
        state.paused = false;
        cv.notify_all();
    }
}
