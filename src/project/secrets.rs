//! Secrets never reach anything baton writes: the values of API keys, tokens and passwords found in
//! the environment (baton's own credentials among them) are replaced in the journal, transcripts,
//! logs, headless output and the screen's events; as they are, JSON-escaped (a key holding `"` or
//! `\` is stored escaped) and escaped twice (JSON inside JSON). Text that streams in pieces is
//! masked as a stream, so a secret split across two deltas is caught too.

use std::borrow::Cow;
use std::sync::OnceLock;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub const MASK: &str = "[redacted]";

#[derive(Debug, Default, Clone)]
pub struct Redactor {
    /// Every form of every secret, longest first, so a secret that contains another is masked
    /// whole.
    forms: Vec<String>,
    /// The secrets as they are, for text that is not JSON.
    raw: Vec<String>,
}

/// Whether an environment variable's name says it holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH"].iter().any(|w| n.contains(w))
}

/// `text` as it stands inside a JSON string.
fn escaped(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    quoted[1..quoted.len().saturating_sub(1).max(1)].to_owned()
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        // Short values ("1", "true") would mask ordinary text; real secrets are long.
        let mut raw: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 8).collect();
        raw.sort_by_key(|s| std::cmp::Reverse(s.len()));
        raw.dedup();
        let mut forms: Vec<String> = raw
            .iter()
            .flat_map(|s| {
                let once = escaped(s);
                let twice = escaped(&once);
                [s.clone(), once, twice]
            })
            .collect();
        forms.sort_by_key(|s| std::cmp::Reverse(s.len()));
        forms.dedup();
        Redactor { forms, raw }
    }

    pub fn from_env() -> Self {
        Self::new(std::env::vars().filter(|(k, _)| is_secret_name(k)).map(|(_, v)| v))
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.forms.iter().any(|s| text.contains(s.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_owned();
        for s in &self.forms {
            out = out.replace(s.as_str(), MASK);
        }
        Cow::Owned(out)
    }

    /// `value` with every secret masked in every string it holds; `None` only if the masked value
    /// would not read back as its type (then it must not be shown at all).
    pub fn mask<T: Serialize + DeserializeOwned>(&self, value: T) -> Option<T> {
        if self.is_empty() {
            return Some(value);
        }
        let text = serde_json::to_string(&value).ok()?;
        if !self.forms.iter().any(|s| text.contains(s.as_str())) {
            return Some(value);
        }
        let mut tree: serde_json::Value = serde_json::from_str(&text).ok()?;
        self.mask_strings(&mut tree);
        serde_json::from_value(tree).ok()
    }

    fn mask_strings(&self, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => {
                if let Cow::Owned(masked) = self.redact(s) {
                    *s = masked;
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|v| self.mask_strings(v)),
            serde_json::Value::Object(m) => m.values_mut().for_each(|v| self.mask_strings(v)),
            _ => {}
        }
    }

    /// How many bytes at the end of `text` could be the start of a secret that the next piece of
    /// the stream completes.
    fn open_tail(&self, text: &str) -> usize {
        self.raw
            .iter()
            .flat_map(|s| (1..s.len().min(text.len() + 1)).rev().map(move |n| (s, n)))
            .filter(|(s, n)| s.is_char_boundary(*n) && text.ends_with(&s[..*n]))
            .map(|(_, n)| n)
            .max()
            .unwrap_or(0)
    }
}

/// Text that arrives in pieces (a model's reply, delta by delta), masked as one stream: the end of
/// what came that could begin a secret is held back until the next piece says whether it does.
#[derive(Debug, Default)]
pub struct StreamMask {
    held: String,
}

impl StreamMask {
    /// What of `piece` (after what was held) may be shown now, masked.
    pub fn push(&mut self, redactor: &Redactor, piece: &str) -> String {
        if redactor.is_empty() {
            return piece.to_owned();
        }
        self.held.push_str(piece);
        let masked = redactor.redact(&self.held).into_owned();
        let keep = redactor.open_tail(&masked);
        let cut = masked.len() - keep;
        self.held = masked[cut..].to_owned();
        masked[..cut].to_owned()
    }

    /// What is still held, masked: the stream ended, or something else comes between.
    pub fn flush(&mut self, redactor: &Redactor) -> String {
        let held = std::mem::take(&mut self.held);
        redactor.redact(&held).into_owned()
    }
}

/// The redactor for this process, made from the environment the first time it is asked for.
pub fn global() -> &'static Redactor {
    static GLOBAL: OnceLock<Redactor> = OnceLock::new();
    GLOBAL.get_or_init(Redactor::from_env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_masked_and_short_ones_left() {
        let r = Redactor::new(["sk-ant-abcdef123456".to_owned(), "sk-ant-abcdef".to_owned(), "1".to_owned()]);
        assert_eq!(r.redact("key sk-ant-abcdef123456 and sk-ant-abcdef, 1"), "key [redacted] and [redacted], 1");
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
        assert!(is_secret_name("ANTHROPIC_API_KEY") && is_secret_name("GITHUB_TOKEN") && !is_secret_name("HOME"));
    }

    #[test]
    fn a_secret_holding_quotes_and_backslashes_is_masked_raw_escaped_and_escaped_twice() {
        let key = r#"sk-"quoted\back-0123"#;
        let r = Redactor::new([key.to_owned()]);
        let once = serde_json::to_string(&serde_json::json!({ "output": key })).unwrap();
        let twice = serde_json::to_string(&serde_json::json!({ "line": once })).unwrap();
        for text in [key.to_owned(), once, twice] {
            let masked = r.redact(&text);
            assert!(masked.contains(MASK) && !masked.contains("quoted"), "{text} -> {masked}");
        }
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Event {
            output: String,
            n: u32,
        }
        let masked = r.mask(Event { output: format!("cat .env: {key}\n"), n: 3 }).unwrap();
        assert_eq!(masked, Event { output: "cat .env: [redacted]\n".into(), n: 3 });
    }

    #[test]
    fn a_secret_split_across_pieces_of_a_stream_is_masked() {
        let key = "sk-ant-0123456789abcdef";
        let r = Redactor::new([key.to_owned()]);
        let mut stream = StreamMask::default();
        let text = format!("The key is {key}, and that is all.");
        let mut shown = String::new();
        for piece in text.as_bytes().chunks(5) {
            let out = stream.push(&r, std::str::from_utf8(piece).unwrap());
            assert!(!out.contains("sk-ant-0"), "{out}");
            shown.push_str(&out);
        }
        shown.push_str(&stream.flush(&r));
        assert_eq!(shown, "The key is [redacted], and that is all.");
        // Text that only looks like a start goes out once the stream says it is not one.
        let mut stream = StreamMask::default();
        assert_eq!(stream.push(&r, "ask-"), "a");
        assert_eq!(stream.push(&r, "me"), "sk-me");
        assert_eq!(stream.flush(&r), "");
    }
}
