//! Every shell command a run executes goes through consent and the deny
//! patterns: `shell` steps, `snapshot:` metric commands and a gate's
//! `notify:` commands. And a notify command gets its `${..}` values as data.

use std::path::Path;
use std::sync::Arc;
use workflow_core::ir::WorkflowIr;
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;
use workflow_runtime::actions::Actions;
use workflow_runtime::engine::{Engine, IrEngine};
use workflow_runtime::executor::{Executor, ExecutorOptions, StartOptions};
use workflow_runtime::permissions::{Consent, PermissionsConfig};
use workflow_runtime::store::sqlite::{SqliteOptions, SqliteStore};
use workflow_runtime::store::{RunStatus, Store};

const GUARDED: &str = r#"
name: guarded
variables:
  x: "v"
snapshot:
  probe: { shell: "touch snap-ran && echo 1" }
steps:
  - id: gate
    action: approval-gate
    message: "go on?"
    notify: ["touch notify-ran", "printf '%s' ${x} > notify-arg"]
  - id: work
    action: shell
    command: "touch step-ran"
"#;

fn ir(yaml: &str) -> Arc<WorkflowIr> {
    let compiled = compile_sources(&[Source::new("test.yaml", yaml)], &ReadOptions::default()).unwrap_or_else(|d| panic!("{}", d.render()));
    Arc::new(compiled.into_iter().next().unwrap().ir)
}

fn executor(dir: &Path, consent: Consent) -> Executor<SqliteStore> {
    let store = SqliteStore::open(dir.join("runs.db"), SqliteOptions::default()).unwrap();
    Executor::new(
        Arc::new(store),
        Actions::builtin(),
        ExecutorOptions { cwd: dir.to_path_buf(), operator: "test".into(), consent, ..ExecutorOptions::default() },
    )
}

fn patterns(allow: &[&str], deny: &[&str], yes: bool) -> Consent {
    let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
    Consent { yes, patterns: PermissionsConfig { allow: list(allow), deny: list(deny) } }
}

async fn start(ex: &Executor<SqliteStore>, x: &str) -> workflow_runtime::executor::RunReport {
    let mut engine = IrEngine::new(ir(GUARDED));
    engine.assign("x", serde_json::json!(x)).unwrap();
    ex.start(Box::new(engine) as Box<dyn Engine>, StartOptions::default()).await.unwrap()
}

#[tokio::test]
async fn a_deny_pattern_stops_snapshot_and_notify_commands_too() {
    let dir = tempfile::tempdir().unwrap();
    let ex = executor(dir.path(), patterns(&[], &["shell:*"], true));
    let report = start(&ex, "v").await;
    assert_eq!(report.status, RunStatus::Waiting, "the gate waits: {report:?}");
    assert!(!dir.path().join("snap-ran").exists(), "the snapshot command ran past `deny: shell:*`");
    assert!(!dir.path().join("notify-ran").exists(), "the notify command ran past `deny: shell:*`");
    let record = ex.store().load_run(&report.run_id).unwrap().unwrap();
    assert_eq!(record.input["state_snapshot"]["probe"], serde_json::Value::Null, "not measured");
}

#[tokio::test]
async fn without_consent_neither_runs_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let ex = executor(dir.path(), patterns(&["shell:echo *"], &[], false));
    let report = start(&ex, "v").await;
    assert_eq!(report.status, RunStatus::Waiting, "{report:?}");
    assert!(!dir.path().join("snap-ran").exists(), "the snapshot command ran without consent");
    assert!(!dir.path().join("notify-ran").exists(), "the notify command ran without consent");
}

#[tokio::test]
async fn allow_patterns_of_each_kind_give_consent_to_that_kind() {
    let dir = tempfile::tempdir().unwrap();
    let ex = executor(dir.path(), patterns(&["snapshot:touch snap-ran*", "snapshot:echo *", "notify:touch *"], &[], false));
    let report = start(&ex, "v").await;
    assert_eq!(report.status, RunStatus::Waiting, "{report:?}");
    assert!(dir.path().join("snap-ran").exists(), "allowed by `snapshot:` patterns");
    assert!(dir.path().join("notify-ran").exists(), "allowed by `notify:touch *`");
    assert!(!dir.path().join("notify-arg").exists(), "`printf` is not allowed");
}

#[tokio::test]
async fn notify_commands_get_values_as_data_never_as_code() {
    for hostile in ["$(touch pwned-notify)", "`touch pwned-notify`", "'; touch pwned-notify; '", "a  b *"] {
        let dir = tempfile::tempdir().unwrap();
        let ex = executor(dir.path(), Consent::granted());
        let report = start(&ex, hostile).await;
        assert_eq!(report.status, RunStatus::Waiting, "{report:?}");
        assert!(dir.path().join("snap-ran").exists() && dir.path().join("notify-ran").exists(), "--yes runs both");
        assert!(!dir.path().join("pwned-notify").exists(), "{hostile} ran as code in a notify command");
        assert_eq!(std::fs::read_to_string(dir.path().join("notify-arg")).unwrap(), hostile, "one word, as written");
    }
}
