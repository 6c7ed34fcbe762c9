//! The loop's side of the fleet. Before a session: a slot of the fleet's cap, waited for while all
//! are taken (said in the journal and to whoever watches, as a limit wait is). And one account,
//! one limit: a plan limit a session hits and what the API says of the account's usage are
//! published for the other loops on the account, and read before each session here.

use super::*;
use crate::fleet::account::{Account, Heard, Ledger};
use crate::fleet::slots::{self, Slot};
use crate::fleet::{Dirs, Fleet, Place};

/// What this loop shares with its fleet.
pub(super) struct FleetLink {
    dirs: Option<Dirs>,
    ledger: Option<Ledger>,
    place: Place,
    /// The reset of the last limit waited for (or gone on from by the operator): a shared word of
    /// the same limit is not waited for again.
    waited_reset: Option<i64>,
}

impl FleetLink {
    pub(super) fn new(project: &Project, dirs: Option<Dirs>, account: Option<Account>, backend: &str) -> Self {
        let account = account.or_else(|| Account::from_env(backend));
        let ledger = dirs.as_ref().zip(account.as_ref()).map(|(d, a)| Ledger::new(d, a));
        let place = Place::parse(&project.root().display().to_string(), project.root())
            .unwrap_or_else(|_| Place::Local(project.root().to_owned()));
        FleetLink { dirs, ledger, place, waited_reset: None }
    }
}

impl Harness {
    /// Before a session: the governor's waits, then a slot of the fleet's cap (held until the
    /// session and its evaluation end). A limit another loop on the account hit while this one
    /// waited for its slot goes back to the governor.
    pub(super) async fn before_session(&mut self) -> Result<Result<Option<Slot>, StopReason>, HarnessError> {
        loop {
            if let Some(r) = self.govern_before().await? {
                return Ok(Err(r));
            }
            match self.fleet_slot().await? {
                Err(r) => return Ok(Err(r)),
                Ok(slot) if slot.is_some() && self.shared_limit().is_some() => drop(slot),
                Ok(slot) => return Ok(Ok(slot)),
            }
        }
    }

    /// A slot of the fleet's cap when this project is one of the fleet's and the fleet has a cap;
    /// waits while every slot is taken.
    async fn fleet_slot(&mut self) -> Result<Result<Option<Slot>, StopReason>, HarnessError> {
        let Some(dirs) = self.fleet.dirs.clone() else { return Ok(Ok(None)) };
        let dir = dirs.slots_dir();
        let place = self.fleet.place.to_string();
        let mut watch = slots::watch(&dir);
        let mut requests = self.requests_watch();
        let mut said = false;
        loop {
            let fleet = match Fleet::load(&dirs) {
                Ok(f) => f,
                Err(e) => {
                    self.emit(HarnessEvent::Notice { text: format!("{e}; this session does not wait for a slot") });
                    return Ok(Ok(None));
                }
            };
            if fleet.max == 0 || !fleet.has(&self.fleet.place) {
                return Ok(Ok(None));
            }
            let holders = match slots::try_take(&dir, fleet.max, &place) {
                Ok(Ok(slot)) => return Ok(Ok(Some(slot))),
                Ok(Err(holders)) => holders,
                Err(e) => {
                    let text =
                        format!("cannot use the fleet's slots in {}: {e}; this session does not wait", dir.display());
                    self.emit(HarnessEvent::Notice { text });
                    return Ok(Ok(None));
                }
            };
            if !said {
                said = true;
                let names: Vec<String> = holders
                    .iter()
                    .map(|h| {
                        let name = Place::parse(&h.place, Path::new("/")).map_or(h.place.clone(), |p| p.name());
                        h.pid.map_or(name.clone(), |pid| format!("{name} (pid {pid})"))
                    })
                    .collect();
                let reason = format!(
                    "{} of {} running across the fleet: {}",
                    crate::words::count(holders.len() as u64, "session"),
                    fleet.max,
                    names.join(", ")
                );
                self.append(Record::SlotWait { max: fleet.max, reason: reason.clone() })?;
                self.emit(HarnessEvent::SlotWait { max: fleet.max, reason });
            }
            tokio::select! {
                _ = slots::released(&mut watch, &holders) => {}
                cmds = self.next_commands(&mut requests) => {
                    let Some(cmds) = cmds? else { return Ok(Err(StopReason::Paused)) };
                    for c in cmds {
                        if c == Command::StartNext {
                            let text = "the fleet's slots are all taken: the session starts when one is free".into();
                            self.emit(HarnessEvent::Notice { text });
                        } else if let Some(r) = self.handle_idle(c)? {
                            return Ok(Err(r));
                        }
                    }
                }
            }
        }
    }

    /// A plan limit another loop on this account hit and that has not reset: the limit, and whose
    /// session hit it (in words, for the wait's reason).
    pub(super) fn shared_limit(&self) -> Option<(crate::agent::UsageLimit, String)> {
        let shared = self.fleet.ledger.as_ref()?.read();
        let heard = shared.limit_in_force(governor::now_unix() - self.opts.limit_margin.as_secs() as i64)?;
        if heard.limit.resets_at <= self.fleet.waited_reset {
            return None;
        }
        Some((heard.limit.clone(), format!(" (a session of {} on this account hit it)", whose(&heard.place))))
    }

    /// What another loop on this account last heard of its usage, while it still holds.
    pub(super) fn shared_usage(&self) -> Option<crate::agent::UsageLimit> {
        let usage = self.fleet.ledger.as_ref()?.read().usage?;
        let fresh = usage.limit.resets_at.is_some_and(|r| r > governor::now_unix());
        (fresh && usage.limit.resets_at > self.fleet.waited_reset).then_some(usage.limit)
    }

    /// A limit is waited for (or gone on from): a shared word of it is not waited for again.
    pub(super) fn limit_waited(&mut self, resets_at: Option<i64>) {
        self.fleet.waited_reset = self.fleet.waited_reset.max(resets_at);
    }

    /// Tells the other loops on this account what the API said of it.
    pub(super) fn share(&self, limit: &crate::agent::UsageLimit, session: Option<u32>, reached: bool) {
        let Some(ledger) = &self.fleet.ledger else { return };
        let heard =
            Heard { limit: limit.clone(), place: self.fleet.place.to_string(), session, at_ms: crate::fleet::now_ms() };
        let written = ledger.update(|s| {
            if reached {
                s.limit = Some(heard);
            } else {
                s.usage = Some(heard);
            }
        });
        if let Err(e) = written {
            tracing::warn!("cannot share the account's limits in {}: {e}", ledger.path().display());
        }
    }
}

/// A project's name from its place's text.
fn whose(place: &str) -> String {
    Place::parse(place, Path::new("/")).map_or(place.to_owned(), |p| p.name())
}
