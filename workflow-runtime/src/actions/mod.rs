//! What steps do. An [`Action`] gets the step's fields (with `${..}` filled
//! in) and returns its outputs; the executor handles retries, timeouts,
//! checkpoints and routing. Built-in actions are registered by name in
//! [`Actions::builtin`]; custom ones are added with [`Actions::register`] or
//! bound to a Rust function in `workflow!`.
//!
//! The executor itself runs what needs the run's models (`ai-prompt`,
//! `switch-model`, `review-pr`, `self-review`, `make-changes`) and what a
//! person answers (`approval-gate`, `interactive`, consent for sensitive steps).

mod files;
pub mod git;
pub mod pulls;
pub(crate) mod shell;

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

pub use shell::Shell;

/// What an action gets to work with.
#[derive(Clone, Debug)]
pub struct StepContext {
    /// The run.
    pub run_id: String,
    /// The step's id.
    pub step_id: String,
    /// The step's action name.
    pub action: String,
    /// The step's fields, `${..}` filled in (for `shell`'s `command`, see [`Shell`]).
    pub params: Map<String, Value>,
    /// Values of the `${..}` references of `command`, in order (see [`Shell`]).
    pub command_refs: Vec<String>,
    /// The run's variables (exported to shell steps).
    pub variables: Map<String, Value>,
    /// The directory the run works in.
    pub cwd: PathBuf,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
    /// The run itself (exported to shell steps as `WORKFLOW_RUN_ID`, `WORKFLOW_NAME`, ...).
    pub run: Arc<crate::machine::RunFacts>,
}

impl StepContext {
    /// A string field.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(Value::as_str)
    }

    /// A text-list field (`paths:`, `notify:`); a single string is a one-item list.
    pub fn texts(&self, key: &str) -> Vec<String> {
        text_list(self.params.get(key))
    }

    /// A path field, relative to the run's directory.
    pub fn path(&self, key: &str) -> Option<PathBuf> {
        self.text(key).map(|p| self.cwd.join(p))
    }
}

/// The strings of a text-list value (a single string is a one-item list; anything else, none).
pub fn text_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// What an action produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActionOutput {
    /// Its outputs (a JSON object).
    pub output: Value,
    /// Variables it writes (`set-variable`, `load-variable`, `output:`), by name.
    pub assign: Vec<(String, Value)>,
}

impl ActionOutput {
    /// Outputs only.
    pub fn new(output: Value) -> ActionOutput {
        ActionOutput { output, assign: Vec::new() }
    }
}

/// Why an action failed, with what it produced before failing (a shell step's stderr, say).
#[derive(Clone, Debug, PartialEq)]
pub struct ActionFailure {
    /// What went wrong, for people.
    pub message: String,
    /// Outputs recorded all the same.
    pub output: Value,
}

impl ActionFailure {
    /// A failure with no outputs.
    pub fn new(message: impl Into<String>) -> ActionFailure {
        ActionFailure { message: message.into(), output: Value::Object(Map::new()) }
    }
}

/// The future an action returns.
pub type ActionResult<'a> = Pin<Box<dyn Future<Output = Result<ActionOutput, ActionFailure>> + Send + 'a>>;

/// Something a step can do.
pub trait Action: Send + Sync {
    /// Runs once (the executor retries and times out).
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a>;
}

/// Actions by name.
#[derive(Clone, Default)]
pub struct Actions {
    by_name: HashMap<String, Arc<dyn Action>>,
    /// Names still bound to their built-in action (not replaced by [`Actions::register`]).
    builtin: std::collections::HashSet<String>,
}

impl Actions {
    /// No actions at all.
    pub fn empty() -> Actions {
        Actions::default()
    }

    /// The built-in actions available in this version.
    pub fn builtin() -> Actions {
        let mut actions = Actions::empty();
        actions.register("shell", Shell);
        actions.register("set-variable", files::SetVariable);
        actions.register("load-variable", files::LoadVariable);
        actions.register("check-file-exists", files::CheckFileExists);
        for name in ["conditional", "loop", "end"] {
            actions.register(name, Nothing);
        }
        actions.register("switch-model", files::SwitchModel);
        for name in ["ai-prompt", "review-pr", "self-review", "make-changes"] {
            actions.register(name, NoModels(name));
        }
        // Gates and prompts are answered by people: the executor asks them before any action would run.
        for name in ["approval-gate", "interactive", "run-workflow"] {
            actions.register(name, AskedByExecutor(name));
        }
        actions.register("commit", git::Commit);
        actions.register("push", git::Push);
        actions.register("pull", git::Pull);
        actions.register("sync", git::Sync);
        actions.register("commit-push", git::CommitPush);
        let github = crate::github::GitHubSettings::from_env();
        actions.register("create-pr", pulls::CreatePr(github.clone()));
        actions.register("merge-pr", pulls::MergePr(github));
        actions.builtin = actions.by_name.keys().cloned().collect();
        actions
    }

    /// Whether `name` runs its built-in action (the executor runs `ai-prompt`
    /// and `switch-model` itself when it has models, unless they were replaced).
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(name)
    }

    /// Adds (or replaces) the action run for `action: NAME`.
    pub fn register(&mut self, name: impl Into<String>, action: impl Action + 'static) {
        let name = name.into();
        self.builtin.remove(&name);
        self.by_name.insert(name, Arc::new(action));
    }

    /// Adds a custom action implemented by a Rust function (as bound in `workflow!`).
    pub fn register_fn(&mut self, name: impl Into<String>, function: crate::machine::CustomAction) {
        self.register(name, Custom(function));
    }

    /// The action for `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Action>> {
        self.by_name.get(name)
    }
}

/// Routing steps (`conditional`, `loop`, `end`) do nothing themselves.
struct Nothing;

impl Action for Nothing {
    fn run<'a>(&'a self, _: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async { Ok(ActionOutput::new(Value::Object(Map::new()))) })
    }
}

/// A model action on an executor without models (the executor runs it when it has them).
struct NoModels(&'static str);

impl Action for NoModels {
    fn run<'a>(&'a self, _: &'a StepContext) -> ActionResult<'a> {
        let message = format!("action `{}` needs models: this executor was given no model configuration", self.0);
        Box::pin(async move { Err(ActionFailure::new(message)) })
    }
}

/// A gate, prompt or child run reached outside the executor (only if called directly).
struct AskedByExecutor(&'static str);

impl Action for AskedByExecutor {
    fn run<'a>(&'a self, _: &'a StepContext) -> ActionResult<'a> {
        let message = format!("action `{}` is run by the executor itself (it asks people or drives a child run)", self.0);
        Box::pin(async move { Err(ActionFailure::new(message)) })
    }
}

/// A custom action bound to a Rust function.
struct Custom(crate::machine::CustomAction);

impl Action for Custom {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        let input = crate::machine::ActionInput { step: ctx.step_id.clone(), params: ctx.params.clone(), variables: ctx.variables.clone() };
        let future = (self.0)(input);
        Box::pin(async move { future.await.map(ActionOutput::new).map_err(|e| ActionFailure::new(e.to_string())) })
    }
}
