//! The audit queries `docs/store.md` documents, in both SQL dialects, run
//! verbatim against a SQLite and a PostgreSQL store holding the same runs
//! with known inputs and outputs: both answer the same.

mod support;

use serde_json::{json, Value};
use support::*;
use workflow_runtime::human::{Answer, Request, RequestKind};
use workflow_runtime::store::postgres::{PgLocation, PostgresOptions, PostgresStore};
use workflow_runtime::store::{NewRun, RunStatus, StepEnd, StepOutcome, StepStart, Store};

const DOC: &str = include_str!("../../docs/store.md");

const RUNS_ON_A_DATE: &str = "SELECT id, workflow, status,
       json_extract(input, '$.operator') AS operator,
       json_extract(output, '$.duration_ms') AS duration_ms
FROM runs
WHERE date(created_at_ms / 1000, 'unixepoch') = '2026-11-21'
ORDER BY created_at_ms;";

const LAST_TWO_SIDE_BY_SIDE: &str = "WITH ranked AS (
  SELECT id, output, row_number() OVER (ORDER BY created_at_ms DESC, id DESC) AS n
  FROM runs
  WHERE workflow = 'deploy' AND output IS NOT NULL
)
SELECT newer.id AS newer_run, older.id AS older_run,
       json_extract(newer.output, '$.delta') AS newer_delta,
       json_extract(older.output, '$.delta') AS older_delta,
       json_extract(newer.output, '$.state_after') AS newer_state_after,
       json_extract(older.output, '$.state_after') AS older_state_after
FROM ranked AS newer
JOIN ranked AS older ON newer.n = 1 AND older.n = 2;";

const LAST_TWO_BY_VARIABLE: &str = "WITH ranked AS (
  SELECT id, output, row_number() OVER (ORDER BY created_at_ms DESC, id DESC) AS n
  FROM runs
  WHERE workflow = 'deploy' AND output IS NOT NULL
)
SELECT variable.key AS variable,
       variable.value AS newer_value,
       json_extract(older.output, '$.state_after.\"' || variable.key || '\"') AS older_value
FROM ranked AS newer
JOIN ranked AS older ON newer.n = 1 AND older.n = 2
JOIN json_each(newer.output, '$.state_after') AS variable
WHERE variable.value IS NOT json_extract(older.output, '$.state_after.\"' || variable.key || '\"')
ORDER BY variable.key;";

const EXPECTED_NOT_ACTUAL: &str = "SELECT id, workflow,
       json_extract(input, '$.expected_work') AS expected_work,
       json_extract(output, '$.steps_executed') AS steps_executed,
       json_extract(output, '$.anomalies') AS anomalies
FROM runs
WHERE json_array_length(json_extract(output, '$.anomalies')) > 0
ORDER BY created_at_ms DESC;";

const STEPS_OF_A_RUN: &str = "SELECT seq, step_id, outcome, attempts, duration_ms, error
FROM step_events
WHERE run_id = '0193a1b2-0003-7000-8000-000000000003'
ORDER BY seq;";

const NOT_OVER: &str = "SELECT id, workflow, status, reason, lease_owner, lease_pid, lease_host,
       datetime(lease_until_ms / 1000, 'unixepoch') AS lease_until
FROM runs
WHERE status IN ('running', 'paused', 'waiting')
ORDER BY created_at_ms;";

const DECISIONS_LAST_WEEK: &str = "SELECT run_id, step_id, kind, operator, json_extract(answer, '$.approved') AS approved,
       datetime(answered_at_ms / 1000, 'unixepoch') AS at
FROM questions
WHERE answered_at_ms >= (strftime('%s', 'now', '-7 days') * 1000)
ORDER BY answered_at_ms DESC;";

// The same questions in PostgreSQL's dialect (`jsonb` operators, `to_timestamp`).

const PG_RUNS_ON_A_DATE: &str = "SELECT id, workflow, status,
       input ->> 'operator' AS operator,
       (output ->> 'duration_ms')::bigint AS duration_ms
FROM runs
WHERE (to_timestamp(created_at_ms / 1000.0) AT TIME ZONE 'UTC')::date = '2026-11-21'
ORDER BY created_at_ms;";

const PG_LAST_TWO_SIDE_BY_SIDE: &str = "WITH ranked AS (
  SELECT id, output, row_number() OVER (ORDER BY created_at_ms DESC, id DESC) AS n
  FROM runs
  WHERE workflow = 'deploy' AND output IS NOT NULL
)
SELECT newer.id AS newer_run, older.id AS older_run,
       newer.output -> 'delta' AS newer_delta,
       older.output -> 'delta' AS older_delta,
       newer.output -> 'state_after' AS newer_state_after,
       older.output -> 'state_after' AS older_state_after
FROM ranked AS newer
JOIN ranked AS older ON newer.n = 1 AND older.n = 2;";

const PG_LAST_TWO_BY_VARIABLE: &str = "WITH ranked AS (
  SELECT id, output, row_number() OVER (ORDER BY created_at_ms DESC, id DESC) AS n
  FROM runs
  WHERE workflow = 'deploy' AND output IS NOT NULL
)
SELECT variable.key AS variable,
       variable.value AS newer_value,
       older.output -> 'state_after' -> variable.key AS older_value
FROM ranked AS newer
JOIN ranked AS older ON newer.n = 1 AND older.n = 2
CROSS JOIN LATERAL jsonb_each(newer.output -> 'state_after') AS variable
WHERE variable.value IS DISTINCT FROM older.output -> 'state_after' -> variable.key
ORDER BY variable.key;";

const PG_EXPECTED_NOT_ACTUAL: &str = "SELECT id, workflow,
       input -> 'expected_work' AS expected_work,
       (output ->> 'steps_executed')::bigint AS steps_executed,
       output -> 'anomalies' AS anomalies
FROM runs
WHERE jsonb_array_length(output -> 'anomalies') > 0
ORDER BY created_at_ms DESC;";

const PG_NOT_OVER: &str = "SELECT id, workflow, status, reason, lease_owner, lease_pid, lease_host,
       to_timestamp(lease_until_ms / 1000.0) AS lease_until
FROM runs
WHERE status IN ('running', 'paused', 'waiting')
ORDER BY created_at_ms;";

const PG_DECISIONS_LAST_WEEK: &str = "SELECT run_id, step_id, kind, operator, answer -> 'approved' AS approved,
       to_timestamp(answered_at_ms / 1000.0) AS at
FROM questions
WHERE answered_at_ms >= extract(epoch FROM now() - interval '7 days') * 1000
ORDER BY answered_at_ms DESC;";

/// A store's dialect: how it back-dates a run, and how it spells a JSON `true` in a query's answer.
#[derive(Clone, Copy, PartialEq)]
enum Dialect {
    Sqlite,
    Postgres,
}

const R1: &str = "0193a1b2-0001-7000-8000-000000000001";
const R2: &str = "0193a1b2-0002-7000-8000-000000000002";
const R3: &str = "0193a1b2-0003-7000-8000-000000000003";
const R4: &str = "0193a1b2-0004-7000-8000-000000000004";
const R5: &str = "0193a1b2-0005-7000-8000-000000000005";

/// A finished run of `workflow`: started by `operator` at `created` (UTC), its steps `(step id, outcome, attempts, ms, error)`.
struct AuditRun {
    id: &'static str,
    workflow: &'static str,
    operator: &'static str,
    created: &'static str,
    expected_work: Value,
    steps: Vec<(&'static str, StepOutcome, u32, u64, Option<&'static str>)>,
    output: Option<Value>,
}

fn audit_runs() -> Vec<AuditRun> {
    let output = |status: &str, duration_ms: u64, executed: u64, failed: u64, state_after: Value, delta: Value, anomalies: Value| {
        json!({
            "status": status, "duration_ms": duration_ms, "steps_executed": executed, "steps_completed": executed - failed,
            "steps_failed": failed, "state_after": state_after, "delta": delta, "anomalies": anomalies,
        })
    };
    let ok = |id| (id, StepOutcome::Completed, 1, 30, None);
    vec![
        AuditRun {
            id: R1,
            workflow: "deploy",
            operator: "alice",
            created: "2026-11-20 23:59:59.999",
            expected_work: json!(["build", "verify", "release"]),
            steps: vec![ok("build"), ok("verify"), ok("release")],
            output: Some(output(
                "completed",
                80_000,
                3,
                0,
                json!({ "healthy": true, "replicas": 3, "version": "1.4" }),
                json!({ "version": ["1.3", "1.4"] }),
                json!([]),
            )),
        },
        AuditRun {
            id: R2,
            workflow: "deploy",
            operator: "alice",
            created: "2026-11-21 09:00:00.000",
            expected_work: json!(["build", "verify", "release"]),
            steps: vec![ok("build"), ok("verify"), ok("release")],
            output: Some(output(
                "completed",
                95_000,
                3,
                0,
                json!({ "healthy": true, "replicas": 3, "version": "1.5" }),
                json!({ "version": ["1.4", "1.5"] }),
                json!([]),
            )),
        },
        AuditRun {
            id: R3,
            workflow: "deploy",
            operator: "bob",
            created: "2026-11-21 17:30:00.000",
            expected_work: json!(["build", "verify", "release"]),
            steps: vec![ok("build"), ("verify", StepOutcome::Failed, 3, 11, Some("health check failed"))],
            output: Some(output(
                "failed",
                41_000,
                2,
                1,
                json!({ "healthy": false, "replicas": 4, "version": "1.5" }),
                json!({ "healthy": [true, false], "replicas": [3, 4] }),
                json!(["step verify failed", "expected 3 steps, executed 2"]),
            )),
        },
        AuditRun {
            id: R4,
            workflow: "backup",
            operator: "alice",
            created: "2026-11-22 00:00:00.000",
            expected_work: json!(["db", "files", "verify", "prune"]),
            steps: vec![ok("db"), ok("files"), ok("verify"), ok("verify"), ok("prune")],
            output: Some(output("completed", 120_000, 5, 0, json!({ "pruned": 12 }), json!({ "pruned": [0, 12] }), json!(["expected 4 steps, executed 5"]))),
        },
        AuditRun {
            id: R5,
            workflow: "backup",
            operator: "carol",
            created: "2026-11-21 12:00:00.000",
            expected_work: json!(["db", "files", "verify", "prune"]),
            steps: vec![ok("db")],
            output: None,
        },
    ]
}

/// Creates the run through the store (it is back-dated later with SQL: the store stamps the real time).
async fn record<S: Store>(store: &S, run: &AuditRun) {
    let driver = owner(&format!("exec-{}", run.operator));
    let step = |seq: u64| StepStart { seq, step: seq as usize - 1, step_id: run.steps[seq as usize - 1].0.to_owned() };
    let input = json!({
        "action": "run", "workflow": run.workflow, "mode": "unattended", "triggered_by": "schedule", "operator": run.operator,
        "parent_run_id": null, "state_snapshot": {}, "expected_work": run.expected_work, "variables": { "env": "prod" },
    });
    let fence = store.create_run(NewRun { input, first: Some(step(1)), ..new_run(run.id, run.workflow, &driver, 600_000) }).await.unwrap();
    let last = run.steps.len() as u64;
    let finished = run.output.is_some();
    for (seq, &(_, outcome, attempts, duration_ms, error)) in (1..).zip(&run.steps) {
        if seq == last && !finished {
            break;
        }
        let next = (seq < last).then(|| step(seq + 1));
        let end = StepEnd { outcome, attempts, duration_ms, error: error.map(str::to_owned), ..end(seq, seq, next) };
        store.end_step(run.id, &fence, end).await.unwrap();
    }
    if let Some(output) = &run.output {
        let status = RunStatus::parse(output["status"].as_str().unwrap()).unwrap();
        store.set_status(run.id, &fence, status, None, Some(output.clone())).await.unwrap();
    }
}

/// The rows a query returns, as JSON; text holding a JSON object or array is parsed.
fn query(conn: &rusqlite::Connection, sql: &str) -> Vec<Vec<Value>> {
    use rusqlite::types::ValueRef;
    let mut statement = conn.prepare(sql).unwrap();
    let columns = statement.column_count();
    let rows = statement.query_map([], |row| {
        (0..columns)
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => json!(n),
                    ValueRef::Real(x) => json!(x),
                    ValueRef::Text(text) => {
                        let text = std::str::from_utf8(text).unwrap();
                        match text.as_bytes().first() {
                            Some(b'{' | b'[') => serde_json::from_str(text).unwrap(),
                            _ => json!(text),
                        }
                    }
                    ValueRef::Blob(_) => panic!("no blobs in the store"),
                })
            })
            .collect::<rusqlite::Result<Vec<_>>>()
    });
    rows.unwrap().map(Result::unwrap).collect()
}

/// The rows a PostgreSQL query returns, as JSON: each value is read as JSON when it is JSON (numbers, booleans, objects), else as text.
fn query_postgres(url: &str, schema: &str, sql: &str) -> Vec<Vec<Value>> {
    support::postgres::sql(url, &format!("SET search_path TO {schema}; {sql}"))
        .into_iter()
        .map(|row| row.into_iter().map(|value| value.map_or(Value::Null, |text| serde_json::from_str(&text).unwrap_or(Value::String(text)))).collect())
        .collect()
}

/// Records the sample runs and two decisions by people (one a month ago, one now).
async fn record_sample<S: Store>(store: &S, runs: &[AuditRun]) {
    for run in runs {
        record(store, run).await;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    for (run, step, operator, approved, at) in [(R4, "verify", "dave", false, now - 30 * 86_400_000), (R5, "prune", "erin", true, now)] {
        let request = Request {
            kind: RequestKind::Gate,
            run_id: run.to_string(),
            workflow: "backup".to_string(),
            step_id: step.to_string(),
            seq: 3,
            message: "Go on?".to_string(),
            input: None,
            permission: None,
            approvers: Vec::new(),
            measured: None,
        };
        assert!(store.ask(&request).unwrap());
        let answer = Answer { approved: Some(approved), value: None, comment: None, operator: operator.to_string(), at_ms: at };
        assert!(store.answer(run, 3, RequestKind::Gate, &answer).unwrap());
    }
}

/// The answers both dialects must give; `query` runs one query of the dialect.
fn check_answers(dialect: Dialect, runs: &[AuditRun], query: impl Fn(&str) -> Vec<Vec<Value>>) {
    let pick = |sqlite: &'static str, postgres: &'static str| if dialect == Dialect::Sqlite { sqlite } else { postgres };
    // SQLite's JSON functions answer `true`/`false` as 1/0.
    let boolean = |b: bool| if dialect == Dialect::Sqlite { json!(b as i32) } else { json!(b) };

    assert_eq!(
        query(pick(RUNS_ON_A_DATE, PG_RUNS_ON_A_DATE)),
        [
            vec![json!(R2), json!("deploy"), json!("completed"), json!("alice"), json!(95_000)],
            vec![json!(R5), json!("backup"), json!("running"), json!("carol"), Value::Null],
            vec![json!(R3), json!("deploy"), json!("failed"), json!("bob"), json!(41_000)],
        ]
    );

    let (r2, r3) = (runs[1].output.as_ref().unwrap(), runs[2].output.as_ref().unwrap());
    assert_eq!(
        query(pick(LAST_TWO_SIDE_BY_SIDE, PG_LAST_TWO_SIDE_BY_SIDE)),
        [vec![json!(R3), json!(R2), r3["delta"].clone(), r2["delta"].clone(), r3["state_after"].clone(), r2["state_after"].clone()]]
    );

    assert_eq!(
        query(pick(LAST_TWO_BY_VARIABLE, PG_LAST_TWO_BY_VARIABLE)),
        [vec![json!("healthy"), boolean(false), boolean(true)], vec![json!("replicas"), json!(4), json!(3)]]
    );

    assert_eq!(
        query(pick(EXPECTED_NOT_ACTUAL, PG_EXPECTED_NOT_ACTUAL)),
        [
            vec![json!(R4), json!("backup"), runs[3].expected_work.clone(), json!(5), json!(["expected 4 steps, executed 5"])],
            vec![json!(R3), json!("deploy"), runs[2].expected_work.clone(), json!(2), json!(["step verify failed", "expected 3 steps, executed 2"])],
        ]
    );

    // The same SQL in both dialects.
    assert_eq!(
        query(STEPS_OF_A_RUN),
        [
            vec![json!(1), json!("build"), json!("completed"), json!(1), json!(30), Value::Null],
            vec![json!(2), json!("verify"), json!("failed"), json!(3), json!(11), json!("health check failed")],
        ]
    );

    let decisions = query(pick(DECISIONS_LAST_WEEK, PG_DECISIONS_LAST_WEEK));
    assert_eq!(decisions.len(), 1, "the month-old decision is left out: {decisions:?}");
    assert_eq!(decisions[0][..5], [json!(R5), json!("prune"), json!("gate"), json!("erin"), boolean(true)]);

    let not_over = query(pick(NOT_OVER, PG_NOT_OVER));
    assert_eq!(not_over.len(), 1);
    assert_eq!(not_over[0][..7], [json!(R5), json!("backup"), json!("running"), Value::Null, json!("exec-carol"), json!(std::process::id()), json!(HOST)]);
    assert!(not_over[0][7].as_str().is_some_and(|until| until.starts_with("20") && until.len() >= "2026-11-21 12:10:00".len()), "{:?}", not_over[0][7]);
}

#[test]
fn the_documented_queries_are_the_tested_ones() {
    let sqlite = [RUNS_ON_A_DATE, LAST_TWO_SIDE_BY_SIDE, LAST_TWO_BY_VARIABLE, EXPECTED_NOT_ACTUAL, STEPS_OF_A_RUN, NOT_OVER, DECISIONS_LAST_WEEK];
    let postgres = [PG_RUNS_ON_A_DATE, PG_LAST_TWO_SIDE_BY_SIDE, PG_LAST_TWO_BY_VARIABLE, PG_EXPECTED_NOT_ACTUAL, PG_NOT_OVER, PG_DECISIONS_LAST_WEEK];
    for sql in sqlite.iter().chain(&postgres) {
        assert!(DOC.contains(sql), "docs/store.md no longer contains this query verbatim:\n{sql}");
    }
    assert_eq!(DOC.matches("```sql").count(), sqlite.len() + postgres.len(), "every documented query is tested here");
}

#[tokio::test]
async fn the_documented_audit_queries_answer_their_questions_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let runs = audit_runs();
    record_sample(&open_store(&path), &runs).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    for run in &runs {
        conn.execute("UPDATE runs SET created_at_ms = CAST(round((julianday(?2) - 2440587.5) * 86400000) AS INTEGER) WHERE id = ?1", [run.id, run.created])
            .unwrap();
    }
    let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    check_answers(Dialect::Sqlite, &runs, |sql| query(&conn, sql));
}

#[tokio::test]
async fn the_documented_audit_queries_answer_their_questions_in_postgres() {
    let Some(schema) = support::postgres::TestSchema::new("audit_queries") else { return };
    let runs = audit_runs();
    {
        let store = PostgresStore::open(&PgLocation::parse(&schema.url).unwrap(), PostgresOptions::default()).unwrap();
        record_sample(&store, &runs).await;
    }
    for run in &runs {
        schema.sql(&format!(
            "UPDATE {}.runs SET created_at_ms = (extract(epoch FROM timestamp '{}' AT TIME ZONE 'UTC') * 1000)::bigint WHERE id = '{}'",
            schema.name, run.created, run.id
        ));
    }
    let url = support::postgres::server_url();
    check_answers(Dialect::Postgres, &runs, |sql| query_postgres(&url, &schema.name, sql));
}
