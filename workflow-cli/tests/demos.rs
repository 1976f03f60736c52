//! The demos the README points at run as a new user runs them: offline, on
//! the embedded defaults (a SQLite store; a model answer replayed from the
//! cassette shipped with the demo).

mod support;

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use support::copy_dir;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn workflow(store: &Path) -> Command {
    let mut cmd = Command::cargo_bin("workflow").unwrap();
    cmd.env("WORKFLOW_STORE", store).env_remove("WORKFLOW_CONFIG").env("XDG_CONFIG_HOME", store.parent().unwrap());
    cmd
}

#[test]
fn the_hello_demo_stops_at_its_gate_and_approve_resumes_it() {
    // As in the README: from the repository's root (its .workflow/config.yaml allows the demo's commands).
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("examples/workflows"), &dir.path().join("examples/workflows"));
    copy_dir(&repo().join(".workflow"), &dir.path().join(".workflow"));
    let store = dir.path().join("runs.db");
    let out = workflow(&store).current_dir(dir.path()).args(["run", "examples/workflows/hello.yaml"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "without a terminal the run waits at the gate: {stderr}");
    assert!(stderr.contains("| hello, round 2"), "{stderr}");
    assert!(stderr.contains(".... summary (replay:scribe)"), "the model step is answered by the replayed model: {stderr}");
    assert!(stderr.contains("waiting for approval at step `review`: Three numbered greetings, one written per round of the loop. Publish"), "{stderr}");
    assert!(!stderr.contains("published:"), "the step after the gate did not run: {stderr}");

    let out = workflow(&store).current_dir(dir.path()).args(["approve", "hello"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("| published: 3 lines in target/hello.log"), "{stderr}");
    assert!(stderr.contains("started by on-completion"), "{stderr}");
    let runs = workflow(&store).args(["runs", "--json"]).output().unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2, "hello and hello-report");
    assert!(runs.as_array().unwrap().iter().all(|r| r["status"] == "completed"), "{runs}");
}

#[test]
fn the_models_demo_replays_its_recorded_answer_offline() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("models-demo");
    copy_dir(&repo().join("examples/models-demo"), &demo);
    let store = dir.path().join("runs.db");
    let out = workflow(&store).arg("run").arg(demo.join("release-notes.yaml")).arg("--cwd").arg(&demo).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(".... draft (demo:notes)"), "the answer streams from the replayed model: {stderr}");
    let notes = std::fs::read_to_string(demo.join("target/release-notes.txt")).unwrap();
    assert_eq!(notes, "Failed steps now retry with exponential backoff and jitter.\nEvery run is audited: what it changed, and whether that was expected.\n");
}
