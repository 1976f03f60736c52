//! Two `workflow` processes on one run: while one drives it, another's
//! `resume` is refused (naming the driver), and its `pause` / `cancel` stop
//! the driver after the current step.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{event_steps, expect_code, lines, parts, status_json, wait_for, workflow, write};

/// A long first step, then two quick ones; each appends its id to `log`.
fn three_steps(name: &str, first_sleep: &str) -> String {
    format!(
        "name: {name}
steps:
  - id: one
    action: shell
    command: \"echo one >> log; sleep {first_sleep}\"
  - id: two
    action: shell
    command: \"echo two >> log\"
  - id: three
    action: shell
    command: \"echo three >> log\"
"
    )
}

fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("cannot start `workflow`")
}

/// Waits until the run in `dir`'s store exists and its step `one` is running (it has written its line).
fn running_step_one(dir: &Path, store: &Path) -> String {
    wait_for(Duration::from_secs(10), "the run to start step `one`", || {
        let ids = support::run_ids(dir, store);
        let [id] = ids.as_slice() else { return None };
        let status = status_json(dir, store, id);
        (status["run"]["open"]["step_id"] == "one" && lines(dir, "log") == ["one"]).then(|| id.clone())
    })
}

#[test]
fn a_second_resume_is_refused_while_another_process_drives_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    write(dir, "workflows/slow.yaml", &three_steps("slow", "2"));
    let driver = spawn(workflow(dir, &store, &["run", "slow"]));
    let pid = driver.id();
    let id = running_step_one(dir, &store);

    let (_, stderr) = expect_code(&mut workflow(dir, &store, &["resume", &id]), 1);
    assert!(stderr.contains(&format!("being driven by process {pid}")), "the refusal must name the driver's pid {pid}:\n{stderr}");
    assert!(stderr.contains(&id), "{stderr}");
    // The same through the workflow's name.
    let (_, stderr) = expect_code(&mut workflow(dir, &store, &["resume", "slow"]), 1);
    assert!(stderr.contains(&format!("being driven by process {pid}")), "{stderr}");

    let out = driver.wait_with_output().expect("wait");
    let (code, stdout, stderr) = parts(&out);
    assert_eq!(code, Some(0), "the driver completes undisturbed\n{stdout}{stderr}");
    assert_eq!(support::run_id_in(&stdout), id);
    assert_eq!(lines(dir, "log"), ["one", "two", "three"], "no step ran twice");
    let status = status_json(dir, &store, &id);
    assert_eq!(status["run"]["status"], "completed");
    assert_eq!(event_steps(&status), ["one", "two", "three"]);
}

#[test]
fn pause_from_another_process_stops_the_run_after_the_current_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    write(dir, "pausable.yaml", &three_steps("pausable", "2"));
    let driver = spawn(workflow(dir, &store, &["run", "pausable.yaml"]));
    let id = running_step_one(dir, &store);

    let (stdout, _) = expect_code(&mut workflow(dir, &store, &["pause", &id[..13]]), 0);
    assert!(stdout.contains("pause requested"), "{stdout}");

    let out = driver.wait_with_output().expect("wait");
    let (code, stdout, stderr) = parts(&out);
    assert_eq!(code, Some(4), "a paused run exits 4\n{stdout}{stderr}");
    assert!(stderr.contains(&format!("run {id} paused")), "{stderr}");
    assert!(stderr.contains(&format!("workflow resume {id}")), "{stderr}");
    assert_eq!(lines(dir, "log"), ["one"], "the step running when pause was asked finishes; the next does not start");

    let (text, _) = expect_code(&mut workflow(dir, &store, &["status", &id]), 0);
    assert!(text.contains("status:   paused"), "{text}");
    assert!(text.lines().any(|l| l.trim_start().starts_with("> two")), "the next step is marked `>`:\n{text}");
    assert!(!text.lines().any(|l| l.trim_start().starts_with("> one") || l.trim_start().starts_with("> three")), "{text}");
    let status = status_json(dir, &store, &id);
    assert_eq!(status["run"]["status"], "paused");
    assert!(status["run"]["open"].is_null(), "a paused run has no started step: {}", status["run"]);
    assert!(status["run"]["lease"].is_null(), "a paused run is not driven: {}", status["run"]);

    let (stdout, _) = expect_code(&mut workflow(dir, &store, &["resume", &id]), 0);
    assert!(stdout.contains(&format!("run {id} completed")), "{stdout}");
    assert_eq!(lines(dir, "log"), ["one", "two", "three"], "no step ran twice");
    let status = status_json(dir, &store, &id);
    assert_eq!(status["run"]["status"], "completed");
    assert_eq!(event_steps(&status), ["one", "two", "three"]);
    assert!(status["events"].as_array().expect("events").iter().all(|e| e["outcome"] == "completed"), "{status:#}");
}

#[test]
fn cancel_from_another_process_stops_the_run_for_good() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    write(dir, "cancellable.yaml", &three_steps("cancellable", "2"));
    let driver = spawn(workflow(dir, &store, &["run", "cancellable.yaml"]));
    let id = running_step_one(dir, &store);

    let (stdout, _) = expect_code(&mut workflow(dir, &store, &["cancel", &id]), 0);
    assert!(stdout.contains("cancel requested"), "{stdout}");

    let out = driver.wait_with_output().expect("wait");
    let (code, stdout, stderr) = parts(&out);
    assert_eq!(code, Some(5), "a cancelled run exits 5\n{stdout}{stderr}");
    assert!(stderr.contains(&format!("run {id} cancelled")), "{stderr}");
    assert_eq!(lines(dir, "log"), ["one"]);

    let status = status_json(dir, &store, &id);
    assert_eq!(status["run"]["status"], "cancelled");
    assert!(status["run"]["finished_at_ms"].is_u64());
    assert_eq!(status["run"]["output"]["status"], "cancelled", "a cancelled run has its audit output");
    assert_eq!(event_steps(&status), ["one"]);

    // Over for good: resume, pause and cancel refuse it.
    let (_, stderr) = expect_code(&mut workflow(dir, &store, &["resume", &id]), 1);
    assert!(stderr.contains("cancelled") && stderr.contains("nothing to resume"), "{stderr}");
    let (_, stderr) = expect_code(&mut workflow(dir, &store, &["pause", &id]), 1);
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert_eq!(lines(dir, "log"), ["one"]);
}

#[test]
fn pause_and_cancel_of_a_run_nobody_drives_take_effect_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    write(dir, "fails.yaml", "name: fails\nsteps:\n  - id: need\n    action: shell\n    command: \"test -f ready\"\n");
    let (_, stderr) = expect_code(&mut workflow(dir, &store, &["run", "fails.yaml"]), 1);
    let id = support::run_id_in(&stderr);

    let (stdout, _) = expect_code(&mut workflow(dir, &store, &["pause", &id]), 0);
    assert!(stdout.contains(&format!("run {id} paused")), "{stdout}");
    assert_eq!(status_json(dir, &store, &id)["run"]["status"], "paused");
    let (stdout, _) = expect_code(&mut workflow(dir, &store, &["cancel", &id]), 0);
    assert!(stdout.contains(&format!("run {id} cancelled")), "{stdout}");
    assert_eq!(status_json(dir, &store, &id)["run"]["status"], "cancelled");
}

#[test]
fn two_resumes_racing_for_a_dead_drivers_run_drive_it_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    write(dir, "racy.yaml", &three_steps("racy", "1"));
    let mut driver = spawn(workflow(dir, &store, &["run", "racy.yaml"]));
    let id = running_step_one(dir, &store);
    driver.kill().expect("SIGKILL");
    driver.wait().expect("wait");

    let racers: Vec<Child> = (0..2).map(|_| spawn(workflow(dir, &store, &["resume", &id]))).collect();
    let pids: Vec<u32> = racers.iter().map(Child::id).collect();
    let ends: Vec<_> = racers.into_iter().map(|c| parts(&c.wait_with_output().expect("wait"))).collect();
    let winners: Vec<usize> = (0..2).filter(|&i| ends[i].0 == Some(0)).collect();
    let [winner] = winners[..] else { panic!("exactly one resume drives the run to its end: {ends:#?}") };
    let (code, _, stderr) = &ends[1 - winner];
    assert_eq!(*code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("being driven by process {}", pids[winner])) || stderr.contains("nothing to resume"),
        "the loser is refused, naming the winner (or finds the run over):\n{stderr}"
    );
    let log = lines(dir, "log");
    assert_eq!(log, ["one", "one", "two", "three"], "the interrupted step ran again once; the others once");
    let status = status_json(dir, &store, &id);
    assert_eq!(status["run"]["status"], "completed");
    assert_eq!(event_steps(&status), ["one", "two", "three"]);
}

/// store.md: a finished run has its audit output. A run nobody drives that
/// `workflow cancel` ends gets a `cancelled` output, whatever it was before
/// (`failed`, or paused with none).
#[test]
fn cancelling_an_idle_run_records_a_cancelled_audit_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    write(dir, "fails.yaml", "name: fails\nsteps:\n  - id: need\n    action: shell\n    command: \"test -f ready\"\n");
    let (_, stderr) = expect_code(&mut workflow(dir, &store, &["run", "fails.yaml"]), 1);
    let id = support::run_id_in(&stderr);
    expect_code(&mut workflow(dir, &store, &["cancel", &id]), 0);
    let run = status_json(dir, &store, &id)["run"].clone();
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["output"]["status"], "cancelled", "the audit output disagrees with the run: {}", run["output"]);
}
