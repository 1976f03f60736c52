//! Pause and cancel from another process (`Executor::stop`, which `workflow
//! pause|cancel` and `workflow serve` call), on every store: a run whose
//! driver is gone changes at once, written under a lease of the stopper's
//! own, so the old driver's fence writes nothing after; a run a live driver
//! holds gets a request instead, and a request to stop now interrupts the
//! step it is running, killing its processes.

mod support;

use std::sync::Arc;
use std::time::Duration;
use support::postgres::TestSchema;
use support::HOST;
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;
use workflow_runtime::actions::Actions;
use workflow_runtime::engine::IrEngine;
use workflow_runtime::executor::{Executor, ExecutorOptions, RunError, StartOptions, Stopped};
use workflow_runtime::store::memory::MemoryStore;
use workflow_runtime::store::postgres::{PgLocation, PostgresOptions, PostgresStore};
use workflow_runtime::store::{Control, LeaseOwner, LeaseResult, RunStatus, Store, StoreError};

const GATE: &str = "name: gated\nsteps:\n  - id: review\n    action: approval-gate\n    message: Go on?\n  - id: after\n    action: end\n";

fn executor<S: Store>(store: &Arc<S>, dir: &std::path::Path) -> Executor<S> {
    let options = ExecutorOptions {
        cwd: dir.to_path_buf(),
        operator: "test".into(),
        consent: workflow_runtime::permissions::Consent::granted(),
        ..ExecutorOptions::default()
    };
    Executor::new(store.clone(), Actions::builtin(), options)
}

/// A run waiting at its gate, then taken by a driver (`ghost`) whose lease ran out: `running`, nobody behind it.
async fn abandoned_run<S: Store>(store: &Arc<S>, dir: &std::path::Path, ghost: &str) -> (String, workflow_runtime::store::Fence) {
    let ir = compile_sources(&[Source::new("gated.yaml", GATE)], &ReadOptions::default()).unwrap_or_else(|d| panic!("{}", d.render())).remove(0).ir;
    let report = executor(store, dir).start(Box::new(IrEngine::new(Arc::new(ir))), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Waiting);
    let ghost = LeaseOwner { id: ghost.into(), pid: 1, host: "another-host".into() };
    let LeaseResult::Acquired(old) = store.acquire_lease(&report.run_id, &ghost, 1).unwrap() else { panic!("a waiting run's lease is free") };
    store.set_status(&report.run_id, &old, RunStatus::Running, None, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    (report.run_id, old)
}

async fn an_abandoned_run_is_paused_and_cancelled_under_a_fence_of_its_own<S: Store>(store: Arc<S>) {
    let dir = tempfile::tempdir().unwrap();
    let (run, old) = abandoned_run(&store, dir.path(), "ghost-1").await;
    assert_eq!(executor(&store, dir.path()).stop(&run, Control::Pause, "ann").await.unwrap(), Stopped::Paused);
    let record = store.load_run(&run).unwrap().unwrap();
    assert_eq!((record.status, record.reason.as_deref(), record.lease), (RunStatus::Paused, Some("paused by ann"), None));
    let late = store.set_status(&run, &old, RunStatus::Failed, Some("late".into()), None).await.unwrap_err();
    assert!(matches!(late, StoreError::LeaseLost { .. }), "the old driver writes nothing after: {late:?}");
    assert_eq!(store.load_run(&run).unwrap().unwrap().status, RunStatus::Paused);

    let (run, old) = abandoned_run(&store, dir.path(), "ghost-2").await;
    let Stopped::Cancelled(report) = executor(&store, dir.path()).stop(&run, Control::Cancel, "bob").await.unwrap() else {
        panic!("an idle run is cancelled at once")
    };
    assert_eq!((report.status, report.reason.as_deref()), (RunStatus::Cancelled, Some("cancelled by bob")));
    let record = store.load_run(&run).unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Cancelled);
    assert_eq!(record.output.as_ref().and_then(|o| o["status"].as_str()), Some("cancelled"), "a cancelled run gets its audit output");
    let late = store.set_status(&run, &old, RunStatus::Paused, None, None).await.unwrap_err();
    assert!(matches!(late, StoreError::LeaseLost { .. }), "{late:?}");
}

async fn a_driven_run_is_asked_to_stop_after_its_step<S: Store>(store: Arc<S>) {
    let dir = tempfile::tempdir().unwrap();
    let (run, _) = abandoned_run(&store, dir.path(), "ghost").await;
    // A live driver on another host: its lease is good for a minute.
    let live = LeaseOwner { id: "live".into(), pid: 1, host: HOST.into() };
    let LeaseResult::Acquired(fence) = store.acquire_lease(&run, &live, 60_000).unwrap() else { panic!("the expired lease is free") };
    assert_eq!(executor(&store, dir.path()).stop(&run, Control::Pause, "ann").await.unwrap(), Stopped::Requested);
    let record = store.load_run(&run).unwrap().unwrap();
    assert_eq!((record.status, record.control), (RunStatus::Running, Control::Pause));
    assert_eq!(record.lease.map(|lease| (lease.owner.id, lease.epoch)), Some(("live".to_owned(), fence.epoch)), "the driver keeps its lease");
    // Asked again to stop now, the request becomes the interrupting one, which the driver reads while its step runs.
    assert_eq!(executor(&store, dir.path()).stop(&run, Control::CancelNow, "ann").await.unwrap(), Stopped::Requested);
    assert_eq!(store.pending_control(&run).unwrap(), Control::CancelNow);
    assert!(matches!(executor(&store, dir.path()).stop(&run, Control::None, "ann").await, Err(RunError::State { .. })), "asking nothing is refused");
    assert_eq!(store.pending_control(&run).unwrap(), Control::CancelNow, "and changes nothing");
}

/// The step sleeps in a grandchild of the driver (`sleep` under the step's `sh`), its pid written to `pid`.
#[cfg(target_os = "linux")]
const SLOW: &str = "name: slow\nsteps:\n  - id: wait\n    action: shell\n    command: \"sleep 30 & echo $! > pid; wait\"\n  - id: after\n    action: shell\n    command: touch after\n";

/// Whether process `pid` is alive (not gone, not a zombie).
#[cfg(target_os = "linux")]
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

/// The process group is recorded with the open step on every store, and a stop asked `--now` from
/// another executor (the CLI's, the server's) interrupts the running step within its driver: the run
/// is cancelled, the step recorded as failed, its processes killed, and the next step never runs.
#[cfg(target_os = "linux")]
async fn a_running_step_is_interrupted_by_a_stop_now_and_its_processes_are_killed<S: Store>(store: Arc<S>) {
    let dir = tempfile::tempdir().unwrap();
    let ir = compile_sources(&[Source::new("slow.yaml", SLOW)], &ReadOptions::default()).unwrap_or_else(|d| panic!("{}", d.render())).remove(0).ir;
    let driver = {
        let (store, dir) = (store.clone(), dir.path().to_path_buf());
        tokio::spawn(async move { executor(&store, &dir).start(Box::new(IrEngine::new(Arc::new(ir))), StartOptions::default()).await })
    };
    let began = std::time::Instant::now();
    let (run, pid) = loop {
        assert!(began.elapsed() < Duration::from_secs(20), "the step never started and recorded its process group");
        let runs = store.list_runs(&Default::default()).unwrap();
        let pid = std::fs::read_to_string(dir.path().join("pid")).unwrap_or_default().trim().to_string();
        if let [summary] = runs.as_slice() {
            if !pid.is_empty() && store.open_process(&summary.id).unwrap().is_some() {
                break (summary.id.clone(), pid);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let process = store.open_process(&run).unwrap().unwrap();
    assert_eq!(process.seq, store.load_run(&run).unwrap().unwrap().open.unwrap().seq, "recorded with the open execution");
    assert!(alive(&pid), "the step's sleep runs");

    assert_eq!(executor(&store, dir.path()).stop(&run, Control::CancelNow, "ann").await.unwrap(), Stopped::Requested, "a live driver holds the run");
    let report = tokio::time::timeout(Duration::from_secs(10), driver).await.expect("the driver stopped the step well before its 30 s").unwrap().unwrap();
    assert_eq!((report.status, report.reason.as_deref()), (RunStatus::Cancelled, Some("cancelled on request, interrupting step `wait`")));
    let events = store.events(&run).unwrap();
    assert_eq!(events.len(), 1, "the next step never started");
    assert!(events[0].error.as_deref().is_some_and(|e| e.contains("interrupted")), "{:?}", events[0]);
    let gone = std::time::Instant::now();
    while alive(&pid) {
        assert!(gone.elapsed() < Duration::from_secs(5), "the step's sleep (pid {pid}) outlived the interrupted step");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!dir.path().join("after").exists());
}

macro_rules! on_every_store {
    ($($rule:ident),* $(,)?) => {
        mod sqlite_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rule() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$rule(std::sync::Arc::new(super::support::open_store(&super::support::store_path(&dir)))).await;
                }
            )*
        }
        mod postgres_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rule() {
                    let Some(schema) = super::TestSchema::new(stringify!($rule)) else { return };
                    let location = super::PgLocation::parse(&schema.url).unwrap();
                    super::$rule(std::sync::Arc::new(super::PostgresStore::open(&location, super::PostgresOptions::default()).unwrap())).await;
                }
            )*
        }
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rule() {
                    super::$rule(std::sync::Arc::new(super::MemoryStore::new())).await;
                }
            )*
        }
    };
}

on_every_store!(an_abandoned_run_is_paused_and_cancelled_under_a_fence_of_its_own, a_driven_run_is_asked_to_stop_after_its_step);

#[cfg(target_os = "linux")]
mod interrupted {
    use super::*;
    on_every_store!(a_running_step_is_interrupted_by_a_stop_now_and_its_processes_are_killed);
}
