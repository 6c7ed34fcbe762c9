//! What a session writes as it runs: its events with baton's credentials masked (a model's reply
//! as one stream, so a secret split across deltas is caught), and its transcript file.

use super::*;

/// Masks secrets in a session's events: a model's reply as one stream (a secret split across two
/// deltas is caught), everything else whole.
#[derive(Debug, Default)]
pub(super) struct Masker {
    stream: secrets::StreamMask,
    /// What the stream holds back: thinking or text, of which session.
    thinking: bool,
    number: u32,
}

impl Masker {
    /// `event`, masked: none, one or (what was held back, then it) two events.
    pub(super) fn agent(&mut self, event: AgentEvent) -> Vec<AgentEvent> {
        let redactor = secrets::global();
        let mut out = Vec::new();
        let piece = match &event {
            AgentEvent::TextDelta { text } => Some((false, text)),
            AgentEvent::ThinkingDelta { text } => Some((true, text)),
            _ => None,
        };
        if piece.is_none_or(|(thinking, _)| thinking != self.thinking) {
            out.extend(self.held());
        }
        match piece {
            Some((thinking, text)) => {
                self.thinking = thinking;
                out.extend(delta(thinking, self.stream.push(redactor, text)));
            }
            // An event that cannot be masked is not shown at all.
            None => out.push(redactor.mask(event).unwrap_or_else(|| AgentEvent::Notice {
                text: "an event held a secret baton could not mask; it is not shown".into(),
            })),
        }
        out
    }

    /// `event` for whoever watches, masked; what a session's stream held back goes first.
    pub(super) fn harness(&mut self, event: HarnessEvent) -> Vec<HarnessEvent> {
        let mut out: Vec<HarnessEvent> = Vec::new();
        let held = |m: &mut Masker, out: &mut Vec<HarnessEvent>| {
            let number = m.number;
            out.extend(m.held().map(|event| HarnessEvent::Agent { number, event }));
        };
        match event {
            HarnessEvent::Agent { number, event } => {
                if number != self.number {
                    held(self, &mut out);
                    self.number = number;
                }
                out.extend(self.agent(event).into_iter().map(|event| HarnessEvent::Agent { number, event }));
            }
            other => {
                held(self, &mut out);
                out.push(secrets::global().mask(other).unwrap_or_else(|| HarnessEvent::Notice {
                    text: "an event held a secret baton could not mask; it is not shown".into(),
                }));
            }
        }
        out
    }

    /// What the stream held back, as the delta it came in.
    fn held(&mut self) -> Option<AgentEvent> {
        delta(self.thinking, self.stream.flush(secrets::global()))
    }
}

fn delta(thinking: bool, text: String) -> Option<AgentEvent> {
    match (text.is_empty(), thinking) {
        (true, _) => None,
        (false, true) => Some(AgentEvent::ThinkingDelta { text }),
        (false, false) => Some(AgentEvent::TextDelta { text }),
    }
}

/// A session's transcript, `.baton/sessions/NNNN.jsonl`: every agent event, secrets masked.
pub(super) struct Transcript {
    file: Option<std::fs::File>,
    mask: Masker,
}

impl Transcript {
    pub(super) fn open(path: &Path) -> Result<Self, HarnessError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| HarnessError::Io(format!("cannot create {}: {e}", dir.display())))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| HarnessError::Io(format!("cannot open the transcript {}: {e}", path.display())))?;
        Ok(Transcript { file: Some(file), mask: Masker::default() })
    }

    pub(super) fn write(&mut self, event: &AgentEvent) {
        for event in self.mask.agent(event.clone()) {
            self.write_masked(&event);
        }
    }

    fn write_masked(&mut self, event: &AgentEvent) {
        let Some(file) = &mut self.file else { return };
        #[derive(Serialize)]
        struct Line<'a> {
            at: jiff::Timestamp,
            #[serde(flatten)]
            event: &'a AgentEvent,
        }
        let Ok(line) = serde_json::to_string(&Line { at: jiff::Timestamp::now(), event }) else { return };
        let line = secrets::global().redact(&line);
        if writeln!(file, "{line}").is_err() {
            tracing::warn!("cannot write the transcript; going on without it");
            self.file = None;
        }
    }
}

impl Drop for Transcript {
    /// The end of the session: what the masker held back is written too.
    fn drop(&mut self) {
        if let Some(event) = self.mask.held() {
            self.write_masked(&event);
        }
    }
}
