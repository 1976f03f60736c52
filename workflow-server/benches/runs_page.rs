//! The Runs listing at 100,000 runs: a page by keyset (created_at, id)
//! costs what it costs at 1,000 runs, whether it is the first page or one
//! 90,000 runs deep, filtered by status or by workflow. Measured at the store
//! (`runs_page`) and through HTTP (`GET /api/v1/runs` and the `/runs` page),
//! each against the same call on a 1,000-run store measured in the same run.

use criterion::{black_box, Criterion};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workflow_core::ir::Target;
use workflow_runtime::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use workflow_runtime::store::{LeaseOwner, NewRun, RunCursor, RunPageQuery, RunStatus, Store};

const BIG: usize = 100_000;
const SMALL: usize = 1_000;
/// Target: a page at 100,000 runs within 3x of the same page at 1,000, and under 5 ms at the store.
const RATIO_TARGET: f64 = 3.0;
const STORE_TARGET_MS: f64 = 5.0;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    /// A cursor 90% of the way down the listing.
    deep: RunCursor,
}

/// A store of `n` runs of 10 workflows, 1 in 10 waiting and the rest completed, created as fast as group commit allows.
fn populate(rt: &tokio::runtime::Runtime, n: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions { synchronous: Synchronous::Off, ..SqliteOptions::default() };
    let store = Arc::new(SqliteStore::open(dir.path().join("runs.db"), options).unwrap());
    let owner = LeaseOwner { id: "bench".into(), pid: std::process::id(), host: "bench".into() };
    let definition: Arc<str> = Arc::from("{}");
    rt.block_on(async {
        for chunk in (0..n).collect::<Vec<_>>().chunks(2_000) {
            let writes = chunk.iter().map(|i| {
                let (store, owner, definition) = (store.clone(), owner.clone(), definition.clone());
                let i = *i;
                async move {
                    let id = uuid::Uuid::now_v7().to_string();
                    let run = NewRun {
                        id: id.clone(),
                        workflow: format!("workflow-{}", i % 10),
                        definition_hash: "bench".into(),
                        definition,
                        parent_run_id: None,
                        cwd: None,
                        source: None,
                        input: json!({}),
                        state: json!({}),
                        target: Target::Complete,
                        first: None,
                        owner: owner.clone(),
                        lease_ms: 60_000,
                    };
                    let fence = store.create_run(run).await.unwrap();
                    let status = if i % 10 == 3 { RunStatus::Waiting } else { RunStatus::Completed };
                    store.set_status(&id, &fence, status, None, None).await.unwrap();
                }
            });
            futures_util::future::join_all(writes).await;
        }
    });
    let all = store.runs_page(&RunPageQuery { limit: n, ..RunPageQuery::default() }).unwrap();
    assert_eq!(all.len(), n);
    let at = &all[n * 9 / 10];
    let deep = RunCursor { created_at_ms: at.created_at_ms, id: at.id.clone() };
    Fixture { _dir: dir, store, deep }
}

fn queries(f: &Fixture) -> Vec<(&'static str, RunPageQuery)> {
    vec![
        ("first page", RunPageQuery::default()),
        ("90% deep", RunPageQuery { after: Some(f.deep.clone()), ..RunPageQuery::default() }),
        ("status=waiting, deep", RunPageQuery { status: Some(RunStatus::Waiting), after: Some(f.deep.clone()), ..RunPageQuery::default() }),
        ("workflow=workflow-7, deep", RunPageQuery { workflow: Some("workflow-7".into()), after: Some(f.deep.clone()), ..RunPageQuery::default() }),
    ]
}

fn mean_ms(mut f: impl FnMut()) -> f64 {
    for _ in 0..20 {
        f();
    }
    let (start, mut n) = (Instant::now(), 0u32);
    while start.elapsed() < Duration::from_millis(700) {
        f();
        n += 1;
    }
    start.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
}

/// A server over the store and a token for it; the base URL.
fn serve(rt: &tokio::runtime::Runtime, store: Arc<SqliteStore>) -> (String, String) {
    let token = match workflow_server::auth::create_token(&*store, "bench") {
        Ok(token) => token,
        Err(e) => panic!("{e}"),
    };
    let options = workflow_server::ServeOptions { listen: "127.0.0.1:0".parse().unwrap(), public_url: None, operator: "bench".into() };
    let started = rt.block_on(workflow_server::start(store, options, std::future::pending())).unwrap();
    (format!("http://{}", started.local_addr), token)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let began = Instant::now();
    let small = populate(&rt, SMALL);
    let big = populate(&rt, BIG);
    eprintln!("populated {SMALL} and {BIG} runs in {:.1} s", began.elapsed().as_secs_f64());
    let client = reqwest::Client::new();
    let (small_url, small_token) = serve(&rt, small.store.clone());
    let (big_url, big_token) = serve(&rt, big.store.clone());
    let get = |base: &str, token: &str, path: &str| {
        rt.block_on(async {
            let response = client.get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
            assert!(response.status().is_success(), "{path}: {}", response.status());
            black_box(response.bytes().await.unwrap());
        })
    };
    let cursor = |f: &Fixture| format!("{}.{}", f.deep.created_at_ms, f.deep.id);

    let mut c = Criterion::default().configure_from_args();
    {
        let mut group = c.benchmark_group("runs_page");
        for ((name, q_small), (_, q_big)) in queries(&small).into_iter().zip(queries(&big)) {
            group.bench_function(format!("store {SMALL} runs, {name}"), |b| b.iter(|| black_box(small.store.runs_page(&q_small).unwrap())));
            group.bench_function(format!("store {BIG} runs, {name}"), |b| b.iter(|| black_box(big.store.runs_page(&q_big).unwrap())));
        }
        let (api_small, api_big) = (format!("/api/v1/runs?after={}", cursor(&small)), format!("/api/v1/runs?after={}", cursor(&big)));
        group.bench_function(format!("GET /api/v1/runs {BIG} runs, 90% deep"), |b| b.iter(|| get(&big_url, &big_token, &api_big)));
        group.bench_function(format!("GET /api/v1/runs {SMALL} runs, 90% deep"), |b| b.iter(|| get(&small_url, &small_token, &api_small)));
        group.finish();
    }
    c.final_summary();
    if !benchmarking() {
        return;
    }
    println!();
    println!("== runs page figures (a page of 50; baseline: the same page at {SMALL} runs, same run) ==");
    for ((name, q_small), (_, q_big)) in queries(&small).into_iter().zip(queries(&big)) {
        let figure = mean_ms(|| drop(black_box(big.store.runs_page(&q_big).unwrap())));
        let baseline = mean_ms(|| drop(black_box(small.store.runs_page(&q_small).unwrap())));
        let ratio = figure / baseline;
        let verdict = if ratio <= RATIO_TARGET && figure <= STORE_TARGET_MS { "ok" } else { "OVER TARGET" };
        println!("store, {name:<26}: {figure:.3} ms/op at {BIG}, baseline {baseline:.3} ms/op, ratio {ratio:.2}x, target <= {RATIO_TARGET}x and <= {STORE_TARGET_MS} ms [{verdict}]");
    }
    for (what, small_path, big_path) in [
        ("GET /api/v1/runs, 90% deep", format!("/api/v1/runs?after={}", cursor(&small)), format!("/api/v1/runs?after={}", cursor(&big))),
        ("GET /runs (page), 90% deep", format!("/runs?after={}", cursor(&small)), format!("/runs?after={}", cursor(&big))),
        ("GET /runs (page), first", "/runs".to_string(), "/runs".to_string()),
    ] {
        let figure = mean_ms(|| get(&big_url, &big_token, &big_path));
        let baseline = mean_ms(|| get(&small_url, &small_token, &small_path));
        let ratio = figure / baseline;
        let verdict = if ratio <= RATIO_TARGET { "ok" } else { "OVER TARGET" };
        println!("http,  {what:<26}: {figure:.3} ms/op at {BIG}, baseline {baseline:.3} ms/op, ratio {ratio:.2}x, target <= {RATIO_TARGET}x [{verdict}]");
    }
}

/// Whether this is `cargo bench` (not `cargo test --benches`, `--test`, `--list` or `--profile-time`).
fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list" || a.starts_with("--profile-time"))
}
