//! The two expansions the policy needs before it can judge a word: `~` and `$NAME` that it knows,
//! and braces.

/// The value of a word as the shell would see it, when its only expansions are a leading `~` and
/// `$NAME` or `${NAME}` that `lookup` knows. `None` when it holds anything else: a substitution,
/// arithmetic, `${X:-y}`, a positional parameter, another user's `~name`, a name `lookup` does not
/// know. Globs and braces are left as written.
pub fn expand(raw: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    if chars.first() == Some(&'~') {
        let end = chars.iter().position(|&c| c == '/').unwrap_or(chars.len());
        if end > 1 {
            return None;
        }
        out.push_str(&lookup("HOME")?);
        i = end;
    }
    let name_at = |i: usize| -> Option<(String, usize)> {
        // At the character after a `$`.
        if chars.get(i) == Some(&'{') {
            let close = chars[i..].iter().position(|&c| c == '}')? + i;
            let name: String = chars[i + 1..close].iter().collect();
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            return valid.then_some((name, close + 1));
        }
        let end =
            chars[i..].iter().position(|c| !(c.is_ascii_alphanumeric() || *c == '_')).map_or(chars.len(), |p| p + i);
        let name: String = chars[i..end].iter().collect();
        name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_').then_some((name, end))
    };
    let mut quote = None::<char>;
    while let Some(&c) = chars.get(i) {
        match (quote, c) {
            (None, '\'') => {
                let close = chars[i + 1..].iter().position(|&c| c == '\'')? + i + 1;
                out.extend(&chars[i + 1..close]);
                i = close + 1;
                continue;
            }
            (None, '"') => quote = Some('"'),
            (Some(_), '"') => quote = None,
            (_, '\\') => {
                let next = *chars.get(i + 1)?;
                if quote.is_some() && !matches!(next, '$' | '`' | '"' | '\\') {
                    out.push('\\');
                }
                out.push(next);
                i += 2;
                continue;
            }
            (_, '`') => return None,
            (_, '$') => match chars.get(i + 1) {
                Some('(') => return None,
                Some(c)
                    if c.is_ascii_alphanumeric()
                        || matches!(c, '_' | '{' | '@' | '*' | '#' | '?' | '$' | '!' | '-') =>
                {
                    let (name, end) = name_at(i + 1)?;
                    out.push_str(&lookup(&name)?);
                    i = end;
                    continue;
                }
                _ => out.push('$'),
            },
            (_, c) => out.push(c),
        }
        i += 1;
    }
    quote.is_none().then_some(out)
}

/// The words brace expansion makes of `text` (`a{b,c}` → `ab`, `ac`), at most `limit` of them;
/// text without a list in braces is one word.
pub fn braces(text: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    expand_braces(text, limit, &mut out);
    out
}

fn expand_braces(text: &str, limit: usize, out: &mut Vec<String>) {
    if out.len() >= limit {
        return;
    }
    let bytes = text.as_bytes();
    for (open, _) in text.match_indices('{') {
        let mut depth = 0;
        let mut commas = Vec::new();
        let mut close = None;
        for (j, &b) in bytes.iter().enumerate().skip(open) {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(j);
                        break;
                    }
                }
                b',' if depth == 1 => commas.push(j),
                _ => {}
            }
        }
        let Some(close) = close else { break };
        if commas.is_empty() {
            continue;
        }
        let (head, tail) = (&text[..open], &text[close + 1..]);
        let mut start = open + 1;
        for end in commas.into_iter().chain([close]) {
            expand_braces(&format!("{head}{}{tail}", &text[start..end]), limit, out);
            start = end + 1;
        }
        return;
    }
    out.push(text.to_owned());
}
