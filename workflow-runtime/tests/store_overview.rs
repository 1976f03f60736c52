//! The reads `workflow serve`'s pages make, on every store (SQLite,
//! PostgreSQL and memory): pages of runs by
//! keyset (ties on the creation time broken by id, filters kept), a run's
//! children, counts by status, step durations, the questions runs wait on
//! now, and API tokens (only hashes; one active per name).

mod support;

use support::postgres::TestSchema;
use support::*;
use workflow_runtime::human::{Answer, Request, RequestKind};
use workflow_runtime::store::memory::MemoryStore;
use workflow_runtime::store::postgres::{PgLocation, PostgresOptions, PostgresStore};
use workflow_runtime::store::{RunCursor, RunPageQuery, RunStatus, Store, TokenRecord};

async fn pages_of_runs_follow_the_keyset_with_filters<S: Store>(store: &S) {
    let a = owner("a");
    // Ten runs created within a few milliseconds: many share a creation time.
    for i in 0..10 {
        let mut run = new_run(&format!("run-{i:02}"), if i % 2 == 0 { "even" } else { "odd" }, &a, 60_000);
        if i == 7 {
            run.parent_run_id = Some("run-02".into());
        }
        store.create_run(run).await.unwrap();
    }
    for i in [1, 4, 8] {
        store.set_status(&format!("run-{i:02}"), &fence("a", 1), RunStatus::Waiting, None, None).await.unwrap();
    }
    let all = store.runs_page(&RunPageQuery { limit: 100, ..RunPageQuery::default() }).unwrap();
    let order: Vec<(u64, String)> = all.iter().map(|r| (r.created_at_ms, r.id.clone())).collect();
    let mut sorted = order.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(order, sorted, "newest first, then by id");
    // Pages of three, each after the last of the one before, give every run once.
    let mut seen = Vec::new();
    let mut after: Option<RunCursor> = None;
    loop {
        let page = store.runs_page(&RunPageQuery { after: after.clone(), limit: 3, ..RunPageQuery::default() }).unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| RunCursor { created_at_ms: r.created_at_ms, id: r.id.clone() });
        seen.extend(page.into_iter().map(|r| r.id));
    }
    assert_eq!(seen, all.iter().map(|r| r.id.clone()).collect::<Vec<_>>());
    let waiting = store.runs_page(&RunPageQuery { status: Some(RunStatus::Waiting), ..RunPageQuery::default() }).unwrap();
    assert_eq!(waiting.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["run-08", "run-04", "run-01"]);
    let cursor = RunCursor { created_at_ms: waiting[0].created_at_ms, id: waiting[0].id.clone() };
    let odd_after = store.runs_page(&RunPageQuery { workflow: Some("even".into()), status: Some(RunStatus::Waiting), after: Some(cursor), limit: 5 }).unwrap();
    assert_eq!(odd_after.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["run-04"]);
    assert_eq!(store.child_runs("run-02").unwrap().iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["run-07"]);
    assert!(store.child_runs("run-07").unwrap().is_empty());
    let counts = store.run_counts().unwrap();
    assert_eq!(counts, [(RunStatus::Running, 7), (RunStatus::Waiting, 3)]);
}

async fn step_durations_count_ended_executions<S: Store>(store: &S) {
    let a = owner("a");
    let fa = store.create_run(new_run("r", "wf", &a, 60_000)).await.unwrap();
    let mut first = end(1, 1, Some(start(2, 1)));
    first.duration_ms = 40;
    store.end_step("r", &fa, first).await.unwrap();
    let mut second = end(2, 2, None);
    second.duration_ms = 700;
    store.end_step("r", &fa, second).await.unwrap();
    let durations = store.step_durations(&[10, 100, 1_000]).unwrap();
    assert_eq!((durations.at_most, durations.count, durations.sum_ms), (vec![0, 1, 2], 2, 740));
}

fn request(run: &str, seq: u64, kind: RequestKind) -> Request {
    Request {
        kind,
        run_id: run.into(),
        workflow: "wf".into(),
        step_id: format!("step-{}", seq - 1),
        seq,
        message: "Go on?".into(),
        input: None,
        permission: None,
        approvers: Vec::new(),
        measured: None,
    }
}

async fn open_questions_are_those_runs_wait_on_now<S: Store>(store: &S) {
    let a = owner("a");
    for id in ["waits", "moved-on", "answered", "cancelled"] {
        store.create_run(new_run(id, "wf", &a, 60_000)).await.unwrap();
    }
    // Each asks at its first step execution.
    for id in ["waits", "moved-on", "answered", "cancelled"] {
        assert!(store.ask(&request(id, 1, RequestKind::Gate)).unwrap());
    }
    let answer = Answer { approved: Some(true), value: None, comment: None, operator: "ann".into(), at_ms: 1 };
    assert!(store.answer("answered", 1, RequestKind::Gate, &answer).unwrap());
    // A question left behind by a run that went on (a prompt that timed out to its default) is not open.
    store.end_step("moved-on", &fence("a", 1), end(1, 1, Some(start(2, 1)))).await.unwrap();
    store.set_status("cancelled", &fence("a", 1), RunStatus::Cancelled, None, None).await.unwrap();
    store.set_status("waits", &fence("a", 1), RunStatus::Waiting, None, None).await.unwrap();
    let open = store.open_questions().unwrap();
    assert_eq!(open.iter().map(|q| q.request.run_id.as_str()).collect::<Vec<_>>(), ["waits"]);
    assert!(open[0].answer.is_none());
}

async fn tokens_keep_hashes_one_active_per_name<S: Store>(store: &S) {
    let token = |name: &str, hash: &str| TokenRecord { name: name.into(), hash: hash.into(), created_at_ms: 5, revoked_at_ms: None };
    assert!(store.add_token(&token("alice", "aa")).unwrap());
    assert!(!store.add_token(&token("alice", "bb")).unwrap(), "one active token per name");
    assert!(!store.add_token(&token("bob", "aa")).unwrap(), "a hash names one token");
    assert!(store.add_token(&token("bob", "cc")).unwrap());
    assert!(store.revoke_token("alice", 9).unwrap());
    assert!(!store.revoke_token("alice", 10).unwrap(), "nothing left to revoke");
    assert!(store.add_token(&token("alice", "dd")).unwrap(), "a new token once the old one is revoked");
    let tokens = store.tokens().unwrap();
    let summary: Vec<(&str, &str, Option<u64>)> = tokens.iter().map(|t| (t.name.as_str(), t.hash.as_str(), t.revoked_at_ms)).collect();
    assert_eq!(summary, [("alice", "aa", Some(9)), ("bob", "cc", None), ("alice", "dd", None)]);
}

macro_rules! on_every_store {
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
        mod postgres_store {
            $(
                #[tokio::test]
                async fn $rule() {
                    let Some(schema) = super::TestSchema::new(stringify!($rule)) else { return };
                    super::$rule(&super::open_postgres(&schema.url)).await;
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

on_every_store!(
    pages_of_runs_follow_the_keyset_with_filters,
    step_durations_count_ended_executions,
    open_questions_are_those_runs_wait_on_now,
    tokens_keep_hashes_one_active_per_name,
);

fn open_postgres(url: &str) -> PostgresStore {
    PostgresStore::open(&PgLocation::parse(url).unwrap(), PostgresOptions::default()).unwrap()
}
