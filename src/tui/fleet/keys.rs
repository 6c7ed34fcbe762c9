//! The fleet screen's keys: one table the handler dispatches from and the help is drawn from.

use ratatui::crossterm::event::KeyEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Down,
    Up,
    Top,
    Bottom,
    Open,
    NextWaiting,
    Start,
    Pause,
    Stop,
    Help,
    Quit,
}

pub struct Binding {
    pub keys: &'static [&'static str],
    pub action: Action,
    pub help: &'static str,
}

const fn b(keys: &'static [&'static str], action: Action, help: &'static str) -> Binding {
    Binding { keys, action, help }
}

pub const BINDINGS: &[Binding] = &[
    b(&["j", "Down"], Action::Down, "next project"),
    b(&["k", "Up"], Action::Up, "previous project"),
    b(&["g", "Home"], Action::Top, "first project"),
    b(&["G", "End"], Action::Bottom, "last project"),
    b(
        &["Enter"],
        Action::Open,
        "open the project's full screen (attached to its loop, or running it); Esc or q there comes back",
    ),
    b(
        &["Tab"],
        Action::NextWaiting,
        "the next project that waits for you (a review, a question, the breaker, an error)",
    ),
    b(&["s"], Action::Start, "start the project's loop (its own process; it goes on when this screen closes)"),
    b(&["p"], Action::Pause, "pause the project's loop after its session (after the verdict, when a review waits)"),
    b(&["x"], Action::Stop, "stop the project's loop now: the session is recorded as interrupted (asks first)"),
    b(&["?"], Action::Help, "this help"),
    b(&["q", "C-c"], Action::Quit, "quit (the loops go on)"),
];

/// The action `key` means on the fleet's list.
pub fn lookup(key: &KeyEvent) -> Option<Action> {
    let name = crate::tui::keys::name(key);
    BINDINGS.iter().find(|b| b.keys.contains(&name.as_str())).map(|b| b.action)
}

/// The keys shown at the foot of the list.
pub const HINTS: &str = "Enter open · Tab next waiting · s start · p pause · x stop · ? help · q quit";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_means_one_thing() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for other in &BINDINGS[i + 1..] {
                assert!(a.keys.iter().all(|k| !other.keys.contains(k)), "{:?} bound twice", a.keys);
            }
        }
    }
}
