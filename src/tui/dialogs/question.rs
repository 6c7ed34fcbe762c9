//! A question from a session: may this command run? The command exactly as the agent wrote it
//! (every line, long words broken, nothing joined), the program the allowlist lacks marked, where
//! it runs, the session and the agent's latest words. It scrolls like the review and says what is
//! below; `a` allows it once and `A` always (its programs join the project's allowlist) only once
//! the whole command has been on screen; `d` denies it with a message the agent reads. The session
//! waits meanwhile; Esc hides the dialog, `!` brings it back.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::reason::Reason;
use super::{boxed, centered, scrolled, wrapped};
use crate::tui::theme::Theme;

#[derive(Debug, Clone, PartialEq)]
pub struct QuestionView {
    pub number: u32,
    pub session: u32,
    pub tool: String,
    pub command: String,
    pub reason: String,
    pub cwd: String,
    pub words: String,
}

pub struct QuestionDialog {
    pub question: QuestionView,
    /// The message of a denial being typed, when `d` was pressed.
    pub deny: Option<Reason>,
    pub error: Option<String>,
    pub scroll: usize,
    page: usize,
    /// Lines of the command not yet on screen (0 once every line has been shown).
    unseen: usize,
    /// Every line of the command has been on screen: the allow keys work.
    pub seen_whole: bool,
    /// The question was answered elsewhere while a denial was typed here: what happened.
    pub answered_elsewhere: Option<String>,
}

/// Columns before each line of the command: `  $ ` on its first line, a mark where a line holds a
/// program the question is about.
const GUTTER: usize = 4;

impl QuestionDialog {
    pub fn new(question: QuestionView) -> Self {
        QuestionDialog {
            question,
            deny: None,
            error: None,
            scroll: 0,
            page: 10,
            unseen: usize::MAX,
            seen_whole: false,
            answered_elsewhere: None,
        }
    }

    pub fn start_deny(&mut self) {
        self.deny = Some(Reason::new("what the agent should do instead", " Why not? The agent reads it "));
        self.error = None;
    }

    pub fn page(&self) -> usize {
        self.page
    }

    /// Why an allow key is refused now, if it is: part of the command was never on screen.
    pub fn unread(&self) -> Option<String> {
        if self.seen_whole {
            return None;
        }
        Some(match self.unseen {
            usize::MAX => "read the command first".to_owned(),
            n => format!(
                "{} of the command not read yet: scroll down (j, PgDn, G) to see all of it before allowing it",
                crate::words::count(n as u64, "line")
            ),
        })
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, waiting: usize, theme: &Theme) {
        let r = centered(area, 80, 70);
        f.render_widget(Clear, r);
        let q = &self.question;
        let more = if waiting > 1 { format!(" · {} more waiting", waiting - 1) } else { String::new() };
        let block = boxed(format!(" Question {} · session {} asks{more} ", q.number, q.session), theme);
        let inner = block.inner(r);
        f.render_widget(block, r);
        let w = inner.width as usize;
        let mut body = vec![Line::styled(
            format!("May it run this {}?", if q.tool.eq_ignore_ascii_case("bash") { "command" } else { "call" }),
            theme.accent(),
        )];
        let command = command_lines(&q.command, &programs(&q.reason), w, theme);
        let command_end = body.len() + command.len();
        body.extend(command);
        body.push(Line::raw(""));
        body.extend(wrapped("", &format!("{}: the policy cannot decide it alone.", q.reason), w, theme.warn()));
        body.extend(wrapped("in ", &q.cwd, w, theme.dim()));
        if !q.words.is_empty() {
            body.push(Line::raw(""));
            body.push(Line::styled("The agent's latest words", theme.accent()));
            let words: String = q.words.chars().rev().take(400).collect::<Vec<_>>().into_iter().rev().collect();
            body.extend(wrapped("  ", &words, w, theme.dim()));
        }
        let deny_h = if self.deny.is_some() { Reason::height(inner.height) } else { 0 };
        let layout = |error: &[Line]| {
            Layout::vertical([
                Constraint::Min(1),
                Constraint::Length(deny_h),
                Constraint::Length(error.len() as u16),
                Constraint::Length(1),
            ])
            .areas::<4>(inner)
        };
        let notice = self.answered_elsewhere.as_deref().or(self.error.as_deref());
        let mut error: Vec<Line> = notice.map(|e| wrapped("✗ ", e, w, theme.fail())).unwrap_or_default();
        // Once every line of the command is on screen it has been read: said in this very frame.
        let unseen = |body_h: u16| command_end.saturating_sub(shown_to(body.len(), body_h as usize, self.scroll));
        if unseen(layout(&error)[0].height) == 0 && self.error.is_some() && self.unread().is_some() {
            self.error = None;
            error = self.answered_elsewhere.as_deref().map(|e| wrapped("✗ ", e, w, theme.fail())).unwrap_or_default();
        }
        let [body_area, deny_area, error_area, keys] = layout(&error);
        self.unseen = unseen(body_area.height);
        if self.unseen == 0 && body_area.height > 0 {
            self.seen_whole = true;
        }
        self.page = scrolled(f, body_area, body, &mut self.scroll, theme);
        if let Some(reason) = self.deny.as_mut() {
            reason.render(f, deny_area, theme);
        }
        f.render_widget(Paragraph::new(error), error_area);
        let key = |k: &'static str, what: &'static str| [Span::styled(k, theme.warn()), Span::raw(what)];
        let hints: Vec<Span> = if self.answered_elsewhere.is_some() {
            key("Esc", " close").to_vec()
        } else if self.deny.is_some() {
            [key("Enter", " deny  "), key("Esc", " back")].concat()
        } else if !self.seen_whole {
            [key("j/PgDn/G", " read the rest first  "), key("d", " deny  "), key("Esc", " hide")].concat()
        } else {
            [key("a", " allow once  "), key("A", " allow always  "), key("d", " deny  "), key("Esc", " hide")].concat()
        };
        f.render_widget(Paragraph::new(Line::from(hints)), keys);
    }
}

/// How many of `total` lines are on screen, from the top, in a body `height` lines high scrolled to
/// `scroll`, as [`scrolled`] draws them (a page, with a last line saying what is below).
fn shown_to(total: usize, height: usize, scroll: usize) -> usize {
    if total <= height {
        return total;
    }
    let page = height.saturating_sub(1).max(1);
    scroll.min(total - page) + page
}

/// The programs a question's reason names (between backticks).
fn programs(reason: &str) -> Vec<&str> {
    reason.split('`').skip(1).step_by(2).collect()
}

/// Whether `word` runs one of `programs` (`factor`, `/usr/bin/factor`, `(factor`).
fn runs(word: &str, programs: &[&str]) -> bool {
    let bare = word.trim_matches(|c: char| "()[]{};&|<>'\"`$".contains(c));
    programs.iter().any(|p| !p.is_empty() && (bare == *p || bare.ends_with(&format!("/{p}"))))
}

/// The command as written: each of its lines on lines of its own, wrapped at spaces to `width`
/// and a word wider than that broken, after a gutter that starts the first line with `$`, the
/// continuation of a line too long for the box with `↪`, and marks (`▶`) each line holding a
/// program the question is about, which is drawn in the warning style.
pub fn command_lines(command: &str, programs: &[&str], width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let room = width.saturating_sub(GUTTER).max(8);
    // Rows of (text, runs a program) pieces.
    let mut rows: Vec<(Vec<(String, bool)>, bool)> = Vec::new();
    for line in command.replace('\t', "    ").split('\n') {
        let mut row: Vec<(String, bool)> = Vec::new();
        let mut used = 0;
        // Rows this line of the command took so far: the later ones are its continuation.
        let mut rows_of_line = 0;
        for (i, word) in line.split(' ').enumerate() {
            let w = word.width();
            let hot = runs(word, programs);
            if i > 0 {
                // The space is where a line that does not fit is broken; elsewhere it is kept.
                if used > 0 && used + 1 + w > room && (w <= room || used + 1 >= room) {
                    rows.push((std::mem::take(&mut row), rows_of_line > 0));
                    rows_of_line += 1;
                    used = 0;
                } else {
                    row.push((" ".to_owned(), false));
                    used += 1;
                }
            }
            if used + w <= room {
                row.push((word.to_owned(), hot));
                used += w;
                continue;
            }
            // Wider than what is left of the line: broken where the line is full.
            let mut piece = String::new();
            for ch in word.chars() {
                let cw = ch.width().unwrap_or(0);
                if used + cw > room {
                    row.push((std::mem::take(&mut piece), hot));
                    rows.push((std::mem::take(&mut row), rows_of_line > 0));
                    rows_of_line += 1;
                    used = 0;
                }
                piece.push(ch);
                used += cw;
            }
            row.push((piece, hot));
        }
        rows.push((row, rows_of_line > 0));
    }
    rows.into_iter()
        .enumerate()
        .map(|(i, (row, continued))| {
            let hot = row.iter().any(|(_, h)| *h);
            // `$` starts the command, `↪` a line's continuation where it was too long for the box.
            let sign = match (i == 0, continued) {
                (true, _) => "$",
                (false, true) => "↪",
                (false, false) => " ",
            };
            let gutter = format!("{} {sign} ", if hot { "▶" } else { " " });
            let mut spans = vec![Span::styled(gutter, if hot { theme.warn() } else { theme.dim() })];
            spans.extend(row.into_iter().map(|(t, h)| Span::styled(t, if h { theme.warn() } else { theme.text() })));
            Line::from(spans)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn every_line_of_the_command_is_kept_long_words_are_broken_and_the_program_is_marked() {
        let theme = Theme { color: false };
        let command = "# one\n# two\nfactor 84 && rm -rf build/cache";
        let lines = text(&command_lines(command, &["factor"], 24, &theme));
        assert_eq!(lines, ["  $ # one", "    # two", "▶   factor 84 && rm -rf", "  ↪ build/cache"]);
        let url = "curl -s https://pubs.opengroup.org/onlinepubs/9699919799/utilities/sort.html";
        let lines = text(&command_lines(url, &["curl"], 30, &theme));
        let rejoined: String = lines.iter().map(|l| l.chars().skip(GUTTER).collect::<String>()).collect();
        assert_eq!(rejoined, url);
        assert!(lines.iter().all(|l| l.width() <= 30), "{lines:?}");
        assert!(lines.last().unwrap().ends_with("sort.html"), "{lines:?}");
    }
}
