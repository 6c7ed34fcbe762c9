//! The key map: one table that the handlers dispatch from and the help screen is drawn from, so
//! the two never drift apart.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Features,
    Transcript,
    GitLog,
    Progress,
    Search,
    Review,
    Question,
    Tripped,
    Editor,
    Dialog,
}

impl Scope {
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Features => "Features",
            Scope::Transcript => "Transcript",
            Scope::GitLog => "Git log",
            Scope::Progress => "Progress",
            Scope::Search => "Transcript, after a search",
            Scope::Review => "Review",
            Scope::Question => "A session's question",
            Scope::Tripped => "The circuit breaker tripped",
            Scope::Editor => "Feature editor",
            Scope::Dialog => "Help, diff, messages and other pages",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    FocusNext,
    FocusPrev,
    Zoom,
    NextSession,
    ToggleContinuous,
    Pause,
    Interrupt,
    ShowReview,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Mark,
    Filter,
    Expand,
    Search,
    SearchNext,
    SearchPrev,
    PickSession,
    LiveSession,
    Approve,
    Veto,
    Diff,
    Close,
    Edit,
    Add,
    Save,
    Detail,
    Messages,
    EndSearch,
    ShowQuestion,
    AllowOnce,
    AllowAlways,
    Deny,
    Skip,
    Note,
    Stats,
}

pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [&'static str],
    pub action: Action,
    pub help: &'static str,
}

const fn b(scope: Scope, keys: &'static [&'static str], action: Action, help: &'static str) -> Binding {
    Binding { scope, keys, action, help }
}

pub const BINDINGS: &[Binding] = &[
    b(Scope::Global, &["n"], Action::NextSession, "start the next session (step mode)"),
    b(Scope::Global, &["c"], Action::ToggleContinuous, "toggle continuous mode (kept for the next start)"),
    b(Scope::Global, &["p"], Action::Pause, "pause after the current session (p again takes it back)"),
    b(Scope::Global, &["x"], Action::Interrupt, "interrupt the running session (asks first)"),
    b(Scope::Global, &["r"], Action::ShowReview, "show the review waiting for a verdict"),
    b(Scope::Global, &["!"], Action::ShowQuestion, "show the question a session waits on"),
    b(Scope::Global, &["Tab"], Action::FocusNext, "focus the next pane"),
    b(Scope::Global, &["S-Tab"], Action::FocusPrev, "focus the previous pane"),
    b(Scope::Global, &["z"], Action::Zoom, "zoom the focused pane full screen (z again: all four)"),
    b(Scope::Global, &["m"], Action::Messages, "every message the status line showed, with its time"),
    b(Scope::Global, &["$"], Action::Stats, "the run's numbers: cost per feature, vetoes, limits, sparklines"),
    b(Scope::Global, &["?"], Action::Help, "this help"),
    b(Scope::Global, &["q", "C-c"], Action::Quit, "quit (asks first while a session runs); C-c from any dialog too"),
    b(Scope::Features, &["j", "Down"], Action::Down, "next feature"),
    b(Scope::Features, &["k", "Up"], Action::Up, "previous feature"),
    b(Scope::Features, &["g", "Home"], Action::Top, "first feature"),
    b(Scope::Features, &["G", "End"], Action::Bottom, "last feature"),
    b(Scope::Features, &["Enter"], Action::Detail, "the feature in full: description and steps"),
    b(Scope::Features, &["Space"], Action::Mark, "mark passing / failing (queued while a session runs)"),
    b(Scope::Features, &["f"], Action::Filter, "filter: all, failing, passing"),
    b(Scope::Features, &["e"], Action::Edit, "edit the feature (queued while a session runs)"),
    b(Scope::Features, &["a"], Action::Add, "add a feature at the end"),
    b(Scope::Transcript, &["j", "Down"], Action::Down, "next entry (stops following)"),
    b(Scope::Transcript, &["k", "Up"], Action::Up, "previous entry (stops following)"),
    b(Scope::Transcript, &["PageDown", "C-d"], Action::PageDown, "page down"),
    b(Scope::Transcript, &["PageUp", "C-u"], Action::PageUp, "page up"),
    b(Scope::Transcript, &["g", "Home"], Action::Top, "first entry"),
    b(Scope::Transcript, &["G", "End"], Action::Bottom, "last entry, and follow"),
    b(Scope::Transcript, &["Enter"], Action::Expand, "expand or fold a tool call: the command as written, its output"),
    b(Scope::Transcript, &["/"], Action::Search, "search (Enter searches, Esc cancels); the title says match N of M"),
    b(Scope::Transcript, &["s"], Action::PickSession, "read a past session's transcript"),
    b(Scope::Transcript, &["L"], Action::LiveSession, "back to the live session"),
    b(Scope::Search, &["n"], Action::SearchNext, "next match"),
    b(Scope::Search, &["N"], Action::SearchPrev, "previous match"),
    b(Scope::Search, &["Esc"], Action::EndSearch, "end the search: n starts sessions again"),
    b(Scope::GitLog, &["j", "Down"], Action::Down, "next commit"),
    b(Scope::GitLog, &["k", "Up"], Action::Up, "previous commit"),
    b(Scope::GitLog, &["g", "Home"], Action::Top, "newest commit"),
    b(Scope::GitLog, &["G", "End"], Action::Bottom, "oldest commit read so far (reads on)"),
    b(Scope::GitLog, &["Enter"], Action::Diff, "the commit's diff"),
    b(Scope::Progress, &["j", "Down"], Action::Down, "scroll down"),
    b(Scope::Progress, &["k", "Up"], Action::Up, "scroll up"),
    b(Scope::Progress, &["g", "Home"], Action::Top, "the start"),
    b(Scope::Progress, &["G", "End"], Action::Bottom, "the end, and follow"),
    b(Scope::Review, &["y"], Action::Approve, "approve: keep the commits"),
    b(Scope::Review, &["v"], Action::Veto, "veto: reset to the base, with a reason (Enter vetoes)"),
    b(Scope::Review, &["d"], Action::Diff, "the session's full diff (Esc comes back here)"),
    b(Scope::Review, &["j", "k"], Action::Down, "scroll (also Up, Down, PageUp, PageDown, g, G)"),
    b(Scope::Review, &["Esc"], Action::Close, "hide the review (r shows it again)"),
    b(Scope::Review, &["q", "c", "p", "?"], Action::Help, "quit, continuous, pause and help work here too"),
    b(Scope::Question, &["a"], Action::AllowOnce, "allow the command this once (once all of it has been on screen)"),
    b(Scope::Question, &["A"], Action::AllowAlways, "allow it always: its programs join [policy] allow"),
    b(Scope::Question, &["d"], Action::Deny, "deny it, with a message the agent reads (Enter denies)"),
    b(Scope::Question, &["j", "k"], Action::Down, "scroll (also PageDown, PageUp, g, G): read the whole command"),
    b(Scope::Question, &["Esc"], Action::Close, "hide the question (! shows it again)"),
    b(Scope::Tripped, &["s"], Action::Skip, "skip the feature for now: it moves to the end of the list"),
    b(Scope::Tripped, &["o"], Action::Note, "hand the next session a note (Enter gives it)"),
    b(Scope::Tripped, &["e"], Action::Edit, "edit the feature the run is stuck on"),
    b(Scope::Tripped, &["n"], Action::NextSession, "go on as it is"),
    b(Scope::Tripped, &["Esc"], Action::Close, "hide this; the run stays paused"),
    b(Scope::Editor, &["C-s"], Action::Save, "save the feature"),
    b(Scope::Editor, &["Esc"], Action::Close, "cancel"),
    b(Scope::Editor, &["arrows", "Enter", "Backspace"], Action::Down, "move, new line, delete: a plain text editor"),
    b(Scope::Editor, &["C-z", "C-y"], Action::Up, "undo, redo"),
    b(Scope::Dialog, &["j", "k", "PageDown", "PageUp"], Action::Down, "scroll (g, G: top, end)"),
    b(Scope::Dialog, &["r"], Action::ShowReview, "to the waiting review"),
    b(Scope::Dialog, &["Esc", "q", "?"], Action::Close, "close"),
];

/// The scopes whose keys [`lookup`] dispatches from; the others are listed for the help only, and
/// their dialogs read the keys themselves.
const DISPATCHED: [Scope; 6] =
    [Scope::Global, Scope::Features, Scope::Transcript, Scope::Search, Scope::GitLog, Scope::Progress];

/// The canonical name of a key press, as the table writes it.
pub fn name(key: &KeyEvent) -> String {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let base = match key.code {
        KeyCode::Char(' ') => "Space".to_owned(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Tab => "Tab".to_owned(),
        KeyCode::BackTab => "S-Tab".to_owned(),
        KeyCode::Enter => "Enter".to_owned(),
        KeyCode::Esc => "Esc".to_owned(),
        KeyCode::Up => "Up".to_owned(),
        KeyCode::Down => "Down".to_owned(),
        KeyCode::PageUp => "PageUp".to_owned(),
        KeyCode::PageDown => "PageDown".to_owned(),
        KeyCode::Home => "Home".to_owned(),
        KeyCode::End => "End".to_owned(),
        KeyCode::Backspace => "Backspace".to_owned(),
        other => format!("{other:?}"),
    };
    if ctrl { format!("C-{base}") } else { base }
}

/// The action `key` means in `scope` (the scope's own bindings first, then the global ones).
pub fn lookup(scope: Scope, key: &KeyEvent) -> Option<Action> {
    let n = name(key);
    let find = |s: Scope| BINDINGS.iter().find(|b| b.scope == s && b.keys.contains(&n.as_str())).map(|b| b.action);
    if !DISPATCHED.contains(&scope) {
        return find(scope);
    }
    find(scope)
        .or_else(|| if scope == Scope::Search { find(Scope::Transcript) } else { None })
        .or_else(|| find(Scope::Global))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_keys_win_over_global_ones_and_every_key_is_unique_in_its_scope() {
        let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(lookup(Scope::Features, &key(' ')), Some(Action::Mark));
        assert_eq!(lookup(Scope::Transcript, &key('G')), Some(Action::Bottom));
        assert_eq!(lookup(Scope::Features, &key('n')), Some(Action::NextSession));
        assert_eq!(lookup(Scope::Review, &key('n')), None, "a dialog takes only its own keys");
        assert_eq!(lookup(Scope::Search, &key('n')), Some(Action::SearchNext), "n is the next match in a search");
        assert_eq!(lookup(Scope::Transcript, &key('n')), Some(Action::NextSession), "and the next session outside one");
        assert_eq!(lookup(Scope::Search, &key('G')), Some(Action::Bottom), "a search keeps the transcript's keys");
        for (i, a) in BINDINGS.iter().enumerate() {
            for bb in &BINDINGS[i + 1..] {
                if a.scope == bb.scope && DISPATCHED.contains(&a.scope) {
                    assert!(a.keys.iter().all(|k| !bb.keys.contains(k)), "{:?} bound twice", a.keys);
                }
            }
        }
    }
}
