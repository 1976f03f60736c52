//! The audit record of a run: metrics measured for real (shell, SQLite,
//! PostgreSQL), expected against actual work on the seed batch workflow,
//! on-completion triggers, and the shape of the two records.

use serde_json::{json, Map, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use workflow_core::ir::{MetricIr, WorkflowIr};
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;
use workflow_runtime::audit::*;

fn shell(name: &str, command: &str) -> MetricIr {
    MetricIr { name: name.into(), shell: Some(command.into()), sql: None, url: None }
}

fn sql(name: &str, query: &str, url: &str) -> MetricIr {
    MetricIr { name: name.into(), shell: None, sql: Some(query.into()), url: Some(url.into()) }
}

fn snapshot(v: Value) -> Snapshot {
    v.as_object().cloned().expect("a JSON object")
}

/// Compiles YAML files as one set and returns the IR of the first.
fn compile(files: &[(&str, &str)]) -> WorkflowIr {
    let sources: Vec<_> = files.iter().map(|(path, text)| Source::new(*path, *text)).collect();
    compile_sources(&sources, &ReadOptions::default()).unwrap_or_else(|d| panic!("{}", d.render())).remove(0).ir
}

/// The seed batch workflow, with the workflow its trigger starts.
fn seed_batch() -> WorkflowIr {
    compile(&[
        ("orchestrated-batch.yaml", include_str!("../../tests/workflows/orchestrated-batch.yaml")),
        ("extract-skills.yaml", include_str!("../../tests/workflows/extract-skills.yaml")),
    ])
}

fn write_counts(dir: &Path, total: u32, summarized: u32) {
    std::fs::create_dir_all(dir.join("counts")).unwrap();
    std::fs::write(dir.join("counts/total"), format!("{total}\n")).unwrap();
    std::fs::write(dir.join("counts/summarized"), format!("{summarized}\n")).unwrap();
}

// ---------------------------------------------------------------- shell

#[tokio::test]
async fn shell_metrics_read_numbers_and_text_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    write_counts(dir.path(), 847, 288);
    let metrics = [
        shell("postings_total", "cat counts/total"),
        shell("postings_with_summary", "cat counts/summarized"),
        shell("ratio", "echo '  0.25 '"),
        shell("branch", "printf 'main\\n'"),
    ];
    let (snap, errors) = take_snapshot(&metrics, dir.path()).await;
    assert_eq!(errors, vec![]);
    assert_eq!(Value::Object(snap.clone()), json!({"postings_total": 847, "postings_with_summary": 288, "ratio": 0.25, "branch": "main"}));
}

#[tokio::test]
async fn a_failing_command_is_an_error_of_its_metric_only() {
    let dir = tempfile::tempdir().unwrap();
    write_counts(dir.path(), 847, 288);
    let metrics = [shell("postings_total", "cat counts/total"), shell("open_prs", "cat counts/missing"), shell("exit_three", "exit 3")];
    let (snap, errors) = take_snapshot(&metrics, dir.path()).await;
    assert_eq!(Value::Object(snap), json!({"postings_total": 847, "open_prs": null, "exit_three": null}));
    assert_eq!(errors.iter().map(|e| e.metric.as_str()).collect::<Vec<_>>(), ["open_prs", "exit_three"]);
    assert!(errors[0].message.contains("exited with status 1") && errors[0].message.contains("No such file"), "{}", errors[0]);
    assert_eq!(errors[1].message, "`exit 3` exited with status 3");
    assert!(errors[0].to_string().starts_with("metric `open_prs`: `cat counts/missing`"), "{}", errors[0]);
}

#[tokio::test]
async fn a_slow_command_times_out_and_its_children_are_stopped() {
    let dir = tempfile::tempdir().unwrap();
    // The background job outlives `sh` unless the whole process group is killed.
    let metrics = [shell("slow", "(sleep 1; touch late) & wait"), shell("sleepy", "sleep 5"), shell("quick", "echo 1")];
    let started = Instant::now();
    let (snap, errors) = take_snapshot_with_timeout(&metrics, dir.path(), Duration::from_millis(200)).await;
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(Value::Object(snap), json!({"slow": null, "sleepy": null, "quick": 1}));
    assert_eq!(
        errors,
        vec![
            MetricError { metric: "slow".into(), message: "`(sleep 1; touch late) & wait` did not finish within 200ms".into() },
            MetricError { metric: "sleepy".into(), message: "`sleep 5` did not finish within 200ms".into() },
        ]
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!dir.path().join("late").exists(), "the timed-out command's background job kept running");
}

// ---------------------------------------------------------------- SQLite

#[tokio::test]
async fn sqlite_metrics_count_rows_of_a_real_database_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ops.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("create table deploys (id integer primary key, env text); insert into deploys (env) values ('prod'), ('prod'), ('staging');")
            .unwrap();
    }
    let absolute = format!("sqlite://{}", db.display());
    let metrics = [
        sql("deploys", "select count(*) from deploys", "sqlite://ops.db"),
        sql("prod_share", "select avg(env = 'prod') from deploys", &absolute),
        sql("last_env", "select env from deploys order by id desc limit 1", "sqlite://ops.db"),
        sql("nothing", "select null", "sqlite://ops.db"),
        sql("two_columns", "select id, env from deploys limit 1", "sqlite://ops.db"),
        sql("many_rows", "select id from deploys", "sqlite://ops.db"),
        sql("no_rows", "select id from deploys where env = 'dev'", "sqlite://ops.db"),
        sql("sneaky", "delete from deploys returning id", "sqlite://ops.db"),
        sql("missing_db", "select 1", "sqlite://nope.db"),
        sql("mysql", "select 1", "mysql://localhost/db"),
    ];
    let (snap, errors) = take_snapshot(&metrics, dir.path()).await;
    let measured: Value = metrics[..4].iter().map(|m| (m.name.clone(), snap[&m.name].clone())).collect::<Map<_, _>>().into();
    assert_eq!(measured, json!({"deploys": 3, "prod_share": 2.0 / 3.0, "last_env": "staging", "nothing": null}));
    let failed: Vec<(&str, &str)> = errors.iter().map(|e| (e.metric.as_str(), e.message.as_str())).collect();
    let expect_error = |metric: &str, fragment: &str| {
        let found = failed.iter().find(|(m, _)| *m == metric).unwrap_or_else(|| panic!("no error for {metric}: {failed:?}"));
        assert!(found.1.contains(fragment), "{metric}: {}", found.1);
        assert_eq!(snap[metric], Value::Null);
    };
    expect_error("two_columns", "must return one column, it returns 2");
    expect_error("many_rows", "must return one row");
    expect_error("no_rows", "returned no row");
    expect_error("sneaky", "readonly");
    expect_error("missing_db", "cannot open SQLite database");
    expect_error("mysql", "unsupported database URL scheme `mysql`");
    assert_eq!(errors.len(), 6);

    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = conn.query_row("select count(*) from deploys", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 3, "measuring must not change the database");
}

// ---------------------------------------------------------------- PostgreSQL

/// A URL of the test server: user `postgres`, else the current user (trust auth).
/// The server is part of the test environment: not reaching it is a failure.
async fn postgres_url() -> String {
    let mut users = vec!["postgres".to_string()];
    if let Ok(user) = std::env::var("USER") {
        users.push(user);
    }
    let mut failures = Vec::new();
    for user in users {
        let url = format!("postgres://{user}@127.0.0.1:5432/test");
        match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            Ok(_) => return url,
            Err(e) => failures.push(format!("{url}: {e}")),
        }
    }
    panic!("the PostgreSQL test server is unreachable (the audit tests need it at 127.0.0.1:5432, database `test`): {failures:?}");
}

async fn psql(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
}

#[tokio::test]
async fn postgres_metrics_read_one_value_in_a_read_only_transaction() {
    let url = postgres_url().await;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let table = format!("audit_metric_{}_{nanos}", std::process::id());
    psql(&url, &format!("create table {table} (n bigint not null); insert into {table} values (1), (2), (3), (4);")).await;

    let alt = url.replacen("postgres://", "postgresql://", 1);
    let metrics = [
        sql("rows", &format!("select count(*) from {table}"), &url),
        sql("mean", &format!("select avg(n) from {table}"), &alt),
        sql("sum", &format!("select sum(n) from {table}"), &url),
        sql("ratio", "select 0.5::float8", &url),
        sql("label", "select 'batch'::text", &url),
        sql("nothing", "select null::int", &url),
        sql("two_rows", &format!("select n from {table} where n < 3"), &url),
        sql("sneaky", &format!("delete from {table} returning n"), &url),
        sql("two_statements", &format!("select 1; drop table {table}"), &url),
        sql("bad_sql", "select frobnicate()", &url),
    ];
    let (snap, errors) = take_snapshot(&metrics, Path::new(".")).await;

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let left: i64 = client.query_one(&format!("select count(*) from {table}"), &[]).await.unwrap().get(0);
    client.batch_execute(&format!("drop table {table}")).await.unwrap();

    assert_eq!(left, 4, "measuring must not change the database");
    let measured: Value = metrics[..6].iter().map(|m| (m.name.clone(), snap[&m.name].clone())).collect::<Map<_, _>>().into();
    assert_eq!(measured, json!({"rows": 4, "mean": 2.5, "sum": 10, "ratio": 0.5, "label": "batch", "nothing": null}));
    let failed: Vec<(&str, &str)> = errors.iter().map(|e| (e.metric.as_str(), e.message.as_str())).collect();
    assert_eq!(failed.len(), 4, "{failed:?}");
    assert!(failed[0].0 == "two_rows" && failed[0].1.contains("must return one row, it returns 2"), "{failed:?}");
    assert!(failed[1].0 == "sneaky" && failed[1].1.contains("read-only transaction"), "{failed:?}");
    assert!(failed[2].0 == "two_statements" && failed[2].1.contains("multiple commands"), "{failed:?}");
    assert!(failed[3].0 == "bad_sql" && failed[3].1.contains("frobnicate"), "{failed:?}");
    for (metric, _) in failed {
        assert_eq!(snap[metric], Value::Null);
    }
}

#[tokio::test]
async fn an_unreachable_postgres_server_is_a_metric_error() {
    // Port 1 on localhost refuses connections.
    let metrics = [sql("rows", "select 1", "postgres://nobody:secret@127.0.0.1:1/test")];
    let (snap, errors) = take_snapshot_with_timeout(&metrics, Path::new("."), Duration::from_secs(5)).await;
    assert_eq!(snap["rows"], Value::Null);
    assert!(errors[0].message.starts_with("cannot connect to PostgreSQL"), "{}", errors[0]);
    assert!(!errors[0].message.contains("secret"), "the password leaked: {}", errors[0]);
}

// ---------------------------------------------------------------- expected work

/// The seed batch: 847 postings, 288 summarized. The run should summarize the other 559.
#[tokio::test]
async fn the_seed_batch_expects_the_unsummarized_postings_to_be_summarized() {
    let ir = seed_batch();
    let dir = tempfile::tempdir().unwrap();
    write_counts(dir.path(), 847, 288);
    let (before, errors) = take_snapshot(&ir.snapshot, dir.path()).await;
    assert_eq!(errors, vec![]);
    let (expected, expect_errors) = expected_work(&ir.expect, &before, &Map::new());
    assert_eq!((Value::Object(expected.clone()), expect_errors.clone()), (json!({"postings_with_summary": 559}), vec![]));

    // The run did all of it.
    write_counts(dir.path(), 847, 847);
    let (after, after_errors) = take_snapshot(&ir.snapshot, dir.path()).await;
    let change = delta(&before, &after);
    assert_eq!(Value::Object(change.clone()), json!({"postings_total": 0, "postings_with_summary": 559}));
    let all_errors: Vec<MetricError> = errors.iter().chain(&expect_errors).chain(&after_errors).cloned().collect();
    assert_eq!(anomalies(&expected, &change, &all_errors), vec![]);

    // The run fell short: 800 summarized, +512 instead of +559.
    write_counts(dir.path(), 847, 800);
    let (after, _) = take_snapshot(&ir.snapshot, dir.path()).await;
    let change = delta(&before, &after);
    assert_eq!(
        anomalies(&expected, &change, &[]),
        vec![Anomaly {
            metric: "postings_with_summary".into(),
            expected: json!(559),
            actual: json!(512),
            message: "expected `postings_with_summary` to change by +559, but it changed by +512".into(),
        }]
    );
}

#[test]
fn expectations_read_variables_and_report_what_they_cannot_compute() {
    let ir = compile(&[(
        "w.yaml",
        "name: w\nvariables:\n  batch: 50\n  scale: 0.5\nsnapshot:\n  done: 'cat done'\n  todo: 'cat todo'\n  label: 'echo x'\n\
         expect:\n  done: \"batch * scale\"\n  todo: \"todo - batch\"\n  label: \"label\"\nsteps:\n  - id: s\n    action: shell\n    command: 'true'\n",
    )]);
    let variables = snapshot(json!({"batch": 50, "scale": 0.5}));
    let before = snapshot(json!({"done": 10, "todo": null, "label": "x"}));
    let (expected, errors) = expected_work(&ir.expect, &before, &variables);
    assert_eq!(Value::Object(expected.clone()), json!({"done": 25.0, "todo": null, "label": null}));
    assert_eq!(
        errors,
        vec![
            MetricError {
                metric: "todo".into(),
                message: "cannot compute the expected change `before.todo - var.batch`: metric `todo` was not measured before the run".into()
            },
            MetricError { metric: "label".into(), message: "cannot compute the expected change `before.label`: it must be a number, found \"x\"".into() },
        ]
    );

    // Whatever went wrong with a metric is one anomaly, messages joined; the others are compared.
    let measure_error = MetricError { metric: "todo".into(), message: "`cat todo` exited with status 1".into() };
    let change = snapshot(json!({"done": 25, "todo": null, "label": null}));
    let all: Vec<MetricError> = errors.iter().cloned().chain([measure_error]).collect();
    let found = anomalies(&expected, &change, &all);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!((found[0].metric.as_str(), &found[0].expected, &found[0].actual), ("todo", &json!(null), &json!(null)));
    assert!(found[0].message.contains("not measured before the run; `cat todo` exited with status 1"), "{}", found[0].message);
    assert_eq!(found[1].metric, "label");
}

#[test]
fn deltas_subtract_numbers_only() {
    let before = snapshot(json!({"a": 10, "b": 1.5, "c": "main", "d": null}));
    let after = snapshot(json!({"a": 7, "b": 2, "c": "dev", "d": 3}));
    assert_eq!(Value::Object(delta(&before, &after)), json!({"a": -3, "b": 0.5, "c": null, "d": null}));
}

#[test]
fn float_changes_compare_with_a_tolerance() {
    let expected = snapshot(json!({"load": 0.3}));
    assert_eq!(anomalies(&expected, &snapshot(json!({"load": 0.1 + 0.2})), &[]), vec![]);
    let found = anomalies(&expected, &snapshot(json!({"load": -0.1})), &[]);
    assert_eq!(found[0].message, "expected `load` to change by +0.3, but it changed by -0.1");
}

// ---------------------------------------------------------------- on-completion

fn trigger_workflows() -> WorkflowIr {
    let main = "name: main\nvariables:\n  retries: 3\nsnapshot:\n  x: 'echo 1'\n\
                on-completion:\n  - workflow: follow-up\n    condition: \"status == 'completed' && delta.x > 0\"\n\
                \x20 - workflow: cleanup\n    condition: \"retries > 2 || status == 'failed'\"\n\
                \x20 - workflow: notify\n\
                \x20 - workflow: follow-up\n    condition: \"after.x >= before.x\"\n\
                steps:\n  - id: s\n    action: shell\n    command: 'true'\n";
    let other = |name: &str| format!("name: {name}\nsteps:\n  - id: s\n    action: shell\n    command: 'true'\n");
    let (follow, cleanup, notify) = (other("follow-up"), other("cleanup"), other("notify"));
    compile(&[("main.yaml", main), ("follow-up.yaml", &follow), ("cleanup.yaml", &cleanup), ("notify.yaml", &notify)])
}

#[test]
fn triggers_start_the_workflows_whose_condition_holds() {
    let ir = trigger_workflows();
    let (before, after) = (snapshot(json!({"x": 1})), snapshot(json!({"x": 4})));
    let change = delta(&before, &after);
    let variables = snapshot(json!({"retries": 3}));
    let facts = RunFacts { status: "completed", before: &before, after: &after, delta: &change, variables: &variables };
    // `follow-up` is listed twice and started once.
    assert_eq!(triggered(&ir.on_completion, &facts), (vec!["follow-up".to_string(), "cleanup".into(), "notify".into()], vec![]));

    let variables = snapshot(json!({"retries": 0}));
    let facts = RunFacts { status: "failed", variables: &variables, ..facts };
    assert_eq!(triggered(&ir.on_completion, &facts), (vec!["cleanup".to_string(), "notify".into(), "follow-up".into()], vec![]));

    let after = snapshot(json!({"x": 0}));
    let change = delta(&before, &after);
    let facts = RunFacts { status: "completed", after: &after, delta: &change, variables: &variables, ..facts };
    assert_eq!(triggered(&ir.on_completion, &facts), (vec!["notify".to_string()], vec![]));
}

#[test]
fn a_condition_that_cannot_be_evaluated_is_reported_not_started() {
    let ir = trigger_workflows();
    // `x` could not be measured after the run.
    let (before, after) = (snapshot(json!({"x": 1})), snapshot(json!({"x": null})));
    let change = delta(&before, &after);
    let variables = snapshot(json!({"retries": 3}));
    let facts = RunFacts { status: "completed", before: &before, after: &after, delta: &change, variables: &variables };
    let (start, errors) = triggered(&ir.on_completion, &facts);
    assert_eq!(start, ["cleanup", "notify"]);
    assert_eq!(
        errors,
        [
            "on-completion `follow-up`: cannot evaluate `status == 'completed' && delta.x > 0`: cannot compare null with int using `>`",
            "on-completion `follow-up`: cannot evaluate `after.x >= before.x`: cannot compare null with int using `>=`",
        ]
    );
}

// ---------------------------------------------------------------- records

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[test]
fn the_input_record_has_exactly_the_design_keys() {
    let before = snapshot(json!({"postings_total": 847, "postings_with_summary": 288}));
    let expected = snapshot(json!({"postings_with_summary": 559}));
    let variables = snapshot(json!({"batch": 50}));
    let input = audit_input("start_workflow", "summarize-postings", "unattended", "manual", "ana", None, &before, &expected, &variables);
    let mut want = vec!["action", "workflow", "mode", "triggered_by", "operator", "parent_run_id", "state_snapshot", "expected_work", "variables"];
    want.sort_unstable();
    assert_eq!(keys(&input), want);
    assert_eq!(input["parent_run_id"], Value::Null);
    assert_eq!(input["state_snapshot"]["postings_with_summary"], json!(288));
    assert_eq!(input["expected_work"], json!({"postings_with_summary": 559}));

    let child = audit_input(
        "resume_workflow",
        "extract-skills",
        "interactive",
        "on-completion:summarize-postings",
        "ana",
        Some("run-1"),
        &before,
        &expected,
        &variables,
    );
    assert_eq!(
        (&child["action"], &child["triggered_by"], &child["parent_run_id"]),
        (&json!("resume_workflow"), &json!("on-completion:summarize-postings"), &json!("run-1"))
    );
}

#[test]
fn the_output_record_has_exactly_the_design_keys() {
    let after = snapshot(json!({"postings_with_summary": 800}));
    let change = snapshot(json!({"postings_with_summary": 512}));
    let found = vec![Anomaly { metric: "postings_with_summary".into(), expected: json!(559), actual: json!(512), message: "short".into() }];
    let output = audit_output("completed", 20_015, 3, 2, 1, &after, &change, &found, json!({}), json!({}));
    let mut want = vec!["status", "duration_ms", "steps_executed", "steps_completed", "steps_failed", "state_after", "delta", "anomalies", "usage", "cost"];
    want.sort_unstable();
    assert_eq!(keys(&output), want);
    assert_eq!(output["anomalies"], json!([{"metric": "postings_with_summary", "expected": 559, "actual": 512, "message": "short"}]));
    assert_eq!((&output["duration_ms"], &output["steps_failed"], &output["usage"]), (&json!(20_015), &json!(1), &json!({})));
    let back: Vec<Anomaly> = serde_json::from_value(output["anomalies"].clone()).unwrap();
    assert_eq!(back, found);
}

#[test]
fn the_operator_comes_from_the_environment_else_the_system_account() {
    let from_env = ["WORKFLOW_OPERATOR", "USER", "USERNAME", "LOGNAME"].into_iter().filter_map(|k| std::env::var(k).ok()).find(|v| !v.trim().is_empty());
    let account = || String::from_utf8_lossy(&std::process::Command::new("id").arg("-un").output().unwrap().stdout).trim().to_string();
    assert_eq!(operator(), from_env.map_or_else(account, |v| v.trim().to_string()));
}
