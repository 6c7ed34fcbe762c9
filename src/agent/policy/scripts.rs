//! Programs with their own programming language in an argument: sed and awk scripts are read
//! far enough to find the files they write and the commands they run.

use super::walk::{Check, Walk};
use crate::shell::Word;

/// `sed`: `-i` writes its files; a script's `w` writes, `r` reads and `e` runs a command (GNU).
pub(super) fn sed(w: &mut Walk, args: &[Word]) -> Check {
    let (mut in_place, mut sandbox, mut from_file) = (false, false, false);
    let mut scripts: Vec<&Word> = Vec::new();
    let mut rest: Vec<&Word> = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let t = a.text.as_str();
        match t {
            "--" => {
                rest.extend(&args[i + 1..]);
                break;
            }
            "-e" | "--expression" => {
                scripts.extend(args.get(i + 1));
                i += 1;
            }
            "-f" | "--file" => from_file = true,
            "--sandbox" => sandbox = true,
            "-l" | "--line-length" => i += 1,
            _ if t.starts_with("--expression=") => scripts.push(a),
            _ if t.starts_with("--file=") => from_file = true,
            _ if t == "--in-place" || t.starts_with("--in-place=") => in_place = true,
            _ if t.starts_with("--") => {}
            _ if t.starts_with('-') && t.len() > 1 => {
                for c in t[1..].chars() {
                    match c {
                        // What follows `i` in the cluster is the backup suffix.
                        'i' => {
                            in_place = true;
                            break;
                        }
                        'e' => {
                            scripts.extend(args.get(i + 1));
                            i += 1;
                            break;
                        }
                        'f' => {
                            from_file = true;
                            break;
                        }
                        'l' => break,
                        _ => {}
                    }
                }
            }
            _ => rest.push(a),
        }
        i += 1;
    }
    let mut files = rest.into_iter();
    if scripts.is_empty() && !from_file {
        scripts.extend(files.next());
    }
    if !sandbox {
        if from_file {
            return Err(
                "`sed -f` reads its script from a file baton does not check; give the script with -e, or add --sandbox"
                    .into(),
            );
        }
        for script in &scripts {
            if script.dynamic {
                return Err(format!(
                    "the sed script `{}` is only known when it runs; write it out, or add --sandbox",
                    script.raw
                ));
            }
            sed_script(w, &script.text)?;
        }
    }
    if in_place {
        for file in files {
            w.write(file)?;
        }
    }
    Ok(())
}

/// Reads a GNU sed script far enough to find its `w`, `r` and `e` commands and `s///e`, `s///w`.
fn sed_script(w: &Walk, script: &str) -> Check {
    let c: Vec<char> = script.chars().collect();
    let refuse = |what: &str| Err(format!("this sed script {what}; baton refuses it (or add --sandbox)"));
    let rest_of_line = |i: usize| -> (String, usize) {
        let end = c[i..].iter().position(|&ch| ch == '\n').map_or(c.len(), |p| i + p);
        (c[i..end].iter().collect::<String>().trim().to_owned(), end)
    };
    let skip_delimited = |mut i: usize, delim: char| -> Option<usize> {
        while i < c.len() {
            match c[i] {
                '\\' => i += 2,
                ch if ch == delim => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    };
    let mut i = 0;
    while i < c.len() {
        // Addresses: numbers, `$`, `/re/`, `\cREc`, ranges, steps, negation.
        loop {
            match c.get(i) {
                Some(ch) if ch.is_whitespace() || matches!(ch, ';' | ',' | '!' | '$' | '~' | '+') => i += 1,
                Some(ch) if ch.is_ascii_digit() => i += 1,
                Some('/') => i = skip_delimited(i + 1, '/').ok_or("an unterminated address in a sed script")?,
                Some('\\') => {
                    let delim = *c.get(i + 1).ok_or("an unterminated address in a sed script")?;
                    i = skip_delimited(i + 2, delim).ok_or("an unterminated address in a sed script")?;
                }
                _ => break,
            }
        }
        let Some(&cmd) = c.get(i) else { break };
        i += 1;
        match cmd {
            '{' | '}' | '=' | 'd' | 'D' | 'g' | 'G' | 'h' | 'H' | 'x' | 'n' | 'N' | 'p' | 'P' | 'z' | 'F' | 'l'
            | 'q' | 'Q' | 'L' => {
                while c.get(i).is_some_and(char::is_ascii_digit) {
                    i += 1;
                }
            }
            ':' | 'b' | 't' | 'T' | 'v' => {
                while c.get(i).is_some_and(|&ch| ch != ';' && ch != '\n') {
                    i += 1;
                }
            }
            '#' | 'a' | 'i' | 'c' => {
                // Text to the end of the line, continued by a trailing backslash.
                while let Some(&ch) = c.get(i) {
                    i += 1;
                    if ch == '\\' {
                        i += 1;
                    } else if ch == '\n' {
                        break;
                    }
                }
            }
            'r' | 'R' | 'w' | 'W' => {
                let (file, end) = rest_of_line(i);
                i = end;
                if matches!(cmd, 'w' | 'W') {
                    w.write(&Word::plain(&file))?;
                } else {
                    w.read(&Word::plain(&file), false)?;
                }
            }
            'e' => return refuse("runs a shell command (`e`)"),
            's' | 'y' => {
                let delim = *c.get(i).ok_or("an unterminated `s` in a sed script")?;
                i = skip_delimited(i + 1, delim).ok_or("an unterminated `s` in a sed script")?;
                i = skip_delimited(i, delim).ok_or("an unterminated `s` in a sed script")?;
                while let Some(&flag) = c.get(i) {
                    match flag {
                        'e' if cmd == 's' => return refuse("runs its replacement as a shell command (`s///e`)"),
                        'w' if cmd == 's' => {
                            let (file, end) = rest_of_line(i + 1);
                            w.write(&Word::plain(&file))?;
                            i = end;
                        }
                        'g' | 'p' | 'i' | 'I' | 'm' | 'M' => i += 1,
                        d if d.is_ascii_digit() => i += 1,
                        _ => break,
                    }
                }
            }
            other => {
                return Err(format!("baton cannot read this sed script (at `{other}`); simplify it, or add --sandbox"));
            }
        }
    }
    Ok(())
}

/// `awk`: `system()`, pipes to and from commands, and `print > file` are found in its program.
pub(super) fn awk(w: &mut Walk, args: &[Word]) -> Check {
    let mut program = None;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let t = a.text.as_str();
        match t {
            "-F" | "-v" | "--assign" | "--field-separator" => i += 1,
            "-f" | "--file" | "-E" | "--exec" | "-i" | "--include" | "-l" | "--load" => {
                return Err(format!(
                    "`awk {t}` runs a program from a file baton does not check; give the program inline"
                ));
            }
            "-e" | "--source" => {
                program = args.get(i + 1);
                i += 1;
            }
            "--" => {
                program = program.or(args.get(i + 1));
                break;
            }
            _ if t.starts_with("-f") => {
                return Err("`awk -f` runs a program from a file baton does not check; give the program inline".into());
            }
            _ if t.starts_with('-') && t.len() > 1 => {}
            // The program, then input files.
            _ => program = program.or(Some(a)),
        }
        i += 1;
    }
    match program {
        Some(p) if p.dynamic => Err(format!("the awk program `{}` is only known when it runs; write it out", p.raw)),
        Some(p) => awk_program(w, &p.text),
        None => Ok(()),
    }
}

fn awk_program(w: &Walk, src: &str) -> Check {
    let c: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut depth = 0i32;
    // The paren depth of the `print` being read, if one is.
    let mut print_at: Option<i32> = None;
    // Whether the last token ends an operand (so `/` divides rather than opening a regex).
    let mut after_operand = false;
    let string_at = |i: usize| -> Option<(String, usize)> {
        let mut s = String::new();
        let mut j = i + 1;
        while j < c.len() {
            match c[j] {
                '\\' => {
                    s.extend(c.get(j + 1));
                    j += 2;
                }
                '"' => return Some((s, j + 1)),
                ch => {
                    s.push(ch);
                    j += 1;
                }
            }
        }
        None
    };
    while let Some(&ch) = c.get(i) {
        match ch {
            '#' => {
                while c.get(i).is_some_and(|&ch| ch != '\n') {
                    i += 1;
                }
                continue;
            }
            '"' => {
                let (_, end) = string_at(i).ok_or("an unterminated string in the awk program")?;
                i = end;
                after_operand = true;
                continue;
            }
            '/' if !after_operand => {
                i += 1;
                while let Some(&ch) = c.get(i) {
                    i += if ch == '\\' { 2 } else { 1 };
                    if ch == '/' {
                        break;
                    }
                }
                after_operand = true;
                continue;
            }
            c0 if c0.is_ascii_alphabetic() || c0 == '_' => {
                let start = i;
                while c.get(i).is_some_and(|&ch| ch.is_ascii_alphanumeric() || ch == '_') {
                    i += 1;
                }
                let ident: String = c[start..i].iter().collect();
                match ident.as_str() {
                    "system" => {
                        return Err("this awk program runs a command (`system`); run the command directly".into());
                    }
                    "print" | "printf" => print_at = Some(depth),
                    _ => {}
                }
                after_operand = !matches!(ident.as_str(), "print" | "printf" | "return" | "in" | "getline");
                continue;
            }
            '|' if c.get(i + 1) == Some(&'|') => i += 1,
            '|' => {
                return Err("this awk program pipes to or from a command (`|`); run the command directly".into());
            }
            '>' if print_at == Some(depth) => {
                i += 1;
                if c.get(i) == Some(&'>') {
                    i += 1;
                }
                while c.get(i).is_some_and(|ch| *ch == ' ' || *ch == '\t') {
                    i += 1;
                }
                if c.get(i) != Some(&'"') {
                    return Err("this awk program prints to a file named by an expression, which baton cannot check; name the file in quotes".into());
                }
                let (file, end) = string_at(i).ok_or("an unterminated string in the awk program")?;
                w.write(&Word::plain(&file))?;
                i = end;
                after_operand = true;
                continue;
            }
            '(' => depth += 1,
            ')' => depth -= 1,
            ';' | '\n' | '{' | '}' => print_at = None,
            _ => {}
        }
        if !ch.is_whitespace() {
            after_operand = ch == ')' || ch == ']' || ch == '$' || ch.is_ascii_digit();
        }
        i += 1;
    }
    Ok(())
}
