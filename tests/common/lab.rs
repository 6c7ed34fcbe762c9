//! Real processes on one project: a headless loop in one pseudo-terminal against the scripted
//! model, screens attached to it in others, and the journal read back, for the tests of attaching
//! and of what an attached screen shows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::project::Project;
use baton::project::journal::{self, SessionSummary};

use super::pty::Screen;

/// A project with the demo's spec, `baton init` done and an agent's git identity.
pub fn demo_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app_spec.txt"), baton::commands::demo::SPEC).unwrap();
    super::Sandbox::new().run(dir.path(), &["init"]).ok();
    let repo = git2::Repository::open(dir.path()).unwrap();
    let mut c = repo.config().unwrap();
    c.set_str("user.name", "Agent").unwrap();
    c.set_str("user.email", "agent@example.com").unwrap();
    dir
}

/// The demo's scripted agent, typing slowly enough to be watched.
pub async fn demo_model() -> ScriptedModel {
    let mut scenario = Scenario::parse("demo.toml", baton::commands::demo::SCENARIO).unwrap();
    scenario.pace.chunk_chars = 6;
    scenario.pace.delay_ms = 15;
    ScriptedModel::start(scenario, None).await.unwrap()
}

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub home: super::Sandbox,
    pub url: String,
}

impl Lab {
    pub fn env(&self) -> Vec<(&'static str, Option<&str>)> {
        vec![
            ("ANTHROPIC_BASE_URL", Some(self.url.as_str())),
            ("ANTHROPIC_API_KEY", Some("test-key")),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", Some("1")),
        ]
    }

    /// `baton run --headless` with `args` added, in a terminal of its own.
    pub fn headless_loop_with(&self, args: &[&str]) -> Screen {
        let mut argv = vec!["run", "--headless"];
        argv.extend_from_slice(args);
        let screen = Screen::start(self.home.home.path(), self.dir.path(), &argv, (160, 50), &self.env());
        screen.wait_for("baton -C", Duration::from_secs(30));
        screen
    }

    /// `baton run --headless` with manual reviews, in a terminal of its own.
    pub fn headless_loop(&self) -> Screen {
        self.headless_loop_with(&["--approve", "manual"])
    }

    /// `baton attach` in a terminal of its own of `size`, with `env` added to the lab's.
    pub fn attached_at(&self, size: (u16, u16), env: &[(&'static str, Option<&str>)]) -> Screen {
        let mut all = self.env();
        all.extend_from_slice(env);
        let screen = Screen::start(self.home.home.path(), self.dir.path(), &["attach"], size, &all);
        screen.wait_for("attached to pid", Duration::from_secs(20));
        screen
    }

    /// `baton attach`, in a terminal of its own.
    pub fn attached(&self) -> Screen {
        self.attached_at((120, 40), &[])
    }

    pub fn entries(&self) -> Vec<journal::Entry> {
        Project::open(self.dir.path()).unwrap().journal().unwrap().entries
    }

    pub fn sessions(&self) -> Vec<SessionSummary> {
        journal::sessions(&self.entries())
    }

    /// Waits until the journal shows what `done` looks for.
    pub fn wait_journal(&self, what: &str, done: impl Fn(&[journal::Entry]) -> bool) {
        let started = Instant::now();
        while !done(&self.entries()) {
            assert!(started.elapsed() < Duration::from_secs(60), "the journal never showed: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A lab on a demo project, with the demo's scripted model (kept alive by the caller).
pub async fn lab() -> (Lab, ScriptedModel) {
    let model = demo_model().await;
    (Lab { dir: demo_project(), home: super::Sandbox::new(), url: model.url() }, model)
}

/// A lab on `dir`, with the scripted model playing `scenario`.
pub async fn lab_on(dir: tempfile::TempDir, scenario: &str) -> (Lab, ScriptedModel) {
    let model = ScriptedModel::start(Scenario::parse("lab.toml", scenario).unwrap(), None).await.unwrap();
    (Lab { dir, home: super::Sandbox::new(), url: model.url() }, model)
}
