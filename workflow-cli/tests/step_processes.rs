//! A step's processes never outlive it: its children *and grandchildren*
//! die when it times out, when `cancel --now` / `pause --now` interrupt it,
//! and when the `workflow` process driving the run is killed with SIGKILL;
//! a resume on the same host ends whatever a dead driver left before it
//! runs the step again. The cases that go through the store run against a
//! SQLite file and against PostgreSQL (`--store postgres://...`) alike.
//!
//! Every step here hides its work in a grandchild (`bash -c '...'` under
//! the step's `sh`), which is what killing only the direct child missed.

#![cfg(target_os = "linux")]

mod support;

#[path = "../../workflow-runtime/tests/support/postgres.rs"]
mod postgres;

use postgres::TestSchema;
use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{expect_code, lines, run_ids, status_json, wait_for, workflow, write};

/// The run store a case runs against.
enum TestStore {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A schema of its own on the PostgreSQL test server.
    Postgres(TestSchema),
}

impl TestStore {
    /// A SQLite file in `dir`.
    fn sqlite(dir: &Path) -> Option<TestStore> {
        Some(TestStore::Sqlite(dir.join("runs.db")))
    }

    /// A PostgreSQL schema for `test`, or `None` to skip (never under `CI=true`).
    fn postgres(test: &str) -> Option<TestStore> {
        TestSchema::new(test).map(TestStore::Postgres)
    }

    /// The process group recorded with the run's open step.
    fn recorded_group(&self, run: &str) -> Option<i32> {
        let query = "SELECT e.process_group FROM runs r JOIN step_events e ON e.run_id = r.id AND e.seq = r.open_seq WHERE r.id = ";
        match self {
            TestStore::Sqlite(file) => recorded_group(file, run),
            TestStore::Postgres(schema) => {
                let rows = schema.sql(&format!("SET search_path TO {}; {query}'{run}'", schema.name));
                rows.first().and_then(|row| row[0].as_deref()).and_then(|group| group.parse().ok())
            }
        }
    }
}

impl AsRef<OsStr> for TestStore {
    fn as_ref(&self) -> &OsStr {
        match self {
            TestStore::Sqlite(file) => file.as_os_str(),
            TestStore::Postgres(schema) => OsStr::new(&schema.url),
        }
    }
}

/// Each case on both stores: `mod sqlite` and `mod postgres`, one test each.
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = super::TestStore::sqlite(dir.path()).unwrap();
                    super::$case(dir.path(), &store);
                }
            )*
        }
        mod postgres_store {
            $(
                #[test]
                fn $case() {
                    let Some(store) = super::TestStore::postgres(stringify!($case)) else { return };
                    let dir = tempfile::tempdir().unwrap();
                    super::$case(dir.path(), &store);
                }
            )*
        }
    };
}

on_both_stores!(
    a_killed_driver_leaves_nothing_running_and_resume_runs_the_step_once,
    resume_ends_what_a_dead_driver_left_of_the_step_before_running_it_again,
    cancel_now_interrupts_the_running_step_and_kills_its_processes,
    pause_now_interrupts_the_step_and_resume_runs_it_again,
    cancel_without_now_lets_the_step_finish,
);

/// Long enough for the test to act while the step runs; the checks wait past it.
const STEP_SECONDS: u64 = 2;

/// `one` (quick), `slow` (writes `started`, then after STEP_SECONDS a grandchild writes `two`), `three` (quick).
fn slow_middle(name: &str, slow_extra: &str) -> String {
    slow_middle_of(name, slow_extra, STEP_SECONDS)
}

fn slow_middle_of(name: &str, slow_extra: &str, seconds: u64) -> String {
    format!(
        "name: {name}
steps:
  - id: one
    action: shell
    command: echo one >> log
  - id: slow
    action: shell
    command: \"echo started >> log; bash -c 'sleep {seconds}; echo two >> log'\"
{slow_extra}  - id: three
    action: shell
    command: echo three >> log
"
    )
}

fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("cannot start `workflow`")
}

/// The run's id once its step `slow` has started (written `started`).
fn slow_step_running(dir: &Path, store: &(impl AsRef<OsStr> + ?Sized)) -> String {
    wait_for(Duration::from_secs(10), "step `slow` to start", || {
        let ids = run_ids(dir, store);
        let [id] = ids.as_slice() else { return None };
        lines(dir, "log").contains(&"started".to_string()).then(|| id.clone())
    })
}

/// Waits until a grandchild left alive would have written its line, and a bit more.
fn wait_past_the_step() {
    wait_past(STEP_SECONDS);
}

fn wait_past(seconds: u64) {
    std::thread::sleep(Duration::from_millis(seconds * 1000 + 700));
}

fn count(dir: &Path, line: &str) -> usize {
    lines(dir, "log").iter().filter(|l| *l == line).count()
}

#[test]
fn a_timed_out_step_takes_its_grandchildren_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (dir, store) = (dir.path(), dir.path().join("runs.db"));
    write(dir, "workflows/late.yaml", &slow_middle("late", "    timeout: 300ms\n"));
    let (_, stderr) = expect_code(&mut workflow(dir, &store, &["run", "late"]), 1);
    assert!(stderr.contains("timed out after 300ms"), "{stderr}");
    wait_past_the_step();
    assert_eq!(lines(dir, "log"), ["one", "started"], "a grandchild of the timed-out step went on and wrote to the log");
}

fn a_killed_driver_leaves_nothing_running_and_resume_runs_the_step_once(dir: &Path, store: &TestStore) {
    write(dir, "workflows/killed.yaml", &slow_middle("killed", ""));
    let mut driver = spawn(workflow(dir, store, &["run", "killed"]));
    let id = slow_step_running(dir, store);
    driver.kill().unwrap();
    assert_eq!(driver.wait().unwrap().signal(), Some(9));
    wait_past_the_step();
    assert_eq!(count(dir, "two"), 0, "the step's grandchild outlived its SIGKILLed driver: {:?}", lines(dir, "log"));

    let (stdout, _) = expect_code(&mut workflow(dir, store, &["resume", &id]), 0);
    assert!(stdout.contains("completed"), "{stdout}");
    assert_eq!(lines(dir, "log"), ["one", "started", "started", "two", "three"]);
}

/// The watcher that ends a group with its driver is killed before the
/// driver is, so only the resume can end the group: it must, before
/// running the step again (or `two` is written twice).
fn resume_ends_what_a_dead_driver_left_of_the_step_before_running_it_again(dir: &Path, store: &TestStore) {
    // Longer, so the old step is surely still sleeping when the resume comes.
    write(dir, "workflows/left.yaml", &slow_middle_of("left", "", 5));
    let mut driver = spawn(workflow(dir, store, &["run", "left"]));
    let id = slow_step_running(dir, store);
    let group = wait_for(Duration::from_secs(5), "the step's process group to be recorded", || store.recorded_group(&id));
    let watchers = processes_in_group(group, "kill -s KILL 0");
    assert_eq!(watchers.len(), 1, "one watcher in group {group}");
    signal("KILL", watchers[0]);
    driver.kill().unwrap();
    driver.wait().unwrap();
    assert!(!processes_in_group(group, "").is_empty(), "the step's processes should still be there, its watcher gone");

    let (stdout, _) = expect_code(&mut workflow(dir, store, &["resume", &id]), 0);
    assert!(stdout.contains("completed"), "{stdout}");
    wait_past(0);
    assert_eq!(count(dir, "two"), 1, "{:?}", lines(dir, "log"));
    assert!(processes_in_group(group, "").is_empty(), "the old step's processes are still alive after the resume");
}

fn cancel_now_interrupts_the_running_step_and_kills_its_processes(dir: &Path, store: &TestStore) {
    write(dir, "workflows/stop.yaml", &slow_middle("stop", ""));
    let driver = spawn(workflow(dir, store, &["run", "stop"]));
    let id = slow_step_running(dir, store);
    let (stdout, _) = expect_code(&mut workflow(dir, store, &["cancel", "--now", &id]), 0);
    assert_eq!(stdout.trim(), format!("run {id} cancelled"));
    let out = driver.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5), "the driver exits as cancelled: {}", String::from_utf8_lossy(&out.stderr));
    wait_past_the_step();
    assert_eq!(lines(dir, "log"), ["one", "started"]);
    let status = status_json(dir, store, &id);
    assert_eq!(status["run"]["status"], "cancelled");
    let slow = &status["events"][1];
    assert_eq!((slow["step_id"].as_str(), slow["outcome"].as_str()), (Some("slow"), Some("failed")));
    assert!(slow["error"].as_str().unwrap_or_default().contains("cancelled"), "{slow}");
}

fn pause_now_interrupts_the_step_and_resume_runs_it_again(dir: &Path, store: &TestStore) {
    write(dir, "workflows/hold.yaml", &slow_middle("hold", ""));
    let driver = spawn(workflow(dir, store, &["run", "hold"]));
    let id = slow_step_running(dir, store);
    let (stdout, _) = expect_code(&mut workflow(dir, store, &["pause", "--now", &id]), 0);
    assert_eq!(stdout.trim(), format!("run {id} paused"));
    assert_eq!(driver.wait_with_output().unwrap().status.code(), Some(4));
    wait_past_the_step();
    assert_eq!(lines(dir, "log"), ["one", "started"]);

    expect_code(&mut workflow(dir, store, &["resume", &id]), 0);
    assert_eq!(lines(dir, "log"), ["one", "started", "started", "two", "three"]);
}

/// Without `--now`, a cancel waits for the step: its work is done, the next step never starts.
fn cancel_without_now_lets_the_step_finish(dir: &Path, store: &TestStore) {
    write(dir, "workflows/polite.yaml", &slow_middle("polite", ""));
    let driver = spawn(workflow(dir, store, &["run", "polite"]));
    let id = slow_step_running(dir, store);
    let (stdout, _) = expect_code(&mut workflow(dir, store, &["cancel", &id]), 0);
    assert!(stdout.contains("after the current step"), "{stdout}");
    assert_eq!(driver.wait_with_output().unwrap().status.code(), Some(5));
    assert_eq!(lines(dir, "log"), ["one", "started", "two"]);
}

/// The process group recorded with the run's open step.
fn recorded_group(store: &Path, run: &str) -> Option<i32> {
    let conn = rusqlite::Connection::open_with_flags(store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    conn.query_row("SELECT e.process_group FROM runs r JOIN step_events e ON e.run_id = r.id AND e.seq = r.open_seq WHERE r.id = ?1", [run], |row| {
        row.get::<_, Option<i32>>(0)
    })
    .ok()
    .flatten()
}

/// The pids of live processes in group `group` whose command line contains `text`.
fn processes_in_group(group: i32, text: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let mut fields = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace()).into_iter().flatten();
        let (state, pgrp) = (fields.next(), fields.nth(1));
        if state == Some("Z") || pgrp.and_then(|p| p.parse().ok()) != Some(group) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(text) {
            found.push(pid);
        }
    }
    found
}

fn signal(name: &str, pid: i32) {
    let status = Command::new("kill").args(["-s", name, &pid.to_string()]).status().unwrap();
    assert!(status.success());
}
