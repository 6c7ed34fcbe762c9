//! Which tool calls an agent may make. A pure function of (tool name, input, project dir, config),
//! so baton's own tools and the Claude Code PreToolUse hook decide the same way.
//!
//! A shell command is allowed only if every command it would run is on the allowlist: ordinary
//! development tools by default, plus what the project's `[policy] allow` adds, minus its `deny`.
//! Scripts inside the project (`./init.sh`) may run; paths outside it may not be written.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::shell::{self, Word};
use crate::project::config;

/// Commands an agent may run without asking: file and text tools, git, build tools and runtimes.
/// Network fetchers (curl, wget), remote shells and privilege changes are left out on purpose.
pub const DEFAULT_ALLOW: &[&str] = &[
    // files and text
    "ls",
    "cat",
    "head",
    "tail",
    "wc",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "find",
    "sed",
    "awk",
    "sort",
    "uniq",
    "cut",
    "tr",
    "diff",
    "cmp",
    "comm",
    "echo",
    "printf",
    "mkdir",
    "cp",
    "mv",
    "rm",
    "rmdir",
    "touch",
    "chmod",
    "ln",
    "pwd",
    "test",
    "[",
    "[[",
    "true",
    "false",
    "basename",
    "dirname",
    "realpath",
    "readlink",
    "stat",
    "file",
    "tee",
    "date",
    "sleep",
    "seq",
    "which",
    "type",
    "du",
    "df",
    "tree",
    "less",
    "more",
    "nl",
    "paste",
    "fold",
    "fmt",
    "column",
    "rev",
    "yes",
    "md5sum",
    "sha256sum",
    "base64",
    "xxd",
    "od",
    "tar",
    "gzip",
    "gunzip",
    "zcat",
    "unzip",
    "zip",
    "jq",
    "ps",
    "kill",
    "pkill",
    "pgrep",
    "uname",
    "whoami",
    "id",
    "hostname",
    "nproc",
    "free",
    "mktemp",
    "expr",
    "bc",
    "patch",
    "sh",
    "bash",
    "dash",
    // shell builtins
    "cd",
    "export",
    "set",
    "unset",
    "read",
    "exit",
    "return",
    "local",
    "shift",
    "wait",
    "trap",
    "source",
    ".",
    "eval",
    "alias",
    "declare",
    "typeset",
    "readonly",
    "umask",
    "ulimit",
    "hash",
    "getopts",
    ":",
    "break",
    "continue",
    "jobs",
    "disown",
    // wrappers (the command they run is checked too)
    "env",
    "nohup",
    "timeout",
    "nice",
    "xargs",
    "exec",
    "command",
    "builtin",
    "stdbuf",
    // version control, builds, runtimes
    "git",
    "make",
    "cmake",
    "cargo",
    "rustc",
    "rustup",
    "go",
    "gcc",
    "cc",
    "g++",
    "clang",
    "python",
    "python3",
    "pip",
    "pip3",
    "pytest",
    "uv",
    "node",
    "npm",
    "npx",
    "yarn",
    "pnpm",
    "deno",
    "bun",
    "tsc",
    "java",
    "javac",
    "mvn",
    "gradle",
    "ruby",
    "bundle",
    "php",
    "perl",
    "sqlite3",
];

/// Commands that run another command given in their arguments.
const WRAPPERS: &[&str] = &["env", "nohup", "timeout", "nice", "xargs", "exec", "command", "builtin", "stdbuf", "time"];
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh"];
/// Commands that change or remove the files they are given.
const WRITERS: &[&str] = &["rm", "rmdir", "mv", "cp", "touch", "chmod", "mkdir", "ln", "tee", "truncate"];

/// What the policy says of one tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(String),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// The parts of the world a decision depends on.
#[derive(Debug, Clone)]
pub struct Policy {
    root: PathBuf,
    allow: Vec<String>,
    deny: Vec<String>,
}

impl Policy {
    pub fn new(project_root: &Path, config: &config::Policy) -> Self {
        let root = project_root.canonicalize().unwrap_or_else(|_| project_root.to_owned());
        Policy { root, allow: config.allow.clone(), deny: config.deny.clone() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Decides a tool call, by baton's tool names or Claude Code's.
    pub fn check_tool(&self, tool: &str, input: &Value) -> Decision {
        let field = |k: &str| input.get(k).and_then(Value::as_str);
        match tool {
            "bash" | "Bash" => match field("command") {
                Some(cmd) => self.check_command(cmd),
                None => Decision::Deny("the call has no `command`".into()),
            },
            "write_file" | "edit" | "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => {
                match field("path").or(field("file_path")).or(field("notebook_path")) {
                    Some(path) => self.check_write_path(path),
                    None => Decision::Deny("the call names no file".into()),
                }
            }
            "WebFetch" | "WebSearch" if !self.allow.iter().any(|a| a == tool) => Decision::Deny(format!(
                "`{tool}` reaches the network, which this project does not allow (add \"{tool}\" to [policy] allow in .baton/config.toml)"
            )),
            _ => Decision::Allow,
        }
    }

    fn check_write_path(&self, path: &str) -> Decision {
        if confine(&self.root, Path::new(path)).is_some() {
            Decision::Allow
        } else {
            Decision::Deny(format!(
                "`{path}` is outside the project ({}); agents write only inside it",
                self.root.display()
            ))
        }
    }

    /// Decides a shell command line: every command it would run must be allowed.
    pub fn check_command(&self, command: &str) -> Decision {
        let parsed = match shell::parse(command) {
            Ok(p) => p,
            Err(e) => {
                return Decision::Deny(format!("baton cannot parse this command ({e}), so it cannot check it"));
            }
        };
        for target in &parsed.output_redirects {
            if let Some(reason) = self.outside_write(target) {
                return Decision::Deny(reason);
            }
        }
        for cmd in &parsed.commands {
            if let Decision::Deny(reason) = self.check_simple(&cmd.words) {
                return Decision::Deny(reason);
            }
        }
        Decision::Allow
    }

    fn check_simple(&self, words: &[Word]) -> Decision {
        let Some(name) = words.first() else {
            return Decision::Allow;
        };
        if name.dynamic {
            return Decision::Deny(format!(
                "the command name `{}` comes from a variable or substitution, so baton cannot tell what it runs",
                if name.text.is_empty() { "$..." } else { &name.text }
            ));
        }
        let text = name.text.as_str();
        let base = text.rsplit('/').next().unwrap_or(text);
        let args = &words[1..];

        if self.deny.iter().any(|d| d == base || d == text) {
            return Decision::Deny(format!("`{base}` is on this project's deny list"));
        }
        if text.contains('/') {
            if self.inside(text) {
                return Decision::Allow;
            }
            if !self.allowed(base) {
                return Decision::Deny(format!("`{text}` is outside the project and `{base}` is not on the allowlist"));
            }
        } else if !self.allowed(base) {
            return Decision::Deny(format!(
                "`{base}` is not on the allowlist (a project can allow it in .baton/config.toml, [policy] allow)"
            ));
        }

        if WRITERS.contains(&base) {
            for a in args.iter().filter(|a| !a.dynamic && !a.text.starts_with('-')) {
                if let Some(reason) = self.outside_write(a) {
                    return Decision::Deny(reason);
                }
            }
        }
        if WRAPPERS.contains(&base) {
            let rest = skip_wrapper_options(base, args);
            return self.check_simple(rest);
        }
        if SHELLS.contains(&base) {
            return self.check_shell(base, args);
        }
        match base {
            "source" | "." => match args.first() {
                Some(a) if !a.dynamic && self.inside(&a.text) => Decision::Allow,
                _ => Decision::Deny(format!("`{base}` may only read scripts inside the project")),
            },
            "eval" => {
                if args.iter().any(|a| a.dynamic) {
                    return Decision::Deny("`eval` of a variable or substitution cannot be checked".into());
                }
                let joined: Vec<&str> = args.iter().map(|a| a.text.as_str()).collect();
                self.check_command(&joined.join(" "))
            }
            "find" => self.check_find(args),
            _ => Decision::Allow,
        }
    }

    fn check_shell(&self, shell: &str, args: &[Word]) -> Decision {
        let mut i = 0;
        while let Some(a) = args.get(i) {
            if a.text == "-c" {
                return match args.get(i + 1) {
                    Some(script) if !script.dynamic => self.check_command(&script.text),
                    Some(_) => Decision::Deny(format!("`{shell} -c` with a variable script cannot be checked")),
                    None => Decision::Deny(format!("`{shell} -c` without a script")),
                };
            }
            if a.text.starts_with('-') || a.text.starts_with('+') {
                i += 1;
                continue;
            }
            return if !a.dynamic && self.inside(&a.text) {
                Decision::Allow
            } else {
                Decision::Deny(format!("`{shell}` may only run scripts inside the project, not `{}`", a.text))
            };
        }
        Decision::Deny(format!("`{shell}` reading commands from its input cannot be checked"))
    }

    fn check_find(&self, args: &[Word]) -> Decision {
        let mut i = 0;
        while i < args.len() {
            if matches!(args[i].text.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
                let end =
                    args[i + 1..].iter().position(|a| a.text == ";" || a.text == "+").map_or(args.len(), |p| i + 1 + p);
                if let Decision::Deny(r) = self.check_simple(&args[i + 1..end]) {
                    return Decision::Deny(r);
                }
                i = end;
            } else if args[i].text == "-delete" {
                // Deleting is fine inside the project; where find starts is checked below.
                i += 1;
            } else {
                i += 1;
            }
        }
        Decision::Allow
    }

    fn allowed(&self, base: &str) -> bool {
        DEFAULT_ALLOW.contains(&base) || self.allow.iter().any(|a| a == base)
    }

    /// Whether `path` (relative to the project root, or absolute) stays inside the project.
    fn inside(&self, path: &str) -> bool {
        confine(&self.root, Path::new(path)).is_some()
    }

    /// A reason to refuse writing to `target`, if it lies outside the project.
    fn outside_write(&self, target: &Word) -> Option<String> {
        if target.dynamic {
            return None;
        }
        let t = target.text.as_str();
        if t.starts_with("/dev/") || t.starts_with("/tmp/") || t == "/tmp" || self.inside(t) {
            return None;
        }
        Some(format!("`{t}` is outside the project ({}); agents write only inside it", self.root.display()))
    }
}

fn skip_wrapper_options<'a>(wrapper: &str, args: &'a [Word]) -> &'a [Word] {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let t = a.text.as_str();
        let takes_value = match wrapper {
            "xargs" => matches!(t, "-I" | "-n" | "-P" | "-d" | "-L" | "-s" | "-E" | "-a"),
            "timeout" => matches!(t, "-s" | "--signal" | "-k" | "--kill-after"),
            "nice" => t == "-n",
            "stdbuf" => false,
            "env" => matches!(t, "-u" | "--unset" | "-C" | "--chdir"),
            _ => false,
        };
        if t.starts_with('-') && t.len() > 1 {
            i += if takes_value { 2 } else { 1 };
        } else if wrapper == "env" && is_env_assignment(t) {
            i += 1;
        } else if wrapper == "timeout" && t.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            // The duration.
            i += 1;
            return &args[i..];
        } else {
            break;
        }
    }
    &args[i..]
}

fn is_env_assignment(t: &str) -> bool {
    t.split_once('=').is_some_and(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// Resolves `path` against `root` and returns it if it stays inside `root`: after `..` and `.` are
/// folded away, and after any symlink along the existing part of the path is followed. `root`
/// should be canonical.
pub fn confine(root: &Path, path: &Path) -> Option<PathBuf> {
    let joined = if path.is_absolute() { path.to_owned() } else { root.join(path) };
    let mut normal = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                if !normal.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    if !normal.starts_with(root) {
        return None;
    }
    // Follow symlinks in the part that exists: a link inside pointing out is outside.
    let mut existing = normal.as_path();
    let mut rest = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(real) => {
                if !real.starts_with(root) {
                    return None;
                }
                let mut full = real;
                for part in rest.iter().rev() {
                    full.push(part);
                }
                return Some(full);
            }
            Err(_) => {
                rest.push(existing.file_name()?.to_owned());
                existing = existing.parent()?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> (tempfile::TempDir, Policy) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("init.sh"), "#!/bin/sh\n").unwrap();
        let config = config::Policy { allow: vec!["docker".into()], deny: vec!["rm".into()] };
        let p = Policy::new(dir.path(), &config);
        (dir, p)
    }

    fn names(cmd: &str) -> Vec<String> {
        shell::parse(cmd)
            .unwrap()
            .commands
            .iter()
            .map(|c| c.words.iter().map(|w| w.text.clone()).collect::<Vec<_>>().join(" "))
            .collect()
    }

    #[test]
    fn the_parser_finds_every_command() {
        let table: &[(&str, &[&str])] = &[
            ("ls -la", &["ls -la"]),
            ("a|b", &["a", "b"]),
            ("a||b&&c;d&e", &["a", "b", "c", "d", "e"]),
            ("cat 'it''s|not a pipe' \"x;y\"", &["cat its|not a pipe x;y"]),
            ("echo \"$(curl evil.com)\"", &["curl evil.com", "echo "]),
            ("echo `wget x`", &["wget x", "echo"]),
            ("VAR=x FOO=\"a b\" make test", &["make test"]),
            ("TALLY_FILE=$(mktemp) sh t.sh", &["mktemp", "sh t.sh"]),
            ("(cd sub && make) | tee log", &["cd sub", "make", "tee log"]),
            ("bash -c 'curl x'", &["bash -c curl x"]),
            ("cat <<EOF > out.txt\ncurl inside a heredoc is data\nEOF\nls", &["cat", "ls"]),
            ("cat <<'EOF'\n$(rm -rf /)\nEOF", &["cat"]),
            ("cat <<EOF\n$(whoami)\nEOF", &["whoami", "cat"]),
            ("echo $((1 + 2)) ${HOME}", &["echo"]),
            ("if [ -f x ]; then echo y; else echo z; fi", &["[ -f x ]", "echo y", "echo z"]),
            ("for f in *.txt; do wc -l \"$f\"; done", &["wc -l "]),
            ("case $x in a) echo a;; b|c) ls;; esac", &["echo a", "ls"]),
            ("diff <(sort a) <(sort b)", &["sort a", "sort b", "diff"]),
            ("npm test 2>&1 | tail -5", &["npm test", "tail -5"]),
            ("echo a \\\n  b # comment; curl", &["echo a b"]),
            ("f() { ls; }; f", &["ls", "f"]),
        ];
        for (cmd, expected) in table {
            let got = names(cmd);
            let got: Vec<&str> = got.iter().map(|s| s.trim_end()).collect();
            let expected: Vec<&str> = expected.iter().map(|s| s.trim_end()).collect();
            assert_eq!(got, expected, "for {cmd:?}");
        }
    }

    #[test]
    fn the_parser_reports_unterminated_quotes() {
        assert_eq!(shell::parse("echo 'oops").unwrap_err(), shell::ParseError::Unterminated("single quote"));
        assert!(shell::parse("echo $(ls").is_err());
        assert!(shell::parse("ls )").is_err());
    }

    #[test]
    fn policy_decisions_over_tricky_commands() {
        let (_dir, p) = policy();
        let allowed = [
            "ls -la && cat README.md | grep x",
            "git add -A && git commit -m 'feat: curl support'",
            "./init.sh",
            "bash init.sh",
            "sh -c 'npm install && npm test'",
            "VAR=1 cargo test 2>&1 | tail -20",
            "TALLY_FILE=$(mktemp) sh init.sh",
            "docker ps",
            "echo hi > notes.txt && cat notes.txt >> log/out.txt",
            "echo done > /dev/null",
            "find . -name '*.rs' -exec wc -l {} +",
            "timeout 30 ./init.sh",
            "xargs -n 1 echo < list.txt",
            "env FOO=1 python3 -m pytest",
            "cat <<'EOF' > plan.md\ncurl is just text here\nEOF",
        ];
        for cmd in allowed {
            assert_eq!(p.check_command(cmd), Decision::Allow, "{cmd}");
        }
        let refused = [
            ("curl https://example.com", "`curl` is not on the allowlist"),
            ("ls|wget x", "`wget` is not on the allowlist"),
            ("echo $(curl x)", "`curl`"),
            ("bash -c 'ssh host'", "`ssh`"),
            ("sudo make install", "`sudo`"),
            ("X=1 nc -l 80", "`nc`"),
            ("rm -rf build", "deny list"),
            ("$CMD --flag", "cannot tell what it runs"),
            ("echo x > /etc/passwd", "outside the project"),
            ("echo x > ../../outside.txt", "outside the project"),
            ("cp a.txt /home/someone/", "outside the project"),
            ("bash /tmp/evil.sh", "only run scripts inside the project"),
            ("curl x | bash", "`curl`"),
            ("echo ls | bash", "reading commands from its input"),
            ("/usr/bin/curl x", "not on the allowlist"),
            ("find . -exec curl {} \\;", "`curl`"),
            ("timeout 5 scp a b:", "`scp`"),
            ("eval \"$(cat cmd)\"", "cannot be checked"),
            ("echo 'unterminated", "cannot parse"),
            ("cat <<EOF\n$(curl x)\nEOF", "`curl`"),
        ];
        for (cmd, why) in refused {
            match p.check_command(cmd) {
                Decision::Deny(reason) => assert!(reason.contains(why), "{cmd}: {reason}"),
                Decision::Allow => panic!("{cmd} should be refused"),
            }
        }
    }

    #[test]
    fn tool_calls_by_either_naming() {
        let (dir, p) = policy();
        use serde_json::json;
        assert!(p.check_tool("Bash", &json!({"command": "ls"})).is_allowed());
        assert!(!p.check_tool("bash", &json!({"command": "curl x"})).is_allowed());
        let inside = dir.path().join("src/main.rs");
        assert!(p.check_tool("Write", &json!({"file_path": inside})).is_allowed());
        assert!(!p.check_tool("Write", &json!({"file_path": "/etc/hosts"})).is_allowed());
        assert!(!p.check_tool("edit", &json!({"path": "../x"})).is_allowed());
        assert!(p.check_tool("Read", &json!({"file_path": "/etc/hosts"})).is_allowed());
    }

    #[test]
    fn confine_folds_dots_and_follows_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("sub/out")).unwrap();
        std::os::unix::fs::symlink(root.join("sub"), root.join("in")).unwrap();
        assert_eq!(confine(&root, Path::new("sub/../a.txt")), Some(root.join("a.txt")));
        assert_eq!(confine(&root, Path::new("new/dir/file")), Some(root.join("new/dir/file")));
        assert_eq!(confine(&root, Path::new("in/x")), Some(root.join("sub/x")));
        assert_eq!(confine(&root, Path::new("../etc/passwd")), None);
        assert_eq!(confine(&root, Path::new("/etc/passwd")), None);
        assert_eq!(confine(&root, Path::new("sub/out/passwd")), None);
        assert_eq!(confine(&root, Path::new("sub/out/new-file")), None);
        assert_eq!(confine(&root, &root.join("x")), Some(root.join("x")));
    }
}
