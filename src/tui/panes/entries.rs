//! A transcript's entries, held compactly. Nearly every entry of a long transcript is one line of
//! the model's text: those lines live end to end in one buffer and an entry is where its line
//! starts and how long it is (16 bytes an entry, no allocation a line). Everything else (tool
//! calls, notices, session headers) is boxed.

use super::transcript::{Entry, ToolEntry};

/// Where a line is in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Text(Span),
    Thinking(Span),
    Other(Box<Entry>),
}

/// One entry as stored: a line of text or thinking (borrowed from the buffer), or anything else.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum View<'a> {
    Text(&'a str),
    Thinking(&'a str),
    Other(&'a Entry),
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Entries {
    text: String,
    slots: Vec<Slot>,
}

impl Entries {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.slots.clear();
    }

    fn span(&self, s: Span) -> &str {
        &self.text[s.start as usize..][..s.len as usize]
    }

    pub fn get(&self, i: usize) -> Option<View<'_>> {
        Some(match self.slots.get(i)? {
            Slot::Text(s) => View::Text(self.span(*s)),
            Slot::Thinking(s) => View::Thinking(self.span(*s)),
            Slot::Other(e) => View::Other(e),
        })
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = View<'_>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    pub fn last(&self) -> Option<View<'_>> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// A span for `text` at the buffer's end; `None` when the buffer is past what a span can
    /// address (4 GiB), and the line is boxed instead.
    fn append(&mut self, text: &str) -> Option<Span> {
        let start = u32::try_from(self.text.len()).ok()?;
        let len = u32::try_from(text.len()).ok()?;
        start.checked_add(len)?;
        self.text.push_str(text);
        Some(Span { start, len })
    }

    pub fn push(&mut self, entry: Entry) {
        let slot = match entry {
            Entry::Text(t) => self.append(&t).map_or_else(|| Slot::Other(Box::new(Entry::Text(t))), Slot::Text),
            Entry::Thinking(t) => {
                self.append(&t).map_or_else(|| Slot::Other(Box::new(Entry::Thinking(t))), Slot::Thinking)
            }
            other => Slot::Other(Box::new(other)),
        };
        self.slots.push(slot);
    }

    /// Adds `more` to the last entry when it is a line of the same kind (`thinking` or not),
    /// else starts a new one.
    pub fn extend_last(&mut self, more: &str, thinking: bool) {
        let end = self.text.len();
        let grows = match self.slots.last() {
            Some(Slot::Text(s)) if !thinking => Some(*s),
            Some(Slot::Thinking(s)) if thinking => Some(*s),
            _ => None,
        };
        // Only the buffer's last line can grow in place; anything else starts over.
        if let Some(s) = grows
            && s.start as usize + s.len as usize == end
            && let Ok(len) = u32::try_from(s.len as usize + more.len())
            && s.start.checked_add(len).is_some()
        {
            self.text.push_str(more);
            if let Some(Slot::Text(last) | Slot::Thinking(last)) = self.slots.last_mut() {
                last.len = len;
            }
            return;
        }
        let boxed_grows = match self.slots.last_mut() {
            Some(Slot::Other(e)) => match e.as_mut() {
                Entry::Text(t) if !thinking => Some(t),
                Entry::Thinking(t) if thinking => Some(t),
                _ => None,
            },
            _ => None,
        };
        if let Some(t) = boxed_grows {
            t.push_str(more);
        } else if thinking {
            self.push(Entry::Thinking(more.to_owned()));
        } else {
            self.push(Entry::Text(more.to_owned()));
        }
    }

    /// Drops the lines of text and thinking at the end; whether there were any.
    pub fn pop_lines(&mut self) -> bool {
        let mut popped = false;
        loop {
            match self.slots.last() {
                Some(Slot::Text(s) | Slot::Thinking(s)) => {
                    let start = s.start as usize;
                    self.slots.pop();
                    self.text.truncate(start);
                }
                Some(Slot::Other(e)) if matches!(e.as_ref(), Entry::Text(_) | Entry::Thinking(_)) => {
                    self.slots.pop();
                }
                _ => return popped,
            }
            popped = true;
        }
    }

    /// The entry at `i` to change, unless it is a line of text.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Entry> {
        match self.slots.get_mut(i)? {
            Slot::Other(e) => Some(e),
            _ => None,
        }
    }

    /// The tool call `id`, looked for among the last `within` entries.
    pub fn tool_mut(&mut self, id: &str, within: usize) -> Option<&mut ToolEntry> {
        self.slots.iter_mut().rev().take(within).find_map(|s| match s {
            Slot::Other(e) => match e.as_mut() {
                Entry::Tool(t) if t.id == id => Some(t.as_mut()),
                _ => None,
            },
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(e: &Entries) -> Vec<String> {
        e.iter()
            .map(|v| match v {
                View::Text(t) => format!("T:{t}"),
                View::Thinking(t) => format!("K:{t}"),
                View::Other(e) => format!("O:{e:?}"),
            })
            .collect()
    }

    #[test]
    fn lines_grow_in_place_and_start_over_after_anything_else() {
        let mut e = Entries::default();
        e.extend_last("Hel", false);
        e.extend_last("lo", false);
        e.extend_last("hmm", true);
        e.extend_last(" ok", true);
        e.push(Entry::Done("d".into()));
        e.extend_last("after", false);
        assert_eq!(texts(&e), ["T:Hello", "K:hmm ok", "O:Done(\"d\")", "T:after"]);
        assert_eq!(std::mem::size_of::<Slot>(), 16);
    }

    #[test]
    fn popping_lines_gives_their_room_back() {
        let mut e = Entries::default();
        e.push(Entry::Text("kept".into()));
        e.push(Entry::Notice { text: "n".into(), error: false });
        e.extend_last("cut off", false);
        e.extend_last("thinking", true);
        assert!(e.pop_lines());
        assert!(!e.pop_lines());
        assert_eq!(e.len(), 2);
        e.extend_last("again", false);
        assert_eq!(texts(&e)[2], "T:again");
        assert_eq!(e.text, "keptagain");
    }
}
