//! Where runs live: every run, its state after each step, one event row per
//! step execution, and the audit record. [`SqliteStore`](sqlite::SqliteStore)
//! is the embedded default (one file, WAL); [`PostgresStore`](postgres::PostgresStore)
//! keeps the runs of a team in one PostgreSQL database; [`AnyStore`](any::AnyStore)
//! is either, chosen by a location (a path or a `postgres://` URL);
//! [`MemoryStore`](memory::MemoryStore) keeps nothing (for tests, benchmarks
//! and `persistent: false`).
//!
//! Durability contract (DESIGN.md §5):
//! * a run is created together with the start of its first step, in one transaction;
//! * a step's end (outcome, output, new state, where the run goes) and the
//!   start of the next step are one transaction, so a durable step costs one commit;
//! * a started step without an end is re-run on resume (at-least-once);
//! * ending a step checks that it is still open and that the caller holds the
//!   run's lease, so no step's completion is ever recorded twice;
//! * fencing: every lease acquisition gets a higher epoch ([`Fence`]), and
//!   every write names the epoch it holds, so a driver that lost its lease
//!   (stopped past its expiry, cut off) cannot write after another took over;
//! * many runs' writes share commits (group commit) when they are in flight together.
//!
//! Writes are async (a writer thread batches them); reads are plain calls,
//! used at start, resume and by inspection commands, never per step.

pub mod any;
pub mod memory;
mod overview;
pub mod postgres;
pub mod sqlite;

pub use overview::{RunCursor, RunPageQuery, StepDurations, TokenRecord};

use serde::{Deserialize, Serialize};
use std::future::Future;
use workflow_core::ir::Target;

/// A run's id: a time-ordered UUID (v7), so ids sort by start time.
pub type RunId = String;

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// A process is driving it (or was, until it died: see the lease).
    Running,
    /// Stopped between steps on request; `resume` continues it.
    Paused,
    /// Needs a person: a gate, a prompt, or an interrupted non-idempotent step.
    Waiting,
    /// Ended at the end of the workflow.
    Completed,
    /// Ended in failure; the state is kept and it can be resumed.
    Failed,
    /// Stopped for good on request.
    Cancelled,
}

impl RunStatus {
    /// The word stored and shown (`running`, `paused`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Paused => "paused",
            RunStatus::Waiting => "waiting",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// The status named by a stored word.
    pub fn parse(word: &str) -> Option<RunStatus> {
        Some(match word {
            "running" => RunStatus::Running,
            "paused" => RunStatus::Paused,
            "waiting" => RunStatus::Waiting,
            "completed" => RunStatus::Completed,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            _ => return None,
        })
    }

    /// Completed and cancelled runs are over; every other run can be resumed.
    pub fn is_resumable(self) -> bool {
        !matches!(self, RunStatus::Completed | RunStatus::Cancelled)
    }
}

/// A request another process leaves for the run's driver, honoured between
/// steps (`Pause`, `Cancel`) or at once (`PauseNow`, `CancelNow`: the current
/// step is interrupted and its processes killed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// Nothing asked.
    None,
    /// Stop after the current step, as `paused`.
    Pause,
    /// Stop after the current step, as `cancelled`.
    Cancel,
    /// Interrupt the current step and stop, as `paused`; the step runs again on resume.
    PauseNow,
    /// Interrupt the current step and stop, as `cancelled`.
    CancelNow,
}

/// The process group a step execution's commands run in, and where: so that
/// a resume on the same host can end what a dead driver left of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepProcess {
    /// The step execution (its `StepStart::seq`).
    pub seq: u64,
    /// The machine it runs on (as in [`LeaseOwner::host`]).
    pub host: String,
    /// The process group id.
    pub group: u32,
}

impl Control {
    /// Whether the request interrupts the current step rather than waiting for its end.
    pub fn is_now(self) -> bool {
        matches!(self, Control::PauseNow | Control::CancelNow)
    }

    /// Whether the run stops as `cancelled` (else, for a request, as `paused`).
    pub fn is_cancel(self) -> bool {
        matches!(self, Control::Cancel | Control::CancelNow)
    }

    /// The word stored (`none`, `pause`, `cancel`, `pause_now`, `cancel_now`).
    pub fn as_str(self) -> &'static str {
        match self {
            Control::None => "none",
            Control::Pause => "pause",
            Control::Cancel => "cancel",
            Control::PauseNow => "pause_now",
            Control::CancelNow => "cancel_now",
        }
    }

    /// The request named by a stored word.
    pub fn parse(word: &str) -> Option<Control> {
        Some(match word {
            "none" => Control::None,
            "pause" => Control::Pause,
            "cancel" => Control::Cancel,
            "pause_now" => Control::PauseNow,
            "cancel_now" => Control::CancelNow,
            _ => return None,
        })
    }
}

/// Who drives a run: one executor in one process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseOwner {
    /// Unique per executor (a UUID).
    pub id: String,
    /// The driving process.
    pub pid: u32,
    /// The machine it runs on.
    pub host: String,
}

/// The lease a run is under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it.
    pub owner: LeaseOwner,
    /// Until when (Unix milliseconds), unless renewed.
    pub until_ms: u64,
    /// Which acquisition of the run's lease this is (see [`Fence`]).
    pub epoch: u64,
}

/// The right to write a run: the executor holding its lease, and which
/// acquisition of the lease it holds. Creating a run gives epoch 1; every
/// [`Store::acquire_lease`] that succeeds gives a higher one, even to the
/// same owner. Every write names its fence and is refused with
/// [`StoreError::LeaseLost`] unless it is the run's current one, so a
/// driver that lost its lease cannot write after another took over.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fence {
    /// The lease holder ([`LeaseOwner::id`]).
    pub owner: String,
    /// The acquisition it holds.
    pub epoch: u64,
}

/// The answer to a lease request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseResult {
    /// The caller now drives the run, under this fence.
    Acquired(Fence),
    /// Another live executor drives it.
    HeldBy(Lease),
}

/// A step about to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepStart {
    /// Position of this execution in the run (1, 2, ...): a step that runs three times has three.
    pub seq: u64,
    /// The step's index in the definition.
    pub step: usize,
    /// The step's id.
    pub step_id: String,
}

/// How a step execution ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// The action succeeded.
    Completed,
    /// The action failed (after its retries).
    Failed,
    /// A person chose to skip an interrupted step.
    Skipped,
}

impl StepOutcome {
    /// The word stored (`completed`, `failed`, `skipped`).
    pub fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Completed => "completed",
            StepOutcome::Failed => "failed",
            StepOutcome::Skipped => "skipped",
        }
    }

    /// The outcome named by a stored word.
    pub fn parse(word: &str) -> Option<StepOutcome> {
        Some(match word {
            "completed" => StepOutcome::Completed,
            "failed" => StepOutcome::Failed,
            "skipped" => StepOutcome::Skipped,
            _ => return None,
        })
    }
}

/// A step execution that ended, with where the run goes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepEnd {
    /// The execution that ended (its `StepStart::seq`).
    pub seq: u64,
    /// How.
    pub outcome: StepOutcome,
    /// The action's outputs (a JSON object; `{}` when none).
    pub output: serde_json::Value,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Attempts made (retries included).
    pub attempts: u32,
    /// Wall time of all attempts.
    pub duration_ms: u64,
    /// The run's state after the transition (`None` when the store is not durable).
    pub state: Option<serde_json::Value>,
    /// Where the run goes.
    pub target: Target,
    /// The next execution, started in the same transaction when `target` is a step.
    pub next: Option<StepStart>,
}

/// A run to create.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    /// Its id.
    pub id: RunId,
    /// The workflow's name.
    pub workflow: String,
    /// The definition hash it runs under.
    pub definition_hash: String,
    /// The lowered definition (IR as JSON text), so a run can be inspected
    /// without its file. Shared: every run of a workflow points at one copy.
    pub definition: std::sync::Arc<str>,
    /// The run that started this one (`on-completion`, `run-workflow`).
    pub parent_run_id: Option<RunId>,
    /// The directory its steps work in.
    pub cwd: Option<String>,
    /// The file its workflow was read from, when it came from one (so `resume` finds it and its siblings).
    pub source: Option<String>,
    /// The audit input: action, workflow, mode, triggered_by, operator, parent_run_id, state_snapshot, expected_work, variables.
    pub input: serde_json::Value,
    /// The state before the first step.
    pub state: serde_json::Value,
    /// Where the run goes first (a step, or straight to the end).
    pub target: Target,
    /// The first execution, started in the same transaction.
    pub first: Option<StepStart>,
    /// The executor that will drive it (it gets the lease).
    pub owner: LeaseOwner,
    /// The lease's length.
    pub lease_ms: u64,
}

/// Everything stored about one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Its id.
    pub id: RunId,
    /// The workflow's name.
    pub workflow: String,
    /// Where it stands.
    pub status: RunStatus,
    /// Why it is waiting, failed or paused, when known.
    pub reason: Option<String>,
    /// The definition hash it was started under.
    pub definition_hash: String,
    /// The lowered definition it was started with.
    pub definition: serde_json::Value,
    /// The run that started it.
    pub parent_run_id: Option<RunId>,
    /// The directory its steps work in (runs created before schema version 2 have none).
    pub cwd: Option<String>,
    /// The file its workflow was read from (runs created before schema version 3 have none).
    pub source: Option<String>,
    /// The audit input.
    pub input: serde_json::Value,
    /// The audit output, once finished.
    pub output: Option<serde_json::Value>,
    /// The state after the last ended step.
    pub state: serde_json::Value,
    /// Where the run goes next.
    pub target: Target,
    /// A started execution with no end yet: the step to re-run on resume.
    pub open: Option<StepStart>,
    /// The next free `seq`.
    pub next_seq: u64,
    /// A pending request from another process.
    pub control: Control,
    /// The lease, if one was ever taken and not released.
    pub lease: Option<Lease>,
    /// Creation time (Unix milliseconds).
    pub created_at_ms: u64,
    /// Last change (Unix milliseconds).
    pub updated_at_ms: u64,
    /// When it finished (Unix milliseconds).
    pub finished_at_ms: Option<u64>,
}

/// One step execution, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepEvent {
    /// The run.
    pub run_id: RunId,
    /// Its position in the run.
    pub seq: u64,
    /// The step's index.
    pub step: usize,
    /// The step's id.
    pub step_id: String,
    /// `None` while it runs (or was interrupted).
    pub outcome: Option<StepOutcome>,
    /// Its outputs.
    pub output: serde_json::Value,
    /// Its error.
    pub error: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// Start (Unix milliseconds).
    pub started_at_ms: u64,
    /// End (Unix milliseconds).
    pub ended_at_ms: Option<u64>,
    /// Wall time.
    pub duration_ms: Option<u64>,
}

/// Which runs to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only this workflow.
    pub workflow: Option<String>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Created at or after (Unix milliseconds).
    pub since_ms: Option<u64>,
    /// Created before (Unix milliseconds).
    pub until_ms: Option<u64>,
    /// At most this many, newest first.
    pub limit: Option<usize>,
}

/// One line of a run listing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Its id.
    pub id: RunId,
    /// The workflow.
    pub workflow: String,
    /// Where it stands.
    pub status: RunStatus,
    /// The run that started it.
    pub parent_run_id: Option<RunId>,
    /// Creation time (Unix milliseconds).
    pub created_at_ms: u64,
    /// When it finished.
    pub finished_at_ms: Option<u64>,
}

/// A question a run put to a person, and the answer once one is given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// What was asked.
    pub request: crate::human::Request,
    /// When (Unix milliseconds).
    pub asked_at_ms: u64,
    /// The answer, with who gave it and when.
    pub answer: Option<crate::human::Answer>,
}

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file exists but is not a workflow store (or is damaged). It is never modified.
    #[error("{path} is not a workflow store ({reason}); it was left untouched. Point --store (or WORKFLOW_STORE) at another file")]
    Foreign {
        /// The file.
        path: String,
        /// What was found.
        reason: String,
    },
    /// The PostgreSQL schema holds another application's data. It is never modified.
    #[error("{location} is not a workflow store ({reason}); it was left untouched. Choose another schema with ?schema=NAME, or another database")]
    ForeignSchema {
        /// The URL (without its password) and schema.
        location: String,
        /// What was found.
        reason: String,
    },
    /// The PostgreSQL server could not be reached or refused us.
    #[error("cannot open the run store {location}: {reason}")]
    Connect {
        /// The URL (without its password).
        location: String,
        /// What went wrong, and what to do.
        reason: String,
    },
    /// A location that is neither a file path nor a PostgreSQL URL we can use.
    #[error("invalid run store location `{location}`: {reason}")]
    Location {
        /// What was given.
        location: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The store was written by a newer version.
    #[error("{path} has schema version {found}, newer than this program's {supported}; use a newer `workflow`")]
    TooNew {
        /// The file.
        path: String,
        /// Its version.
        found: u32,
        /// Ours.
        supported: u32,
    },
    /// No such run.
    #[error("no run `{0}`")]
    RunNotFound(String),
    /// The caller does not hold the run's lease (another executor took over).
    #[error("run {run} is no longer driven by this process: {detail}")]
    LeaseLost {
        /// The run.
        run: String,
        /// Who holds it now.
        detail: String,
    },
    /// The step execution was already ended (it must never be ended twice).
    #[error("step execution {seq} of run {run} is not open (already ended, or never started)")]
    NotOpen {
        /// The run.
        run: String,
        /// The execution.
        seq: u64,
    },
    /// A new execution number was used before in its run.
    #[error("step execution {seq} of run {run} was already used; the next free one is {next_seq}")]
    SeqUsed {
        /// The run.
        run: String,
        /// The execution number asked for.
        seq: u64,
        /// The first unused one.
        next_seq: u64,
    },
    /// A run with this id exists already.
    #[error("run {0} already exists")]
    RunExists(String),
    /// The database failed.
    #[error("store database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL server answered with an error, or the connection failed mid-call.
    #[error("store database error (PostgreSQL): {0}")]
    Postgres(String),
    /// Reading or writing the file failed.
    #[error("store file error: {0}")]
    Io(#[from] std::io::Error),
    /// Stored JSON did not parse.
    #[error("stored data is damaged: {0}")]
    Json(#[from] serde_json::Error),
    /// The writer thread stopped.
    #[error("the store was closed")]
    Closed,
}

/// A stored word that names no status, outcome or request: the store was written by something else.
fn unknown_word(what: &str, word: &str) -> StoreError {
    StoreError::Json(<serde_json::Error as serde::de::Error>::custom(format!("unknown {what} `{word}`")))
}

/// The status a stored word names.
pub(crate) fn parse_status(word: &str) -> Result<RunStatus, StoreError> {
    RunStatus::parse(word).ok_or_else(|| unknown_word("run status", word))
}

/// The outcome a stored word names.
pub(crate) fn parse_outcome(word: &str) -> Result<StepOutcome, StoreError> {
    StepOutcome::parse(word).ok_or_else(|| unknown_word("step outcome", word))
}

/// The request a stored word names.
pub(crate) fn parse_control(word: &str) -> Result<Control, StoreError> {
    Control::parse(word).ok_or_else(|| unknown_word("control request", word))
}

/// A place runs are kept. Writes are async and batched; reads are direct.
pub trait Store: Send + Sync + 'static {
    /// Whether anything survives the process (a memory store says no, so the executor skips serializing state).
    fn is_durable(&self) -> bool;

    /// Creates a run (status `running`, lease to `run.owner` at epoch 1) and
    /// starts its first step, in one transaction. Returns the creator's fence.
    fn create_run(&self, run: NewRun) -> impl Future<Output = Result<Fence, StoreError>> + Send;

    /// Starts a step (used when resuming, for the step to run first). Fails unless `fence` is the run's current lease.
    fn start_step(&self, run: &str, fence: &Fence, start: StepStart) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ends an open step execution and starts the next, in one transaction.
    /// Fails with [`StoreError::NotOpen`] if it was already ended, and
    /// [`StoreError::LeaseLost`] unless `fence` is the run's current lease.
    /// Returns any pending request from another process; when there is one,
    /// the next step is recorded as the run's target but not started (the run stops here).
    fn end_step(&self, run: &str, fence: &Fence, end: StepEnd) -> impl Future<Output = Result<Control, StoreError>> + Send;

    /// Records a run's new status (`paused`, `waiting`, `failed`, `completed`,
    /// `cancelled`) with a reason and, for finished runs, the audit output;
    /// clears any pending request; releases the lease unless the status is `running`.
    /// Fails with [`StoreError::LeaseLost`] unless `fence` is the run's current lease.
    fn set_status(
        &self,
        run: &str,
        fence: &Fence,
        status: RunStatus,
        reason: Option<String>,
        output: Option<serde_json::Value>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes the run's lease if it is free, expired, or held by a dead process
    /// on this host, under a new epoch (higher than any before, also when the
    /// owner already held it).
    fn acquire_lease(&self, run: &str, owner: &LeaseOwner, ttl_ms: u64) -> Result<LeaseResult, StoreError>;

    /// Extends the lease; `false` when `fence` is no longer the run's current lease.
    fn renew_lease(&self, run: &str, fence: &Fence, ttl_ms: u64) -> Result<bool, StoreError>;

    /// Leaves a request for the run's driver (from any process).
    fn request(&self, run: &str, control: Control) -> Result<(), StoreError>;

    /// The request pending for the run's driver (read while a long step runs, for `cancel --now`).
    fn pending_control(&self, run: &str) -> Result<Control, StoreError> {
        Ok(self.load_run(run)?.map_or(Control::None, |r| r.control))
    }

    /// Records the process group of a step execution that is open (the
    /// latest attempt's replaces an earlier one). Refused with
    /// [`StoreError::LeaseLost`] unless `fence` is the run's current lease.
    fn record_process(&self, run: &str, fence: &Fence, process: StepProcess) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The process group recorded for the run's open step execution, if any.
    fn open_process(&self, run: &str) -> Result<Option<StepProcess>, StoreError>;

    /// One run.
    fn load_run(&self, run: &str) -> Result<Option<RunRecord>, StoreError>;

    /// Ids starting with `prefix` (so people can type a few characters of an id).
    fn find_ids(&self, prefix: &str) -> Result<Vec<RunId>, StoreError>;

    /// Runs matching the filter, newest first.
    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError>;

    /// The newest resumable run of a workflow.
    fn latest_resumable(&self, workflow: &str) -> Result<Option<RunId>, StoreError>;

    /// A run's step executions, in order.
    fn events(&self, run: &str) -> Result<Vec<StepEvent>, StoreError>;

    /// Records a question a run puts to a person. Asking again (the same run,
    /// step execution and kind) keeps the first record and its answer; `true` when it is new.
    fn ask(&self, request: &crate::human::Request) -> Result<bool, StoreError>;

    /// Records a person's answer to a question (from any process); `false` when it was already answered.
    fn answer(&self, run: &str, seq: u64, kind: crate::human::RequestKind, answer: &crate::human::Answer) -> Result<bool, StoreError>;

    /// A run's questions and their answers, oldest first.
    fn questions(&self, run: &str) -> Result<Vec<Question>, StoreError>;

    /// A page of the run listing, newest first (by creation time, then id), after `query.after`.
    fn runs_page(&self, query: &RunPageQuery) -> Result<Vec<RunSummary>, StoreError>;

    /// The runs `run` started (`on-completion`, `run-workflow`), oldest first.
    fn child_runs(&self, run: &str) -> Result<Vec<RunSummary>, StoreError>;

    /// How many runs are in each status (statuses without runs are left out).
    fn run_counts(&self) -> Result<Vec<(RunStatus, u64)>, StoreError>;

    /// How long ended step executions took, counted against `bounds_ms` (ascending).
    fn step_durations(&self, bounds_ms: &[u64]) -> Result<StepDurations, StoreError>;

    /// Every question a run waits on now (its step is still open, the run not over), oldest first.
    fn open_questions(&self) -> Result<Vec<Question>, StoreError>;

    /// Stores a new API token; `false` (nothing written) when `token.name` already has an active one.
    fn add_token(&self, token: &TokenRecord) -> Result<bool, StoreError>;

    /// Every API token, active and revoked, oldest first.
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes `name`'s active token; `false` when it has none.
    fn revoke_token(&self, name: &str, at_ms: u64) -> Result<bool, StoreError>;
}
