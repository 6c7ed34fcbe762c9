//! Questions: a tool call the policy neither allows nor denies is put to the operator while its
//! session waits. Each question is recorded in the journal, shown (and notified), and answered
//! by the screen, an attached screen or `baton answer`: allow once, allow always (the programs
//! join the project's `[policy] allow`), or deny with a message the agent reads. A question
//! nobody answers in `[policy] ask_timeout_seconds` is denied, and the agent told why.

use super::*;
use crate::agent::{Answer, Question};

/// A question waiting for its answer.
pub(super) struct Pending {
    number: u32,
    programs: Vec<String>,
    deadline: tokio::time::Instant,
    reply: tokio::sync::oneshot::Sender<Answer>,
}

impl Harness {
    /// The number the next question gets: one more than the last. The journal is read for it
    /// once a run (only this loop records questions); then it counts.
    fn next_question_number(&mut self) -> u32 {
        let last = *self.last_question.get_or_insert_with(|| {
            let entries = self.project.journal().map(|r| r.entries).unwrap_or_default();
            entries
                .iter()
                .filter_map(|e| match e.record {
                    Record::Asked { number, .. } => Some(number),
                    _ => None,
                })
                .max()
                .unwrap_or(0)
        });
        self.last_question = Some(last + 1);
        last + 1
    }

    /// Session `session` asks: recorded, shown, and left waiting for an answer.
    pub(super) fn on_question(&mut self, session: u32, q: Question, words: &str) {
        let number = self.next_question_number();
        let command = match q.input.get("command").and_then(|c| c.as_str()) {
            Some(c) => c.to_owned(),
            None => crate::agent::key_argument(&q.input),
        };
        let reason = crate::agent::policy::ask_reason(&q.programs);
        let asked =
            Record::Asked { number, session, tool: q.tool.clone(), command: command.clone(), reason: reason.clone() };
        if let Err(e) = self.append(asked) {
            // Unrecorded, it cannot be answered from elsewhere: refuse it rather than lose it.
            let _ = q.reply.send(Answer::Deny { message: format!("baton could not record the question ({e})") });
            return;
        }
        let timeout = Duration::from_secs(self.project.config().policy.ask_timeout_seconds.max(1));
        self.questions.push(Pending {
            number,
            programs: q.programs,
            deadline: tokio::time::Instant::now() + timeout,
            reply: q.reply,
        });
        self.emit(HarnessEvent::Question {
            number,
            session,
            tool: q.tool,
            command,
            reason,
            cwd: self.project.root().display().to_string(),
            words: words.trim().to_owned(),
        });
    }

    /// The operator's answer to question `number`.
    pub(super) fn on_answer(&mut self, number: u32, answer: Answer) {
        let Some(i) = self.questions.iter().position(|q| q.number == number) else {
            self.emit(HarnessEvent::Notice { text: format!("question {number} is not waiting for an answer") });
            return;
        };
        let q = self.questions.remove(i);
        let mut answer = answer;
        if answer == Answer::Always
            && let Err(e) = crate::project::config::allow_in_project(self.project.root(), &q.programs)
        {
            // It still runs this once; the operator hears why it was not kept.
            self.emit(HarnessEvent::Notice { text: format!("allowed once only: {e}") });
            answer = Answer::Once;
        }
        self.answered(q, answer);
    }

    /// Denies every question whose time is up.
    pub(super) fn expire_questions(&mut self) {
        let now = tokio::time::Instant::now();
        let timeout = self.project.config().policy.ask_timeout_seconds.max(1);
        while let Some(i) = self.questions.iter().position(|q| q.deadline <= now) {
            let q = self.questions.remove(i);
            let message =
                format!("nobody answered within {timeout} s, so it did not run; find another way or say what you need");
            self.answered(q, Answer::Deny { message });
        }
    }

    /// When the first waiting question times out.
    pub(super) fn next_deadline(&self) -> Option<tokio::time::Instant> {
        self.questions.iter().map(|q| q.deadline).min()
    }

    /// The questions of a session that ended: nobody can answer them any more.
    pub(super) fn drop_questions(&mut self) {
        for q in std::mem::take(&mut self.questions) {
            self.answered(q, Answer::Deny { message: "the session ended before an answer".into() });
        }
    }

    fn answered(&mut self, q: Pending, answer: Answer) {
        let _ = q.reply.send(answer.clone());
        if let Err(e) = self.append(Record::Answered { number: q.number, answer: answer.clone() }) {
            tracing::warn!("cannot record the answer to question {}: {e}", q.number);
        }
        self.emit(HarnessEvent::Answered { number: q.number, answer });
    }
}

/// Keeps the last of what the agent wrote in `words`, adding `text`.
pub(super) fn latest_words(words: &mut String, text: &str) {
    words.push_str(text);
    if words.len() > 2000 {
        words.drain(..words.floor_char_boundary(words.len() - 600));
    }
}

/// The agent's words so far end a message: the next one is not run into them.
pub(super) fn words_end(words: &mut String) {
    if !words.is_empty() && !words.ends_with(char::is_whitespace) {
        words.push(' ');
    }
}
