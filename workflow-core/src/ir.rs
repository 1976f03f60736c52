//! The lowered form of a checked workflow: steps by index, jumps resolved,
//! names resolved to slots. Codegen turns it into a typed state machine; the
//! runtime interprets it directly (no rustc) through the same transition
//! rules ([`WorkflowIr::next`]), so the two cannot drift apart.

use crate::expr::{Expr, Type};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A workflow ready to run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowIr {
    /// `name:`.
    pub name: String,
    /// `description:`.
    pub description: Option<String>,
    /// `version:`.
    pub version: Option<String>,
    /// Stable hash of the definition (hex SHA-256 of its canonical JSON); runs are stamped with it.
    pub hash: String,
    /// Unattended runs let prompts take defaults and gates wait in the store.
    pub interactive: bool,
    /// Checkpoint every step.
    pub persistent: bool,
    /// Variables, in declaration order; `VarRef` indexes this list.
    pub variables: Vec<VariableIr>,
    /// Model aliases: alias → `provider:model` / `role:NAME`.
    pub models: BTreeMap<String, String>,
    /// Budget limits.
    pub budget: Option<BudgetIr>,
    /// Metrics measured before and after a run.
    pub snapshot: Vec<MetricIr>,
    /// Expected change per metric (expression over the before-snapshot).
    pub expect: Vec<(String, Expr)>,
    /// Workflows started when a run ends.
    pub on_completion: Vec<TriggerIr>,
    /// The steps; the run starts at index 0.
    pub steps: Vec<StepIr>,
}

/// A variable slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariableIr {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Its initial value (`None`: assigned by a step before any read).
    pub default: Option<serde_json::Value>,
}

/// Budget limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetIr {
    /// Most tokens per run.
    pub tokens: Option<u64>,
    /// Most US dollars per run.
    pub usd: Option<f64>,
}

/// A metric of the snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricIr {
    /// Its name.
    pub name: String,
    /// A shell command whose trimmed stdout is the value.
    pub shell: Option<String>,
    /// A SQL query returning one value...
    pub sql: Option<String>,
    /// ...from this database URL.
    pub url: Option<String>,
}

/// `on-completion` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriggerIr {
    /// The workflow to start.
    pub workflow: String,
    /// When (over `status`, `delta.*`, `before.*`, `after.*`, variables); `None` = always.
    pub condition: Option<Expr>,
}

/// One step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepIr {
    /// `id:`.
    pub id: String,
    /// The action name (`shell`, `review-pr`, or a custom action).
    pub action: String,
    /// `description:`.
    pub description: Option<String>,
    /// The action's fields, as JSON (strings keep their `${..}` for interpolation at run time).
    pub params: BTreeMap<String, serde_json::Value>,
    /// The outputs it produces and their types.
    pub outputs: Vec<(String, Type)>,
    /// Where control goes.
    pub flow: FlowIr,
    /// `max-iterations` of a non-loop step: how often it may run in one run.
    pub max_visits: Option<u32>,
    /// Where to go instead of running it once `max_visits` is used up.
    pub on_exhausted: Target,
    /// Retry policy.
    pub retry: Option<RetryIr>,
    /// Timeout in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Variables written on success: (variable index, expression).
    pub set: Vec<(usize, Expr)>,
    /// The variable the action itself writes (`output:`, `name:`).
    pub writes: Option<usize>,
    /// Model used for this step only.
    pub model: Option<String>,
    /// Whether an interrupted run may re-run it without asking.
    pub idempotent: bool,
    /// An approval gate that must have approved (step index).
    pub requires: Option<usize>,
    /// Runs only with consent (shell, push, merge, file writes).
    pub sensitive: bool,
}

impl WorkflowIr {
    /// A workflow of these steps with every optional part at its default
    /// (no variables, models, budget, snapshot or triggers; interactive and
    /// persistent). The hash is left empty: see [`crate::lower::definition_hash`].
    pub fn new(name: impl Into<String>, steps: Vec<StepIr>) -> WorkflowIr {
        WorkflowIr {
            name: name.into(),
            description: None,
            version: None,
            hash: String::new(),
            interactive: true,
            persistent: true,
            variables: Vec::new(),
            models: BTreeMap::new(),
            budget: None,
            snapshot: Vec::new(),
            expect: Vec::new(),
            on_completion: Vec::new(),
            steps,
        }
    }
}

impl StepIr {
    /// A step with the given flow and every optional part at its default
    /// (no params or outputs, errors fail the run, idempotent, not sensitive).
    pub fn new(id: impl Into<String>, action: impl Into<String>, flow: FlowIr) -> StepIr {
        StepIr {
            id: id.into(),
            action: action.into(),
            description: None,
            params: BTreeMap::new(),
            outputs: Vec::new(),
            flow,
            max_visits: None,
            on_exhausted: Target::Fail,
            retry: None,
            timeout_ms: None,
            set: Vec::new(),
            writes: None,
            model: None,
            idempotent: true,
            requires: None,
            sensitive: false,
        }
    }
}

/// `retry:`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryIr {
    /// Attempts in all.
    pub attempts: u32,
    /// First delay in milliseconds (doubled each time, with jitter).
    pub backoff_ms: u64,
}

/// Where a transition leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    /// Run the step at this index.
    Step(usize),
    /// The run completed.
    Complete,
    /// The run failed (state kept, resumable).
    Fail,
}

/// Transitions out of a step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FlowIr {
    /// Go to `next` after success.
    Goto {
        /// After success.
        next: Target,
        /// After an error.
        on_error: Target,
    },
    /// Evaluate `check` after success: `on_true` / `on_false`.
    Branch {
        /// The condition.
        check: Expr,
        /// When it holds.
        on_true: Target,
        /// When it does not.
        on_false: Target,
        /// After an error.
        on_error: Target,
    },
    /// While `condition` holds jump to `to`, at most `max` times, then `on_exhausted`.
    Loop {
        /// The condition (`iteration` = jumps made so far).
        condition: Expr,
        /// Jump target.
        to: usize,
        /// Most jumps.
        max: u32,
        /// When the condition no longer holds.
        next: Target,
        /// When it still holds after `max` jumps.
        on_exhausted: Target,
        /// After an error.
        on_error: Target,
    },
    /// `action: end`.
    End {
        /// Completed or failed.
        failed: bool,
    },
}

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The action succeeded.
    Success,
    /// The action failed (after retries).
    Error,
}
