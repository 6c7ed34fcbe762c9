//! The help page, drawn from the key table the keys are handled from, so the two never drift
//! apart. It wraps at any width and scrolls, saying what is below.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Clear;

use super::{boxed, centered, led, scrolled, wrapped};
use crate::tui::keys::{BINDINGS, Scope};
use crate::tui::theme::Theme;

const SCOPES: [Scope; 11] = [
    Scope::Global,
    Scope::Features,
    Scope::Transcript,
    Scope::Search,
    Scope::GitLog,
    Scope::Progress,
    Scope::Review,
    Scope::Question,
    Scope::Tripped,
    Scope::Editor,
    Scope::Dialog,
];

/// The help's lines at `width`.
pub fn lines(width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let key_w = if width >= 70 { 20 } else { 14 };
    let mut lines = Vec::new();
    for scope in SCOPES {
        lines.push(Line::styled(scope.title(), theme.accent()));
        for b in BINDINGS.iter().filter(|b| b.scope == scope) {
            let keys = b.keys.join(" ");
            if keys.chars().count() + 2 > key_w {
                // A long list of keys gets a line of its own.
                lines.push(Line::styled(format!("  {keys}"), theme.warn()));
                lines.extend(wrapped(&" ".repeat(key_w), b.help, width, theme.text()));
            } else {
                lines.extend(led((&format!("  {keys:<w$}", w = key_w - 2), theme.warn()), b.help, width, theme.text()));
            }
        }
        lines.push(Line::raw(""));
    }
    lines.extend(wrapped("", "mouse: click a pane to focus it and pick a row, wheel to scroll", width, theme.dim()));
    lines
}

pub fn render(f: &mut Frame, area: Rect, scroll: &mut usize, theme: &Theme) {
    let r = centered(area, 80, 90);
    f.render_widget(Clear, r);
    let block = boxed(" Help · j/k scroll · Esc closes ".into(), theme);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let lines = lines(inner.width as usize, theme);
    scrolled(f, inner, lines, scroll, theme);
}
