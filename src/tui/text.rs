//! Wrapping text to a width, by display columns.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Greedy word wrap of `text` (which may hold newlines) to `width` columns. Words longer than
/// the width are cut. An empty text is one empty line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        let mut col = 0;
        for word in para.split_inclusive(' ') {
            let w = word.width();
            if col + w.saturating_sub(usize::from(word.ends_with(' '))) > width && col > 0 {
                out.push(std::mem::take(&mut line).trim_end().to_owned());
                col = 0;
            }
            if w > width {
                for ch in word.chars() {
                    let cw = ch.width().unwrap_or(0);
                    if col + cw > width {
                        out.push(std::mem::take(&mut line));
                        col = 0;
                    }
                    line.push(ch);
                    col += cw;
                }
            } else {
                line.push_str(word);
                col += w;
            }
        }
        out.push(line.trim_end().to_owned());
    }
    out
}

/// `text` cut to `width` columns, with an ellipsis when cut.
pub fn clip(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut col = 0;
    for ch in text.chars() {
        let cw = ch.width().unwrap_or(0);
        if col + cw + 1 > width {
            break;
        }
        out.push(ch);
        col += cw;
    }
    out.push('…');
    out
}

/// `text` in spans, the parts that match `needle` (lower case) in `hit`, the rest in `style`.
pub fn hit_spans(
    text: &str,
    needle: &str,
    style: ratatui::style::Style,
    hit: ratatui::style::Style,
) -> Vec<ratatui::text::Span<'static>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let len = needle.chars().count();
    let mut spans = Vec::new();
    let (mut from, mut i) = (0, 0);
    while i + len <= chars.len() {
        let start = chars[i].0;
        let end = chars.get(i + len).map_or(text.len(), |c| c.0);
        if text[start..end].to_lowercase() == needle {
            if start > from {
                spans.push(ratatui::text::Span::styled(text[from..start].to_owned(), style));
            }
            spans.push(ratatui::text::Span::styled(text[start..end].to_owned(), hit));
            from = end;
            i += len.max(1);
        } else {
            i += 1;
        }
    }
    if from < text.len() || spans.is_empty() {
        spans.push(ratatui::text::Span::styled(text[from..].to_owned(), style));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_words_and_cuts_long_ones() {
        assert_eq!(wrap("the quick brown fox", 10), vec!["the quick", "brown fox"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a\n\nb", 5), vec!["a", "", "b"]);
        assert_eq!(wrap("", 5), vec![""]);
        assert_eq!(clip("hello world", 6), "hello…");
        assert_eq!(clip("hi", 6), "hi");
    }

    #[test]
    fn only_the_matches_are_hits_whatever_their_case() {
        let (plain, hit) = (ratatui::style::Style::new(), ratatui::style::Style::new().bold());
        let spans = hit_spans("Notes first, then the notes", "notes", plain, hit);
        let parts: Vec<(&str, bool)> = spans.iter().map(|s| (s.content.as_ref(), s.style == hit)).collect();
        assert_eq!(parts, [("Notes", true), (" first, then the ", false), ("notes", true)]);
    }
}
