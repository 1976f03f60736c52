//! The runnable examples under `examples/` work as their READMEs say: each
//! is copied to a temporary folder and run there with the real binary,
//! offline (models replayed from the example's cassette), with no consent
//! given on the command line: the example's own `.workflow/config.yaml`
//! allows its sensitive steps. No user config or `WORKFLOW_YES` leaks in.

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::copy_dir;

/// The examples that run through the CLI, each a folder holding one set of workflows.
const EXAMPLES: [(&str, &[&str]); 3] = [
    ("multi-model-review", &["multi-model-review"]),
    ("test-fix-loop", &["test-fix-loop"]),
    ("audited-batch", &["audited-batch", "close-tickets", "tickets-report"]),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A temporary folder holding a copy of one example and the run store.
struct Sandbox {
    dir: tempfile::TempDir,
    example: PathBuf,
}

impl Sandbox {
    /// Copies `examples/NAME` (without any `target/` a local run left) into a fresh temporary folder.
    fn new(name: &str) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let example = dir.path().join(name);
        copy_dir(&repo().join("examples").join(name), &example);
        Sandbox { dir, example }
    }

    /// `workflow ARGS`, run from the sandbox's root against its store, without a terminal.
    fn workflow(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_workflow"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("WORKFLOW_STORE", self.dir.path().join("runs.db"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("no-user-config"))
            .env_remove("WORKFLOW_CONFIG")
            .env_remove("WORKFLOW_YES")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.output().expect("cannot start `workflow`")
    }

    /// `workflow run EXAMPLE/FILE --cwd EXAMPLE [EXTRA..]`, as the example's README says.
    fn run(&self, file: &str, extra: &[&str]) -> Output {
        let name = self.example.file_name().unwrap().to_str().unwrap();
        let (file, cwd) = (format!("{name}/{file}"), name.to_string());
        let mut args = vec!["run", file.as_str(), "--cwd", cwd.as_str()];
        args.extend_from_slice(extra);
        self.workflow(&args)
    }

    /// `workflow status RUN --json`: the run record, its step events and the people's answers.
    fn status(&self, run: &str) -> Value {
        let out = self.workflow(&["status", run, "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `workflow runs --json`, oldest first.
    fn runs(&self) -> Vec<Value> {
        let out = self.workflow(&["runs", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        runs.reverse();
        runs
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.example.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The outputs of every execution of step `id`, in order.
fn outputs_of<'a>(status: &'a Value, id: &str) -> Vec<&'a Value> {
    status["events"].as_array().unwrap().iter().filter(|e| e["step_id"] == id).map(|e| &e["output"]).collect()
}

#[test]
fn every_example_folder_is_one_valid_set_of_workflows() {
    for (name, workflows) in EXAMPLES {
        let sandbox = Sandbox::new(name);
        let out = sandbox.workflow(&["validate", name, "--json"]);
        assert!(out.status.success(), "examples/{name}: {}", stderr(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["valid"], true, "{report}");
        let names: Vec<&str> = report["workflows"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
        assert_eq!(names, workflows, "examples/{name}: every *.yaml file at its top is a workflow of the set");
    }
}

#[test]
fn multi_model_review_asks_two_models_then_applies_only_after_approval() {
    let sandbox = Sandbox::new("multi-model-review");
    let out = sandbox.run("multi-model-review.yaml", &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "without a terminal the run waits at the gate: {err}");
    for (step, model) in [("first-review", "recorded:security-7b"), ("second-review", "recorded:style-large"), ("consolidate", "recorded:lead")] {
        assert!(err.contains(&format!(".... {step} ({model})")), "{step} is answered by {model}: {err}");
    }
    assert!(err.contains("waiting for approval at step `human`: Apply change.diff? Safe to apply"), "{err}");
    assert!(!sandbox.example.join("target/approved").exists(), "nothing is applied before the approval");

    let status = sandbox.status("multi-model-review");
    assert_eq!(outputs_of(&status, "first-review")[0]["json"]["approved"], true, "{status}");
    assert_eq!(outputs_of(&status, "second-review")[0]["json"]["approved"], false, "{status}");
    assert_eq!(outputs_of(&status, "consolidate")[0]["json"]["verdict"], "approve", "{status}");

    // The remaining step runs in the run's folder, with that folder's config (its allow pattern).
    let out = sandbox.workflow(&["approve", "multi-model-review", "-m", "follow-up filed", "--cwd", "multi-model-review"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = outputs_of(&status, "consolidate")[0]["json"]["summary"].as_str().unwrap().to_string();
    assert_eq!(sandbox.read("target/approved/REVIEW.md"), format!("{summary}\n"));
    assert_eq!(sandbox.read("target/approved/change.diff"), sandbox.read("change.diff"));
    let status = sandbox.status("multi-model-review");
    assert_eq!(status["run"]["status"], "completed", "{status}");
    assert_eq!(status["questions"][0]["comment"], "follow-up filed", "{status}");
}

#[test]
fn multi_model_review_applies_nothing_when_the_person_rejects() {
    let sandbox = Sandbox::new("multi-model-review");
    assert_eq!(sandbox.run("multi-model-review.yaml", &[]).status.code(), Some(3));
    let out = sandbox.workflow(&["reject", "multi-model-review", "-m", "not today", "--cwd", "multi-model-review"]);
    assert_eq!(out.status.code(), Some(1), "the run ends as failed: {}", stderr(&out));
    assert!(stderr(&out).contains("ended as failed at step `not-applied`"), "{}", stderr(&out));
    assert!(!sandbox.example.join("target/approved").exists());
    assert!(outputs_of(&sandbox.status("multi-model-review"), "apply").is_empty(), "the apply step never ran");
}

#[test]
fn test_fix_loop_fixes_a_copy_of_the_project_until_its_test_passes() {
    let sandbox = Sandbox::new("test-fix-loop");
    let original = sandbox.read("project/greet.sh");
    let out = sandbox.run("test-fix-loop.yaml", &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("| FAIL: sh greet.sh Ada printed 'Helo, Ada!'"), "the first test run fails on the typo: {err}");
    assert!(err.contains("| FAIL: sh greet.sh printed 'Hello, !'"), "the second on the missing default: {err}");
    assert!(err.contains("| passed after 2 fixes:"), "{err}");

    // The copy is fixed: its test passes when run by hand.
    assert_eq!(sandbox.read("target/work/greet.sh"), original.replace("name=$1", "name=${1:-world}").replace("Helo,", "Hello,"));
    let test = Command::new("sh").arg("test.sh").current_dir(sandbox.example.join("target/work")).output().unwrap();
    assert!(test.status.success(), "{}", String::from_utf8_lossy(&test.stdout));
    // The example's own project is untouched, here and in the repository.
    assert_eq!(sandbox.read("project/greet.sh"), original);
    assert_eq!(std::fs::read_to_string(repo().join("examples/test-fix-loop/project/greet.sh")).unwrap(), original);

    let status = sandbox.status("test-fix-loop");
    let fixes = outputs_of(&status, "fix");
    assert_eq!(fixes.len(), 2, "{status}");
    for fix in fixes {
        assert_eq!(fix["files_changed"], json!(["target/work/greet.sh"]), "{fix}");
    }
    assert_eq!(status["run"]["state"]["variables"]["fixes"], 2, "{status}");
}

#[test]
fn audited_batch_closes_every_ticket_as_expected_and_starts_its_report() {
    let sandbox = Sandbox::new("audited-batch");
    let out = sandbox.run("audited-batch.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    let runs = sandbox.runs();
    let names: Vec<&str> = runs.iter().map(|r| r["workflow"].as_str().unwrap()).collect();
    assert_eq!(names, ["audited-batch", "close-tickets", "tickets-report"], "{runs:?}");
    assert!(runs.iter().all(|r| r["status"] == "completed"), "{runs:?}");
    assert_eq!(runs[1]["parent_run_id"], runs[0]["id"], "the batch is a child run of the seeding run");
    assert_eq!(runs[2]["parent_run_id"], runs[1]["id"], "on-completion started the report from the batch");

    let batch = &sandbox.status("close-tickets")["run"];
    assert_eq!(batch["input"]["state_snapshot"], json!({ "open": 5, "closed": 1, "replies": 0 }), "{batch}");
    assert_eq!(batch["input"]["expected_work"], json!({ "open": -5, "closed": 5, "replies": 5 }), "{batch}");
    assert_eq!(batch["output"]["delta"], json!({ "open": -5, "closed": 5, "replies": 5 }), "{batch}");
    assert_eq!(batch["output"]["anomalies"], json!([]), "{batch}");

    let report = sandbox.read("target/report.txt");
    assert_eq!(report.lines().filter(|l| l.contains(" closed ")).count(), 6, "{report}");
    assert_eq!(std::fs::read_dir(sandbox.example.join("target/replies")).unwrap().count(), 5);
    assert_eq!(sandbox.read("target/replies/ticket-2.txt"), "Ticket #2: Login times out on slow networks\nFixed in 1.4.1, thanks for the report.\n");
}

#[test]
fn audited_batch_records_an_anomaly_when_a_ticket_cannot_be_closed() {
    let sandbox = Sandbox::new("audited-batch");
    let out = sandbox.run("audited-batch.yaml", &["--var", "blocked=1"]);
    assert!(out.status.success(), "the batch itself completes: {}", stderr(&out));

    let batch = &sandbox.status("close-tickets")["run"];
    assert_eq!(batch["output"]["delta"], json!({ "open": -4, "closed": 4, "replies": 4 }), "{batch}");
    let anomalies = batch["output"]["anomalies"].as_array().unwrap();
    let found: Vec<(&str, &Value, &Value)> = anomalies.iter().map(|a| (a["metric"].as_str().unwrap(), &a["expected"], &a["actual"])).collect();
    assert_eq!(found, [("closed", &json!(5), &json!(4)), ("open", &json!(-5), &json!(-4)), ("replies", &json!(5), &json!(4))], "{batch}");
    assert!(anomalies[0]["message"].as_str().unwrap().contains("expected `closed` to change by +5, but it changed by +4"), "{batch}");
    // Tickets were closed, so the report still runs, and shows the one left open.
    assert!(sandbox.read("target/report.txt").lines().any(|l| l.starts_with("2 ") && l.contains(" open ")), "{}", sandbox.read("target/report.txt"));
}
