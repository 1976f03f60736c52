//! `on-completion:`: which workflows a finished run starts.

use super::Snapshot;
use crate::interpret::descend;
use serde_json::{Map, Value};
use workflow_core::expr::{eval, truthy, Env, Predicate};
use workflow_core::ir::TriggerIr;

/// What a finished run offers `on-completion` conditions.
#[derive(Clone, Copy, Debug)]
pub struct RunFacts<'a> {
    /// `completed`, `failed` or `cancelled`.
    pub status: &'a str,
    /// The snapshot before the first step.
    pub before: &'a Snapshot,
    /// The snapshot after the run.
    pub after: &'a Snapshot,
    /// After − before, per metric.
    pub delta: &'a Snapshot,
    /// The variables as the run left them.
    pub variables: &'a Map<String, Value>,
}

impl Env for RunFacts<'_> {
    fn lookup(&self, path: &[String]) -> Option<Value> {
        match path {
            [status] if status == "status" => Some(Value::String(self.status.to_string())),
            [when, metric] if when == "before" => self.before.get(metric).cloned(),
            [when, metric] if when == "after" => self.after.get(metric).cloned(),
            [when, metric] if when == "delta" => self.delta.get(metric).cloned(),
            [var, name, rest @ ..] if var == "var" => descend(self.variables.get(name)?, rest).cloned(),
            _ => None,
        }
    }

    /// Relative paths are relative to the process's working directory.
    fn file_exists(&self, path: &str) -> bool {
        std::path::Path::new(path).exists()
    }

    fn predicate(&self, _: Predicate) -> Option<bool> {
        None
    }
}

/// The workflows to start after a run: those whose condition holds over the
/// run's facts (no condition: always), in declaration order, each once.
///
/// A condition that cannot be evaluated (a metric that was not measured, a
/// comparison of `null` with a number, ...) does not start its workflow; it is
/// returned as an error message instead, naming the workflow and the condition.
pub fn triggered(triggers: &[TriggerIr], facts: &RunFacts) -> (Vec<String>, Vec<String>) {
    let mut start: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    for trigger in triggers {
        let holds = match &trigger.condition {
            None => true,
            Some(condition) => match eval(condition, facts) {
                Ok(value) => truthy(&value),
                Err(e) => {
                    errors.push(format!("on-completion `{}`: cannot evaluate `{condition}`: {}", trigger.workflow, e.message));
                    false
                }
            },
        };
        if holds && !start.contains(&trigger.workflow) {
            start.push(trigger.workflow.clone());
        }
    }
    (start, errors)
}
