//! The governor's timing: how soon after a usage limit's reset (plus the margin) the loop starts
//! the next session, and how close pacing by the `anthropic-ratelimit-*` headers comes to the
//! fastest the API's window allows, with no request refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::agent::{AgentEvent, Backend, EndReason, SessionEnd, SessionRequest};
use baton::harness::{Harness, HarnessEvent, RunOptions};
use baton::project::config::{ApprovePolicy, Mode};
use baton::project::session::Usage;
use futures_util::future::BoxFuture;

/// A backend whose first session hits the plan's limit, resetting 2 s later; the rest complete.
struct Limited {
    runs: AtomicU32,
    resets_at: i64,
}

impl Backend for Limited {
    fn name(&self) -> &'static str {
        "limited"
    }
    fn model(&self) -> &str {
        "m"
    }
    fn run(&self, _: SessionRequest, _: tokio::sync::mpsc::UnboundedSender<AgentEvent>) -> BoxFuture<'_, SessionEnd> {
        let first = self.runs.fetch_add(1, Ordering::SeqCst) == 0;
        let reason = if first {
            EndReason::UsageLimit { message: "limit".into(), resets_at: Some(self.resets_at), kind: None }
        } else {
            EndReason::Completed
        };
        Box::pin(
            async move { SessionEnd { reason, usage: Usage::default(), cost_usd: 0.0, turns: 1, notes: Vec::new() } },
        )
    }
}

pub fn governor(report: impl Fn(&str, String, &str)) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // The resume: from the end of the wait (the reset plus the margin) to the next session's start.
    let lags: Vec<f64> = runtime.block_on(async {
        let mut lags = Vec::new();
        for _ in 0..3 {
            let dir = super::attach::project();
            std::fs::create_dir_all(dir.path().join(".baton")).unwrap();
            std::fs::write(dir.path().join(".baton/config.toml"), "[run]\nlimit_margin_seconds = 1\n").unwrap();
            let project = baton::project::Project::open(dir.path()).unwrap();
            let resets_at = baton::harness::governor::now_unix() + 2;
            let backend = Limited { runs: AtomicU32::new(0), resets_at };
            let mut opts = RunOptions::from_config(project.config());
            opts.approve = ApprovePolicy::Auto;
            opts.mode = Mode::Continuous;
            opts.max_sessions = Some(2);
            let (h, mut handles) = Harness::new(project, Arc::new(backend), opts).unwrap();
            let task = tokio::spawn(h.run());
            let mut until = None;
            while let Some(ev) = handles.events.recv().await {
                match ev {
                    HarnessEvent::LimitWait { until: u, .. } => until = Some(u),
                    HarnessEvent::SessionStarted { number: 2, .. } => {
                        let end = jiff::Timestamp::from_second(until.expect("a wait came first")).unwrap();
                        let lag = jiff::Timestamp::now().duration_since(end).as_secs_f64() * 1000.0;
                        lags.push(lag);
                    }
                    _ => {}
                }
            }
            task.await.unwrap().unwrap();
        }
        lags
    });
    let worst = lags.iter().cloned().fold(f64::MIN, f64::max);
    report(
        "governor: next session after a usage limit's reset + margin (worst of 3)",
        format!("{worst:.0} ms late"),
        "< 100 ms late, never early",
    );

    // Pacing: 13 requests through a window of 3 a second.
    let (elapsed, throttled) = runtime.block_on(async {
        // The window goes on the line after the scenario's name.
        let text = super::attach::tool_turns("paced", 12, |_| "true".into()).replacen(
            '\n',
            "\nrate_limits = { requests = 3, window_seconds = 1.0 }\n",
            1,
        );
        let model = ScriptedModel::start(Scenario::parse("paced", &text).unwrap(), None).await.unwrap();
        let started = Instant::now();
        let (_dir, mut handles, task) = super::attach::one_session(&model.url(), false);
        while handles.events.recv().await.is_some() {}
        task.await.unwrap().unwrap();
        assert_eq!(model.requests().len(), 13);
        (started.elapsed(), model.throttled())
    });
    let floor = Duration::from_secs(4); // 13 requests, 3 a window: the 13th goes in the fifth window.
    report(
        "governor: 13 requests paced through a window of 3 a second",
        format!(
            "{throttled} refused (429), {:.1} s (the window's floor: {:.1} s)",
            elapsed.as_secs_f64(),
            floor.as_secs_f64()
        ),
        "0 refused, within 25 % of the floor",
    );
}
