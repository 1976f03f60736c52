//! The command line against a PostgreSQL store (`--store postgres://...` or
//! `WORKFLOW_STORE`), as separate processes sharing one URL: a run stops at
//! a gate, another process approves it and it completes; pause, resume,
//! status, runs and diff work the same; `workflow serve` and `workflow
//! token` over the same URL (a run waiting in PostgreSQL is approved through
//! the API and the server drives it to its end); a schema of another
//! application is refused and left as it was; a missing database says so.
//!
//! Each test has a schema of its own on the test server (see
//! `workflow-runtime/tests/support/postgres.rs`).

mod support;

#[path = "../../workflow-runtime/tests/support/postgres.rs"]
mod postgres;

use postgres::TestSchema;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::Duration;
use support::{event_steps, expect_code, lines, run_id_in, runs_json, status_json, wait_for, workflow, write};

const DEPLOY: &str = r#"
name: deploy
variables:
  target: staging
steps:
  - id: build
    action: shell
    command: "echo built >> log.txt"
  - id: approve
    action: approval-gate
    message: "Deploy to ${target}?"
  - id: ship
    action: shell
    command: "echo shipped to $target >> log.txt"
    requires: approve.approved
"#;

#[test]
fn a_run_waits_at_a_gate_in_postgres_and_an_approval_from_another_process_completes_it() {
    let Some(schema) = TestSchema::new("cli_gate") else { return };
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "deploy.yaml", DEPLOY);

    // `--store URL` on the command line.
    let mut run = workflow(dir.path(), "", &["run", "deploy.yaml", "--store", &schema.url]);
    run.env_remove("WORKFLOW_STORE");
    let (_, stderr) = expect_code(&mut run, 3);
    let id = run_id_in(&stderr);
    assert!(stderr.contains(&format!("approve with `workflow approve {id}`")), "{stderr}");
    assert_eq!(lines(dir.path(), "log.txt"), ["built"]);

    // Another process, another folder, the same URL (through WORKFLOW_STORE).
    let elsewhere = tempfile::tempdir().unwrap();
    let status = status_json(elsewhere.path(), &schema.url, &id);
    assert_eq!((status["run"]["status"].as_str(), status["run"]["workflow"].as_str()), (Some("waiting"), Some("deploy")));
    let (text, _) = expect_code(&mut workflow(elsewhere.path(), &schema.url, &["status", &id[..8]]), 0);
    assert!(text.contains("approve gate \"Deploy to staging?\": waiting for an answer"), "{text}");

    let mut approve = workflow(elsewhere.path(), &schema.url, &["approve", &id, "-m", "checked"]);
    approve.env("WORKFLOW_OPERATOR", "alice");
    let (stdout, stderr) = expect_code(&mut approve, 0);
    assert!(stderr.contains(&format!("approved step `approve` of run {id} (as alice)")), "{stderr}");
    assert!(stdout.contains(&format!("run {id} completed")), "{stdout}");
    // The run goes on in the folder it started in.
    assert_eq!(lines(dir.path(), "log.txt"), ["built", "shipped to staging"]);

    let status = status_json(dir.path(), &schema.url, &id);
    assert_eq!(status["run"]["status"], "completed");
    assert_eq!(event_steps(&status), ["build", "approve", "ship"]);
    assert!(status["events"].as_array().unwrap().iter().all(|e| e["outcome"] == "completed"), "{status:#}");
    assert_eq!((status["questions"][0]["operator"].as_str(), status["questions"][0]["approved"].as_bool()), (Some("alice"), Some(true)));
    assert_eq!(status["run"]["output"]["decisions"][0]["operator"], "alice");

    // Recorded once, in the store's own tables.
    let counts = schema.sql(&format!(
        "SELECT count(*), count(DISTINCT seq), count(*) FILTER (WHERE outcome = 'completed') FROM {}.step_events WHERE run_id = '{id}'",
        schema.name
    ));
    assert_eq!(counts, [[Some("3".to_owned()), Some("3".to_owned()), Some("3".to_owned())]]);
    let runs = runs_json(elsewhere.path(), &schema.url);
    assert_eq!((runs.len(), runs[0]["id"].as_str()), (1, Some(id.as_str())));
}

#[test]
fn pause_resume_runs_and_diff_work_against_postgres_from_other_processes() {
    let Some(schema) = TestSchema::new("cli_pause") else { return };
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "slow.yaml",
        "name: slow\nsteps:\n  - id: one\n    action: shell\n    command: \"echo one >> log; sleep 2\"\n  - id: two\n    action: shell\n    command: \"echo two >> log\"\n",
    );
    let driver = workflow(dir.path(), &schema.url, &["run", "slow.yaml"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let id = wait_for(Duration::from_secs(15), "the run to start step `one`", || {
        let runs = runs_json(dir.path(), &schema.url);
        let id = runs.first()?["id"].as_str()?.to_owned();
        (lines(dir.path(), "log") == ["one"]).then_some(id)
    });
    let (stdout, _) = expect_code(&mut workflow(dir.path(), &schema.url, &["pause", &id]), 0);
    assert!(stdout.contains("pause requested"), "{stdout}");
    let out = driver.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "a paused run exits 4: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines(dir.path(), "log"), ["one"]);
    assert_eq!(status_json(dir.path(), &schema.url, &id)["run"]["status"], "paused");

    let (stdout, _) = expect_code(&mut workflow(dir.path(), &schema.url, &["resume", "slow"]), 0);
    assert!(stdout.contains(&format!("run {id} completed")), "{stdout}");
    assert_eq!(lines(dir.path(), "log"), ["one", "two"], "no step ran twice");

    // A second run, then the two compared.
    let (stdout, _) = expect_code(&mut workflow(dir.path(), &schema.url, &["run", "slow.yaml"]), 0);
    let second = run_id_in(&stdout);
    let (stdout, _) = expect_code(&mut workflow(dir.path(), &schema.url, &["diff", &id, &second, "--json"]), 0);
    let diff: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((diff["a"].as_str(), diff["b"].as_str()), (Some(id.as_str()), Some(second.as_str())), "{diff:#}");
    assert_eq!(diff["compare"]["status"], serde_json::json!({ "a": "completed", "b": "completed" }), "{diff:#}");
    let (stdout, _) = expect_code(&mut workflow(dir.path(), &schema.url, &["runs", "--status", "completed"]), 0);
    assert!(stdout.contains(&id) && stdout.contains(&second), "{stdout}");
}

/// A `workflow serve` process, stopped when dropped.
struct Server {
    child: Child,
    base: String,
    log: std::thread::JoinHandle<String>,
}

impl Server {
    /// `workflow serve --listen 127.0.0.1:0` in `dir` against `store`, once it listens.
    fn start(dir: &std::path::Path, store: &str) -> Server {
        let mut child = workflow(dir, store, &["serve", "--listen", "127.0.0.1:0"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        let base = first
            .strip_prefix("workflow serve: listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("serve did not start: {first}"))
            .to_owned();
        // Read on, so the server never blocks on a full pipe; shown if the test fails.
        let log = std::thread::spawn(move || {
            let mut rest = first;
            let _ = stderr.read_to_string(&mut rest);
            rest
        });
        Server { child, base, log }
    }

    /// Stops it; what it wrote to stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let Server { log, .. } = self;
        log.join().unwrap_or_default()
    }
}

#[test]
fn workflow_serve_over_postgres_approves_a_waiting_run_through_the_api_and_the_run_completes() {
    let Some(schema) = TestSchema::new("cli_serve") else { return };
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "deploy.yaml", DEPLOY);
    // The server drives the run on with the permissions of the run's folder.
    write(dir.path(), ".workflow/config.yaml", "permissions:\n  allow: [\"shell:*\"]\n");
    let (token, _) = expect_code(&mut workflow(dir.path(), &schema.url, &["token", "create", "alice"]), 0);
    let token = token.trim().to_owned();
    let stored = schema.sql(&format!("SELECT name, hash FROM {}.tokens", schema.name));
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0][0].as_deref(), Some("alice"));
    assert!(stored[0][1].as_deref().is_some_and(|hash| hash.len() == 64 && hash != token), "only the token's hash is stored: {stored:?}");
    let (list, _) = expect_code(&mut workflow(dir.path(), &schema.url, &["token", "list"]), 0);
    assert!(list.starts_with("alice") && list.contains("active"), "{list}");

    let (_, stderr) = expect_code(&mut workflow(dir.path(), &schema.url, &["run", "deploy.yaml"]), 3);
    let id = run_id_in(&stderr);
    assert_eq!(lines(dir.path(), "log.txt"), ["built"]);

    // The server runs in another folder: it finds the run's folder in the store.
    let elsewhere = tempfile::tempdir().unwrap();
    let server = Server::start(elsewhere.path(), &schema.url);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| -> (u16, Value) {
        let mut request = client.request(method, format!("{}{path}", server.base)).bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        runtime.block_on(async {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
        })
    };
    let (status, waiting) = call(reqwest::Method::GET, "/api/v1/questions", None);
    assert_eq!(status, 200, "{waiting}");
    assert_eq!((waiting[0]["run_id"].as_str(), waiting[0]["message"].as_str()), (Some(id.as_str()), Some("Deploy to staging?")), "{waiting}");
    let (_, page) = call(reqwest::Method::GET, "/api/v1/runs?status=waiting", None);
    assert_eq!(page["runs"][0]["id"].as_str(), Some(id.as_str()), "{page}");

    let (status, done) = call(reqwest::Method::POST, &format!("/api/v1/runs/{id}/approve"), Some(json!({ "comment": "checked" })));
    assert_eq!(status, 200, "{done}");
    assert_eq!((done["outcome"].as_str(), done["by"].as_str(), done["continuing"].as_str()), (Some("approved"), Some("alice"), Some("here")));
    let finished = wait_for(Duration::from_secs(30), "the server to drive the run to its end", || {
        let run = status_json(elsewhere.path(), &schema.url, &id);
        (run["run"]["status"] != "waiting" && run["run"]["status"] != "running").then_some(run)
    });
    let log = server.stop();
    assert_eq!(finished["run"]["status"], "completed", "{finished:#}\n--- serve:\n{log}");
    // The steps after the gate ran once, in the folder the run started in.
    assert_eq!(lines(dir.path(), "log.txt"), ["built", "shipped to staging"]);
    assert_eq!(event_steps(&finished), ["build", "approve", "ship"]);
    assert_eq!((finished["questions"][0]["operator"].as_str(), finished["questions"][0]["approved"].as_bool()), (Some("alice"), Some(true)));
    assert_eq!(finished["run"]["output"]["decisions"][0]["operator"], "alice");
    let counts = schema.sql(&format!(
        "SELECT count(*), count(DISTINCT seq), count(*) FILTER (WHERE outcome = 'completed') FROM {}.step_events WHERE run_id = '{id}'",
        schema.name
    ));
    assert_eq!(counts, [[Some("3".to_owned()), Some("3".to_owned()), Some("3".to_owned())]]);

    expect_code(&mut workflow(dir.path(), &schema.url, &["token", "revoke", "alice"]), 0);
    let revoked = schema.sql(&format!("SELECT revoked_at_ms IS NOT NULL FROM {}.tokens WHERE name = 'alice'", schema.name));
    assert_eq!(revoked, [[Some("t".to_owned())]]);
}

#[test]
fn another_applications_schema_is_refused_by_every_command_and_left_as_it_was() {
    let Some(schema) = TestSchema::new("cli_foreign") else { return };
    let n = &schema.name;
    schema.sql(&format!("CREATE SCHEMA {n}; CREATE TABLE {n}.invoices (id int, total numeric); INSERT INTO {n}.invoices VALUES (1, 9.5);"));
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "deploy.yaml", DEPLOY);
    for args in [&["runs"][..], &["run", "deploy.yaml"], &["status", "deploy"]] {
        let (_, stderr) = expect_code(&mut workflow(dir.path(), &schema.url, args), 1);
        assert!(stderr.contains(&format!("schema `{n}` holds tables we did not create: invoices")), "{args:?}: {stderr}");
        assert!(stderr.contains("left untouched") && stderr.contains("?schema=NAME"), "{stderr}");
    }
    let tables = schema.sql(&format!("SELECT table_name FROM information_schema.tables WHERE table_schema = '{n}'"));
    assert_eq!(tables, [[Some("invoices".to_owned())]]);
    assert_eq!(schema.sql(&format!("SELECT id, total FROM {n}.invoices")), [[Some("1".to_owned()), Some("9.5".to_owned())]]);
    assert!(lines(dir.path(), "log.txt").is_empty(), "nothing ran");
}

#[test]
fn a_missing_database_or_a_closed_port_says_which_and_where() {
    if !postgres::available("cli_missing_database") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = postgres::unique_name("nodb");
    let server = postgres::server_url();
    let url = format!("{}/{name}", server.rsplit_once('/').unwrap().0);
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &url, &["runs"]), 1);
    assert!(stderr.contains(&format!("database `{name}` does not exist on")), "{stderr}");
    assert!(stderr.contains("createdb") && stderr.contains(&name), "{stderr}");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &format!("postgresql://postgres:hunter2@127.0.0.1:{port}/test"), &["runs"]), 1);
    assert!(stderr.contains(&format!("connection refused at 127.0.0.1:{port}")), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password is never shown: {stderr}");
}
