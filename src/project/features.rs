//! The feature list (`feature_list.json`): the checklist every session works through, in the layout
//! of Anthropic's autonomous-coding quickstart, a JSON array of
//! `{"category", "description", "steps": [..], "passes": bool}`.
//!
//! Each feature is kept as the JSON object it was read as, so fields baton does not know, key order
//! and formatting survive a load/save round trip.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeSeed;
use serde_json::{Map, Value};

mod check;

use check::{CheckedList, OnceEach, TWICE, key_start, passes_spans, strip_position};
pub use check::{json_error, token_position};

use super::fsio::atomic_write;

/// The four fields every feature has; anything else is kept as it is.
pub const REQUIRED_FIELDS: [&str; 4] = ["category", "description", "steps", "passes"];

#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    #[error(transparent)]
    Read(#[from] super::fsio::ReadError),
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid { path: PathBuf, line: usize, column: usize, message: String },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("there is no feature {number}; {} has {len} (numbered from 1)", path.display())]
    NoSuchFeature { path: PathBuf, number: usize, len: usize },
}

/// What a file system entry is, in words: "a directory", "a FIFO", "a symlink".
pub fn file_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symlink"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "a file"
    }
}

/// One entry of the checklist, kept as its JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature(Map<String, Value>);

impl Feature {
    /// A new feature with the four required fields, not passing.
    pub fn new(category: &str, description: &str, steps: &[&str]) -> Self {
        let mut map = Map::new();
        map.insert("category".into(), category.into());
        map.insert("description".into(), description.into());
        map.insert("steps".into(), steps.iter().map(|s| Value::from(*s)).collect());
        map.insert("passes".into(), false.into());
        Feature(map)
    }

    pub fn category(&self) -> &str {
        self.0.get("category").and_then(Value::as_str).unwrap_or("")
    }

    pub fn description(&self) -> &str {
        self.0.get("description").and_then(Value::as_str).unwrap_or("")
    }

    pub fn steps(&self) -> impl Iterator<Item = &str> {
        self.0.get("steps").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
    }

    pub fn passes(&self) -> bool {
        self.0.get("passes").and_then(Value::as_bool).unwrap_or(false)
    }

    pub fn set_passes(&mut self, passes: bool) {
        self.0.insert("passes".into(), passes.into());
    }

    /// The whole JSON object, extra fields included.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.0
    }
}

/// The feature list as read from disk, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureList {
    path: PathBuf,
    features: Vec<Feature>,
    /// Whether the file ended with a newline; kept so a round trip is byte for byte.
    trailing_newline: bool,
    /// The text as read, the features as read and where each `passes` value sits in it: when
    /// only `passes` values change, saving edits just those tokens and keeps the rest of the file,
    /// whatever its formatting, byte for byte.
    original: Option<Original>,
}

#[derive(Debug, Clone, PartialEq)]
struct Original {
    text: String,
    features: Vec<Feature>,
    passes_spans: Vec<Range<usize>>,
}

impl FeatureList {
    /// An empty list that will be saved to `path`.
    pub fn empty(path: impl Into<PathBuf>) -> Self {
        FeatureList { path: path.into(), features: Vec::new(), trailing_newline: true, original: None }
    }

    /// Reads and checks the file. Errors name the file, the line and column, and what was expected.
    /// A FIFO, a directory or a device in its place is an error at once, never a wait.
    pub fn load(path: &Path) -> Result<Self, FeatureError> {
        match Self::load_if_exists(path)? {
            Some(list) => Ok(list),
            None => {
                let source = std::io::Error::from(std::io::ErrorKind::NotFound);
                Err(super::fsio::ReadError::Io { path: path.to_owned(), source }.into())
            }
        }
    }

    /// Like [`FeatureList::load`], but a missing file is `None` (no initializer session yet).
    pub fn load_if_exists(path: &Path) -> Result<Option<Self>, FeatureError> {
        match super::fsio::read_plain(path)? {
            Some(bytes) => {
                // A byte-order mark is named by `parse`, with the rest of what is wrong with text.
                let bom = bytes.starts_with(b"\xEF\xBB\xBF");
                let text = match bom {
                    true => String::from_utf8_lossy(&bytes).into_owned(),
                    false => super::fsio::text_of(path, bytes)?,
                };
                Self::parse(path, &text).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Parses `text` as the content of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, FeatureError> {
        let invalid = |e: serde_json::Error| {
            let message = strip_position(&e.to_string());
            let (line, column) = match message.contains(TWICE) {
                true => key_start(text, e.line(), e.column()),
                false => token_position(text, e.line(), e.column()),
            };
            FeatureError::Invalid { path: path.to_owned(), line, column, message }
        };
        if text.starts_with('\u{feff}') {
            let message = "the file starts with a byte-order mark; save it as UTF-8 without one".to_owned();
            return Err(FeatureError::Invalid { path: path.to_owned(), line: 1, column: 1, message });
        }
        // Syntax and keys said once first, then the shape (both with positions), then every object
        // as it is. A key said twice is refused: other tools read the first, serde the last.
        let mut de = serde_json::Deserializer::from_str(text);
        OnceEach { feature: None }.deserialize(&mut de).map_err(invalid)?;
        de.end().map_err(invalid)?;
        let mut de = serde_json::Deserializer::from_str(text);
        CheckedList.deserialize(&mut de).map_err(invalid)?;
        de.end().map_err(invalid)?;
        let values: Vec<Map<String, Value>> = serde_json::from_str(text).map_err(invalid)?;
        let features: Vec<Feature> = values.into_iter().map(Feature).collect();
        let original = passes_spans(text).filter(|spans| spans.len() == features.len()).map(|passes_spans| Original {
            text: text.to_owned(),
            features: features.clone(),
            passes_spans,
        });
        Ok(FeatureList { path: path.to_owned(), features, trailing_newline: text.ends_with('\n'), original })
    }

    /// The file as it would be written. When only `passes` values changed since it was read, that
    /// is the original text with just those values replaced; otherwise the list is written afresh
    /// with two-space indentation and every feature's keys in their original order.
    pub fn to_json(&self) -> String {
        if let Some(text) = self.patched_original() {
            return text;
        }
        let values: Vec<&Map<String, Value>> = self.features.iter().map(|f| &f.0).collect();
        // Serialising plain JSON values to a string cannot fail.
        let mut text = serde_json::to_string_pretty(&values).unwrap_or_default();
        if self.trailing_newline {
            text.push('\n');
        }
        text
    }

    fn patched_original(&self) -> Option<String> {
        let original = self.original.as_ref()?;
        if original.features.len() != self.features.len() {
            return None;
        }
        let mut text = original.text.clone();
        // From the back, so earlier spans stay where they were.
        for i in (0..self.features.len()).rev() {
            let (old, new) = (&original.features[i], &self.features[i]);
            let mut old_rest = old.0.clone();
            let mut new_rest = new.0.clone();
            old_rest.shift_remove("passes");
            new_rest.shift_remove("passes");
            if old_rest != new_rest || old.0.keys().ne(new.0.keys()) {
                return None;
            }
            if old.passes() != new.passes() {
                text.replace_range(original.passes_spans[i].clone(), if new.passes() { "true" } else { "false" });
            }
        }
        Some(text)
    }

    /// Writes the list atomically: a reader or a crash never sees half a file.
    pub fn save(&self) -> Result<(), FeatureError> {
        atomic_write(&self.path, self.to_json().as_bytes())
            .map_err(|source| FeatureError::Write { path: self.path.clone(), source })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    pub fn len(&self) -> usize {
        self.features.len()
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    pub fn passing(&self) -> usize {
        self.features.iter().filter(|f| f.passes()).count()
    }

    /// Feature `number`, counted from 1 as people count them.
    pub fn get(&self, number: usize) -> Result<&Feature, FeatureError> {
        let len = self.features.len();
        number.checked_sub(1).and_then(|i| self.features.get(i)).ok_or_else(|| FeatureError::NoSuchFeature {
            path: self.path.clone(),
            number,
            len,
        })
    }

    pub fn get_mut(&mut self, number: usize) -> Result<&mut Feature, FeatureError> {
        let len = self.features.len();
        let path = self.path.clone();
        number.checked_sub(1).and_then(|i| self.features.get_mut(i)).ok_or(FeatureError::NoSuchFeature {
            path,
            number,
            len,
        })
    }

    pub fn push(&mut self, feature: Feature) {
        self.features.push(feature);
    }

    /// Sets feature `number` (from 1) aside for now: moved to the end of the list and marked
    /// `"skipped": true` (an extra field, which only the operator may change). Returns its new
    /// number.
    pub fn skip(&mut self, number: usize) -> Result<usize, FeatureError> {
        self.get(number)?;
        let mut feature = self.features.remove(number - 1);
        feature.fields_mut().insert(SKIPPED.into(), true.into());
        self.features.push(feature);
        Ok(self.features.len())
    }
}

/// The extra field that marks a feature the operator set aside.
pub const SKIPPED: &str = "skipped";

/// The commit message of the operator setting feature `number` aside (now number `to`).
pub fn skip_message(number: usize, description: &str, to: usize) -> String {
    format!(
        "Skip feature {number} for now: {}\n\nFeature {number}: {description}\nSet aside by hand with baton: moved to the end of the list (now {to}) and marked \"skipped\".\n",
        crate::words::clip(description, 50)
    )
}

/// Whether the operator set `feature` aside.
pub fn is_skipped(feature: &Feature) -> bool {
    feature.fields().get(SKIPPED).and_then(Value::as_bool).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICKSTART: &str = r#"[
  {
    "category": "functional",
    "description": "User can open the app",
    "steps": [
      "Step 1: Navigate to the main page",
      "Step 2: See the title"
    ],
    "passes": true,
    "notes": {
      "by": "operator",
      "tags": [
        1,
        2.5,
        null
      ]
    }
  },
  {
    "passes": false,
    "description": "Keys in another order",
    "category": "style",
    "steps": []
  }
]
"#;

    fn parse(text: &str) -> Result<FeatureList, FeatureError> {
        FeatureList::parse(Path::new("feature_list.json"), text)
    }

    fn error_of(text: &str) -> (usize, usize, String) {
        match parse(text) {
            Err(FeatureError::Invalid { line, column, message, .. }) => (line, column, message),
            other => panic!("expected an invalid-file error, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_keeps_unknown_fields_key_order_and_indentation() {
        let list = parse(QUICKSTART).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list.passing(), 1);
        assert_eq!(list.get(2).unwrap().description(), "Keys in another order");
        assert_eq!(list.to_json(), QUICKSTART);
    }

    #[test]
    fn round_trip_without_trailing_newline() {
        let text = QUICKSTART.trim_end();
        assert_eq!(parse(text).unwrap().to_json(), text);
    }

    #[test]
    fn marking_changes_only_passes() {
        let mut list = parse(QUICKSTART).unwrap();
        list.get_mut(2).unwrap().set_passes(true);
        let expected = QUICKSTART.replacen("\"passes\": false", "\"passes\": true", 1);
        assert_eq!(list.to_json(), expected);
    }

    #[test]
    fn marking_keeps_any_formatting_byte_for_byte() {
        let text = "[ {\"category\":\"a\",\"description\":\"x \\\"passes\\\": true\", \"steps\":[\"s\"],\r\n  \"passes\" :false, \"notes\": {\"passes\": false}},\n{\"category\":\"b\",\"description\":\"y\",\"steps\":[],\"passes\":true}]";
        let mut list = parse(text).unwrap();
        list.get_mut(1).unwrap().set_passes(true);
        list.get_mut(2).unwrap().set_passes(false);
        let expected =
            text.replace(":false, \"notes", ":true, \"notes").replace("\"passes\":true}]", "\"passes\":false}]");
        assert_eq!(list.to_json(), expected);
        let again = parse(&list.to_json()).unwrap();
        assert_eq!((again.get(1).unwrap().passes(), again.get(2).unwrap().passes()), (true, false));
    }

    #[test]
    fn other_edits_write_the_list_afresh_with_two_space_indentation() {
        let mut list =
            parse("[{\"category\":\"a\",\"description\":\"x\",\"steps\":[],\"passes\":false,\"n\":1}]").unwrap();
        list.push(Feature::new("b", "y", &["s"]));
        let text = list.to_json();
        assert!(text.starts_with("[\n  {\n    \"category\": \"a\",\n"), "{text}");
        assert!(text.contains("\"n\": 1"), "{text}");
        assert_eq!(parse(&text).unwrap().len(), 2);
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let text = "[\n  {\n    \"category\": \"a\",\n    \"description\": \"b\" oops\n  }\n]\n";
        let (line, column, message) = error_of(text);
        assert_eq!(line, 4);
        assert_eq!(column, 24);
        assert!(message.contains("expected"), "{message}");
    }

    #[test]
    fn missing_field_names_the_feature_and_field() {
        let text = "[\n  {\"category\": \"a\", \"description\": \"b\", \"steps\": [], \"passes\": true},\n  {\"category\": \"a\", \"description\": \"b\", \"steps\": []}\n]";
        let (line, _, message) = error_of(text);
        assert_eq!(line, 3);
        assert!(message.contains("feature 2 has no `passes` field"), "{message}");
    }

    #[test]
    fn wrong_type_names_the_feature_field_and_expectation() {
        let text = "[\n  {\"category\": \"a\", \"description\": \"b\",\n   \"steps\": [], \"passes\": \"yes\"}\n]";
        let (line, _, message) = error_of(text);
        assert_eq!(line, 3);
        assert!(message.contains("feature 1: `passes` must be true or false"), "{message}");
        let text = "[{\"category\": \"a\", \"description\": \"b\", \"steps\": [1], \"passes\": true}]";
        let (_, _, message) = error_of(text);
        assert!(message.contains("`steps` must be a list of strings"), "{message}");
    }

    #[test]
    fn a_key_said_twice_is_refused_at_the_second() {
        let text = "[\n  {\"category\": \"a\", \"description\": \"b\", \"steps\": [],\n   \"passes\": false, \"passes\": true}\n]\n";
        let (line, column, message) = error_of(text);
        assert_eq!((line, column), (3, 21), "{message}");
        assert!(message.starts_with("feature 1: `passes` appears twice; other tools read the first"), "{message}");
        // Deeper too, in a field baton keeps as it is.
        let text = "[{\"category\": \"a\", \"description\": \"b\", \"steps\": [], \"passes\": true,\n  \"notes\": {\"by\": 1, \"by\": 2}}]";
        let (line, column, message) = error_of(text);
        assert_eq!((line, column), (2, 22), "{message}");
        assert!(message.contains("`by` appears twice"), "{message}");
    }

    #[test]
    fn a_byte_order_mark_is_named() {
        let (line, column, message) = error_of("\u{feff}[]");
        assert_eq!((line, column), (1, 1));
        assert_eq!(message, "the file starts with a byte-order mark; save it as UTF-8 without one");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feature_list.json");
        std::fs::write(&path, b"\xEF\xBB\xBF[]\n").unwrap();
        let e = FeatureList::load(&path).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}:1:1: the file starts with a byte-order mark; save it as UTF-8 without one", path.display())
        );
        std::fs::write(&path, b"[\n\xFF]\n").unwrap();
        let e = FeatureList::load_if_exists(&path).unwrap_err().to_string();
        assert!(e.ends_with("feature_list.json:2:1: the bytes here are not UTF-8; save the file as UTF-8"), "{e}");
    }

    #[test]
    fn top_level_must_be_an_array() {
        let (_, _, message) = error_of("{\"features\": []}");
        assert!(message.contains("a JSON array of features"), "{message}");
        let (_, _, message) = error_of("[] []");
        assert!(message.contains("trailing"), "{message}");
    }

    #[test]
    fn numbering_starts_at_one() {
        let list = parse(QUICKSTART).unwrap();
        assert!(matches!(list.get(0), Err(FeatureError::NoSuchFeature { number: 0, len: 2, .. })));
        assert!(matches!(list.get(3), Err(FeatureError::NoSuchFeature { number: 3, .. })));
        assert_eq!(list.get(1).unwrap().steps().count(), 2);
    }

    #[test]
    fn large_list_round_trips() {
        let mut list = FeatureList::empty("feature_list.json");
        for i in 0..10_000 {
            let mut f = Feature::new("functional", &format!("Feature {i} — ünïcode \"quoted\""), &["a", "b"]);
            f.set_passes(i % 3 == 0);
            f.fields_mut().insert("priority".into(), i.into());
            list.push(f);
        }
        let text = list.to_json();
        let again = parse(&text).unwrap();
        assert_eq!(again.len(), 10_000);
        assert_eq!(again.passing(), 3334);
        assert_eq!(again.to_json(), text);
    }

    #[test]
    fn positions_point_at_the_bad_token() {
        let typo = "[\n  {\n    \"passes\": tru\n  }\n]\n";
        // serde_json stops past the newline after `tru`: line 4, column 0.
        assert_eq!(token_position(typo, 4, 0), (3, 15));
        let comma = "[\n  {\"a\": 1\n   \"b\": 2}\n]";
        // A missing comma: serde_json points at the `"` that should have followed one.
        assert_eq!(token_position(comma, 3, 4), (3, 4));
        assert_eq!(token_position("", 1, 0), (1, 1));
    }
}
