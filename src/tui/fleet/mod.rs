//! The fleet's screen: one row per project, drawn from each project's journal as attach follows
//! one (no server, nothing polled that inotify can tell), what waits for the operator first.
//! `Enter` runs that project's own full screen in this terminal (a process of its own: attached to
//! the project's loop, or running it) and comes back when it closes; keys start, pause and stop a
//! project's loop from the list.

pub mod app;
mod input;
pub mod keys;

use std::time::{Duration, Instant};

use color_eyre::Result;
use jiff::Timestamp;
use ratatui::crossterm::event::{Event, KeyEventKind};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{EnterAlternateScreen, enable_raw_mode};

use crate::fleet::control::Controls;
use crate::fleet::{Dirs, Fleet, Place, follow};
use crate::project::watch::DirWatch;
use app::{Effect, FleetApp};

type Term = ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stdout>>;

/// Opens the fleet's screen on the fleet in `dirs` until the operator quits; `controls` starts,
/// pauses and stops the projects' loops.
pub fn run(runtime: tokio::runtime::Runtime, dirs: Dirs, controls: &mut dyn Controls) -> Result<()> {
    runtime.block_on(screen(&dirs, controls))
}

/// The screen, on a runtime the caller runs (one its loops live on too).
pub async fn screen(dirs: &Dirs, controls: &mut dyn Controls) -> Result<()> {
    let fleet = Fleet::load(dirs)?;
    let mut app = FleetApp::new(super::theme::Theme::from_env(), fleet.projects.clone(), fleet.max);
    let updates = follow::follow(fleet.projects.clone());
    enable_raw_mode()?;
    super::install_panic_hook();
    execute!(std::io::stdout(), EnterAlternateScreen)?;
    let result = match input::Keys::start() {
        Ok(mut keys) => draw_loop(&mut app, dirs, updates, &mut keys, controls).await,
        Err(e) => Err(e.into()),
    };
    super::restore_terminal();
    result
}

async fn draw_loop(
    app: &mut FleetApp,
    dirs: &Dirs,
    mut updates: tokio::sync::mpsc::UnboundedReceiver<follow::Update>,
    keys: &mut input::Keys,
    controls: &mut dyn Controls,
) -> Result<()> {
    let mut terminal: Term = ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))?;
    terminal.clear()?;
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut hup, mut winch) =
        (signal(SignalKind::terminate())?, signal(SignalKind::hangup())?, signal(SignalKind::window_change())?);
    // The fleet's list: a project added or removed elsewhere, or the cap changed, shows here.
    let _ = std::fs::create_dir_all(&dirs.config);
    let mut list = DirWatch::new(&[&dirs.config], Duration::from_secs(3600));
    list.changed().await;
    let frame_time = Duration::from_millis(16);
    let mut dirty = true;
    let mut last_draw = Instant::now() - frame_time;
    loop {
        if dirty && last_draw.elapsed() >= frame_time {
            terminal.draw(|f| app.render(f, Timestamp::now()))?;
            last_draw = Instant::now();
            dirty = false;
        }
        let wait = if dirty { frame_time.saturating_sub(last_draw.elapsed()) } else { Duration::from_secs(3600) };
        // The clocks on the screen: each second while one shows seconds, else each half minute.
        let tick = if app.ticking(Timestamp::now()) { Duration::from_secs(1) } else { Duration::from_secs(30) };
        let mut effects = Vec::new();
        tokio::select! {
            Some(u) = updates.recv() => {
                app.update(u);
                while let Ok(u) = updates.try_recv() {
                    app.update(u);
                }
                dirty = true;
            }
            Some(ev) = keys.events.recv() => {
                if let Event::Key(k) = ev && k.kind != KeyEventKind::Release {
                    effects = app.on_key(k);
                }
                dirty = true;
            }
            _ = list.changed() => {
                if let Ok(fleet) = Fleet::load(dirs)
                    && (fleet.projects != app.places() || fleet.max != app.max)
                {
                    if fleet.projects != app.places() {
                        updates = follow::follow(fleet.projects.clone());
                    }
                    app.set_places(fleet.projects, fleet.max);
                    dirty = true;
                }
            }
            _ = tokio::time::sleep(tick) => dirty = true,
            _ = winch.recv() => dirty = true,
            _ = term.recv() => return Ok(()),
            _ = hup.recv() => return Ok(()),
            _ = tokio::time::sleep(wait), if dirty => {}
        }
        for fx in effects {
            let said = match fx {
                Effect::Quit => return Ok(()),
                Effect::Open(place) => open(&place, keys, &mut terminal).await?,
                Effect::Start(place) => controls.start(&place),
                Effect::Pause(place) => controls.pause(&place),
                Effect::Stop(place) => controls.stop(&place),
            };
            app.notice(said.unwrap_or_else(|e| e));
            dirty = true;
        }
    }
}

/// Runs the project's own screen in this terminal and comes back when it closes: the fleet's
/// screen lets go of the terminal (and of the keys) meanwhile.
async fn open(place: &Place, keys: &input::Keys, terminal: &mut Term) -> Result<Result<String, String>> {
    keys.pause();
    super::restore_terminal();
    let ran = match place.screen_command() {
        Ok(cmd) => {
            let mut cmd = tokio::process::Command::from(cmd);
            // The terminal is the screen's; what it says when it cannot open comes back here.
            cmd.stdin(std::process::Stdio::inherit()).stdout(std::process::Stdio::inherit());
            cmd.stderr(std::process::Stdio::piped());
            match cmd.spawn() {
                Ok(child) => child.wait_with_output().await,
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    enable_raw_mode()?;
    execute!(std::io::stdout(), EnterAlternateScreen)?;
    terminal.clear()?;
    keys.resume();
    Ok(match ran {
        Ok(out) if out.status.success() => Ok(format!("back from {}", place.name())),
        Ok(out) => {
            let said = String::from_utf8_lossy(&out.stderr);
            let last = said.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
            Err(format!("{}'s screen ended ({}): {last}", place.name(), out.status))
        }
        Err(e) => Err(format!("cannot open {}'s screen: {e}", place.name())),
    })
}
