//! Reading rows back into records: the columns each query selects, and the
//! words and JSON stored in them.

use crate::store::{Control, Lease, LeaseOwner, RunRecord, RunStatus, RunSummary, StepEvent, StepOutcome, StepStart, StoreError};
use rusqlite::Row;
use workflow_core::ir::Target;

/// The columns [`run_record`] reads, in order.
pub const RUN_COLUMNS: &str = "r.id, r.workflow, r.status, r.reason, r.definition_hash, d.definition, r.parent_run_id, r.input, r.output, r.state, r.target,
     r.open_seq, e.step, e.step_id, r.next_seq, r.control, r.lease_owner, r.lease_pid, r.lease_host, r.lease_until_ms,
     r.created_at_ms, r.updated_at_ms, r.finished_at_ms, r.cwd, r.source, r.lease_epoch";

/// The join [`RUN_COLUMNS`] select from: a run, its definition and its open execution.
pub const RUN_FROM: &str =
    "runs AS r LEFT JOIN definitions AS d ON d.hash = r.definition_hash LEFT JOIN step_events AS e ON e.run_id = r.id AND e.seq = r.open_seq";

/// The columns [`run_summary`] reads, in order.
pub const SUMMARY_COLUMNS: &str = "id, workflow, status, parent_run_id, created_at_ms, finished_at_ms";

/// The columns [`step_event`] reads, in order.
pub const EVENT_COLUMNS: &str = "run_id, seq, step, step_id, outcome, output, error, attempts, started_at_ms, ended_at_ms, duration_ms";

/// A row of `RUN_COLUMNS`, still as stored text.
pub struct RawRun {
    id: String,
    workflow: String,
    status: String,
    reason: Option<String>,
    definition_hash: String,
    definition: Option<String>,
    parent_run_id: Option<String>,
    input: String,
    output: Option<String>,
    state: String,
    target: String,
    open: Option<(u64, usize, String)>,
    next_seq: u64,
    control: String,
    lease: Option<Lease>,
    created_at_ms: u64,
    updated_at_ms: u64,
    finished_at_ms: Option<u64>,
    cwd: Option<String>,
    source: Option<String>,
}

/// Reads a row of [`RUN_COLUMNS`]; parse it with [`RawRun::parse`] outside the query.
pub fn run_record(row: &Row<'_>) -> rusqlite::Result<RawRun> {
    let open = match (row.get::<_, Option<u64>>(11)?, row.get::<_, Option<usize>>(12)?, row.get::<_, Option<String>>(13)?) {
        (Some(seq), Some(step), Some(step_id)) => Some((seq, step, step_id)),
        _ => None,
    };
    let lease = lease(row.get(16)?, row.get(17)?, row.get(18)?, row.get(19)?, row.get(25)?);
    Ok(RawRun {
        id: row.get(0)?,
        workflow: row.get(1)?,
        status: row.get(2)?,
        reason: row.get(3)?,
        definition_hash: row.get(4)?,
        definition: row.get(5)?,
        parent_run_id: row.get(6)?,
        input: row.get(7)?,
        output: row.get(8)?,
        state: row.get(9)?,
        target: row.get(10)?,
        open,
        next_seq: row.get(14)?,
        control: row.get(15)?,
        lease,
        created_at_ms: row.get(20)?,
        updated_at_ms: row.get(21)?,
        finished_at_ms: row.get(22)?,
        cwd: row.get(23)?,
        source: row.get(24)?,
    })
}

impl RawRun {
    /// The record, with its words and JSON parsed.
    pub fn parse(self) -> Result<RunRecord, StoreError> {
        Ok(RunRecord {
            status: parse_status(&self.status)?,
            reason: self.reason,
            definition_hash: self.definition_hash,
            // A run always has its definition stored with it; were it missing, the run is still shown.
            definition: self.definition.as_deref().map(serde_json::from_str).transpose()?.unwrap_or_default(),
            parent_run_id: self.parent_run_id,
            cwd: self.cwd,
            source: self.source,
            input: serde_json::from_str(&self.input)?,
            output: self.output.as_deref().map(serde_json::from_str).transpose()?,
            state: serde_json::from_str(&self.state)?,
            target: serde_json::from_str::<Target>(&self.target)?,
            open: self.open.map(|(seq, step, step_id)| StepStart { seq, step, step_id }),
            next_seq: self.next_seq,
            control: parse_control(&self.control)?,
            lease: self.lease,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
            finished_at_ms: self.finished_at_ms,
            id: self.id,
            workflow: self.workflow,
        })
    }
}

/// A row of [`SUMMARY_COLUMNS`], its status still a word.
pub struct RawSummary(RunSummary, String);

/// Reads a row of [`SUMMARY_COLUMNS`]; parse it with [`RawSummary::parse`].
pub fn run_summary(row: &Row<'_>) -> rusqlite::Result<RawSummary> {
    let summary = RunSummary {
        id: row.get(0)?,
        workflow: row.get(1)?,
        status: RunStatus::Running,
        parent_run_id: row.get(3)?,
        created_at_ms: row.get(4)?,
        finished_at_ms: row.get(5)?,
    };
    Ok(RawSummary(summary, row.get(2)?))
}

impl RawSummary {
    /// The summary with its status parsed.
    pub fn parse(self) -> Result<RunSummary, StoreError> {
        let RawSummary(summary, status) = self;
        Ok(RunSummary { status: parse_status(&status)?, ..summary })
    }
}

/// A row of [`EVENT_COLUMNS`], its outcome word and output JSON still as stored.
pub struct RawEvent(StepEvent, Option<String>, String);

/// Reads a row of [`EVENT_COLUMNS`]; parse it with [`RawEvent::parse`].
pub fn step_event(row: &Row<'_>) -> rusqlite::Result<RawEvent> {
    let event = StepEvent {
        run_id: row.get(0)?,
        seq: row.get(1)?,
        step: row.get(2)?,
        step_id: row.get(3)?,
        outcome: None,
        output: serde_json::Value::Null,
        error: row.get(6)?,
        attempts: row.get(7)?,
        started_at_ms: row.get(8)?,
        ended_at_ms: row.get(9)?,
        duration_ms: row.get(10)?,
    };
    Ok(RawEvent(event, row.get(4)?, row.get(5)?))
}

impl RawEvent {
    /// The event with its outcome and output parsed.
    pub fn parse(self) -> Result<StepEvent, StoreError> {
        let RawEvent(event, outcome, output) = self;
        Ok(StepEvent { outcome: outcome.as_deref().map(parse_outcome).transpose()?, output: serde_json::from_str(&output)?, ..event })
    }
}

/// The lease held in the `lease_*` columns; `lease_owner` NULL means none.
pub fn lease(owner: Option<String>, pid: Option<u32>, host: Option<String>, until_ms: Option<u64>, epoch: u64) -> Option<Lease> {
    owner.map(|id| Lease {
        owner: LeaseOwner { id, pid: pid.unwrap_or_default(), host: host.unwrap_or_default() },
        until_ms: until_ms.unwrap_or_default(),
        epoch,
    })
}

/// The stored word of an outcome.
pub fn outcome_word(outcome: StepOutcome) -> &'static str {
    outcome.as_str()
}

pub(crate) use crate::store::{parse_control, parse_outcome, parse_status};

/// The stored word of a request.
pub fn control_word(control: Control) -> &'static str {
    control.as_str()
}
