//! Gates, prompts and consent from the command line, as real processes:
//! a run without a terminal waits (exit code 3) and says how to answer;
//! `approve`, `reject` and `answer` from another shell record who answered
//! and continue the run; `run --wait` keeps a run waiting in its process
//! until another one answers.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use support::{expect_code, lines, run_id_in, status_json, wait_for, workflow, write};

const DEPLOY: &str = r#"
name: deploy
variables:
  target: staging
steps:
  - id: build
    action: shell
    command: "echo built >> log.txt"
  - id: approve
    action: approval-gate
    message: "Deploy to ${target}?"
  - id: ship
    action: shell
    command: "echo shipped to $target >> log.txt"
    requires: approve.approved
"#;

fn as_operator<'a>(cmd: &'a mut std::process::Command, name: &str) -> &'a mut std::process::Command {
    cmd.env("WORKFLOW_OPERATOR", name)
}

#[test]
fn a_gate_waits_with_exit_code_3_and_approve_from_another_shell_continues_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    write(dir.path(), "deploy.yaml", DEPLOY);
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["run", "deploy.yaml"]), 3);
    let run = run_id_in(&stderr);
    assert!(stderr.contains(&format!("approve with `workflow approve {run}`")), "{stderr}");
    assert_eq!(lines(dir.path(), "log.txt"), ["built"], "nothing after the gate ran");

    let (status, _) = expect_code(&mut workflow(dir.path(), &store, &["status", &run]), 0);
    assert!(status.contains("approve gate \"Deploy to staging?\": waiting for an answer"), "{status}");
    assert!(status.contains(&format!("answer with: workflow approve {run}")), "{status}");

    let (stdout, stderr) = expect_code(as_operator(&mut workflow(dir.path(), &store, &["approve", &run[..8], "-m", "checked the build"]), "alice"), 0);
    assert!(stderr.contains(&format!("approved step `approve` of run {run} (as alice)")), "{stderr}");
    assert!(stdout.contains(&format!("run {run} completed")), "{stdout}");
    assert_eq!(lines(dir.path(), "log.txt"), ["built", "shipped to staging"]);

    let status = status_json(dir.path(), &store, &run);
    let decision = &status["questions"][0];
    assert_eq!((decision["kind"].as_str(), decision["operator"].as_str(), decision["approved"].as_bool()), (Some("gate"), Some("alice"), Some(true)));
    assert_eq!(decision["comment"], "checked the build");
    let audit = &status["run"]["output"]["decisions"][0];
    assert_eq!(audit["operator"], "alice", "the audit record names who approved: {audit}");
    assert!(audit["answered_at_ms"].as_u64().is_some());

    // Nothing is left to answer.
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["approve", &run]), 2);
    assert!(stderr.contains("is not waiting for anyone") || stderr.contains("nothing to resume") || stderr.contains("no resumable run"), "{stderr}");
}

#[test]
fn reject_records_the_reason_and_the_guarded_step_does_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    write(dir.path(), "deploy.yaml", DEPLOY);
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["run", "deploy.yaml"]), 3);
    let run = run_id_in(&stderr);
    let (_, stderr) = expect_code(as_operator(&mut workflow(dir.path(), &store, &["reject", "deploy", "-m", "not on a Friday"]), "bob"), 1);
    assert!(stderr.contains("requires `approve.approved`"), "{stderr}");
    assert_eq!(lines(dir.path(), "log.txt"), ["built"]);
    let status = status_json(dir.path(), &store, &run);
    assert_eq!(status["questions"][0]["comment"], "not on a Friday");
    assert_eq!(status["questions"][0]["approved"], false);
}

#[test]
fn only_a_named_approver_may_approve() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    write(dir.path(), "guarded.yaml", &DEPLOY.replace("message: \"Deploy to ${target}?\"", "message: \"Deploy?\"\n    approvers: [carol]"));
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["run", "guarded.yaml"]), 3);
    let run = run_id_in(&stderr);
    let (_, stderr) = expect_code(as_operator(&mut workflow(dir.path(), &store, &["approve", &run]), "mallory"), 2);
    assert!(stderr.contains("`mallory` may not approve step `approve`: its approvers are carol"), "{stderr}");
    expect_code(as_operator(&mut workflow(dir.path(), &store, &["approve", &run]), "carol"), 0);
    assert_eq!(lines(dir.path(), "log.txt"), ["built", "shipped to staging"]);
}

/// Cron and containers set no `$USER`: the answer is recorded under the
/// system account all the same, and `--operator` names someone explicitly.
#[test]
fn without_user_variables_the_operator_is_the_system_account_and_operator_names_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    write(dir.path(), "deploy.yaml", DEPLOY);
    let account = String::from_utf8(std::process::Command::new("id").arg("-un").output().unwrap().stdout).unwrap().trim().to_string();
    let bare = |cmd: &mut std::process::Command| {
        for var in ["WORKFLOW_OPERATOR", "USER", "USERNAME", "LOGNAME"] {
            cmd.env_remove(var);
        }
    };
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["run", "deploy.yaml"]), 3);
    let first = run_id_in(&stderr);
    let mut approve = workflow(dir.path(), &store, &["approve", &first]);
    bare(&mut approve);
    let (_, stderr) = expect_code(&mut approve, 0);
    assert!(stderr.contains(&format!("(as {account})")), "{stderr}");
    assert_eq!(status_json(dir.path(), &store, &first)["questions"][0]["operator"], account.as_str());

    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["run", "deploy.yaml"]), 3);
    let second = run_id_in(&stderr);
    let mut approve = workflow(dir.path(), &store, &["approve", &second, "--operator", "release-captain"]);
    bare(&mut approve);
    let (_, stderr) = expect_code(&mut approve, 0);
    assert!(stderr.contains("(as release-captain)"), "{stderr}");
    assert_eq!(status_json(dir.path(), &store, &second)["questions"][0]["operator"], "release-captain");
}

#[test]
fn answer_checks_the_value_against_the_prompt_then_continues() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    write(
        dir.path(),
        "ask.yaml",
        r#"
name: ask
variables:
  replicas: 1
steps:
  - id: how-many
    action: interactive
    prompt: "How many replicas?"
    validation-pattern: "[0-9]+"
    output: replicas
  - id: scale
    action: shell
    command: "echo scaled to $((replicas * 2)) >> log.txt"
"#,
    );
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["run", "ask.yaml"]), 3);
    let run = run_id_in(&stderr);
    assert!(stderr.contains(&format!("answer with `workflow answer {run} VALUE`")), "{stderr}");
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["approve", &run]), 2);
    assert!(stderr.contains("asks for a value, not a decision"), "{stderr}");
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["answer", &run, "three"]), 2);
    assert!(stderr.contains("the answer must match `[0-9]+`"), "{stderr}");
    // The value from stdin, as a password would be given.
    let mut answer = workflow(dir.path(), &store, &["answer", &run]);
    answer.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = answer.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"3\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines(dir.path(), "log.txt"), ["scaled to 6"], "the answer became an int variable");
}

#[test]
fn a_run_told_to_wait_is_approved_from_another_process_while_it_waits() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    write(dir.path(), "deploy.yaml", DEPLOY);
    let driver = workflow(dir.path(), &store, &["run", "deploy.yaml", "--wait"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The run appears, asks, and keeps waiting in its process.
    let run = wait_for(Duration::from_secs(20), "the run to ask", || {
        let status = support::runs_json(dir.path(), &store).into_iter().next()?;
        let id = status["id"].as_str()?.to_string();
        let detail = status_json(dir.path(), &store, &id);
        detail["questions"].as_array().filter(|q| !q.is_empty()).map(|_| id)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(dir.path(), "log.txt"), ["built"]);
    let (_, stderr) = expect_code(as_operator(&mut workflow(dir.path(), &store, &["approve", &run]), "dana"), 0);
    assert!(stderr.contains("it goes on there"), "approve leaves the run to its driver: {stderr}");
    let out = driver.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("run {run} completed")));
    assert_eq!(lines(dir.path(), "log.txt"), ["built", "shipped to staging"]);
}

#[test]
fn without_consent_a_sensitive_step_waits_and_a_deny_pattern_always_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    write(dir.path(), "clean.yaml", "name: clean\nsteps:\n  - id: wipe\n    action: shell\n    command: \"rm -f scratch.txt && echo wiped >> log.txt\"\n");
    write(dir.path(), "scratch.txt", "");
    let mut run = workflow(dir.path(), &store, &["run", "clean.yaml"]);
    run.env_remove("WORKFLOW_YES");
    let (_, stderr) = expect_code(&mut run, 3);
    assert!(stderr.contains("needs consent for `shell:rm -f scratch.txt && echo wiped >> log.txt`"), "{stderr}");
    assert!(Path::new(&dir.path().join("scratch.txt")).exists(), "it did not run");
    let id = run_id_in(&stderr);
    let mut approve = workflow(dir.path(), &store, &["approve", &id]);
    approve.env_remove("WORKFLOW_YES");
    expect_code(&mut approve, 0);
    assert_eq!(lines(dir.path(), "log.txt"), ["wiped"]);

    // A deny pattern in the project's config beats --yes.
    write(dir.path(), ".workflow/config.yaml", "permissions:\n  deny: [\"shell:rm *\"]\n");
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["run", "clean.yaml", "--yes"]), 1);
    assert!(stderr.contains("matches the deny pattern `shell:rm *`"), "{stderr}");
    assert_eq!(lines(dir.path(), "log.txt"), ["wiped"]);
    // An allow pattern must match every command of the line: `*` does not reach past `&&`.
    write(dir.path(), ".workflow/config.yaml", "permissions:\n  allow: [\"shell:rm -f scratch.txt*\"]\n");
    let mut run = workflow(dir.path(), &store, &["run", "clean.yaml"]);
    run.env_remove("WORKFLOW_YES");
    expect_code(&mut run, 3);
    assert_eq!(lines(dir.path(), "log.txt"), ["wiped"]);
    // Allow patterns matching each command are consent enough.
    write(dir.path(), ".workflow/config.yaml", "permissions:\n  allow: [\"shell:rm -f scratch.txt\", \"shell:echo wiped\"]\n");
    let mut run = workflow(dir.path(), &store, &["run", "clean.yaml"]);
    run.env_remove("WORKFLOW_YES");
    expect_code(&mut run, 0);
    assert_eq!(lines(dir.path(), "log.txt"), ["wiped", "wiped"]);
}

#[test]
fn approve_takes_over_a_waiting_run_whose_driver_died() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    write(dir.path(), "deploy.yaml", DEPLOY);
    let mut driver = workflow(dir.path(), &store, &["run", "deploy.yaml", "--wait"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let run = wait_for(Duration::from_secs(20), "the run to ask", || {
        let status = support::runs_json(dir.path(), &store).into_iter().next()?;
        let id = status["id"].as_str()?.to_string();
        let detail = status_json(dir.path(), &store, &id);
        detail["questions"].as_array().filter(|q| !q.is_empty()).map(|_| id)
    });
    // The driver dies holding the run's lease (SIGKILL: no clean-up).
    driver.kill().unwrap();
    driver.wait().unwrap();
    let (stdout, stderr) = expect_code(as_operator(&mut workflow(dir.path(), &store, &["approve", &run]), "erin"), 0);
    assert!(!stderr.contains("it goes on there"), "a dead driver is not waited for: {stderr}");
    assert!(stdout.contains(&format!("run {run} completed")), "{stdout}{stderr}");
    assert_eq!(lines(dir.path(), "log.txt"), ["built", "shipped to staging"]);
}
