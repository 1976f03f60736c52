//! A person answers a waiting run, from any process: the command line
//! (`workflow approve|reject|answer`) and `workflow serve` go through this
//! one path. It finds the question the run waits on, checks the answer fits
//! it (a decision for a gate or consent, a valid value for a prompt), checks
//! the person is one of the gate's `approvers:`, and records the answer with
//! who gave it and when. Nothing is written when any check fails. Making the
//! run go on afterwards is the caller's: see [`crate::executor::Executor::resume`].

use super::{Answer, InputType, RequestKind};
use crate::store::{Question, Store, StoreError};
use serde_json::Value;

/// What a person gives.
#[derive(Clone, Debug, PartialEq)]
pub enum Given {
    /// Approve (`true`) or reject a gate or a consent question, with an optional comment.
    Decision {
        /// Approve or reject.
        approved: bool,
        /// Why (a gate's `comment` output).
        comment: Option<String>,
    },
    /// A prompt's answer as typed: checked against its type, choices and pattern.
    Text(String),
    /// A prompt's value already checked (asked at a terminal, which checks as it asks).
    Value(Value),
}

/// Why an answer was not recorded (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// No such run.
    #[error("no run `{0}`")]
    RunNotFound(String),
    /// The run waits on no question (at that step).
    #[error("run {run} is not waiting for anyone{at}")]
    NotWaiting {
        /// The run.
        run: String,
        /// ` at step `x`` when a step was named, else empty.
        at: String,
    },
    /// A decision for a prompt, or a value for a gate.
    #[error("{message} (run {run}, step `{step}`)")]
    WrongKind {
        /// The run.
        run: String,
        /// The step asking.
        step: String,
        /// What to do instead.
        message: String,
    },
    /// The value does not fit the prompt.
    #[error("{message} (run {run}, step `{step}`)")]
    Invalid {
        /// The run.
        run: String,
        /// The step asking.
        step: String,
        /// What a fitting answer looks like.
        message: String,
    },
    /// The person is not one of the gate's approvers.
    #[error("`{operator}` may not answer step `{step}` of run {run}: its approvers are {}", approvers.join(", "))]
    NotApprover {
        /// The run.
        run: String,
        /// The gate.
        step: String,
        /// Who tried.
        operator: String,
        /// Who may.
        approvers: Vec<String>,
    },
    /// Someone else answered first; theirs stands.
    #[error("step `{step}` of run {run} was answered meanwhile by someone else")]
    AnsweredMeanwhile {
        /// The run.
        run: String,
        /// The step.
        step: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The question run `run_id` waits on (the newest unanswered one; at `step` when given).
pub fn open_question<S: Store + ?Sized>(store: &S, run_id: &str, step: Option<&str>) -> Result<Question, AnswerError> {
    if store.load_run(run_id)?.is_none() {
        return Err(AnswerError::RunNotFound(run_id.to_string()));
    }
    let questions = store.questions(run_id)?;
    // A password's answer is never stored: a resumed run asks for it again, so its question stays answerable.
    let open = questions.into_iter().filter(|q| q.answer.is_none() || q.request.asks_for_password()).rfind(|q| step.is_none_or(|s| q.request.step_id == s));
    open.ok_or_else(|| AnswerError::NotWaiting { run: run_id.to_string(), at: step.map(|s| format!(" at step `{s}`")).unwrap_or_default() })
}

/// The answer `operator` gives to `question`, once it fits the question and the person may give it.
pub fn answer_for(question: &Question, given: Given, operator: &str, at_ms: u64) -> Result<Answer, AnswerError> {
    let request = &question.request;
    let (run, step) = (request.run_id.clone(), request.step_id.clone());
    let mut answer = Answer { approved: None, value: None, comment: None, operator: operator.to_string(), at_ms };
    match (request.kind, given) {
        (RequestKind::Gate | RequestKind::Consent, Given::Decision { approved, comment }) => {
            answer.approved = Some(approved);
            answer.comment = comment.filter(|c| !c.is_empty());
        }
        (RequestKind::Gate | RequestKind::Consent, _) => {
            return Err(AnswerError::WrongKind { run, step, message: "this step asks for a decision: approve or reject it".to_string() });
        }
        (RequestKind::Input, Given::Decision { .. }) => {
            return Err(AnswerError::WrongKind { run, step, message: "this step asks for a value, not a decision: answer it".to_string() });
        }
        (RequestKind::Input, Given::Text(text)) => {
            let spec = request.input.clone().unwrap_or_default();
            // Forms send line ends as CR LF; the value keeps plain `\n`.
            let text = if spec.input_type == InputType::Multiline { text.replace("\r\n", "\n") } else { text };
            answer.value = Some(spec.accept(&text).map_err(|message| AnswerError::Invalid { run, step, message })?);
        }
        (RequestKind::Input, Given::Value(value)) => answer.value = Some(value),
    }
    if !request.approvers.is_empty() && !request.approvers.iter().any(|a| a == operator) {
        return Err(AnswerError::NotApprover {
            run: request.run_id.clone(),
            step: request.step_id.clone(),
            operator: operator.to_string(),
            approvers: request.approvers.clone(),
        });
    }
    Ok(answer)
}

/// Records `answer` to `question`; refused when someone answered first.
/// A password prompt's answer is never recorded: the caller hands it to the
/// process that drives the run (`ResumeOptions::passwords`).
pub fn record<S: Store + ?Sized>(store: &S, question: &Question, answer: &Answer) -> Result<(), AnswerError> {
    let request = &question.request;
    debug_assert!(!request.asks_for_password(), "a password answer is never stored");
    if request.asks_for_password() {
        return Err(AnswerError::WrongKind { run: request.run_id.clone(), step: request.step_id.clone(), message: "a password is never stored".to_string() });
    }
    if !store.answer(&request.run_id, request.seq, request.kind, answer)? {
        return Err(AnswerError::AnsweredMeanwhile { run: request.run_id.clone(), step: request.step_id.clone() });
    }
    Ok(())
}

/// What an answer says, in a word: `approved`, `rejected` or `answered`.
pub fn verdict(kind: RequestKind, answer: &Answer) -> &'static str {
    match (kind, answer.approved) {
        (RequestKind::Input, _) => "answered",
        (_, Some(true)) => "approved",
        _ => "rejected",
    }
}
