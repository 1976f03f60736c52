//! (f) A durable step on PostgreSQL against a bare one-row commit on the same
//! server; (g) steps/s with 1, 4 and 16 concurrent runs against `pgbench -N`
//! with as many clients, run by this process in the same session; (h) bytes
//! per finished run of a one-step workflow, in SQLite and in PostgreSQL.
//!
//! The server is `WORKFLOW_BENCH_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); the bench creates databases
//! of its own on it and drops them at the end. Without a server the room
//! says so and is skipped.
use super::*;
use workflow_runtime::store::postgres::{PgLocation, PostgresOptions, PostgresStore};

/// The server's URL (a database that exists on it).
fn server_url() -> String {
    std::env::var("WORKFLOW_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// `url` with another database.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let base = format!("{}/{database}", base.rsplit_once('/').expect("a URL with a database").0);
    query.map_or(base.clone(), |q| format!("{base}?{q}"))
}

/// A connection on the bench's runtime.
async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("the bench database connects");
    tokio::spawn(connection);
    client
}

/// A database of the bench's own, dropped when this is.
pub(super) struct BenchDatabase {
    rt_handle: tokio::runtime::Handle,
    name: String,
    /// Its URL.
    pub url: String,
}

impl BenchDatabase {
    /// Creates database `wfbench_<pid>_<tag>`, or `None` (said on stdout) when the server cannot be reached.
    pub fn create(rt: &Runtime, tag: &str) -> Option<BenchDatabase> {
        let server = server_url();
        let name = format!("wfbench_{}_{tag}", std::process::id());
        let created = rt.block_on(async {
            let (client, connection) =
                tokio::time::timeout(Duration::from_secs(5), tokio_postgres::connect(&server, tokio_postgres::NoTls)).await.ok()?.ok()?;
            tokio::spawn(connection);
            // Two statements: CREATE DATABASE cannot run inside the transaction a multi-statement query is.
            client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()?;
            client.batch_execute(&format!("CREATE DATABASE {name}")).await.ok()
        });
        if created.is_none() {
            println!("(f)-(h) skipped: no PostgreSQL server at {server} (set WORKFLOW_BENCH_POSTGRES)");
            return None;
        }
        Some(BenchDatabase { rt_handle: rt.handle().clone(), url: with_database(&server, &name), name })
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        let (server, name) = (server_url(), self.name.clone());
        let _ = self.rt_handle.block_on(async move { connect(&server).await.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await });
    }
}

fn postgres_store(url: &str) -> Arc<PostgresStore> {
    Arc::new(PostgresStore::open(&PgLocation::parse(url).expect("a PostgreSQL URL"), PostgresOptions::default()).expect("the store opens"))
}

/// A step that makes one bare one-row commit (autocommit) and notes when it began and when the commit returned.
struct BareCommit {
    client: Arc<tokio_postgres::Client>,
    insert: tokio_postgres::Statement,
    times: Arc<Mutex<Vec<(Instant, Instant)>>>,
}

impl Action for BareCommit {
    fn run<'a>(&'a self, _: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async move {
            let began = Instant::now();
            let seq = began.elapsed().as_nanos() as i64;
            self.client.execute(&self.insert, &[&"0190a5c4-7f1e-7000-8000-000000000000", &seq, &seq]).await.map_err(|e| ActionFailure::new(e.to_string()))?;
            self.times.lock().unwrap_or_else(PoisonError::into_inner).push((began, Instant::now()));
            Ok(empty())
        })
    }
}

/// The bytes of a schema's tables, with their indexes and TOAST (`pg_total_relation_size`).
async fn schema_bytes(client: &tokio_postgres::Client, schema: &str) -> i64 {
    let row = client
        .query_one(
            "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
            &[&schema],
        )
        .await
        .expect("sizes");
    row.get(0)
}

/// `pgbench -N` (simple updates: no branch/teller contention) with `clients` clients for `seconds`; its tps.
fn pgbench(url: &str, clients: usize, seconds: u32) -> Option<f64> {
    let out = std::process::Command::new("pgbench")
        .args(["-n", "-N", "-c", &clients.to_string(), "-j", &clients.min(2).to_string(), "-T", &seconds.to_string(), url])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().find_map(|line| line.strip_prefix("tps = ")).and_then(|rest| rest.split_whitespace().next()).and_then(|n| n.parse().ok())
}

/// A one-step workflow (figure (h)).
const ONE_STEP: &str = r#"
name: one-step
steps:
  - id: work
    action: noop
"#;

/// Finishes `count` runs of `ir`, `parallel` at a time.
fn finish_runs<S: Store>(rt: &Runtime, ex: &Arc<Executor<S>>, ir: &Arc<WorkflowIr>, count: usize, parallel: usize) {
    for chunk in (0..count).collect::<Vec<_>>().chunks(parallel) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|_| {
                let (ex, ir) = (ex.clone(), ir.clone());
                rt.spawn(async move { run_to_end(&ex, Box::new(IrEngine::new(ir)), 1).await })
            })
            .collect();
        rt.block_on(async {
            for task in tasks {
                task.await.expect("the run's task finishes");
            }
        });
    }
}

/// Figures (f), (g) and (h).
pub(super) fn postgres_figures(rt: &Runtime) {
    let acts = actions();
    let ir = compile(NOOP_LOOP, &["noop"]);
    let Some(db) = BenchDatabase::create(rt, "store") else { return };
    let settings = rt.block_on(async {
        let client = connect(&db.url).await;
        let row = client.query_one("SELECT current_setting('synchronous_commit'), current_setting('fsync'), version()", &[]).await.expect("settings");
        (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, String>(2))
    });
    println!(
        "    PostgreSQL: {} (synchronous_commit={}, fsync={}), same machine, over TCP loopback",
        settings.2.split(" on ").next().unwrap_or(""),
        settings.0,
        settings.1
    );

    // (f) Each iteration of the loop makes one bare commit (inside the `work` step's action) and two durable
    // steps (`work` ends, `again` ends): the two are timed in turn, a few milliseconds apart, so both meet the
    // disk and the server in the same state (here the time of one fsync swings between 0.5 and 4 ms as other
    // builds write).
    let bare = rt.block_on(async {
        let client = connect(&db.url).await;
        client.batch_execute("CREATE TABLE bare (id bigserial PRIMARY KEY, run text NOT NULL, seq bigint NOT NULL, at bigint NOT NULL)").await.expect("table");
        let insert = client.prepare("INSERT INTO bare (run, seq, at) VALUES ($1, $2, $3)").await.expect("prepare");
        (Arc::new(client), insert)
    });
    let times = Arc::new(Mutex::new(Vec::new()));
    let mut interleaved = actions();
    interleaved.register("bare-commit", BareCommit { client: bare.0.clone(), insert: bare.1.clone(), times: times.clone() });
    let ex = Executor::new(postgres_store(&format!("{}?schema=per_step", db.url)), interleaved, options());
    let commit_loop = compile(&NOOP_LOOP.replace("action: noop", "action: bare-commit"), &["bare-commit"]);
    rt.block_on(run_to_end(&ex, ir_loop(&commit_loop, 100).0, 100));
    times.lock().unwrap_or_else(PoisonError::into_inner).clear();
    let iterations = 1_000;
    rt.block_on(run_to_end(&ex, ir_loop(&commit_loop, iterations * 2).0, iterations * 2));
    let times = std::mem::take(&mut *times.lock().unwrap_or_else(PoisonError::into_inner));
    let commits: Vec<Duration> = times.iter().map(|(began, committed)| *committed - *began).collect();
    // From one bare commit's end to the next action: the two durable steps between them.
    let steps: Vec<Duration> = times.windows(2).map(|pair| (pair[1].0 - pair[0].1) / 2).collect();
    let (per_step, per_commit) = (us(median(steps.clone())), us(median(commits.clone())));
    let (mean_step, mean_commit) = (us(steps.iter().sum::<Duration>()) / steps.len() as f64, us(commits.iter().sum::<Duration>()) / commits.len() as f64);
    println!(
        "(f) durable step, PostgreSQL: {mean_step:.0} us/step (mean; median {per_step:.0}) over {} steps; baseline one-row INSERT commit on the same server, \
         one between every two steps: {mean_commit:.0} us/commit (mean; median {per_commit:.0}); ratio of the means {:.2}x [{}], of the medians {:.2}x [{}]; target <= 1.5x",
        steps.len() * 2,
        mean_step / mean_commit,
        verdict(mean_step / mean_commit <= 1.5),
        per_step / per_commit,
        verdict(per_step / per_commit <= 1.5),
    );
    drop(ex);

    // (g) Concurrent runs over one store, against pgbench -N with as many clients.
    let bench_db = BenchDatabase::create(rt, "pgbench");
    let pgbench_ready = bench_db
        .as_ref()
        .is_some_and(|b| std::process::Command::new("pgbench").args(["-i", "-q", "-s", "1", &b.url]).output().is_ok_and(|out| out.status.success()));
    if !pgbench_ready {
        println!("    (g) pgbench is missing or failed to initialize: its baseline is left out");
    }
    let ex = Arc::new(Executor::new(postgres_store(&format!("{}?schema=concurrent", db.url)), acts.clone(), options()));
    concurrent_runs(rt, &ex, &ir, 4, 20);
    for (runs, steps) in [(1usize, 1_000u64), (4, 600), (16, 400)] {
        batches::start();
        let wall = concurrent_runs(rt, &ex, &ir, runs, steps);
        let seen = batches::stop();
        let total = runs as f64 * steps as f64;
        let steps_per_s = total / wall.as_secs_f64();
        let writes: u64 = seen.iter().map(|(_, n)| n).sum();
        let per_commit = writes as f64 / seen.len().max(1) as f64;
        let tps = if pgbench_ready { bench_db.as_ref().and_then(|b| pgbench(&b.url, runs, 5)) } else { None };
        let against = match tps {
            Some(tps) => format!("pgbench -N -c {runs}: {tps:.0} tps; ratio {:.2}, target >= 0.5 [{}]", steps_per_s / tps, verdict(steps_per_s >= 0.5 * tps)),
            None => "pgbench -N: not measured".to_string(),
        };
        let floor = if runs == 16 { format!("; target >= 5,000 steps/s [{}]", verdict(steps_per_s >= 5_000.0)) } else { String::new() };
        println!(
            "(g) {runs} concurrent run(s) x {steps} durable steps (one PostgresStore): {steps_per_s:.0} steps/s ({:.2} s, {:.1} writes/commit){floor}; {against}",
            wall.as_secs_f64(),
            per_commit,
        );
    }
    drop((ex, bench_db));

    // (h) Bytes per finished run of a one-step workflow.
    let (count, parallel) = (10_000, 64);
    let one = compile(ONE_STEP, &["noop"]);
    let definition_bytes = serde_json::to_string(&*one).expect("the IR serializes").len();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("sizes.db");
    let ex = Arc::new(Executor::new(sqlite_store(&path), acts.clone(), options()));
    finish_runs(rt, &ex, &one, count, parallel);
    drop(ex);
    let sqlite_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "(h) {count} finished runs of a one-step workflow, SQLite: {sqlite_bytes} bytes = {:.0} bytes/run (the definition, {definition_bytes} bytes, is stored once; before SQLite schema version 6 every run carried a copy)",
        sqlite_bytes as f64 / count as f64
    );
    let ex = Arc::new(Executor::new(postgres_store(&format!("{}?schema=sizes", db.url)), acts, options()));
    finish_runs(rt, &ex, &one, count, parallel);
    drop(ex);
    let (written, vacuumed) = rt.block_on(async {
        let client = connect(&db.url).await;
        let written = schema_bytes(&client, "sizes").await;
        client.batch_execute("VACUUM FULL sizes.runs, sizes.step_events, sizes.definitions, sizes.questions").await.expect("vacuum");
        (written, schema_bytes(&client, "sizes").await)
    });
    println!(
        "    PostgreSQL (pg_total_relation_size of the schema's tables, indexes and TOAST): {written} bytes = {:.0} bytes/run as written; {vacuumed} bytes = {:.0} bytes/run after VACUUM FULL (live rows only)",
        written as f64 / count as f64,
        vacuumed as f64 / count as f64,
    );
}
