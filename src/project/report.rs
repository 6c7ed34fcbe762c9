//! The run's numbers, from the journal alone: what the sessions cost, per newly passing feature,
//! how often the operator vetoed, how often a claim failed the evaluator, and how often the
//! operator stepped in. `baton report` prints them; anything that reads the journal agrees: the
//! status line, headless, `$`, `baton status` and the run's end all count sessions with
//! [`SessionCount`].

use serde::Serialize;

use super::evaluation::Judgement;
use super::journal::{self, Answer, Entry, Record, SessionSummary};
use super::session::{SessionKind, Verdict};

/// How many sessions of each kind, and what they cost: the one way a run's sessions are counted
/// and said ("1 initializer + 3 coding + 3 evaluator sessions, $0.52").
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SessionCount {
    pub initializer: usize,
    pub coding: usize,
    pub evaluator: usize,
    pub cost_usd: f64,
    /// Sessions whose cost nobody could price: the dollars leave them out, and say so.
    pub unpriced: usize,
}

impl SessionCount {
    /// Every session of `sessions`.
    pub fn of(sessions: &[SessionSummary]) -> Self {
        Self::since(sessions, 0)
    }

    /// The sessions numbered `first` and later (a run's own).
    pub fn since(sessions: &[SessionSummary], first: u32) -> Self {
        let mut c = SessionCount::default();
        for s in sessions.iter().filter(|s| s.number >= first) {
            match s.kind {
                SessionKind::Initializer => c.initializer += 1,
                SessionKind::Coding => c.coding += 1,
                SessionKind::Evaluator => c.evaluator += 1,
            }
            c.cost_usd += s.cost_usd();
            c.unpriced += usize::from(!s.usage().priced());
        }
        c
    }

    pub fn total(&self) -> usize {
        self.initializer + self.coding + self.evaluator
    }
}

impl std::fmt::Display for SessionCount {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let kinds: Vec<String> =
            [(self.initializer, "initializer"), (self.coding, "coding"), (self.evaluator, "evaluator")]
                .into_iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, kind)| format!("{n} {kind}"))
                .collect();
        if kinds.is_empty() {
            return f.write_str("no sessions, $0.00");
        }
        let noun = if self.total() == 1 { "session" } else { "sessions" };
        write!(f, "{} {noun}, {}", kinds.join(" + "), super::session::dollars(self.cost_usd, self.unpriced > 0))
    }
}

/// One session's line in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionLine {
    pub number: u32,
    pub kind: SessionKind,
    pub outcome: Option<super::session::Outcome>,
    pub verdict: Option<Verdict>,
    /// Features it marked passing that still stand (not vetoed, not flipped back).
    pub newly_passing: usize,
    /// Features passing once it was over, its verdict and evaluation and the operator's marks
    /// before the next session included, as the journal tells it.
    pub passing: usize,
    pub cost_usd: f64,
    pub tokens: u64,
    pub duration_ms: u64,
    /// Its cost is not all in `cost_usd`: no price, or no usage reported ("price unknown").
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub price_unknown: bool,
    /// Its server did not report all of its tokens: `tokens` counts what it reported.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tokens_unknown: bool,
}

/// What a newly passing feature cost on average; `None` before the first one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerFeature {
    pub cost_usd: f64,
    pub tokens: f64,
    pub duration_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Costs {
    pub total: f64,
    pub initializer: f64,
    pub coding: f64,
    pub evaluator: f64,
    /// Sessions whose cost is not all counted above ("price unknown"): the totals are a floor.
    #[serde(skip_serializing_if = "is_zero")]
    pub unpriced_sessions: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reviews {
    /// Sessions given a verdict (by the operator or the approve policy).
    pub decided: usize,
    pub vetoed: usize,
    /// Vetoed over decided; `None` before the first verdict.
    pub veto_rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Claims {
    /// Features coding sessions marked passing.
    pub made: usize,
    /// Of those, the ones the evaluator judged.
    pub evaluated: usize,
    /// Judged and failed by the evaluator.
    pub failed: usize,
    /// No usable verdict (the evaluator's answer could not be read, or it did not finish).
    pub errors: usize,
    /// Claims that stood, found failing later: a later session's re-check or the operator marked
    /// the feature failing again.
    pub failed_later: usize,
    /// Failed (by the evaluator or later) over made; `None` before the first claim.
    pub false_pass_rate: Option<f64>,
}

/// Follows each standing claim (a feature a coding session marked passing, not vetoed, not flipped
/// back by the evaluator) to see whether it is found failing later.
#[derive(Default)]
struct Standing(std::collections::HashMap<usize, u32>);

impl Standing {
    /// The record's effect on the claims; counts what it finds in `claims`.
    fn take(&mut self, record: &Record, claims: &mut Claims) {
        match record {
            Record::SessionEnded(r) => {
                for f in &r.flipped {
                    if f.passes {
                        self.0.insert(f.feature, r.number);
                    } else if self.0.get(&f.feature).is_some_and(|n| *n != r.number) {
                        self.0.remove(&f.feature);
                        claims.failed_later += 1;
                    }
                }
            }
            Record::Verdict { number, verdict: Verdict::Vetoed, .. } => self.0.retain(|_, n| n != number),
            Record::Evaluated(e) => e.reverted.iter().for_each(|f| {
                self.0.remove(f);
            }),
            Record::FeatureMarked { feature, passes: false, .. } if self.0.remove(feature).is_some() => {
                claims.failed_later += 1;
            }
            Record::FeatureMarked { feature, passes: true, .. } => {
                self.0.remove(feature);
            }
            // A skipped feature moves to the end: the ones after it move up.
            Record::FeatureSkipped { feature, to, .. } => {
                let moved = self.0.remove(feature);
                self.0 = self.0.drain().map(|(f, n)| (if f > *feature { f - 1 } else { f }, n)).collect();
                if let Some(n) = moved {
                    self.0.insert(*to, n);
                }
            }
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Interventions {
    pub marks: usize,
    pub edits: usize,
    pub vetoes: usize,
    /// Questions the operator answered (not those that timed out).
    pub answers: usize,
    /// Features set aside for now.
    pub skips: usize,
    /// Notes handed to the next session.
    pub notes: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Limits {
    /// Waits for a usage limit to reset.
    pub waits: usize,
    /// Time spent in them.
    pub waited_seconds: u64,
    /// Times the circuit breaker paused the run.
    pub breaker_trips: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The sessions by kind and their cost, as every reader says them.
    pub count: SessionCount,
    pub sessions: usize,
    pub coding_sessions: usize,
    pub evaluator_sessions: usize,
    pub cost_usd: Costs,
    pub tokens: u64,
    pub duration_ms: u64,
    pub newly_passing: usize,
    pub per_passing_feature: Option<PerFeature>,
    pub reviews: Reviews,
    pub claims: Claims,
    pub interventions: Interventions,
    pub limits: Limits,
    pub per_session: Vec<SessionLine>,
}

/// The operator's interventions in words: "2 marks, 1 edit, 0 vetoes, ...".
pub fn interventions(i: &Interventions) -> String {
    use crate::words::count;
    [
        count(i.marks as u64, "mark"),
        count(i.edits as u64, "edit"),
        format!("{} {}", i.vetoes, if i.vetoes == 1 { "veto" } else { "vetoes" }),
        count(i.answers as u64, "answer"),
        count(i.skips as u64, "skip"),
        count(i.notes as u64, "note"),
    ]
    .join(", ")
}

fn tokens(u: &super::session::Usage) -> u64 {
    u.input_tokens + u.output_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens
}

fn rate(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The report of everything the journal's `entries` record.
pub fn report(entries: &[Entry]) -> Report {
    let sessions = journal::sessions(entries);
    let mut per_session = Vec::new();
    let mut costs = Costs::default();
    let (mut reviews, mut claims) = (Reviews::default(), Claims::default());
    for s in &sessions {
        let cost = s.cost_usd();
        costs.total += cost;
        costs.unpriced_sessions += usize::from(!s.usage().priced());
        match s.kind {
            SessionKind::Initializer => costs.initializer += cost,
            SessionKind::Coding => costs.coding += cost,
            SessionKind::Evaluator => costs.evaluator += cost,
        }
        if matches!(s.verdict, Some(v) if v != Verdict::Pending) {
            reviews.decided += 1;
            reviews.vetoed += usize::from(s.verdict == Some(Verdict::Vetoed));
        }
        if let Some(e) = &s.evaluation {
            claims.evaluated += e.features.len();
            claims.failed += e.count(Judgement::Fail);
            claims.errors += e.count(Judgement::Error);
        }
        let claimed = s.end.as_ref().map_or(0, |r| r.flipped.iter().filter(|f| f.passes).count());
        let reverted = s.evaluation.as_ref().map_or(0, |e| e.reverted.len());
        let newly_passing = match (s.kind, s.verdict) {
            (SessionKind::Coding, Some(v)) if v != Verdict::Vetoed => claimed.saturating_sub(reverted),
            _ => 0,
        };
        per_session.push(SessionLine {
            number: s.number,
            kind: s.kind,
            outcome: s.outcome(),
            verdict: s.verdict,
            newly_passing,
            passing: 0,
            cost_usd: cost,
            tokens: tokens(&s.usage()),
            duration_ms: s.end.as_ref().map_or(0, |r| r.duration_ms),
            price_unknown: !s.usage().priced(),
            tokens_unknown: s.usage().unreported_turns > 0,
        });
    }
    reviews.veto_rate = rate(reviews.vetoed, reviews.decided);
    for (line, passing) in per_session.iter_mut().zip(passing_after(entries)) {
        line.passing = passing;
    }
    let mut standing = Standing::default();
    for e in entries {
        standing.take(&e.record, &mut claims);
    }
    claims.made = sessions
        .iter()
        .filter(|s| s.kind == SessionKind::Coding)
        .filter_map(|s| s.end.as_ref())
        .map(|r| r.flipped.iter().filter(|f| f.passes).count())
        .sum();
    claims.false_pass_rate = rate(claims.failed + claims.failed_later, claims.made);
    let mut interventions = Interventions { vetoes: reviews.vetoed, ..Interventions::default() };
    let mut limits = Limits::default();
    for e in entries {
        match &e.record {
            Record::FeatureSkipped { .. } => interventions.skips += 1,
            Record::NoteGiven { .. } => interventions.notes += 1,
            Record::LimitWaited { seconds } => {
                limits.waits += 1;
                limits.waited_seconds += seconds;
            }
            Record::BreakerTripped { .. } => limits.breaker_trips += 1,
            Record::FeatureMarked { .. } => interventions.marks += 1,
            Record::FeatureEdited { .. } => interventions.edits += 1,
            // The timeout's answer is nobody's.
            Record::Answered { answer: Answer::Deny { message }, .. } if message.starts_with("nobody answered") => {}
            Record::Answered { .. } => interventions.answers += 1,
            _ => {}
        }
    }
    let newly_passing: usize = per_session.iter().map(|l| l.newly_passing).sum();
    let total_tokens: u64 = per_session.iter().map(|l| l.tokens).sum();
    let total_ms: u64 = per_session.iter().map(|l| l.duration_ms).sum();
    let per_passing_feature = (newly_passing > 0).then(|| PerFeature {
        cost_usd: costs.total / newly_passing as f64,
        tokens: total_tokens as f64 / newly_passing as f64,
        duration_ms: total_ms as f64 / newly_passing as f64,
    });
    Report {
        count: SessionCount::of(&sessions),
        sessions: sessions.len(),
        coding_sessions: sessions.iter().filter(|s| s.kind == SessionKind::Coding).count(),
        evaluator_sessions: sessions.iter().filter(|s| s.kind == SessionKind::Evaluator).count(),
        cost_usd: costs,
        tokens: total_tokens,
        duration_ms: total_ms,
        newly_passing,
        per_passing_feature,
        reviews,
        claims,
        interventions,
        limits,
        per_session,
    }
}

/// Features passing after each session, in session order: each flip, veto, flip-back and mark
/// counted as it comes, read when the next session starts (or at the journal's end).
fn passing_after(entries: &[Entry]) -> Vec<usize> {
    let mut passing: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
    // Each session's flips, to take back on a veto.
    let mut flips: std::collections::HashMap<u32, Vec<(usize, bool)>> = std::collections::HashMap::new();
    let mut out = Vec::new();
    let mut started = 0;
    for e in entries {
        match &e.record {
            Record::SessionStarted { number, .. } => {
                if started > 0 {
                    out.push(passing.len());
                }
                started = *number;
            }
            Record::SessionEnded(r) => {
                for f in &r.flipped {
                    if f.passes {
                        passing.insert(f.feature);
                    } else {
                        passing.remove(&f.feature);
                    }
                }
                flips.insert(r.number, r.flipped.iter().map(|f| (f.feature, f.passes)).collect());
            }
            Record::Verdict { number, verdict: Verdict::Vetoed, .. } => {
                for (f, passes) in flips.get(number).into_iter().flatten() {
                    if *passes {
                        passing.remove(f);
                    } else {
                        passing.insert(*f);
                    }
                }
            }
            Record::Evaluated(ev) => ev.reverted.iter().for_each(|f| {
                passing.remove(f);
            }),
            Record::FeatureMarked { feature, passes: true, .. } => {
                passing.insert(*feature);
            }
            Record::FeatureMarked { feature, passes: false, .. } => {
                passing.remove(feature);
            }
            Record::FeatureSkipped { feature, to, .. } => {
                let moved = passing.remove(feature);
                passing = passing.iter().map(|f| if f > feature { f - 1 } else { *f }).collect();
                if moved {
                    passing.insert(*to);
                }
            }
            _ => {}
        }
    }
    if started > 0 {
        out.push(passing.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::journal::{Flip, SessionReport};
    use crate::project::session::Outcome;

    fn at(record: Record) -> Entry {
        Entry { at: jiff::Timestamp::now(), record }
    }

    fn coding(number: u32, flips: &[(usize, bool)]) -> [Entry; 2] {
        let flipped = flips.iter().map(|(f, p)| Flip { feature: *f, passes: *p, description: String::new() }).collect();
        [
            at(Record::SessionStarted {
                number,
                kind: SessionKind::Coding,
                backend: "b".into(),
                model: "m".into(),
                base: None,
                uncommitted: Vec::new(),
                target: None,
            }),
            at(Record::SessionEnded(SessionReport { flipped, ..SessionReport::new(number, Outcome::Completed) })),
        ]
    }

    #[test]
    fn sessions_are_counted_by_kind_with_their_cost_and_passing_counts_each_feature_once() {
        let mut entries = Vec::new();
        entries.extend(coding(1, &[(1, true)]));
        entries.extend(coding(2, &[(2, true)]));
        entries.push(at(Record::Verdict { number: 2, verdict: Verdict::Vetoed, reason: Some("no".into()) }));
        entries.extend(coding(3, &[(3, true)]));
        entries.push(at(Record::FeatureMarked { feature: 1, passes: false, commit: None }));
        let r = report(&entries);
        assert_eq!(r.count.to_string(), "3 coding sessions, $0.00");
        // 1 after session 1; session 2's flip vetoed; 3 added, then 1 marked failing by hand.
        let passing: Vec<usize> = r.per_session.iter().map(|l| l.passing).collect();
        assert_eq!(passing, [1, 1, 1]);
        let sessions = journal::sessions(&entries);
        assert_eq!(SessionCount::since(&sessions, 2).to_string(), "2 coding sessions, $0.00");
        let c = SessionCount { initializer: 1, coding: 3, evaluator: 3, cost_usd: 0.52, unpriced: 0 };
        assert_eq!(c.to_string(), "1 initializer + 3 coding + 3 evaluator sessions, $0.52");
        let unknown = SessionCount { unpriced: 1, ..c };
        assert_eq!(unknown.to_string(), "1 initializer + 3 coding + 3 evaluator sessions, $0.52 + price unknown");
        assert_eq!(SessionCount { coding: 1, ..SessionCount::default() }.to_string(), "1 coding session, $0.00");
    }

    #[test]
    fn a_claim_found_failing_later_is_a_false_pass_and_a_vetoed_one_is_not() {
        let mut entries = Vec::new();
        // Session 1 claims 1, 2 and 3; session 2 claims 4 and is vetoed.
        entries.extend(coding(1, &[(1, true), (2, true), (3, true)]));
        entries.extend(coding(2, &[(4, true)]));
        entries.push(at(Record::Verdict { number: 2, verdict: Verdict::Vetoed, reason: Some("no".into()) }));
        // Feature 2 is skipped: 3 becomes 2, 4 becomes 3, 2 goes to the end (4).
        entries.push(at(Record::FeatureSkipped { feature: 2, to: 4, commit: None }));
        // Session 3's re-check finds feature 2 (was 3) failing, and vetoed 3 (was 4) too; the
        // operator marks feature 4 (was 2) failing.
        entries.extend(coding(3, &[(2, false), (3, false)]));
        entries.push(at(Record::FeatureMarked { feature: 4, passes: false, commit: None }));
        let r = report(&entries);
        assert_eq!(r.claims.made, 4);
        assert_eq!(r.claims.failed_later, 2, "{:?}", r.claims);
        assert_eq!(r.claims.false_pass_rate, Some(0.5));
    }
}
