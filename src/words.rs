//! Counting things in words: "1 session", "2 sessions".

/// `n` and `noun`, plural unless `n` is one.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
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
