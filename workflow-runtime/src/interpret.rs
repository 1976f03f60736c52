//! Running a workflow straight from its IR, without rustc (`workflow run
//! file.yaml`). The transition rules are the ones generated machines follow,
//! step for step; the generated code's fallback for untyped expressions
//! evaluates through the same environment too, so both read values the same way.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::ops::Range;
use workflow_core::expr::{eval, truthy, Env, EvalError, Expr, Predicate, Type};
use workflow_core::ir::{FlowIr, Outcome, StepIr, Target, VariableIr, WorkflowIr};
use workflow_core::template::parse_template;

/// The state of an interpreted run, in JSON form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DynState {
    /// Variable values, in the order of [`WorkflowIr::variables`].
    pub variables: Vec<Value>,
    /// Per step, the JSON object of its outputs once it has run.
    pub outputs: Vec<Option<Value>>,
    /// Per step: jumps made by a loop step, or visits of a step with `max_visits`.
    pub counters: Vec<u32>,
    /// The run itself (`${run.id}`...), set by the executor; not part of the stored state.
    #[serde(skip)]
    pub run: std::sync::Arc<crate::machine::RunFacts>,
}

impl DynState {
    /// The state before the first step: declared defaults, and the zero value
    /// of its type for a variable without one (as a generated machine has).
    pub fn new(ir: &WorkflowIr) -> DynState {
        DynState {
            variables: ir.variables.iter().map(initial_value).collect(),
            outputs: vec![None; ir.steps.len()],
            counters: vec![0; ir.steps.len()],
            run: Default::default(),
        }
    }
}

/// Applies the transition rules of a workflow to a [`DynState`].
#[derive(Clone, Copy, Debug)]
pub struct Interpreter<'a> {
    ir: &'a WorkflowIr,
}

impl<'a> Interpreter<'a> {
    /// An interpreter of `ir`.
    pub fn new(ir: &'a WorkflowIr) -> Interpreter<'a> {
        Interpreter { ir }
    }

    /// The workflow it runs.
    pub fn ir(&self) -> &'a WorkflowIr {
        self.ir
    }

    /// Where a new run begins: the first step, entered.
    pub fn start(&self, state: &mut DynState) -> Target {
        if self.ir.steps.is_empty() {
            return Target::Complete;
        }
        self.enter(state, Target::Step(0))
    }

    /// Where a run goes when it is about to enter `target`: a step whose
    /// `max_visits` is used up sends it to its `on_exhausted` instead (and so
    /// on); otherwise the visit is counted. A chain of exhausted steps longer
    /// than the workflow is a cycle and fails the run.
    pub fn enter(&self, state: &mut DynState, target: Target) -> Target {
        let mut target = target;
        for _ in 0..=self.ir.steps.len() {
            let Target::Step(index) = target else { return target };
            let step = &self.ir.steps[index];
            match step.max_visits {
                Some(max) if state.counters[index] >= max => target = step.on_exhausted,
                Some(_) => {
                    state.counters[index] += 1;
                    return target;
                }
                None => return target,
            }
        }
        Target::Fail
    }

    /// Where a run goes after step `step` ended with `outcome` (DESIGN §3).
    ///
    /// On success the step's `set:` is applied first (all values computed
    /// from the state before any is assigned), then the route is chosen, then
    /// the target is [entered](Interpreter::enter). An expression that cannot
    /// be evaluated routes like an error of the step.
    pub fn next(&self, state: &mut DynState, step: usize, outcome: Outcome) -> Target {
        self.next_why(state, step, outcome).0
    }

    /// Like [`next`](Interpreter::next), and when the run fails, why — in the
    /// words a generated machine uses ([`crate::machine::FailReason`]).
    pub fn next_why(&self, state: &mut DynState, step: usize, outcome: Outcome) -> (Target, Option<String>) {
        let (routed, why) = self.route_why(state, step, outcome);
        if routed == Target::Fail {
            return (Target::Fail, Some(why));
        }
        // Entering a step whose `max-iterations` is used up may fail the run too.
        let mut target = routed;
        for _ in 0..=self.ir.steps.len() {
            let Target::Step(index) = target else { return (target, None) };
            let entered = &self.ir.steps[index];
            match entered.max_visits {
                Some(max) if state.counters[index] >= max => {
                    target = entered.on_exhausted;
                    if target == Target::Fail {
                        return (Target::Fail, Some(format!("step `{}` ran out of iterations", entered.id)));
                    }
                }
                Some(_) => {
                    state.counters[index] += 1;
                    return (target, None);
                }
                None => return (target, None),
            }
        }
        (Target::Fail, Some("steps ran out of iterations in a cycle of `on-exhausted`".to_string()))
    }

    /// [`route`](Interpreter::route), with the reason the run fails if it goes to `Fail`.
    fn route_why(&self, state: &mut DynState, step: usize, outcome: Outcome) -> (Target, String) {
        let ir_step = &self.ir.steps[step];
        let failed = || format!("step `{}` failed", ir_step.id);
        let exhausted_loop = matches!(&ir_step.flow, FlowIr::Loop { max, .. } if outcome == Outcome::Success && state.counters[step] >= *max);
        let target = self.route(state, step, outcome);
        let why = match &ir_step.flow {
            FlowIr::End { failed: true } => format!("the run ended as failed at step `{}`", ir_step.id),
            FlowIr::Loop { on_exhausted: Target::Fail, .. } if exhausted_loop && target == Target::Fail && self.loop_holds(state, step) => {
                format!("step `{}` ran out of iterations", ir_step.id)
            }
            _ => failed(),
        };
        (target, why)
    }

    /// Whether a loop step's condition holds now (for explaining an exhausted loop).
    fn loop_holds(&self, state: &DynState, step: usize) -> bool {
        match &self.ir.steps[step].flow {
            FlowIr::Loop { condition, .. } => self.holds(state, step, condition).unwrap_or(false),
            _ => false,
        }
    }

    fn route(&self, state: &mut DynState, step: usize, outcome: Outcome) -> Target {
        let ir_step = &self.ir.steps[step];
        let on_error = on_error(ir_step);
        if outcome == Outcome::Error || self.apply_set(state, step).is_err() {
            return on_error;
        }
        match &ir_step.flow {
            FlowIr::Goto { next, .. } => *next,
            FlowIr::Branch { check, on_true, on_false, .. } => match self.holds(state, step, check) {
                Ok(true) => *on_true,
                Ok(false) => *on_false,
                Err(_) => on_error,
            },
            FlowIr::Loop { condition, to, max, next, on_exhausted, .. } => match self.holds(state, step, condition) {
                Ok(true) if state.counters[step] < *max => {
                    state.counters[step] += 1;
                    Target::Step(*to)
                }
                Ok(true) => *on_exhausted,
                Ok(false) => *next,
                Err(_) => on_error,
            },
            FlowIr::End { failed: true } => Target::Fail,
            FlowIr::End { failed: false } => Target::Complete,
        }
    }

    fn env<'s>(&self, state: &'s DynState, step: usize) -> RunEnv<'s>
    where
        'a: 's,
    {
        RunEnv { ir: self.ir, step, variables: &state.variables, outputs: &state.outputs, counters: &state.counters, run: &state.run }
    }

    fn holds(&self, state: &DynState, step: usize, condition: &Expr) -> Result<bool, EvalError> {
        eval(condition, &self.env(state, step)).map(|v| truthy(&v))
    }

    /// Evaluates every `set:` of the step against the current state, then assigns them all.
    fn apply_set(&self, state: &mut DynState, step: usize) -> Result<(), EvalError> {
        let assignments = &self.ir.steps[step].set;
        if assignments.is_empty() {
            return Ok(());
        }
        let env = self.env(state, step);
        let values = assignments.iter().map(|(var, expr)| assigned_value(self.ir, *var, expr, &env)).collect::<Result<Vec<_>, _>>()?;
        for ((var, _), value) in assignments.iter().zip(values) {
            state.variables[*var] = value;
        }
        Ok(())
    }
}

/// The value `expr` assigns to variable `var`, converted to the variable's type.
pub(crate) fn assigned_value(ir: &WorkflowIr, var: usize, expr: &Expr, env: &RunEnv<'_>) -> Result<Value, EvalError> {
    let value = eval(expr, env)?;
    let variable = &ir.variables[var];
    convert(value, variable.ty)
        .map_err(|found| EvalError { message: format!("cannot assign {found} to `{}`, a {} variable", variable.name, variable.ty), span: expr.span.clone() })
}

/// `value` converted for variable `var`, or why it does not fit.
pub(crate) fn convert_to(var: &VariableIr, value: Value) -> Result<Value, String> {
    convert(value, var.ty).map_err(|found| format!("cannot assign {found} to `{}`, a {} variable", var.name, var.ty))
}

/// Where an error of `step` (or of one of its expressions) leads.
fn on_error(step: &StepIr) -> Target {
    match &step.flow {
        FlowIr::Goto { on_error, .. } | FlowIr::Branch { on_error, .. } | FlowIr::Loop { on_error, .. } => *on_error,
        FlowIr::End { .. } => Target::Fail,
    }
}

/// The condition a step routes on: a branch's `check` or a loop's `condition`.
pub(crate) fn flow_condition(step: &StepIr) -> Option<&Expr> {
    match &step.flow {
        FlowIr::Branch { check, .. } => Some(check),
        FlowIr::Loop { condition, .. } => Some(condition),
        FlowIr::Goto { .. } | FlowIr::End { .. } => None,
    }
}

/// A variable's value before the first step.
pub(crate) fn initial_value(var: &VariableIr) -> Value {
    var.default.clone().and_then(|d| convert(d, var.ty).ok()).unwrap_or_else(|| zero_value(var.ty))
}

/// What a variable of type `ty` holds when nothing was assigned (Rust's `Default`).
fn zero_value(ty: Type) -> Value {
    match ty {
        Type::Bool => Value::Bool(false),
        Type::Int => Value::from(0),
        Type::Float => Value::from(0.0),
        Type::String => Value::String(String::new()),
        Type::List => Value::Array(Vec::new()),
        Type::Map => Value::Object(serde_json::Map::new()),
        Type::Null | Type::Any => Value::Null,
    }
}

/// `value` as a value of type `ty`: ints widen to floats, integral floats
/// narrow to ints, numbers and bools are written as text for a string.
/// On mismatch, the kind of value found.
fn convert(value: Value, ty: Type) -> Result<Value, &'static str> {
    let kind = kind_of(&value);
    let converted = match (ty, value) {
        (Type::Any, v) => Some(v),
        (Type::Bool, v @ Value::Bool(_)) => Some(v),
        (Type::Int, Value::Number(n)) => n.as_i64().map(Value::from).or_else(|| {
            let x = n.as_f64()?;
            // Exactly representable integers only: 2.0 becomes 2, 2.5 is refused.
            let fits = x.fract() == 0.0 && x >= i64::MIN as f64 && x < i64::MAX as f64;
            fits.then(|| Value::from(x as i64))
        }),
        (Type::Float, Value::Number(n)) => n.as_f64().and_then(serde_json::Number::from_f64).map(Value::Number),
        (Type::String, v @ Value::String(_)) => Some(v),
        (Type::String, v @ (Value::Number(_) | Value::Bool(_))) => Some(Value::String(v.to_string())),
        (Type::List, v @ Value::Array(_)) => Some(v),
        (Type::Map, v @ Value::Object(_)) => Some(v),
        (Type::Null, Value::Null) => Some(Value::Null),
        _ => None,
    };
    converted.ok_or(kind)
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an int",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// What the expressions of one step read: the run's values in JSON form,
/// addressed by the canonical paths the lowering pass writes.
pub(crate) struct RunEnv<'s> {
    /// The workflow.
    pub(crate) ir: &'s WorkflowIr,
    /// The step whose expressions are evaluated (`iteration` and predicates are its own).
    pub(crate) step: usize,
    /// Variable values by index.
    pub(crate) variables: &'s [Value],
    /// Step outputs by index.
    pub(crate) outputs: &'s [Option<Value>],
    /// Counters by step index.
    pub(crate) counters: &'s [u32],
    /// The run itself (`run.id`...).
    pub(crate) run: &'s crate::machine::RunFacts,
}

impl RunEnv<'_> {
    fn variable(&self, name: &str) -> Option<&Value> {
        let index = self.ir.variables.iter().position(|v| v.name == name)?;
        self.variables.get(index)
    }

    /// A field of a step's outputs; with `format: json`, an `ai-prompt`'s
    /// parsed fields are addressed directly (`steps.plan.summary`).
    fn output(&self, id: &str, field: &str) -> Option<&Value> {
        let index = self.ir.steps.iter().position(|s| s.id == id)?;
        let outputs = self.outputs.get(index)?.as_ref()?;
        outputs.get(field).or_else(|| match self.ir.steps[index].action.as_str() {
            "ai-prompt" => outputs.get("json")?.get(field),
            _ => None,
        })
    }

    /// A string field of the step, `${..}` filled in.
    fn param_text(&self, key: &str) -> Option<String> {
        let text = self.ir.steps[self.step].params.get(key)?.as_str()?;
        let template = parse_template(text).ok()?;
        template.render(&mut |path| self.lookup(path).map(|v| display(&v))).ok()
    }
}

impl Env for RunEnv<'_> {
    fn lookup(&self, path: &[String]) -> Option<Value> {
        let (value, rest) = match path {
            [kind, name, rest @ ..] if kind == "var" => (self.variable(name)?, rest),
            [kind, id, field, rest @ ..] if kind == "step" => (self.output(id, field)?, rest),
            [name] if name == "iteration" => return self.counters.get(self.step).map(|&n| Value::from(n)),
            [kind, field] if kind == "run" => return self.run.field(field),
            _ => return None,
        };
        descend(value, rest).cloned()
    }

    fn file_exists(&self, path: &str) -> bool {
        std::path::Path::new(path).exists()
    }

    fn predicate(&self, p: Predicate) -> Option<bool> {
        let params = &self.ir.steps[self.step].params;
        let named_variable = || self.variable(params.get("variable")?.as_str()?);
        match p {
            Predicate::FileExists => {
                let path = match self.param_text("file") {
                    Some(path) => path,
                    None => display(named_variable()?),
                };
                Some(self.file_exists(&path))
            }
            Predicate::VariableEquals => {
                let actual = named_variable()?;
                let expected = match params.get("value")? {
                    Value::String(_) => Value::String(self.param_text("value")?),
                    other => other.clone(),
                };
                Some(same_value(actual, &expected))
            }
        }
    }
}

/// Follows map keys and list indices into a value (`var.config.retries`).
pub(crate) fn descend<'v>(mut value: &'v Value, rest: &[String]) -> Option<&'v Value> {
    for key in rest {
        value = match value {
            Value::Object(map) => map.get(key)?,
            Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

/// How a value reads inside text: strings as they are, anything else as JSON.
pub(crate) fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `variable-equals`: numbers by value (`1 == 1.0`), text against the value as written.
fn same_value(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a == b,
            _ => a.as_f64() == b.as_f64(),
        },
        (Value::String(_), _) | (_, Value::String(_)) => display(actual) == display(expected),
        _ => actual == expected,
    }
}

/// An [`EvalError`] for a failure outside any sub-expression.
pub(crate) fn eval_error(message: impl Into<String>, span: Range<usize>) -> EvalError {
    EvalError { message: message.into(), span }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use workflow_core::expr::parse;
    use Outcome::{Error, Success};
    use Target::{Complete, Fail, Step};

    /// Paths written in canonical form (`var.x`, `step.id.field`) parse as the lowering pass resolves them.
    fn expr(src: &str) -> Expr {
        parse(src).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn goto(next: Target) -> FlowIr {
        FlowIr::Goto { next, on_error: Fail }
    }

    fn step(id: &str, action: &str, flow: FlowIr) -> StepIr {
        StepIr::new(id, action, flow)
    }

    fn var(name: &str, ty: Type, default: Option<Value>) -> VariableIr {
        VariableIr { name: name.to_string(), ty, default }
    }

    fn workflow(variables: Vec<VariableIr>, steps: Vec<StepIr>) -> WorkflowIr {
        WorkflowIr { interactive: false, variables, ..WorkflowIr::new("test", steps) }
    }

    /// Runs from the start, every step ending with the next outcome of `outcomes`
    /// (then success); returns the ids visited and where the run ended.
    fn trace(ir: &WorkflowIr, state: &mut DynState, outcomes: &[Outcome]) -> (Vec<String>, Target) {
        let run = Interpreter::new(ir);
        let mut visited = Vec::new();
        let mut outcomes = outcomes.iter().copied();
        let mut at = run.start(state);
        while let Step(i) = at {
            visited.push(ir.steps[i].id.clone());
            assert!(visited.len() < 100, "runaway run: {visited:?}");
            at = run.next(state, i, outcomes.next().unwrap_or(Success));
        }
        (visited, at)
    }

    fn branch(check: &str, on_true: Target, on_false: Target) -> FlowIr {
        FlowIr::Branch { check: expr(check), on_true, on_false, on_error: Fail }
    }

    #[test]
    fn a_branch_without_its_target_falls_through_to_the_next_step() {
        // As lowered from `check: var.go` with only `on-true: c`: on-false is the following step.
        let ir = workflow(
            vec![var("go", Type::Bool, Some(json!(false)))],
            vec![step("a", "conditional", branch("var.go", Step(2), Step(1))), step("b", "shell", goto(Step(2))), step("c", "shell", goto(Complete))],
        );
        let mut state = DynState::new(&ir);
        assert_eq!(trace(&ir, &mut state, &[]), (vec!["a".into(), "b".into(), "c".into()], Complete));
        state = DynState::new(&ir);
        state.variables[0] = json!(true);
        assert_eq!(trace(&ir, &mut state, &[]), (vec!["a".into(), "c".into()], Complete));
    }

    fn retry_loop(condition: &str, max: u32, on_exhausted: Target) -> WorkflowIr {
        let looping = FlowIr::Loop { condition: expr(condition), to: 0, max, next: Step(2), on_exhausted, on_error: Fail };
        workflow(
            vec![var("approved", Type::Bool, Some(json!(false)))],
            vec![
                step("review", "shell", goto(Step(1))),
                step("again", "loop", looping),
                step("merge", "shell", goto(Complete)),
                step("give-up", "shell", goto(Complete)),
            ],
        )
    }

    #[test]
    fn a_loop_jumps_at_most_max_times_then_takes_on_exhausted() {
        let ir = retry_loop("!var.approved", 2, Step(3));
        let (visited, end) = trace(&ir, &mut DynState::new(&ir), &[]);
        assert_eq!(visited, ["review", "again", "review", "again", "review", "again", "give-up"]);
        assert_eq!(end, Complete);

        // Without on-exhausted the run fails.
        let ir = retry_loop("!var.approved", 2, Fail);
        assert_eq!(trace(&ir, &mut DynState::new(&ir), &[]).1, Fail);
    }

    #[test]
    fn a_loop_whose_condition_stops_holding_continues_with_the_next_step() {
        let ir = retry_loop("iteration < 1", 5, Fail);
        let mut state = DynState::new(&ir);
        let (visited, end) = trace(&ir, &mut state, &[]);
        assert_eq!(visited, ["review", "again", "review", "again", "merge"]);
        assert_eq!(end, Complete);
        assert_eq!(state.counters, [0, 1, 0, 0], "one jump was made");
    }

    #[test]
    fn an_error_goes_to_on_error_or_fails_the_run() {
        let mut first = step("build", "shell", FlowIr::Goto { next: Step(2), on_error: Step(1) });
        first.set = vec![(0, expr("1"))];
        let ir = workflow(vec![var("n", Type::Int, None)], vec![first, step("fix", "shell", goto(Complete)), step("ship", "shell", goto(Complete))]);
        let mut state = DynState::new(&ir);
        assert_eq!(trace(&ir, &mut state, &[Error]), (vec!["build".into(), "fix".into()], Complete));
        assert_eq!(state.variables[0], json!(0), "set is not applied when the step failed");
        // `ship` has no on-error: its failure fails the run.
        assert_eq!(trace(&ir, &mut DynState::new(&ir), &[Success, Error]), (vec!["build".into(), "ship".into()], Fail));
    }

    #[test]
    fn a_step_whose_visits_are_used_up_sends_the_run_to_on_exhausted() {
        // fix (at most 2 visits) -> test -> back to fix while failing; exhausted -> report.
        let mut fix = step("fix", "make-changes", goto(Step(1)));
        fix.max_visits = Some(2);
        fix.on_exhausted = Step(2);
        let ir = workflow(vec![], vec![fix, step("test", "shell", FlowIr::Goto { next: Complete, on_error: Step(0) }), step("report", "shell", goto(Fail))]);
        let mut state = DynState::new(&ir);
        let (visited, end) = trace(&ir, &mut state, &[Success, Error, Success, Error]);
        assert_eq!(visited, ["fix", "test", "fix", "test", "report"]);
        assert_eq!(end, Fail);
        assert_eq!(state.counters[0], 2);
    }

    #[test]
    fn exhausted_steps_that_send_the_run_to_each_other_fail_it() {
        let mut a = step("a", "shell", goto(Step(1)));
        a.max_visits = Some(1);
        a.on_exhausted = Step(1);
        let mut b = step("b", "shell", goto(Step(0)));
        b.max_visits = Some(1);
        b.on_exhausted = Step(0);
        let ir = workflow(vec![], vec![a, b]);
        assert_eq!(trace(&ir, &mut DynState::new(&ir), &[]), (vec!["a".into(), "b".into()], Fail));
    }

    #[test]
    fn set_reads_the_state_before_any_assignment_and_converts_to_the_variable_type() {
        let mut swap = step("swap", "set-variable", branch("var.a == 2", Step(1), Fail));
        swap.set = vec![(0, expr("var.b")), (1, expr("var.a")), (2, expr("var.a + 1")), (3, expr("var.ratio * 2"))];
        let ir = workflow(
            vec![
                var("a", Type::Int, Some(json!(1))),
                var("b", Type::Int, Some(json!(2))),
                var("ratio", Type::Float, Some(json!(1))),
                var("count", Type::Int, Some(json!(0))),
            ],
            vec![swap, step("done", "shell", goto(Complete))],
        );
        let mut state = DynState::new(&ir);
        assert_eq!(state.variables[2], json!(1.0), "an int default of a float variable is a float");
        assert_eq!(trace(&ir, &mut state, &[]).1, Complete, "the check sees the assigned values");
        assert_eq!(state.variables, [json!(2), json!(1), json!(2.0), json!(2)]);
    }

    #[test]
    fn an_expression_that_cannot_be_evaluated_routes_like_an_error() {
        let bad = step("bad", "shell", FlowIr::Branch { check: expr("var.n / 0 > 1"), on_true: Step(1), on_false: Step(1), on_error: Step(2) });
        let mut bad_set = step("bad-set", "shell", FlowIr::Goto { next: Step(1), on_error: Step(2) });
        bad_set.set = vec![(0, expr("'text'"))];
        let ir = workflow(vec![var("n", Type::Int, Some(json!(1)))], vec![bad, step("ok", "shell", goto(Complete)), step("handler", "shell", goto(Complete))]);
        assert_eq!(trace(&ir, &mut DynState::new(&ir), &[]).0, ["bad", "handler"]);
        let ir =
            workflow(vec![var("n", Type::Int, Some(json!(1)))], vec![bad_set, step("ok", "shell", goto(Complete)), step("handler", "shell", goto(Complete))]);
        let mut state = DynState::new(&ir);
        assert_eq!(trace(&ir, &mut state, &[]).0, ["bad-set", "handler"]);
        assert_eq!(state.variables[0], json!(1), "a failed set assigns nothing");
    }

    #[test]
    fn conditions_read_step_outputs_including_parsed_json_fields() {
        let ir = workflow(
            vec![],
            vec![
                step("plan", "ai-prompt", goto(Step(1))),
                step("gate", "approval-gate", branch("step.gate.approved && step.plan.risk.level == 'low'", Step(2), Fail)),
                step("merge", "merge-pr", goto(Complete)),
            ],
        );
        let run = Interpreter::new(&ir);
        let mut state = DynState::new(&ir);
        state.outputs[0] = Some(json!({ "response": "{..}", "json": { "risk": { "level": "low" } } }));
        state.outputs[1] = Some(json!({ "approved": true, "comment": "", "approver": "ana" }));
        assert_eq!(run.next(&mut state, 1, Success), Step(2));
        state.outputs[1] = Some(json!({ "approved": false }));
        assert_eq!(run.next(&mut state, 1, Success), Fail);
        // A step that has not run has no outputs: the condition errors, which routes like an error.
        state.outputs[0] = None;
        state.outputs[1] = Some(json!({ "approved": true }));
        assert_eq!(run.next(&mut state, 1, Success), Fail);
    }

    #[test]
    fn keyword_predicates_read_the_steps_own_fields() {
        let mut exists = step("exists", "check-file-exists", branch("file-exists", Step(1), Step(2)));
        exists.params.insert("file".into(), json!("${var.dir}/Cargo.toml"));
        let mut equals = step("equals", "conditional", branch("variable-equals", Complete, Fail));
        equals.params.insert("variable".into(), json!("mode"));
        equals.params.insert("value".into(), json!("fast"));
        let ir = workflow(
            vec![var("dir", Type::String, Some(json!(env!("CARGO_MANIFEST_DIR")))), var("mode", Type::String, Some(json!("fast")))],
            vec![exists, equals, step("missing", "shell", goto(Fail))],
        );
        let mut state = DynState::new(&ir);
        assert_eq!(trace(&ir, &mut state, &[]), (vec!["exists".into(), "equals".into()], Complete));
        state = DynState::new(&ir);
        state.variables = vec![json!("/nonexistent"), json!("slow")];
        assert_eq!(trace(&ir, &mut state, &[]), (vec!["exists".into(), "missing".into()], Fail));
        let run = Interpreter::new(&ir);
        assert_eq!(run.next(&mut state, 1, Success), Fail, "variable-equals compares with `value:`");
    }

    #[test]
    fn end_completes_or_fails_the_run() {
        let ir = workflow(vec![], vec![step("stop", "end", FlowIr::End { failed: true }), step("never", "shell", goto(Complete))]);
        assert_eq!(trace(&ir, &mut DynState::new(&ir), &[]), (vec!["stop".into()], Fail));
        let ir = workflow(vec![], vec![step("stop", "end", FlowIr::End { failed: false })]);
        assert_eq!(trace(&ir, &mut DynState::new(&ir), &[]).1, Complete);
    }

    #[test]
    fn variables_without_a_default_start_at_their_types_zero_value() {
        let ir = workflow(
            vec![var("s", Type::String, None), var("l", Type::List, None), var("x", Type::Any, None), var("f", Type::Float, Some(json!("nope")))],
            vec![],
        );
        assert_eq!(DynState::new(&ir).variables, [json!(""), json!([]), json!(null), json!(0.0)]);
    }
}
