//! The parser and the path helpers; the policy's decisions are tested end to end in
//! `tests/policy.rs`, through baton's tool and the hook binary.

use std::path::Path;

use super::*;
use crate::shell;

fn names(cmd: &str) -> Vec<String> {
    shell::parse(cmd)
        .unwrap()
        .commands
        .iter()
        .filter(|c| !c.words.is_empty())
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

#[test]
fn the_parser_keeps_redirections_with_their_command() {
    let parsed = shell::parse("cd sub && echo x > out.txt < in.txt; done > log").unwrap();
    let cmds = &parsed.commands;
    assert_eq!(cmds.len(), 3);
    assert_eq!(cmds[1].writes[0].text, "out.txt");
    assert_eq!(cmds[1].reads[0].text, "in.txt");
    assert!(cmds[2].words.is_empty());
    assert_eq!(cmds[2].writes[0].text, "log");
    assert_eq!(shell::parse("cat <<< \"$(x)\"").unwrap().commands.iter().filter(|c| !c.reads.is_empty()).count(), 0);
}

#[test]
fn words_expand_only_what_is_known() {
    let lookup = |name: &str| match name {
        "HOME" => Some("/home/me".to_owned()),
        _ => None,
    };
    let raw = |cmd: &str| shell::parse(cmd).unwrap().commands.last().unwrap().words[1].raw.clone();
    let expand = |cmd: &str| shell::expand(&raw(cmd), &lookup);
    assert_eq!(expand("rm ~"), Some("/home/me".into()));
    assert_eq!(expand("rm ~/a\\ b"), Some("/home/me/a b".into()));
    assert_eq!(expand("rm \"$HOME\"/x"), Some("/home/me/x".into()));
    assert_eq!(expand("rm ${HOME}/'$HOME'"), Some("/home/me/$HOME".into()));
    assert_eq!(expand("rm '~'"), Some("~".into()));
    assert_eq!(expand("rm ~root/x"), None);
    assert_eq!(expand("rm $X"), None);
    assert_eq!(expand("rm $(pwd)/x"), None);
    assert_eq!(expand("rm ${HOME:-/}"), None);
    assert_eq!(expand("rm $1"), None);
    assert_eq!(shell::braces("a{b,c{d,e}}f", 10), ["abf", "acdf", "acef"]);
    assert_eq!(shell::braces("{/etc,x}", 10), ["/etc", "x"]);
    assert_eq!(shell::braces("x{1..3}", 10), ["x{1..3}"]);
    assert_eq!(shell::braces("{a,b}{c,d}", 3).len(), 3);
}
