//! The JSON shapes of the API (and what the pages read): runs, steps,
//! questions. A password answer is never in them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use workflow_runtime::human::{InputType, RequestKind};
use workflow_runtime::store::{Question, RunCursor, RunRecord, RunStatus, RunSummary, StepEvent, StepOutcome};

/// One run in a listing.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RunSummaryView {
    /// Its id.
    pub id: String,
    /// Its workflow.
    pub workflow: String,
    /// `running`, `paused`, `waiting`, `completed`, `failed` or `cancelled`.
    pub status: String,
    /// The run that started it.
    pub parent_run_id: Option<String>,
    /// When it started (Unix milliseconds).
    pub created_at_ms: u64,
    /// When it finished.
    pub finished_at_ms: Option<u64>,
}

impl From<&RunSummary> for RunSummaryView {
    fn from(r: &RunSummary) -> RunSummaryView {
        RunSummaryView {
            id: r.id.clone(),
            workflow: r.workflow.clone(),
            status: r.status.as_str().to_string(),
            parent_run_id: r.parent_run_id.clone(),
            created_at_ms: r.created_at_ms,
            finished_at_ms: r.finished_at_ms,
        }
    }
}

/// A page of runs, newest first.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RunList {
    /// The runs.
    pub runs: Vec<RunSummaryView>,
    /// Pass as `after` for the next page; absent on the last one.
    pub next: Option<String>,
}

/// A run.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RunView {
    /// Its id.
    pub id: String,
    /// Its workflow.
    pub workflow: String,
    /// Where it stands.
    pub status: String,
    /// Why it waits, failed or paused.
    pub reason: Option<String>,
    /// The definition hash it runs under.
    pub definition_hash: String,
    /// The step it is at (running or waiting there), if any.
    pub current_step: Option<String>,
    /// The run that started it.
    pub parent_run_id: Option<String>,
    /// The runs it started.
    pub children: Vec<RunSummaryView>,
    /// When it started (Unix milliseconds).
    pub created_at_ms: u64,
    /// Its last change.
    pub updated_at_ms: u64,
    /// When it finished.
    pub finished_at_ms: Option<u64>,
    /// The audit input: workflow, mode, triggered_by, operator, state_snapshot (before), expected_work, variables.
    #[schema(value_type = Object)]
    pub input: Value,
    /// The audit output once finished: status, duration, steps, state_after, delta, anomalies, usage, cost, decisions.
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
}

impl RunView {
    /// The view of `record` with its `children`.
    pub fn of(record: &RunRecord, children: &[RunSummary]) -> RunView {
        RunView {
            id: record.id.clone(),
            workflow: record.workflow.clone(),
            status: record.status.as_str().to_string(),
            reason: record.reason.clone(),
            definition_hash: record.definition_hash.clone(),
            current_step: current_step(record),
            parent_run_id: record.parent_run_id.clone(),
            children: children.iter().map(RunSummaryView::from).collect(),
            created_at_ms: record.created_at_ms,
            updated_at_ms: record.updated_at_ms,
            finished_at_ms: record.finished_at_ms,
            input: record.input.clone(),
            output: record.output.clone(),
        }
    }
}

/// The step a run is at: its open execution, else its target unless it is over.
pub fn current_step(record: &RunRecord) -> Option<String> {
    if let Some(open) = &record.open {
        return Some(open.step_id.clone());
    }
    match record.target {
        workflow_core::ir::Target::Step(i) if record.status.is_resumable() => {
            record.definition.pointer(&format!("/steps/{i}/id")).and_then(Value::as_str).map(str::to_string)
        }
        _ => None,
    }
}

/// One step execution.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Its position in the run (1, 2, ...).
    pub seq: u64,
    /// The step's id.
    pub step: String,
    /// `completed`, `failed`, `skipped`, or absent while it runs (or waits).
    pub outcome: Option<String>,
    /// Its outputs (`stdout`, `response`, `model`, `usage`, `cost_usd`, ...).
    #[schema(value_type = Object)]
    pub output: Value,
    /// Its error.
    pub error: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// Start (Unix milliseconds).
    pub started_at_ms: u64,
    /// End.
    pub ended_at_ms: Option<u64>,
    /// Wall time (milliseconds).
    pub duration_ms: Option<u64>,
}

impl EventView {
    /// The view of `e`; the outputs of a step in `secret` (a password prompt) are hidden.
    pub fn of(e: &StepEvent, secret: &[usize]) -> EventView {
        EventView {
            seq: e.seq,
            step: e.step_id.clone(),
            outcome: e.outcome.map(|o| outcome_word(o).to_string()),
            output: shown_output(e, secret),
            error: e.error.clone(),
            attempts: e.attempts,
            started_at_ms: e.started_at_ms,
            ended_at_ms: e.ended_at_ms,
            duration_ms: e.duration_ms,
        }
    }
}

/// The steps whose answers are secret: `interactive` prompts of `input-type: password`.
pub fn secret_steps(definition: &Value) -> Vec<usize> {
    let steps = definition.get("steps").and_then(Value::as_array).cloned().unwrap_or_default();
    steps
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.get("action").and_then(Value::as_str) == Some("interactive") && s.pointer("/params/input-type").and_then(Value::as_str) == Some("password")
        })
        .map(|(i, _)| i)
        .collect()
}

/// A step execution's outputs as shown: a password prompt's value replaced by `(hidden)`.
pub fn shown_output(e: &StepEvent, secret: &[usize]) -> Value {
    let mut output = e.output.clone();
    if secret.contains(&e.step) {
        if let Some(value) = output.get_mut("value") {
            *value = Value::String("(hidden)".to_string());
        }
    }
    output
}

/// The word of an outcome.
pub fn outcome_word(outcome: StepOutcome) -> &'static str {
    match outcome {
        StepOutcome::Completed => "completed",
        StepOutcome::Failed => "failed",
        StepOutcome::Skipped => "skipped",
    }
}

/// A question a run put to a person.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct QuestionView {
    /// The run.
    pub run_id: String,
    /// Its workflow.
    pub workflow: String,
    /// The step asking.
    pub step: String,
    /// The step execution asking.
    pub seq: u64,
    /// `gate`, `input` or `consent`.
    pub kind: String,
    /// The gate's message, the prompt, or what the sensitive step will do.
    pub message: String,
    /// For prompts: `text`, `password`, `confirm`, `choice` or `multiline`.
    pub input_type: Option<String>,
    /// For choices: the allowed answers.
    pub choices: Vec<String>,
    /// For gates: who may answer (empty: anyone).
    pub approvers: Vec<String>,
    /// For consent: the permission asked for.
    pub permission: Option<String>,
    /// When it was asked (Unix milliseconds).
    pub asked_at_ms: u64,
    /// The answer, once given.
    pub answer: Option<AnswerView>,
}

/// An answer: who gave it, when, and what (a password's value is never shown).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AnswerView {
    /// Approved or rejected (gates and consent).
    pub approved: Option<bool>,
    /// The value given (prompts): text, a bool for a confirm; absent for passwords.
    pub value: Option<Value>,
    /// Whether the value is hidden: a password, which is never stored or shown.
    pub hidden: bool,
    /// The comment.
    pub comment: Option<String>,
    /// Who answered.
    pub operator: String,
    /// When (Unix milliseconds).
    pub at_ms: u64,
}

impl From<&Question> for QuestionView {
    fn from(q: &Question) -> QuestionView {
        let r = &q.request;
        let password = is_password(q);
        QuestionView {
            run_id: r.run_id.clone(),
            workflow: r.workflow.clone(),
            step: r.step_id.clone(),
            seq: r.seq,
            kind: r.kind.as_str().to_string(),
            message: r.message.clone(),
            input_type: r.input.as_ref().map(|i| input_type_word(i.input_type).to_string()),
            choices: r.input.as_ref().map(|i| i.choices.clone()).unwrap_or_default(),
            approvers: r.approvers.clone(),
            permission: r.permission.clone(),
            asked_at_ms: q.asked_at_ms,
            answer: q.answer.as_ref().map(|a| AnswerView {
                approved: a.approved,
                value: if password { None } else { a.value.clone() },
                hidden: password,
                comment: a.comment.clone(),
                operator: a.operator.clone(),
                at_ms: a.at_ms,
            }),
        }
    }
}

/// Whether a question asks for a password (its answer is never shown).
pub fn is_password(q: &Question) -> bool {
    q.request.kind == RequestKind::Input && q.request.input.as_ref().is_some_and(|i| i.input_type == InputType::Password)
}

/// The YAML word of an input type.
pub fn input_type_word(t: InputType) -> &'static str {
    match t {
        InputType::Text => "text",
        InputType::Password => "password",
        InputType::Confirm => "confirm",
        InputType::Choice => "choice",
        InputType::Multiline => "multiline",
    }
}

/// Whether `person` may answer `q` (anyone, unless the gate names its approvers).
pub fn may_answer(q: &Question, person: &str) -> bool {
    q.request.approvers.is_empty() || q.request.approvers.iter().any(|a| a == person)
}

/// The body of approve and reject.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Why (recorded with the decision; a gate's `comment` output).
    #[serde(default)]
    pub comment: Option<String>,
    /// The step whose question this answers (default: the run's open question).
    #[serde(default)]
    pub step: Option<String>,
}

/// The body of answer.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// The answer as typed (checked against the prompt's type, choices and pattern; a confirm takes `yes` or `no`).
    pub value: String,
    /// The step whose question this answers (default: the run's open question).
    #[serde(default)]
    pub step: Option<String>,
}

/// The cursor of the page after `last`, as the API and the pages pass it: `<created_at_ms>.<id>`.
pub fn cursor_text(last: &RunSummary) -> String {
    format!("{}.{}", last.created_at_ms, last.id)
}

/// A cursor read back; `None` when it is not one.
pub fn parse_cursor(text: &str) -> Option<RunCursor> {
    let (ms, id) = text.split_once('.')?;
    Some(RunCursor { created_at_ms: ms.parse().ok()?, id: id.to_string() }).filter(|c| !c.id.is_empty())
}

/// A status word read back.
pub fn parse_status(text: &str) -> Option<RunStatus> {
    RunStatus::parse(text)
}
