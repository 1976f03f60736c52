//! A measurement, not a check (ignored by default; it prints figures for
//! docs/benchmarks.md): 100 browsers watching one run's live view while it
//! runs 1,000 steps, and the memory (RSS) of the `workflow serve` process
//! before, during and after. Run it with
//! `cargo test -p workflow-cli --test serve_load -- --ignored --nocapture`.

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::{expect_code, workflow, write};

const WATCHERS: usize = 100;

const LONG: &str = r#"
name: long
variables:
  i: 0
steps:
  - id: work
    action: shell
    command: "sleep 0.005"
    set: { i: "i + 1" }
  - id: again
    action: loop
    to: work
    condition: "i < 500"
    max-iterations: 500
"#;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn memory_of_the_server_while_100_watchers_follow_a_1000_step_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    write(dir.path(), "long.yaml", LONG);
    let (token, _) = expect_code(&mut workflow(dir.path(), &store, &["token", "create", "watcher"]), 0);
    let token = token.trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let server =
        Killed(workflow(dir.path(), &store, &["serve", "--listen", &format!("127.0.0.1:{port}")]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    let pid = server.0.id();
    let client = reqwest::Client::new();
    let get = |path: String| {
        let (client, token) = (client.clone(), token.clone());
        async move { client.get(path).bearer_auth(token).send().await }
    };
    while get(format!("{base}/healthz")).await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Warm: a page and the API once each, so the idle figure is of a server that has served.
    get(format!("{base}/runs")).await.unwrap();
    let before = rss_kib(pid);

    println!("== {WATCHERS} watchers on one run's live view (debug build of `workflow serve`) ==");
    println!("server RSS before any watcher: {before} KiB");
    // Four rounds: memory that stays flat over the later rounds is not growing with runs, steps or watchers.
    for round in 1..=4 {
        let runner = Killed(workflow(dir.path(), &store, &["run", "long.yaml"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
        let run = loop {
            let list: serde_json::Value = get(format!("{base}/api/v1/runs?status=running")).await.unwrap().json().await.unwrap();
            if let Some(id) = list["runs"][0]["id"].as_str() {
                break id.to_string();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let began = Instant::now();
        let watchers: Vec<_> = (0..WATCHERS)
            .map(|_| {
                let stream = get(format!("{base}/api/v1/runs/{run}/live"));
                tokio::spawn(async move {
                    let mut response = stream.await.unwrap();
                    let mut events = 0usize;
                    while let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(120), response.chunk()).await.unwrap_or(Ok(None)) {
                        let text = String::from_utf8_lossy(&chunk);
                        events += text.matches("event: run").count();
                        if text.contains("\"status\":\"completed\"") {
                            return (events, true);
                        }
                    }
                    (events, false)
                })
            })
            .collect();
        let mut samples = Vec::new();
        while !watchers.iter().all(|w| w.is_finished()) {
            samples.push(rss_kib(pid));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let took = began.elapsed();
        let (mut events, mut completed) = (0, 0);
        for w in watchers {
            let (n, done) = w.await.unwrap();
            events += n;
            completed += usize::from(done);
        }
        drop(runner);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = rss_kib(pid);
        let steps: serde_json::Value = get(format!("{base}/api/v1/runs/{run}/events")).await.unwrap().json().await.unwrap();
        let (first, last, peak) = (samples.first().copied().unwrap_or(0), samples.last().copied().unwrap_or(0), samples.iter().copied().max().unwrap_or(0));
        let mean = samples.iter().sum::<u64>() / samples.len().max(1) as u64;
        println!(
            "round {round}: {} steps in {:.1} s; {completed}/{WATCHERS} watchers saw it complete ({events} events); RSS during: first {first}, mean {mean}, peak {peak}, last {last} KiB ({} samples); after the watchers left: {after} KiB",
            steps.as_array().map_or(0, Vec::len),
            took.as_secs_f64(),
            samples.len()
        );
        assert_eq!(completed, WATCHERS, "every watcher saw the run complete");
    }
}
