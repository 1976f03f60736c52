//! `workflow schema` and `workflow completions`, as real processes.

use assert_cmd::Command;

fn workflow() -> Command {
    Command::cargo_bin("workflow").unwrap()
}

#[test]
fn schema_prints_a_json_schema_with_every_action() {
    let out = workflow().arg("schema").output().unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let titles: Vec<&str> = schema["properties"]["steps"]["items"]["oneOf"].as_array().unwrap().iter().map(|s| s["title"].as_str().unwrap()).collect();
    for action in ["shell", "ai-prompt", "loop", "approval-gate", "merge-pr", "end"] {
        assert!(titles.contains(&action), "{action} missing from {titles:?}");
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = workflow().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("workflow") && text.contains("resume") && text.contains("validate"), "{shell}: {text}");
    }
    workflow().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn diff_shows_two_runs_side_by_side_and_marks_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    let hello = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/workflows/hello.yaml");
    // Its model step is answered from the repository's cassette, through its config.
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.workflow");
    std::fs::create_dir_all(dir.path().join(".workflow")).unwrap();
    for file in ["config.yaml", "cassette.yaml"] {
        std::fs::copy(config.join(file), dir.path().join(".workflow").join(file)).unwrap();
    }
    let mut ids = Vec::new();
    for _ in 0..2 {
        // hello stops at its gate (exit code 3); approving it finishes the run.
        let out = workflow().env("WORKFLOW_STORE", &store).arg("run").arg(&hello).arg("--cwd").arg(dir.path()).arg("--yes").output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let id = stderr.lines().find_map(|l| l.strip_prefix("run ")).and_then(|rest| rest.split_whitespace().next()).unwrap().to_string();
        let out = workflow().env("WORKFLOW_STORE", &store).args(["approve", &id, "--yes"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        ids.push(id);
    }
    let out = workflow().env("WORKFLOW_STORE", &store).args(["diff", &ids[0], &ids[1]]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // The second run started from the lines the first one wrote; both added three.
    let line = |label: &str| text.lines().find(|l| l.trim_start_matches(['*', ' ']).starts_with(label)).unwrap_or_default().to_string();
    assert!(line("lines").starts_with('*') && line("lines").contains(" 0 ") && line("lines").trim_end().ends_with('3'), "{text}");
    assert!(text.contains("delta:\n    lines"), "the same delta is not marked: {text}");
    let json = workflow().env("WORKFLOW_STORE", &store).args(["diff", &ids[0], &ids[1], "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["compare"]["delta"]["a"]["lines"], 3);
    assert_eq!(json["compare"]["after"]["b"]["lines"], 6);
}
