//! Secrets never reach disk: the values of API keys, tokens and passwords found in the environment
//! are replaced in everything baton writes (journal, transcripts, logs).

use std::borrow::Cow;
use std::sync::OnceLock;

pub const MASK: &str = "[redacted]";

#[derive(Debug, Default, Clone)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<String>,
}

/// Whether an environment variable's name says it holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH"].iter().any(|w| n.contains(w))
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        // Short values ("1", "true") would mask ordinary text; real secrets are long.
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 8).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn from_env() -> Self {
        Self::new(std::env::vars().filter(|(k, _)| is_secret_name(k)).map(|(_, v)| v))
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.secrets.iter().any(|s| text.contains(s.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_owned();
        for s in &self.secrets {
            out = out.replace(s.as_str(), MASK);
        }
        Cow::Owned(out)
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
}
