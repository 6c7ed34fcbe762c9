//! The screen: four live panes (features, transcript, git log, progress), a status line, and
//! dialogs for review, help and confirmation. A view over the harness's events; keys become the
//! harness's commands. Git and file work happen on the worker thread; keys are read on their own
//! thread; the drawing loop waits on channels and redraws only when something changed.

pub mod app;
pub mod dialogs;
mod fold;
mod input;
pub mod keys;
pub mod panes;
mod status;
pub mod text;
pub mod theme;
pub mod worker;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::Result;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};

use crate::agent::Backend;
use crate::harness::{Command, Handles, Harness, HarnessEvent, RunOptions, StopReason};
use crate::project::Project;
use crate::project::lock;
use app::{App, Effect, Reply, Request};

/// What the screen runs: a backend to start sessions with, and how.
pub struct Launch {
    /// The backend, or why there is none (say, no API key): the screen then shows the project
    /// and takes verdicts and marks, but starts no session.
    pub backend: Result<Arc<dyn Backend>, String>,
    /// The evaluator's backend, when it is not the sessions' own.
    pub evaluator: Option<Arc<dyn Backend>>,
    pub opts: RunOptions,
    /// Start the first session at once (the demo), rather than waiting for `n`.
    pub start: bool,
    /// What the status line says runs the sessions, instead of the backend and model, and a word
    /// on it for the message log (the demo's scripted model, and whose prices its dollars are).
    pub label: Option<((String, String), String)>,
}

/// Puts the terminal back as it was. Safe to call more than once.
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(std::io::stdout(), DisableMouseCapture, LeaveAlternateScreen, ratatui::crossterm::cursor::Show);
}

/// Makes sure a panic restores the terminal before it is reported.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

struct Loop {
    handles: Option<Handles>,
    task: Option<tokio::task::JoinHandle<Result<StopReason, crate::harness::HarnessError>>>,
}

/// Runs the screen until the operator quits; the exit status (0, or 128 plus the signal that
/// ended it: 143 for SIGTERM, 129 for SIGHUP).
pub fn run(project: Project, launch: Launch) -> Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run_async(project, launch))
}

async fn run_async(project: Project, launch: Launch) -> Result<u8> {
    let config = project.config().clone();
    let mut app = App::new(theme::Theme::from_env(), config.files.progress.display().to_string(), launch.opts.mode);
    app.status.unconfined = config.sandbox.mode == crate::project::config::SandboxMode::Off;
    if let Some((label, about)) = &launch.label {
        app.status.label = Some(label.clone());
        app.notice(about.clone());
    }
    let elsewhere = lock::holder(&project.baton_dir());
    let mut run_loop = Loop { handles: None, task: None };
    if let Some(pid) = &elsewhere {
        // The loop runs in another baton: this screen attaches to it and steers it from here.
        match crate::harness::attach::connect(project.clone(), pid.clone()) {
            Ok(h) => {
                run_loop.handles = Some(h);
                app.status.attached = Some(pid.clone());
            }
            Err(e) => app.status.cannot_start = Some(format!("the loop runs in another baton (pid {pid}): {e}")),
        }
    } else if let Err(why) = &launch.backend {
        app.status.cannot_start = Some(why.clone());
    }

    // The mode the operator last chose here is kept across restarts (the demo always runs on).
    if !launch.start
        && let Some(mode) = crate::project::last_mode::saved(&project.baton_dir())
    {
        app.mode = mode;
    }
    let (req_tx, req_rx) = std::sync::mpsc::channel::<Request>();
    let (reply_tx, mut reply_rx) = tokio::sync::mpsc::unbounded_channel::<Reply>();
    let _worker = worker::spawn(project.clone(), req_rx, reply_tx);

    let start_loop = |run_loop: &mut Loop, mode: crate::project::config::Mode| -> Result<()> {
        if let Ok(backend) = &launch.backend {
            let mut opts = launch.opts.clone();
            opts.mode = mode;
            let (mut h, handles) = Harness::new(project.clone(), backend.clone(), opts)?;
            if let Some(e) = &launch.evaluator {
                h = h.with_evaluator(e.clone());
            }
            run_loop.task = Some(tokio::spawn(h.run()));
            run_loop.handles = Some(handles);
        }
        Ok(())
    };
    if app.status.cannot_start.is_none() && elsewhere.is_none() {
        start_loop(&mut run_loop, app.mode)?;
        if launch.start
            && let Some(h) = &run_loop.handles
        {
            let _ = h.commands.send(Command::StartNext);
        }
    }

    enable_raw_mode()?;
    install_panic_hook();
    execute!(std::io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    let can_take_over = elsewhere.is_some() && launch.backend.is_ok();
    // Why this screen cannot run the loop itself once the one it is attached to is gone.
    let no_backend = launch.backend.as_ref().err().cloned();
    let follow = Follow { project: project.clone(), can_take_over, no_backend, followed: elsewhere.map(|p| (p, None)) };
    let result = draw_loop(&mut app, &mut run_loop, start_loop, follow, &req_tx, &mut reply_rx, &config).await;
    restore_terminal();
    // A session still running is stopped and recorded before baton exits.
    if let (Some(h), Some(task)) = (run_loop.handles.take(), run_loop.task.take()) {
        let _ = h.commands.send(Command::Quit);
        drop(h);
        let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
    }
    result
}

/// How this screen follows loops other baton processes run.
struct Follow {
    project: Project,
    /// Take the loop over when the followed one ends (there is a backend here).
    can_take_over: bool,
    /// Why this screen cannot run the loop itself, when it cannot.
    no_backend: Option<String>,
    /// The pid of the loop followed last and how many loops had started by then (once the
    /// journal says): a loop that stopped is not followed again, one started since in the same
    /// process is.
    followed: Option<(String, Option<usize>)>,
}

async fn draw_loop(
    app: &mut App,
    run_loop: &mut Loop,
    start_loop: impl Fn(&mut Loop, crate::project::config::Mode) -> Result<()>,
    mut follow: Follow,
    req_tx: &std::sync::mpsc::Sender<Request>,
    reply_rx: &mut tokio::sync::mpsc::UnboundedReceiver<Reply>,
    config: &crate::project::config::Config,
) -> Result<u8> {
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut terminal = ratatui::Terminal::new(backend)?;
    terminal.clear()?;
    // Keys are read on their own thread, started only now: while it waits for input it holds
    // crossterm's reader, which the terminal set-up above needs for the cursor position.
    let (key_tx, mut key_rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    std::thread::spawn(move || {
        while let Ok(ev) = event::read() {
            if key_tx.send(ev).is_err() {
                return;
            }
        }
    });
    // SIGTERM and SIGHUP (a closed terminal, `kill`) are a quit: the terminal is restored and a
    // running session recorded as interrupted, as `q` does.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let frame_time = Duration::from_millis(16);
    let mut dirty = true;
    let mut last_draw = Instant::now() - frame_time;
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    // The attached loop has said it stopped: the journal is asked again until it says the lock is
    // free (the other baton releases it a moment after its last record), then the loop runs here.
    let mut takeover_poll: Option<Instant> = None;
    loop {
        app.loop_here = run_loop.handles.is_some();
        dirty |= app.tick(Instant::now());
        if dirty && last_draw.elapsed() >= frame_time {
            terminal.draw(|f| app.render(f))?;
            last_draw = Instant::now();
            dirty = false;
        }
        let wait = if dirty { frame_time.saturating_sub(last_draw.elapsed()) } else { Duration::from_secs(3600) };
        let expiry = app.notice_expiry().map(tokio::time::Instant::from_std);
        let mut effects = Vec::new();
        tokio::select! {
            ev = async { match run_loop.handles.as_mut() { Some(h) => h.events.recv().await, None => std::future::pending().await } } => {
                match ev {
                    Some(ev) => {
                        let mut stopped = matches!(ev, HarnessEvent::Stopped { .. });
                        effects.extend(app.on_harness(ev));
                        // Bursts of events go into one frame.
                        if let Some(h) = run_loop.handles.as_mut() {
                            while let Ok(more) = h.events.try_recv() {
                                stopped |= matches!(more, HarnessEvent::Stopped { .. });
                                effects.extend(app.on_harness(more));
                            }
                        }
                        if stopped {
                            run_loop.handles = None;
                            if app.status.attached.take().is_some() {
                                if follow.can_take_over {
                                    takeover_poll = Some(Instant::now() + Duration::from_secs(5));
                                } else {
                                    app.status.cannot_start = follow.no_backend.clone();
                                }
                            }
                            if let Some(t) = run_loop.task.take() && let Ok(Err(e)) = t.await {
                                app.notice(format!("the loop stopped: {e}"));
                            }
                        }
                    }
                    None => {
                        run_loop.handles = None;
                        app.status.attached = None;
                        if let Some(t) = run_loop.task.take() && let Ok(Err(e)) = t.await {
                            app.notice(format!("the loop stopped: {e}"));
                        }
                    }
                }
                dirty = true;
            }
            Some(reply) = reply_rx.recv() => {
                if let Reply::Journal(v) = &reply {
                    // The loop that ran elsewhere has ended: it runs here now, waiting for `n`. Not
                    // before the screen has followed it to its end (what it did last, why it stopped).
                    if follow.can_take_over && run_loop.handles.is_none() && v.loop_pid.is_none() {
                        follow.can_take_over = false;
                        takeover_poll = None;
                        app.status.cannot_start = None;
                        app.status.attached = None;
                        match start_loop(run_loop, crate::project::config::Mode::Step) {
                            Ok(()) => app.notice("the other baton's loop ended; the loop runs here now (step mode: n starts)"),
                            Err(e) => app.notice(e.to_string()),
                        }
                    }
                    if let Some((pid, runs @ None)) = &mut follow.followed
                        && v.loop_pid.as_ref() == Some(pid)
                    {
                        *runs = Some(v.runs_started);
                    }
                    // A loop another baton started since: followed, whatever this screen can do.
                    let followed_already = |pid: &String| {
                        follow.followed.as_ref().is_some_and(|(p, runs)| p == pid && runs.is_none_or(|r| v.runs_started <= r))
                    };
                    if let Some(pid) = v.loop_pid.clone().filter(|p| *p != std::process::id().to_string())
                        && run_loop.handles.is_none()
                        && !followed_already(&pid)
                    {
                        match crate::harness::attach::connect(follow.project.clone(), pid.clone()) {
                            Ok(h) => {
                                run_loop.handles = Some(h);
                                app.status.attached = Some(pid.clone());
                                app.status.cannot_start = None;
                                app.notice(format!("a loop started in pid {pid}: following it"));
                                follow.can_take_over = follow.no_backend.is_none();
                                takeover_poll = None;
                                follow.followed = Some((pid, Some(v.runs_started)));
                            }
                            Err(e) => app.notice(format!("cannot follow the loop in pid {pid}: {e}")),
                        }
                    }
                }
                app.on_reply(reply);
                dirty = true;
            }
            Some(ev) = key_rx.recv() => {
                match ev {
                    Event::Key(k) if k.kind != KeyEventKind::Release => effects.extend(app.on_key(k)),
                    Event::Mouse(m) => effects.extend(app.on_mouse(m)),
                    _ => {}
                }
                dirty = true;
            }
            _ = clock.tick(), if app.status.running || app.status.waiting_until.is_some() => { dirty = true; }
            _ = tokio::time::sleep_until(expiry.unwrap_or_else(far)), if expiry.is_some() => { dirty = true; }
            _ = tokio::time::sleep(Duration::from_millis(100)), if takeover_poll.is_some() && follow.can_take_over => {
                let _ = req_tx.send(Request::Refresh);
                // Another loop holding on past this is not the one that stopped.
                takeover_poll = takeover_poll.filter(|until| Instant::now() < *until);
            }
            _ = term.recv() => return Ok(128 + libc::SIGTERM as u8),
            _ = hup.recv() => return Ok(128 + libc::SIGHUP as u8),
            _ = tokio::time::sleep(wait), if dirty => {}
        }
        for fx in effects {
            match fx {
                Effect::Quit => return Ok(0),
                Effect::Worker(r) => {
                    let _ = req_tx.send(r);
                }
                Effect::Notify(text) => {
                    let mut out = std::io::stdout();
                    if config.screen.bell {
                        let _ = out.write_all(b"\x07");
                    }
                    if config.screen.notify {
                        let _ = write!(out, "\x1b]9;{text}\x07");
                    }
                    let _ = out.flush();
                }
                Effect::Harness(cmd) => {
                    let wants_loop = matches!(
                        cmd,
                        Command::StartNext
                            | Command::Mark { .. }
                            | Command::EditFeature { .. }
                            | Command::Approve(_)
                            | Command::Veto(..)
                    );
                    if let Command::SetMode(mode) = &cmd {
                        let _ = req_tx.send(Request::SaveMode(*mode));
                    }
                    if run_loop.handles.is_none() && app.status.cannot_start.is_none() && wants_loop {
                        // The last run stopped: a new one takes the command (a verdict first, as
                        // every loop starts at the review gate).
                        if let Err(e) = start_loop(run_loop, app.mode) {
                            app.notice(e.to_string());
                        }
                    }
                    match &run_loop.handles {
                        Some(h) => {
                            let _ = h.commands.send(cmd);
                        }
                        // No loop runs here: verdicts, marks, skips and notes go the way the command
                        // line sends them, to the loop that runs elsewhere or straight to git (a
                        // skip or a note does not start the run again: `n` does).
                        None if matches!(
                            cmd,
                            Command::Approve(_)
                                | Command::Veto(..)
                                | Command::Mark { .. }
                                | Command::Skip(_)
                                | Command::Note(_)
                        ) =>
                        {
                            let _ = req_tx.send(Request::Operator(cmd));
                        }
                        // The mode is the screen's until a loop starts with it.
                        None if matches!(cmd, Command::SetMode(_)) => {}
                        None => {
                            app.status.pause_pending = false;
                            let why = app.status.cannot_start.clone().unwrap_or_else(|| "no loop is running".into());
                            app.notice(format!("{}: {why}", describe(&cmd)));
                        }
                    }
                }
            }
        }
    }
}

/// A moment too far away to come: a deadline for when there is none.
fn far() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365)
}

/// What a command asks, for a message saying it could not be done.
fn describe(cmd: &Command) -> &'static str {
    match cmd {
        Command::StartNext => "cannot start a session",
        Command::EditFeature { .. } => "cannot edit the feature list now",
        Command::Pause => "nothing runs to pause",
        Command::Interrupt => "nothing to interrupt",
        _ => "cannot do that here",
    }
}
