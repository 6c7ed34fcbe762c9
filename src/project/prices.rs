//! What a model's tokens cost: `[prices."MODEL"]` in US dollars per million tokens. A model the
//! table does not have is "price unknown" (see [`super::session::dollars`]), never free.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cache_write: f64,
    pub cache_read: f64,
}

impl Price {
    /// What `usage` costs at this price (prices are per million tokens).
    pub fn cost(&self, usage: &crate::project::session::Usage) -> f64 {
        (usage.input_tokens as f64 * self.input
            + usage.output_tokens as f64 * self.output
            + usage.cache_creation_input_tokens as f64 * self.cache_write
            + usage.cache_read_input_tokens as f64 * self.cache_read)
            / 1_000_000.0
    }
}

/// The price of `model` in `table`: its own entry, else the entry of the model it dates
/// (`gpt-4.1-2025-04-14` is `gpt-4.1`, `claude-sonnet-4-5-20250929` is `claude-sonnet-4-5`).
/// Nothing else is guessed: a model one letter off is another model, with another price.
pub fn lookup(table: &BTreeMap<String, Price>, model: &str) -> Option<Price> {
    if let Some(p) = table.get(model) {
        return Some(*p);
    }
    let dated = regex::Regex::new(r"^(.+?)-(\d{8}|\d{4}-\d{2}-\d{2})$").ok()?;
    let base = dated.captures(model)?.get(1)?.as_str();
    table.get(base).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dated_model_takes_its_models_price_and_nothing_else_is_guessed() {
        let mut table = BTreeMap::new();
        table.insert("gpt-4.1".to_owned(), Price { input: 2.0, ..Price::default() });
        table.insert("claude-sonnet-4-5".to_owned(), Price { input: 3.0, ..Price::default() });
        assert_eq!(lookup(&table, "gpt-4.1").map(|p| p.input), Some(2.0));
        assert_eq!(lookup(&table, "gpt-4.1-2025-04-14").map(|p| p.input), Some(2.0));
        assert_eq!(lookup(&table, "claude-sonnet-4-5-20250929").map(|p| p.input), Some(3.0));
        assert_eq!(lookup(&table, "gpt-4.1-mini"), None, "another model");
        assert_eq!(lookup(&table, "gpt-4.1-mini-2025-04-14"), None);
        assert_eq!(lookup(&table, "qwen3-coder:30b"), None);
    }
}
