//! The durable runtime's costs, each against a baseline measured in the same run.
//!
//! * (a) An in-memory loop of a no-op step (`Executor<MemoryStore>`), 10,000
//!   iterations = 20,000 steps, through the IR engine and a generated machine.
//!   Target ≤ 1 µs per step (a run's time / 20,000). Baseline: the same number
//!   of `Interpreter::next` calls alone (the pure transition cost).
//! * (b) A durable step on SQLite (WAL, `synchronous=FULL`, files in the
//!   temporary folder). Target ≤ 1.5× the baseline: a bare rusqlite one-row
//!   `INSERT` commit in the same journal and sync mode. Both WALs are first
//!   grown past SQLite's 1,000-page auto-checkpoint (a growing WAL makes every
//!   fsync dearer), then blocks of bare commits and durable runs alternate.
//!   Also printed: the same with `synchronous=OFF`, to split each figure into
//!   the wait for the disk and the rest.
//! * (c) 1,000 concurrent runs of 100 durable steps over one `SqliteStore`
//!   (group commit), full fsync. Target ≥ 10,000 steps/s. Baseline: one-row
//!   commits done one at a time (as many as fit in 2 s). Also printed: the
//!   commits the writer made and their sizes, read from its `store batch
//!   committed` trace event by a subscriber that listens to nothing else.
//! * (d) Resuming a paused run (SQLite with FULL sync, and in memory). Target
//!   ≤ 1 ms from calling `resume` to the next step's action being invoked.
//!   Baseline: `Store::load_run` alone. Also printed: the whole call, and the
//!   store calls resume makes before the step, each timed alone.
//! * (e) 10,000 runs in flight waiting on a slow action (memory store, and
//!   SQLite). Target ≤ 10 KiB of RSS per run. Baseline: 10,000 bare tokio tasks
//!   waiting on the same kind of `Notify`. Measured in child processes (this
//!   binary, re-run with `RUNTIME_BENCH_RSS` set), so one measurement's freed
//!   memory cannot hide another's growth.
//!
//! * (f)-(h) PostgreSQL (`benches/runtime/postgres.rs`, on the server in
//!   `WORKFLOW_BENCH_POSTGRES`, default the local test server; skipped with
//!   a note when there is none): (f) a durable step against a bare one-row
//!   commit on the same server, timed in turn within one run (target ≤ 1.5x);
//!   (g) steps/s with 1, 4 and 16 concurrent runs against `pgbench -N` with
//!   as many clients (target ≥ 50% of its tps, and ≥ 5,000 steps/s at 16);
//!   (h) bytes per finished run of a one-step workflow, SQLite and PostgreSQL.
//!   `RUNTIME_BENCH_ROOM=postgres` runs these alone.
//!
//! Criterion's groups measure each figure (the heavy ones, (c) and (e), at a
//! smaller scale); the figures against their targets are then printed by
//! timing loops of their own at the full scale (`== runtime figures ==`).
//!
//! Run with `cargo bench -p workflow-runtime --bench runtime`. For a profiler,
//! see [`PROFILE_ENV`] and [`rss_child`].

// The code `workflow!` generates names the runtime as `::workflow::__private`
// (the facade crate, which depends on this one): this alias provides that
// path without a dependency cycle.
extern crate workflow_runtime as workflow;

use criterion::{BatchSize, Criterion, SamplingMode};
use rusqlite::Connection;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;
use workflow_runtime::actions::{Action, ActionFailure, ActionOutput, ActionResult, Actions, StepContext};
use workflow_runtime::engine::{Engine, IrEngine, MachineEngine};
use workflow_runtime::executor::{Executor, ExecutorOptions, ResumeOptions, RunReport, StartOptions};
use workflow_runtime::store::memory::MemoryStore;
use workflow_runtime::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use workflow_runtime::store::{Control, LeaseOwner, LeaseResult, RunStatus, StepStart, Store};
use workflow_runtime::{ActionError, ActionInput, DynState, Interpreter, Machine, Outcome, State, Target, Transition, WorkflowIr};

/// What the no-op step of the generated machine is bound to (the executor runs the registered [`NoOp`] by name).
async fn noop(_: ActionInput) -> Result<Value, ActionError> {
    Ok(json!({}))
}

workflow_macros::workflow! {
    name: "noop-loop",
    variables: { n: 0 },
    steps: [
        work: custom(noop),
        again: loop { to: work, condition: "iteration < n", max_iterations: 1000000000 },
    ],
}

/// The same workflow in YAML, for the IR engine: `work` then `again`, jumping back `n` times.
const NOOP_LOOP: &str = r#"
name: noop-loop
variables:
  n: 0
steps:
  - id: work
    action: noop
  - id: again
    action: loop
    to: work
    condition: "iteration < n"
    max-iterations: 1000000000
"#;

/// Iterations of the loop in figure (a): 20,000 steps.
const ITERATIONS: u64 = 10_000;

// ---------------------------------------------------------------------------
// Workflows, actions, executors

fn compile(yaml: &str, custom: &[&str]) -> Arc<WorkflowIr> {
    let options = ReadOptions { custom_actions: custom.iter().map(|c| c.to_string()).collect() };
    let compiled = compile_sources(&[Source::new("bench.yaml", yaml)], &options).unwrap_or_else(|d| panic!("{}", d.render()));
    Arc::new(compiled.into_iter().next().expect("one workflow").ir)
}

/// An engine over the loop whose run has exactly `steps` steps (rounded up to an even number, at least 2).
fn loop_engine(mut engine: Box<dyn Engine>, steps: u64) -> (Box<dyn Engine>, u64) {
    let iterations = steps.div_ceil(2).max(1);
    engine.assign("n", json!(iterations - 1)).expect("`n` is an int variable");
    (engine, iterations * 2)
}

fn ir_loop(ir: &Arc<WorkflowIr>, steps: u64) -> (Box<dyn Engine>, u64) {
    loop_engine(Box::new(IrEngine::new(ir.clone())), steps)
}

fn machine_loop(steps: u64) -> (Box<dyn Engine>, u64) {
    loop_engine(Box::new(MachineEngine::<noop_loop::Machine>::new()), steps)
}

/// A step that does nothing and succeeds.
struct NoOp;

impl Action for NoOp {
    fn run<'a>(&'a self, _: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async { Ok(ActionOutput::new(Value::Object(Map::new()))) })
    }
}

fn empty() -> ActionOutput {
    ActionOutput::new(Value::Object(Map::new()))
}

fn options() -> ExecutorOptions {
    ExecutorOptions {
        cwd: std::env::temp_dir(),
        operator: "bench".to_string(),
        consent: workflow_runtime::permissions::Consent::granted(),
        ..ExecutorOptions::default()
    }
}

fn actions() -> Actions {
    let mut actions = Actions::builtin();
    actions.register("noop", NoOp);
    actions
}

fn memory_executor(actions: Actions) -> Executor<MemoryStore> {
    Executor::new(Arc::new(MemoryStore::new()), actions, options())
}

fn sqlite_store(path: &Path) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(path, SqliteOptions { synchronous: Synchronous::Full, ..SqliteOptions::default() }).expect("the store opens"))
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime")
}

/// Runs one engine to its end and checks it ran `steps` steps.
async fn run_to_end<S: Store>(ex: &Executor<S>, engine: Box<dyn Engine>, steps: u64) -> RunReport {
    let report = ex.start(engine, StartOptions::default()).await.expect("the run starts");
    assert_eq!(report.status, RunStatus::Completed, "{:?}", report.reason);
    assert_eq!(report.trace.len() as u64, steps);
    report
}

/// The time of one run of `steps` steps through a fresh in-memory executor (the store is dropped untimed).
fn memory_run(rt: &Runtime, actions: &Actions, engine: (Box<dyn Engine>, u64)) -> Duration {
    let ex = memory_executor(actions.clone());
    let (engine, steps) = engine;
    let start = Instant::now();
    rt.block_on(run_to_end(&ex, engine, steps));
    let took = start.elapsed();
    drop(ex);
    took
}

/// `calls` calls of `Interpreter::next` following the loop (it never ends: `n` is larger).
#[inline(never)]
fn interpreter_calls(ir: &WorkflowIr, calls: u64) -> Duration {
    let run = Interpreter::new(ir);
    let mut state = DynState::new(ir);
    state.variables[0] = json!(calls + 1);
    let mut at = run.start(&mut state);
    let start = Instant::now();
    for _ in 0..calls {
        let Target::Step(step) = at else { panic!("the loop ended early: {at:?}") };
        at = run.next(criterion::black_box(&mut state), step, Outcome::Success);
    }
    let took = start.elapsed();
    criterion::black_box(at);
    took
}

/// The same for the generated machine's `next`.
#[inline(never)]
fn machine_calls(calls: u64) -> Duration {
    let mut state = State::<noop_loop::Machine>::new();
    state.variables.n = i64::try_from(calls + 1).unwrap_or(i64::MAX);
    let mut at = noop_loop::Machine::begin(&mut state);
    let start = Instant::now();
    for _ in 0..calls {
        let Transition::Goto(step) = at else { panic!("the loop ended early") };
        at = noop_loop::Machine::next(criterion::black_box(&mut state), step, Outcome::Success);
    }
    let took = start.elapsed();
    criterion::black_box(at);
    took
}

// ---------------------------------------------------------------------------
// Bare SQLite (the baselines of (b) and (c))

/// A rusqlite connection to file `name` in `dir`, in WAL mode and the given `synchronous` mode, with a one-row table.
fn bare_sqlite(dir: &Path, name: &str, synchronous: &str) -> Connection {
    let conn = Connection::open(dir.join(name)).expect("bare sqlite opens");
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).expect("WAL");
    assert!(mode.eq_ignore_ascii_case("wal"));
    conn.pragma_update(None, "synchronous", synchronous).expect("synchronous");
    conn.execute_batch("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, run TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL)").expect("table");
    conn
}

/// One transaction inserting one row.
fn commit_one(conn: &Connection, i: u64) {
    conn.prepare_cached("INSERT INTO t (run, seq, at) VALUES (?1, ?2, ?3)")
        .and_then(|mut insert| insert.execute(rusqlite::params!["0190a5c4-7f1e-7000-8000-000000000000", i, i]))
        .expect("insert");
}

/// Grows the connection's WAL past the 1,000-page auto-checkpoint (one large transaction, then dropped), so later commits reuse the file.
fn prefill_wal(conn: &Connection) {
    conn.execute_batch(
        "CREATE TABLE scratch (b BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1100) INSERT INTO scratch SELECT zeroblob(4000) FROM n;
         DROP TABLE scratch;",
    )
    .expect("prefill");
    commit_one(conn, 0);
}

/// Pages in the WAL file of the database at `db` (4 KiB each).
fn wal_pages(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map_or(0, |m| m.len() / 4096)
}

/// Commits one row at a time for up to `limit` commits or `budget`, whichever comes first; returns (commits, time).
fn commits_for(conn: &Connection, limit: u64, budget: Duration) -> (u64, Duration) {
    let start = Instant::now();
    let mut done = 0;
    while done < limit && (done % 16 != 0 || start.elapsed() < budget) {
        commit_one(conn, done);
        done += 1;
    }
    (done, start.elapsed())
}

// ---------------------------------------------------------------------------
// (c) Concurrent durable runs

/// Starts `runs` runs of `steps` steps at once over one executor and waits for all; returns the wall time.
fn concurrent_runs<S: Store>(rt: &Runtime, ex: &Arc<Executor<S>>, ir: &Arc<WorkflowIr>, runs: usize, steps: u64) -> Duration {
    let engines: Vec<_> = (0..runs).map(|_| ir_loop(ir, steps)).collect();
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = engines
            .into_iter()
            .map(|(engine, steps)| {
                let ex = ex.clone();
                tokio::spawn(async move { run_to_end(&ex, engine, steps).await })
            })
            .collect();
        for task in tasks {
            task.await.expect("the run's task finishes");
        }
        start.elapsed()
    })
}

// The bench is its own crate root: its modules live in benches/runtime/.
#[path = "runtime/batches.rs"]
mod batches;
#[path = "runtime/postgres.rs"]
mod postgres;
#[path = "runtime/resume.rs"]
mod resume;
#[path = "runtime/waiting.rs"]
mod waiting;

use postgres::postgres_figures;
use resume::*;
use waiting::*;

// ---------------------------------------------------------------------------
// Criterion groups (one per figure; (c) and (e) at a smaller scale)

fn criterion_benches(c: &mut Criterion, rt: &Runtime) {
    let acts = actions();
    let ir = compile(NOOP_LOOP, &["noop"]);

    // (a) Runs of the figure's shape (20,000 steps), reported per step: criterion's iteration is one whole run, divided by its steps.
    let steps = ITERATIONS * 2;
    let mut group = c.benchmark_group("a_memory_loop_per_step");
    group.sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(300)).sample_size(10);
    group.bench_function("ir_engine", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| memory_run(rt, &acts, ir_loop(&ir, steps))).sum::<Duration>() / steps as u32)
    });
    group.bench_function("machine_engine", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| memory_run(rt, &acts, machine_loop(steps))).sum::<Duration>() / steps as u32)
    });
    group.bench_function("baseline_interpreter_next", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| interpreter_calls(&ir, steps)).sum::<Duration>() / steps as u32)
    });
    group.finish();

    // (b) A durable step (one commit) vs a bare one-row commit.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut group = c.benchmark_group("b_sqlite_per_step");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500)).sample_size(10);
    let ex = Executor::new(sqlite_store(&dir.path().join("runs.db")), acts.clone(), options());
    group.bench_function("durable_step", |b| {
        b.iter_custom(|iters| {
            let (engine, steps) = ir_loop(&ir, iters);
            let start = Instant::now();
            rt.block_on(run_to_end(&ex, engine, steps));
            start.elapsed().mul_f64(iters as f64 / steps as f64)
        })
    });
    let conn = bare_sqlite(dir.path(), "bare.db", "FULL");
    let mut i = 0;
    group.bench_function("baseline_one_row_commit", |b| {
        b.iter(|| {
            i += 1;
            commit_one(&conn, i)
        })
    });
    group.finish();
    drop((ex, conn));

    // (c) At a tenth of the scale in each direction: 100 concurrent runs of 10 steps.
    let mut group = c.benchmark_group("c_concurrent_runs");
    group.sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(200)).sample_size(10);
    let ex = Arc::new(Executor::new(sqlite_store(&dir.path().join("concurrent.db")), acts.clone(), options()));
    group.bench_function("100_runs_x_10_steps", |b| b.iter(|| concurrent_runs(rt, &ex, &ir, 100, 10)));
    group.finish();
    drop(ex);

    // (d) The whole resume call (restore, run the last step, finish), against `load_run`.
    let pr = compile(PAUSE_RESUME, &["pause-self", "mark"]);
    let mut group = c.benchmark_group("d_resume");
    group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(300)).sample_size(10);
    let (ex, marked) = resume_executor(sqlite_store(&dir.path().join("resume.db")));
    let ex = Arc::new(ex);
    group.bench_function("sqlite_resume_call", |b| {
        b.iter_batched(|| paused_runs(rt, &ex, &pr, 1).remove(0), |run| timed_resume(rt, &ex, &marked, &pr, &run), BatchSize::PerIteration)
    });
    let paused = paused_runs(rt, &ex, &pr, 1).remove(0);
    group.bench_function("baseline_sqlite_load_run", |b| b.iter(|| ex.store().load_run(&paused).expect("load_run")));
    group.finish();
    drop(ex);

    // (e) At a tenth of the scale: 1,000 runs started until all wait, then released (time, not memory).
    let mut group = c.benchmark_group("e_waiting_runs");
    group.sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(200)).sample_size(10);
    group.bench_function("1000_runs_wait_and_release", |b| b.iter(|| rt.block_on(waiting_runs(Arc::new(MemoryStore::new()), 1000, || {}))));
    group.bench_function("baseline_1000_bare_tasks", |b| b.iter(|| rt.block_on(waiting_tasks(1000, || {}))));
    group.finish();
}

// ---------------------------------------------------------------------------
// The figures at full scale, against their targets

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "OVER TARGET"
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn summary(rt: &Runtime) {
    let acts = actions();
    let ir = compile(NOOP_LOOP, &["noop"]);
    let steps = ITERATIONS * 2;
    println!();
    println!("== runtime figures ==");

    // (a)
    let ir_runs: Vec<Duration> = (0..11).map(|_| memory_run(rt, &acts, ir_loop(&ir, steps))).collect();
    let machine_runs: Vec<Duration> = (0..11).map(|_| memory_run(rt, &acts, machine_loop(steps))).collect();
    let baseline = median((0..11).map(|_| interpreter_calls(&ir, steps)).collect());
    let generated = median((0..11).map(|_| machine_calls(steps)).collect());
    let per_call = baseline.as_secs_f64() * 1e9 / steps as f64;
    println!(
        "(a) in-memory loop, {ITERATIONS} iterations = {steps} steps (Executor<MemoryStore>, median of 11 runs); baseline {steps} calls of Interpreter::next: {per_call:.1} ns/call"
    );
    for (name, runs) in [("IR engine", ir_runs), ("machine engine", machine_runs)] {
        let fastest = *runs.iter().min().expect("runs");
        let run = median(runs);
        let per_step = us(run) / steps as f64;
        println!(
            "    {name:>14}: {per_step:.3} us/step (run {:.1} ms, fastest {:.3} us/step), ratio {:.0}x the baseline, target <= 1 us/step [{}]",
            run.as_secs_f64() * 1e3,
            us(fastest) / steps as f64,
            per_step * 1e3 / per_call,
            verdict(per_step <= 1.0),
        );
    }
    println!("    (generated Machine::next alone: {:.1} ns/call)", generated.as_secs_f64() * 1e9 / steps as f64);
    // How the cost per step grows with the run's length (flat if each step costs the same).
    let growth: Vec<String> = [(200, 51), (2_000, 11), (20_000, 5)]
        .iter()
        .map(|&(n, times)| format!("{n} steps {:.3}", us(median((0..times).map(|_| memory_run(rt, &acts, ir_loop(&ir, n))).collect())) / n as f64))
        .collect();
    println!("    IR engine, us/step by run length (median): {}", growth.join(", "));

    // (b) Both WALs are first grown past SQLite's 1,000-page auto-checkpoint, so no commit below pays for growing
    // the WAL file; then blocks of bare commits and durable runs alternate, so both see the same disk.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let conn = bare_sqlite(dir.path(), "bare.db", "FULL");
    prefill_wal(&conn);
    let ex = Executor::new(sqlite_store(&dir.path().join("runs.db")), acts.clone(), options());
    for _ in 0..20 {
        if wal_pages(&dir.path().join("runs.db")) > 1_000 {
            break;
        }
        rt.block_on(run_to_end(&ex, ir_loop(&ir, 200).0, 200));
    }
    let (rounds, block) = (8, 126);
    let (mut commit_time, mut step_time) = (Duration::ZERO, Duration::ZERO);
    for round in 0..rounds {
        let bare = || commits_for(&conn, block, Duration::from_secs(30)).1;
        let durable = || {
            let start = Instant::now();
            rt.block_on(run_to_end(&ex, ir_loop(&ir, block).0, block));
            start.elapsed()
        };
        if round % 2 == 0 {
            commit_time += bare();
            step_time += durable();
        } else {
            step_time += durable();
            commit_time += bare();
        }
    }
    let per_commit = us(commit_time) / (rounds * block) as f64;
    let per_step = us(step_time) / (rounds * block) as f64;
    println!(
        "(b) durable step, SQLite WAL synchronous=FULL, files in {}: {per_step:.0} us/step ({rounds} runs of {block} no-op steps, each run's create and finish included); \
         baseline one-row INSERT commit: {per_commit:.0} us/commit ({} commits, in blocks alternating with the runs); ratio {:.2}x, target <= 1.5x [{}]",
        std::env::temp_dir().display(),
        rounds * block,
        per_step / per_commit,
        verdict(per_step / per_commit <= 1.5),
    );
    drop((ex, conn));
    // The same without fsync: what is left is CPU and write calls, so the difference to the above is the wait for the disk.
    let conn = bare_sqlite(dir.path(), "bare-off.db", "OFF");
    let off_store = SqliteStore::open(dir.path().join("runs-off.db"), SqliteOptions { synchronous: Synchronous::Off, ..SqliteOptions::default() });
    let ex = Executor::new(Arc::new(off_store.expect("the store opens")), acts.clone(), options());
    commits_for(&conn, 200, Duration::from_secs(5));
    rt.block_on(run_to_end(&ex, ir_loop(&ir, 200).0, 200));
    let (commits, took) = commits_for(&conn, 2_000, Duration::from_secs(5));
    let start = Instant::now();
    rt.block_on(run_to_end(&ex, ir_loop(&ir, 2_000).0, 2_000));
    let off_step = us(start.elapsed()) / 2_000.0;
    let off_commit = us(took) / commits as f64;
    println!(
        "    the same with synchronous=OFF (no fsync): {off_step:.1} us/step, bare commit {off_commit:.1} us/commit; so of the FULL figures, {:.0} us/step and {:.0} us/commit are the wait for the disk",
        per_step - off_step,
        per_commit - off_commit,
    );
    drop((ex, conn));

    // (c)
    let (runs, run_steps) = (1_000, 100);
    let ex = Arc::new(Executor::new(sqlite_store(&dir.path().join("concurrent.db")), acts.clone(), options()));
    concurrent_runs(rt, &ex, &ir, 50, 10);
    batches::start();
    let wall = concurrent_runs(rt, &ex, &ir, runs, run_steps);
    let seen = batches::stop();
    let total_steps = runs as f64 * run_steps as f64;
    let steps_per_s = total_steps / wall.as_secs_f64();
    let conn = bare_sqlite(dir.path(), "bare.db", "FULL");
    let (commits, took) = commits_for(&conn, (runs as u64) * run_steps, Duration::from_secs(2));
    let commits_per_s = commits as f64 / took.as_secs_f64();
    println!(
        "(c) {runs} concurrent runs x {run_steps} durable steps (one SqliteStore, FULL): {total_steps:.0} steps in {:.2} s = {steps_per_s:.0} steps/s, target >= 10,000 steps/s [{}]; \
         baseline one-row commits one at a time: {commits_per_s:.0} commits/s ({commits} commits in {:.2} s); ratio {:.1}x",
        wall.as_secs_f64(),
        verdict(steps_per_s >= 10_000.0),
        took.as_secs_f64(),
        steps_per_s / commits_per_s,
    );
    if !seen.is_empty() {
        let writes: u64 = seen.iter().map(|(_, n)| n).sum();
        let span = seen.last().expect("batches").0 - seen[0].0;
        println!(
            "    group commit: {} commits carried {writes} writes (steps, creates, status changes): mean {:.0} writes/commit, one commit every {:.2} ms",
            seen.len(),
            writes as f64 / seen.len() as f64,
            span.as_secs_f64() * 1e3 / (seen.len().max(2) - 1) as f64,
        );
        // Commits by size, each with the time since the previous commit (the writer's work on it, plus any wait for writes to arrive).
        let mut rows = Vec::new();
        for (low, high) in [(1, 1), (2, 9), (10, 99), (100, 499), (500, 1024)] {
            let (mut count, mut carried, mut time) = (0, 0, Duration::ZERO);
            for pair in seen.windows(2) {
                let n = pair[1].1;
                if (low..=high).contains(&n) {
                    count += 1;
                    carried += n;
                    time += pair[1].0 - pair[0].0;
                }
            }
            if count > 0 {
                rows.push(format!(
                    "{low}-{high} writes: {count} commits, {carried} writes, {:.2} ms after the previous commit = {:.1} us/write",
                    time.as_secs_f64() * 1e3 / count as f64,
                    us(time) / carried as f64
                ));
            }
        }
        println!("    commits by size: {}", rows.join("; "));
    }
    drop((ex, conn));

    // (d)
    let pr = compile(PAUSE_RESUME, &["pause-self", "mark"]);
    for kind in ["sqlite", "memory"] {
        let (to_step, whole, load, parts) = match kind {
            "sqlite" => resume_figures(rt, resume_executor(sqlite_store(&dir.path().join("resume.db"))), &pr, 100),
            _ => resume_figures(rt, resume_executor(Arc::new(MemoryStore::new())), &pr, 100),
        };
        println!(
            "(d) resume a paused run ({kind}, median of 100): call -> next step's action invoked {:.0} us, target <= 1 ms [{}]; whole call (also runs the step and finishes the run) {:.0} us; \
             baseline load_run {:.1} us; ratio {:.1}x (to the step), {:.1}x (whole)",
            us(to_step),
            verdict(to_step <= Duration::from_millis(1)),
            us(whole),
            us(load),
            us(to_step) / us(load),
            us(whole) / us(load),
        );
        println!("    the store calls before the step, each timed alone on the other paused run of each pair: {parts}");
    }

    // (e)
    let (bare, bare_before, bare_during) = rss_in_child("bare");
    for kind in ["memory", "sqlite"] {
        let (per_run, before, during) = rss_in_child(kind);
        println!(
            "(e) {WAITING} runs waiting on a slow action ({kind} store): RSS {before} kB -> {during} kB = {:.2} KiB/run, target <= 10 KiB [{}]; \
             baseline {WAITING} bare tokio tasks waiting on a Notify: {bare_before} kB -> {bare_during} kB = {:.2} KiB/task; ratio {:.1}x",
            per_run / 1024.0,
            verdict(per_run <= 10.0 * 1024.0),
            bare / 1024.0,
            per_run / bare.max(1.0),
        );
    }
    let slow = compile(SLOW, &["slow"]);
    let memory = memory_executor(acts.clone());
    let durable = Executor::new(sqlite_store(&dir.path().join("sizes.db")), acts, options());
    let engine = || Box::new(IrEngine::new(slow.clone()));
    println!(
        "    size of the future each run's task holds: Executor::start {} bytes (MemoryStore), {} bytes (SqliteStore); Executor::resume {} / {} bytes",
        std::mem::size_of_val(&memory.start(engine(), StartOptions::default())),
        std::mem::size_of_val(&durable.start(engine(), StartOptions::default())),
        std::mem::size_of_val(&memory.resume("-", engine(), ResumeOptions::default())),
        std::mem::size_of_val(&durable.resume("-", engine(), ResumeOptions::default())),
    );

    // (f), (g), (h)
    postgres_figures(rt);
}

/// Medians of: resume → next step invoked, the whole resume call, `load_run` alone; and the store calls resume makes
/// before the step runs, each timed alone. Resumes and the timing of the parts alternate run by run, so they see the same disk.
fn resume_figures<S: Store>(
    rt: &Runtime,
    (ex, marked): (Executor<S>, Arc<Mutex<Option<Instant>>>),
    ir: &Arc<WorkflowIr>,
    count: usize,
) -> (Duration, Duration, Duration, String) {
    let ex = Arc::new(ex);
    for run in paused_runs(rt, &ex, ir, 10) {
        timed_resume(rt, &ex, &marked, ir, &run);
    }
    let runs = paused_runs(rt, &ex, ir, count * 2);
    let owner = LeaseOwner { id: "bench-owner".to_string(), pid: std::process::id(), host: "bench-host".to_string() };
    let (mut to_step, mut whole, mut load, mut lease, mut start) = (vec![], vec![], vec![], vec![], vec![]);
    let mut open = false;
    for pair in runs.chunks(2) {
        let (resumed, taken_apart) = (&pair[0], &pair[1]);
        let (step, call) = timed_resume(rt, &ex, &marked, ir, resumed);
        to_step.push(step);
        whole.push(call);
        let began = Instant::now();
        let record = ex.store().load_run(taken_apart).expect("load_run").expect("the run");
        load.push(began.elapsed());
        open |= record.open.is_some();
        let began = Instant::now();
        let LeaseResult::Acquired(fence) = ex.store().acquire_lease(taken_apart, &owner, 30_000).expect("lease") else {
            panic!("a paused run's lease was refused")
        };
        lease.push(began.elapsed());
        let next = StepStart { seq: record.next_seq, step: 1, step_id: "second".to_string() };
        let began = Instant::now();
        rt.block_on(ex.store().start_step(taken_apart, &fence, next)).expect("start_step");
        start.push(began.elapsed());
    }
    let open = if open { "a paused run had a started step" } else { "paused runs have no started step" };
    let load = median(load);
    let parts = format!("load_run {:.1} us, acquire_lease {:.1} us, start_step {:.1} us ({open})", us(load), us(median(lease)), us(median(start)));
    (median(to_step), median(whole), load, parts)
}

/// Whether this is `cargo bench` (not `cargo test --benches`, `--test`, `--list` or `--profile-time`).
fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list" || a.starts_with("--profile-time"))
}

/// Checks, before measuring, that both engines run the loop to its end and the machine agrees with the interpreter.
fn check(rt: &Runtime) {
    let acts = actions();
    let ir = compile(NOOP_LOOP, &["noop"]);
    let ex = memory_executor(acts);
    let by_ir = rt.block_on(run_to_end(&ex, ir_loop(&ir, 6).0, 6));
    let by_machine = rt.block_on(run_to_end(&ex, machine_loop(6).0, 6));
    assert_eq!(by_ir.trace, ["work", "again", "work", "again", "work", "again"]);
    assert_eq!(by_ir.trace, by_machine.trace);
}

/// `RUNTIME_BENCH_PROFILE=ir:STEPS` (or `machine:STEPS`): in-memory runs of STEPS steps, over and over for 10 s, for a profiler
/// (`perf record -g target/release/deps/runtime-*` with the variable set). `sqlite-off:STEPS` runs them on a SQLite store
/// with `synchronous=OFF` instead (the store's cost without the wait for the disk).
const PROFILE_ENV: &str = "RUNTIME_BENCH_PROFILE";

fn profile(spec: &str) {
    let (engine, steps) = spec.split_once(':').unwrap_or((spec, "20000"));
    let steps: u64 = steps.parse().expect("RUNTIME_BENCH_PROFILE=ir:STEPS, machine:STEPS or sqlite-off:STEPS");
    let (rt, acts, ir) = (runtime(), actions(), compile(NOOP_LOOP, &["noop"]));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let off = SqliteStore::open(dir.path().join("runs.db"), SqliteOptions { synchronous: Synchronous::Off, ..SqliteOptions::default() });
    let durable = Executor::new(Arc::new(off.expect("the store opens")), acts.clone(), options());
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut runs, mut took) = (0u32, Duration::ZERO);
    while Instant::now() < deadline {
        took += match engine {
            "machine" => memory_run(&rt, &acts, machine_loop(steps)),
            "sqlite-off" => {
                let (engine, steps) = ir_loop(&ir, steps);
                let start = Instant::now();
                rt.block_on(run_to_end(&durable, engine, steps));
                start.elapsed()
            }
            _ => memory_run(&rt, &acts, ir_loop(&ir, steps)),
        };
        runs += 1;
    }
    println!("{runs} runs of {steps} steps: {:.3} us/step", us(took / runs) / steps as f64);
}

fn main() {
    if let Ok(spec) = std::env::var(PROFILE_ENV) {
        profile(&spec);
        return;
    }
    if let Ok(which) = std::env::var(RSS_ENV) {
        rss_child(&which);
        return;
    }
    batches::install();
    // `RUNTIME_BENCH_ROOM=postgres`: only the PostgreSQL figures (f)-(h), without criterion's groups.
    if std::env::var("RUNTIME_BENCH_ROOM").is_ok_and(|room| room == "postgres") {
        println!("== runtime figures (PostgreSQL room) ==");
        postgres_figures(&runtime());
        return;
    }
    let rt = runtime();
    check(&rt);
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c, &rt);
    c.final_summary();
    if benchmarking() {
        summary(&rt);
    }
}
