//! What the process-level tests share: the `workflow` binary run in a folder
//! against a store file, its output as text or JSON, and waiting for a
//! condition another process brings about.

#![allow(dead_code)]

use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `workflow` binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_workflow"))
}

/// `workflow ARGS` run in `dir` against the store `store`, a file or a URL (through `WORKFLOW_STORE`).
pub fn workflow(dir: &Path, store: &(impl AsRef<OsStr> + ?Sized), args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args).current_dir(dir).env("WORKFLOW_STORE", store).env("WORKFLOW_YES", "1").env_remove("RUST_LOG").stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to its end.
pub fn output(cmd: &mut Command) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output().expect("cannot start `workflow`")
}

/// Exit code, stdout and stderr of a finished command.
pub fn parts(out: &Output) -> (Option<i32>, String, String) {
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs `cmd`, asserts it exits with `code`, and returns its stdout and stderr.
#[track_caller]
pub fn expect_code(cmd: &mut Command, code: i32) -> (String, String) {
    let out = output(cmd);
    let (got, stdout, stderr) = parts(&out);
    assert_eq!(got, Some(code), "{cmd:?} exited with {got:?}, not {code}\n--- stdout:\n{stdout}--- stderr:\n{stderr}");
    (stdout, stderr)
}

/// `workflow status RUN --json`: `{run, events}`.
#[track_caller]
pub fn status_json(dir: &Path, store: &(impl AsRef<OsStr> + ?Sized), run: &str) -> Value {
    let (stdout, _) = expect_code(&mut workflow(dir, store, &["status", run, "--json"]), 0);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("status --json is not JSON ({e}):\n{stdout}"))
}

/// `workflow runs --json`: the runs, newest first.
#[track_caller]
pub fn runs_json(dir: &Path, store: &(impl AsRef<OsStr> + ?Sized)) -> Vec<Value> {
    let (stdout, _) = expect_code(&mut workflow(dir, store, &["runs", "--json"]), 0);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("runs --json is not JSON ({e}):\n{stdout}"))
}

/// The ids of every run in the store, newest first.
#[track_caller]
pub fn run_ids(dir: &Path, store: &(impl AsRef<OsStr> + ?Sized)) -> Vec<String> {
    runs_json(dir, store).iter().map(|r| r["id"].as_str().expect("a run without an id").to_string()).collect()
}

/// The run id in a line `run <id> <status>` of `text`.
#[track_caller]
pub fn run_id_in(text: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix("run ").and_then(|rest| rest.split([' ', ':']).next()))
        .unwrap_or_else(|| panic!("no `run <id> ...` line in:\n{text}"))
        .to_string()
}

/// The step ids of a run's events, in `seq` order.
pub fn event_steps(status: &Value) -> Vec<String> {
    status["events"].as_array().expect("events").iter().map(|e| e["step_id"].as_str().expect("step_id").to_string()).collect()
}

/// Writes `text` to `dir/name`, creating folders on the way.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("a file in a folder")).expect("cannot create a folder");
    std::fs::write(&path, text).expect("cannot write a file");
    path
}

/// The lines of `dir/name` (none when it does not exist).
pub fn lines(dir: &Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(name)).map(|text| text.lines().map(str::to_string).collect()).unwrap_or_default()
}

/// Polls `check` every 10 ms until it gives a value; panics after `limit`.
#[track_caller]
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let began = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(began.elapsed() < limit, "gave up after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Copies the folder `from` to `to`, leaving out `target/` folders (build and run output).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The shared conformance corpus (`../shared/conformance` beside the
/// project, or beside a folder holding it, as for a git worktree in
/// `wt/NAME`). CI lays it there: under `CI=true` a missing corpus fails the
/// test instead of skipping it; elsewhere (a fresh clone) the test is
/// skipped with a printed reason.
pub fn shared_conformance() -> Option<std::path::PathBuf> {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let beside = crate_dir.join("../../shared/conformance");
    let project = std::fs::canonicalize(crate_dir).ok().and_then(|dir| dir.parent().map(std::path::Path::to_path_buf));
    let found = project.and_then(|project| project.ancestors().skip(1).map(|dir| dir.join("shared/conformance")).find(|dir| dir.is_dir()));
    corpus_at(found.unwrap_or(beside), ci)
}

/// `dir` when it is there; else a failure under CI, a printed skip elsewhere.
pub fn corpus_at(dir: std::path::PathBuf, ci: bool) -> Option<std::path::PathBuf> {
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(!ci, "{} is missing: under CI=true the shared conformance corpus must be there (a skip would pass without testing)", dir.display());
    eprintln!("skipped: {} is missing (outside CI)", dir.display());
    None
}
