//! The run store: its rules (a step ends once, only the lease holder writes,
//! requests reach the driver), on both stores; and for SQLite, real files:
//! foreign files left untouched, migrations, group commit, a second process.
//! (The audit queries of `docs/store.md` are checked in `store_audit_sql.rs`.)

mod support;

use serde_json::json;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use workflow_runtime::ir::Target;
use workflow_runtime::store::memory::MemoryStore;
use workflow_runtime::store::sqlite::{schema_version, SqliteOptions, SqliteStore, APPLICATION_ID};
use workflow_runtime::store::{Control, LeaseOwner, LeaseResult, RunFilter, RunStatus, StepEnd, StepOutcome, Store, StoreError};

async fn steps_are_recorded_and_reflected_in_the_run<S: Store>(store: &S) {
    let a = owner("a");
    store.create_run(new_run("r1", "wf", &a, 60_000)).await.unwrap();
    let run = store.load_run("r1").unwrap().unwrap();
    assert_eq!((run.status, run.open.clone(), run.next_seq, run.control), (RunStatus::Running, Some(start(1, 0)), 2, Control::None));
    assert_eq!(run.lease.unwrap().owner, a);
    assert_eq!((run.state, run.target, run.output), (json!({ "count": 0 }), Target::Step(0), None));
    assert_eq!(run.cwd.as_deref(), Some("/work/project"));

    assert_eq!(store.end_step("r1", "a", end(1, 1, Some(start(2, 1)))).await.unwrap(), Control::None);
    let run = store.load_run("r1").unwrap().unwrap();
    assert_eq!((run.state, run.target, run.open, run.next_seq), (json!({ "count": 1 }), Target::Step(1), Some(start(2, 1)), 3));

    store.end_step("r1", "a", end(2, 2, None)).await.unwrap();
    let run = store.load_run("r1").unwrap().unwrap();
    assert_eq!((run.state, run.target, run.open, run.next_seq), (json!({ "count": 2 }), Target::Complete, None, 3));

    let events = store.events("r1").unwrap();
    assert_eq!(
        events.iter().map(|e| (e.seq, e.step_id.as_str(), e.outcome)).collect::<Vec<_>>(),
        [(1, "step-0", Some(StepOutcome::Completed)), (2, "step-1", Some(StepOutcome::Completed))]
    );
    assert_eq!(events[0].output, json!({ "stdout": "ran 1" }));
    assert_eq!((events[1].attempts, events[1].duration_ms, events[1].run_id.as_str()), (1, Some(7), "r1"));
    assert!(events.iter().all(|e| e.ended_at_ms.is_some_and(|ended| ended >= e.started_at_ms)));

    let output = json!({ "status": "completed", "steps_executed": 2 });
    store.set_status("r1", "a", RunStatus::Completed, None, Some(output.clone())).await.unwrap();
    let run = store.load_run("r1").unwrap().unwrap();
    assert_eq!((run.status, run.output, run.lease), (RunStatus::Completed, Some(output), None));
    assert!(run.finished_at_ms.is_some_and(|finished| finished >= run.created_at_ms));
    assert!(store.load_run("nope").unwrap().is_none());
}

async fn ending_a_step_twice_is_refused_and_changes_nothing<S: Store>(store: &S) {
    store.create_run(new_run("r2", "wf", &owner("a"), 60_000)).await.unwrap();
    store.end_step("r2", "a", end(1, 1, Some(start(2, 1)))).await.unwrap();
    let before = (store.load_run("r2").unwrap(), store.events("r2").unwrap());

    let again = store.end_step("r2", "a", end(1, 99, Some(start(2, 1)))).await.unwrap_err();
    assert!(matches!(&again, StoreError::NotOpen { run, seq: 1 } if run == "r2"), "{again:?}");
    let never_started = store.end_step("r2", "a", end(7, 99, None)).await.unwrap_err();
    assert!(matches!(never_started, StoreError::NotOpen { seq: 7, .. }), "{never_started:?}");
    assert_eq!((store.load_run("r2").unwrap(), store.events("r2").unwrap()), before);

    // An execution number is never used twice.
    let reused = store.end_step("r2", "a", end(2, 2, Some(start(1, 0)))).await.unwrap_err();
    assert!(matches!(&reused, StoreError::Sqlite(e) if e.to_string().contains("already used")), "{reused:?}");
    assert_eq!((store.load_run("r2").unwrap(), store.events("r2").unwrap()), before);

    // Starting a step while one is open would leave the open one unended.
    let started = store.start_step("r2", "a", start(3, 0)).await.unwrap_err();
    assert!(matches!(started, StoreError::NotOpen { .. }), "{started:?}");
    assert_eq!((store.load_run("r2").unwrap(), store.events("r2").unwrap()), before);
}

async fn only_the_lease_holder_writes<S: Store>(store: &S) {
    store.create_run(new_run("r3", "wf", &owner("a"), 60_000)).await.unwrap();
    let before = (store.load_run("r3").unwrap(), store.events("r3").unwrap());

    let ended = store.end_step("r3", "b", end(1, 1, None)).await.unwrap_err();
    match &ended {
        StoreError::LeaseLost { run, detail } => assert!(run == "r3" && detail.contains("executor a") && detail.contains(HOST), "{detail}"),
        other => panic!("expected LeaseLost, got {other:?}"),
    }
    let status = store.set_status("r3", "b", RunStatus::Failed, None, None).await.unwrap_err();
    assert!(matches!(status, StoreError::LeaseLost { .. }), "{status:?}");
    assert_eq!((store.load_run("r3").unwrap(), store.events("r3").unwrap()), before);

    let missing = store.end_step("nope", "a", end(1, 1, None)).await.unwrap_err();
    assert!(matches!(missing, StoreError::RunNotFound(ref run) if run == "nope"), "{missing:?}");
}

async fn leases_go_to_whoever_may_take_them<S: Store>(store: &S) {
    let (a, b) = (owner("a"), owner("b"));
    store.create_run(new_run("r4", "wf", &a, 60_000)).await.unwrap();

    // A live driver on this host keeps its run.
    match store.acquire_lease("r4", &b, 60_000).unwrap() {
        LeaseResult::HeldBy(lease) => assert_eq!((lease.owner, lease.until_ms > 0), (a.clone(), true)),
        LeaseResult::Acquired => panic!("a live driver's lease was taken"),
    }
    assert_eq!(store.acquire_lease("r4", &a, 60_000).unwrap(), LeaseResult::Acquired);
    assert!(store.renew_lease("r4", "a", 60_000).unwrap());
    assert!(!store.renew_lease("r4", "b", 60_000).unwrap());
    assert!(matches!(store.renew_lease("nope", "a", 1), Err(StoreError::RunNotFound(_))));
    assert!(matches!(store.acquire_lease("nope", &a, 1), Err(StoreError::RunNotFound(_))));

    // An expired lease is taken, and its old holder can no longer write.
    store.create_run(new_run("r5", "wf", &a, 1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(store.acquire_lease("r5", &b, 60_000).unwrap(), LeaseResult::Acquired);
    let lost = store.end_step("r5", "a", end(1, 1, None)).await.unwrap_err();
    assert!(matches!(&lost, StoreError::LeaseLost { detail, .. } if detail.contains("executor b")), "{lost:?}");
    store.end_step("r5", "b", end(1, 1, None)).await.unwrap();
}

#[cfg(target_os = "linux")]
async fn a_dead_drivers_lease_is_taken_at_once<S: Store>(store: &S) {
    let mut child = std::process::Command::new("sleep").arg("0").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let dead = LeaseOwner { id: "dead".to_owned(), pid, host: HOST.to_owned() };
    let elsewhere = LeaseOwner { host: "another-host".to_owned(), ..dead.clone() };

    // Its pid means nothing on another host: that lease is kept until it expires.
    store.create_run(new_run("r6", "wf", &elsewhere, 60_000)).await.unwrap();
    assert!(matches!(store.acquire_lease("r6", &owner("c"), 60_000).unwrap(), LeaseResult::HeldBy(_)));

    store.create_run(new_run("r7", "wf", &dead, 60_000)).await.unwrap();
    assert_eq!(store.acquire_lease("r7", &owner("c"), 60_000).unwrap(), LeaseResult::Acquired);
    assert_eq!(store.load_run("r7").unwrap().unwrap().lease.unwrap().owner, owner("c"));
}

async fn requests_reach_the_driver_between_steps<S: Store>(store: &S) {
    let a = owner("a");
    store.create_run(new_run("r8", "wf", &a, 60_000)).await.unwrap();
    store.request("r8", Control::Pause).unwrap();
    assert_eq!(store.load_run("r8").unwrap().unwrap().control, Control::Pause);
    assert_eq!(store.end_step("r8", "a", end(1, 1, Some(start(2, 1)))).await.unwrap(), Control::Pause);
    // The run stops here: the next step is where it goes, not a started (so interrupted) execution.
    let run = store.load_run("r8").unwrap().unwrap();
    assert_eq!((run.open, run.target, run.next_seq, store.events("r8").unwrap().len()), (None, Target::Step(1), 2, 1));

    store.set_status("r8", "a", RunStatus::Paused, Some("paused on request".to_owned()), None).await.unwrap();
    let run = store.load_run("r8").unwrap().unwrap();
    assert_eq!((run.status, run.reason.as_deref(), run.control, run.lease), (RunStatus::Paused, Some("paused on request"), Control::None, None));
    assert_eq!(run.finished_at_ms, None);
    // The lease was released: the old driver may not write until it takes it again.
    assert!(matches!(store.start_step("r8", "a", start(2, 1)).await, Err(StoreError::LeaseLost { .. })));

    assert_eq!(store.acquire_lease("r8", &a, 60_000).unwrap(), LeaseResult::Acquired);
    store.start_step("r8", "a", start(2, 1)).await.unwrap();
    assert_eq!(store.load_run("r8").unwrap().unwrap().status, RunStatus::Running);
    store.request("r8", Control::Cancel).unwrap();
    assert_eq!(store.end_step("r8", "a", end(2, 2, Some(start(3, 0)))).await.unwrap(), Control::Cancel);
    assert_eq!(store.load_run("r8").unwrap().unwrap().open, None);
    assert!(matches!(store.request("nope", Control::Pause), Err(StoreError::RunNotFound(_))));
}

async fn a_failed_run_resumes_with_a_new_execution<S: Store>(store: &S) {
    let (a, b) = (owner("a"), owner("b"));
    store.create_run(new_run("r9", "wf", &a, 60_000)).await.unwrap();
    let failed = StepEnd { outcome: StepOutcome::Failed, error: Some("boom".to_owned()), target: Target::Fail, ..end(1, 1, None) };
    store.end_step("r9", "a", failed).await.unwrap();
    store.set_status("r9", "a", RunStatus::Failed, Some("step-0 failed: boom".to_owned()), Some(json!({ "status": "failed" }))).await.unwrap();
    assert!(store.load_run("r9").unwrap().unwrap().finished_at_ms.is_some());

    assert_eq!(store.acquire_lease("r9", &b, 60_000).unwrap(), LeaseResult::Acquired);
    store.start_step("r9", "b", start(2, 0)).await.unwrap();
    let run = store.load_run("r9").unwrap().unwrap();
    assert_eq!((run.status, run.reason, run.finished_at_ms, run.open, run.next_seq), (RunStatus::Running, None, None, Some(start(2, 0)), 3));
    assert_eq!(store.events("r9").unwrap()[0].error.as_deref(), Some("boom"));
    store.end_step("r9", "b", end(2, 2, None)).await.unwrap();
    assert_eq!(store.events("r9").unwrap().len(), 2);
}

async fn runs_are_found_and_listed_newest_first<S: Store>(store: &S) {
    let a = owner("a");
    for (id, workflow) in [("0001-a", "deploy"), ("0002-b", "backup"), ("0003-c", "deploy"), ("0004-d", "deploy")] {
        store.create_run(new_run(id, workflow, &a, 60_000)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    store.set_status("0004-d", "a", RunStatus::Completed, None, None).await.unwrap();
    store.set_status("0003-c", "a", RunStatus::Failed, None, None).await.unwrap();

    assert_eq!(store.find_ids("000").unwrap(), ["0001-a", "0002-b", "0003-c", "0004-d"]);
    assert_eq!(store.find_ids("0003").unwrap(), ["0003-c"]);
    assert!(store.find_ids("x").unwrap().is_empty());

    let ids = |filter: RunFilter| store.list_runs(&filter).unwrap().into_iter().map(|run| run.id).collect::<Vec<_>>();
    assert_eq!(ids(RunFilter::default()), ["0004-d", "0003-c", "0002-b", "0001-a"]);
    assert_eq!(ids(RunFilter { workflow: Some("deploy".to_owned()), limit: Some(2), ..RunFilter::default() }), ["0004-d", "0003-c"]);
    assert_eq!(ids(RunFilter { status: Some(RunStatus::Running), ..RunFilter::default() }), ["0002-b", "0001-a"]);
    let created = store.load_run("0002-b").unwrap().unwrap().created_at_ms;
    assert_eq!(ids(RunFilter { since_ms: Some(created), until_ms: Some(created + 1), ..RunFilter::default() }), ["0002-b"]);
    let listed = store.list_runs(&RunFilter { workflow: Some("deploy".to_owned()), ..RunFilter::default() }).unwrap();
    assert_eq!(listed[0].status, RunStatus::Completed);
    assert!(listed[0].finished_at_ms.is_some());

    // A failed run can be resumed; a completed one cannot.
    assert_eq!(store.latest_resumable("deploy").unwrap().as_deref(), Some("0003-c"));
    assert_eq!(store.latest_resumable("backup").unwrap().as_deref(), Some("0002-b"));
    assert_eq!(store.latest_resumable("none").unwrap(), None);
}

/// One `#[tokio::test]` per rule and store.
macro_rules! on_both_stores {
    ($($rule:ident),* $(,)?) => {
        mod sqlite_store {
            $(
                #[tokio::test]
                async fn $rule() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = super::open_store(&super::store_path(&dir));
                    super::$rule(&store).await;
                }
            )*
        }
        mod memory_store {
            $(
                #[tokio::test]
                async fn $rule() {
                    super::$rule(&super::MemoryStore::new()).await;
                }
            )*
        }
    };
}

on_both_stores!(
    steps_are_recorded_and_reflected_in_the_run,
    ending_a_step_twice_is_refused_and_changes_nothing,
    only_the_lease_holder_writes,
    leases_go_to_whoever_may_take_them,
    requests_reach_the_driver_between_steps,
    a_failed_run_resumes_with_a_new_execution,
    runs_are_found_and_listed_newest_first,
);

#[cfg(target_os = "linux")]
#[tokio::test]
async fn sqlite_store_takes_a_dead_drivers_lease_at_once() {
    let dir = tempfile::tempdir().unwrap();
    a_dead_drivers_lease_is_taken_at_once(&open_store(&store_path(&dir))).await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn memory_store_takes_a_dead_drivers_lease_at_once() {
    a_dead_drivers_lease_is_taken_at_once(&MemoryStore::new()).await;
}

#[test]
fn memory_store_is_not_durable_and_sqlite_store_is() {
    let dir = tempfile::tempdir().unwrap();
    assert!(!MemoryStore::new().is_durable());
    assert!(open_store(&store_path(&dir)).is_durable());
}

// ---------------------------------------------------------------------------
// Files.

/// Opening `path` fails with Foreign naming `reason`, and neither the file nor its directory changed.
fn assert_refused_untouched(path: &Path, reason: &str) {
    let listing = |dir: &Path| {
        let mut names: Vec<_> = fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        names.sort();
        names
    };
    let files = listing(path.parent().unwrap());
    assert_refused_unchanged(path, reason);
    assert_eq!(listing(path.parent().unwrap()), files);
}

/// Opening `path` fails with Foreign naming `reason`, and the file's bytes did not change.
fn assert_refused_unchanged(path: &Path, reason: &str) {
    let bytes = fs::read(path).unwrap();
    match SqliteStore::open(path, SqliteOptions::default()) {
        Err(StoreError::Foreign { path: reported, reason: found }) => {
            assert_eq!(reported, path.display().to_string());
            assert!(found.contains(reason), "expected `{reason}` in `{found}`");
        }
        Err(other) => panic!("expected Foreign, got {other}"),
        Ok(_) => panic!("{} was opened as a store", path.display()),
    }
    assert!(fs::read(path).unwrap() == bytes, "{} was modified", path.display());
}

#[test]
fn a_text_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    fs::write(&path, "my notes\nnot a database\n").unwrap();
    assert_refused_untouched(&path, "not a SQLite database");
}

#[test]
fn another_programs_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("PRAGMA application_id = 305441741; CREATE TABLE foo (x); INSERT INTO foo VALUES (1);").unwrap();
    drop(other);
    assert_refused_untouched(&path, "a SQLite database of another program (application_id 0x1234abcd)");

    // Without an application_id, its tables give it away.
    let path = dir.path().join("plain.db");
    rusqlite::Connection::open(&path).unwrap().execute_batch("CREATE TABLE foo (x); CREATE TABLE bar (y);").unwrap();
    assert_refused_untouched(&path, "another program (no application_id; tables: bar, foo)");
}

#[tokio::test]
async fn a_damaged_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();

    // The SQLite header, then garbage.
    let garbage = dir.path().join("garbage.db");
    let mut bytes = b"SQLite format 3\0\x10\x00".to_vec();
    bytes.extend((0..4078u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    fs::write(&garbage, &bytes).unwrap();
    assert_refused_untouched(&garbage, "damaged: file is not a database");

    let header_only = dir.path().join("header.db");
    fs::write(&header_only, b"SQLite format 3\0").unwrap();
    assert_refused_untouched(&header_only, "damaged: the file is 16 bytes, shorter than a SQLite header");

    // A real store, cut short.
    let path = dir.path().join("cut.db");
    {
        let store = open_store(&path);
        for i in 0..50 {
            store.create_run(new_run(&format!("run-{i}"), "wf", &owner("a"), 60_000)).await.unwrap();
        }
    }
    let full = fs::read(&path).unwrap();
    assert!(full.len() > 3 * 4096, "the store should span several pages");
    fs::write(&path, &full[..2 * 4096]).unwrap();
    // A WAL-mode file SQLite cannot read alone is read the ordinary way, which creates an empty -wal and -shm beside it.
    assert_refused_unchanged(&path, "damaged: database disk image is malformed");
    fs::write(&path, &full[..1000]).unwrap();
    assert_refused_untouched(&path, "damaged: the file is 1000 bytes, not a whole number of 4096-byte pages");
}

#[test]
fn empty_files_and_empty_databases_become_stores() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    fs::write(&empty, b"").unwrap();
    drop(open_store(&empty));

    let blank = dir.path().join("blank.db");
    rusqlite::Connection::open(&blank).unwrap().execute_batch("CREATE TABLE t (x); DROP TABLE t;").unwrap();
    assert!(fs::metadata(&blank).unwrap().len() > 0);
    drop(open_store(&blank));

    let nested = dir.path().join("a/b/runs.db");
    drop(open_store(&nested));
    for path in [empty, blank, nested] {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let id: i32 = conn.pragma_query_value(None, "application_id", |row| row.get(0)).unwrap();
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0)).unwrap();
        assert_eq!((id, mode.as_str()), (APPLICATION_ID, "wal"), "{}", path.display());
    }
}

#[test]
fn a_store_from_a_newer_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    drop(open_store(&path));
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let bytes = fs::read(&path).unwrap();
    match SqliteStore::open(&path, SqliteOptions::default()) {
        Err(StoreError::TooNew { found: 99, supported, .. }) => assert_eq!(supported, schema_version()),
        other => panic!("expected TooNew, got {other:?}"),
    }
    assert!(fs::read(&path).unwrap() == bytes);
}

#[tokio::test]
async fn reopening_a_store_migrates_nothing_and_keeps_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let schema = |path: &Path| {
        let conn = rusqlite::Connection::open(path).unwrap();
        let version: u32 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
        let mut sql = conn.prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name").unwrap();
        let sql: Vec<String> = sql.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect();
        (version, sql)
    };
    {
        let store = open_store(&path);
        store.create_run(new_run("kept", "wf", &owner("a"), 60_000)).await.unwrap();
    }
    let first = schema(&path);
    assert_eq!(first.0, schema_version());
    assert_eq!(first.1.len(), 12, "four tables, eight indexes: {:?}", first.1);
    for _ in 0..2 {
        let store = open_store(&path);
        assert_eq!(store.load_run("kept").unwrap().unwrap().open, Some(start(1, 0)));
    }
    assert_eq!(schema(&path), first);
}

#[tokio::test]
async fn a_store_of_an_older_schema_is_migrated_and_keeps_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    {
        let store = open_store(&path);
        store.create_run(new_run("old", "wf", &owner("a"), 60_000)).await.unwrap();
    }
    // Back to version 1, as an older `workflow` left it.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE tokens; DROP INDEX runs_by_created; DROP INDEX runs_by_status_created; DROP INDEX runs_by_workflow_created; DROP INDEX runs_by_parent;
         ALTER TABLE runs DROP COLUMN source; DROP TABLE questions; ALTER TABLE runs DROP COLUMN cwd; PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);

    let store = open_store(&path);
    let run = store.load_run("old").unwrap().unwrap();
    assert_eq!((run.cwd, run.open), (None, Some(start(1, 0))));
    store.end_step("old", "a", end(1, 1, None)).await.unwrap();
    drop(store);
    let version: u32 = rusqlite::Connection::open(&path).unwrap().pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
    assert_eq!(version, schema_version());
}

#[tokio::test]
async fn a_second_store_on_the_same_file_sees_and_respects_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let first = open_store(&path);
    first.create_run(new_run("shared", "wf", &owner("a"), 60_000)).await.unwrap();
    first.end_step("shared", "a", end(1, 1, Some(start(2, 1)))).await.unwrap();

    // As another process would: its own connections to the same file.
    let second = open_store(&path);
    let run = second.load_run("shared").unwrap().unwrap();
    assert_eq!((run.state, run.open, run.next_seq), (json!({ "count": 1 }), Some(start(2, 1)), 3));
    assert_eq!(second.events("shared").unwrap().len(), 2);
    assert!(matches!(second.acquire_lease("shared", &owner("b"), 60_000).unwrap(), LeaseResult::HeldBy(lease) if lease.owner.id == "a"));

    second.request("shared", Control::Pause).unwrap();
    assert_eq!(first.end_step("shared", "a", end(2, 2, None)).await.unwrap(), Control::Pause);
    first.set_status("shared", "a", RunStatus::Paused, None, None).await.unwrap();

    assert_eq!(second.acquire_lease("shared", &owner("b"), 60_000).unwrap(), LeaseResult::Acquired);
    second.set_status("shared", "b", RunStatus::Completed, None, Some(json!({ "status": "completed" }))).await.unwrap();
    assert_eq!(first.load_run("shared").unwrap().unwrap().status, RunStatus::Completed);
}

// ---------------------------------------------------------------------------
// Group commit.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_records_every_step_of_many_concurrent_runs_once() {
    const RUNS: usize = 200;
    const STEPS: u64 = 20;
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let store = Arc::new(open_store(&path));

    let began = Instant::now();
    let tasks: Vec<_> = (0..RUNS)
        .map(|r| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let (id, driver) = (format!("run-{r:03}"), owner(&format!("executor-{r}")));
                store.create_run(new_run(&id, "bulk", &driver, 60_000)).await?;
                for seq in 1..=STEPS {
                    let next = (seq < STEPS).then(|| start(seq + 1, seq as usize % 3));
                    store.end_step(&id, &driver.id, end(seq, seq, next)).await?;
                }
                store.set_status(&id, &driver.id, RunStatus::Completed, None, Some(json!({ "status": "completed" }))).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let elapsed = began.elapsed();
    eprintln!("group commit: {RUNS} runs x {STEPS} steps in {elapsed:?} ({:?} per step)", elapsed / (RUNS as u32 * STEPS as u32));

    let conn = rusqlite::Connection::open(&path).unwrap();
    let counts: (u64, u64, u64) = conn
        .query_row("SELECT count(*), count(DISTINCT run_id || '/' || seq), count(*) FILTER (WHERE outcome = 'completed') FROM step_events", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .unwrap();
    let total = RUNS as u64 * STEPS;
    assert_eq!(counts, (total, total, total));
    let whole_runs: usize = conn
        .query_row(
            "SELECT count(*) FROM (SELECT run_id FROM step_events GROUP BY run_id HAVING count(*) = ?1 AND min(seq) = 1 AND max(seq) = ?1)",
            [STEPS],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(whole_runs, RUNS);
    let finished: usize = conn
        .query_row(
            "SELECT count(*) FROM runs WHERE status = 'completed' AND open_seq IS NULL AND next_seq = ?1 AND json_extract(state, '$.count') = ?2",
            [STEPS + 1, STEPS],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(finished, RUNS);
}

#[tokio::test]
async fn a_refused_write_does_not_undo_the_rest_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open_store(&store_path(&dir)));
    for r in 0..50 {
        store.create_run(new_run(&format!("run-{r}"), "wf", &owner("a"), 60_000)).await.unwrap();
    }
    // All queued before the writer answers any: valid ends interleaved with ends by a stranger.
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let driver = if i % 2 == 0 { "a" } else { "stranger" };
                store.end_step(&format!("run-{}", i / 2), driver, end(1, 1, None)).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    assert!(results.iter().step_by(2).all(Result::is_ok));
    assert!(results.iter().skip(1).step_by(2).all(|result| matches!(result, Err(StoreError::LeaseLost { .. }))));
    for r in 0..50 {
        let run = store.load_run(&format!("run-{r}")).unwrap().unwrap();
        assert_eq!((run.open, run.state), (None, json!({ "count": 1 })));
    }
}

// ---------------------------------------------------------------------------
// The audit queries of docs/store.md, run against a store with known runs.
