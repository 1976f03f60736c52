//! The run store: its rules (a step ends once, only the lease holder writes,
//! fencing, requests reach the driver, group commit, a second store at the
//! same place), on every store: SQLite, PostgreSQL and memory; and for
//! SQLite, real files: foreign files left untouched, migrations. (PostgreSQL's
//! own cases are in `store_postgres.rs`, the audit queries of `docs/store.md`
//! in `store_audit_sql.rs`.)

mod support;

use serde_json::json;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::postgres::TestSchema;
use support::*;
use workflow_runtime::human::{Answer, Request, RequestKind};
use workflow_runtime::ir::Target;
use workflow_runtime::store::memory::MemoryStore;
use workflow_runtime::store::postgres::{PgLocation, PostgresOptions, PostgresStore};
use workflow_runtime::store::sqlite::{schema_version, SqliteOptions, SqliteStore, APPLICATION_ID};
use workflow_runtime::store::{
    Control, LeaseOwner, LeaseResult, RunFilter, RunPageQuery, RunStatus, StepEnd, StepOutcome, StepProcess, Store, StoreError, TokenRecord,
};

async fn steps_are_recorded_and_reflected_in_the_run<S: Store>(store: &S) {
    let a = owner("a");
    let fa = store.create_run(new_run("r1", "wf", &a, 60_000)).await.unwrap();
    assert_eq!(fa, fence("a", 1));
    let run = store.load_run("r1").unwrap().unwrap();
    assert_eq!((run.status, run.open.clone(), run.next_seq, run.control), (RunStatus::Running, Some(start(1, 0)), 2, Control::None));
    let lease = run.lease.unwrap();
    assert_eq!((lease.owner, lease.epoch), (a, 1));
    assert_eq!((run.state, run.target, run.output), (json!({ "count": 0 }), Target::Step(0), None));
    assert_eq!(run.cwd.as_deref(), Some("/work/project"));
    assert_eq!((run.definition_hash.as_str(), run.definition), ("hash-1", json!({ "name": "wf" })));

    assert_eq!(store.end_step("r1", &fa, end(1, 1, Some(start(2, 1)))).await.unwrap(), Control::None);
    let run = store.load_run("r1").unwrap().unwrap();
    assert_eq!((run.state, run.target, run.open, run.next_seq), (json!({ "count": 1 }), Target::Step(1), Some(start(2, 1)), 3));

    store.end_step("r1", &fa, end(2, 2, None)).await.unwrap();
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
    store.set_status("r1", &fa, RunStatus::Completed, None, Some(output.clone())).await.unwrap();
    let run = store.load_run("r1").unwrap().unwrap();
    assert_eq!((run.status, run.output, run.lease), (RunStatus::Completed, Some(output), None));
    assert!(run.finished_at_ms.is_some_and(|finished| finished >= run.created_at_ms));
    assert!(store.load_run("nope").unwrap().is_none());

    // A second run of the same definition reads the same one; a run id is used once.
    store.create_run(new_run("r1-again", "wf", &owner("a"), 60_000)).await.unwrap();
    assert_eq!(store.load_run("r1-again").unwrap().unwrap().definition, json!({ "name": "wf" }));
    let twice = store.create_run(new_run("r1", "wf", &owner("a"), 60_000)).await.unwrap_err();
    assert!(matches!(&twice, StoreError::RunExists(run) if run == "r1"), "{twice:?}");
    assert_eq!(store.load_run("r1").unwrap().unwrap().status, RunStatus::Completed);
}

async fn ending_a_step_twice_is_refused_and_changes_nothing<S: Store>(store: &S) {
    let fa = store.create_run(new_run("r2", "wf", &owner("a"), 60_000)).await.unwrap();
    store.end_step("r2", &fa, end(1, 1, Some(start(2, 1)))).await.unwrap();
    let before = (store.load_run("r2").unwrap(), store.events("r2").unwrap());

    let again = store.end_step("r2", &fa, end(1, 99, Some(start(2, 1)))).await.unwrap_err();
    assert!(matches!(&again, StoreError::NotOpen { run, seq: 1 } if run == "r2"), "{again:?}");
    let never_started = store.end_step("r2", &fa, end(7, 99, None)).await.unwrap_err();
    assert!(matches!(never_started, StoreError::NotOpen { seq: 7, .. }), "{never_started:?}");
    assert_eq!((store.load_run("r2").unwrap(), store.events("r2").unwrap()), before);

    // An execution number is never used twice.
    let reused = store.end_step("r2", &fa, end(2, 2, Some(start(1, 0)))).await.unwrap_err();
    assert!(matches!(&reused, StoreError::SeqUsed { seq: 1, next_seq: 3, .. }), "{reused:?}");
    assert!(reused.to_string().contains("already used"), "{reused}");
    assert_eq!((store.load_run("r2").unwrap(), store.events("r2").unwrap()), before);

    // Starting a step while one is open would leave the open one unended.
    let started = store.start_step("r2", &fa, start(3, 0)).await.unwrap_err();
    assert!(matches!(started, StoreError::NotOpen { .. }), "{started:?}");
    assert_eq!((store.load_run("r2").unwrap(), store.events("r2").unwrap()), before);
}

async fn only_the_lease_holder_writes<S: Store>(store: &S) {
    store.create_run(new_run("r3", "wf", &owner("a"), 60_000)).await.unwrap();
    let before = (store.load_run("r3").unwrap(), store.events("r3").unwrap());

    let ended = store.end_step("r3", &fence("b", 1), end(1, 1, None)).await.unwrap_err();
    match &ended {
        StoreError::LeaseLost { run, detail } => assert!(run == "r3" && detail.contains("executor a") && detail.contains(HOST), "{detail}"),
        other => panic!("expected LeaseLost, got {other:?}"),
    }
    let status = store.set_status("r3", &fence("b", 1), RunStatus::Failed, None, None).await.unwrap_err();
    assert!(matches!(status, StoreError::LeaseLost { .. }), "{status:?}");
    // The holder's id with an epoch it was never given is no lease either.
    let forged = store.end_step("r3", &fence("a", 2), end(1, 1, None)).await.unwrap_err();
    assert!(matches!(&forged, StoreError::LeaseLost { detail, .. } if detail.contains("epoch 1")), "{forged:?}");
    assert_eq!((store.load_run("r3").unwrap(), store.events("r3").unwrap()), before);

    let missing = store.end_step("nope", &fence("a", 1), end(1, 1, None)).await.unwrap_err();
    assert!(matches!(missing, StoreError::RunNotFound(ref run) if run == "nope"), "{missing:?}");
}

async fn leases_go_to_whoever_may_take_them<S: Store>(store: &S) {
    let (a, b) = (owner("a"), owner("b"));
    store.create_run(new_run("r4", "wf", &a, 60_000)).await.unwrap();

    // A live driver on this host keeps its run.
    match store.acquire_lease("r4", &b, 60_000).unwrap() {
        LeaseResult::HeldBy(lease) => assert_eq!((lease.owner, lease.until_ms > 0, lease.epoch), (a.clone(), true, 1)),
        LeaseResult::Acquired(_) => panic!("a live driver's lease was taken"),
    }
    // Taking it again, even by its holder, is a new acquisition.
    assert_eq!(store.acquire_lease("r4", &a, 60_000).unwrap(), LeaseResult::Acquired(fence("a", 2)));
    assert!(store.renew_lease("r4", &fence("a", 2), 60_000).unwrap());
    assert!(!store.renew_lease("r4", &fence("a", 1), 60_000).unwrap());
    assert!(!store.renew_lease("r4", &fence("b", 2), 60_000).unwrap());
    assert!(matches!(store.renew_lease("nope", &fence("a", 1), 1), Err(StoreError::RunNotFound(_))));
    assert!(matches!(store.acquire_lease("nope", &a, 1), Err(StoreError::RunNotFound(_))));

    // An expired lease is taken, and its old holder can no longer write.
    let fa = store.create_run(new_run("r5", "wf", &a, 1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let LeaseResult::Acquired(fb) = store.acquire_lease("r5", &b, 60_000).unwrap() else { panic!("an expired lease was kept") };
    assert_eq!(fb, fence("b", 2));
    let lost = store.end_step("r5", &fa, end(1, 1, None)).await.unwrap_err();
    assert!(matches!(&lost, StoreError::LeaseLost { detail, .. } if detail.contains("executor b")), "{lost:?}");
    store.end_step("r5", &fb, end(1, 1, None)).await.unwrap();
}

/// Fencing: A's lease expires, B takes the run, and every write A still
/// makes is refused and changes nothing, even after A takes it back (a new
/// epoch) while its old writes are still on their way.
async fn a_driver_that_lost_its_lease_cannot_write<S: Store>(store: &S) {
    let (a, b) = (owner("a"), owner("b"));
    let fa = store.create_run(new_run("r10", "wf", &a, 1)).await.unwrap();
    store.end_step("r10", &fa, end(1, 1, Some(start(2, 1)))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let LeaseResult::Acquired(fb) = store.acquire_lease("r10", &b, 60_000).unwrap() else { panic!("the expired lease was kept") };
    assert!(fb.epoch > fa.epoch);
    let before = (store.load_run("r10").unwrap(), store.events("r10").unwrap(), store.questions("r10").unwrap());

    let ended = store.end_step("r10", &fa, end(2, 2, Some(start(3, 0)))).await.unwrap_err();
    assert!(matches!(&ended, StoreError::LeaseLost { detail, .. } if detail.contains("executor b")), "{ended:?}");
    let status = store.set_status("r10", &fa, RunStatus::Completed, None, Some(json!({ "status": "completed" }))).await.unwrap_err();
    assert!(matches!(status, StoreError::LeaseLost { .. }), "{status:?}");
    let started = store.start_step("r10", &fa, start(3, 0)).await.unwrap_err();
    assert!(matches!(started, StoreError::LeaseLost { .. }), "{started:?}");
    assert!(!store.renew_lease("r10", &fa, 60_000).unwrap());
    assert_eq!((store.load_run("r10").unwrap(), store.events("r10").unwrap(), store.questions("r10").unwrap()), before);

    // B hands the run back (it waits for a person); A takes it again: only its new fence writes.
    store.set_status("r10", &fb, RunStatus::Waiting, Some("a gate".to_owned()), None).await.unwrap();
    let LeaseResult::Acquired(fa2) = store.acquire_lease("r10", &a, 60_000).unwrap() else { panic!("a free lease was refused") };
    assert!(fa2.epoch > fb.epoch && fa2.owner == "a");
    let stale = store.end_step("r10", &fa, end(2, 2, None)).await.unwrap_err();
    assert!(matches!(&stale, StoreError::LeaseLost { detail, .. } if detail.contains("taken again")), "{stale:?}");
    let stale = store.end_step("r10", &fb, end(2, 2, None)).await.unwrap_err();
    assert!(matches!(stale, StoreError::LeaseLost { .. }), "{stale:?}");
    assert_eq!(store.events("r10").unwrap()[1].outcome, None, "no stale write ended the open step");
    store.end_step("r10", &fa2, end(2, 2, None)).await.unwrap();
    let events = store.events("r10").unwrap();
    assert_eq!(events.iter().map(|e| (e.seq, e.outcome)).collect::<Vec<_>>(), [(1, Some(StepOutcome::Completed)), (2, Some(StepOutcome::Completed))]);
    assert_eq!(store.load_run("r10").unwrap().unwrap().state, json!({ "count": 2 }));
}

async fn a_dead_drivers_lease_is_taken_at_once<S: Store>(store: &S) {
    if !cfg!(target_os = "linux") {
        return; // elsewhere a dead process is not seen, and its lease is taken when it expires
    }
    let mut child = std::process::Command::new("sleep").arg("0").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let dead = LeaseOwner { id: "dead".to_owned(), pid, host: HOST.to_owned() };
    let elsewhere = LeaseOwner { host: "another-host".to_owned(), ..dead.clone() };

    // Its pid means nothing on another host: that lease is kept until it expires.
    store.create_run(new_run("r6", "wf", &elsewhere, 60_000)).await.unwrap();
    assert!(matches!(store.acquire_lease("r6", &owner("c"), 60_000).unwrap(), LeaseResult::HeldBy(_)));

    store.create_run(new_run("r7", "wf", &dead, 60_000)).await.unwrap();
    assert_eq!(store.acquire_lease("r7", &owner("c"), 60_000).unwrap(), LeaseResult::Acquired(fence("c", 2)));
    assert_eq!(store.load_run("r7").unwrap().unwrap().lease.unwrap().owner, owner("c"));
}

async fn requests_reach_the_driver_between_steps<S: Store>(store: &S) {
    let a = owner("a");
    let fa = store.create_run(new_run("r8", "wf", &a, 60_000)).await.unwrap();
    store.request("r8", Control::Pause).unwrap();
    assert_eq!(store.load_run("r8").unwrap().unwrap().control, Control::Pause);
    assert_eq!(store.end_step("r8", &fa, end(1, 1, Some(start(2, 1)))).await.unwrap(), Control::Pause);
    // The run stops here: the next step is where it goes, not a started (so interrupted) execution.
    let run = store.load_run("r8").unwrap().unwrap();
    assert_eq!((run.open, run.target, run.next_seq, store.events("r8").unwrap().len()), (None, Target::Step(1), 2, 1));

    store.set_status("r8", &fa, RunStatus::Paused, Some("paused on request".to_owned()), None).await.unwrap();
    let run = store.load_run("r8").unwrap().unwrap();
    assert_eq!((run.status, run.reason.as_deref(), run.control, run.lease), (RunStatus::Paused, Some("paused on request"), Control::None, None));
    assert_eq!(run.finished_at_ms, None);
    // The lease was released: the old driver may not write until it takes it again.
    assert!(matches!(store.start_step("r8", &fa, start(2, 1)).await, Err(StoreError::LeaseLost { .. })));

    let LeaseResult::Acquired(fa) = store.acquire_lease("r8", &a, 60_000).unwrap() else { panic!("a released lease was refused") };
    store.start_step("r8", &fa, start(2, 1)).await.unwrap();
    assert_eq!(store.load_run("r8").unwrap().unwrap().status, RunStatus::Running);
    store.request("r8", Control::Cancel).unwrap();
    assert_eq!(store.end_step("r8", &fa, end(2, 2, Some(start(3, 0)))).await.unwrap(), Control::Cancel);
    assert_eq!(store.load_run("r8").unwrap().unwrap().open, None);
    assert!(matches!(store.request("nope", Control::Pause), Err(StoreError::RunNotFound(_))));
}

async fn a_step_s_process_group_is_kept_while_it_is_open<S: Store>(store: &S) {
    let a = owner("a");
    let fa = store.create_run(new_run("r10", "wf", &a, 60_000)).await.unwrap();
    assert_eq!(store.open_process("r10").unwrap(), None);
    let group = |seq, group| StepProcess { seq, host: "here".to_owned(), group };
    store.record_process("r10", &fa, group(1, 4242)).await.unwrap();
    // A retry's group replaces the first attempt's.
    store.record_process("r10", &fa, group(1, 4343)).await.unwrap();
    assert_eq!(store.open_process("r10").unwrap(), Some(group(1, 4343)));
    // Only the lease holder records, and only for the open execution.
    assert!(matches!(store.record_process("r10", &fence("b", fa.epoch), group(1, 1)).await, Err(StoreError::LeaseLost { .. })));
    assert!(matches!(store.record_process("r10", &fa, group(2, 1)).await, Err(StoreError::NotOpen { seq: 2, .. })));
    assert_eq!(store.open_process("r10").unwrap(), Some(group(1, 4343)));
    // Once the step ended there is nothing left to end.
    store.end_step("r10", &fa, end(1, 1, Some(start(2, 1)))).await.unwrap();
    assert_eq!(store.open_process("r10").unwrap(), None);
    assert!(matches!(store.record_process("r10", &fa, group(1, 1)).await, Err(StoreError::NotOpen { .. })));
    // A driver that lost its lease (even to itself, under a later epoch) records nothing.
    let LeaseResult::Acquired(fa2) = store.acquire_lease("r10", &a, 60_000).unwrap() else { panic!("the holder's own lease was refused") };
    assert!(matches!(store.record_process("r10", &fa, group(2, 5)).await, Err(StoreError::LeaseLost { .. })));
    store.record_process("r10", &fa2, group(2, 5)).await.unwrap();
    assert_eq!(store.open_process("r10").unwrap(), Some(group(2, 5)));
}

async fn requests_to_stop_now_are_read_while_a_step_runs<S: Store>(store: &S) {
    let fa = store.create_run(new_run("r11", "wf", &owner("a"), 60_000)).await.unwrap();
    assert_eq!(store.pending_control("r11").unwrap(), Control::None);
    for control in [Control::PauseNow, Control::CancelNow] {
        store.request("r11", control).unwrap();
        assert_eq!(store.pending_control("r11").unwrap(), control);
        assert_eq!(store.load_run("r11").unwrap().unwrap().control, control);
    }
    assert_eq!(store.pending_control("nope").unwrap(), Control::None);
    // A step that ends before the driver looked stops the run all the same.
    assert_eq!(store.end_step("r11", &fa, end(1, 1, Some(start(2, 1)))).await.unwrap(), Control::CancelNow);
    assert_eq!(store.load_run("r11").unwrap().unwrap().open, None);
}

async fn a_failed_run_resumes_with_a_new_execution<S: Store>(store: &S) {
    let (a, b) = (owner("a"), owner("b"));
    let fa = store.create_run(new_run("r9", "wf", &a, 60_000)).await.unwrap();
    let failed = StepEnd { outcome: StepOutcome::Failed, error: Some("boom".to_owned()), target: Target::Fail, ..end(1, 1, None) };
    store.end_step("r9", &fa, failed).await.unwrap();
    store.set_status("r9", &fa, RunStatus::Failed, Some("step-0 failed: boom".to_owned()), Some(json!({ "status": "failed" }))).await.unwrap();
    assert!(store.load_run("r9").unwrap().unwrap().finished_at_ms.is_some());

    let LeaseResult::Acquired(fb) = store.acquire_lease("r9", &b, 60_000).unwrap() else { panic!("a failed run's lease was refused") };
    store.start_step("r9", &fb, start(2, 0)).await.unwrap();
    let run = store.load_run("r9").unwrap().unwrap();
    assert_eq!((run.status, run.reason, run.finished_at_ms, run.open, run.next_seq), (RunStatus::Running, None, None, Some(start(2, 0)), 3));
    assert_eq!(store.events("r9").unwrap()[0].error.as_deref(), Some("boom"));
    store.end_step("r9", &fb, end(2, 2, None)).await.unwrap();
    assert_eq!(store.events("r9").unwrap().len(), 2);
}

async fn runs_are_found_and_listed_newest_first<S: Store>(store: &S) {
    let a = owner("a");
    let mut fences = std::collections::HashMap::new();
    for (id, workflow) in [("0001-a", "deploy"), ("0002-b", "backup"), ("0003-c", "deploy"), ("0004-d", "deploy")] {
        fences.insert(id, store.create_run(new_run(id, workflow, &a, 60_000)).await.unwrap());
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    store.set_status("0004-d", &fences["0004-d"], RunStatus::Completed, None, None).await.unwrap();
    store.set_status("0003-c", &fences["0003-c"], RunStatus::Failed, None, None).await.unwrap();

    assert_eq!(store.find_ids("000").unwrap(), ["0001-a", "0002-b", "0003-c", "0004-d"]);
    assert_eq!(store.find_ids("0003").unwrap(), ["0003-c"]);
    assert!(store.find_ids("x").unwrap().is_empty());
    // `_` and `%` are characters of an id, not wildcards.
    assert!(store.find_ids("000_").unwrap().is_empty());
    assert!(store.find_ids("%").unwrap().is_empty());

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

async fn questions_are_asked_once_and_answered_once<S: Store>(store: &S) {
    store.create_run(new_run("r11", "wf", &owner("a"), 60_000)).await.unwrap();
    let request = gate_request("r11", 1);
    assert!(store.ask(&request).unwrap());
    assert!(!store.ask(&Request { message: "asked again".to_owned(), ..request.clone() }).unwrap());
    let asked = store.questions("r11").unwrap();
    assert_eq!((asked.len(), asked[0].request.message.as_str(), asked[0].answer.clone()), (1, "Ship it?", None));

    let yes = Answer { approved: Some(true), value: None, comment: Some("looks good".to_owned()), operator: "alice".to_owned(), at_ms: 1_700_000_000_000 };
    assert!(store.answer("r11", 1, RequestKind::Gate, &yes).unwrap());
    let no = Answer { approved: Some(false), operator: "bob".to_owned(), ..yes.clone() };
    assert!(!store.answer("r11", 1, RequestKind::Gate, &no).unwrap(), "a question is answered once");
    assert!(!store.answer("r11", 2, RequestKind::Gate, &no).unwrap(), "nothing was asked at execution 2");
    let answered = store.questions("r11").unwrap();
    assert_eq!(answered[0].answer, Some(yes));
    assert!(store.questions("nope").unwrap().is_empty());
}

/// Two stores at the same place (as two processes would have): the second sees the first's runs and leases.
async fn a_second_store_at_the_same_place_sees_and_respects_the_first<S: Store>(first: &S, second: &S) {
    let fa = first.create_run(new_run("shared", "wf", &owner("a"), 60_000)).await.unwrap();
    first.end_step("shared", &fa, end(1, 1, Some(start(2, 1)))).await.unwrap();

    let run = second.load_run("shared").unwrap().unwrap();
    assert_eq!((run.state, run.open, run.next_seq), (json!({ "count": 1 }), Some(start(2, 1)), 3));
    assert_eq!(second.events("shared").unwrap().len(), 2);
    assert!(matches!(second.acquire_lease("shared", &owner("b"), 60_000).unwrap(), LeaseResult::HeldBy(lease) if lease.owner.id == "a"));

    second.request("shared", Control::Pause).unwrap();
    assert_eq!(first.end_step("shared", &fa, end(2, 2, None)).await.unwrap(), Control::Pause);
    first.set_status("shared", &fa, RunStatus::Paused, None, None).await.unwrap();

    let LeaseResult::Acquired(fb) = second.acquire_lease("shared", &owner("b"), 60_000).unwrap() else { panic!("a released lease was refused") };
    second.set_status("shared", &fb, RunStatus::Completed, None, Some(json!({ "status": "completed" }))).await.unwrap();
    assert_eq!(first.load_run("shared").unwrap().unwrap().status, RunStatus::Completed);
    let answered = second.ask(&gate_request("shared", 2)).unwrap();
    assert!(answered && !first.ask(&gate_request("shared", 2)).unwrap(), "one question, whichever store asks");
}

/// Group commit: 200 runs of 20 steps written at once, every step recorded once, every run whole.
async fn group_commit_records_every_step_of_many_concurrent_runs_once<S: Store>(store: Arc<S>) {
    const RUNS: usize = 200;
    const STEPS: u64 = 20;
    let began = Instant::now();
    let tasks: Vec<_> = (0..RUNS)
        .map(|r| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let (id, driver) = (format!("run-{r:03}"), owner(&format!("executor-{r}")));
                let fence = store.create_run(new_run(&id, "bulk", &driver, 60_000)).await?;
                for seq in 1..=STEPS {
                    let next = (seq < STEPS).then(|| start(seq + 1, seq as usize % 3));
                    store.end_step(&id, &fence, end(seq, seq, next)).await?;
                }
                store.set_status(&id, &fence, RunStatus::Completed, None, Some(json!({ "status": "completed" }))).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let elapsed = began.elapsed();
    eprintln!("group commit: {RUNS} runs x {STEPS} steps in {elapsed:?} ({:?} per step)", elapsed / (RUNS as u32 * STEPS as u32));

    for r in 0..RUNS {
        let id = format!("run-{r:03}");
        let events = store.events(&id).unwrap();
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=STEPS).collect::<Vec<_>>(), "{id}");
        assert!(events.iter().all(|e| e.outcome == Some(StepOutcome::Completed)), "{id}");
        let run = store.load_run(&id).unwrap().unwrap();
        assert_eq!((run.status, run.open, run.next_seq, run.state), (RunStatus::Completed, None, STEPS + 1, json!({ "count": STEPS })), "{id}");
    }
    assert_eq!(store.list_runs(&RunFilter { workflow: Some("bulk".to_owned()), ..RunFilter::default() }).unwrap().len(), RUNS);
}

async fn a_refused_write_does_not_undo_the_rest_of_its_batch<S: Store>(store: Arc<S>) {
    let mut fences = Vec::new();
    for r in 0..50 {
        fences.push(store.create_run(new_run(&format!("run-{r}"), "wf", &owner("a"), 60_000)).await.unwrap());
    }
    // All queued before the writer answers any: valid ends interleaved with ends by a stranger.
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = Arc::clone(&store);
            let writer = if i % 2 == 0 { fences[i / 2].clone() } else { fence("stranger", 1) };
            tokio::spawn(async move { store.end_step(&format!("run-{}", i / 2), &writer, end(1, 1, None)).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    assert!(results.iter().step_by(2).all(Result::is_ok), "{results:?}");
    assert!(results.iter().skip(1).step_by(2).all(|result| matches!(result, Err(StoreError::LeaseLost { .. }))));
    for r in 0..50 {
        let run = store.load_run(&format!("run-{r}")).unwrap().unwrap();
        assert_eq!((run.open, run.state), (None, json!({ "count": 1 })));
    }
}

/// One test per rule and store: `rules` on one store, `pairs` on two stores
/// at the same place (not the memory store, which has no place), and
/// `concurrent` on a multi-thread runtime.
macro_rules! on_every_store {
    (rules: [$($rule:ident),* $(,)?], pairs: [$($pair:ident),* $(,)?], concurrent: [$($concurrent:ident),* $(,)?] $(,)?) => {
        mod sqlite_store {
            use super::*;
            $(
                #[tokio::test]
                async fn $rule() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$rule(&open_store(&store_path(&dir))).await;
                }
            )*
            $(
                #[tokio::test]
                async fn $pair() {
                    let dir = tempfile::tempdir().unwrap();
                    let first = open_store(&store_path(&dir));
                    super::$pair(&first, &open_store(&store_path(&dir))).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $concurrent() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$concurrent(Arc::new(open_store(&store_path(&dir)))).await;
                }
            )*
        }
        mod postgres_store {
            use super::*;
            $(
                #[tokio::test]
                async fn $rule() {
                    let Some(schema) = TestSchema::new(stringify!($rule)) else { return };
                    super::$rule(&open_postgres(&schema.url)).await;
                }
            )*
            $(
                #[tokio::test]
                async fn $pair() {
                    let Some(schema) = TestSchema::new(stringify!($pair)) else { return };
                    let first = open_postgres(&schema.url);
                    super::$pair(&first, &open_postgres(&schema.url)).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $concurrent() {
                    let Some(schema) = TestSchema::new(stringify!($concurrent)) else { return };
                    super::$concurrent(Arc::new(open_postgres(&schema.url))).await;
                }
            )*
        }
        mod memory_store {
            use super::*;
            $(
                #[tokio::test]
                async fn $rule() {
                    super::$rule(&MemoryStore::new()).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $concurrent() {
                    super::$concurrent(Arc::new(MemoryStore::new())).await;
                }
            )*
        }
    };
}

on_every_store!(
    rules: [
        steps_are_recorded_and_reflected_in_the_run,
        ending_a_step_twice_is_refused_and_changes_nothing,
        only_the_lease_holder_writes,
        leases_go_to_whoever_may_take_them,
        a_driver_that_lost_its_lease_cannot_write,
        requests_reach_the_driver_between_steps,
        a_failed_run_resumes_with_a_new_execution,
        runs_are_found_and_listed_newest_first,
        questions_are_asked_once_and_answered_once,
        a_dead_drivers_lease_is_taken_at_once,
        a_step_s_process_group_is_kept_while_it_is_open,
        requests_to_stop_now_are_read_while_a_step_runs,
    ],
    pairs: [a_second_store_at_the_same_place_sees_and_respects_the_first],
    concurrent: [group_commit_records_every_step_of_many_concurrent_runs_once, a_refused_write_does_not_undo_the_rest_of_its_batch],
);

fn open_postgres(url: &str) -> PostgresStore {
    PostgresStore::open(&PgLocation::parse(url).unwrap(), PostgresOptions::default()).unwrap()
}

#[test]
fn memory_store_is_not_durable_and_the_others_are() {
    let dir = tempfile::tempdir().unwrap();
    assert!(!MemoryStore::new().is_durable());
    assert!(open_store(&store_path(&dir)).is_durable());
    if let Some(schema) = TestSchema::new("durable") {
        assert!(open_postgres(&schema.url).is_durable());
    }
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
    assert_eq!(first.1.len(), 13, "five tables, eight indexes: {:?}", first.1);
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
        store.create_run(new_run("old-2", "wf", &owner("a"), 60_000)).await.unwrap();
    }
    // Back to version 1, as an older `workflow` left it: each run with its own copy of its definition, no epochs.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "ALTER TABLE step_events DROP COLUMN process_host; ALTER TABLE step_events DROP COLUMN process_group;
         ALTER TABLE runs DROP COLUMN lease_epoch;
         ALTER TABLE runs ADD COLUMN definition TEXT NOT NULL DEFAULT '';
         UPDATE runs SET definition = (SELECT definition FROM definitions WHERE hash = definition_hash);
         DROP TABLE definitions;
         DROP TABLE tokens; DROP INDEX runs_by_created; DROP INDEX runs_by_status_created; DROP INDEX runs_by_workflow_created; DROP INDEX runs_by_parent;
         ALTER TABLE runs DROP COLUMN source; DROP TABLE questions; ALTER TABLE runs DROP COLUMN cwd; PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);

    let store = open_store(&path);
    let run = store.load_run("old").unwrap().unwrap();
    assert_eq!((run.cwd, run.open, run.definition), (None, Some(start(1, 0)), json!({ "name": "wf" })));
    assert_eq!(run.lease.as_ref().map(|lease| lease.epoch), Some(0), "runs from before fencing start at epoch 0");
    // The old driver's lease is taken over under epoch 1, and only that fence writes.
    let LeaseResult::Acquired(taken) = store.acquire_lease("old", &owner("a"), 60_000).unwrap() else { panic!("its own lease was refused") };
    assert_eq!(taken, fence("a", 1));
    store.end_step("old", &taken, end(1, 1, None)).await.unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: u32 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
    assert_eq!(version, schema_version());
    // Both runs' copies became one definition.
    let definitions: (u32, String) = conn.query_row("SELECT count(*), max(hash) FROM definitions", [], |row| Ok((row.get(0)?, row.get(1)?))).unwrap();
    assert_eq!(definitions, (1, "hash-1".to_owned()));
}

/// `workflow serve` shipped first as SQLite version 5 (tokens and the run listing indexes); definitions
/// by hash, lease epochs and step process groups came after it as versions 6, 7 and 8. A store that
/// version 5 left is migrated on, keeping its runs and its tokens.
#[tokio::test]
async fn a_store_of_version_5_with_tokens_is_migrated_to_definitions_and_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    {
        let store = open_store(&path);
        store.create_run(new_run("v5", "wf", &owner("a"), 60_000)).await.unwrap();
        let token = TokenRecord { name: "alice".into(), hash: "ab".repeat(32), created_at_ms: 1, revoked_at_ms: None };
        assert!(store.add_token(&token).unwrap());
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "ALTER TABLE step_events DROP COLUMN process_host; ALTER TABLE step_events DROP COLUMN process_group;
         ALTER TABLE runs DROP COLUMN lease_epoch;
         ALTER TABLE runs ADD COLUMN definition TEXT NOT NULL DEFAULT '';
         UPDATE runs SET definition = (SELECT definition FROM definitions WHERE hash = definition_hash);
         DROP TABLE definitions; PRAGMA user_version = 5;",
    )
    .unwrap();
    drop(conn);

    assert_eq!(schema_version(), 8);
    let store = open_store(&path);
    let run = store.load_run("v5").unwrap().unwrap();
    assert_eq!((run.definition, run.lease.map(|lease| lease.epoch)), (json!({ "name": "wf" }), Some(0)));
    assert_eq!(store.tokens().unwrap().iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["alice"]);
    assert_eq!(store.runs_page(&RunPageQuery::default()).unwrap().len(), 1);
    // Version 8: the open step's process group is recorded, under the run's fence (epoch 0 from before fencing).
    let process = StepProcess { seq: 1, host: HOST.to_owned(), group: 4242 };
    store.record_process("v5", &fence("a", 0), process.clone()).await.unwrap();
    assert_eq!(store.open_process("v5").unwrap(), Some(process));
    drop(store);
    let version: u32 = rusqlite::Connection::open(&path).unwrap().pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
    assert_eq!(version, 8);
}

// ---------------------------------------------------------------------------
// The audit queries of docs/store.md, run against a store with known runs.
