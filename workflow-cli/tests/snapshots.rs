//! What people read, pinned: `show` (text and Mermaid), `validate`'s error
//! report, `status` of a run that waited at a gate and was approved, `list`,
//! and `run`'s progress lines. Run ids, times and durations are replaced by
//! placeholders. To accept a deliberate change: `INSTA_UPDATE=always cargo
//! test -p workflow-cli --test snapshots`, then review the diff of
//! `tests/snapshots/`.

mod support;

use std::path::{Path, PathBuf};
use support::{expect_code, run_id_in, workflow, write};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Run ids, hashes, times and durations vary from run to run: snapshots hold placeholders.
const FILTERS: &[(&str, &str)] = &[
    (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[RUN]"),
    (r"\(definition [0-9a-f]{12}\)", "(definition [HASH])"),
    (r"[0-9a-f]{64}", "[HASH]"),
    (r"in \d+ ms", "in [N] ms"),
    (r" +\d+ ms", " [N] ms"),
];

/// Asserts `text` against snapshot `name`, with the placeholders of [`FILTERS`].
fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    for (pattern, replacement) in FILTERS {
        settings.add_filter(pattern, *replacement);
    }
    settings.bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn show_prints_the_steps_and_their_jumps() {
    let dir = tempfile::tempdir().unwrap();
    let file = repo().join("examples/pr-review-loop/pr-review-loop.yaml");
    let (stdout, _) = expect_code(&mut workflow(dir.path(), &dir.path().join("runs.db"), &["show", file.to_str().unwrap()]), 0);
    snapshot("show_text", &stdout);
    let (stdout, _) = expect_code(&mut workflow(dir.path(), &dir.path().join("runs.db"), &["show", file.to_str().unwrap(), "--format", "mermaid"]), 0);
    snapshot("show_mermaid", &stdout);
}

#[test]
fn validate_reports_every_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(repo().join("workflow-core/tests/corpus/invalid/many-errors.yaml")).unwrap();
    write(dir.path(), "many-errors.yaml", &source);
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &dir.path().join("runs.db"), &["validate", "many-errors.yaml"]), 2);
    snapshot("validate_errors", &stderr);
}

#[test]
fn status_shows_the_steps_history_and_who_approved() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    write(
        dir.path(),
        "deploy.yaml",
        "name: deploy\nsteps:\n  - id: build\n    action: shell\n    command: echo built\n  - id: approve\n    action: approval-gate\n    message: \"Ship it?\"\n  - id: ship\n    action: shell\n    command: echo shipped\n    requires: approve.approved\n",
    );
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["run", "deploy.yaml"]), 3);
    snapshot("run_waiting", &stderr);
    let run = run_id_in(&stderr);
    let (waiting, _) = expect_code(&mut workflow(dir.path(), &store, &["status", &run]), 0);
    snapshot("status_waiting", &waiting);
    expect_code(workflow(dir.path(), &store, &["approve", &run, "-m", "looks good"]).env("WORKFLOW_OPERATOR", "alice"), 0);
    let (done, _) = expect_code(&mut workflow(dir.path(), &store, &["status", &run]), 0);
    snapshot("status_completed", &done);
}

#[test]
fn list_names_the_workflows_found() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["hello.yaml", "hello-report.yaml"] {
        std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
        std::fs::copy(repo().join("examples/workflows").join(name), dir.path().join("workflows").join(name)).unwrap();
    }
    write(dir.path(), ".workflow/workflows/broken.yaml", "name: broken\nsteps:\n  - id: a\n    action: shel\n");
    let mut list = workflow(dir.path(), &dir.path().join("runs.db"), &["list"]);
    list.env("HOME", dir.path()).env_remove("XDG_CONFIG_HOME");
    let (stdout, _) = expect_code(&mut list, 0);
    snapshot("list", &stdout);
}
