//! The policy against the autonomous-coding quickstart's own security cases (its
//! `test_security.py`, all 89) and against the holes found beyond them. Each decision is checked
//! the way baton's own `bash` tool asks (`Policy::check_tool("bash")`) and, for the forms that do
//! not depend on the process table, the way the `claude` CLI asks: the real `baton hook
//! pre-tool-use` binary, given the hook's JSON on stdin.
//!
//! Projects and homes live outside /tmp (`common::outside_tmp`): /tmp is writable to agents, so a
//! project there would make "outside the project" writes look allowed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use baton::agent::policy::procs::{Fixed, Proc, SESSION_ENV};
use baton::agent::policy::{Decision, Policy};
use baton::project::config::Config;
use serde_json::json;

const SESSION: &str = "test-session";

struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
}

impl World {
    fn new() -> World {
        let dir = common::outside_tmp();
        let root = dir.path().join("project");
        let home = dir.path().join("home");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::create_dir_all(home.join(".aws")).unwrap();
        std::fs::write(home.join(".ssh/id_rsa"), "secret").unwrap();
        std::fs::write(home.join(".aws/credentials"), "secret").unwrap();
        std::fs::write(home.join(".bashrc"), "# rc").unwrap();
        std::fs::write(root.join("init.sh"), "#!/bin/sh\n").unwrap();
        git2::Repository::init(&root).unwrap();
        World { root: root.canonicalize().unwrap(), home: home.canonicalize().unwrap(), _dir: dir }
    }

    /// The policy as baton's own agent builds it, over a fixed process table: the operator's
    /// processes and the session's dev servers.
    fn policy(&self) -> Policy {
        let op =
            |pid, name: &str, cmdline: &str| Proc { pid, name: name.into(), cmdline: cmdline.into(), session: None };
        let ours = |pid, name: &str, cmdline: &str| Proc {
            pid,
            name: name.into(),
            cmdline: cmdline.into(),
            session: Some(SESSION.into()),
        };
        let table = Fixed(vec![
            op(100, "bash", "-bash"),
            op(101, "chrome", "/opt/google/chrome/chrome --type=renderer"),
            op(102, "python3", "python3 manage.py runserver"),
            op(103, "baton", "baton run --headless"),
            op(104, "node", "node /usr/lib/node_modules/other/server.js"),
            ours(200, "node", "node server.js"),
            ours(201, "vite", "node node_modules/.bin/vite"),
            ours(202, "npm", "npm run dev"),
        ]);
        Policy::new(&self.root, &Config::default())
            .with_home(Some(self.home.clone()))
            .with_session(Some(SESSION.into()))
            .with_processes(Arc::new(table))
    }

    /// What `baton hook pre-tool-use` answers for `input`: `None` for allowed, else the reason.
    fn hook(&self, args: &[&str], input: serde_json::Value) -> Option<String> {
        self.hook_as(None, args, input)
    }

    /// The hook as run by a session's `claude` CLI, whose environment carries the mark `session`.
    fn hook_as(&self, session: Option<&str>, args: &[&str], input: serde_json::Value) -> Option<String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
        cmd.args(args)
            .args(["hook", "pre-tool-use"])
            .current_dir(&self.root)
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        match session {
            Some(mark) => cmd.env(SESSION_ENV, mark),
            None => cmd.env_remove(SESSION_ENV),
        };
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "the hook failed: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        if text.trim().is_empty() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let out = &v["hookSpecificOutput"];
        if out["permissionDecision"] == "allow" {
            // An allowed command runs, in baton's sandbox: the hook hands back the confined form.
            let original = input["tool_input"]["command"].as_str().unwrap();
            let confined = out["updatedInput"]["command"].as_str().unwrap();
            assert!(confined.contains(" sandbox exec --nested "), "{confined}");
            let quoted = baton::sandbox::shell_quote(original);
            assert!(confined.ends_with(&format!("-- bash -c {quoted}")), "{confined}");
            return None;
        }
        assert_eq!(out["permissionDecision"], "deny", "{v}");
        Some(out["permissionDecisionReason"].as_str().unwrap().to_owned())
    }

    fn hook_bash(&self, command: &str) -> Option<String> {
        let root = self.root.display().to_string();
        self.hook(
            &["-C", &root],
            json!({"tool_name": "Bash", "tool_input": {"command": command}, "cwd": root, "hook_event_name": "PreToolUse"}),
        )
    }
}

fn decide(p: &Policy, command: &str) -> Decision {
    let built_in = p.check_tool("bash", &json!({"command": command}));
    let claude = p.check_tool("Bash", &json!({"command": command}));
    assert_eq!(built_in, claude, "both namings decide alike: {command}");
    built_in
}

/// `(command, allowed, why)`: for a refusal, a part of the reason; for an allowed command the
/// quickstart blocks, why baton differs.
type Case = (&'static str, bool, &'static str);

/// Commands whose verdict does not depend on which processes run.
fn check_cases(world: &World, cases: &[Case], through_hook: bool) {
    let p = world.policy();
    let mut wrong = Vec::new();
    for &(cmd, allow, why) in cases {
        let got = decide(&p, cmd);
        match (&got, allow) {
            (Decision::Allow, true) => {}
            (Decision::Deny(reason), false) if reason.contains(why) => {}
            _ => wrong.push(format!("{cmd:?}: expected {}, got {got:?}", if allow { "allow" } else { why })),
        }
        if through_hook {
            let hooked = world.hook_bash(cmd);
            if hooked.is_none() != allow || hooked.as_ref().is_some_and(|r| !r.contains(why)) {
                wrong.push(format!("hook, {cmd:?}: expected {}, got {hooked:?}", if allow { "allow" } else { why }));
            }
        }
    }
    assert!(wrong.is_empty(), "{} wrong:\n{}", wrong.len(), wrong.join("\n"));
}

const DIFFERS_CHMOD: &str = "baton allows any mode on the project's own files; the sandbox keeps the agent inside";
const DIFFERS_SCRIPTS: &str = "baton runs the project's own scripts, not only init.sh; the sandbox confines them";
const DIFFERS_ALLOWLIST: &str = "baton's allowlist holds ordinary development tools; the sandbox is the wall";
const DIFFERS_INSIDE: &str =
    "baton checks the command inside eval and bash -c: pkill node matches only the session's node";

/// The quickstart's `test_validate_chmod`: 6 allowed, 8 blocked there.
const QUICKSTART_CHMOD: &[Case] = &[
    ("chmod +x init.sh", true, ""),
    ("chmod +x script.sh", true, ""),
    ("chmod u+x init.sh", true, ""),
    ("chmod a+x init.sh", true, ""),
    ("chmod ug+x init.sh", true, ""),
    ("chmod +x file1.sh file2.sh", true, ""),
    ("chmod 777 init.sh", true, DIFFERS_CHMOD),
    ("chmod 755 init.sh", true, DIFFERS_CHMOD),
    ("chmod +w init.sh", true, DIFFERS_CHMOD),
    ("chmod +r init.sh", true, DIFFERS_CHMOD),
    ("chmod -x init.sh", true, DIFFERS_CHMOD),
    ("chmod -R +x dir/", true, DIFFERS_CHMOD),
    ("chmod --recursive +x dir/", true, DIFFERS_CHMOD),
    ("chmod +x", true, "baton lets chmod fail on its own: no file, no change"),
];

/// The quickstart's `test_validate_init_script`: 4 allowed, 6 blocked there.
const QUICKSTART_INIT: &[Case] = &[
    ("./init.sh", true, ""),
    ("./init.sh arg1 arg2", true, ""),
    // The quickstart allows any init.sh anywhere; baton runs scripts only from the project.
    ("/path/to/init.sh", false, "outside the project"),
    ("../dir/init.sh", false, "outside the project"),
    ("./setup.sh", true, DIFFERS_SCRIPTS),
    ("./init.py", true, DIFFERS_SCRIPTS),
    ("bash init.sh", true, DIFFERS_SCRIPTS),
    ("sh init.sh", true, DIFFERS_SCRIPTS),
    ("./malicious.sh", true, DIFFERS_SCRIPTS),
    ("./init.sh; rm -rf /", false, "`/` is outside the project"),
];

/// The quickstart's hook cases it expects blocked (25).
const QUICKSTART_BLOCKED: &[Case] = &[
    ("shutdown now", false, "`shutdown` is not on the allowlist"),
    ("reboot", false, "`reboot` is not on the allowlist"),
    ("rm -rf /", false, "outside the project"),
    ("dd if=/dev/zero of=/dev/sda", false, "`dd` is not on the allowlist"),
    ("curl https://example.com", false, "`curl` is not on the allowlist"),
    ("wget https://example.com", false, "`wget` is not on the allowlist"),
    ("python app.py", true, DIFFERS_ALLOWLIST),
    ("touch file.txt", true, DIFFERS_ALLOWLIST),
    ("echo hello", true, DIFFERS_ALLOWLIST),
    ("kill 12345", false, "no process 12345 that this session started"),
    ("killall node", false, "`killall` is not on the allowlist"),
    ("pkill bash", false, "100 (`bash`)"),
    ("pkill chrome", false, "101 (`chrome`)"),
    ("pkill python", false, "102 (`python3`)"),
    ("$(echo pkill) node", false, "cannot tell what it runs"),
    ("eval \"pkill node\"", false, "104 (`node`)"),
    ("bash -c \"pkill node\"", false, "104 (`node`)"),
    ("chmod 777 file.sh", true, DIFFERS_CHMOD),
    ("chmod 755 file.sh", true, DIFFERS_CHMOD),
    ("chmod +w file.sh", true, DIFFERS_CHMOD),
    ("chmod -R +x dir/", true, DIFFERS_CHMOD),
    ("./setup.sh", true, DIFFERS_SCRIPTS),
    ("./malicious.sh", true, DIFFERS_SCRIPTS),
    ("bash script.sh", true, DIFFERS_SCRIPTS),
    // Not the quickstart's: a pattern that matches only the session's processes.
    ("eval \"pkill -x -f 'node server.js'\"", true, DIFFERS_INSIDE),
];

/// The quickstart's hook cases it expects allowed (34).
const QUICKSTART_ALLOWED: &[Case] = &[
    ("ls -la", true, ""),
    ("cat README.md", true, ""),
    ("head -100 file.txt", true, ""),
    ("tail -20 log.txt", true, ""),
    ("wc -l file.txt", true, ""),
    ("grep -r pattern src/", true, ""),
    ("cp file1.txt file2.txt", true, ""),
    ("mkdir newdir", true, ""),
    ("mkdir -p path/to/dir", true, ""),
    ("pwd", true, ""),
    ("npm install", true, ""),
    ("npm run build", true, ""),
    ("node server.js", true, ""),
    ("git status", true, ""),
    ("git commit -m 'test'", true, ""),
    ("git add . && git commit -m 'msg'", true, ""),
    ("ps aux", true, ""),
    ("lsof -i :3000", true, ""),
    ("sleep 2", true, ""),
    // The session's node, npm and vite run; an operator's node (pid 104) runs too, so a bare
    // `pkill node` would stop it: baton refuses what the quickstart allows.
    ("pkill node", false, "104 (`node`)"),
    ("pkill npm", true, ""),
    ("pkill -f node", false, "104 (`node`)"),
    ("pkill -f 'node server.js'", true, ""),
    ("pkill vite", true, ""),
    ("npm install && npm run build", true, ""),
    ("ls | grep test", true, ""),
    ("/usr/local/bin/node app.js", true, ""),
    ("chmod +x init.sh", true, ""),
    ("chmod +x script.sh", true, ""),
    ("chmod u+x init.sh", true, ""),
    ("chmod a+x init.sh", true, ""),
    ("./init.sh", true, ""),
    ("./init.sh --production", true, ""),
    ("/path/to/init.sh", false, "outside the project"),
    ("chmod +x init.sh && ./init.sh", true, ""),
];

#[test]
fn the_quickstarts_89_cases_with_batons_verdicts() {
    let world = World::new();
    // test_extract_commands: the commands baton finds in a line.
    let extract: &[(&str, &[&str])] = &[
        ("ls -la", &["ls"]),
        ("npm install && npm run build", &["npm", "npm"]),
        ("cat file.txt | grep pattern", &["cat", "grep"]),
        ("/usr/bin/node script.js", &["/usr/bin/node"]),
        ("VAR=value ls", &["ls"]),
        ("git status || git init", &["git", "git"]),
    ];
    for (cmd, names) in extract {
        let parsed = baton::shell::parse(cmd).unwrap();
        let got: Vec<&str> = parsed.commands.iter().map(|c| c.words[0].text.as_str()).collect();
        assert_eq!(&got, names, "{cmd}");
    }
    check_cases(&world, QUICKSTART_CHMOD, false);
    check_cases(&world, QUICKSTART_INIT, false);
    check_cases(&world, QUICKSTART_BLOCKED, false);
    check_cases(&world, QUICKSTART_ALLOWED, false);
    let total = extract.len()
        + QUICKSTART_CHMOD.len()
        + QUICKSTART_INIT.len()
        + QUICKSTART_BLOCKED.len()
        + QUICKSTART_ALLOWED.len();
    assert_eq!(total, 89 + 1, "the quickstart's 89 cases, and one of baton's");
}

/// The holes a peer's probes found: each form refused, by baton's tool and by the hook.
const HOLES: &[Case] = &[
    // `~` and variables as write targets.
    ("rm -rf ~", false, "outside the project"),
    ("echo x > ~/.bashrc", false, "outside the project"),
    ("rm -rf ~/", false, "outside the project"),
    ("rm -rf $HOME", false, "outside the project"),
    ("rm -rf \"${HOME}/.cache\"", false, "outside the project"),
    ("echo x > \"$X/file\"", false, "cannot tell where `\"$X/file\"` points"),
    ("rm -rf \"$DIR\"", false, "cannot tell where"),
    ("rm -rf $(cat dirs.txt)", false, "cannot tell where"),
    ("cp a.txt `echo /etc`", false, "cannot tell where"),
    ("rm -rf {/etc,build}", false, "`{/etc,build}` is outside the project"),
    // `cd` is followed.
    ("cd .. && rm -rf x", false, "outside the project"),
    ("cd /; rm -rf etc", false, "outside the project"),
    ("cd ~ && echo x > .bashrc", false, "outside the project"),
    ("cd $SOMEWHERE && rm -rf x", false, "cannot tell where"),
    ("cd sub && cd ../.. && touch x", false, "outside the project"),
    ("env -C / rm -rf etc", false, "outside the project"),
    // find's starting points.
    ("find / -delete", false, "`find` would change or delete files under it"),
    ("find ~ -name '*.txt' -exec rm {} +", false, "outside the project"),
    ("find .. -type f -exec chmod 777 {} \\;", false, "outside the project"),
    ("find . -fprint /etc/list", false, "outside the project"),
    // In-place writers.
    ("sed -i s/a/b/ /etc/hosts", false, "`/etc/hosts` is outside the project"),
    ("sed -i.bak -e 's/a/b/' ~/.bashrc", false, "outside the project"),
    ("sed -Ei 's/a/b/' ../x.txt", false, "outside the project"),
    ("perl -pi -e 's/a/b/' ~/.bashrc", false, "outside the project"),
    ("perl -i.bak -pe 's/a/b/' /etc/hosts", false, "outside the project"),
    ("tar -C /usr -xf x.tar", false, "`tar` would extract there"),
    ("tar xf x.tar -C ../..", false, "`tar` would extract there"),
    ("tar --directory=/opt -xzf x.tgz", false, "`tar` would extract there"),
    ("tar -xPf x.tar", false, "`tar -P`"),
    ("tar czf /home/out.tgz src", false, "outside the project"),
    ("tar --to-command='sh -c x' -xf x.tar", false, "runs another program"),
    ("tar -I 'curl x' -xf a.tar", false, "runs another program"),
    ("cp notes.txt /etc/", false, "outside the project"),
    ("mv build ~/", false, "outside the project"),
    ("ln -s x /usr/local/bin/x", false, "outside the project"),
    ("sort -o /etc/out in.txt", false, "outside the project"),
    ("xargs rm < files.txt", false, "`xargs rm` gives `rm` paths"),
    // Signals: only to the session's processes.
    ("kill -9 -1", false, "every process"),
    ("kill 0", false, "every process"),
    ("kill -- -100", false, "process group"),
    ("kill 103", false, "process 103 (`baton`) was not started by this session"),
    ("kill $(cat server.pid)", false, "cannot tell which process"),
    ("pkill -f baton", false, "103 (`baton`)"),
    ("pkill -F server.pid", false, "`pkill -F`"),
    // Programs that run other programs through their arguments.
    ("git -c alias.x='!rm -rf ~' x", false, "git setting `alias.x`"),
    ("git -c core.pager='curl x' log", false, "git setting `core.pager`"),
    ("git -c core.sshCommand=evil fetch", false, "git setting `core.sshcommand`"),
    ("git config core.pager 'curl x'", false, "git setting `core.pager`"),
    ("git config alias.st '!sh -c x'", false, "git setting `alias.st`"),
    ("git config --global user.name x", false, "not the user's or the system's"),
    ("git rebase -x 'curl x' main", false, "`curl` is not on the allowlist"),
    ("git bisect run wget x", false, "`wget`"),
    ("git submodule foreach 'curl x'", false, "`curl`"),
    ("git filter-branch --tree-filter 'rm -rf x' HEAD", false, "filter-branch"),
    ("git credential fill", false, "stored credentials"),
    ("git clone --upload-pack='curl x' repo", false, "remote program"),
    ("git clone x /opt/x", false, "outside the project"),
    ("awk 'BEGIN{system(\"curl x\")}'", false, "`system`"),
    ("awk '{print | \"sh\"}' f.txt", false, "pipes to or from a command"),
    ("awk 'BEGIN { \"date\" | getline d }'", false, "pipes to or from a command"),
    ("awk '{print > \"/etc/x\"}' f.txt", false, "`/etc/x` is outside the project"),
    ("awk '{print > $1}' f.txt", false, "named by an expression"),
    ("awk -f prog.awk f.txt", false, "`awk -f`"),
    ("sed 'e curl x' f.txt", false, "runs a shell command"),
    ("sed 's/x/curl y/e' f.txt", false, "runs its replacement"),
    ("sed -n '1,3{s/a/b/e}' f.txt", false, "runs its replacement"),
    ("sed 'w /etc/out' f.txt", false, "`/etc/out` is outside the project"),
    ("sed 's/a/b/w ~/.bashrc' f.txt", false, "outside the project"),
    ("sed -f script.sed f.txt", false, "`sed -f`"),
    ("bash -lc 'curl x'", false, "`curl`"),
    ("sh -ec 'wget x'", false, "`wget`"),
    ("env -S 'curl x'", false, "`curl`"),
    // Secrets the sandbox hides.
    ("cat ~/.ssh/id_rsa", false, "which baton hides from agents"),
    ("cat $HOME/.aws/credentials", false, "which baton hides"),
    ("cp ~/.aws/credentials .", false, "which baton hides"),
    ("base64 < ~/.ssh/id_rsa", false, "which baton hides"),
    ("grep -r key ~", false, "which baton hides"),
    ("cat ~/.ss*/id_*", false, "which baton hides"),
    ("tar czf keys.tgz ~/.ssh", false, "which baton hides"),
    ("cd ~/.ssh && cat id_rsa", false, "which baton hides"),
    ("head --lines=5 ~/.ssh/id_rsa", false, "which baton hides"),
    // The repository's internals: a pager or hook written there would run outside any sandbox.
    ("echo '[core] pager = curl x' >> .git/config", false, "inside the repository's own files"),
    ("cp evil .git/hooks/pre-commit", false, "inside the repository's own files"),
];

/// What still works: the forms above, aimed inside the project.
const STILL_ALLOWED: &[Case] = &[
    ("cd sub && rm -rf build", true, ""),
    ("cd sub; cd ..; rm -rf build", true, ""),
    ("echo x > /tmp/out.txt", true, ""),
    ("rm -rf ./build/* dist", true, ""),
    ("rm -rf {build,dist}", true, ""),
    ("echo \"$HOME\" && ls ~", true, ""),
    ("cat ~/.bashrc", true, ""),
    ("for f in *.txt; do wc -l \"$f\"; done", true, ""),
    ("find . -name '*.o' -delete", true, ""),
    ("find src -name '*.rs' -exec sed -i 's/a/b/' {} +", true, ""),
    ("sed -i 's/a/b/' src/main.rs", true, ""),
    ("sed -n '1,5p;/x/d' f.txt", true, ""),
    ("sed -e 's|/usr/local|/opt|g' -e '/^#/d' conf.txt", true, ""),
    ("sed 's/a/b/w out.txt' f.txt", true, ""),
    ("perl -pi -e 's/a/b/' src/x.txt", true, ""),
    ("perl -ne 'print if /x/' /etc/hosts", true, ""),
    ("awk '{print $1}' f.txt", true, ""),
    ("awk -F: '$3 > 1000 {print $1}' /etc/passwd", true, ""),
    ("awk '{ print $1 > \"out.txt\" }' f.txt", true, ""),
    ("awk '/a|b/ || NR == 1 {n++} END {print n / 2}' f.txt", true, ""),
    ("tar xzf deps.tgz", true, ""),
    ("tar -C sub -xf x.tar", true, ""),
    ("tar czf out.tgz src", true, ""),
    ("tar tf x.tar", true, ""),
    ("cp /etc/hosts ./hosts.txt", true, ""),
    ("git -c user.name=baton -c color.ui=never commit -m x", true, ""),
    ("git config user.email agent@example.com", true, ""),
    ("git config --get core.pager", true, ""),
    ("git log --oneline | head -5", true, ""),
    ("git rebase -x 'cargo test' main", true, ""),
    ("kill %1", true, ""),
    ("kill 200 201", true, ""),
    ("kill -TERM 202", true, ""),
    ("kill -l", true, ""),
    ("sort -o sorted.txt in.txt", true, ""),
    ("xargs -n 1 echo < list.txt", true, ""),
    ("bash -c 'npm test && npm run lint'", true, ""),
    ("cat <<EOF > notes.md\nrm -rf ~ is just text\nEOF", true, ""),
    ("ls -la ~/.ssh/../", true, ""),
];

#[test]
fn every_hole_is_refused_by_the_tool_and_the_hook() {
    let world = World::new();
    let fixed_table = |c: &&Case| c.0.starts_with("kill") || c.0.starts_with("pkill");
    let (procs, rest): (Vec<Case>, Vec<Case>) = HOLES.iter().partition(fixed_table);
    check_cases(&world, &rest, true);
    check_cases(&world, &procs, false);
}

#[test]
fn what_stays_allowed_inside_the_project() {
    let world = World::new();
    let (procs, rest): (Vec<Case>, Vec<Case>) =
        STILL_ALLOWED.iter().partition(|c| c.0.starts_with("kill") && c.0 != "kill -l");
    check_cases(&world, &rest, true);
    check_cases(&world, &procs, false);
}

#[test]
fn file_tools_are_held_to_the_same_paths() {
    let world = World::new();
    let p = world.policy();
    let root = world.root.display().to_string();
    let id_rsa = world.home.join(".ssh/id_rsa").display().to_string();
    let tools = [
        ("Read", json!({"file_path": id_rsa}), "which baton hides"),
        ("read_file", json!({"path": "~/.ssh/id_rsa"}), "which baton hides"),
        ("Grep", json!({"pattern": "KEY", "path": world.home.display().to_string()}), "which baton hides"),
        ("Glob", json!({"pattern": format!("{}/.aws/*", world.home.display())}), "which baton hides"),
        ("Write", json!({"file_path": format!("{root}/.git/hooks/pre-commit"), "content": "x"}), ".git"),
        ("Edit", json!({"file_path": "~/.bashrc"}), "outside the project"),
    ];
    for (tool, input, why) in tools {
        match p.check_tool(tool, &input) {
            Decision::Deny(reason) => assert!(reason.contains(why), "{tool}: {reason}"),
            other => panic!("{tool} {input} should be refused, not {other:?}"),
        }
        let hooked = world.hook(&["-C", &root], json!({"tool_name": tool, "tool_input": input, "cwd": root}));
        if tool.chars().next().is_some_and(char::is_uppercase) {
            assert!(hooked.as_deref().is_some_and(|r| r.contains(why)), "hook, {tool}: {hooked:?}");
        }
    }
    assert!(p.check_tool("Read", &json!({"file_path": format!("{root}/init.sh")})).is_allowed());
    assert!(p.check_tool("Grep", &json!({"pattern": "x", "path": "src"})).is_allowed());
}

#[test]
fn the_hook_follows_the_cwd_it_is_given_and_denies_without_one() {
    let world = World::new();
    let root = world.root.display().to_string();
    let sub = world.root.join("sub").display().to_string();
    // Claude Code's Bash tool keeps its shell's directory: the hook judges from there.
    let from_sub = |cmd: &str| {
        world.hook(&["-C", &root], json!({"tool_name": "Bash", "tool_input": {"command": cmd}, "cwd": sub}))
    };
    assert_eq!(from_sub("rm -rf ../init.sh"), None);
    assert!(from_sub("rm -rf ../../x").is_some_and(|r| r.contains("outside the project")));
    // No -C and no cwd: nothing to confine to.
    let none = world.hook(&[], json!({"tool_name": "Bash", "tool_input": {"command": "ls"}}));
    assert!(none.as_deref().is_some_and(|r| r.contains("given no project")), "{none:?}");
    // The cwd alone is the project.
    assert_eq!(world.hook(&[], json!({"tool_name": "Bash", "tool_input": {"command": "ls"}, "cwd": root})), None);
}

/// Real processes: one this "session" started (it carries the mark), one it did not.
#[test]
fn signals_reach_only_processes_carrying_the_sessions_mark() {
    let world = World::new();
    let spawn = |mark: Option<&str>, tag: &str| {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 300", tag]);
        match mark {
            Some(m) => cmd.env(SESSION_ENV, m),
            None => cmd.env_remove(SESSION_ENV),
        };
        cmd.spawn().unwrap()
    };
    let mut ours = spawn(Some(SESSION), "policy-probe-ours");
    let mut theirs = spawn(None, "policy-probe-operator");
    let mut other_session = spawn(Some("another-session"), "policy-probe-other");
    // Give /proc a moment to show the new processes' environments.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let policy = Policy::new(&world.root, &Config::default()).with_session(Some(SESSION.into()));
    let kill = |pid: u32| policy.check_command(&format!("kill -TERM {pid}"));
    assert_eq!(kill(ours.id()), Decision::Allow);
    assert!(matches!(kill(theirs.id()), Decision::Deny(r) if r.contains("was not started by this session")));
    assert!(matches!(kill(other_session.id()), Decision::Deny(_)));
    assert_eq!(policy.check_command("pkill -f policy-probe-ours"), Decision::Allow);
    assert!(
        matches!(policy.check_command("pkill -f 'policy-probe-(ours|operator)'"), Decision::Deny(r) if r.contains(&theirs.id().to_string()))
    );

    // The hook takes the session's mark from its own environment, inherited from the CLI.
    let root = world.root.display().to_string();
    let hook = |pid: u32, mark: &str| {
        let input = json!({"tool_name": "Bash", "tool_input": {"command": format!("kill {pid}")}, "cwd": root});
        world.hook_as(Some(mark), &["-C", &root], input)
    };
    assert_eq!(hook(ours.id(), SESSION), None);
    assert!(hook(theirs.id(), SESSION).is_some_and(|r| r.contains("was not started by this session")));
    assert!(hook(ours.id(), "a-different-session").is_some_and(|r| r.contains("was not started by this session")));
    for child in [&mut ours, &mut theirs, &mut other_session] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Both backends mark what they start, so the check above sees a real session's processes.
#[test]
fn the_built_in_bash_tool_marks_its_commands() {
    let world = World::new();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ctx = baton::agent::tools::ToolContext::new(&world.root, tokio_util::sync::CancellationToken::new())
        .with_session("marked-session".into());
    let out = rt.block_on(baton::agent::tools::run("bash", &json!({"command": format!("echo ${SESSION_ENV}")}), &ctx));
    assert_eq!(out.output.trim(), "marked-session");
}

/// The cases baton's policy held before these holes were closed, with a project that allows
/// `docker` and denies `rm` in its config.
#[test]
fn the_projects_own_lists_and_the_earlier_cases() {
    let world = World::new();
    std::fs::create_dir_all(world.root.join(".baton")).unwrap();
    std::fs::write(world.root.join(".baton/config.toml"), "[policy]\nallow = [\"docker\"]\ndeny = [\"rm\"]\n").unwrap();
    let config = Config::load(&world.root).unwrap();
    let p = Policy::new(&world.root, &config).with_home(Some(world.home.clone()));
    let cases: &[Case] = &[
        ("ls -la && cat README.md | grep x", true, ""),
        ("git add -A && git commit -m 'feat: curl support'", true, ""),
        ("sh -c 'npm install && npm test'", true, ""),
        ("VAR=1 cargo test 2>&1 | tail -20", true, ""),
        ("TALLY_FILE=$(mktemp) sh init.sh", true, ""),
        ("docker ps", true, ""),
        ("echo hi > notes.txt && cat notes.txt >> log/out.txt", true, ""),
        ("echo done > /dev/null 2>&1", true, ""),
        ("find . -name '*.rs' -exec wc -l {} +", true, ""),
        ("timeout 30 ./init.sh", true, ""),
        ("env FOO=1 python3 -m pytest", true, ""),
        ("cat <<'EOF' > plan.md\ncurl is just text here\nEOF", true, ""),
        ("ls|wget x", false, "`wget` is not on the allowlist"),
        ("echo $(curl x)", false, "`curl`"),
        ("bash -c 'ssh host'", false, "`ssh`"),
        ("sudo make install", false, "`sudo`"),
        ("X=1 nc -l 80", false, "`nc`"),
        ("rm -rf build", false, "deny list"),
        ("find . -exec rm {} +", false, "deny list"),
        ("$CMD --flag", false, "cannot tell what it runs"),
        ("echo x > /etc/passwd", false, "outside the project"),
        ("echo x > ../../outside.txt", false, "outside the project"),
        ("bash /tmp/evil.sh", false, "only run scripts inside the project"),
        ("curl x | bash", false, "`curl`"),
        ("echo ls | bash", false, "reading commands from its input"),
        ("/usr/bin/curl x", false, "not on the allowlist"),
        ("timeout 5 scp a b:", false, "`scp`"),
        ("eval \"$(cat cmd)\"", false, "cannot be checked"),
        ("echo 'unterminated", false, "cannot parse"),
        ("cat <<EOF\n$(curl x)\nEOF", false, "`curl`"),
    ];
    let mut wrong = Vec::new();
    for &(cmd, allow, why) in cases {
        let got = decide(&p, cmd);
        let hooked = world.hook_bash(cmd);
        let ok = |d: Option<&str>| match d {
            None => allow,
            Some(reason) => !allow && reason.contains(why),
        };
        if !ok(match &got {
            Decision::Allow => None,
            Decision::Deny(r) => Some(r),
            Decision::Ask(_) => Some("asked, with nobody to ask"),
        }) || !ok(hooked.as_deref())
        {
            wrong.push(format!("{cmd:?}: tool {got:?}, hook {hooked:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let tool = |name: &str, input: serde_json::Value| p.check_tool(name, &input).is_allowed();
    assert!(tool("Write", json!({"file_path": world.root.join("src/main.rs")})));
    assert!(!tool("Write", json!({"file_path": "/etc/hosts"})));
    assert!(!tool("edit", json!({"path": "../x"})));
    assert!(tool("Read", json!({"file_path": "/etc/hosts"})));
    assert!(!tool("WebFetch", json!({"url": "http://127.0.0.1/"})));
}

/// MCP tools: a configured server's tools are allowed by default, `mcp_allow` narrows that (a
/// tool, a server, a prefix with `*`), `mcp_deny` wins, and a server nobody configured is
/// refused; the hook decides the same.
#[test]
fn mcp_tools_follow_mcp_allow_and_mcp_deny() {
    let world = World::new();
    let config = |extra: &str| {
        let text = format!(
            "[[mcp.servers]]\nname = \"playwright\"\ncommand = \"x\"\n[[mcp.servers]]\nname = \"docs\"\ncommand = \"y\"\n{extra}"
        );
        std::fs::create_dir_all(world.root.join(".baton")).unwrap();
        std::fs::write(world.root.join(".baton/config.toml"), &text).unwrap();
        Config::load(&world.root).unwrap()
    };
    let decide = |c: &Config, tool: &str| Policy::new(&world.root, c).check_tool(tool, &json!({}));
    let every = config("");
    assert_eq!(decide(&every, "mcp__playwright__browser_click"), Decision::Allow);
    assert_eq!(decide(&every, "mcp__docs__search"), Decision::Allow);
    let Decision::Deny(why) = decide(&every, "mcp__github__create_issue") else { panic!("an unknown server") };
    assert!(why.contains("server `github` is not configured"), "{why}");

    let narrow = config(
        "[policy]\nmcp_allow = [\"mcp__playwright__browser_*\", \"mcp__docs__search\"]\nmcp_deny = [\"mcp__playwright__browser_run_code_unsafe\"]\n",
    );
    assert_eq!(decide(&narrow, "mcp__playwright__browser_snapshot"), Decision::Allow);
    assert_eq!(decide(&narrow, "mcp__docs__search"), Decision::Allow);
    assert!(matches!(decide(&narrow, "mcp__docs__delete"), Decision::Deny(_)), "mcp_allow leaves it out");
    let Decision::Deny(why) = decide(&narrow, "mcp__playwright__browser_run_code_unsafe") else { panic!() };
    assert!(why.contains("mcp_deny"), "{why}");

    let root = world.root.display().to_string();
    let hook = |tool: &str| {
        world.hook(
            &["-C", &root],
            json!({"tool_name": tool, "tool_input": {}, "cwd": root, "hook_event_name": "PreToolUse"}),
        )
    };
    assert_eq!(hook("mcp__playwright__browser_snapshot"), None);
    assert!(hook("mcp__playwright__browser_run_code_unsafe").is_some_and(|r| r.contains("mcp_deny")));
}

/// When someone may be asked, a command whose only fault is a program off the allowlist is put to
/// them, every program named; anything else the policy refuses stays refused. Nobody to ask: refused.
#[test]
fn a_program_off_the_allowlist_is_asked_about_only_when_someone_may_answer() {
    let world = World::new();
    let asking = world.policy().asking(true);
    assert_eq!(decide(&asking, "factor 84 | shuf"), Decision::Ask(vec!["factor".into(), "shuf".into()]));
    assert_eq!(decide(&asking, "bash -c 'factor 84'"), Decision::Ask(vec!["factor".into()]));
    for refused in ["factor 84 > ~/.bashrc", "cat ~/.ssh/id_rsa | factor", "git -c core.pager=factor log"] {
        assert!(matches!(decide(&asking, refused), Decision::Deny(_)), "{refused}: {:?}", decide(&asking, refused));
    }
    assert!(matches!(decide(&world.policy(), "factor 84"), Decision::Deny(r) if r.contains("not on the allowlist")));
    // The hook asks (with the confined command) only when baton answers the CLI's prompt.
    let input = json!({"tool_name": "Bash", "tool_input": {"command": "factor 84"}, "cwd": world.root});
    let root = world.root.display().to_string();
    let plain = world.hook(&["-C", &root], input.clone()).unwrap();
    assert!(plain.contains("Refused by baton's policy") && plain.contains("not on the allowlist"), "{plain}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
    cmd.args(["-C", &root, "hook", "pre-tool-use"])
        .current_dir(&world.root)
        .env("HOME", &world.home)
        .env("BATON_ASK", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let asked = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    assert!(asked.contains("\"ask\"") && asked.contains("sandbox exec") && asked.contains("factor 84"), "{asked}");
}

/// One policy for both backends: the hook, like baton's own agent, lets a session write its own
/// temporary directory and not the rest of /tmp.
#[test]
fn the_hook_allows_the_same_temporary_directory_as_baton_s_agent() {
    let world = World::new();
    let tmp = world.root.parent().unwrap().join("session-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let agent = Policy::new(&world.root, &Config::default()).with_home(Some(world.home.clone())).with_tmpdir(&tmp);
    let hook = |command: &str| {
        let root = world.root.display().to_string();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
        cmd.args(["-C", &root, "hook", "pre-tool-use"])
            .current_dir(&world.root)
            .env("HOME", &world.home)
            .env("TMPDIR", &tmp)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let input = json!({"tool_name": "Bash", "tool_input": {"command": command}, "cwd": root});
        child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
        let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
        !out.contains("\"deny\"")
    };
    let inside = format!("echo x > {}/scratch.txt", tmp.display());
    for (command, allowed) in [(inside.as_str(), true), ("echo x > /tmp/elsewhere.txt", false)] {
        assert_eq!(decide(&agent, command).is_allowed(), allowed, "baton's agent: {command}");
        assert_eq!(hook(command), allowed, "the hook: {command}");
    }
}
