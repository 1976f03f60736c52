//! Parity of the two engines (DESIGN §2): every workflow of the project runs
//! through its generated machine (`include_workflow!`) and through the IR
//! interpreter (what `workflow run file.yaml` uses) with the same outcomes
//! and outputs, and both must take the same steps and leave the same state.
//!
//! Each workflow gets [`RUNS`] seeded pseudo-random runs of at most
//! [`MAX_STEPS`] steps. At each step the outcome (success or error), the
//! step's outputs (random values of the types its IR declares) and the value
//! of a variable the action itself writes are drawn once and fed to both
//! engines; after every transition the next step, the variables (by name) and
//! the counters are compared. A failure names the workflow, the seed, both
//! traces and what was fed at each step; `run_both::<M>(ir, seed)` replays it.
//!
//! The machines are compiled per folder, as a build script would: the
//! example, the language corpus (its `every-action.yaml` uses every action)
//! and `tests/workflows/` (copies of the shared conformance files and two
//! workflows written to stress expressions). Each folder's test checks that
//! no workflow of the folder is left out.

mod support;

use support::{fields_read, random_value, Rng, WORDS};

use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::path::Path;
use workflow::language::expr::Type;
use workflow::language::read::ReadOptions;
use workflow::language::set::compile_paths;
use workflow::{DynState, Interpreter, Machine, Outcome, RunFacts, State, Target, Transition, WorkflowIr};

mod example {
    workflow::include_workflow!("examples/yaml-to-binary/workflows");
}

mod corpus {
    workflow::include_workflow!("workflow-core/tests/corpus/valid");
}

mod fixtures {
    workflow::include_workflow!("tests/workflows");
}

/// Seeded runs per workflow.
const RUNS: u64 = 256;

/// Longest run; every loop is bounded, so runs end long before.
const MAX_STEPS: usize = 500;

#[test]
fn the_example_workflows_run_the_same_in_both_engines() {
    let mut folder = Folder::compile("examples/yaml-to-binary/workflows");
    folder.check::<example::pr_review_loop::Machine>();
    folder.check::<example::test_fix_loop::Machine>();
    folder.done();
}

#[test]
fn the_corpus_workflows_run_the_same_in_both_engines() {
    let mut folder = Folder::compile("workflow-core/tests/corpus/valid");
    folder.check::<corpus::assigned_on_all_paths::Machine>();
    folder.check::<corpus::bounded_retry_loop::Machine>();
    folder.check::<corpus::every_action::Machine>();
    folder.check::<corpus::map_templates::Machine>();
    folder.check::<corpus::run_context::Machine>();
    folder.check::<corpus::every_action_child::Machine>();
    // `slow` runs only where `Cargo.toml` is missing, and the tests run next to it.
    folder.check_all_but::<corpus::predicates::Machine>(&["slow"]);
    folder.done();
}

#[test]
fn the_conformance_and_expression_workflows_run_the_same_in_both_engines() {
    let mut folder = Folder::compile("tests/workflows");
    folder.check::<fixtures::codi_dialect::Machine>();
    folder.check::<fixtures::expression_stress::Machine>();
    folder.check::<fixtures::extract_skills::Machine>();
    folder.check::<fixtures::json_gates::Machine>();
    folder.check::<fixtures::summarize_postings::Machine>();
    folder.check::<fixtures::test_conditional::Machine>();
    folder.check::<fixtures::test_linear::Machine>();
    folder.check::<fixtures::test_loop::Machine>();
    folder.check::<fixtures::test_model_switch::Machine>();
    folder.done();
}

/// The seed workflow with scripted verdicts: every review (`s3` and `s7`
/// alike) rejects twice, then approves from the third on. The first round
/// is rejected at `s7` and loops back; in the second, `s7` approves.
#[test]
fn pr_review_loop_rejected_twice_then_approved_takes_the_expected_path_in_both_engines() {
    type M = example::pr_review_loop::Machine;
    let expected = [
        "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", // reviews 1 and 2 reject: loop back
        "s2", "s3", "s4", "s5", "s6", "s7", "s11", "s12", "s13", // reviews 3 and 4 approve
    ];
    let scripted = |reviews: &mut u32, action: &str| match action {
        "review-pr" => {
            *reviews += 1;
            Some(json!({ "approved": *reviews > 2, "comments": if *reviews > 2 { "LGTM" } else { "please add tests" } }))
        }
        "create-pr" => Some(json!({ "number": 7, "url": "https://example.invalid/pr/7" })),
        _ => None,
    };

    // The generated machine.
    let mut state = State::<M>::new();
    let (mut trace, mut reviews) = (Vec::new(), 0);
    let mut at = M::begin(&mut state);
    while let Transition::Goto(step) = at {
        trace.push(M::step_id(step).to_string());
        assert!(trace.len() <= expected.len(), "machine: runaway run {trace:?}");
        if let Some(output) = scripted(&mut reviews, &M::ir().steps[M::step_index(step)].action) {
            M::set_output(&mut state.outputs, step, output).expect("scripted outputs fit the step");
        }
        at = M::next(&mut state, step, Outcome::Success);
    }
    assert_eq!(trace, expected, "machine trace");
    assert_eq!(at, Transition::Complete);
    let s10 = M::ir().steps.iter().position(|s| s.id == "s10").expect("step s10");
    assert_eq!(state.counters[s10], 1, "one jump back from s10");
    let machine_counters = state.counters.clone();

    // The interpreter, on the IR compiled from the YAML file at run time.
    let ir = compiled("examples/yaml-to-binary/workflows", M::NAME);
    let run = Interpreter::new(&ir);
    let mut state = DynState::new(&ir);
    let (mut trace, mut reviews) = (Vec::new(), 0);
    let mut at = run.start(&mut state);
    while let Target::Step(i) = at {
        trace.push(ir.steps[i].id.clone());
        assert!(trace.len() <= expected.len(), "interpreter: runaway run {trace:?}");
        state.outputs[i] = scripted(&mut reviews, &ir.steps[i].action);
        at = run.next(&mut state, i, Outcome::Success);
    }
    assert_eq!(trace, expected, "interpreter trace");
    assert_eq!(at, Target::Complete);
    assert_eq!(state.counters, machine_counters);
    assert_eq!(state.variables, [json!("Add retry policy")]);
}

/// The workflows of one folder, compiled at run time (as the interpreter
/// gets them), and which of them have been checked.
struct Folder {
    path: &'static str,
    compiled: Vec<WorkflowIr>,
    checked: BTreeSet<String>,
}

impl Folder {
    fn compile(path: &'static str) -> Folder {
        let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let compiled = match compile_paths(&[full], &ReadOptions::default()) {
            Ok(compiled) => compiled.into_iter().map(|c| c.ir).collect(),
            Err(diags) => panic!("{path} does not compile:\n{}", diags.render()),
        };
        Folder { path, compiled, checked: BTreeSet::new() }
    }

    /// Runs machine `M` and the interpreter on the same random runs, which
    /// must reach every step.
    fn check<M: Machine>(&mut self) {
        self.check_all_but::<M>(&[]);
    }

    /// [`Folder::check`], for a workflow whose steps `unreached` no outcome
    /// or output can lead to (they depend on the world, not on the run).
    fn check_all_but<M: Machine>(&mut self, unreached: &[&str]) {
        let Some(ir) = self.compiled.iter().find(|ir| ir.name == M::NAME) else { panic!("{} holds no workflow named `{}`", self.path, M::NAME) };
        assert!(ir == M::ir(), "{}: the IR compiled at run time differs from the one the machine embeds", M::NAME);
        assert_eq!(ir.hash, M::HASH, "{}: definition hash", M::NAME);
        let started = std::time::Instant::now();
        let mut stats = Stats::default();
        let mut visited = vec![false; ir.steps.len()];
        for seed in 0..RUNS {
            let run = run_both::<M>(ir, seed);
            for &step in &run.steps {
                visited[step] = true;
            }
            stats.add(&run);
        }
        let never: Vec<&str> = ir.steps.iter().zip(&visited).filter(|(_, v)| !**v).map(|(s, _)| s.id.as_str()).collect();
        assert_eq!(never, unreached, "{}: steps no random run reached", M::NAME);
        eprintln!("parity {:<22} {RUNS} runs, {:>6} steps, {stats}, {:.0?}", M::NAME, stats.steps, started.elapsed());
        self.checked.insert(M::NAME.to_string());
    }

    /// Every workflow of the folder was checked.
    fn done(self) {
        let missing: Vec<&str> = self.compiled.iter().map(|ir| ir.name.as_str()).filter(|n| !self.checked.contains(*n)).collect();
        assert!(missing.is_empty(), "{}: add a `folder.check::<..>()` line for {missing:?}", self.path);
    }
}

/// The IR of workflow `name` of `folder`, compiled from its YAML.
fn compiled(folder: &'static str, name: &str) -> WorkflowIr {
    let folder = Folder::compile(folder);
    folder.compiled.into_iter().find(|ir| ir.name == name).unwrap_or_else(|| panic!("no workflow `{name}`"))
}

/// How the runs of one workflow ended.
#[derive(Default)]
struct Stats {
    steps: usize,
    completed: usize,
    failed: usize,
    cut: usize,
}

impl Stats {
    fn add(&mut self, run: &Run) {
        self.steps += run.steps.len();
        match run.end {
            Target::Complete => self.completed += 1,
            Target::Fail => self.failed += 1,
            Target::Step(_) => self.cut += 1,
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>3} completed, {:>3} failed", self.completed, self.failed)?;
        if self.cut > 0 {
            write!(f, ", {} cut at {MAX_STEPS} steps", self.cut)?;
        }
        Ok(())
    }
}

/// One run both engines agreed on: the steps taken (by index) and where it ended.
struct Run {
    steps: Vec<usize>,
    end: Target,
}

/// Drives machine `M` and the interpreter of `ir` in lockstep with the
/// outcomes and outputs drawn from `seed`; panics at the first difference.
fn run_both<M: Machine>(ir: &WorkflowIr, seed: u64) -> Run {
    let mut rng = Rng::new(M::NAME, seed);
    // Some runs never fail a step, others fail often.
    let error_odds = [0, 20, 6, 3][(seed % 4) as usize];
    let interpreter = Interpreter::new(ir);
    let mut machine = State::<M>::new();
    let mut dynamic = DynState::new(ir);
    // Both read the same `run.*` facts; every other run was started by a parent.
    let parent = (seed % 2 == 1).then(|| format!("parent-{seed}"));
    let facts = std::sync::Arc::new(RunFacts::new(&format!("0192f000-0000-7000-8000-{seed:012}"), M::NAME, parent.as_deref()));
    machine.run = facts.clone();
    dynamic.run = facts;
    let mut machine_at = M::begin(&mut machine);
    let mut dynamic_at = interpreter.start(&mut dynamic);
    let (mut machine_trace, mut dynamic_trace) = (Vec::<String>::new(), Vec::<String>::new());
    let mut steps = Vec::new();
    let mut inputs = Vec::new();
    loop {
        if let Err(difference) = same::<M>(ir, &machine, machine_at, &dynamic, dynamic_at) {
            machine_trace.push(describe_transition::<M>(machine_at));
            dynamic_trace.push(describe_target(ir, dynamic_at));
            panic!(
                "workflow `{}`, seed {seed}: the engines differ after {} steps: {difference}\n\
                 machine:     {}\n\
                 interpreter: {}\n\
                 fed (outcome, outputs, written variable) per step:\n  {}",
                M::NAME,
                steps.len(),
                machine_trace.join(" -> "),
                dynamic_trace.join(" -> "),
                inputs.join("\n  "),
            );
        }
        let (Transition::Goto(step), Target::Step(index)) = (machine_at, dynamic_at) else {
            return Run { steps, end: dynamic_at };
        };
        if steps.len() == MAX_STEPS {
            return Run { steps, end: dynamic_at };
        }
        steps.push(index);
        machine_trace.push(M::step_id(step).to_string());
        dynamic_trace.push(ir.steps[index].id.clone());

        let outcome = if error_odds > 0 && rng.below(error_odds) == 0 { Outcome::Error } else { Outcome::Success };
        // A failed step may or may not have produced outputs; a valid workflow never reads them then.
        let outputs = (outcome == Outcome::Success || rng.coin()).then(|| step_outputs(ir, index, &mut rng)).flatten();
        if let Some(outputs) = &outputs {
            if let Err(e) = M::set_output(&mut machine.outputs, step, outputs.clone()) {
                panic!("workflow `{}`, seed {seed}: outputs {outputs} do not fit step `{}`: {e}", M::NAME, ir.steps[index].id);
            }
            dynamic.outputs[index] = Some(outputs.clone());
        }
        // What the action itself writes (`set-variable`, `load-variable`, `output:` of a prompt).
        let written = match ir.steps[index].writes {
            Some(var) if outcome == Outcome::Success => {
                let variable = &ir.variables[var];
                let value = random_value(variable.ty, &mut rng);
                write_variable::<M>(&mut machine, &variable.name, value.clone());
                dynamic.variables[var] = value.clone();
                Some(format!("{} = {value}", variable.name))
            }
            _ => None,
        };
        inputs.push(format!("{}: {outcome:?}, {}, {}", ir.steps[index].id, json!(outputs), written.unwrap_or_else(|| "-".into())));
        machine_at = M::next(&mut machine, step, outcome);
        dynamic_at = interpreter.next(&mut dynamic, index, outcome);
    }
}

/// Whether both engines are at the same place with the same state.
fn same<M: Machine>(ir: &WorkflowIr, machine: &State<M>, machine_at: Transition<M::Step>, dynamic: &DynState, dynamic_at: Target) -> Result<(), String> {
    let at_same_place = match (machine_at, dynamic_at) {
        (Transition::Goto(step), Target::Step(index)) => M::step_index(step) == index,
        (Transition::Complete, Target::Complete) | (Transition::Fail(_), Target::Fail) => true,
        _ => false,
    };
    if !at_same_place {
        return Err(format!("the machine goes to {}, the interpreter to {}", describe_transition::<M>(machine_at), describe_target(ir, dynamic_at)));
    }
    let variables = serde_json::to_value(&machine.variables).map_err(|e| format!("the machine's variables do not serialize: {e}"))?;
    for (var, value) in ir.variables.iter().zip(&dynamic.variables) {
        let typed = variables.get(&var.name);
        if typed != Some(value) {
            return Err(format!("variable `{}` is {} in the machine, {value} in the interpreter", var.name, json!(typed)));
        }
    }
    if let Some(names) = variables.as_object().filter(|v| v.len() != ir.variables.len()) {
        return Err(format!("the machine has variables {:?}", names.keys().collect::<Vec<_>>()));
    }
    if machine.counters != dynamic.counters {
        return Err(format!("counters are {:?} in the machine, {:?} in the interpreter", machine.counters, dynamic.counters));
    }
    Ok(())
}

fn describe_transition<M: Machine>(at: Transition<M::Step>) -> String {
    match at {
        Transition::Goto(step) => format!("[{}]", M::step_id(step)),
        Transition::Complete => "(completed)".to_string(),
        Transition::Fail(reason) => format!("(failed: {reason:?})"),
    }
}

fn describe_target(ir: &WorkflowIr, at: Target) -> String {
    match at {
        Target::Step(index) => format!("[{}]", ir.steps[index].id),
        Target::Complete => "(completed)".to_string(),
        Target::Fail => "(failed)".to_string(),
    }
}

/// Sets variable `name` of the machine's typed variables through their JSON form.
fn write_variable<M: Machine>(state: &mut State<M>, name: &str, value: Value) {
    let mut variables = serde_json::to_value(&state.variables).expect("variables serialize");
    variables[name] = value;
    state.variables = serde_json::from_value(variables).unwrap_or_else(|e| panic!("cannot write `{name}`: {e}"));
}

/// Random outputs for step `index`: every output its IR declares, with a
/// value of its type; for an `ai-prompt` with `format: json`, the fields
/// the workflow reads go under `json` (some left out, some of a type the
/// condition does not expect). `None` for a step without outputs.
fn step_outputs(ir: &WorkflowIr, index: usize, rng: &mut Rng) -> Option<Value> {
    let step = &ir.steps[index];
    if step.outputs.is_empty() {
        return None;
    }
    let mut object = Map::new();
    for (field, ty) in &step.outputs {
        let value = match (field.as_str(), ty) {
            ("exit_code", _) => json!(rng.pick(&[0, 0, 1, 1, 2])),
            ("number", _) => json!(rng.below(6)),
            (_, Type::List) => Value::Array((0..rng.below(3)).map(|_| json!(rng.pick(WORDS))).collect()),
            _ => random_value(*ty, rng),
        };
        object.insert(field.clone(), value);
    }
    let read = fields_read(ir, &step.id);
    let extra: Vec<&String> = read.iter().filter(|f| !step.outputs.iter().any(|(name, _)| name == *f)).collect();
    if step.action == "ai-prompt" && !extra.is_empty() {
        let mut parsed = Map::new();
        for field in extra {
            if rng.below(8) != 0 {
                parsed.insert(field.clone(), random_value(Type::Any, rng));
            }
        }
        object.insert("json".into(), Value::Object(parsed));
    }
    Some(Value::Object(object))
}
