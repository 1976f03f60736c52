//! Parity of the two engines through the durable executor (DESIGN §2): every
//! workflow of the project runs through `Executor<SqliteStore>` once with its
//! generated machine (`MachineEngine`) and once with the IR interpreter
//! (`IrEngine`), with the same scripted actions, and both runs must leave the
//! same report, the same stored step events and the same stored variables.
//!
//! `tests/parity.rs` compares the transition functions directly; this test
//! goes through everything the executor adds on top: `${..}` filled in from
//! the engine's state, retries, variables written by actions, checkpoints in
//! a real SQLite file, and pause and resume.
//!
//! Real actions (git, pull requests, models, gates) are not available yet, so
//! every action name (the built-in ones of the catalog, and any custom one a
//! workflow uses) is bound to a [`Scripted`] action. What it does is drawn from
//! a seeded script keyed by (step id, how many times the step ran, attempt):
//! outputs of the types the step's IR declares, `exit_code` 0, 1 or 2 (a
//! non-zero exit fails a `shell` step unless the workflow reads its
//! `exit_code`, as the real `shell` does), reviews that reject the first k
//! times then approve, failures (to reach `on-error` and retries), and the
//! variable the step writes (`set-variable`, `load-variable`, `output:`).
//!
//! Each workflow gets [`SEEDS`] seeds per engine, all run concurrently in one
//! store (so retry backoffs overlap). For each (workflow, seed) both engines
//! must give the same report (status and trace), the same stored events
//! (step, outcome, attempts, error, outputs), the same stored variables and
//! counters, and the same stored outputs for the steps that ran, and the same
//! reason, word for word, when a run fails.
//!
//! For the first [`PAUSED_SEEDS`] seeds, further runs ask for a pause from
//! inside an early step (the second executed; the first or third for some
//! seeds), then are resumed with a new engine ([`PAUSES`]: of the same kind,
//! and of the other kind): the traces put together must be the uninterrupted
//! trace, with the same events, variables and end.

mod support;

use support::{fields_read, random_value, Rng, WORDS};

use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use workflow::actions::{Action, ActionFailure, ActionOutput, ActionResult, Actions, StepContext};
use workflow::engine::{Engine, IrEngine, MachineEngine};
use workflow::executor::{Executor, ExecutorOptions, ResumeOptions, RunReport, StartOptions};
use workflow::ir::StepIr;
use workflow::language::catalog::ACTIONS;
use workflow::language::expr::Type;
use workflow::language::read::ReadOptions;
use workflow::language::set::compile_paths;
use workflow::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use workflow::store::{Control, RunStatus, StepOutcome, Store};
use workflow::{Machine, WorkflowIr};

mod example {
    workflow::include_workflow!("examples/yaml-to-binary/workflows");
}

mod corpus {
    workflow::include_workflow!("workflow-core/tests/corpus/valid");
}

mod fixtures {
    workflow::include_workflow!("tests/workflows");
}

/// Seeded runs per workflow and engine.
const SEEDS: u64 = 32;

/// Seeds (the first ones) that also run with a pause and a resume, per engine.
const PAUSED_SEEDS: u64 = 8;

/// The parameter the executor adds to a `shell` step whose `exit_code` the
/// workflow reads (`workflow_runtime::actions::shell::EXIT_CODE_HANDLED`, not public).
const EXIT_CODE_HANDLED: &str = "__exit_code_handled";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_example_workflows_run_the_same_through_the_executor_in_both_engines() {
    let mut folder = Folder::compile("examples/yaml-to-binary/workflows");
    folder.check::<example::pr_review_loop::Machine>().await;
    folder.check::<example::test_fix_loop::Machine>().await;
    folder.done();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_corpus_workflows_run_the_same_through_the_executor_in_both_engines() {
    let mut folder = Folder::compile("workflow-core/tests/corpus/valid");
    folder.check::<corpus::assigned_on_all_paths::Machine>().await;
    folder.check::<corpus::bounded_retry_loop::Machine>().await;
    folder.check::<corpus::every_action::Machine>().await;
    folder.check::<corpus::map_templates::Machine>().await;
    folder.check::<corpus::run_context::Machine>().await;
    folder.check::<corpus::every_action_child::Machine>().await;
    folder.check::<corpus::predicates::Machine>().await;
    folder.done();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_conformance_and_expression_workflows_run_the_same_through_the_executor_in_both_engines() {
    let mut folder = Folder::compile("tests/workflows");
    folder.check::<fixtures::codi_dialect::Machine>().await;
    folder.check::<fixtures::expression_stress::Machine>().await;
    folder.check::<fixtures::extract_skills::Machine>().await;
    folder.check::<fixtures::json_gates::Machine>().await;
    folder.check::<fixtures::summarize_postings::Machine>().await;
    folder.check::<fixtures::test_conditional::Machine>().await;
    folder.check::<fixtures::test_linear::Machine>().await;
    folder.check::<fixtures::test_loop::Machine>().await;
    folder.check::<fixtures::test_model_switch::Machine>().await;
    folder.done();
}

/// The workflows of one folder, compiled at run time (as `workflow run` gets
/// them), and which of them have been checked.
struct Folder {
    path: &'static str,
    compiled: Vec<WorkflowIr>,
    checked: BTreeSet<String>,
    /// Runs that paused, per plan of [`PAUSES`].
    paused: [usize; 4],
}

impl Folder {
    fn compile(path: &'static str) -> Folder {
        let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let compiled = match compile_paths(&[full], &ReadOptions::default()) {
            Ok(compiled) => compiled.into_iter().map(|c| c.ir).collect(),
            Err(diags) => panic!("{path} does not compile:\n{}", diags.render()),
        };
        Folder { path, compiled, checked: BTreeSet::new(), paused: [0; 4] }
    }

    /// Runs every seed through the executor with machine `M` and with the
    /// interpreter of the IR compiled at run time, and compares the runs.
    async fn check<M: Machine>(&mut self) {
        let Some(ir) = self.compiled.iter().find(|ir| ir.name == M::NAME) else { panic!("{} holds no workflow named `{}`", self.path, M::NAME) };
        assert!(ir == M::ir(), "{}: the IR compiled at run time differs from the one the machine embeds", M::NAME);
        let ir = Arc::new(ir.clone());
        let started = Instant::now();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = SqliteOptions { synchronous: Synchronous::Off, ..SqliteOptions::default() };
        let store = Arc::new(SqliteStore::open(dir.path().join("runs.db"), options).expect("the store opens"));

        let mut tasks = tokio::task::JoinSet::new();
        for seed in 0..SEEDS {
            let mut plans = vec![(Kind::Machine, None), (Kind::Ir, None)];
            if seed < PAUSED_SEEDS {
                plans.extend(PAUSES);
            }
            for plan in plans {
                let (store, ir, cwd) = (store.clone(), ir.clone(), dir.path().to_path_buf());
                tasks.spawn(async move { ((seed, plan), execute::<M>(store, ir, cwd, plan, seed).await) });
            }
        }
        let mut runs = HashMap::new();
        while let Some(joined) = tasks.join_next().await {
            let (key, run) = joined.unwrap_or_else(|e| panic!("workflow `{}`: a run panicked: {e}", M::NAME));
            runs.insert(key, run);
        }

        let mut stats = Stats::default();
        let mut visited = vec![false; ir.steps.len()];
        for seed in 0..SEEDS {
            let machine = &runs[&(seed, (Kind::Machine, None))];
            let interpreter = &runs[&(seed, (Kind::Ir, None))];
            stats.worded += usize::from(compare(&ir, seed, "machine", machine, "interpreter", interpreter));
            for event in &interpreter.events {
                visited[event.step] = true;
            }
            stats.add(interpreter);
            for (i, plan @ (start, resume)) in PAUSES.into_iter().enumerate().filter(|_| seed < PAUSED_SEEDS) {
                let paused = &runs[&(seed, plan)];
                let whole = &runs[&(seed, (start, None))];
                if paused.reports[0].status == RunStatus::Paused {
                    stats.paused[i] += 1;
                    self.paused[i] += 1;
                }
                let name = format!("{start:?} paused, resumed with a new {:?} engine,", resume.expect("a resume"));
                compare(&ir, seed, &name, paused, &format!("{start:?} uninterrupted"), whole);
            }
        }
        let never: Vec<&str> = ir.steps.iter().zip(&visited).filter(|(_, v)| !**v).map(|(s, _)| s.id.as_str()).collect();
        eprintln!(
            "executor parity {:<22} {SEEDS} seeds x 2 engines, {:>5} steps, {stats}, {:.0?}{}",
            M::NAME,
            stats.steps,
            started.elapsed(),
            if never.is_empty() { String::new() } else { format!(", never reached: {never:?}") },
        );
        self.checked.insert(M::NAME.to_string());
    }

    /// Every workflow of the folder was checked.
    fn done(self) {
        let missing: Vec<&str> = self.compiled.iter().map(|ir| ir.name.as_str()).filter(|n| !self.checked.contains(*n)).collect();
        assert!(missing.is_empty(), "{}: add a `folder.check::<..>()` line for {missing:?}", self.path);
        for (plan, paused) in PAUSES.iter().zip(self.paused) {
            assert!(paused > 0, "{}: no run paused with plan {plan:?}", self.path);
        }
    }
}

/// The engine a run starts with, and the engine it is resumed with after a pause (none: no pause).
type Plan = (Kind, Option<Kind>);

/// The paused runs of each of the first [`PAUSED_SEEDS`] seeds: each engine
/// resumed by a new engine of its kind (what the executor must support
/// within one build), and of the other kind (what the persisted state is
/// meant to allow: a run started from YAML resumed by its compiled binary).
const PAUSES: [Plan; 4] = [(Kind::Machine, Some(Kind::Machine)), (Kind::Ir, Some(Kind::Ir)), (Kind::Machine, Some(Kind::Ir)), (Kind::Ir, Some(Kind::Machine))];

/// Which engine drives a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Machine,
    Ir,
}

impl Kind {
    /// A fresh engine of this kind for workflow `M`.
    fn engine<M: Machine>(self, ir: &Arc<WorkflowIr>) -> Box<dyn Engine> {
        match self {
            Kind::Machine => Box::new(MachineEngine::<M>::new()),
            Kind::Ir => Box::new(IrEngine::new(ir.clone())),
        }
    }
}

/// What one run left: the executor's reports (two when it was paused and
/// resumed), and what the store holds about it.
struct Run {
    reports: Vec<RunReport>,
    /// The stored step executions.
    events: Vec<Event>,
    /// The stored run's status and reason.
    status: RunStatus,
    reason: Option<String>,
    /// The stored state's variables and counters.
    variables: Value,
    counters: Value,
    /// The stored state's outputs (the machine stores every step's, run or not).
    outputs: Value,
}

impl Run {
    /// The steps executed, over every call of the executor.
    fn trace(&self) -> Vec<String> {
        self.reports.iter().flat_map(|r| r.trace.iter().cloned()).collect()
    }

    /// How the last call of the executor left the run.
    fn last(&self) -> &RunReport {
        self.reports.last().expect("at least one report")
    }
}

/// One stored step execution, without its times.
#[derive(Debug, PartialEq)]
struct Event {
    seq: u64,
    step: usize,
    step_id: String,
    outcome: Option<StepOutcome>,
    attempts: u32,
    error: Option<String>,
    output: Value,
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{} {} {:?} x{}", self.seq, self.step_id, self.outcome, self.attempts)?;
        if let Some(e) = &self.error {
            write!(f, " error: {e}")?;
        }
        write!(f, " {}", self.output)
    }
}

/// Starts a run of workflow `M` with the script of `seed` in `store` and
/// drives it to its end. With a resume engine in the plan, a step early in
/// the run asks for a pause, and the paused run is resumed with a new engine
/// of that kind.
async fn execute<M: Machine>(store: Arc<SqliteStore>, ir: Arc<WorkflowIr>, cwd: PathBuf, (kind, resume): Plan, seed: u64) -> Run {
    let pause = resume.is_some();
    let script = Arc::new(Script { ir: ir.clone(), seed, pause: pause.then(|| store.clone()), ran: Mutex::default() });
    let options =
        ExecutorOptions { cwd, operator: "executor-parity".to_string(), consent: workflow::permissions::Consent::granted(), ..ExecutorOptions::default() };
    let executor = Executor::new(store.clone(), script.actions(), options);
    let what = format!("workflow `{}`, seed {seed}, {kind:?}{}", ir.name, if pause { " (paused)" } else { "" });
    let first = executor.start(kind.engine::<M>(&ir), StartOptions::default()).await.unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let run_id = first.run_id.clone();
    let mut reports = vec![first];
    if let Some(resume) = resume.filter(|_| reports[0].status == RunStatus::Paused) {
        let resumed =
            executor.resume(&run_id, resume.engine::<M>(&ir), ResumeOptions::default()).await.unwrap_or_else(|e| panic!("{what}: cannot resume: {e}"));
        reports.push(resumed);
    }
    let record = store.load_run(&run_id).expect("the store reads").unwrap_or_else(|| panic!("{what}: run {run_id} is not stored"));
    let events = store.events(&run_id).expect("the store reads");
    // Each run has its own id and start (`run.id`, `run.started_at`): named alike, two runs compare.
    let facts = workflow::RunFacts::new(&run_id, &ir.name, None);
    let alike = |value: Value| without_facts(value, &facts);
    let events = events
        .into_iter()
        .map(|e| Event { seq: e.seq, step: e.step, step_id: e.step_id, outcome: e.outcome, attempts: e.attempts, error: e.error, output: alike(e.output) })
        .collect();
    Run {
        reports,
        events,
        status: record.status,
        reason: record.reason,
        variables: alike(record.state["variables"].clone()),
        counters: record.state["counters"].clone(),
        outputs: alike(record.state["outputs"].clone()),
    }
}

/// `value` with the run's own id and start written `<run.id>` and `<run.started_at>`.
fn without_facts(value: Value, facts: &workflow::RunFacts) -> Value {
    match value {
        Value::String(text) => Value::String(text.replace(&facts.id, "<run.id>").replace(&facts.started_at, "<run.started_at>")),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| without_facts(v, facts)).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, without_facts(v, facts))).collect()),
        other => other,
    }
}

/// Panics, with both runs laid out, unless run `a` and run `b` of workflow
/// `ir` agree. Returns whether their reasons differ (never, once they agree).
fn compare(ir: &WorkflowIr, seed: u64, a_name: &str, a: &Run, b_name: &str, b: &Run) -> bool {
    let mut differences = Vec::new();
    if a.trace() != b.trace() {
        differences.push("the traces differ".to_string());
    }
    if a.last().status != b.last().status {
        differences.push(format!("the reports' statuses differ: {:?} / {:?}", a.last().status, b.last().status));
    }
    if a.last().reason != b.last().reason {
        differences.push(format!("the reports' reasons differ: {:?} / {:?}", a.last().reason, b.last().reason));
    }
    if (a.status, &a.reason) != (b.status, &b.reason) {
        differences.push(format!("the stored runs differ: {:?} {:?} / {:?} {:?}", a.status, a.reason, b.status, b.reason));
    }
    if a.events != b.events {
        let at = a.events.iter().zip(&b.events).position(|(x, y)| x != y).unwrap_or(a.events.len().min(b.events.len()));
        differences.push(format!("the stored events differ from #{}", at + 1));
    }
    if a.variables != b.variables {
        differences.push(format!("the stored variables differ: {} / {}", a.variables, b.variables));
    }
    if a.counters != b.counters {
        differences.push(format!("the stored counters differ: {} / {}", a.counters, b.counters));
    }
    // The interpreter stores the outputs of the steps that ran, the machine
    // every step's (defaults for those that did not): compare those that ran.
    for (id, output) in a.outputs.as_object().into_iter().flatten() {
        let Some(other) = b.outputs.get(id) else { continue };
        let (Some(x), Some(y)) = (output.as_object(), other.as_object()) else { continue };
        let fields: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
        for field in fields {
            match (x.get(field), y.get(field)) {
                (Some(u), Some(v)) if u != v => differences.push(format!("the stored outputs `{id}.{field}` differ: {u} / {v}")),
                (Some(u), None) | (None, Some(u)) if !is_default(u) => {
                    differences.push(format!("the stored output `{id}.{field}` is {u} in one run, missing in the other"));
                }
                _ => {}
            }
        }
    }
    if differences.is_empty() {
        return a.reason != b.reason || a.last().reason != b.last().reason;
    }
    let layout = |run: &Run| {
        let reports: Vec<String> = run.reports.iter().map(|r| format!("{:?} {:?} [{}]", r.status, r.reason, r.trace.join(" "))).collect();
        let events: Vec<String> = run.events.iter().map(|e| e.to_string()).collect();
        format!("reports: {}\n    events:\n      {}", reports.join("; then "), events.join("\n      "))
    };
    panic!(
        "workflow `{}`, seed {seed}: {a_name} and {b_name} differ:\n  - {}\n  {a_name}: {}\n  {b_name}: {}",
        ir.name,
        differences.join("\n  - "),
        layout(a),
        layout(b),
    );
}

/// Whether `value` is what a typed output field holds when the action did not set it.
fn is_default(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
    }
}

/// How the runs of one workflow ended.
#[derive(Default)]
struct Stats {
    steps: usize,
    completed: usize,
    failed: usize,
    retried: usize,
    /// Seeds whose machine and interpreter runs failed with reasons that
    /// name the same step in different words: the machine's `FailReason`
    /// (`step `X` ran out of iterations`, `the run ended as failed at step
    /// `X``, `step `X` failed`) against the interpreter's `the run failed at
    /// step `X``. Both engines also differ in *which* step they name when a
    /// non-loop step's `max-iterations` is used up with no `on-exhausted`
    /// (the machine names that step, the interpreter the step before it);
    /// no workflow here does that, and [`compare`] would catch it.
    worded: usize,
    /// Runs that paused, per plan of [`PAUSES`].
    paused: [usize; 4],
}

impl Stats {
    fn add(&mut self, run: &Run) {
        self.steps += run.events.len();
        match run.last().status {
            RunStatus::Completed => self.completed += 1,
            RunStatus::Failed => self.failed += 1,
            other => panic!("a run ended {other:?}"),
        }
        self.retried += run.events.iter().filter(|e| e.attempts > 1).count();
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>2} completed, {:>2} failed ({:>2} worded apart), {:>2} steps retried, paused {:?} of {PAUSED_SEEDS} each",
            self.completed, self.failed, self.worded, self.retried, self.paused
        )
    }
}

/// The seeded script of one run: what every action of the workflow does.
struct Script {
    ir: Arc<WorkflowIr>,
    seed: u64,
    /// Where to ask for a pause, from inside the step executed [`Script::pause_at`]th.
    pause: Option<Arc<SqliteStore>>,
    /// Executions per step id (attempts not counted), and in all.
    ran: Mutex<(HashMap<String, u32>, u32)>,
}

impl Script {
    /// The registry: every built-in action name and every other action the workflow uses, all scripted.
    fn actions(self: &Arc<Script>) -> Actions {
        let mut actions = Actions::empty();
        let names = ACTIONS.iter().map(|a| a.name.to_string()).chain(self.ir.steps.iter().map(|s| s.action.clone()));
        for name in names.collect::<BTreeSet<_>>() {
            actions.register(name, Scripted(self.clone()));
        }
        actions
    }

    /// Which step execution asks for a pause: the second, for some seeds the first or third.
    fn pause_at(&self) -> u32 {
        [2, 1, 3][(self.seed % 3) as usize]
    }

    /// What step `ctx.step_id` does this time.
    fn perform(&self, ctx: &StepContext) -> Result<ActionOutput, ActionFailure> {
        let step = self.ir.steps.iter().find(|s| s.id == ctx.step_id).unwrap_or_else(|| panic!("no step `{}`", ctx.step_id));
        let (visit, executions) = {
            let mut ran = self.ran.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (per_step, all) = &mut *ran;
            let visit = per_step.entry(step.id.clone()).or_default();
            if ctx.attempt == 1 {
                *visit += 1;
                *all += 1;
            }
            (*visit, *all)
        };
        if let Some(store) = self.pause.as_ref().filter(|_| executions == self.pause_at() && ctx.attempt == 1) {
            store.request(&ctx.run_id, Control::Pause).expect("the pause request is stored");
        }
        let mut rng = Rng::new(&format!("{}/{}/{visit}/{}", self.ir.name, step.id, ctx.attempt), self.seed);
        // Some seeds never fail a step, others fail often.
        let error_odds = [0, 20, 6, 3][(self.seed % 4) as usize];
        let fails = error_odds > 0 && rng.below(error_odds) == 0;
        let handled = ctx.params.get(EXIT_CODE_HANDLED) == Some(&Value::Bool(true));
        let output = self.outputs(step, visit, handled, &mut rng);
        if fails {
            let message = format!("scripted failure of `{}` (visit {visit}, attempt {})", step.id, ctx.attempt);
            // A failed step may or may not have produced outputs.
            return Err(ActionFailure { message, output: if rng.coin() { output } else { json!({}) } });
        }
        let exit_code = output.get("exit_code").and_then(Value::as_i64).unwrap_or(0);
        if step.action == "shell" && exit_code != 0 && !handled {
            return Err(ActionFailure { message: format!("the command exited with code {exit_code}"), output });
        }
        let assign = match step.writes.map(|i| &self.ir.variables[i]) {
            None => Vec::new(),
            // As the real `set-variable`: the interpolated `value:`.
            Some(_) if step.action == "set-variable" => {
                let name = ctx.text("name").ok_or_else(|| ActionFailure::new("`set-variable` needs `name:`"))?;
                vec![(name.to_string(), ctx.params.get("value").cloned().unwrap_or(Value::Null))]
            }
            // As the real `load-variable`: the text of a file.
            Some(var) if step.action == "load-variable" => {
                let name = ctx.text("name").ok_or_else(|| ActionFailure::new("`load-variable` needs `name:`"))?;
                vec![(name.to_string(), Value::String(text_of(&random_value(var.ty, &mut rng))))]
            }
            // `output:` of a prompt or a question: a value of the variable's type.
            Some(var) => vec![(var.name.clone(), random_value(var.ty, &mut rng))],
        };
        Ok(ActionOutput { output, assign })
    }

    /// Outputs for `step`: every output its IR declares, with a value of its
    /// type; reviews reject the first few times, then approve; for an
    /// `ai-prompt` with `format: json`, the fields the workflow reads go under
    /// `json` (some left out, some of a type the condition does not expect).
    fn outputs(&self, step: &StepIr, visit: u32, exit_code_handled: bool, rng: &mut Rng) -> Value {
        let mut object = Map::new();
        for (field, ty) in &step.outputs {
            let value = match (step.action.as_str(), field.as_str(), ty) {
                ("review-pr" | "self-review", "approved", _) => {
                    let rejections = Rng::new(&format!("{}/{}/rejections", self.ir.name, step.id), self.seed).below(4);
                    json!(u64::from(visit) > rejections)
                }
                // A non-zero exit the workflow does not handle fails the step: rarer, so runs get further.
                (_, "exit_code", _) if exit_code_handled => json!(rng.pick(&[0, 0, 0, 1, 2])),
                (_, "exit_code", _) => json!(rng.pick(&[0, 0, 0, 0, 0, 0, 0, 1, 2])),
                (_, "number", _) => json!(rng.below(6)),
                (_, _, Type::List) => Value::Array((0..rng.below(3)).map(|_| json!(rng.pick(WORDS))).collect()),
                _ => random_value(*ty, rng),
            };
            object.insert(field.clone(), value);
        }
        let read = fields_read(&self.ir, &step.id);
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
        Value::Object(object)
    }
}

/// An action that plays its part of the script.
struct Scripted(Arc<Script>);

impl Action for Scripted {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        let result = self.0.perform(ctx);
        Box::pin(async move { result })
    }
}

/// A value as the text of a file holding it.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
