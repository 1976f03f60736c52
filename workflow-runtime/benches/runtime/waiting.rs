//! (e) Memory of waiting runs, measured in a child process.
use super::*;

pub(super) const RSS_ENV: &str = "RUNTIME_BENCH_RSS";
/// Runs (or bare tasks) held waiting in figure (e).
pub(super) const WAITING: usize = 10_000;

/// A slow action: it counts itself as waiting, then waits for the release.
pub(super) struct Slow {
    waiting: Arc<AtomicUsize>,
    release: Arc<Notify>,
}

impl Action for Slow {
    fn run<'a>(&'a self, _: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async move {
            wait_for_release(&self.waiting, &self.release).await;
            Ok(empty())
        })
    }
}

/// Registers with `release` before counting itself, so `notify_waiters` reaches every counted waiter.
pub(super) async fn wait_for_release(waiting: &AtomicUsize, release: &Notify) {
    let notified = release.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    waiting.fetch_add(1, Ordering::SeqCst);
    notified.await;
}

pub(super) const SLOW: &str = r#"
name: slow
steps:
  - id: wait
    action: slow
"#;

pub(super) fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

pub(super) async fn until_waiting(waiting: &AtomicUsize, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while waiting.load(Ordering::SeqCst) < count {
        assert!(Instant::now() < deadline, "only {} of {count} are waiting", waiting.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Holds `count` runs of the slow workflow waiting, calls `during` once all wait, then releases them and checks they complete.
pub(super) async fn waiting_runs<S: Store>(store: Arc<S>, count: usize, during: impl FnOnce()) {
    let (waiting, release) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let mut actions = actions();
    actions.register("slow", Slow { waiting: waiting.clone(), release: release.clone() });
    let ex = Arc::new(Executor::new(store, actions, options()));
    let ir = compile(SLOW, &["slow"]);
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (ex, ir) = (ex.clone(), ir.clone());
            tokio::spawn(async move { ex.start(Box::new(IrEngine::new(ir)), StartOptions::default()).await })
        })
        .collect();
    until_waiting(&waiting, count).await;
    during();
    release.notify_waiters();
    for task in tasks {
        let report = task.await.expect("the run's task finishes").expect("the run starts");
        assert_eq!(report.status, RunStatus::Completed, "{:?}", report.reason);
    }
}

/// The baseline: `count` bare tasks, each waiting like the slow action.
pub(super) async fn waiting_tasks(count: usize, during: impl FnOnce()) {
    let (waiting, release) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (waiting, release) = (waiting.clone(), release.clone());
            tokio::spawn(async move { wait_for_release(&waiting, &release).await })
        })
        .collect();
    until_waiting(&waiting, count).await;
    during();
    release.notify_waiters();
    for task in tasks {
        task.await.expect("the task finishes");
    }
}

/// In the child process: a warm-up round of 100, then RSS before and while `WAITING` wait. Prints `before during` in kB.
/// With `RUNTIME_BENCH_RSS_EXIT` set too, it exits while they wait (so a heap profiler's peak is that moment).
pub(super) fn rss_child(which: &str) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut before = 0;
    let during = |before: u64| {
        let during = rss_kb();
        if std::env::var_os("RUNTIME_BENCH_RSS_EXIT").is_some() {
            println!("{before} {during}");
            let _ = std::fs::remove_dir_all(dir.path());
            std::process::exit(0);
        }
        println!("{before} {during}");
    };
    rt.block_on(async {
        match which {
            "memory" => {
                let store = Arc::new(MemoryStore::new());
                waiting_runs(store.clone(), 100, || {}).await;
                before = rss_kb();
                waiting_runs(store, WAITING, || during(before)).await;
            }
            "sqlite" => {
                let store = sqlite_store(&dir.path().join("runs.db"));
                waiting_runs(store.clone(), 100, || {}).await;
                before = rss_kb();
                waiting_runs(store, WAITING, || during(before)).await;
            }
            _ => {
                waiting_tasks(100, || {}).await;
                before = rss_kb();
                waiting_tasks(WAITING, || during(before)).await;
            }
        }
    });
}

/// Runs `rss_child(which)` in a fresh process; returns bytes per waiting run (or task), and the RSS before and during in kB.
pub(super) fn rss_in_child(which: &str) -> (f64, u64, u64) {
    let exe = std::env::current_exe().expect("this benchmark's path");
    let out = std::process::Command::new(exe).env(RSS_ENV, which).output().expect("the child runs");
    assert!(out.status.success(), "child `{which}` failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    let numbers: Vec<u64> = line.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    let [before, during] = numbers[..] else { panic!("child `{which}` printed {text:?}") };
    (during.saturating_sub(before) as f64 * 1024.0 / WAITING as f64, before, during)
}
