//! Programs that write files through their own arguments: find, perl -i, tar.
//! Each is read far enough to find what it would write or run, or refused with a reason.

use super::allow::changes_files;
use super::walk::{Check, Walk};
use crate::shell::Word;

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
                if changes_files(base) {
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
