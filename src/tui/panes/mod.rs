//! The four panes. Each owns its state, its keys and its drawing.

pub mod entries;
pub mod features;
pub mod gitlog;
pub mod progress;
pub mod transcript;

use ratatui::layout::Rect;
use ratatui::widgets::{Block, BorderType, Borders};

use super::theme::Theme;

/// The frame every pane is drawn in.
pub fn frame<'a>(title: String, focused: bool, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused { BorderType::Thick } else { BorderType::Plain })
        .border_style(theme.border(focused))
        // The border's dim is not the title's: a title both bold and dim draws half one, half the
        // other on terminals that keep one intensity (the README's picture did).
        .title(ratatui::text::Span::styled(title, theme.title(focused).remove_modifier(ratatui::style::Modifier::DIM)))
}

/// Keeps `selected` in view in a list of `len` rows shown `height` at a time.
pub fn scroll_into_view(offset: &mut usize, selected: usize, height: usize) {
    let height = height.max(1);
    if selected < *offset {
        *offset = selected;
    } else if selected >= *offset + height {
        *offset = selected + 1 - height;
    }
}

pub fn inner(area: Rect) -> Rect {
    Rect { x: area.x + 1, y: area.y + 1, width: area.width.saturating_sub(2), height: area.height.saturating_sub(2) }
}
