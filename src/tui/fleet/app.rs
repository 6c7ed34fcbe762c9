//! The fleet screen's state and drawing: one row per project, what waits for the operator first
//! (the longest waiting first), a detail box for the selected one, the keys at the foot. Rows come
//! from the fleet's follower; keys become effects the drawing loop carries out.

use jiff::Timestamp;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::keys::{self, Action};
use crate::fleet::Place;
use crate::fleet::follow::Update;
use crate::fleet::row::{self, Row, State};
use crate::tui::dialogs::{boxed, centered, led, scrolled};
use crate::tui::panes::{frame, scroll_into_view};
use crate::tui::theme::Theme;

/// What the fleet screen asks of the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Open the project's full screen here, and come back when it closes.
    Open(Place),
    Start(Place),
    Pause(Place),
    Stop(Place),
    Quit,
}

#[derive(Debug, Clone, PartialEq)]
enum Dialog {
    Help { scroll: usize },
    ConfirmStop(Place),
}

pub struct FleetApp {
    pub theme: Theme,
    places: Vec<Place>,
    /// Each project's row as last heard, in the fleet's order; `None` until read.
    rows: Vec<Option<Row>>,
    selected: Option<Place>,
    offset: usize,
    /// The fleet's cap (0: none).
    pub max: u32,
    notice: Option<String>,
    dialog: Option<Dialog>,
    /// The list's height when last drawn, for scrolling.
    height: usize,
}

impl FleetApp {
    pub fn new(theme: Theme, places: Vec<Place>, max: u32) -> Self {
        let rows = vec![None; places.len()];
        FleetApp { theme, places, rows, selected: None, offset: 0, max, notice: None, dialog: None, height: 10 }
    }

    /// The fleet's projects changed (added, removed): rows are read again.
    pub fn set_places(&mut self, places: Vec<Place>, max: u32) {
        self.rows = vec![None; places.len()];
        self.places = places;
        self.max = max;
    }

    pub fn places(&self) -> &[Place] {
        &self.places
    }

    pub fn update(&mut self, u: Update) {
        if let Some(slot) = self.rows.get_mut(u.index) {
            *slot = Some(u.row);
        }
    }

    pub fn notice(&mut self, text: impl Into<String>) {
        self.notice = Some(text.into());
    }

    /// Indices of the rows in the order they are shown: what waits for the operator first.
    fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.places.len()).collect();
        order.sort_by_key(|&i| match &self.rows[i] {
            Some(r) => {
                let since = r.state.since().filter(|_| r.state.needs_operator()).map(|t| t.as_millisecond());
                (r.state.rank(), since.unwrap_or(i64::MAX))
            }
            None => (u8::MAX, i64::MAX),
        });
        order
    }

    /// Where the selection is in the shown order (the top row when nothing is selected).
    fn cursor(&self, order: &[usize]) -> usize {
        self.selected.as_ref().and_then(|s| order.iter().position(|&i| self.places[i] == *s)).unwrap_or(0)
    }

    /// The selected project.
    pub fn current(&self) -> Option<&Place> {
        let order = self.order();
        order.get(self.cursor(&order)).map(|&i| &self.places[i])
    }

    fn row_of(&self, place: &Place) -> Option<&Row> {
        self.places.iter().position(|p| p == place).and_then(|i| self.rows[i].as_ref())
    }

    /// How many projects wait for the operator.
    pub fn waiting(&self) -> usize {
        self.rows.iter().flatten().filter(|r| r.state.needs_operator()).count()
    }

    /// Whether some words on the screen change by the second (a clock, a recent "12s").
    pub fn ticking(&self, now: Timestamp) -> bool {
        self.rows
            .iter()
            .flatten()
            .any(|r| r.state.ticks() || r.last.as_ref().is_some_and(|h| now.as_second() - h.at.as_second() < 60))
    }

    pub fn on_key(&mut self, key: ratatui::crossterm::event::KeyEvent) -> Vec<Effect> {
        use ratatui::crossterm::event::KeyCode;
        match &mut self.dialog {
            Some(Dialog::Help { scroll }) => {
                if !crate::tui::dialogs::scroll_key(scroll, &key, 10) {
                    self.dialog = None;
                }
                return Vec::new();
            }
            Some(Dialog::ConfirmStop(place)) => {
                let place = place.clone();
                self.dialog = None;
                return match key.code {
                    KeyCode::Char('y') | KeyCode::Enter => vec![Effect::Stop(place)],
                    _ => {
                        self.notice("the loop goes on");
                        Vec::new()
                    }
                };
            }
            None => {}
        }
        let Some(action) = keys::lookup(&key) else { return Vec::new() };
        let order = self.order();
        let at = self.cursor(&order);
        let select = |app: &mut Self, i: usize| {
            if let Some(&index) = order.get(i) {
                app.selected = Some(app.places[index].clone());
            }
        };
        let current = order.get(at).map(|&i| self.places[i].clone());
        // From the first key on, the selection stays on its project as rows move.
        if self.selected.is_none() {
            self.selected.clone_from(&current);
        }
        match action {
            Action::Down => select(self, (at + 1).min(order.len().saturating_sub(1))),
            Action::Up => select(self, at.saturating_sub(1)),
            Action::Top => select(self, 0),
            Action::Bottom => select(self, order.len().saturating_sub(1)),
            Action::NextWaiting => {
                let waits = |i: &usize| self.rows[*i].as_ref().is_some_and(|r| r.state.needs_operator());
                let next = (1..=order.len()).map(|k| (at + k) % order.len()).find(|k| waits(&order[*k]));
                match next {
                    Some(k) => select(self, k),
                    None => self.notice("nothing waits for you"),
                }
            }
            Action::Help => self.dialog = Some(Dialog::Help { scroll: 0 }),
            Action::Quit => return vec![Effect::Quit],
            Action::Open => return current.into_iter().map(Effect::Open).collect(),
            Action::Start => return current.into_iter().map(Effect::Start).collect(),
            Action::Pause => return current.into_iter().map(Effect::Pause).collect(),
            Action::Stop => match current {
                Some(place) if self.row_of(&place).is_some_and(|r| r.loop_pid.is_some()) => {
                    self.dialog = Some(Dialog::ConfirmStop(place));
                }
                Some(place) => self.notice(format!("{}: no loop runs there", place.name())),
                None => {}
            },
        }
        Vec::new()
    }

    fn title(&self) -> String {
        let running = self.rows.iter().flatten().filter(|r| matches!(r.state, State::Running { .. })).count();
        let cap = if self.max == 0 { String::new() } else { format!(" (at most {})", self.max) };
        let waiting = match self.waiting() {
            0 => "nothing waits for you".to_owned(),
            1 => "1 waits for you".to_owned(),
            n => format!("{n} wait for you"),
        };
        format!(
            " baton fleet · {} · {waiting} · {running} running{cap} ",
            crate::words::count(self.places.len() as u64, "project")
        )
    }

    fn state_style(&self, state: &State) -> Style {
        let t = &self.theme;
        match state {
            State::Review { .. } | State::Question { .. } => t.warn(),
            State::Tripped { .. } | State::Error { .. } => t.fail(),
            State::Running { .. } => t.accent(),
            State::Done => t.pass(),
            _ => t.dim(),
        }
    }

    pub fn render(&mut self, f: &mut Frame, now: Timestamp) {
        let area = f.area();
        let [list, detail, foot] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(4), Constraint::Length(1)]).areas(area);
        let block = frame(self.title(), true, &self.theme);
        let inner = block.inner(list);
        f.render_widget(block, list);
        let order = self.order();
        let at = self.cursor(&order);
        self.height = inner.height as usize;
        scroll_into_view(&mut self.offset, at, self.height);
        let cols = self.columns(inner.width as usize);
        let lines: Vec<Line> = order
            .iter()
            .enumerate()
            .skip(self.offset)
            .take(self.height)
            .map(|(k, &i)| self.line(i, k == at, &cols, inner.width as usize, now))
            .collect();
        if self.places.is_empty() {
            let empty =
                "The fleet is empty: `baton fleet add DIR...` adds projects, then `baton fleet run` starts them.";
            f.render_widget(
                Paragraph::new(led(("", self.theme.dim()), empty, inner.width as usize, self.theme.dim())),
                inner,
            );
        } else {
            f.render_widget(Paragraph::new(lines), inner);
        }
        self.render_detail(f, detail, order.get(at).copied(), now);
        let (text, style) = match &self.notice {
            Some(n) => (n.clone(), self.theme.text()),
            None => (keys::HINTS.to_owned(), self.theme.dim()),
        };
        f.render_widget(Paragraph::new(Line::styled(crate::words::clip(&text, foot.width as usize), style)), foot);
        match &mut self.dialog {
            Some(Dialog::Help { scroll }) => {
                let r = centered(area, 80, 80);
                let width = r.width.saturating_sub(2) as usize;
                let mut lines = Vec::new();
                for b in keys::BINDINGS {
                    let lead = format!("  {:<10}", b.keys.join(" "));
                    lines.extend(led((&lead, self.theme.warn()), b.help, width, self.theme.text()));
                }
                // As tall as what it says, when that fits.
                let height = (lines.len() as u16 + 2).min(r.height);
                let r = Rect { y: area.y + (area.height - height) / 2, height, ..r };
                f.render_widget(Clear, r);
                let block = boxed(" Fleet · keys · Esc closes ".into(), &self.theme);
                let inner = block.inner(r);
                f.render_widget(block, r);
                scrolled(f, inner, lines, scroll, &self.theme);
            }
            Some(Dialog::ConfirmStop(place)) => {
                let r = centered(area, 60, 20);
                let r = Rect { height: r.height.min(6), ..r };
                f.render_widget(Clear, r);
                let block = boxed(format!(" Stop {}'s loop? ", place.name()), &self.theme);
                let inner = block.inner(r);
                f.render_widget(block, r);
                let text = "Its loop ends now; a session that runs is stopped and recorded as interrupted, and its work goes to review. y stops · n or Esc lets it go on";
                f.render_widget(
                    Paragraph::new(led(("", self.theme.text()), text, inner.width as usize, self.theme.text())),
                    inner,
                );
            }
            None => {}
        }
    }

    /// The widths of the list's columns at `width`, from what the rows hold.
    fn columns(&self, width: usize) -> Columns {
        let rows = self.rows.iter().flatten();
        let name = self.places.iter().map(|p| p.name().width()).max().unwrap_or(4).clamp(4, 18);
        let features = rows.clone().map(|r| features(r).width()).max().unwrap_or(1).max(3);
        let cost = rows.map(|r| format!("${:.2}", r.cost_usd).width()).max().unwrap_or(5);
        // mark, name, word, clock, what, features, gauge, cost: one space between.
        let fixed = 2 + name + 1 + 8 + 1 + 7 + 1 + 1 + features + 1 + 6 + 1 + cost;
        let rest = width.saturating_sub(fixed);
        let (what, last) = if width >= 110 { (rest.min(40), rest.saturating_sub(rest.min(40) + 2)) } else { (rest, 0) };
        Columns { name, features, cost, what, last }
    }

    /// Project `i`'s line: mark, name, state, its clock, what it is doing, features with a gauge,
    /// cost, and on a wide screen the last thing that happened.
    fn line(&self, i: usize, selected: bool, cols: &Columns, width: usize, now: Timestamp) -> Line<'static> {
        let t = &self.theme;
        let name = pad(&self.places[i].name(), cols.name);
        let Some(r) = &self.rows[i] else {
            return Line::from(vec![Span::raw(format!("  {name} ")), Span::styled("reading…", t.dim())]);
        };
        let mark = if r.state.needs_operator() { Span::styled("! ", t.warn()) } else { Span::raw("  ") };
        let gauge = match r.features {
            Some(c) if c.total > 0 => {
                let filled = (c.passing * 6).div_ceil(c.total).min(6);
                format!("{}{}", "▓".repeat(filled), "░".repeat(6 - filled))
            }
            _ => " ".repeat(6),
        };
        let clock = r.state.clock(now).unwrap_or_default();
        let mut spans = vec![
            mark,
            Span::styled(format!("{name} "), t.text().add_modifier(ratatui::style::Modifier::BOLD)),
            Span::styled(format!("{} ", pad(r.state.label(), 8)), self.state_style(&r.state)),
            Span::styled(format!("{clock:>7} "), t.dim()),
            Span::raw(format!("{} ", pad(&r.state.what(), cols.what))),
            Span::raw(format!("{:>w$} ", features(r), w = cols.features)),
            Span::styled(format!("{gauge} "), t.pass()),
            Span::raw(format!("{:>w$}", format!("${:.2}", r.cost_usd), w = cols.cost)),
        ];
        if cols.last > 8
            && let Some(h) = &r.last
        {
            // How long ago first, whole and aligned; then what, cut to fit.
            let text = format!("{:>4}  {}", row::ago(h.at, now), h.what);
            spans.push(Span::styled(format!("  {}", crate::words::clip(&text, cols.last)), t.dim()));
        }
        if selected {
            // The whole line, to its end, in reverse.
            let used: usize = spans.iter().map(|s| s.content.width()).sum();
            spans.push(Span::raw(" ".repeat(width.saturating_sub(used))));
            spans.iter_mut().for_each(|s| s.style = s.style.patch(t.selected()));
        }
        Line::from(spans)
    }

    fn render_detail(&self, f: &mut Frame, area: Rect, index: Option<usize>, now: Timestamp) {
        let Some(i) = index else {
            f.render_widget(frame(" no project ".into(), false, &self.theme), area);
            return;
        };
        let place = &self.places[i];
        let block = frame(format!(" {} · {place} ", place.name()), false, &self.theme);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let width = inner.width as usize;
        let lines = match &self.rows[i] {
            None => vec![Line::styled("reading its journal…", self.theme.dim())],
            Some(r) => {
                let pid = r.loop_pid.map_or("no loop runs".to_owned(), |p| format!("loop pid {p}"));
                let state = format!("{} · {pid}", r.state.describe(now));
                let last = r.last.as_ref().map_or("nothing has happened yet".to_owned(), |h| {
                    format!("last: {} · {} ago", h.what, row::ago(h.at, now)).replace("now ago", "just now")
                });
                vec![
                    Line::styled(crate::words::clip(&state, width), self.state_style(&r.state)),
                    Line::styled(crate::words::clip(&last, width), self.theme.dim()),
                ]
            }
        };
        f.render_widget(Paragraph::new(lines), inner);
    }
}

/// The widths of the list's flexible columns.
struct Columns {
    name: usize,
    features: usize,
    cost: usize,
    what: usize,
    last: usize,
}

fn features(r: &Row) -> String {
    r.features.filter(|c| c.total > 0).map_or("-".into(), |c| format!("{}/{}", c.passing, c.total))
}

/// `text` clipped or padded to `width` columns.
fn pad(text: &str, width: usize) -> String {
    let clipped = crate::words::clip(text, width);
    let w = clipped.width();
    format!("{clipped}{}", " ".repeat(width.saturating_sub(w)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn app(states: Vec<(&str, State, Option<u32>)>) -> FleetApp {
        let places: Vec<Place> = states.iter().map(|(n, ..)| Place::Local(format!("/f/{n}").into())).collect();
        let mut app = FleetApp::new(Theme { color: false }, places.clone(), 2);
        for (index, ((name, state, pid), place)) in states.into_iter().zip(places).enumerate() {
            let row = Row { place, name: name.into(), state, features: None, cost_usd: 0.0, last: None, loop_pid: pid };
            app.update(Update { index, row, happened: Vec::new() });
        }
        app
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn tab_goes_to_each_project_that_waits_and_the_selection_stays_on_its_project() {
        let mut app = app(vec![
            ("idle", State::Idle { waiting_for_n: false }, None),
            ("review", State::Review { session: 1, since: at(10) }, Some(7)),
            ("error", State::Error { detail: "x".into(), since: None }, None),
        ]);
        assert_eq!(app.current().map(Place::name).as_deref(), Some("review"), "what waits is at the top");
        assert_eq!(app.waiting(), 2);
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.current().map(Place::name).as_deref(), Some("error"));
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.current().map(Place::name).as_deref(), Some("review"), "round again");
        // The review is decided elsewhere: the row moves down, the selection goes with it.
        let place = Place::Local("/f/review".into());
        let row = Row {
            place,
            name: "review".into(),
            state: State::Done,
            features: None,
            cost_usd: 0.0,
            last: None,
            loop_pid: None,
        };
        app.update(Update { index: 1, row, happened: Vec::new() });
        assert_eq!(app.current().map(Place::name).as_deref(), Some("review"));
        assert_eq!(app.on_key(key(KeyCode::Enter)), vec![Effect::Open(Place::Local("/f/review".into()))]);
    }

    #[test]
    fn stopping_a_loop_asks_first_and_a_project_without_one_says_so() {
        let mut app = app(vec![
            (
                "running",
                State::Running { session: 3, kind: crate::project::session::SessionKind::Coding, since: at(1) },
                Some(42),
            ),
            ("idle", State::Idle { waiting_for_n: false }, None),
        ]);
        assert!(app.on_key(key(KeyCode::Char('x'))).is_empty(), "asks first");
        assert!(app.on_key(key(KeyCode::Char('n'))).is_empty(), "n keeps it running");
        app.on_key(key(KeyCode::Char('x')));
        let running = Place::Local("/f/running".into());
        assert_eq!(app.on_key(key(KeyCode::Char('y'))), vec![Effect::Stop(running.clone())]);
        assert_eq!(app.on_key(key(KeyCode::Char('p'))), vec![Effect::Pause(running)]);
        app.on_key(key(KeyCode::Char('j')));
        assert!(app.on_key(key(KeyCode::Char('x'))).is_empty());
        assert_eq!(app.notice.as_deref(), Some("idle: no loop runs there"));
        assert_eq!(app.on_key(key(KeyCode::Char('s'))), vec![Effect::Start(Place::Local("/f/idle".into()))]);
        assert_eq!(app.on_key(key(KeyCode::Char('q'))), vec![Effect::Quit]);
    }
}
