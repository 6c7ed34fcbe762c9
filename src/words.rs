//! Things in words: "1 session", "2 sessions", a text clipped to fit.

/// `n` and `noun`, plural unless `n` is one.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// `n` characters at most, with an ellipsis when cut.
pub fn clip(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(n.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_and_the_rest_plural() {
        assert_eq!(super::count(1u32, "session"), "1 session");
        assert_eq!(super::count(0u32, "commit"), "0 commits");
        assert_eq!(super::count(9u64, "file"), "9 files");
    }
}
