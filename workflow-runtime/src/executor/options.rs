//! The executor's options, and what it reports: how runs are driven, and how they end.

use crate::models::ModelRuntime;
use crate::store::{RunStatus, StepOutcome, StoreError};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use workflow_core::ir::WorkflowIr;

/// A step that just ended, for progress displays.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    /// The step's id.
    pub step_id: String,
    /// Its action.
    pub action: String,
    /// How it ended.
    pub outcome: StepOutcome,
    /// Its error, when it failed.
    pub error: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// Wall time.
    pub duration_ms: u64,
    /// Its outputs (a shell step's `stdout`, say).
    pub output: Value,
}

/// Called after every step (for example to print progress).
pub type Progress = Arc<dyn Fn(&StepReport) + Send + Sync>;

/// A step whose action is about to run (after its gate, prompt or consent, if any).
#[derive(Clone, Debug)]
pub struct StepStarted<'a> {
    /// The run.
    pub run_id: &'a str,
    /// The step's id.
    pub step_id: &'a str,
    /// Its action.
    pub action: &'a str,
    /// The run's current model (`provider:model`), if it has one.
    pub model: Option<String>,
    /// Tokens the run has spent so far.
    pub tokens: u64,
}

/// Called when a step's action starts (for live progress: what runs, and for how long).
pub type Started = Arc<dyn Fn(&StepStarted<'_>) + Send + Sync>;

/// How runs are driven.
#[derive(Clone)]
pub struct ExecutorOptions {
    /// The directory steps run in (relative paths of `cwd:`, `from:`, `file:` start here).
    pub cwd: PathBuf,
    /// How long a lease lasts without renewal (renewed at a third of it).
    pub lease_ms: u64,
    /// Who started the run (recorded in the audit log).
    pub operator: String,
    /// Told about every step that ends.
    pub progress: Option<Progress>,
    /// Told about every step whose action starts.
    pub started: Option<Started>,
    /// Finds workflows by name, to start `on-completion` runs (none are started without it).
    pub workflows: Option<Workflows>,
    /// The models `ai-prompt` and `switch-model` use (without them `ai-prompt` fails).
    pub models: Option<Arc<ModelRuntime>>,
    /// Told every piece of a model's answer as it arrives, where the provider streams
    /// (`None`: answers are not streamed).
    pub stream: Option<StreamSink>,
    /// Where gates, prompts and consent questions are asked (`None`: no terminal; the run waits for `approve`/`reject`/`answer`).
    pub terminal: Option<Arc<dyn crate::human::Terminal>>,
    /// Which sensitive steps may run without asking.
    pub consent: crate::permissions::Consent,
    /// When a question has no answer: `None` stops the run as `waiting` (it is
    /// resumed after `workflow approve|reject|answer`); `Some(every)` keeps
    /// driving it and looks for an answer from another shell that often.
    pub answer_poll: Option<std::time::Duration>,
    /// Where pull requests live (`None`: from the environment, see [`crate::github::GitHubSettings::from_env`]).
    pub github: Option<crate::github::GitHubSettings>,
    /// Where `workflow serve` is reached (`--public-url`): gate notifications link to the run's page there.
    pub public_url: Option<String>,
}

/// One piece of a streamed answer.
#[derive(Clone, Copy, Debug)]
pub struct StreamPiece<'a> {
    /// The step asking.
    pub step_id: &'a str,
    /// The model answering (`provider:model`).
    pub model: &'a str,
    /// The text of this piece.
    pub text: &'a str,
    /// Whether it is the first piece of this answer.
    pub first: bool,
}

/// Receives the pieces of streamed answers (the CLI prints them as they come).
pub type StreamSink = Arc<dyn Fn(&StreamPiece<'_>) + Send + Sync>;

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions {
            cwd: PathBuf::from("."),
            lease_ms: 30_000,
            operator: "unknown".to_string(),
            progress: None,
            started: None,
            workflows: None,
            models: None,
            stream: None,
            terminal: None,
            consent: crate::permissions::Consent::default(),
            answer_poll: None,
            github: None,
            public_url: None,
        }
    }
}

impl std::fmt::Debug for ExecutorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorOptions").field("cwd", &self.cwd).field("lease_ms", &self.lease_ms).field("operator", &self.operator).finish_non_exhaustive()
    }
}

/// Finds a workflow's definition by name (for `on-completion` child runs).
pub type Workflows = Arc<dyn Fn(&str) -> Option<Arc<WorkflowIr>> + Send + Sync>;

/// Why and by whom a run is started (recorded in its audit input).
#[derive(Clone, Debug)]
pub struct StartOptions {
    /// `manual`, `on-completion:<parent workflow>` or `run-workflow:<parent workflow>`.
    pub triggered_by: String,
    /// The run that started this one.
    pub parent_run_id: Option<String>,
    /// The file the workflow was read from (stored, so `resume` finds it again).
    pub source: Option<PathBuf>,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions { triggered_by: "manual".to_string(), parent_run_id: None, source: None }
    }
}

/// What to do with a step that was interrupted and is marked `idempotent: false`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupted {
    /// Run it again.
    Retry,
    /// Treat it as done, with no outputs.
    Skip,
    /// Treat it as failed.
    Fail,
}

/// How a resume should go.
#[derive(Clone, Debug, Default)]
pub struct ResumeOptions {
    /// Resume even though the workflow's definition changed since the run started
    /// (steps are matched by id).
    pub force: bool,
    /// The decision for an interrupted non-idempotent step.
    pub interrupted: Option<Interrupted>,
    /// Where the remaining steps run (default: where the run started).
    pub cwd: Option<PathBuf>,
    /// Answers to the run's password prompts, kept in memory only (a password is never stored).
    pub passwords: PasswordAnswers,
}

/// Answers to password prompts by the step execution (`seq`) that asked: held
/// in memory for the steps that use them, never stored, never shown by `Debug`.
#[derive(Clone, Default)]
pub struct PasswordAnswers(pub Vec<(u64, crate::human::Answer)>);

impl std::fmt::Debug for PasswordAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PasswordAnswers({} [redacted])", self.0.len())
    }
}

/// Where a run stands when the executor returns.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    /// The run.
    pub run_id: String,
    /// Its status.
    pub status: RunStatus,
    /// Why it failed, paused or waits.
    pub reason: Option<String>,
    /// The ids of the steps this call executed, in order.
    pub trace: Vec<String>,
    /// Runs started by this one's `on-completion` when it ended.
    pub children: Vec<RunReport>,
}

/// Why a run could not be started or resumed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another process drives the run.
    #[error("run {run} is being driven by process {pid} on {host} (lease until {until}); wait for it, or stop that process")]
    Busy {
        /// The run.
        run: String,
        /// Its driver's pid.
        pid: u32,
        /// Its driver's host.
        host: String,
        /// Lease expiry, as Unix milliseconds.
        until: u64,
    },
    /// The run is over.
    #[error("run {run} is {status}: there is nothing to resume")]
    Finished {
        /// The run.
        run: String,
        /// Its status.
        status: &'static str,
    },
    /// The definition changed since the run started.
    #[error("workflow `{workflow}` changed since run {run} started (definition {old} → {new}); resuming could replay steps under different rules. Run it anew, or resume with --force to continue with the new definition (steps are matched by id)")]
    DefinitionChanged {
        /// The run.
        run: String,
        /// The workflow.
        workflow: String,
        /// The hash the run started under (short).
        old: String,
        /// The current hash (short).
        new: String,
    },
    /// A model the workflow names does not resolve (no run was created).
    #[error("workflow `{workflow}` names models that do not resolve (no run was started):\n{message}")]
    Models {
        /// The workflow.
        workflow: String,
        /// Each problem, one a line.
        message: String,
    },
    /// The stored state does not fit the workflow.
    #[error("run {run}: {message}")]
    State {
        /// The run.
        run: String,
        /// What does not fit.
        message: String,
    },
}
