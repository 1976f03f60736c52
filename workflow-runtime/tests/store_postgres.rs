//! The PostgreSQL store on the real server, beyond the contract every store
//! meets (that suite, `store.rs`, runs on PostgreSQL too): a schema that is
//! not ours is refused and left untouched, migrations run once however many
//! processes open a fresh store, bad locations say what is wrong, lost
//! connections are opened again without losing or doubling a step, text
//! PostgreSQL cannot hold, definitions stored once, a store of version 1
//! migrated, and pages of runs read through the keyset indexes.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::postgres::TestSchema;
use support::*;
use workflow_runtime::store::postgres::{self, PgLocation, PostgresOptions, PostgresStore};
use workflow_runtime::store::{RunCursor, RunPageQuery, RunStatus, StepEnd, StepOutcome, StepProcess, Store, StoreError, TokenRecord};

fn open_postgres(url: &str) -> PostgresStore {
    PostgresStore::open(&PgLocation::parse(url).unwrap(), PostgresOptions::default()).unwrap()
}

/// `pg_dump` of one schema of the test database: its tables, functions and rows, as text.
fn dump(schema: &str) -> String {
    let out = std::process::Command::new("pg_dump").args(["--no-owner", "--schema", schema, "-d", &support::postgres::server_url()]).output().unwrap();
    assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
    // Newer pg_dump brackets its output with a random key (`\restrict KEY`): not part of the schema.
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Opening the schema is refused as another application's, naming `reason`, and it is byte for byte as it was.
fn assert_schema_refused_untouched(schema: &TestSchema, reason: &str) {
    let before = (
        dump(&schema.name),
        schema.sql(&format!(
            "SELECT c.relname, c.xmin::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{}' ORDER BY 1",
            schema.name
        )),
    );
    match PostgresStore::open(&PgLocation::parse(&schema.url).unwrap(), PostgresOptions::default()) {
        Err(StoreError::ForeignSchema { location, reason: found }) => {
            assert_eq!(location, PgLocation::parse(&schema.url).unwrap().to_string());
            assert!(location.contains(&format!("schema={}", schema.name)), "{location}");
            assert!(found.contains(reason), "expected `{reason}` in `{found}`");
        }
        Err(other) => panic!("expected ForeignSchema, got {other}"),
        Ok(_) => panic!("schema {} was opened as a store", schema.name),
    }
    let after = (
        dump(&schema.name),
        schema.sql(&format!(
            "SELECT c.relname, c.xmin::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{}' ORDER BY 1",
            schema.name
        )),
    );
    assert!(before == after, "schema {} was modified:\n{}\n---\n{}", schema.name, before.0, after.0);
}

#[test]
fn postgres_another_applications_schema_is_refused_and_left_untouched() {
    let Some(tables) = TestSchema::new("foreign_tables") else { return };
    let n = &tables.name;
    tables.sql(&format!("CREATE SCHEMA {n}; CREATE TABLE {n}.orders (id int PRIMARY KEY, item text); INSERT INTO {n}.orders VALUES (1, 'tea'), (2, 'cake');"));
    assert_schema_refused_untouched(&tables, &format!("schema `{n}` holds tables we did not create: orders"));
    assert_eq!(tables.sql(&format!("SELECT item FROM {n}.orders ORDER BY id")), [[Some("tea".to_owned())], [Some("cake".to_owned())]]);

    // Our marker's name, another application's id.
    let Some(marked) = TestSchema::new("foreign_marker") else { return };
    let n = &marked.name;
    marked.sql(&format!(
        "CREATE SCHEMA {n}; CREATE TABLE {n}.store_identity (application_id integer, version integer); INSERT INTO {n}.store_identity VALUES (305441741, 3);
         CREATE TABLE {n}.runs (id text);"
    ));
    assert_schema_refused_untouched(&marked, "belongs to another application (application_id 0x1234abcd in store_identity)");

    // A table by that name that is something else altogether.
    let Some(other) = TestSchema::new("foreign_shape") else { return };
    let n = &other.name;
    other.sql(&format!("CREATE SCHEMA {n}; CREATE TABLE {n}.store_identity (name text); INSERT INTO {n}.store_identity VALUES ('mine');"));
    assert_schema_refused_untouched(&other, "has a table store_identity that is not a workflow store's");
}

#[tokio::test]
async fn postgres_an_empty_schema_becomes_a_store_and_reopening_migrates_nothing() {
    let Some(schema) = TestSchema::new("empty_schema") else { return };
    schema.sql(&format!("CREATE SCHEMA {}", schema.name));
    {
        let store = open_postgres(&schema.url);
        store.create_run(new_run("kept", "wf", &owner("a"), 60_000)).await.unwrap();
    }
    let marker = schema.sql(&format!("SELECT application_id, version FROM {}.store_identity", schema.name));
    assert_eq!(marker, [[Some(postgres::APPLICATION_ID.to_string()), Some(postgres::schema_version().to_string())]]);
    let first = dump(&schema.name);
    for table in ["definitions", "runs", "step_events", "questions", "tokens", "store_identity"] {
        assert!(first.contains(&format!("CREATE TABLE {}.{table} (", schema.name)), "no table {table} in:\n{first}");
    }
    for _ in 0..2 {
        let store = open_postgres(&schema.url);
        assert_eq!(store.load_run("kept").unwrap().unwrap().open, Some(start(1, 0)));
    }
    assert_eq!(dump(&schema.name), first, "reopening changed the schema");
}

#[test]
fn postgres_processes_creating_one_store_at_once_create_it_once() {
    let Some(schema) = TestSchema::new("racing_opens") else { return };
    let barrier = std::sync::Barrier::new(6);
    std::thread::scope(|scope| {
        let opens: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    open_postgres(&schema.url)
                })
            })
            .collect();
        for open in opens {
            drop(open.join().unwrap());
        }
    });
    let marker = schema.sql(&format!("SELECT count(*), max(version) FROM {}.store_identity", schema.name));
    assert_eq!(marker, [[Some("1".to_owned()), Some(postgres::schema_version().to_string())]]);
}

#[test]
fn postgres_a_store_of_a_newer_program_is_refused_and_left_untouched() {
    let Some(schema) = TestSchema::new("newer") else { return };
    drop(open_postgres(&schema.url));
    schema.sql(&format!("UPDATE {}.store_identity SET version = 99", schema.name));
    let before = dump(&schema.name);
    match PostgresStore::open(&PgLocation::parse(&schema.url).unwrap(), PostgresOptions::default()) {
        Err(StoreError::TooNew { found: 99, supported, path }) => {
            assert_eq!(supported, postgres::schema_version());
            assert!(path.contains(&schema.name), "{path}");
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    assert_eq!(dump(&schema.name), before);
}

#[test]
fn postgres_a_missing_database_says_so_and_what_to_do() {
    if !support::postgres::available("missing_database") {
        return;
    }
    let name = support::postgres::unique_name("missing");
    let server = PgLocation::parse(&support::postgres::server_url()).unwrap();
    let error = PostgresStore::open(&server.with_database(&name), PostgresOptions::default()).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
    assert!(text.contains(&format!("database `{name}` does not exist on {}", server.server())), "{text}");
    let (host, port) = server.server().rsplit_once(':').map(|(h, p)| (h.to_owned(), p.to_owned())).unwrap();
    assert!(text.contains(&format!("createdb -h {host} -p {port} -U {} {name}", server.user())), "{text}");
}

#[test]
fn postgres_a_port_nobody_listens_on_is_refused_naming_host_and_port() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://postgres:secret@127.0.0.1:{port}/test");
    let error = PostgresStore::open(&PgLocation::parse(&url).unwrap(), PostgresOptions::default()).unwrap_err().to_string();
    assert!(error.contains(&format!("connection refused at 127.0.0.1:{port}")), "{error}");
    assert!(error.contains(&format!("cannot open the run store postgres://postgres@127.0.0.1:{port}/test")) && !error.contains("secret"), "{error}");
}

#[test]
fn postgres_a_server_that_never_answers_fails_within_the_timeout_naming_host_and_port() {
    // A listener that accepts connections and says nothing: what a host that swallows packets looks like, on loopback.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let began = Instant::now();
    let url = format!("postgres://postgres@127.0.0.1:{port}/test?connect_timeout=1");
    let error = PostgresStore::open(&PgLocation::parse(&url).unwrap(), PostgresOptions::default()).unwrap_err().to_string();
    assert!(error.contains(&format!("no answer from 127.0.0.1:{port} within 1 s")), "{error}");
    assert!(began.elapsed() < Duration::from_secs(5), "it took {:?}", began.elapsed());

    // Without a timeout in the URL: 5 s.
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let error = PostgresStore::open(&PgLocation::parse(&url).unwrap(), PostgresOptions::default()).unwrap_err().to_string();
    assert!(error.contains(&format!("no answer from 127.0.0.1:{port} within 5 s")), "{error}");
}

/// Ends every connection the store opened (they carry the URL's `application_name`); how many.
fn terminate_backends(application: &str) -> usize {
    let killed = support::postgres::sql(
        &support::postgres::server_url(),
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{application}'"),
    );
    killed.len()
}

#[tokio::test]
async fn postgres_a_terminated_connection_is_opened_again_on_its_next_use() {
    let Some(schema) = TestSchema::new("terminated") else { return };
    let application = format!("{}_app", schema.name);
    let store = open_postgres(&schema.url_with(&format!("application_name={application}")));
    let fence = store.create_run(new_run("r", "wf", &owner("a"), 60_000)).await.unwrap();
    store.end_step("r", &fence, end(1, 1, Some(start(2, 1)))).await.unwrap();
    assert!(terminate_backends(&application) >= 2, "the writer's and the reader's connections");
    // Neither the next write nor the next read fails.
    store.end_step("r", &fence, end(2, 2, None)).await.unwrap();
    assert_eq!(store.load_run("r").unwrap().unwrap().state, json!({ "count": 2 }));
    assert!(terminate_backends(&application) >= 2, "the reader's and a writer's connections were opened again");
    assert_eq!(store.events("r").unwrap().len(), 2);
    assert!(store.renew_lease("r", &fence, 60_000).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_connections_terminated_mid_flight_lose_and_double_no_step() {
    const RUNS: usize = 16;
    const STEPS: u64 = 40;
    let Some(schema) = TestSchema::new("chaos") else { return };
    let application = format!("{}_app", schema.name);
    let store = Arc::new(open_postgres(&schema.url_with(&format!("application_name={application}"))));
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let killer = {
        let (running, application) = (running.clone(), application.clone());
        std::thread::spawn(move || {
            let mut kills = 0;
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(40));
                kills += terminate_backends(&application);
            }
            kills
        })
    };
    let tasks: Vec<_> = (0..RUNS)
        .map(|r| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let id = format!("run-{r:02}");
                let fence = store.create_run(new_run(&id, "chaos", &owner(&format!("driver-{r}")), 600_000)).await?;
                for seq in 1..=STEPS {
                    let next = (seq < STEPS).then(|| start(seq + 1, 0));
                    store.end_step(&id, &fence, end(seq, seq, next)).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.unwrap() {
            failures.push(e.to_string());
        }
    }
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let kills = killer.join().unwrap();
    assert!(kills > 0, "no connection was terminated");
    assert!(failures.is_empty(), "{} of {RUNS} runs failed after {kills} terminated connections: {failures:?}", failures.len());
    for r in 0..RUNS {
        let id = format!("run-{r:02}");
        let events = store.events(&id).unwrap();
        assert_eq!(events.iter().map(|e| (e.seq, e.outcome)).collect::<Vec<_>>(), (1..=STEPS).map(|s| (s, Some(StepOutcome::Completed))).collect::<Vec<_>>());
        assert_eq!(store.load_run(&id).unwrap().unwrap().state, json!({ "count": STEPS }));
    }
    eprintln!("{kills} connections terminated while {RUNS} runs wrote {STEPS} steps each");
}

#[tokio::test]
async fn postgres_text_postgres_cannot_hold_is_stored_readably() {
    let Some(schema) = TestSchema::new("nul_text") else { return };
    let store = open_postgres(&schema.url);
    let fence = store.create_run(new_run("r", "wf", &owner("a"), 60_000)).await.unwrap();
    let failed = StepEnd { output: json!({ "stdout": "a\u{0}b" }), error: Some("bad\u{0}byte".to_owned()), outcome: StepOutcome::Failed, ..end(1, 1, None) };
    store.end_step("r", &fence, failed).await.unwrap();
    let event = &store.events("r").unwrap()[0];
    assert_eq!((event.output.clone(), event.error.as_deref()), (json!({ "stdout": "a\u{FFFD}b" }), Some("bad\u{FFFD}byte")));
}

#[tokio::test]
async fn postgres_keeps_each_definition_once() {
    let Some(schema) = TestSchema::new("definitions") else { return };
    let store = open_postgres(&schema.url);
    for id in ["a", "b", "c"] {
        store.create_run(new_run(id, "wf", &owner("x"), 60_000)).await.unwrap();
    }
    let other = workflow_runtime::store::NewRun {
        definition_hash: "hash-2".to_owned(),
        definition: json!({ "name": "v2" }).to_string().into(),
        ..new_run("d", "wf", &owner("x"), 60_000)
    };
    store.create_run(other).await.unwrap();
    assert_eq!(
        schema.sql(&format!("SELECT hash, definition::text FROM {}.definitions ORDER BY hash", schema.name)),
        [[Some("hash-1".to_owned()), Some(r#"{"name": "wf"}"#.to_owned())], [Some("hash-2".to_owned()), Some(r#"{"name": "v2"}"#.to_owned())],]
    );
    assert_eq!(store.load_run("d").unwrap().unwrap().definition, json!({ "name": "v2" }));
    assert_eq!(store.load_run("b").unwrap().unwrap().definition, json!({ "name": "wf" }));
}

#[tokio::test]
async fn postgres_a_store_of_version_1_is_migrated_and_keeps_its_runs() {
    let Some(schema) = TestSchema::new("version_1") else { return };
    let n = &schema.name;
    {
        let store = open_postgres(&schema.url);
        store.create_run(new_run("old", "wf", &owner("a"), 60_000)).await.unwrap();
        assert!(store.ask(&gate_request("old", 1)).unwrap());
    }
    // Back to version 1, as the first PostgreSQL store left it.
    schema.sql(&format!(
        "DROP FUNCTION {n}.record_process; ALTER TABLE {n}.step_events DROP COLUMN process_group, DROP COLUMN process_host;
         DROP TABLE {n}.tokens; DROP INDEX {n}.runs_by_created, {n}.runs_by_status_created, {n}.runs_by_workflow_created, {n}.runs_by_parent, {n}.questions_open;
         CREATE INDEX runs_by_workflow ON {n}.runs (workflow, created_at_ms); CREATE INDEX runs_by_status ON {n}.runs (status);
         UPDATE {n}.store_identity SET version = 1;"
    ));
    let store = open_postgres(&schema.url);
    assert_eq!(schema.sql(&format!("SELECT version FROM {n}.store_identity")), [[Some(postgres::schema_version().to_string())]]);
    assert_eq!(postgres::schema_version(), 3);
    let indexes = schema.sql(&format!("SELECT indexname FROM pg_indexes WHERE schemaname = '{n}' AND indexname NOT LIKE '%pkey' ORDER BY 1"));
    let indexes: Vec<&str> = indexes.iter().filter_map(|row| row[0].as_deref()).collect();
    assert_eq!(
        indexes,
        ["questions_open", "runs_by_created", "runs_by_parent", "runs_by_status_created", "runs_by_workflow_created", "tokens_active_name", "tokens_hash_key"]
    );
    assert_eq!(store.load_run("old").unwrap().unwrap().open, Some(start(1, 0)));
    assert_eq!(store.open_questions().unwrap().len(), 1, "the question the run waits on is still open");
    let token = TokenRecord { name: "alice".into(), hash: "ab".repeat(32), created_at_ms: 1, revoked_at_ms: None };
    assert!(store.add_token(&token).unwrap());
    assert_eq!(store.tokens().unwrap(), [token]);
    // Version 3: the open step's process group is recorded, under the run's fence.
    assert_eq!(store.open_process("old").unwrap(), None);
    let process = StepProcess { seq: 1, host: HOST.to_owned(), group: 4242 };
    store.record_process("old", &fence("a", 1), process.clone()).await.unwrap();
    assert_eq!(store.open_process("old").unwrap(), Some(process));
}

/// How often each index of the schema's `runs` was read, and how often the table was read whole.
fn scans_of_runs(schema: &TestSchema) -> (Vec<(String, u64)>, u64) {
    let n = &schema.name;
    let indexes = schema.sql(&format!("SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE schemaname = '{n}' AND relname = 'runs' ORDER BY 1"));
    let indexes = indexes.into_iter().map(|row| (row[0].clone().unwrap(), row[1].as_deref().unwrap().parse().unwrap())).collect();
    let table = schema.sql(&format!("SELECT seq_scan FROM pg_stat_user_tables WHERE schemaname = '{n}' AND relname = 'runs'"));
    (indexes, table[0][0].as_deref().unwrap().parse().unwrap())
}

/// Waits until `index` was read once more than in `before`; then no other index of `runs` was read, and the
/// table was never read whole. (A session's statistics reach others when it ends, else when it has been idle a while.)
fn assert_read_through(schema: &TestSchema, before: &(Vec<(String, u64)>, u64), index: &str) -> (Vec<(String, u64)>, u64) {
    let began = Instant::now();
    loop {
        let now = scans_of_runs(schema);
        let changed: Vec<&str> = now.0.iter().zip(&before.0).filter(|(a, b)| a.1 != b.1).map(|(a, _)| a.0.as_str()).collect();
        if !changed.is_empty() || now.1 != before.1 {
            assert_eq!((changed, now.1), (vec![index], before.1), "read through another index, or the whole table");
            return now;
        }
        assert!(began.elapsed() < Duration::from_secs(15), "no read of `runs` was counted within 15 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A run of the listing: creation time, id, workflow, status.
type Listed = (u64, String, String, RunStatus);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pages_of_runs_read_through_the_keyset_indexes() {
    const RUNS: u64 = 20_000;
    let Some(schema) = TestSchema::new("keyset") else { return };
    let n = &schema.name;
    drop(open_postgres(&schema.url));
    // Each read on a store of its own, whose session ends with it, so its statistics are counted at once.
    let read = |read: &dyn Fn(&PostgresStore) -> Vec<workflow_runtime::store::RunSummary>| read(&open_postgres(&schema.url));
    // Three runs per millisecond, so pages break ties on the id; one run in ten waits; ten workflows.
    schema.sql(&format!(
        "INSERT INTO {n}.definitions VALUES ('h', 'wf', '{{}}', 0);
         INSERT INTO {n}.runs (id, workflow, status, definition_hash, input, state, target, next_seq, created_at_ms, updated_at_ms)
         SELECT lpad(i::text, 6, '0'), 'workflow-' || (i % 10), CASE WHEN i % 10 = 3 THEN 'waiting' ELSE 'completed' END, 'h',
                '{{}}', '{{}}', '\"Complete\"', 1, 1000000 + i / 3, 1000000 + i / 3
           FROM generate_series(1, {RUNS}) AS i;
         ANALYZE {n}.runs;"
    ));
    // The same listing, worked out here: newest first, then by id.
    let mut all: Vec<Listed> = (1..=RUNS)
        .map(|i| (1_000_000 + i / 3, format!("{i:06}"), format!("workflow-{}", i % 10), if i % 10 == 3 { RunStatus::Waiting } else { RunStatus::Completed }))
        .collect();
    all.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    let deep = &all[(RUNS as usize) * 9 / 10];
    let cursor = RunCursor { created_at_ms: deep.0, id: deep.1.clone() };
    let expected = |keep: &dyn Fn(&Listed) -> bool| -> Vec<String> {
        all.iter().filter(|r| (r.0, &r.1) < (cursor.created_at_ms, &cursor.id) && keep(r)).take(50).map(|r| r.1.clone()).collect()
    };
    let ids = |page: &dyn Fn(&PostgresStore) -> Vec<workflow_runtime::store::RunSummary>| read(page).into_iter().map(|r| r.id).collect::<Vec<_>>();

    let mut scans = scans_of_runs(&schema);
    let first = RunPageQuery { after: Some(cursor.clone()), ..RunPageQuery::default() };
    assert_eq!(ids(&|store| store.runs_page(&first).unwrap()), expected(&|_| true));
    scans = assert_read_through(&schema, &scans, "runs_by_created");

    let waiting = RunPageQuery { status: Some(RunStatus::Waiting), after: Some(cursor.clone()), ..RunPageQuery::default() };
    assert_eq!(ids(&|store| store.runs_page(&waiting).unwrap()), expected(&|r| r.3 == RunStatus::Waiting));
    scans = assert_read_through(&schema, &scans, "runs_by_status_created");

    let seventh = RunPageQuery { workflow: Some("workflow-7".into()), after: Some(cursor.clone()), ..RunPageQuery::default() };
    assert_eq!(ids(&|store| store.runs_page(&seventh).unwrap()), expected(&|r| r.2 == "workflow-7"));
    scans = assert_read_through(&schema, &scans, "runs_by_workflow_created");

    assert!(ids(&|store| store.child_runs("000010").unwrap()).is_empty());
    assert_read_through(&schema, &scans, "runs_by_parent");
}
