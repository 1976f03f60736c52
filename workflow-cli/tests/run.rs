//! `workflow run`, `resume`, `status` and `runs` as a user drives them:
//! exit codes, what is printed, and what the store then says.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use support::{event_steps, expect_code, lines, run_id_in, runs_json, status_json, wait_for, workflow, write};

/// `prepare`, then `check` (fails until the file `ready` exists, saying so on stderr), then `finish`.
const NEEDS_READY: &str = r#"name: needs-ready
steps:
  - id: prepare
    action: shell
    command: "echo prepare >> log"
  - id: check
    action: shell
    command: "echo check >> log; echo looking for ready; test -f ready || { echo 'first line' >&2; echo 'no file named ready' >&2; exit 3; }"
  - id: finish
    action: shell
    command: "echo finish >> log"
"#;

const HELLO: &str = r#"name: hello
steps:
  - id: greet
    action: shell
    command: "echo hello from the greet step"
  - id: write
    action: shell
    command: "echo done > out.txt"
"#;

fn outcomes(status: &Value) -> Vec<String> {
    status["events"].as_array().expect("events").iter().map(|e| e["outcome"].as_str().unwrap_or("open").to_string()).collect()
}

#[test]
fn run_completes_with_progress_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    write(dir, "hello.yaml", HELLO);
    let (stdout, stderr) = expect_code(&mut workflow(dir, &store, &["run", "hello.yaml"]), 0);
    let id = run_id_in(&stdout);
    assert!(stdout.contains(&format!("run {id} completed")), "{stdout}");
    assert!(stderr.contains("ok   greet"), "a progress line per step:\n{stderr}");
    assert!(stderr.contains("ok   write"), "{stderr}");
    assert!(stderr.contains("hello from the greet step"), "a step's output is shown:\n{stderr}");
    assert_eq!(std::fs::read_to_string(dir.join("out.txt")).expect("out.txt"), "done\n", "steps run in the current directory");
}

#[test]
fn cwd_sets_where_steps_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    write(dir, "hello.yaml", HELLO);
    std::fs::create_dir(dir.join("elsewhere")).expect("mkdir");
    expect_code(&mut workflow(dir, &store, &["run", "hello.yaml", "--cwd", "elsewhere"]), 0);
    assert!(dir.join("elsewhere/out.txt").exists());
    assert!(!dir.join("out.txt").exists());
}

#[test]
fn a_failing_step_fails_the_run_and_resume_runs_it_again_once_fixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    write(dir, "needs-ready.yaml", NEEDS_READY);
    let (stdout, stderr) = expect_code(&mut workflow(dir, &store, &["run", "needs-ready.yaml"]), 1);
    let id = run_id_in(&stderr);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("FAIL check"), "the progress line names the step:\n{stderr}");
    assert!(stderr.contains(&format!("run {id} failed: step `check` failed")), "{stderr}");
    assert!(stderr.contains("exited with code 3: no file named ready"), "the command's last stderr line:\n{stderr}");
    assert!(!stderr.contains("exited with code 3: first line"), "{stderr}");
    assert!(stderr.contains(&format!("workflow resume {id}")), "{stderr}");
    assert_eq!(lines(dir, "log"), ["prepare", "check"]);
    let status = status_json(dir, &store, &id);
    assert_eq!(status["run"]["status"], "failed");
    assert_eq!(outcomes(&status), ["completed", "failed"]);

    // Still broken: it fails again, the same way.
    let (_, stderr) = expect_code(&mut workflow(dir, &store, &["resume", &id]), 1);
    assert!(stderr.contains("no file named ready"), "{stderr}");
    assert_eq!(lines(dir, "log"), ["prepare", "check", "check"]);

    write(dir, "ready", "");
    let (stdout, stderr) = expect_code(&mut workflow(dir, &store, &["resume", &id]), 0);
    assert!(stdout.contains(&format!("run {id} completed")), "{stdout}");
    assert!(stderr.contains("ok   check"), "{stderr}");
    assert_eq!(lines(dir, "log"), ["prepare", "check", "check", "check", "finish"], "the failed step ran again, the completed one did not");
    let status = status_json(dir, &store, &id);
    assert_eq!(status["run"]["status"], "completed");
    assert_eq!(event_steps(&status), ["prepare", "check", "check", "check", "finish"]);
    assert_eq!(outcomes(&status), ["completed", "failed", "failed", "completed", "completed"]);
    let seqs: Vec<u64> = status["events"].as_array().expect("events").iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
}

#[test]
fn var_sets_a_typed_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    write(
        dir,
        "typed.yaml",
        r#"name: typed
variables:
  n: 1
  title: "none"
steps:
  - id: double
    action: shell
    command: "echo $((n * 2)) > doubled; echo \"${title}\" > title"
  - id: big
    action: conditional
    check: "n > 2"
    on-true: done
  - id: small
    action: shell
    command: "touch small"
  - id: done
    action: end
"#,
    );
    let (stdout, _) = expect_code(&mut workflow(dir, &store, &["run", "typed.yaml", "--var", "n=3", "--var", "title=Add retries; rm -rf x"]), 0);
    let id = run_id_in(&stdout);
    assert_eq!(std::fs::read_to_string(dir.join("doubled")).expect("doubled").trim(), "6");
    assert_eq!(std::fs::read_to_string(dir.join("title")).expect("title").trim(), "Add retries; rm -rf x");
    assert!(!dir.join("small").exists(), "n > 2 held: 3 is an int, not the text \"3\"");
    let status = status_json(dir, &store, &id);
    assert_eq!(status["run"]["state"]["variables"]["n"], 3, "{}", status["run"]["state"]);
    assert_eq!(status["run"]["input"]["variables"]["n"], 3, "the audit input has the variables as set: {}", status["run"]["input"]);

    // A value of the wrong type, or an unknown variable: refused before anything runs.
    let out = support::output(&mut workflow(dir, &store, &["run", "typed.yaml", "--var", "n=three"]));
    let (code, _, stderr) = support::parts(&out);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("--var n"), "{stderr}");
    let out = support::output(&mut workflow(dir, &store, &["run", "typed.yaml", "--var", "m=1"]));
    let (code, _, stderr) = support::parts(&out);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("no variable `m`"), "{stderr}");
    assert_eq!(runs_json(dir, &store).len(), 1, "no run was started");
}

#[test]
fn an_interrupted_non_idempotent_step_waits_for_a_decision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    write(
        dir,
        "deploy.yaml",
        r#"name: deploy
steps:
  - id: prepare
    action: shell
    command: "echo prepare >> log"
  - id: deploy
    action: shell
    idempotent: false
    command: "echo deploy >> log; sleep 2"
  - id: after
    action: shell
    command: "echo after >> log"
"#,
    );
    let mut child = workflow(dir, &store, &["run", "deploy.yaml"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
    wait_for(Duration::from_secs(10), "the deploy step to start", || (lines(dir, "log") == ["prepare", "deploy"]).then_some(()));
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let id = support::run_ids(dir, &store).pop().expect("the run");
    let status = status_json(dir, &store, &id);
    assert_eq!(status["run"]["status"], "running", "a killed driver leaves its run as it was");
    assert_eq!(status["run"]["open"]["step_id"], "deploy");

    let (_, stderr) = expect_code(&mut workflow(dir, &store, &["resume", &id]), 3);
    assert!(stderr.contains("step `deploy` was interrupted and is not idempotent"), "{stderr}");
    assert!(stderr.contains("--retry-interrupted"), "{stderr}");
    assert!(stderr.contains("--skip-interrupted"), "{stderr}");
    assert_eq!(status_json(dir, &store, &id)["run"]["status"], "waiting");
    assert_eq!(lines(dir, "log"), ["prepare", "deploy"], "the step was not run again without asking");
    // Asking again asks again.
    expect_code(&mut workflow(dir, &store, &["resume", &id]), 3);

    let (stdout, stderr) = expect_code(&mut workflow(dir, &store, &["resume", &id, "--skip-interrupted"]), 0);
    assert!(stdout.contains(&format!("run {id} completed")), "{stdout}{stderr}");
    assert_eq!(lines(dir, "log"), ["prepare", "deploy", "after"], "deploy was skipped, not re-run");
    let status = status_json(dir, &store, &id);
    assert_eq!(event_steps(&status), ["prepare", "deploy", "after"]);
    assert_eq!(outcomes(&status), ["completed", "skipped", "completed"]);
}

#[test]
fn resume_under_a_changed_workflow_needs_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    let file = write(dir, "workflows/needs-ready.yaml", NEEDS_READY);
    let (_, stderr) = expect_code(&mut workflow(dir, &store, &["run", "needs-ready"]), 1);
    let id = run_id_in(&stderr);
    std::fs::write(&file, NEEDS_READY.replace("echo finish >> log", "echo finish-v2 >> log")).expect("edit");
    write(dir, "ready", "");

    let (_, stderr) = expect_code(&mut workflow(dir, &store, &["resume", &id]), 1);
    assert!(stderr.contains("changed since run"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(lines(dir, "log"), ["prepare", "check"], "nothing ran");
    assert_eq!(status_json(dir, &store, &id)["run"]["status"], "failed");

    // By name, with --force: the newest resumable run, under the new definition.
    let (stdout, _) = expect_code(&mut workflow(dir, &store, &["resume", "needs-ready", "--force"]), 0);
    assert!(stdout.contains(&format!("run {id} completed")), "{stdout}");
    assert_eq!(lines(dir, "log"), ["prepare", "check", "check", "finish-v2"]);
}

#[test]
fn a_foreign_store_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let notes = write(dir, "notes.txt", "shopping list:\n- milk\n- bread\n");
    let before = std::fs::read(&notes).expect("read");
    write(dir, "hello.yaml", HELLO);
    for args in [&["runs"][..], &["run", "hello.yaml"], &["status", "hello"], &["resume", "hello"]] {
        let out = support::output(&mut workflow(dir, &notes, args));
        let (code, stdout, stderr) = support::parts(&out);
        assert!(code.is_some_and(|c| c != 0), "`workflow {}` on a foreign store must fail: {code:?}\n{stdout}{stderr}", args.join(" "));
        assert!(stderr.contains(&notes.display().to_string()), "the message names the file:\n{stderr}");
        assert!(stderr.contains("not a workflow store"), "{stderr}");
        assert!(stderr.contains("--store"), "the message says what to do:\n{stderr}");
    }
    assert_eq!(std::fs::read(&notes).expect("read"), before, "the file's bytes are unchanged");
    assert!(!dir.join("out.txt").exists(), "no step ran");
    for extra in ["notes.txt-wal", "notes.txt-shm", "notes.txt-journal"] {
        assert!(!dir.join(extra).exists(), "{extra} was created");
    }
}

/// `--store` naming a folder says so once, and what to give instead.
#[test]
fn a_store_that_is_a_directory_is_explained_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let folder = dir.join("runs");
    std::fs::create_dir(&folder).unwrap();
    write(dir, "hello.yaml", HELLO);
    for args in [&["runs"][..], &["run", "hello.yaml"], &["status", "hello"]] {
        let out = support::output(&mut workflow(dir, &folder, args));
        let (code, _, stderr) = support::parts(&out);
        assert_eq!(code, Some(1), "`workflow {}`:\n{stderr}", args.join(" "));
        assert_eq!(stderr.lines().count(), 1, "one line:\n{stderr}");
        assert!(stderr.contains("is a directory, not a file"), "{stderr}");
        assert_eq!(stderr.matches("directory").count(), 1, "said once:\n{stderr}");
        assert!(stderr.contains(&folder.join("runs.db").display().to_string()), "the message says what to give instead:\n{stderr}");
    }
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0, "nothing was created in the folder");
}

#[test]
fn runs_lists_newest_first_and_status_json_has_the_run_and_its_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    write(dir, "hello.yaml", HELLO);
    write(dir, "needs-ready.yaml", NEEDS_READY);

    let (stdout, _) = expect_code(&mut workflow(dir, &store, &["runs"]), 0);
    assert_eq!(stdout.trim(), "no runs");
    assert_eq!(runs_json(dir, &store), Vec::<Value>::new());

    let mut started = Vec::new();
    for _ in 0..2 {
        let (stdout, _) = expect_code(&mut workflow(dir, &store, &["run", "hello.yaml"]), 0);
        started.push(run_id_in(&stdout));
    }
    let (_, stderr) = expect_code(&mut workflow(dir, &store, &["run", "needs-ready.yaml"]), 1);
    started.push(run_id_in(&stderr));

    let runs = runs_json(dir, &store);
    let ids: Vec<&str> = runs.iter().map(|r| r["id"].as_str().expect("id")).collect();
    let newest_first: Vec<&str> = started.iter().rev().map(String::as_str).collect();
    assert_eq!(ids, newest_first);
    let times: Vec<u64> = runs.iter().map(|r| r["created_at_ms"].as_u64().expect("created_at_ms")).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    assert_eq!(runs[0]["workflow"], "needs-ready");
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(runs[1]["status"], "completed");

    let (text, _) = expect_code(&mut workflow(dir, &store, &["runs"]), 0);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().next().expect("a line").starts_with(&started[2]), "{text}");
    let filtered = |args: &[&str]| -> Vec<String> {
        let (stdout, _) = expect_code(&mut workflow(dir, &store, &[&["runs", "--json"], args].concat()), 0);
        let runs: Vec<Value> = serde_json::from_str(&stdout).expect("JSON");
        runs.iter().map(|r| r["id"].as_str().expect("id").to_string()).collect()
    };
    assert_eq!(filtered(&["--workflow", "hello"]), [started[1].clone(), started[0].clone()]);
    assert_eq!(filtered(&["--status", "failed"]), [started[2].clone()]);
    assert!(filtered(&["--status", "paused"]).is_empty());

    let status = status_json(dir, &store, &started[0]);
    let run = &status["run"];
    assert_eq!(run["id"], started[0].as_str());
    assert_eq!(run["workflow"], "hello");
    assert_eq!(run["status"], "completed");
    assert!(run["definition_hash"].as_str().is_some_and(|h| !h.is_empty()));
    assert_eq!(run["input"]["action"], "start_workflow");
    assert_eq!(run["input"]["triggered_by"], "manual");
    assert_eq!(run["output"]["steps_completed"], 2);
    assert_eq!(event_steps(&status), ["greet", "write"]);
    let greet = &status["events"][0];
    assert_eq!(greet["seq"], 1);
    assert_eq!(greet["outcome"], "completed");
    assert_eq!(greet["output"]["stdout"], "hello from the greet step\n");
    assert_eq!(greet["output"]["exit_code"], 0);

    // By workflow name: its newest run.
    assert_eq!(status_json(dir, &store, "hello")["run"]["id"], started[1].as_str());
}

#[test]
fn runs_on_an_empty_store_says_no_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("new/runs.db");
    let (stdout, _) = expect_code(&mut workflow(dir, &store, &["runs"]), 0);
    assert_eq!(stdout, "no runs\n");
    let (_, stderr) = expect_code(&mut workflow(dir, &store, &["status", "0000"]), 1);
    assert!(stderr.contains("no run `0000`"), "{stderr}");
}

#[test]
fn store_flag_and_environment_name_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    write(dir, "hello.yaml", HELLO);
    let flag = dir.join("flag.db");
    let env = dir.join("env.db");
    // --store wins over $WORKFLOW_STORE.
    expect_code(&mut workflow(dir, &env, &["run", "hello.yaml", "--store", flag.to_str().expect("UTF-8")]), 0);
    assert_eq!(runs_json(dir, &flag).len(), 1);
    assert_eq!(runs_json(dir, &env).len(), 0);
}

#[test]
fn on_completion_starts_the_child_workflow_with_its_parent_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    write(dir, "flows/a.yaml", "name: a\non-completion:\n  - workflow: b\nsteps:\n  - id: a1\n    action: shell\n    command: \"echo a1 >> log\"\n");
    write(dir, "flows/b.yaml", "name: b\nsteps:\n  - id: b1\n    action: shell\n    command: \"echo b1 >> log\"\n");
    let (stdout, stderr) = expect_code(&mut workflow(dir, &store, &["run", "flows/a.yaml"]), 0);
    let a = run_id_in(&stdout);
    assert_eq!(lines(dir, "log"), ["a1", "b1"]);
    assert!(stderr.contains("started by on-completion: run"), "{stderr}");

    let runs = runs_json(dir, &store);
    assert_eq!(runs.len(), 2, "{runs:#?}");
    let b = runs.iter().find(|r| r["workflow"] == "b").expect("b's run");
    let b_id = b["id"].as_str().expect("id");
    assert_eq!(b["parent_run_id"], a.as_str());
    assert!(runs.iter().any(|r| r["workflow"] == "a" && r["id"] == a.as_str() && r["parent_run_id"].is_null()));
    let (text, _) = expect_code(&mut workflow(dir, &store, &["runs"]), 0);
    assert!(text.contains(&a) && text.contains(b_id), "{text}");

    let status = status_json(dir, &store, b_id);
    assert_eq!(status["run"]["parent_run_id"], a.as_str());
    assert_eq!(status["run"]["status"], "completed");
    assert_eq!(status["run"]["input"]["parent_run_id"], a.as_str());
    assert_eq!(status["run"]["input"]["triggered_by"], "on-completion:a");
    assert_eq!(event_steps(&status), ["b1"]);
}

/// `n` is 1 before the run; its one step writes 2.
fn audit_workflow(expected: &str) -> String {
    format!(
        "name: audit
snapshot:
  n: {{ shell: \"cat n\" }}
expect:
  n: \"{expected}\"
steps:
  - id: two
    action: shell
    command: \"echo 2 > n\"
"
    )
}

fn audited(dir: &Path, expected: &str) -> Value {
    let store = dir.join("runs.db");
    write(dir, "audit.yaml", &audit_workflow(expected));
    write(dir, "n", "1\n");
    let (stdout, _) = expect_code(&mut workflow(dir, &store, &["run", "audit.yaml"]), 0);
    status_json(dir, &store, &run_id_in(&stdout))["run"].clone()
}

#[test]
fn the_audit_record_has_the_delta_and_no_anomaly_when_the_work_was_as_expected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = audited(dir.path(), "1");
    assert_eq!(run["input"]["state_snapshot"]["n"], 1, "{}", run["input"]);
    assert_eq!(run["input"]["expected_work"]["n"], 1, "{}", run["input"]);
    assert_eq!(run["output"]["state_after"]["n"], 2, "{}", run["output"]);
    assert_eq!(run["output"]["delta"]["n"], 1, "{}", run["output"]);
    assert_eq!(run["output"]["anomalies"], serde_json::json!([]), "{}", run["output"]);
}

#[test]
fn the_audit_record_has_an_anomaly_when_the_work_differs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = audited(dir.path(), "5");
    assert_eq!(run["output"]["delta"]["n"], 1, "{}", run["output"]);
    let anomalies = run["output"]["anomalies"].as_array().expect("anomalies");
    assert_eq!(anomalies.len(), 1, "{anomalies:#?}");
    assert_eq!(anomalies[0]["metric"], "n");
    assert_eq!(anomalies[0]["expected"], 5);
    assert_eq!(anomalies[0]["actual"], 1);
    assert_eq!(run["status"], "completed", "an anomaly is recorded, it does not fail the run");
}

/// A workflow names its own run: `${run.id}` and friends in fields, a
/// condition on `run.parent_id`, and the same facts in a shell step's environment.
#[test]
fn a_run_knows_its_id_name_start_and_parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let store = dir.join("runs.db");
    let facts = "echo \\\"${run.id} ${run.workflow} ${run.started_at} [${run.parent_id}]\\\" >> facts; echo \\\"$WORKFLOW_RUN_ID $WORKFLOW_NAME $WORKFLOW_STARTED_AT [$WORKFLOW_PARENT_RUN_ID]\\\" >> env";
    write(
        dir,
        "workflows/parent.yaml",
        &format!(
            "name: parent\nsteps:\n  - id: facts\n    action: shell\n    command: \"{facts}\"\n  - id: child\n    action: run-workflow\n    workflow: kid\n"
        ),
    );
    write(
        dir,
        "workflows/kid.yaml",
        &format!(
            "name: kid\nsteps:\n  - id: facts\n    action: shell\n    command: \"{facts}\"\n  - id: top\n    action: conditional\n    check: \"run.parent_id == ''\"\n    on-true: alone\n  - id: nested\n    action: shell\n    command: echo nested >> facts\n    next: done\n  - id: alone\n    action: shell\n    command: echo alone >> facts\n  - id: done\n    action: end\n"
        ),
    );
    let (stdout, _) = support::expect_code(&mut workflow(dir, &store, &["run", "parent"]), 0);
    let parent = support::run_id_in(&stdout);
    let runs = support::runs_json(dir, &store);
    let child = runs.iter().find(|r| r["workflow"] == "kid").expect("the child run")["id"].as_str().unwrap().to_string();
    let written = lines(dir, "facts");
    let started = |line: &str| line.split(' ').nth(2).unwrap_or_default().to_string();
    assert_eq!(written.len(), 3, "{written:?}");
    assert!(written[0].starts_with(&format!("{parent} parent ")) && written[0].ends_with(" []"), "{written:?}");
    assert!(written[1].starts_with(&format!("{child} kid ")) && written[1].ends_with(&format!(" [{parent}]")), "{written:?}");
    assert_eq!(written[2], "nested", "the child took the branch for a run with a parent");
    // The start: the UTC time in the run's id, second-precise.
    let stamp = started(&written[0]);
    assert!(stamp.len() == 20 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T', "{stamp}");
    // The shell environment says the same.
    assert_eq!(lines(dir, "env"), written[..2].to_vec());

    // Alone, the child takes the other branch.
    support::expect_code(&mut workflow(dir, &store, &["run", "kid"]), 0);
    assert_eq!(lines(dir, "facts").last().map(String::as_str), Some("alone"));
}
