//! The crash test: runs are driven by `workflow` child processes that are
//! killed with SIGKILL at pseudo-random moments (at least 50 kills in all),
//! then resumed (and the resumes killed too) until each run completes.
//!
//! Afterwards every run must be completed, with every step of the path the
//! workflow must take recorded as completed exactly once, in order, under
//! gap-free execution numbers; and the steps' own log may repeat a line only
//! for a step that a kill interrupted (at-least-once), never lose one.
//!
//! `CRASH_SEED=<n>` replays another sequence of kill moments.

mod support;

use rusqlite::{Connection, OpenFlags};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{event_steps, run_ids, status_json, workflow};

/// Kills the test must make, at least.
const KILLS: usize = 50;
/// Runs the test must drive, at least.
const RUNS: usize = 3;
/// The kill moment after a process starts: between these (milliseconds).
const DELAY_MS: (u64, u64) = (5, 150);

/// Shell steps (`id`, seconds to sleep): each appends its id to `log`.
fn shell(id: &str, sleep: &str) -> String {
    format!("  - id: {id}\n    action: shell\n    command: \"echo {id} >> log; sleep {sleep}\"\n")
}

/// 15 shell steps around two loops: `again-a` repeats `a1..a2` while the
/// counter `i` (bumped in a file by a shell step, read back by
/// `load-variable`) is below 3; `again-b` repeats `b1..b2` on its own
/// iteration count. Both counters live in the run's state, so a resume that
/// lost them would take another path.
fn crash_workflow() -> String {
    let mut yaml = String::from("name: crash\nvariables:\n  i: 0\nsteps:\n");
    for (n, id) in ["s01", "s02", "s03"].iter().enumerate() {
        yaml += &shell(id, ["0.01", "0.02", "0.03"][n % 3]);
    }
    yaml += &shell("a1", "0.02");
    yaml += "  - id: bump\n    action: shell\n    command: \"echo bump >> log; echo $((i + 1)) > counter; sleep 0.01\"\n";
    yaml += "  - id: load\n    action: load-variable\n    name: i\n    from: counter\n";
    yaml += &shell("a2", "0.03");
    yaml += "  - id: again-a\n    action: loop\n    to: a1\n    condition: \"i < 3\"\n    max-iterations: 5\n";
    yaml += &shell("s04", "0.01");
    yaml += &shell("s05", "0.02");
    yaml += &shell("b1", "0.03");
    yaml += &shell("b2", "0.01");
    yaml += "  - id: again-b\n    action: loop\n    to: b1\n    condition: \"iteration < 2\"\n    max-iterations: 3\n";
    for (n, id) in ["s06", "s07", "s08", "s09", "s10"].iter().enumerate() {
        yaml += &shell(id, ["0.02", "0.03", "0.01"][n % 3]);
    }
    yaml
}

/// The steps a run of [`crash_workflow`] executes, in order: it is deterministic.
fn expected_path() -> Vec<String> {
    let mut path: Vec<&str> = vec!["s01", "s02", "s03"];
    for _ in 0..3 {
        path.extend(["a1", "bump", "load", "a2", "again-a"]);
    }
    path.extend(["s04", "s05"]);
    for _ in 0..3 {
        path.extend(["b1", "b2", "again-b"]);
    }
    path.extend(["s06", "s07", "s08", "s09", "s10"]);
    path.into_iter().map(str::to_string).collect()
}

/// The steps that write a line to `log`.
fn logging_steps() -> BTreeSet<&'static str> {
    ["s01", "s02", "s03", "a1", "bump", "a2", "s04", "s05", "b1", "b2", "s06", "s07", "s08", "s09", "s10"].into()
}

/// xorshift64: the kill moments, reproducible from the seed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn delay(&mut self) -> Duration {
        let (lo, hi) = DELAY_MS;
        Duration::from_millis(lo + self.next() % (hi - lo + 1))
    }
}

/// How a child process ended.
enum Ended {
    /// By our SIGKILL.
    Killed,
    /// On its own.
    Exited(Output),
}

/// Starts `cmd`, and SIGKILLs it `after` unless it ended before.
fn run_and_kill(cmd: &mut Command, after: Duration) -> Ended {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("cannot start `workflow`");
    std::thread::sleep(after);
    // Not reaped yet (no try_wait), so the pid is still ours even if it just exited: then the kill is a no-op.
    let _ = child.kill();
    let out = child.wait_with_output().expect("cannot wait for `workflow`");
    if out.status.signal() == Some(9) {
        Ended::Killed
    } else {
        Ended::Exited(out)
    }
}

/// One run driven to completion through kills.
struct Driven {
    id: String,
    /// Its folder (steps run there: `log`, `counter`).
    work: std::path::PathBuf,
    /// Kills that hit a process driving (or about to drive) this run.
    kills: usize,
    /// Per step id: how many kills found it started and not ended.
    interrupted: BTreeMap<String, usize>,
    /// Resumes refused because the lease was still held.
    busy: usize,
}

/// After a kill: the run's status, and the step it had started and not ended.
fn after_kill(root: &Path, store: &Path, driven: &mut Driven) -> bool {
    let status = status_json(root, store, &driven.id);
    if let Some(step) = status["run"]["open"]["step_id"].as_str() {
        *driven.interrupted.entry(step.to_string()).or_default() += 1;
    }
    status["run"]["status"] == "completed"
}

/// Starts a run in `work` and resumes it until it completes, killing processes at moments from `rng`.
fn drive_one(root: &Path, store: &Path, work: &Path, rng: &mut XorShift) -> Driven {
    let mut driven = Driven { id: String::new(), work: work.to_path_buf(), kills: 0, interrupted: BTreeMap::new(), busy: 0 };
    let cwd = work.to_str().expect("a UTF-8 temp path");
    // Start it: a kill before the run is created leaves nothing, and it is started again.
    let mut done = loop {
        let known: BTreeSet<String> = run_ids(root, store).into_iter().collect();
        match run_and_kill(&mut workflow(root, store, &["run", "crash", "--cwd", cwd]), rng.delay()) {
            Ended::Exited(out) => {
                let (code, stdout, stderr) = support::parts(&out);
                assert_eq!(code, Some(0), "an unkilled run must complete\n{stdout}{stderr}");
                driven.id = support::run_id_in(&stdout);
                break true;
            }
            Ended::Killed => {
                driven.kills += 1;
                let new: Vec<String> = run_ids(root, store).into_iter().filter(|id| !known.contains(id)).collect();
                match new.as_slice() {
                    [] => assert!(support::lines(work, "log").is_empty(), "steps ran for a run that was never recorded"),
                    [id] => {
                        driven.id = id.clone();
                        break after_kill(root, store, &mut driven);
                    }
                    many => panic!("one `workflow run` created {} runs", many.len()),
                }
            }
        }
    };
    let began = Instant::now();
    while !done {
        assert!(began.elapsed() < Duration::from_secs(30), "run {} did not complete after {} kills", driven.id, driven.kills);
        match run_and_kill(&mut workflow(root, store, &["resume", &driven.id, "--cwd", cwd]), rng.delay()) {
            Ended::Killed => {
                driven.kills += 1;
                done = after_kill(root, store, &mut driven);
            }
            Ended::Exited(out) => {
                let (code, stdout, stderr) = support::parts(&out);
                match code {
                    Some(0) => done = true,
                    // The killed driver's lease is taken over at once when its pid is gone; still, allow a short wait.
                    Some(1) if stderr.contains("being driven") => {
                        driven.busy += 1;
                        assert!(driven.busy < 50, "resume refused {} times:\n{stderr}", driven.busy);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    _ => panic!("resume of {} exited with {code:?}\n{stdout}{stderr}", driven.id),
                }
            }
        }
    }
    driven
}

/// The run's record and events, as `workflow status --json` shows them.
fn check_events(root: &Path, store: &Path, driven: &Driven, path: &[String]) {
    let id = &driven.id;
    let status = status_json(root, store, id);
    let run = &status["run"];
    assert_eq!(run["status"], "completed", "run {id}: {run:#}");
    assert!(run["open"].is_null(), "run {id} completed with an open step: {}", run["open"]);
    assert_eq!(run["next_seq"], path.len() as u64 + 1, "run {id}");
    let events = status["events"].as_array().expect("events");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, (1..=path.len() as u64).collect::<Vec<_>>(), "run {id}: execution numbers must be 1..N without gaps or repeats");
    for e in events {
        assert_eq!(e["outcome"], "completed", "run {id}: every execution ends completed: {e:#}");
        assert!(e["ended_at_ms"].is_u64(), "run {id}: execution {} has no end", e["seq"]);
    }
    assert_eq!(event_steps(&status), path, "run {id}: the completed steps must be the workflow's path, each once");
    let output = &run["output"];
    assert_eq!(output["status"], "completed", "run {id}: audit output {output:#}");
    assert_eq!(output["steps_executed"], path.len() as u64, "run {id}");
    assert_eq!(output["steps_completed"], path.len() as u64, "run {id}");
    assert_eq!(output["steps_failed"], 0, "run {id}");
    assert_eq!(run["state"]["variables"]["i"], 3, "run {id}: state {}", run["state"]);
}

/// The steps' own log: every completed execution wrote its line; a step wrote
/// more lines than it completed only if kills interrupted it, at most one extra per such kill.
fn check_log(driven: &Driven, path: &[String]) {
    let logging = logging_steps();
    let mut completed: BTreeMap<&str, usize> = BTreeMap::new();
    for step in path.iter().filter(|s| logging.contains(s.as_str())) {
        *completed.entry(step.as_str()).or_default() += 1;
    }
    let mut logged: BTreeMap<String, usize> = BTreeMap::new();
    for line in support::lines(&driven.work, "log") {
        assert!(logging.contains(line.as_str()), "run {}: a stray log line `{line}`", driven.id);
        *logged.entry(line).or_default() += 1;
    }
    for (step, &done) in &completed {
        let wrote = logged.get(*step).copied().unwrap_or(0);
        let interrupted = driven.interrupted.get(*step).copied().unwrap_or(0);
        assert!(wrote >= done, "run {}: step {step} completed {done}x but logged only {wrote}x: a completed step was lost", driven.id);
        assert!(
            wrote - done <= interrupted,
            "run {}: step {step} logged {wrote}x, completed {done}x, but was interrupted only {interrupted}x: a step ran again without a crash",
            driven.id
        );
    }
    let counter = std::fs::read_to_string(driven.work.join("counter")).expect("counter");
    assert_eq!(counter.trim(), "3", "run {}", driven.id);
}

/// The same facts, straight from the SQLite file.
fn check_database(store: &Path, runs: &[Driven], path: &[String]) {
    let db = Connection::open_with_flags(store, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open the store read-only");
    let integrity: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check");
    assert_eq!(integrity, "ok");
    let total: i64 = db.query_row("SELECT count(*) FROM runs", [], |r| r.get(0)).expect("count runs");
    assert_eq!(total as usize, runs.len(), "every run in the store is one the test drove");
    let unfinished: i64 = db
        .query_row(
            "SELECT count(*) FROM runs WHERE status != 'completed' OR open_seq IS NOT NULL OR lease_owner IS NOT NULL OR finished_at_ms IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("unfinished runs");
    assert_eq!(unfinished, 0, "every run is completed, with no open step and no lease");
    let not_completed: i64 =
        db.query_row("SELECT count(*) FROM step_events WHERE outcome IS NOT 'completed' OR ended_at_ms IS NULL", [], |r| r.get(0)).expect("open events");
    assert_eq!(not_completed, 0, "every execution ended completed");
    for driven in runs {
        let (rows, distinct, min, max): (i64, i64, i64, i64) = db
            .query_row("SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM step_events WHERE run_id = ?1", [&driven.id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .expect("events of a run");
        let n = path.len() as i64;
        assert_eq!((rows, distinct, min, max), (n, n, 1, n), "run {}: one row per execution, seq 1..{n}", driven.id);
        let mut steps = db.prepare("SELECT step_id FROM step_events WHERE run_id = ?1 ORDER BY seq").expect("prepare");
        let ids: Vec<String> = steps.query_map([&driven.id], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows");
        assert_eq!(ids, path, "run {}", driven.id);
    }
}

#[test]
fn killed_runs_resume_to_completion_without_losing_or_repeating_a_step() {
    let seed = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_c4a5_11f0_0d17_u64).max(1);
    let mut rng = XorShift(seed);
    let root = tempfile::tempdir().expect("tempdir");
    let root = root.path();
    support::write(root, "workflows/crash.yaml", &crash_workflow());
    let store = root.join("runs.db");
    let path = expected_path();

    // Unkilled, the workflow takes the expected path: the reference.
    let reference = root.join("reference");
    std::fs::create_dir(&reference).expect("mkdir");
    let (stdout, _) = support::expect_code(&mut workflow(root, &store, &["run", "crash", "--cwd", reference.to_str().expect("UTF-8")]), 0);
    let reference = Driven { id: support::run_id_in(&stdout), work: reference, kills: 0, interrupted: BTreeMap::new(), busy: 0 };
    check_events(root, &store, &reference, &path);
    check_log(&reference, &path);
    assert_eq!(support::lines(&reference.work, "log").len(), path.iter().filter(|s| logging_steps().contains(s.as_str())).count());

    let began = Instant::now();
    let mut runs = vec![reference];
    let mut kills = 0;
    while kills < KILLS || runs.len() <= RUNS {
        assert!(runs.len() < 40, "{} runs made only {kills} kills", runs.len());
        let work = root.join(format!("run{}", runs.len()));
        std::fs::create_dir(&work).expect("mkdir");
        let driven = drive_one(root, &store, &work, &mut rng);
        kills += driven.kills;
        runs.push(driven);
    }
    let elapsed = began.elapsed();

    for driven in &runs {
        check_events(root, &store, driven, &path);
        check_log(driven, &path);
    }
    check_database(&store, &runs, &path);

    let extra_lines: usize = runs.iter().map(|d| support::lines(&d.work, "log").len()).sum::<usize>()
        - runs.len() * path.iter().filter(|s| logging_steps().contains(s.as_str())).count();
    let busy: usize = runs.iter().map(|d| d.busy).sum();
    eprintln!(
        "crash test (seed {seed:#x}): {kills} kills over {} runs in {elapsed:.1?}; {extra_lines} step lines re-run after a kill; {busy} resumes refused as busy",
        runs.len() - 1
    );
    assert!(kills >= KILLS, "only {kills} kills");
}
