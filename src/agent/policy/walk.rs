//! Walking a command line in the order it runs: the working directory follows `cd`, and each
//! simple command is judged by its name, the files it writes and the files it reads.

use std::path::{Path, PathBuf};

use super::Policy;
use super::allow::{RECURSIVE, SHELLS, WRAPPERS, WRITERS, changes_files};
use super::paths::fold;
use super::{git, programs, scripts, signals};
use crate::shell::{self, Word};

pub(super) type Check = Result<(), String>;

#[derive(Clone)]
pub(super) struct Walk<'p> {
    pub(super) policy: &'p Policy,
    /// Where the next command runs; `None` after a `cd` baton cannot follow.
    cwd: Option<PathBuf>,
    /// Programs off the allowlist, when the policy asks rather than denies (shared by the walks
    /// of nested shells).
    unknown: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
}

impl<'p> Walk<'p> {
    pub(super) fn new(policy: &'p Policy, cwd: &Path) -> Self {
        Walk { policy, cwd: Some(fold(&policy.root.join(cwd))), unknown: Default::default() }
    }

    /// The programs off the allowlist the walk let through to be asked about.
    pub(super) fn unknown(&self) -> Vec<String> {
        self.unknown.borrow().clone()
    }

    /// Checks a whole command line.
    pub(super) fn script(&mut self, src: &str) -> Check {
        let parsed =
            shell::parse(src).map_err(|e| format!("baton cannot parse this command ({e}), so it cannot check it"))?;
        for cmd in &parsed.commands {
            for target in &cmd.writes {
                self.write(target)?;
            }
            for source in &cmd.reads {
                self.read(source, false)?;
            }
            self.simple(&cmd.words)?;
        }
        Ok(())
    }

    /// Where `word` points, after `~`, `$HOME`, `$PWD`, `$TMPDIR` and braces are expanded and
    /// relative paths joined to the working directory. `None` when that cannot be known before
    /// the command runs.
    pub(super) fn place(&self, word: &Word) -> Option<Vec<PathBuf>> {
        let p = self.policy;
        let lookup = |name: &str| match name {
            "HOME" => p.home.as_ref().map(|h| h.display().to_string()),
            "PWD" => self.cwd.as_ref().map(|c| c.display().to_string()),
            "TMPDIR" => p.tmpdir.clone(),
            _ => None,
        };
        let value = shell::expand(&word.raw, &lookup)?;
        shell::braces(&value, 64)
            .into_iter()
            .map(|v| {
                if v.starts_with('/') { Some(fold(Path::new(&v))) } else { self.cwd.as_ref().map(|c| fold(&c.join(v))) }
            })
            .collect()
    }

    /// Refuses writing `target` outside the project, or where it cannot be known.
    pub(super) fn write(&self, target: &Word) -> Check {
        let Some(paths) = self.place(target) else {
            return Err(unknown(target));
        };
        match paths.iter().find_map(|p| self.policy.refuse_write(&target.text, p)) {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    /// Refuses reading `source` if it reaches a hidden path. What cannot be known is let through:
    /// the sandbox hides those paths whatever the command.
    pub(super) fn read(&self, source: &Word, recursive: bool) -> Check {
        let Some(paths) = self.place(source) else { return Ok(()) };
        match paths.iter().find_map(|p| self.policy.hidden_reach(p, recursive)) {
            Some(hidden) => Err(format!(
                "`{}` reaches {}, which baton hides from agents (keys and credentials; [sandbox] hidden)",
                source.text,
                hidden.display()
            )),
            None => Ok(()),
        }
    }

    fn inside(&self, word: &Word) -> bool {
        self.place(word).is_some_and(|ps| ps.iter().all(|p| super::confine(&self.policy.root, p).is_some()))
    }

    /// Checks one simple command.
    pub(super) fn simple(&mut self, words: &[Word]) -> Check {
        let Some(name) = words.first() else { return Ok(()) };
        if name.dynamic {
            return Err(format!(
                "the command name `{}` comes from a variable or substitution, so baton cannot tell what it runs",
                name.raw
            ));
        }
        let text = name.text.as_str();
        let base = text.rsplit('/').next().unwrap_or(text);
        let args = &words[1..];
        if self.policy.denied(base) || self.policy.denied(text) {
            return Err(format!("`{base}` is on this project's deny list"));
        }
        if text.contains('/') && self.inside(name) {
            // The project's own scripts may run (the quickstart allows only init.sh: baton lets an
            // agent run what it wrote, and the sandbox confines it).
            return self.reads(base, args);
        }
        if !self.policy.allowed(base) && self.policy.asking && !text.contains('/') {
            // Judged like an allowed one in every other way; the operator decides the rest.
            let mut unknown = self.unknown.borrow_mut();
            if !unknown.iter().any(|u| u == base) {
                unknown.push(base.to_owned());
            }
        } else if !self.policy.allowed(base) {
            return Err(if text.contains('/') {
                format!("`{text}` is outside the project and `{base}` is not on the allowlist")
            } else {
                format!(
                    "`{base}` is not on the allowlist (a project can allow it in .baton/config.toml, [policy] allow)"
                )
            });
        }
        self.reads(base, args)?;
        match base {
            "cd" => {
                self.cd(args);
                Ok(())
            }
            _ if WRAPPERS.contains(&base) => self.wrapper(base, args),
            _ if SHELLS.contains(&base) => self.shell(base, args),
            "source" | "." => match args.first() {
                Some(a) if !a.dynamic && self.inside(a) => Ok(()),
                _ => Err(format!("`{base}` may only read scripts inside the project")),
            },
            "eval" => {
                if let Some(a) = args.iter().find(|a| a.dynamic) {
                    return Err(format!(
                        "`eval` of `{}` cannot be checked: its text is only known when it runs",
                        a.raw
                    ));
                }
                let joined: Vec<&str> = args.iter().map(|a| a.text.as_str()).collect();
                self.script(&joined.join(" "))
            }
            "find" => programs::find(self, args),
            "sed" => scripts::sed(self, args),
            "awk" | "gawk" | "mawk" | "nawk" => scripts::awk(self, args),
            "perl" => programs::perl(self, args),
            "tar" => programs::tar(self, args),
            "git" => git::git(self, args),
            "kill" => signals::kill(self, args),
            "pkill" => signals::pkill(self, args),
            _ => self.writes(base, args),
        }
    }

    /// Refuses a command whose arguments reach a hidden path.
    fn reads(&self, base: &str, args: &[Word]) -> Check {
        let recursive = RECURSIVE.contains(&base)
            || (matches!(base, "grep" | "egrep" | "fgrep" | "cp" | "ls")
                && args.iter().any(|a| {
                    matches!(a.text.as_str(), "-r" | "-R" | "-a" | "--recursive" | "--archive")
                        || (a.text.starts_with('-') && !a.text.starts_with("--") && a.text.contains(['r', 'R']))
                }));
        for a in args {
            // `--file=PATH`: the value is a path too.
            let value = a.text.split_once('=').map(|(_, v)| v).filter(|v| v.starts_with(['/', '~']));
            if let Some(v) = value {
                self.read(&Word::plain(v), recursive)?;
            } else if !a.text.starts_with('-') {
                self.read(a, recursive)?;
            }
        }
        if recursive && operands(args).is_empty() && matches!(base, "rg" | "grep" | "egrep" | "fgrep") {
            return self.read(&Word::plain("."), true);
        }
        Ok(())
    }

    /// The files ordinary writers are given.
    fn writes(&self, base: &str, args: &[Word]) -> Check {
        let ops = operands(args);
        let option_value = |names: &[&str]| -> Option<Word> {
            args.iter().enumerate().find_map(|(i, a)| {
                let t = a.text.as_str();
                if names.contains(&t) {
                    return args.get(i + 1).cloned();
                }
                names.iter().find_map(|n| {
                    let v = if n.starts_with("--") { t.strip_prefix(&format!("{n}=")) } else { t.strip_prefix(n) };
                    v.filter(|v| !v.is_empty()).map(|v| Word {
                        text: v.to_owned(),
                        dynamic: a.dynamic,
                        raw: v.to_owned(),
                    })
                })
            })
        };
        let targets: Vec<Word> = match base {
            _ if WRITERS.contains(&base) => ops.into_iter().cloned().collect(),
            "chmod" => {
                let skip = usize::from(ops.first().is_some_and(|m| looks_like_mode(&m.text)));
                ops.into_iter().skip(skip).cloned().collect()
            }
            "cp" | "ln" => match option_value(&["-t", "--target-directory"]) {
                Some(dir) => vec![dir],
                None if ops.len() >= 2 => ops.last().map(|w| (*w).clone()).into_iter().collect(),
                // `ln -s /elsewhere/x` makes `./x`.
                None => vec![Word::plain(".")],
            },
            "sort" => option_value(&["-o", "--output"]).into_iter().collect(),
            "unzip" => option_value(&["-d"]).into_iter().collect(),
            "mktemp" => option_value(&["-p", "--tmpdir"]).into_iter().collect(),
            "zip" => ops.first().map(|w| (*w).clone()).into_iter().collect(),
            _ => Vec::new(),
        };
        targets.iter().try_for_each(|t| self.write(t))
    }

    fn cd(&mut self, args: &[Word]) {
        let ops = operands(args);
        self.cwd = match ops.first() {
            None => self.policy.home.clone(),
            Some(w) if w.text == "-" => None,
            Some(w) => self.place(w).filter(|ps| ps.len() == 1).and_then(|mut ps| ps.pop()),
        };
    }

    /// `env`, `xargs`, `timeout` and the like: the command they run is checked as if run here.
    fn wrapper(&mut self, wrapper: &str, args: &[Word]) -> Check {
        if wrapper == "command" && args.first().is_some_and(|a| matches!(a.text.as_str(), "-v" | "-V")) {
            return Ok(());
        }
        if wrapper == "env" {
            // `env -S 'cmd args'` splits its value into a command.
            let split = args.iter().enumerate().find_map(|(i, a)| match a.text.as_str() {
                "-S" | "--split-string" => args.get(i + 1),
                _ => None,
            });
            if let Some(line) = split {
                if line.dynamic {
                    return Err(format!(
                        "`env -S {}` cannot be checked: its command is only known when it runs",
                        line.raw
                    ));
                }
                return self.clone().script(&line.text);
            }
        }
        let (rest, chdir) = skip_wrapper_options(wrapper, args);
        let mut inner = self.clone();
        if let Some(dir) = chdir {
            inner.cwd = inner.place(dir).filter(|ps| ps.len() == 1).and_then(|mut ps| ps.pop());
        }
        if wrapper == "xargs"
            && let Some(cmd) = rest.first()
        {
            let base = cmd.text.rsplit('/').next().unwrap_or(&cmd.text);
            if changes_files(base) {
                return Err(format!(
                    "`xargs {base}` gives `{base}` paths from its input, which baton cannot see before it runs; name the files, or use `find DIR ... -delete` or `-exec {base} {{}} +`"
                ));
            }
        }
        inner.simple(rest)
    }

    fn shell(&mut self, shell: &str, args: &[Word]) -> Check {
        let mut i = 0;
        while let Some(a) = args.get(i) {
            let t = a.text.as_str();
            let cluster = t.starts_with('-') && !t.starts_with("--") || t.starts_with('+');
            if cluster && t[1..].contains('c') {
                return match args.get(i + 1) {
                    Some(script) if !script.dynamic => self.clone().script(&script.text),
                    Some(script) => Err(format!(
                        "`{shell} -c {}` cannot be checked: its script is only known when it runs",
                        script.raw
                    )),
                    None => Err(format!("`{shell} -c` without a script")),
                };
            }
            if matches!(t, "-o" | "+o" | "-O" | "+O" | "--rcfile" | "--init-file") {
                i += 2;
                continue;
            }
            if cluster || t.starts_with("--") {
                if t[1..].contains('s') && !t.starts_with("--") {
                    break;
                }
                i += 1;
                continue;
            }
            return if !a.dynamic && self.inside(a) {
                Ok(())
            } else {
                Err(format!("`{shell}` may only run scripts inside the project, not `{}`", a.raw))
            };
        }
        Err(format!("`{shell}` reading commands from its input cannot be checked"))
    }
}

/// The reason for a target baton cannot know before the command runs.
pub(super) fn unknown(target: &Word) -> String {
    format!(
        "baton cannot tell where `{}` points before the command runs (a variable, a substitution, or a `cd` it cannot follow), so it cannot check the write; write the path out in full",
        target.raw
    )
}

/// The arguments that are not options: after the first `--`, everything.
pub(super) fn operands(args: &[Word]) -> Vec<&Word> {
    let mut out = Vec::new();
    let mut options = true;
    for a in args {
        if options && a.text == "--" {
            options = false;
        } else if !options || !a.text.starts_with('-') || a.text == "-" {
            out.push(a);
        }
    }
    out
}

/// `755`, `u+x`, `go-w,a+r`: a chmod mode rather than a file.
fn looks_like_mode(t: &str) -> bool {
    !t.is_empty()
        && (t.chars().all(|c| c.is_ascii_digit())
            || t.split(',').all(|part| {
                let who = part.trim_start_matches(['u', 'g', 'o', 'a']);
                who.starts_with(['+', '-', '='])
                    && who
                        .chars()
                        .all(|c| matches!(c, '+' | '-' | '=' | 'r' | 'w' | 'x' | 'X' | 's' | 't' | 'u' | 'g' | 'o'))
            }))
}

/// The command a wrapper runs, and the directory it runs it in (`env -C DIR`).
fn skip_wrapper_options<'a>(wrapper: &str, args: &'a [Word]) -> (&'a [Word], Option<&'a Word>) {
    let mut i = 0;
    let mut chdir = None;
    while let Some(a) = args.get(i) {
        let t = a.text.as_str();
        let takes_value = match wrapper {
            "xargs" => matches!(t, "-I" | "-n" | "-P" | "-d" | "-L" | "-s" | "-E" | "-a"),
            "timeout" => matches!(t, "-s" | "--signal" | "-k" | "--kill-after"),
            "nice" => t == "-n",
            "env" => matches!(t, "-u" | "--unset" | "-C" | "--chdir" | "-S" | "--split-string"),
            _ => false,
        };
        if wrapper == "env" && matches!(t, "-C" | "--chdir") {
            chdir = args.get(i + 1);
        }
        if t.starts_with('-') && t.len() > 1 {
            i += if takes_value { 2 } else { 1 };
        } else if wrapper == "env" && is_env_assignment(t) {
            i += 1;
        } else if wrapper == "timeout" && t.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            // The duration.
            return (&args[i + 1..], chdir);
        } else {
            break;
        }
    }
    (&args[i..], chdir)
}

fn is_env_assignment(t: &str) -> bool {
    t.split_once('=').is_some_and(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}
