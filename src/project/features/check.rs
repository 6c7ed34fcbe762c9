//! Reading the feature list's text: syntax and each key said once, the shape of every feature,
//! errors placed at the token at fault, and where each `passes` value lies for a byte-for-byte save.

use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::REQUIRED_FIELDS;

/// A JSON error in `text` as `LINE:COLUMN: what`, placed at the bad token (for every JSON file
/// baton reads).
pub fn json_error(text: &str, e: &serde_json::Error) -> String {
    let (line, column) = token_position(text, e.line(), e.column());
    format!("{line}:{column}: {}", strip_position(&e.to_string()))
}

/// Where the token serde_json stopped at begins, as a 1-based line and column. serde_json reports
/// where it stopped reading: past the whitespace after a bad word (`"passes": tru` then a newline
/// is "line 5, column 0"), so go back over that whitespace and to the word's start.
pub fn token_position(text: &str, line: usize, column: usize) -> (usize, usize) {
    if line == 0 {
        return (line, column);
    }
    let bytes = text.as_bytes();
    let start_of_line = text.split_inclusive('\n').take(line - 1).map(str::len).sum::<usize>();
    let mut at = (start_of_line + column.saturating_sub(1)).min(bytes.len().saturating_sub(1));
    if column == 0 {
        // Before the line: the token is the last one before the whitespace.
        at = start_of_line.min(bytes.len());
        while at > 0 && bytes[at - 1].is_ascii_whitespace() {
            at -= 1;
        }
        at = at.saturating_sub(1);
    }
    let word = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+');
    while at > 0 && bytes.get(at).copied().is_some_and(word) && word(bytes[at - 1]) {
        at -= 1;
    }
    let before = &text[..text.floor_char_boundary(at)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// serde_json appends " at line L column C" to its messages; the position is reported separately.
pub(super) fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Where each feature's `passes` value lies in `text`, a feature list that has passed the checks.
/// `None` if the text is not shaped as expected (the caller then writes the list afresh).
pub(super) fn passes_spans(text: &str) -> Option<Vec<Range<usize>>> {
    let b = text.as_bytes();
    let ws = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let string_end = |mut i: usize| {
        i += 1;
        loop {
            match *b.get(i)? {
                b'\\' => i += 2,
                b'"' => return Some(i + 1),
                _ => i += 1,
            }
        }
    };
    let value_end = |mut i: usize| -> Option<usize> {
        match *b.get(i)? {
            b'"' => string_end(i),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *b.get(i)? {
                        b'"' => {
                            i = string_end(i)?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(i + 1);
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            _ => {
                while b.get(i).is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace()) {
                    i += 1;
                }
                Some(i)
            }
        }
    };
    let mut spans = Vec::new();
    let mut i = ws(0);
    if *b.get(i)? != b'[' {
        return None;
    }
    i += 1;
    loop {
        i = ws(i);
        match *b.get(i)? {
            b']' => return Some(spans),
            b',' => i += 1,
            b'{' => {
                i += 1;
                let mut span = None;
                loop {
                    i = ws(i);
                    match *b.get(i)? {
                        b'}' => break,
                        b',' => i += 1,
                        b'"' => {
                            let key_end = string_end(i)?;
                            let key: String = serde_json::from_str(text.get(i..key_end)?).ok()?;
                            i = ws(key_end);
                            if *b.get(i)? != b':' {
                                return None;
                            }
                            i = ws(i + 1);
                            let end = value_end(i)?;
                            if key == "passes" {
                                span = Some(i..end);
                            }
                            i = end;
                        }
                        _ => return None,
                    }
                }
                i += 1;
                spans.push(span?);
            }
            _ => return None,
        }
    }
}

/// How a key said twice is named in an error; the error is placed at the second one.
pub(super) const TWICE: &str = "appears twice";

/// Where the key that ends at serde_json's `line` and `column` (its closing quote) begins.
pub(super) fn key_start(text: &str, line: usize, column: usize) -> (usize, usize) {
    let Some(l) = text.lines().nth(line.saturating_sub(1)) else { return (line, column) };
    let before: Vec<char> = l.chars().take(column.saturating_sub(1)).collect();
    let open = (0..before.len()).rev().find(|&i| before[i] == '"' && (i == 0 || before[i - 1] != '\\'));
    (line, open.map_or(column, |i| i + 1))
}

/// Any JSON value, every object in it holding each key once.
pub(super) struct OnceEach {
    /// The feature the value is in (from 1), below the top.
    pub(super) feature: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for OnceEach {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for OnceEach {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut number = 1;
        while seq.next_element_seed(OnceEach { feature: self.feature.or(Some(number)) })?.is_some() {
            number += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                let feature = self.feature.map(|n| format!("feature {n}: ")).unwrap_or_default();
                return Err(de::Error::custom(format_args!(
                    "{feature}`{key}` {TWICE}; other tools read the first and baton would read the last, so keep one"
                )));
            }
            map.next_value_seed(OnceEach { feature: self.feature })?;
        }
        Ok(())
    }
}

/// Checks that the document is an array of features, each with the required fields and types.
pub(super) struct CheckedList;

impl<'de> DeserializeSeed<'de> for CheckedList {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CheckedList {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of features")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut number = 1;
        while seq.next_element_seed(CheckedFeature { number })?.is_some() {
            number += 1;
        }
        Ok(())
    }
}

struct CheckedFeature {
    number: usize,
}

impl<'de> DeserializeSeed<'de> for CheckedFeature {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CheckedFeature {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "feature {} to be an object with {}", self.number, REQUIRED_FIELDS.join(", "))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let n = self.number;
        let mut seen = [false; 4];
        while let Some(key) = map.next_key::<String>()? {
            let wrong = |what: &str, e: A::Error| {
                let e = strip_position(&e.to_string());
                de::Error::custom(format_args!("feature {n}: `{key}` must be {what} ({e})"))
            };
            match key.as_str() {
                "category" | "description" => {
                    map.next_value::<String>().map_err(|e| wrong("a string", e))?;
                }
                "steps" => {
                    map.next_value::<Vec<String>>().map_err(|e| wrong("a list of strings", e))?;
                }
                "passes" => {
                    map.next_value::<bool>().map_err(|e| wrong("true or false", e))?;
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
            if let Some(i) = REQUIRED_FIELDS.iter().position(|f| *f == key) {
                seen[i] = true;
            }
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(de::Error::custom(format_args!(
                "feature {n} has no `{}` field (every feature needs {})",
                REQUIRED_FIELDS[i],
                REQUIRED_FIELDS.join(", ")
            )));
        }
        Ok(())
    }
}
