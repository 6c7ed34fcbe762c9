//! A reason typed in a dialog (a veto's, a denial's): a small text area under the dialog's body.
//! Enter gives it, never empty; Esc goes back to the dialog.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Borders};
use ratatui_textarea::TextArea;

use crate::tui::theme::Theme;

pub struct Reason {
    area: Box<TextArea<'static>>,
    title: &'static str,
}

/// What a key did to the reason.
pub enum Typed {
    /// Esc: back to the dialog, the reason dropped.
    Back,
    /// Enter with nothing typed.
    Empty,
    /// Enter: the reason, trimmed.
    Given(String),
    Typing,
}

impl Reason {
    pub fn new(placeholder: &str, title: &'static str) -> Self {
        let mut area = TextArea::default();
        area.set_placeholder_text(placeholder);
        Reason { area: Box::new(area), title }
    }

    pub fn key(&mut self, key: KeyEvent) -> Typed {
        match key.code {
            KeyCode::Esc => Typed::Back,
            KeyCode::Enter => match self.area.lines().join("\n").trim() {
                "" => Typed::Empty,
                reason => Typed::Given(reason.to_owned()),
            },
            _ => {
                self.area.input(key);
                Typed::Typing
            }
        }
    }

    /// What is typed so far.
    pub fn text(&self) -> String {
        self.area.lines().join("\n")
    }

    /// Its height in a dialog whose inside is `inner` rows high.
    pub fn height(inner: u16) -> u16 {
        5.min(inner.saturating_sub(3))
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, theme: &Theme) {
        self.area.set_block(Block::default().borders(Borders::ALL).border_style(theme.fail()).title(self.title));
        f.render_widget(&*self.area, area);
    }
}
