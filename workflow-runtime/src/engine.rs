//! One interface over the two ways a workflow runs: a generated typed
//! [`Machine`], or the IR [`Interpreter`]. The executor drives either through
//! [`Engine`], so checkpoints, retries, pauses and the audit log follow one
//! code path whatever compiled the workflow.
//!
//! Both engines persist the same JSON state:
//! `{"variables": {NAME: value}, "outputs": {STEP_ID: {field: value}}, "counters": [n, ...]}`,
//! so a run started from a YAML file can be resumed by a binary compiled from
//! it, and the other way round.

use crate::interpret::{DynState, Interpreter, RunEnv};
use crate::machine::{FailReason, Machine, State, Transition};
use serde_json::{Map, Value};
use std::sync::Arc;
use workflow_core::expr::Env;
use workflow_core::ir::{Outcome, Target, WorkflowIr};

/// Where a run goes, with the reason when it fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Run this step (its index).
    Step(usize),
    /// The run completed.
    Complete,
    /// The run failed.
    Fail(String),
}

impl Next {
    /// The IR target this stands for.
    pub fn target(&self) -> Target {
        match self {
            Next::Step(i) => Target::Step(*i),
            Next::Complete => Target::Complete,
            Next::Fail(_) => Target::Fail,
        }
    }
}

/// A workflow's transition rules and state, behind one interface.
pub trait Engine: Send + Sync + 'static {
    /// The definition.
    fn ir(&self) -> &Arc<WorkflowIr>;
    /// Enters the first step.
    fn begin(&mut self) -> Next;
    /// Stores `output` for `step` (on success) and returns where the run goes.
    fn next(&mut self, step: usize, outcome: Outcome, output: &Value) -> Next;
    /// The state in the persisted JSON form.
    fn state(&self) -> Value;
    /// Restores a persisted state.
    fn restore(&mut self, state: &Value) -> Result<(), String>;
    /// Reads a resolved path (`var.NAME`, `step.ID.FIELD`) for `${..}` interpolation at `step`.
    fn lookup(&self, step: usize, path: &[String]) -> Option<Value>;
    /// The variables by name (exported to shell steps, recorded in the audit log).
    fn variables(&self) -> Map<String, Value>;
    /// Assigns a variable by name (for actions that write one: `set-variable`, `load-variable`, `output:`).
    fn assign(&mut self, name: &str, value: Value) -> Result<(), String>;
    /// Tells the workflow about its run (`run.id`...): once it has an id, and again after a restore.
    fn set_run(&mut self, facts: crate::machine::RunFacts);
    /// What the workflow knows about its run (shared: every step's context holds it).
    fn run(&self) -> &Arc<crate::machine::RunFacts>;
}

/// The IR interpreter as an engine (`workflow run file.yaml`).
pub struct IrEngine {
    ir: Arc<WorkflowIr>,
    state: DynState,
}

impl IrEngine {
    /// A fresh run of `ir`.
    pub fn new(ir: Arc<WorkflowIr>) -> IrEngine {
        let state = DynState::new(&ir);
        IrEngine { ir, state }
    }
}

fn failed(ir: &WorkflowIr, step: Option<usize>, why: &str) -> Next {
    match step.and_then(|s| ir.steps.get(s)) {
        Some(s) => Next::Fail(format!("{why} at step `{}`", s.id)),
        None => Next::Fail(why.to_string()),
    }
}

fn from_target(ir: &WorkflowIr, target: Target, from: Option<usize>) -> Next {
    match target {
        Target::Step(i) => Next::Step(i),
        Target::Complete => Next::Complete,
        Target::Fail => failed(ir, from, "the run failed"),
    }
}

impl Engine for IrEngine {
    fn ir(&self) -> &Arc<WorkflowIr> {
        &self.ir
    }

    fn begin(&mut self) -> Next {
        let target = Interpreter::new(&self.ir).start(&mut self.state);
        from_target(&self.ir, target, None)
    }

    fn next(&mut self, step: usize, outcome: Outcome, output: &Value) -> Next {
        if outcome == Outcome::Success {
            self.state.outputs[step] = Some(output.clone());
        }
        match Interpreter::new(&self.ir).next_why(&mut self.state, step, outcome) {
            (Target::Fail, why) => Next::Fail(why.unwrap_or_else(|| format!("step `{}` failed", self.ir.steps[step].id))),
            (target, _) => from_target(&self.ir, target, Some(step)),
        }
    }

    fn state(&self) -> Value {
        let variables: Map<String, Value> = self.ir.variables.iter().zip(&self.state.variables).map(|(v, value)| (v.name.clone(), value.clone())).collect();
        let outputs: Map<String, Value> =
            self.ir.steps.iter().zip(&self.state.outputs).filter_map(|(s, out)| out.as_ref().map(|o| (s.id.clone(), o.clone()))).collect();
        serde_json::json!({ "variables": variables, "outputs": outputs, "counters": self.state.counters })
    }

    fn restore(&mut self, state: &Value) -> Result<(), String> {
        let mut fresh = DynState::new(&self.ir);
        if let Some(vars) = state.get("variables").and_then(Value::as_object) {
            for (i, v) in self.ir.variables.iter().enumerate() {
                if let Some(value) = vars.get(&v.name) {
                    fresh.variables[i] = value.clone();
                }
            }
        }
        if let Some(outputs) = state.get("outputs").and_then(Value::as_object) {
            for (i, s) in self.ir.steps.iter().enumerate() {
                fresh.outputs[i] = outputs.get(&s.id).cloned();
            }
        }
        if let Some(counters) = state.get("counters").and_then(Value::as_array) {
            if counters.len() != fresh.counters.len() {
                return Err(format!("the stored state has {} counters, the workflow {} steps", counters.len(), fresh.counters.len()));
            }
            for (slot, c) in fresh.counters.iter_mut().zip(counters) {
                *slot = c.as_u64().and_then(|c| u32::try_from(c).ok()).ok_or("a stored counter is not a number")?;
            }
        }
        fresh.run = std::mem::take(&mut self.state.run);
        self.state = fresh;
        Ok(())
    }

    fn lookup(&self, step: usize, path: &[String]) -> Option<Value> {
        let state = &self.state;
        RunEnv { ir: &self.ir, step, variables: &state.variables, outputs: &state.outputs, counters: &state.counters, run: &state.run }.lookup(path)
    }

    fn variables(&self) -> Map<String, Value> {
        self.ir.variables.iter().zip(&self.state.variables).map(|(v, value)| (v.name.clone(), value.clone())).collect()
    }

    fn assign(&mut self, name: &str, value: Value) -> Result<(), String> {
        let index = self.ir.variables.iter().position(|v| v.name == name).ok_or_else(|| format!("no variable `{name}`"))?;
        self.state.variables[index] = crate::interpret::convert_to(&self.ir.variables[index], value)?;
        Ok(())
    }

    fn set_run(&mut self, facts: crate::machine::RunFacts) {
        self.state.run = Arc::new(facts);
    }

    fn run(&self) -> &Arc<crate::machine::RunFacts> {
        &self.state.run
    }
}

/// A generated machine as an engine (a binary compiled from the workflow).
pub struct MachineEngine<M: Machine> {
    ir: Arc<WorkflowIr>,
    state: State<M>,
}

impl<M: Machine> MachineEngine<M> {
    /// A fresh run of machine `M`.
    pub fn new() -> MachineEngine<M> {
        MachineEngine { ir: Arc::new(M::ir().clone()), state: State::new() }
    }

    fn next_of(transition: Transition<M::Step>) -> Next {
        match transition {
            Transition::Goto(step) => Next::Step(M::step_index(step)),
            Transition::Complete => Next::Complete,
            Transition::Fail(reason) => Next::Fail(describe(reason)),
        }
    }

    /// The same state as an interpreter's, to share its name lookup.
    fn as_dyn(&self) -> Option<IrEngine> {
        let mut engine = IrEngine::new(self.ir.clone());
        engine.restore(&self.state()).ok()?;
        engine.state.run = self.state.run.clone();
        Some(engine)
    }
}

impl<M: Machine> Default for MachineEngine<M> {
    fn default() -> Self {
        MachineEngine::new()
    }
}

fn describe(reason: FailReason) -> String {
    match reason {
        FailReason::StepFailed { step } => format!("step `{step}` failed"),
        FailReason::Exhausted { step } => format!("step `{step}` ran out of iterations"),
        FailReason::Ended { step } => format!("the run ended as failed at step `{step}`"),
    }
}

impl<M: Machine> Engine for MachineEngine<M> {
    fn ir(&self) -> &Arc<WorkflowIr> {
        &self.ir
    }

    fn begin(&mut self) -> Next {
        let transition = M::begin(&mut self.state);
        Self::next_of(transition)
    }

    fn next(&mut self, step: usize, outcome: Outcome, output: &Value) -> Next {
        let Some(typed) = M::step_at(step) else { return Next::Fail(format!("no step #{step}")) };
        if outcome == Outcome::Success && !output.as_object().is_some_and(|o| o.is_empty()) {
            if let Err(e) = M::set_output(&mut self.state.outputs, typed, output.clone()) {
                // The action returned outputs of the wrong shape: that is a failure of the step.
                tracing::warn!(step = M::step_id(typed), error = %e, "outputs do not fit the step");
                let transition = M::next(&mut self.state, typed, Outcome::Error);
                return Self::next_of(transition);
            }
        }
        let transition = M::next(&mut self.state, typed, outcome);
        Self::next_of(transition)
    }

    fn state(&self) -> Value {
        serde_json::to_value(&self.state).unwrap_or(Value::Null)
    }

    fn restore(&mut self, state: &Value) -> Result<(), String> {
        // Overlay the stored values on a fresh state, so a state written by the
        // interpreter (which stores only outputs of steps that ran) fits too.
        let mut merged = serde_json::to_value(State::<M>::new()).map_err(|e| e.to_string())?;
        overlay(&mut merged, state);
        let run = std::mem::take(&mut self.state.run);
        self.state = serde_json::from_value(merged).map_err(|e| format!("the stored state does not fit workflow `{}`: {e}", M::NAME))?;
        self.state.run = run;
        Ok(())
    }

    fn lookup(&self, step: usize, path: &[String]) -> Option<Value> {
        self.as_dyn()?.lookup(step, path)
    }

    fn variables(&self) -> Map<String, Value> {
        match serde_json::to_value(&self.state.variables) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    fn assign(&mut self, name: &str, value: Value) -> Result<(), String> {
        let mut vars = serde_json::to_value(&self.state.variables).map_err(|e| e.to_string())?;
        let slot = vars.get_mut(name).ok_or_else(|| format!("no variable `{name}`"))?;
        let index = self.ir.variables.iter().position(|v| v.name == name).ok_or_else(|| format!("no variable `{name}`"))?;
        *slot = crate::interpret::convert_to(&self.ir.variables[index], value)?;
        self.state.variables = serde_json::from_value(vars).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn set_run(&mut self, facts: crate::machine::RunFacts) {
        self.state.run = Arc::new(facts);
    }

    fn run(&self) -> &Arc<crate::machine::RunFacts> {
        &self.state.run
    }
}

/// Copies the objects' fields of `from` into `into`, recursively; other values replace.
fn overlay(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, v) in from {
                match into.get_mut(k) {
                    Some(slot) => overlay(slot, v),
                    None => {
                        into.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}
