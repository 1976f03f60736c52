//! The checked-in-memory form of a workflow: what the user declared, every
//! part keeping its span so checks can point at it. Built by [`crate::read`]
//! from either front end.

use crate::catalog::ActionSpec;
use crate::diagnostic::Source;
use crate::expr::{Expr, Type};
use crate::span::{Ident, Span, Spanned};
use crate::template::Template;
use std::sync::Arc;

/// One workflow definition.
#[derive(Clone, Debug)]
pub struct Workflow {
    /// The text it was read from (`None` for code-built workflows).
    pub source: Option<Arc<Source>>,
    /// `name:`.
    pub name: Ident,
    /// `description:`.
    pub description: Option<String>,
    /// `version:` (numbers are kept as written).
    pub version: Option<String>,
    /// `interactive:` (default true): false means prompts take their default and gates wait in the store.
    pub interactive: bool,
    /// `persistent:` (default true): checkpoint every step.
    pub persistent: bool,
    /// `variables:`, in declaration order.
    pub variables: Vec<Variable>,
    /// `models:` aliases.
    pub models: Vec<ModelAlias>,
    /// `budget:`.
    pub budget: Option<Budget>,
    /// `snapshot:` metrics taken before and after a run.
    pub snapshot: Vec<Metric>,
    /// `expect:` the expected change of each metric.
    pub expect: Vec<Expectation>,
    /// `on-completion:` workflows started when this one ends.
    pub on_completion: Vec<Trigger>,
    /// `steps:`, in order.
    pub steps: Vec<Step>,
}

/// A declared variable.
#[derive(Clone, Debug)]
pub struct Variable {
    /// Its name.
    pub name: Ident,
    /// Its type (declared, or inferred from the default).
    pub ty: Type,
    /// Its initial value; `None` means it must be assigned before it is read.
    pub default: Option<serde_json::Value>,
}

/// `alias: provider:model`.
#[derive(Clone, Debug)]
pub struct ModelAlias {
    /// The alias.
    pub name: Ident,
    /// What it stands for: `provider:model`, `role:NAME` or another alias.
    pub target: Spanned<String>,
}

/// Limits on what a run may spend.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    /// Most tokens (input + output) a run may use.
    pub tokens: Option<u64>,
    /// Most US dollars a run may spend.
    pub usd: Option<f64>,
}

/// A number measured before and after a run.
#[derive(Clone, Debug)]
pub struct Metric {
    /// Its name.
    pub name: Ident,
    /// How it is measured.
    pub source: MetricSource,
}

/// How a metric is measured.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricSource {
    /// The trimmed stdout of a shell command.
    Shell(String),
    /// The single value a SQL query returns from a database URL.
    Sql {
        /// `sqlite://path` or `postgres://...`.
        url: String,
        /// The query.
        query: String,
    },
}

/// `metric: expression` — the change the run is expected to make.
#[derive(Clone, Debug)]
pub struct Expectation {
    /// The metric (must be declared in `snapshot:`).
    pub metric: Ident,
    /// Expression over the before-snapshot.
    pub expr: Condition,
}

/// `on-completion` entry.
#[derive(Clone, Debug)]
pub struct Trigger {
    /// The workflow to start.
    pub workflow: Ident,
    /// When to start it (over `status`, `delta.*`, `before.*`, `after.*` and variables).
    pub condition: Option<Condition>,
}

/// An expression as the user wrote it, parsed.
#[derive(Clone, Debug)]
pub struct Condition {
    /// The text as written (or the Rust tokens as text).
    pub text: String,
    /// Where it was written.
    pub span: Span,
    /// The parsed expression; `None` when it did not parse (already reported) or is Rust.
    pub expr: Option<Expr>,
    /// A Rust closure `|vars, steps| ...` written in `workflow!`.
    pub rust: Option<proc_macro2::TokenStream>,
}

/// One step.
#[derive(Clone, Debug)]
pub struct Step {
    /// `id:` (its span is where errors about the whole step point).
    pub id: Ident,
    /// `action:` as written.
    pub action: Ident,
    /// What runs.
    pub kind: ActionKind,
    /// `description:`.
    pub description: Option<String>,
    /// The action's own fields, aliases resolved to canonical names.
    pub params: Vec<Param>,
    /// Where control goes next.
    pub flow: Flow,
    /// `retry:`.
    pub retry: Option<Retry>,
    /// `timeout:` (or `timeoutMs:`), in milliseconds.
    pub timeout_ms: Option<u64>,
    /// `set: {var: expr}` — variables written when the step succeeds.
    pub set: Vec<(Ident, Condition)>,
    /// `model:` — the model this step uses (not for `switch-model`, whose `model` is its field).
    pub model: Option<Ident>,
    /// `idempotent: false` makes resume ask before re-running an interrupted step.
    pub idempotent: bool,
}

/// What a step runs.
#[derive(Clone, Debug)]
pub enum ActionKind {
    /// A built-in action.
    Builtin(&'static ActionSpec),
    /// A custom action: registered by name (YAML) or bound to a Rust async fn (`workflow!`).
    Custom {
        /// The Rust function bound in `workflow!`, if any.
        function: Option<proc_macro2::TokenStream>,
    },
    /// Not a known action (already reported).
    Unknown,
}

/// One action field.
#[derive(Clone, Debug)]
pub struct Param {
    /// The canonical field name (its span is the key as written).
    pub key: Ident,
    /// The value.
    pub value: ParamValue,
    /// Where the value was written.
    pub span: Span,
}

/// A field value, typed by the action's field table.
#[derive(Clone, Debug)]
pub enum ParamValue {
    /// An interpolated string.
    Text(Template, String),
    /// A list of interpolated strings.
    TextList(Vec<(Template, String, Span)>),
    /// A whole number.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// Milliseconds.
    Duration(u64),
    /// A step, model, variable or workflow name.
    Name(Ident),
    /// A condition.
    Condition(Condition),
    /// A word from a fixed set, a regex, or another plain string.
    Str(String),
    /// Any other value.
    Json(serde_json::Value),
}

/// Where control goes after a step.
#[derive(Clone, Debug, Default)]
pub struct Flow {
    /// `check:` (or `condition:` of a `loop`).
    pub check: Option<Condition>,
    /// `on-true:` (`on-approved:`).
    pub on_true: Option<Ident>,
    /// `on-false:` (`on-rejected:`).
    pub on_false: Option<Ident>,
    /// `next:` (`on-complete:`).
    pub next: Option<Ident>,
    /// `on-success:`.
    pub on_success: Option<Ident>,
    /// `on-error:`.
    pub on_error: Option<Ident>,
    /// `on-exhausted:`.
    pub on_exhausted: Option<Ident>,
    /// `to:` of a `loop`.
    pub loop_to: Option<Ident>,
    /// `max-iterations:`.
    pub max_iterations: Option<Spanned<i64>>,
    /// `requires: gate.approved`.
    pub requires: Option<Requires>,
}

/// `requires: <gate>.approved`.
#[derive(Clone, Debug)]
pub struct Requires {
    /// The gate step.
    pub step: Ident,
    /// The field required true (`approved`).
    pub field: String,
}

/// `retry: {attempts, backoff}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    /// How many attempts in all (at least 1).
    pub attempts: u32,
    /// The first delay between attempts, doubled each time, with jitter.
    pub backoff_ms: u64,
}

impl Workflow {
    /// The step with id `id`.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id.value == id)
    }

    /// The index of the step with id `id` (the first, if ids repeat).
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id.value == id)
    }

    /// The declared variable `name`.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name.value == name)
    }
}

impl Step {
    /// The field `name`, if given.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.key.value == name)
    }

    /// The built-in action spec, if built in.
    pub fn spec(&self) -> Option<&'static ActionSpec> {
        match self.kind {
            ActionKind::Builtin(spec) => Some(spec),
            _ => None,
        }
    }

    /// The name of the variable this step writes through its action (`output:`, `name:`).
    pub fn written_variable(&self) -> Option<&Ident> {
        let key = match self.spec()?.name {
            "ai-prompt" | "interactive" => "output",
            "set-variable" | "load-variable" => "name",
            _ => return None,
        };
        match &self.param(key)?.value {
            ParamValue::Name(n) => Some(n),
            _ => None,
        }
    }
}
