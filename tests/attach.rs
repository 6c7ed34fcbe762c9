//! Attach, with real processes: a headless loop runs in one pseudo-terminal on the scripted model,
//! the screen runs in another and attaches to it. What the attached screen shows is the running
//! session's live transcript; what it is told to do, the loop does (and git and the journal say
//! so). Two attached screens racing verdicts record one; a loop killed outright is noticed within
//! two seconds and the screen takes the loop over.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use baton::project::Project;
use baton::project::journal::{self, Record, Remote};
use baton::project::session::{Outcome, Verdict};
use common::lab::lab;

fn verdicts(entries: &[journal::Entry], number: u32) -> Vec<(Verdict, Option<String>)> {
    entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::Verdict { number: n, verdict, reason } if *n == number => Some((*verdict, reason.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_screen_watches_the_live_session_and_steers_the_loop() {
    let (lab, _model) = lab().await;
    let mut headless = lab.headless_loop();
    let screen = lab.attached();

    // The running session's transcript, live: shown while the journal says the session runs.
    screen.wait_for("This is the first session, so I will read the spec", Duration::from_secs(30));
    assert!(lab.sessions()[0].end.is_none(), "the line was shown while session 1 ran");

    // Approve from here.
    let review = screen.wait_for("Review · session 1 (initializer)", Duration::from_secs(60));
    assert!(review.contains("Lay the groundwork"), "{review}");
    screen.send("y");
    lab.wait_journal("session 1 approved", |e| verdicts(e, 1) == [(Verdict::Approved, None)]);

    // While session 2 runs: mark feature 8 by hand, then interrupt the session.
    screen.wait_for("── session 2 (coding)", Duration::from_secs(30));
    screen.send("\t\t\t");
    screen.send("jjjjjjj ");
    lab.wait_journal("the mark taken by the loop", |e| {
        let id = e.iter().find_map(|e| match &e.record {
            Record::Requested { id, command: Remote::Mark { feature: 8, passes: true }, .. } => Some(id.clone()),
            _ => None,
        });
        id.is_some_and(|id| e.iter().any(|e| matches!(&e.record, Record::RequestTaken { id: t } if *t == id)))
    });
    screen.send("x");
    screen.wait_for("Interrupt the running session now?", Duration::from_secs(10));
    screen.send("y");
    lab.wait_journal("session 2 interrupted", |e| {
        journal::sessions(e).get(1).and_then(|s| s.outcome()) == Some(Outcome::Interrupted)
    });

    // Its review: pause after the verdict, then veto with a reason.
    screen.wait_for("Review · session 2 (coding) · interrupted", Duration::from_secs(30));
    screen.send("p");
    screen.send("v");
    screen.wait_for("Why veto?", Duration::from_secs(10));
    screen.send("finish feature 1 first");
    screen.send("\r");
    lab.wait_journal("session 2 vetoed", |e| {
        verdicts(e, 2) == [(Verdict::Vetoed, Some("finish feature 1 first".to_owned()))]
    });
    lab.wait_journal("the run paused", |e| {
        e.iter().any(|e| matches!(&e.record, Record::RunStopped { reason, .. } if reason == "paused"))
    });
    assert!(headless.wait_exit(Duration::from_secs(20)), "the headless loop ended its run");

    // git agrees: the branch is back at session 2's base, feature 8 marked by the operator.
    let sessions = lab.sessions();
    let repo = git2::Repository::open(lab.dir.path()).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    assert!(head.message().unwrap().starts_with("Mark feature 8 passing"), "{:?}", head.message());
    assert_eq!(head.parent_id(0).unwrap().to_string(), sessions[1].base.clone().unwrap());
    let list = Project::open(lab.dir.path()).unwrap().features().unwrap().unwrap();
    assert!(list.get(8).unwrap().passes());
    assert_eq!(sessions.len(), 2, "paused: no session after the veto");
    // The attached screen saw the run end; its message log says when the loop took each command.
    screen.wait_for("paused", Duration::from_secs(10));
    screen.send("m");
    let log = screen.wait_for("the loop took it: approve session 1", Duration::from_secs(10));
    assert!(log.contains("the loop took it: mark feature 8 passing"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_attached_screens_racing_verdicts_record_exactly_one() {
    let (lab, _model) = lab().await;
    let _headless = lab.headless_loop();
    let (a, b) = (lab.attached(), lab.attached());
    for s in [&a, &b] {
        s.wait_for("Review · session 1 (initializer)", Duration::from_secs(60));
    }
    b.send("v");
    b.wait_for("Why veto?", Duration::from_secs(10));
    b.send("not like this");
    // Both at once.
    a.send("y");
    b.send("\r");
    lab.wait_journal("a verdict on session 1", |e| !verdicts(e, 1).is_empty());
    std::thread::sleep(Duration::from_millis(1500));
    let entries = lab.entries();
    let recorded = verdicts(&entries, 1);
    assert_eq!(recorded.len(), 1, "exactly one verdict: {recorded:?}");
    let asked = entries
        .iter()
        .filter(|e| {
            matches!(
                &e.record,
                Record::Requested { command: Remote::Approve { number: 1 } | Remote::Veto { number: 1, .. }, .. }
            )
        })
        .count();
    // When both verdicts reached the journal, the screen whose verdict came second is told (its
    // message log keeps it). Otherwise the first verdict closed the other's review before Enter.
    if asked == 2 {
        let (loser, word) = match recorded[0].0 {
            Verdict::Approved => (&b, "session 1 was approved first"),
            _ => (&a, "session 1 was vetoed first"),
        };
        loser.send("");
        loser.send("m");
        loser.wait_for(word, Duration::from_secs(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_loop_is_noticed_within_two_seconds_and_the_screen_takes_over() {
    let (lab, _model) = lab().await;
    let headless = lab.headless_loop();
    let screen = lab.attached();
    screen.wait_for("This is the first session", Duration::from_secs(30));
    // SAFETY: SIGKILL to the headless baton this test started.
    unsafe { libc::kill(headless.pid(), libc::SIGKILL) };
    let killed = Instant::now();
    // Said, and (with a backend here) the loop taken over at once: the review of the killed
    // session may already cover the words.
    let shown = screen.wait_until(
        |s| s.contains("is gone without ending its run") || s.contains("session 1 (initializer) · interrupted"),
        "the loop's end",
        Duration::from_secs(5),
    );
    let noticed = killed.elapsed();
    assert!(noticed < Duration::from_secs(2), "noticed after {noticed:?}");
    assert!(!shown.contains("attached to pid"), "no stale attachment:\n{shown}");
    // The loop runs here now: it recovers the killed session as interrupted and asks for its
    // review, as a restarted loop does.
    let review = screen.wait_for("Review · session 1 (initializer) · interrupted", Duration::from_secs(30));
    assert!(review.contains("recorded as interrupted on restart"), "{review}");
    screen.send("y");
    lab.wait_journal("session 1 approved by the screen's own loop", |e| {
        verdicts(e, 1) == [(Verdict::Approved, None)]
            && e.iter().filter(|e| matches!(e.record, Record::RunStarted { .. })).count() == 2
    });
    let holder = baton::project::lock::holder(&lab.dir.path().join(".baton")).unwrap();
    assert_eq!(holder, screen.pid().to_string(), "the screen runs the loop now");
    screen.send("m");
    screen.wait_for("is gone without ending its run (killed?)", Duration::from_secs(10));
}
