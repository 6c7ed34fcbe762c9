//! What a question costs: the CPU the loop spends while a question waits (it should sleep), and
//! how long an answer takes to reach the agent (from the answer sent to the command's result).

use std::time::{Duration, Instant};

use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::agent::{AgentEvent, Answer};
use baton::harness::{Command, HarnessEvent};

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

pub fn ask(report: impl Fn(&str, String, &str)) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (idle, lags) = runtime.block_on(async {
        let scenario = super::attach::tool_turns("ask", 11, |i| format!("factor {}", 100 + i));
        let model = ScriptedModel::start(Scenario::parse("ask", &scenario).unwrap(), None).await.unwrap();
        let (_dir, mut handles, task) = super::attach::one_session(&model.url(), true);
        let (mut idle, mut lags, mut sent) = (None, Vec::new(), None);
        while let Some(ev) = handles.events.recv().await {
            match ev {
                HarnessEvent::Question { number, .. } => {
                    if idle.is_none() {
                        // The first question waits 3 s unanswered: what does the loop spend?
                        let (cpu, wall) = (cpu_seconds(), Instant::now());
                        tokio::time::sleep(Duration::from_secs(3)).await;

                        idle = Some((cpu_seconds() - cpu) / wall.elapsed().as_secs_f64() * 100.0);
                    }
                    sent = Some(Instant::now());
                    handles.commands.send(Command::Answer { number, answer: Answer::Once }).unwrap();
                }
                HarnessEvent::Agent { event: AgentEvent::ToolResult { .. }, .. } => {
                    if let Some(s) = sent.take() {
                        lags.push(s.elapsed().as_secs_f64() * 1e3);
                    }
                }
                _ => {}
            }
        }
        task.await.unwrap().unwrap();
        (idle.unwrap_or(0.0), lags)
    });
    report("ask: CPU while a question waits (3 s)", format!("{idle:.2} % of a core"), "≈ 0");
    report(
        "ask: answer sent → the command's result",
        format!("{:.1} ms (of {}, running it included)", super::median(lags.clone()), lags.len()),
        "< 100 ms",
    );
}
