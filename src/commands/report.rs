//! `baton report [--json]`: the run's numbers, from the journal (so it answers while a loop runs).

use std::io::Write;

use color_eyre::Result;

use crate::project::Project;
use crate::project::report;

pub fn run(project: &Project, json: bool, out: &mut dyn Write) -> Result<()> {
    let read = project.journal()?;
    super::warn_all(&read.warnings);
    let r = report::report(&read.entries);
    if json {
        return super::print_json(out, &r);
    }
    let pct = |rate: Option<f64>| rate.map_or("-".to_owned(), |r| format!("{:.0}%", r * 100.0));
    let c = &r.cost_usd;
    writeln!(out, "sessions      {}", r.count)?;
    let unknown = if c.unpriced_sessions > 0 {
        format!(" · price unknown for {}", crate::words::count(c.unpriced_sessions as u64, "session"))
    } else {
        String::new()
    };
    writeln!(
        out,
        "cost          ${:.2} (initializer ${:.2}, coding ${:.2}, evaluator ${:.2}){unknown} · {} tokens · {}",
        c.total,
        c.initializer,
        c.coding,
        c.evaluator,
        r.tokens,
        super::run::duration(r.duration_ms)
    )?;
    match &r.per_passing_feature {
        Some(f) => writeln!(
            out,
            "per feature   {} newly passing: ${:.2}, {:.0} tokens, {} each",
            r.newly_passing,
            f.cost_usd,
            f.tokens,
            super::run::duration(f.duration_ms as u64)
        )?,
        None => writeln!(out, "per feature   no feature passes yet")?,
    }
    writeln!(
        out,
        "vetoes        {} of {} reviewed ({})",
        r.reviews.vetoed,
        r.reviews.decided,
        pct(r.reviews.veto_rate)
    )?;
    writeln!(
        out,
        "false passes  {} ({} of {} claims): {} failed evaluation ({} evaluated, {} without a verdict), {} found failing later",
        pct(r.claims.false_pass_rate),
        r.claims.failed + r.claims.failed_later,
        r.claims.made,
        r.claims.failed,
        r.claims.evaluated,
        r.claims.errors,
        r.claims.failed_later
    )?;
    let i = &r.interventions;
    writeln!(out, "operator      {}", report::interventions(i))?;
    let l = &r.limits;
    writeln!(
        out,
        "limits        {} waited for usage limits ({}), circuit breaker tripped {}",
        crate::words::count(l.waits as u64, "time"),
        super::run::duration(l.waited_seconds * 1000),
        crate::words::count(l.breaker_trips as u64, "time")
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:>4}  {:<11}  {:<18}  {:<13}  {:>5}  {:>8}  {:>9}",
        "#", "kind", "outcome", "verdict", "new", "cost", "tokens"
    )?;
    for l in &r.per_session {
        let word = |w: Option<String>| w.unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:>4}  {:<11}  {:<18}  {:<13}  {:>5}  {:>8}  {:>9}",
            l.number,
            l.kind.to_string(),
            word(l.outcome.map(|o| o.words().to_owned())),
            word(l.verdict.map(|v| v.words().to_owned())),
            l.newly_passing,
            match (l.price_unknown, l.cost_usd > 0.0) {
                (false, _) => format!("${:.2}", l.cost_usd),
                (true, false) => "unknown".to_owned(),
                (true, true) => format!("${:.2}+?", l.cost_usd),
            },
            match (l.tokens_unknown, l.tokens) {
                (false, n) => n.to_string(),
                (true, 0) => "unknown".to_owned(),
                (true, n) => format!("≥{n}"),
            }
        )?;
    }
    Ok(())
}
