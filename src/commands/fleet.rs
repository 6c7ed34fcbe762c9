//! `baton fleet ...`: the projects a person runs, in one list in the user's config. `add`,
//! `remove`, `list` and `status` read and change that list and each project's journal; `run`
//! starts their loops (each in a process of its own, under the fleet's cap) and follows them, or
//! opens the fleet's screen on them; `baton fleet` alone is the screen.

use std::io::Write;
use std::path::{Path, PathBuf};

use color_eyre::Result;
use color_eyre::eyre::{WrapErr, eyre};

use crate::fleet::control::{self, Started};
use crate::fleet::row::{self, Row, Tracker};
use crate::fleet::{Dirs, Fleet, Place};
use crate::project::Project;

/// `baton fleet run`'s arguments.
#[derive(Debug, Clone, Default)]
pub struct RunFleet {
    /// The cap to set: sessions running at once across the fleet.
    pub max: Option<u32>,
    /// Follow the loops here, one line per event, instead of opening the screen.
    pub headless: bool,
    /// The projects to start (a folder or a name); every one of the fleet's when empty.
    pub projects: Vec<String>,
}

/// The user's fleet directories.
pub fn dirs() -> Result<Dirs> {
    Dirs::from_env()
        .ok_or_else(|| eyre!("no user config directory (HOME is not set?): the fleet's list has nowhere to live"))
}

/// `baton fleet add DIR...`: each must be a baton project; one already listed is left as it is.
pub fn add(dirs: &Dirs, base: &Path, projects: &[PathBuf], out: &mut dyn Write) -> Result<()> {
    let mut places = Vec::new();
    for dir in projects {
        let place = Place::parse(&dir.display().to_string(), base).map_err(|e| eyre!(e))?;
        let local = place.local_dir().unwrap_or(dir);
        Project::open_existing(local).wrap_err_with(|| format!("cannot add {} to the fleet", dir.display()))?;
        places.push(place);
    }
    let mut added = Vec::new();
    let fleet = Fleet::update(dirs, |f| {
        for p in &places {
            if !f.has(p) && !added.contains(p) {
                f.projects.push(p.clone());
                added.push(p.clone());
            }
        }
    })?;
    for p in &places {
        let what = if added.contains(p) { "added" } else { "already in the fleet" };
        writeln!(out, "{}: {what} ({p})", p.name())?;
    }
    writeln!(
        out,
        "the fleet has {} ({})",
        crate::words::count(fleet.projects.len() as u64, "project"),
        dirs.list_path().display()
    )?;
    Ok(())
}

/// The fleet's project `what` names: its folder, or its name when one project has it.
fn find(fleet: &Fleet, base: &Path, what: &str) -> Result<Place> {
    if let Ok(place) = Place::parse(what, base)
        && fleet.has(&place)
    {
        return Ok(place);
    }
    let named: Vec<&Place> = fleet.projects.iter().filter(|p| p.name() == what).collect();
    match named.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(eyre!("{what} is not in the fleet (`baton fleet list` shows it; `baton fleet add DIR` adds one)")),
        many => Err(eyre!(
            "{what} names {} of the fleet's projects: give its folder ({})",
            many.len(),
            many.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// `baton fleet remove DIR`: the project leaves the list; nothing in it changes.
pub fn remove(dirs: &Dirs, base: &Path, what: &str, out: &mut dyn Write) -> Result<()> {
    let place = find(&Fleet::load(dirs)?, base, what)?;
    let fleet = Fleet::update(dirs, |f| f.projects.retain(|p| *p != place))?;
    writeln!(out, "{}: removed from the fleet ({place}); {} left", place.name(), fleet.projects.len())?;
    Ok(())
}

/// Every project's row as its journal says now, in the fleet's order.
pub fn rows(fleet: &Fleet) -> Vec<Row> {
    fleet.projects.iter().cloned().map(|p| Tracker::open(p).row()).collect()
}

/// `baton fleet list`: the projects in the order they were added, one line (or object) each.
pub fn list(dirs: &Dirs, json: bool, out: &mut dyn Write) -> Result<()> {
    let fleet = Fleet::load(dirs)?;
    let rows = rows(&fleet);
    if json {
        return super::print_json(out, &rows);
    }
    if rows.is_empty() {
        writeln!(out, "the fleet is empty: `baton fleet add DIR...` adds projects")?;
        return Ok(());
    }
    let width = rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(4).max(4);
    writeln!(out, "{:<width$}  {:<16}  {:>8}  {:>8}  {:>7}  PATH", "NAME", "STATE", "FEATURES", "COST", "LOOP")?;
    for r in &rows {
        writeln!(
            out,
            "{:<width$}  {:<16}  {:>8}  {:>8}  {:>7}  {}",
            r.name,
            r.state.word(),
            features(r),
            format!("${:.2}", r.cost_usd),
            r.loop_pid.map_or("-".into(), |p| p.to_string()),
            r.place
        )?;
    }
    Ok(())
}

fn features(r: &Row) -> String {
    r.features.map_or("-".into(), |f| format!("{}/{}", f.passing, f.total))
}

/// `baton fleet status`: what waits for the operator first, then what runs; the cap and who holds
/// its slots.
pub fn status(dirs: &Dirs, json: bool, out: &mut dyn Write) -> Result<()> {
    let fleet = Fleet::load(dirs)?;
    let mut rows = rows(&fleet);
    row::by_attention(&mut rows);
    if json {
        return super::print_json(out, &rows);
    }
    let now = jiff::Timestamp::now();
    let waiting = rows.iter().filter(|r| r.state.needs_operator()).count();
    let running = rows.iter().filter(|r| matches!(r.state, row::State::Running { .. })).count();
    let cap = if fleet.max == 0 { "no cap".to_owned() } else { format!("at most {} at once", fleet.max) };
    writeln!(
        out,
        "fleet: {}, {waiting} waiting for you, {running} running ({cap})",
        crate::words::count(rows.len() as u64, "project")
    )?;
    let width = rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(4);
    for r in &rows {
        let mark = if r.state.needs_operator() { "!" } else { " " };
        let last = r.last.as_ref().map_or(String::new(), |h| format!(" · {} ({})", h.what, row::ago(h.at, now)));
        writeln!(
            out,
            "{mark} {:<width$}  {:>5}  ${:<6.2} {}{}",
            r.name,
            features(r),
            r.cost_usd,
            r.state.describe(now),
            crate::words::clip(&last, 100)
        )?;
    }
    Ok(())
}

/// `baton fleet run`: sets the cap when asked, starts the loop of each project named (every one
/// when none is) unless one runs there already, then follows them (headless) or opens the screen.
pub fn run(dirs: &Dirs, base: &Path, args: RunFleet, out: &mut dyn Write) -> Result<u8> {
    let mut fleet = Fleet::load(dirs)?;
    if let Some(max) = args.max {
        fleet = Fleet::update(dirs, |f| f.max = max)?;
    }
    if fleet.projects.is_empty() {
        return Err(eyre!("the fleet is empty: `baton fleet add DIR...` adds projects"));
    }
    let places = if args.projects.is_empty() {
        fleet.projects.clone()
    } else {
        args.projects.iter().map(|p| find(&fleet, base, p)).collect::<Result<Vec<_>>>()?
    };
    let cap = if fleet.max == 0 {
        "no cap on sessions".into()
    } else {
        format!("at most {} at once", crate::words::count(fleet.max, "session"))
    };
    writeln!(out, "fleet: {}, {cap}", crate::words::count(places.len() as u64, "project"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let children = runtime.block_on(async {
        let mut children = Vec::new();
        for place in &places {
            match control::start(place) {
                Ok(Started::Now(child)) => {
                    writeln!(out, "{}: loop started (its output: .baton/logs/loop.log)", place.name())?;
                    children.push(child);
                }
                Ok(Started::Already(pid)) => {
                    writeln!(out, "{}: its loop already runs (pid {pid}); left alone", place.name())?
                }
                Err(e) => writeln!(out, "{}: cannot start: {e}", place.name())?,
            }
        }
        out.flush()?;
        Ok::<_, color_eyre::Report>(children)
    })?;
    if !args.headless {
        drop(children);
        crate::tui::fleet::run(runtime, dirs.clone(), &mut control::Processes)?;
        return Ok(0);
    }
    runtime.block_on(follow_headless(places, children, out))
}

/// Prints what each loop does, a line per event naming its project, until every one has ended;
/// then 0 when each ended as asked (done, paused, the session cap, a review waiting).
async fn follow_headless(places: Vec<Place>, children: Vec<tokio::process::Child>, out: &mut dyn Write) -> Result<u8> {
    let mut updates = crate::fleet::follow::follow(places.clone());
    let mut last: Vec<Option<Row>> = vec![None; places.len()];
    let mut running = children.len();
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    for mut child in children {
        let tx = done_tx.clone();
        tokio::spawn(async move {
            let _ = child.wait().await;
            let _ = tx.send(());
        });
    }
    loop {
        // Loops this command did not start are followed until their process goes too.
        if running == 0 && last.iter().all(|r| r.as_ref().is_some_and(|r| r.loop_pid.is_none())) {
            break;
        }
        tokio::select! {
            Some(u) = updates.recv() => {
                for h in &u.happened {
                    writeln!(out, "{}: {}", u.row.name, h.what)?;
                }
                out.flush()?;
                last[u.index] = Some(u.row);
            }
            Some(()) = done.recv() => running -= 1,
        }
    }
    // What the journals say once every loop is gone.
    let rows: Vec<Row> = places.into_iter().map(|p| Tracker::open(p).row()).collect();
    let now = jiff::Timestamp::now();
    let mut ok = true;
    for r in &rows {
        writeln!(out, "{}: {}", r.name, r.state.describe(now))?;
        ok &= !r.state.needs_operator() || matches!(r.state, row::State::Review { .. });
    }
    Ok(u8::from(!ok))
}

/// `baton fleet`: the screen on the fleet as it is (loops are started from it with `s`).
pub fn screen(dirs: &Dirs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    crate::tui::fleet::run(runtime, dirs.clone(), &mut control::Processes)
}
