//! The `workflow` binary as a user runs it: arguments in, exit code and output out.

mod support;

use assert_cmd::cargo::cargo_bin_cmd;
use assert_cmd::Command;
use predicates::prelude::*;
use std::path::PathBuf;
use tempfile::TempDir;

const DEMO: &str = r#"name: demo
description: Build, and fix when the build fails
steps:
  - id: build
    action: shell
    command: "make"
  - id: check
    action: conditional
    check: "build.exit_code == 0"
    on-true: done
  - id: fix
    action: shell
    command: "make fix"
  - id: done
    action: end
"#;

/// `commnd` for `command`, on line 5.
const MISSPELLED: &str = r#"name: broken
steps:
  - id: build
    action: shell
    commnd: "make"
"#;

const LOOP: &str = r#"name: retry-build
variables:
  tries: 0
steps:
  - id: build
    action: shell
    command: "make"
  - id: again
    action: loop
    to: build
    condition: "build.exit_code != 0"
    max-iterations: 3
"#;

fn workflow() -> Command {
    cargo_bin_cmd!("workflow")
}

/// A temporary folder holding `files` (name, text).
fn folder(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn stdout_of(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn validate_accepts_a_valid_file() {
    let dir = folder(&[("demo.yaml", DEMO)]);
    workflow()
        .arg("validate")
        .arg(dir.path().join("demo.yaml"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("ok  demo  (4 steps)  "))
        .stdout(predicate::str::contains("demo.yaml"))
        .stdout(predicate::str::contains("1 workflow valid"));
}

#[test]
fn validate_points_at_the_mistake_and_suggests_a_fix() {
    let dir = folder(&[("broken.yaml", MISSPELLED)]);
    let file = dir.path().join("broken.yaml");
    workflow()
        .arg("validate")
        .arg(&file)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(format!("{}:5:5", file.display())))
        .stderr(predicate::str::contains(r#"commnd: "make""#))
        .stderr(predicate::str::contains("did you mean `command`?"));
}

#[test]
fn validate_quiet_prints_nothing_on_success_but_still_reports_errors() {
    let dir = folder(&[("demo.yaml", DEMO), ("bad/broken.yaml", MISSPELLED)]);
    workflow().args(["validate", "--quiet"]).arg(dir.path().join("demo.yaml")).assert().code(0).stdout("");
    workflow().args(["validate", "-q"]).arg(dir.path().join("bad")).assert().code(2).stderr(predicate::str::contains("did you mean `command`?"));
}

#[test]
fn validate_checks_every_workflow_of_a_folder() {
    let dir = folder(&[("demo.yaml", DEMO), ("retry.yml", LOOP), ("notes.txt", "not a workflow")]);
    workflow()
        .arg("validate")
        .arg(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("ok  demo "))
        .stdout(predicate::str::contains("ok  retry-build  (2 steps)"))
        .stdout(predicate::str::contains("2 workflows valid"));
}

#[test]
fn validate_reports_errors_of_every_set_together() {
    let dir = folder(&[("good/demo.yaml", DEMO), ("bad/broken.yaml", MISSPELLED)]);
    workflow()
        .arg("validate")
        .arg(dir.path().join("good"))
        .arg(dir.path().join("bad"))
        .assert()
        .code(2)
        .stdout(predicate::str::contains("ok  demo"))
        .stdout(predicate::str::contains("workflow valid").not())
        .stderr(predicate::str::contains("broken.yaml:5:5"));
}

#[test]
fn validate_rejects_a_folder_without_workflows() {
    let dir = folder(&[("notes.txt", "nothing here")]);
    workflow().arg("validate").arg(dir.path()).assert().code(2).stderr(predicate::str::contains("no workflow files in"));
}

#[test]
fn validate_json_describes_valid_workflows() {
    let dir = folder(&[("demo.yaml", DEMO)]);
    let out = stdout_of(workflow().args(["validate", "--json"]).arg(dir.path().join("demo.yaml")));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["valid"], true, "{json}");
    let entry = &json["workflows"][0];
    assert_eq!(entry["name"], "demo");
    assert_eq!(entry["steps"], 4);
    assert!(entry["path"].as_str().unwrap().ends_with("demo.yaml"), "{json}");
    assert_eq!(entry["hash"].as_str().unwrap().len(), 64, "{json}");
}

#[test]
fn validate_json_lists_errors_with_their_position() {
    let dir = folder(&[("broken.yaml", MISSPELLED)]);
    let output = workflow().args(["validate", "--json"]).arg(dir.path().join("broken.yaml")).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["valid"], false, "{json}");
    let errors = json["errors"].as_array().unwrap();
    let typo = errors.iter().find(|e| e["message"].as_str().unwrap().contains("commnd")).expect("an error about `commnd`");
    assert_eq!((typo["line"].as_u64(), typo["column"].as_u64()), (Some(5), Some(5)), "{typo}");
    assert!(typo["file"].as_str().unwrap().ends_with("broken.yaml"), "{typo}");
    assert!(typo["help"].as_str().unwrap().contains("did you mean `command`?"), "{typo}");
}

#[test]
fn validate_reports_a_missing_file_as_invalid_input() {
    let dir = folder(&[]);
    workflow()
        .arg("validate")
        .arg(dir.path().join("missing.yaml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.yaml"))
        .stderr(predicate::str::contains("cannot read"));
}

#[test]
fn show_text_lists_header_variables_and_where_each_step_goes() {
    let dir = folder(&[("demo.yaml", DEMO), ("retry.yaml", LOOP)]);
    let text = stdout_of(workflow().arg("show").arg(dir.path().join("demo.yaml")));
    assert!(text.contains("name:        demo"), "{text}");
    assert!(text.contains("description: Build, and fix when the build fails"), "{text}");
    assert!(text.contains("hash:        "), "{text}");
    assert!(text.contains("1. build  shell        -> check"), "{text}");
    assert!(text.contains("2. check  conditional  -> true: done, false: fix  (check: build.exit_code == 0)"), "conditions show as written: {text}");
    assert!(text.contains("3. fix    shell        -> done"), "{text}");
    assert!(text.contains("4. done   end          -> END"), "{text}");

    let text = stdout_of(workflow().arg("show").arg(dir.path().join("retry.yaml")));
    assert!(text.contains("variables:\n  tries: int = 0\n"), "{text}");
    assert!(text.contains("2. again  loop   -> loop: build, next: END, exhausted: FAIL  (while "), "{text}");
    assert!(text.contains("max 3)"), "{text}");
}

#[test]
fn show_mermaid_draws_a_flowchart() {
    let dir = folder(&[("demo.yaml", DEMO)]);
    let text = stdout_of(workflow().arg("show").arg(dir.path().join("demo.yaml")).args(["--format", "mermaid"]));
    assert!(text.starts_with("flowchart TD"), "{text}");
    assert!(text.contains(r#"step_check{"check: conditional"}"#), "{text}");
    assert!(text.contains(r#"step_check -->|"false"| step_fix"#), "{text}");
    assert!(text.contains("step_done --> END"), "{text}");
}

#[test]
fn show_dot_draws_a_digraph() {
    let dir = folder(&[("demo.yaml", DEMO)]);
    let text = stdout_of(workflow().arg("show").arg(dir.path().join("demo.yaml")).args(["-f", "dot"]));
    assert!(text.starts_with("digraph \"demo\" {"), "{text}");
    assert!(text.contains("step_build -> step_check;"), "{text}");
    assert!(text.contains("step_check -> step_fix [label=\"false\"];"), "{text}");
}

#[test]
fn show_json_prints_the_ir() {
    let dir = folder(&[("demo.yaml", DEMO)]);
    let out = stdout_of(workflow().arg("show").arg(dir.path().join("demo.yaml")).args(["--format", "json"]));
    let ir: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ir["name"], "demo");
    let ids: Vec<&str> = ir["steps"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["build", "check", "fix", "done"]);
}

#[test]
fn show_finds_a_workflow_by_name_in_the_project() {
    let dir = folder(&[("workflows/demo.yaml", DEMO), (".workflow/workflows/retry.yml", LOOP)]);
    workflow().current_dir(dir.path()).args(["show", "demo"]).assert().code(0).stdout(predicate::str::contains("name:        demo"));
    workflow()
        .current_dir(dir.path())
        .args(["show", "retry", "--format", "mermaid"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(r#"step_again{"again: loop"}"#));
}

#[test]
fn show_resolves_a_trigger_among_the_workflows_of_its_folder() {
    let release = "name: release\non-completion:\n  - workflow: demo\nsteps:\n  - id: tag\n    action: shell\n    command: \"git tag v1\"\n";
    let dir = folder(&[("workflows/demo.yaml", DEMO), ("workflows/release.yaml", release)]);
    workflow()
        .current_dir(dir.path())
        .args(["show", "release"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("name:        release"))
        .stdout(predicate::str::contains("on completion:\n  demo\n"));
    std::fs::remove_file(dir.path().join("workflows/demo.yaml")).unwrap();
    workflow()
        .current_dir(dir.path())
        .args(["show", "release"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("workflows/release.yaml:3:"))
        .stderr(predicate::str::contains("demo"));
}

#[test]
fn show_explains_where_it_looked_for_an_unknown_name() {
    let dir = folder(&[]);
    workflow()
        .current_dir(dir.path())
        .args(["show", "nothing-here"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("no workflow file or workflow named `nothing-here`"))
        .stderr(predicate::str::contains("./workflows/nothing-here.yaml"));
    workflow().current_dir(dir.path()).args(["show", "missing.yaml"]).assert().code(2).stderr(predicate::str::contains("no such file: missing.yaml"));
}

#[test]
fn show_reports_an_invalid_workflow_instead_of_showing_it() {
    let dir = folder(&[("broken.yaml", MISSPELLED)]);
    workflow().arg("show").arg(dir.path().join("broken.yaml")).assert().code(2).stdout("").stderr(predicate::str::contains("did you mean `command`?"));
}

#[test]
fn help_names_both_subcommands_with_examples() {
    workflow()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("validate"))
        .stdout(predicate::str::contains("show"))
        .stdout(predicate::str::contains("Examples:"));
    workflow().args(["validate", "--help"]).assert().code(0).stdout(predicate::str::contains("--json"));
    workflow().args(["show", "--help"]).assert().code(0).stdout(predicate::str::contains("mermaid"));
}

#[test]
fn usage_mistakes_exit_with_invalid_input() {
    workflow().arg("validate").assert().code(2).stderr(predicate::str::contains("<PATH>"));
    workflow().args(["show", "x.yaml", "--format", "png"]).assert().code(2);
}

/// The shared corpus, present next to the project in CI (which fails without it; a fresh clone may lack it).
fn conformance() -> Option<PathBuf> {
    support::shared_conformance()
}

#[test]
fn conformance_valid_folder_passes() {
    let Some(dir) = conformance() else { return };
    workflow().arg("validate").arg(dir.join("valid")).assert().code(0).stdout(predicate::str::contains("workflows valid"));
}
