//! The executor against real parts: a SQLite store in a temporary folder,
//! real `sh` processes, real files.

use std::path::Path;
use std::sync::Arc;
use workflow_core::ir::WorkflowIr;
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;
use workflow_runtime::actions::Actions;
use workflow_runtime::engine::{Engine, IrEngine};
use workflow_runtime::executor::{Executor, ExecutorOptions, Interrupted, ResumeOptions, RunError, StartOptions};
use workflow_runtime::store::sqlite::{SqliteOptions, SqliteStore};
use workflow_runtime::store::{Control, RunStatus, StepOutcome, Store};

fn ir(yaml: &str) -> Arc<WorkflowIr> {
    let compiled = compile_sources(&[Source::new("test.yaml", yaml)], &ReadOptions::default()).unwrap_or_else(|d| panic!("{}", d.render()));
    Arc::new(compiled.into_iter().next().unwrap().ir)
}

fn executor(dir: &Path) -> Executor<SqliteStore> {
    let store = SqliteStore::open(dir.join("runs.db"), SqliteOptions::default()).unwrap();
    Executor::new(
        Arc::new(store),
        Actions::builtin(),
        ExecutorOptions {
            cwd: dir.to_path_buf(),
            lease_ms: 30_000,
            operator: "test".into(),
            consent: workflow_runtime::permissions::Consent::granted(),
            ..ExecutorOptions::default()
        },
    )
}

fn engine(ir: &Arc<WorkflowIr>) -> Box<dyn Engine> {
    Box::new(IrEngine::new(ir.clone()))
}

#[tokio::test]
async fn a_run_completes_and_every_step_is_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(r#"
name: counter
variables:
  i: 0
steps:
  - id: bump
    action: shell
    command: "echo $((i + 1)) > counter.txt"
  - id: load
    action: load-variable
    name: i
    from: counter.txt
  - id: again
    action: loop
    to: bump
    condition: "i < 3"
    max-iterations: 5
"#);
    let ex = executor(dir.path());
    let report = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    assert_eq!(report.trace.len(), 9);
    let record = ex.store().load_run(&report.run_id).unwrap().unwrap();
    assert_eq!(record.state["variables"]["i"], serde_json::json!(3), "the file's text was read as an int");
    let events = ex.store().events(&report.run_id).unwrap();
    assert_eq!(events.len(), 9);
    assert!(events.iter().all(|e| e.outcome == Some(StepOutcome::Completed)));
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>());
}

#[tokio::test]
async fn interpolated_values_never_run_as_shell_code() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(r#"
name: hostile
variables:
  title: "x"
steps:
  - id: say
    action: shell
    command: "printf '%s|' ${title} \"${title}\" 'x${title}x'; echo done"
"#);
    for hostile in ["$(touch pwned)", "`touch pwned`", "'; touch pwned; '", "\"; touch pwned; \"", "a b * ?"] {
        let ex = executor(dir.path());
        let mut e = IrEngine::new(w.clone());
        e.assign("title", serde_json::json!(hostile)).unwrap();
        let report = ex.start(Box::new(e), StartOptions::default()).await.unwrap();
        assert_eq!(report.status, RunStatus::Completed);
        let events = ex.store().events(&report.run_id).unwrap();
        assert_eq!(events[0].output["stdout"], serde_json::json!(format!("{hostile}|{hostile}|x{hostile}x|done\n")), "value passed as one word, as written");
        assert!(!dir.path().join("pwned").exists(), "{hostile} ran as code");
    }
}

#[tokio::test]
async fn a_failing_step_is_retried_with_backoff_then_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(r#"
name: flaky
steps:
  - id: flaky
    action: shell
    command: "n=$(cat n 2>/dev/null || echo 0); n=$((n + 1)); echo $n > n; [ $n -ge 3 ]"
    retry: { attempts: 3, backoff: 20ms }
"#);
    let ex = executor(dir.path());
    let started = std::time::Instant::now();
    let report = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    let events = ex.store().events(&report.run_id).unwrap();
    assert_eq!(events[0].attempts, 3);
    // Backoff 20 ms then 40 ms, each times a jitter factor of at least 0.5.
    assert!(started.elapsed().as_millis() >= 30, "retries waited");
}

#[tokio::test]
async fn a_step_over_its_timeout_fails_and_the_process_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(r#"
name: slow
steps:
  - id: slow
    action: shell
    command: "sleep 5; touch finished"
    timeout: 200ms
"#);
    let ex = executor(dir.path());
    let started = std::time::Instant::now();
    let report = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    assert!(started.elapsed().as_secs() < 4, "did not wait for the command");
    let events = ex.store().events(&report.run_id).unwrap();
    assert!(events[0].error.as_deref().unwrap().contains("timed out after 200ms"), "{:?}", events[0].error);
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await;
    assert!(!dir.path().join("finished").exists(), "the command was killed");
}

#[tokio::test]
async fn a_non_zero_exit_fails_the_step_unless_the_workflow_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let checked = ir(r#"
name: checked
steps:
  - id: test
    action: shell
    command: "exit 3"
    check: "exit_code == 0"
    on-true: done
  - id: fix
    action: shell
    command: "echo fixing"
  - id: done
    action: end
"#);
    let ex = executor(dir.path());
    let report = ex.start(engine(&checked), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed);
    assert_eq!(report.trace, ["test", "fix", "done"]);

    let unchecked = ir("name: unchecked\nsteps:\n  - id: test\n    action: shell\n    command: \"echo oops >&2; exit 3\"\n");
    let report = ex.start(engine(&unchecked), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    let events = ex.store().events(&report.run_id).unwrap();
    assert_eq!(events[0].error.as_deref(), Some("the command exited with code 3: oops"));
    assert_eq!(events[0].output["exit_code"], serde_json::json!(3), "outputs are kept on failure");
}

const THREE_STEPS: &str = r#"
name: three
steps:
  - id: one
    action: shell
    command: "echo one >> log"
  - id: two
    action: shell
    command: "echo two >> log"
  - id: three
    action: shell
    command: "echo three >> log"
"#;

#[tokio::test]
async fn a_pause_requested_between_steps_stops_the_run_and_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(&THREE_STEPS.replace("echo one >> log", "echo one >> log; sleep 0.3"));
    let ex = Arc::new(executor(dir.path()));
    let running = {
        let (ex, w) = (ex.clone(), w.clone());
        tokio::spawn(async move { ex.start(engine(&w), StartOptions::default()).await })
    };
    // Another process (here: another connection to the same file) asks for a pause while `one` runs.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let other = SqliteStore::open(dir.path().join("runs.db"), SqliteOptions::default()).unwrap();
    let run_id = other.list_runs(&Default::default()).unwrap()[0].id.clone();
    other.request(&run_id, Control::Pause).unwrap();
    let report = running.await.unwrap().unwrap();
    assert_eq!(report.status, RunStatus::Paused);
    assert_eq!(report.trace, ["one"]);
    assert_eq!(std::fs::read_to_string(dir.path().join("log")).unwrap(), "one\n");

    let report = ex.resume(&run_id, engine(&w), ResumeOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    assert_eq!(report.trace, ["two", "three"]);
    assert_eq!(std::fs::read_to_string(dir.path().join("log")).unwrap(), "one\ntwo\nthree\n", "nothing ran twice");
}

#[tokio::test]
async fn resuming_under_a_changed_definition_is_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(THREE_STEPS);
    let ex = executor(dir.path());
    let failing = ir(&THREE_STEPS.replace("echo two >> log", "exit 1"));
    let report = ex.start(engine(&failing), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    match ex.resume(&report.run_id, engine(&w), ResumeOptions::default()).await {
        Err(RunError::DefinitionChanged { workflow, .. }) => assert_eq!(workflow, "three"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let resumed = ex.resume(&report.run_id, engine(&w), ResumeOptions { force: true, ..ResumeOptions::default() }).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    assert_eq!(resumed.trace, ["two", "three"], "the failed step runs again under the new definition");
}

fn executor_with_lease(dir: &Path, lease_ms: u64) -> Executor<SqliteStore> {
    let store = SqliteStore::open(dir.join("runs.db"), SqliteOptions::default()).unwrap();
    Executor::new(
        Arc::new(store),
        Actions::builtin(),
        ExecutorOptions {
            cwd: dir.to_path_buf(),
            lease_ms,
            operator: "test".into(),
            consent: workflow_runtime::permissions::Consent::granted(),
            ..ExecutorOptions::default()
        },
    )
}

/// Starts THREE_STEPS (with `two` hanging) under a short lease, and abandons
/// it while `two` runs, as a crashed process would. Returns the run id.
async fn interrupted_in_two(dir: &Path, yaml: &str) -> String {
    let first = Arc::new(executor_with_lease(dir, 300));
    let w = ir(yaml);
    let task = {
        let first = first.clone();
        tokio::spawn(async move { first.start(engine(&w), StartOptions::default()).await })
    };
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if std::fs::read_to_string(dir.join("log")).unwrap_or_default() == "one\ntwo\n" {
            break;
        }
    }
    task.abort();
    let _ = task.await;
    let run_id = first.store().list_runs(&Default::default()).unwrap()[0].id.clone();
    let run = first.store().load_run(&run_id).unwrap().unwrap();
    assert_eq!(run.open.as_ref().map(|o| o.step_id.as_str()), Some("two"), "`two` was left started");
    // Let the abandoned lease expire.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    run_id
}

#[tokio::test]
async fn an_interrupted_step_runs_again_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = THREE_STEPS.replace("echo two >> log", "echo two >> log; [ -f resumed ] || sleep 30");
    let run_id = interrupted_in_two(dir.path(), &yaml).await;
    std::fs::write(dir.path().join("resumed"), "").unwrap();
    let report = executor(dir.path()).resume(&run_id, engine(&ir(&yaml)), ResumeOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    assert_eq!(report.trace, ["two", "three"]);
    // At-least-once: `two` started twice, and its completion is recorded once.
    assert_eq!(std::fs::read_to_string(dir.path().join("log")).unwrap(), "one\ntwo\ntwo\nthree\n");
    let events = executor(dir.path()).store().events(&run_id).unwrap();
    let twos: Vec<_> = events.iter().filter(|e| e.step_id == "two").collect();
    assert_eq!(twos.len(), 1, "one execution of `two`, re-run under the same record");
    assert_eq!(twos[0].outcome, Some(StepOutcome::Completed));
}

#[tokio::test]
async fn an_interrupted_non_idempotent_step_waits_for_a_decision() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = THREE_STEPS.replace("echo two >> log", "echo two >> log; [ -f resumed ] || sleep 30").replace(
        "    command: \"echo two >> log; [ -f resumed ] || sleep 30\"",
        "    command: \"echo two >> log; [ -f resumed ] || sleep 30\"\n    idempotent: false",
    );
    assert!(yaml.contains("idempotent: false"));
    let run_id = interrupted_in_two(dir.path(), &yaml).await;
    std::fs::write(dir.path().join("resumed"), "").unwrap();
    let ex = executor(dir.path());
    let waiting = ex.resume(&run_id, engine(&ir(&yaml)), ResumeOptions::default()).await.unwrap();
    assert_eq!(waiting.status, RunStatus::Waiting);
    assert!(waiting.reason.as_deref().unwrap().contains("--skip-interrupted"), "{waiting:?}");
    assert!(waiting.trace.is_empty(), "nothing ran without a decision");
    let done = ex.resume(&run_id, engine(&ir(&yaml)), ResumeOptions { interrupted: Some(Interrupted::Skip), ..ResumeOptions::default() }).await.unwrap();
    assert_eq!(done.status, RunStatus::Completed, "{done:?}");
    assert_eq!(done.trace, ["three"]);
    assert_eq!(std::fs::read_to_string(dir.path().join("log")).unwrap(), "one\ntwo\nthree\n");
    let events = ex.store().events(&run_id).unwrap();
    assert_eq!(events.iter().find(|e| e.step_id == "two").unwrap().outcome, Some(StepOutcome::Skipped));
}

#[tokio::test]
async fn a_second_driver_is_refused_while_the_first_holds_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = THREE_STEPS.replace("echo two >> log", "echo two >> log; sleep 1");
    let first = Arc::new(executor(dir.path()));
    let w = ir(&yaml);
    let task = {
        let (first, w) = (first.clone(), w.clone());
        tokio::spawn(async move { first.start(engine(&w), StartOptions::default()).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let run_id = first.store().list_runs(&Default::default()).unwrap()[0].id.clone();
    match executor(dir.path()).resume(&run_id, engine(&w), ResumeOptions::default()).await {
        Err(RunError::Busy { pid, .. }) => assert_eq!(pid, std::process::id()),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.status, RunStatus::Completed);
    assert_eq!(std::fs::read_to_string(dir.path().join("log")).unwrap(), "one\ntwo\nthree\n");
}

#[tokio::test]
async fn a_paused_run_has_no_started_step_so_resume_does_not_ask_about_it() {
    let dir = tempfile::tempdir().unwrap();
    // `two` is not idempotent: if the pause left it started, resume would wait for a decision.
    let yaml = THREE_STEPS
        .replace("echo one >> log", "echo one >> log; sleep 0.3")
        .replace("    command: \"echo two >> log\"", "    command: \"echo two >> log\"\n    idempotent: false");
    let w = ir(&yaml);
    let ex = Arc::new(executor(dir.path()));
    let running = {
        let (ex, w) = (ex.clone(), w.clone());
        tokio::spawn(async move { ex.start(engine(&w), StartOptions::default()).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let run_id = ex.store().list_runs(&Default::default()).unwrap()[0].id.clone();
    ex.store().request(&run_id, Control::Pause).unwrap();
    assert_eq!(running.await.unwrap().unwrap().status, RunStatus::Paused);
    let run = ex.store().load_run(&run_id).unwrap().unwrap();
    assert!(run.open.is_none(), "nothing is started while paused");
    assert_eq!(run.target, workflow_core::ir::Target::Step(1));
    let report = ex.resume(&run_id, engine(&w), ResumeOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    assert_eq!(report.trace, ["two", "three"]);
    let seqs: Vec<u64> = ex.store().events(&run_id).unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
}

/// A stand-in approval gate (real gates come with the gates issue): approves when the file `approve` exists.
struct FileGate;

impl workflow_runtime::actions::Action for FileGate {
    fn run<'a>(&'a self, ctx: &'a workflow_runtime::actions::StepContext) -> workflow_runtime::actions::ActionResult<'a> {
        let approved = ctx.cwd.join("approve").exists();
        Box::pin(
            async move { Ok(workflow_runtime::actions::ActionOutput::new(serde_json::json!({ "approved": approved, "comment": "", "approver": "file" }))) },
        )
    }
}

#[tokio::test]
async fn a_step_that_requires_a_gate_runs_only_after_its_approval() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(r#"
name: guarded
steps:
  - id: gate
    action: approval-gate
    message: "Deploy?"
  - id: deploy
    action: shell
    command: "touch deployed"
    requires: gate.approved
"#);
    let mut actions = Actions::builtin();
    actions.register("approval-gate", FileGate);
    let store = SqliteStore::open(dir.path().join("runs.db"), SqliteOptions::default()).unwrap();
    let ex = Executor::new(
        Arc::new(store),
        actions,
        ExecutorOptions { cwd: dir.path().to_path_buf(), consent: workflow_runtime::permissions::Consent::granted(), ..ExecutorOptions::default() },
    );

    let refused = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(refused.status, RunStatus::Failed);
    assert!(refused.reason.as_deref().unwrap().contains("requires `gate.approved`"), "{refused:?}");
    assert!(!dir.path().join("deployed").exists(), "the guarded step did not run");

    std::fs::write(dir.path().join("approve"), "").unwrap();
    let approved = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(approved.status, RunStatus::Completed, "{approved:?}");
    assert!(dir.path().join("deployed").exists());
}

#[tokio::test]
async fn an_on_completion_child_is_not_lost_when_the_parent_dies_while_starting_it() {
    let dir = tempfile::tempdir().unwrap();
    let parent_yaml = "name: parent\non-completion:\n  - workflow: child\nsteps:\n  - id: s1\n    action: shell\n    command: \"true\"\n";
    // The child's before-snapshot is slow: the parent is abandoned while it is measured.
    let child_yaml = "name: child\nsnapshot:\n  x: { shell: \"sleep 1; echo 1\" }\nsteps:\n  - id: c1\n    action: shell\n    command: \"echo child >> log\"\n";
    let set = compile_sources(&[Source::new("parent.yaml", parent_yaml), Source::new("child.yaml", child_yaml)], &ReadOptions::default())
        .unwrap_or_else(|d| panic!("{}", d.render()));
    let (parent, child) = (Arc::new(set[0].ir.clone()), Arc::new(set[1].ir.clone()));
    let workflows: workflow_runtime::executor::Workflows = {
        let child = child.clone();
        Arc::new(move |name: &str| (name == "child").then(|| child.clone()))
    };
    let with = |lease_ms: u64| {
        let store = SqliteStore::open(dir.path().join("runs.db"), SqliteOptions::default()).unwrap();
        let options = ExecutorOptions {
            cwd: dir.path().to_path_buf(),
            lease_ms,
            workflows: Some(workflows.clone()),
            consent: workflow_runtime::permissions::Consent::granted(),
            ..ExecutorOptions::default()
        };
        Arc::new(Executor::new(Arc::new(store), Actions::builtin(), options))
    };
    let first = with(300);
    let task = {
        let (first, parent) = (first.clone(), parent.clone());
        tokio::spawn(async move { first.start(engine(&parent), StartOptions::default()).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    task.abort();
    let _ = task.await;
    let runs = first.store().list_runs(&Default::default()).unwrap();
    let parent_id = runs.iter().find(|r| r.workflow == "parent").unwrap().id.clone();
    assert_eq!(first.store().load_run(&parent_id).unwrap().unwrap().status, RunStatus::Running, "the parent is not marked finished before its children exist");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;

    let report = with(30_000).resume(&parent_id, engine(&parent), ResumeOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    assert_eq!(report.children.len(), 1);
    assert_eq!(report.children[0].status, RunStatus::Completed);
    let runs = first.store().list_runs(&Default::default()).unwrap();
    let children: Vec<_> = runs.iter().filter(|r| r.workflow == "child").collect();
    assert_eq!(children.len(), 1, "exactly one child run");
    assert_eq!(children[0].parent_run_id.as_deref(), Some(parent_id.as_str()));
    assert_eq!(std::fs::read_to_string(dir.path().join("log")).unwrap(), "child\n");
}

#[tokio::test]
async fn an_end_step_that_fails_the_run_gives_its_message_as_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(r#"
name: gives-up
variables:
  tries: 3
steps:
  - id: stop
    action: end
    status: failed
    message: "gave up after ${tries} tries"
"#);
    let report = executor(dir.path()).start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.reason.as_deref(), Some("the run ended as failed at step `stop`: gave up after 3 tries"));
}
