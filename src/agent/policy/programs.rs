//! Programs that write files or run other programs through their own arguments: each is read
//! closely enough to find what it would write or run, or refused with a reason.

use super::allow::WRITERS;
use super::walk::{Check, Walk, operands};
use crate::agent::shell::Word;

/// `find`: where it starts is what `-delete` and `-exec rm` reach; `-exec` runs a command.
pub(super) fn find(w: &mut Walk, args: &[Word]) -> Check {
    let mut i = 0;
    while args.get(i).is_some_and(|a| matches!(a.text.as_str(), "-H" | "-L" | "-P") || a.text.starts_with("-O")) {
        i += 1;
    }
    let mut starts: Vec<Word> = Vec::new();
    while let Some(a) = args.get(i).filter(|a| !(a.text.starts_with('-') || a.text == "(" || a.text == "!")) {
        starts.push(a.clone());
        i += 1;
    }
    if starts.is_empty() {
        starts.push(Word::plain("."));
    }
    let (mut changes, mut reads) = (false, false);
    while i < args.len() {
        match args[i].text.as_str() {
            "-exec" | "-execdir" | "-ok" | "-okdir" => {
                let from = i + 1;
                let end =
                    args[from..].iter().position(|a| a.text == ";" || a.text == "+").map_or(args.len(), |p| from + p);
                let inner = &args[from..end];
                w.simple(inner)?;
                let base = inner.first().map(|c| c.text.rsplit('/').next().unwrap_or(&c.text)).unwrap_or("");
                if WRITERS.contains(&base) || matches!(base, "chmod" | "cp" | "ln" | "sed" | "perl") {
                    changes = true;
                } else {
                    reads = true;
                }
                i = end;
            }
            "-delete" => changes = true,
            "-fprint" | "-fprint0" | "-fls" | "-fprintf" => {
                if let Some(target) = args.get(i + 1) {
                    w.write(target)?;
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    for start in &starts {
        if changes {
            w.write(start).map_err(|r| format!("`find` would change or delete files under it: {r}"))?;
        }
        if reads {
            w.read(start, true)?;
        }
    }
    Ok(())
}

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

/// `perl -i` writes the files it is given.
pub(super) fn perl(w: &mut Walk, args: &[Word]) -> Check {
    let (mut in_place, mut script_given) = (false, false);
    let mut files = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let t = a.text.as_str();
        if t == "--" {
            files.extend(&args[i + 1..]);
            break;
        }
        if t.starts_with('-') && t.len() > 1 && !t.starts_with("--") {
            for ch in t[1..].chars() {
                match ch {
                    'e' | 'E' => {
                        script_given = true;
                        i += 1;
                        break;
                    }
                    'i' => {
                        in_place = true;
                        break;
                    }
                    'I' | 'M' | 'm' | 'x' | 'C' | '0' | 'l' | 'd' | 'D' | 'V' => break,
                    _ => {}
                }
            }
        } else {
            files.push(a);
        }
        i += 1;
    }
    if in_place {
        // Without `-e`, the first operand is the script itself.
        for file in files.into_iter().skip(usize::from(!script_given)) {
            w.write(file)?;
        }
    }
    Ok(())
}

/// `tar`: extracting writes under `-C` (or here), creating writes the archive; some options run
/// other programs.
pub(super) fn tar(w: &mut Walk, args: &[Word]) -> Check {
    let (mut mode, mut archive, mut dir, mut absolute) = (None::<char>, None::<Word>, None::<Word>, false);
    let runs = |opt: &str| Err(format!("`tar {opt}` runs another program, which baton cannot check"));
    let value = |attached: &str, next: Option<&Word>| -> Option<Word> {
        if attached.is_empty() { next.cloned() } else { Some(Word::plain(attached)) }
    };
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let t = a.text.as_str();
        let long = |name: &str| t == name || t.starts_with(&format!("{name}="));
        let long_value = |name: &str| t.strip_prefix(&format!("{name}=")).map(Word::plain);
        if long("--to-command")
            || long("--use-compress-program")
            || long("--rsh-command")
            || long("--checkpoint-action")
            || long("--info-script")
            || long("--new-volume-script")
        {
            return runs(t);
        } else if t.starts_with("--") {
            match t {
                "--create" => mode = Some('c'),
                "--extract" | "--get" => mode = Some('x'),
                "--append" => mode = Some('r'),
                "--update" => mode = Some('u'),
                "--delete" => mode = Some('D'),
                "--absolute-names" => absolute = true,
                "--file" => {
                    archive = args.get(i + 1).cloned();
                    i += 1;
                }
                "--directory" => {
                    dir = args.get(i + 1).cloned();
                    i += 1;
                }
                _ => {
                    archive = long_value("--file").or(archive);
                    dir = long_value("--directory").or(dir);
                }
            }
        } else if (t.starts_with('-') && t.len() > 1) || (i == 0 && !t.is_empty()) {
            // A cluster of short options (`-xzf`), or the old style first word (`xzf`).
            let letters: Vec<char> = t.trim_start_matches('-').chars().collect();
            let old_style = !t.starts_with('-');
            for (k, &ch) in letters.iter().enumerate() {
                let attached: String = if old_style { String::new() } else { letters[k + 1..].iter().collect() };
                let takes = |i: &mut usize| -> Option<Word> {
                    let v = value(&attached, args.get(*i + 1));
                    if attached.is_empty() {
                        *i += 1;
                    }
                    v
                };
                match ch {
                    'c' | 'x' | 'r' | 'u' | 't' | 'd' | 'A' => mode = Some(ch),
                    'P' => absolute = true,
                    'I' | 'F' => return runs(&format!("-{ch}")),
                    'f' => {
                        archive = takes(&mut i);
                        if !attached.is_empty() {
                            break;
                        }
                    }
                    'C' => {
                        dir = takes(&mut i);
                        if !attached.is_empty() {
                            break;
                        }
                    }
                    'b' | 'T' | 'X' | 'N' | 'V' | 'K' | 'L' | 'g' => {
                        let v = takes(&mut i);
                        if ch == 'g'
                            && let Some(v) = v
                        {
                            w.write(&v)?;
                        }
                        if !attached.is_empty() {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        i += 1;
    }
    let here = Word::plain(".");
    match mode {
        Some('x') => {
            if absolute {
                return Err(
                    "`tar -P` extracts to the absolute paths inside the archive, which baton cannot check".into()
                );
            }
            w.write(dir.as_ref().unwrap_or(&here)).map_err(|r| format!("`tar` would extract there: {r}"))
        }
        Some('c' | 'r' | 'u' | 'A' | 'D') => {
            // What goes into the archive is read whole.
            for source in dir.iter().chain(args.iter().filter(|a| !a.text.starts_with('-'))) {
                w.read(source, true)?;
            }
            match archive.filter(|a| a.text != "-") {
                Some(a) => w.write(&a),
                None => Ok(()),
            }
        }
        _ => archive.map_or(Ok(()), |a| w.read(&a, false)),
    }
}

/// Settings `git -c` and `git config` may set: none of them makes git run a program.
const SAFE_GIT_KEYS: &[&str] = &[
    "user.name",
    "user.email",
    "init.defaultbranch",
    "core.quotepath",
    "core.autocrlf",
    "core.filemode",
    "core.abbrev",
    "commit.gpgsign",
    "tag.gpgsign",
    "pull.rebase",
    "pull.ff",
    "merge.ff",
    "push.default",
    "diff.noprefix",
    "diff.mnemonicprefix",
    "diff.renames",
    "log.showsignature",
    "status.showuntrackedfiles",
    "safe.directory",
];
const SAFE_GIT_PREFIXES: &[&str] = &["color.", "advice.", "column.", "format.pretty"];

fn git_key(key: &str) -> Check {
    let key = key.to_ascii_lowercase();
    if SAFE_GIT_KEYS.contains(&key.as_str()) || SAFE_GIT_PREFIXES.iter().any(|p| key.starts_with(p)) {
        return Ok(());
    }
    Err(format!(
        "git setting `{key}` may make git run another program (aliases, pagers, editors, hooks, filters); baton lets agents set only user.*, color.*, advice.* and settings like them"
    ))
}

/// `git`: settings that run programs, subcommands that run a command they are given, and
/// directories outside the project.
pub(super) fn git(w: &mut Walk, args: &[Word]) -> Check {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let t = a.text.as_str();
        match t {
            "-c" => {
                let setting = args.get(i + 1).ok_or("`git -c` without a setting")?;
                git_key(setting.text.split_once('=').map_or(setting.text.as_str(), |(k, _)| k))?;
                i += 2;
            }
            "-C" | "--git-dir" | "--work-tree" | "--namespace" => i += 2,
            _ if t.starts_with("--config-env") => {
                return Err("`git --config-env` takes a setting from a variable, which baton cannot check".into());
            }
            _ if t.starts_with("--exec-path=") => {
                return Err("`git --exec-path=` runs git's programs from elsewhere".into());
            }
            _ if t.starts_with('-') => i += 1,
            _ => break,
        }
    }
    let Some(sub) = args.get(i) else { return Ok(()) };
    let rest = &args[i + 1..];
    let value_of = |names: &[&str]| -> Option<String> {
        rest.iter().enumerate().find_map(|(k, a)| {
            names.iter().find_map(|n| {
                if a.text == *n {
                    rest.get(k + 1).map(|v| v.text.clone())
                } else {
                    a.text.strip_prefix(&format!("{n}=")).map(str::to_owned)
                }
            })
        })
    };
    match sub.text.as_str() {
        "config" => {
            if rest.iter().any(|a| matches!(a.text.as_str(), "--global" | "--system" | "--file" | "-f")) {
                return Err(
                    "`git config` may change only this repository's settings, not the user's or the system's".into()
                );
            }
            let reading = rest.iter().any(|a| {
                matches!(
                    a.text.as_str(),
                    "--get"
                        | "--get-all"
                        | "--get-regexp"
                        | "--list"
                        | "-l"
                        | "get"
                        | "list"
                        | "--unset"
                        | "unset"
                        | "--show-origin"
                )
            });
            let ops: Vec<&Word> = operands(rest)
                .into_iter()
                .filter(|a| !matches!(a.text.as_str(), "set" | "get" | "list" | "unset"))
                .collect();
            if !reading && ops.len() >= 2 {
                git_key(&ops[0].text)?;
            }
            Ok(())
        }
        "rebase" => match value_of(&["-x", "--exec"]) {
            Some(cmd) => w.clone().script(&cmd),
            None => Ok(()),
        },
        "bisect" if rest.first().is_some_and(|a| a.text == "run") => w.clone().simple(&rest[1..]),
        "submodule" if rest.iter().any(|a| a.text == "foreach") => {
            let at = rest.iter().position(|a| a.text == "foreach").unwrap_or(0);
            let cmd: Vec<&str> =
                rest[at + 1..].iter().filter(|a| a.text != "--recursive").map(|a| a.text.as_str()).collect();
            w.clone().script(&cmd.join(" "))
        }
        "difftool" | "mergetool" => match value_of(&["-x", "--extcmd"]) {
            Some(cmd) => w.clone().script(&cmd),
            None => Ok(()),
        },
        "filter-branch" => Err("`git filter-branch` runs the shell snippets it is given; baton refuses it".into()),
        "credential" | "credential-store" | "credential-cache" => {
            Err("`git credential` reads stored credentials, which baton hides from agents".into())
        }
        "clone" | "fetch" | "pull" | "push" | "ls-remote" | "archive"
            if value_of(&["-u", "--upload-pack", "--receive-pack", "--exec", "--remote"]).is_some()
                && sub.text != "archive" =>
        {
            Err(format!("`git {}` with a remote program runs it; baton refuses it", sub.text))
        }
        "clone" | "init" | "worktree" => {
            let ops = operands(rest);
            let dir = match sub.text.as_str() {
                "clone" => ops.get(1),
                "init" => ops.first(),
                _ => ops.iter().find(|a| a.text != "add"),
            };
            dir.map_or(Ok(()), |d| w.write(d))
        }
        "archive" | "format-patch" | "bundle" => match value_of(&["-o", "--output", "--output-directory"]) {
            Some(out) => w.write(&Word::plain(&out)),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// `kill`: only processes this session started, named by their ids.
pub(super) fn kill(w: &mut Walk, args: &[Word]) -> Check {
    let mut targets = Vec::new();
    let (mut signal_seen, mut after_dashes) = (false, false);
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let t = a.text.as_str();
        if a.dynamic {
            return Err(format!(
                "baton cannot tell which process `kill {}` signals before it runs; give the process id, or stop it with `pkill -f PATTERN`",
                a.raw
            ));
        }
        match t {
            _ if after_dashes => targets.push(t),
            "--" => after_dashes = true,
            "-l" | "-L" | "--list" | "--table" => return Ok(()),
            "-s" | "-n" | "--signal" => {
                signal_seen = true;
                i += 1;
            }
            _ if t.starts_with('-') && !signal_seen && targets.is_empty() => signal_seen = true,
            _ => targets.push(t),
        }
        i += 1;
    }
    for t in targets {
        if t.starts_with('%') {
            continue;
        }
        match t.parse::<i32>() {
            Ok(pid) if pid > 0 => own_process(w, pid)?,
            Ok(_) => {
                return Err(format!(
                    "`kill {t}` signals a whole process group or every process; name the ids of processes this session started"
                ));
            }
            Err(_) => return Err(format!("`kill {t}`: baton cannot tell which process that is")),
        }
    }
    Ok(())
}

fn own_process(w: &Walk, pid: i32) -> Check {
    let p = w.policy;
    match p.processes.get(pid) {
        Some(proc) if proc.session.is_some() && proc.session == p.session => Ok(()),
        Some(proc) => Err(format!(
            "process {pid} (`{}`) was not started by this session; agents may signal only the processes they started",
            proc.name
        )),
        None => Err(format!("there is no process {pid} that this session started")),
    }
}

/// `pkill`: allowed when every process its pattern matches now is one this session started.
pub(super) fn pkill(w: &mut Walk, args: &[Word]) -> Check {
    let (mut full, mut exact, mut ignore_case) = (false, false, false);
    let mut pattern = None;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let t = a.text.as_str();
        if a.dynamic {
            return Err(format!(
                "baton cannot tell what `pkill {}` matches before it runs; write the pattern out",
                a.raw
            ));
        }
        match t {
            "-f" | "--full" => full = true,
            "-x" | "--exact" => exact = true,
            "-i" | "--ignore-case" => ignore_case = true,
            "-F" | "--pidfile" => {
                return Err("`pkill -F` takes its ids from a file baton cannot check; use `kill PID`".into());
            }
            "--signal" | "-u" | "-U" | "-g" | "-G" | "-P" | "-s" | "-t" | "--euid" | "--uid" | "--pgroup"
            | "--group" | "--parent" | "--session" | "--terminal" | "--ns" | "--nslist" => i += 1,
            _ if t.starts_with("--") => {}
            _ if t.starts_with('-') && t.len() > 1 => {
                let flags = &t[1..];
                if flags.chars().all(|c| matches!(c, 'f' | 'x' | 'i' | 'n' | 'o' | 'e' | 'c')) {
                    full |= flags.contains('f');
                    exact |= flags.contains('x');
                    ignore_case |= flags.contains('i');
                }
                // Otherwise a signal (`-9`, `-TERM`).
            }
            _ => {
                if pattern.replace(t).is_some() {
                    return Err("`pkill` takes one pattern".into());
                }
            }
        }
        i += 1;
    }
    let Some(pattern) = pattern else { return Ok(()) };
    let source = if exact { format!("^(?:{pattern})$") } else { pattern.to_owned() };
    let re = regex::RegexBuilder::new(&source)
        .case_insensitive(ignore_case)
        .build()
        .map_err(|_| format!("baton cannot read the pattern `{pattern}`, so it cannot tell what `pkill` would stop"))?;
    let p = w.policy;
    let foreign: Vec<String> = p
        .processes
        .all()
        .into_iter()
        .filter(|proc| re.is_match(if full { &proc.cmdline } else { &proc.name }))
        .filter(|proc| proc.session.is_none() || proc.session != p.session)
        .take(3)
        .map(|proc| format!("{} (`{}`)", proc.pid, proc.name))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(format!(
        "`pkill {pattern}` would also signal processes this session did not start: {}; agents may signal only their own processes (use a pattern that matches only those, or `kill PID`)",
        foreign.join(", ")
    ))
}
