//! People in runs, against real parts: a SQLite store in a temporary folder,
//! real `sh` processes, a real HTTP server for webhooks. The terminal is a
//! scripted implementation of the `Terminal` trait (the pseudo-terminal test
//! of the real one is in workflow-cli/tests/interactive_pty.rs).

use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use workflow_core::ir::WorkflowIr;
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;
use workflow_runtime::actions::Actions;
use workflow_runtime::engine::{Engine, IrEngine};
use workflow_runtime::executor::{Executor, ExecutorOptions, ResumeOptions, StartOptions, Workflows};
use workflow_runtime::human::{now_ms, Answer, Asked, Request, RequestKind, Terminal};
use workflow_runtime::permissions::{Consent, PermissionsConfig};
use workflow_runtime::store::sqlite::{SqliteOptions, SqliteStore};
use workflow_runtime::store::{RunStatus, Store};

fn ir(yaml: &str) -> Arc<WorkflowIr> {
    let compiled = compile_sources(&[Source::new("test.yaml", yaml)], &ReadOptions::default()).unwrap_or_else(|d| panic!("{}", d.render()));
    Arc::new(compiled.into_iter().next().unwrap().ir)
}

/// Workflows compiled together (so `run-workflow` targets resolve), by name.
fn set(yamls: &[&str]) -> Vec<Arc<WorkflowIr>> {
    let sources: Vec<_> = yamls.iter().enumerate().map(|(i, y)| Source::new(format!("w{i}.yaml"), *y)).collect();
    compile_sources(&sources, &ReadOptions::default()).unwrap_or_else(|d| panic!("{}", d.render())).into_iter().map(|c| Arc::new(c.ir)).collect()
}

fn options(dir: &Path) -> ExecutorOptions {
    ExecutorOptions { cwd: dir.to_path_buf(), operator: "starter".into(), consent: Consent::granted(), ..ExecutorOptions::default() }
}

fn executor(dir: &Path, options: ExecutorOptions) -> Executor<SqliteStore> {
    let store = SqliteStore::open(dir.join("runs.db"), SqliteOptions::default()).unwrap();
    Executor::new(Arc::new(store), Actions::builtin(), options)
}

fn engine(ir: &Arc<WorkflowIr>) -> Box<dyn Engine> {
    Box::new(IrEngine::new(ir.clone()))
}

fn decision(approved: bool, operator: &str, comment: &str) -> Answer {
    Answer { approved: Some(approved), value: None, comment: Some(comment.to_string()), operator: operator.to_string(), at_ms: now_ms() }
}

/// A terminal whose person gives these answers, in order (then closes), and which remembers what it was asked.
struct ScriptedTerminal {
    answers: Mutex<Vec<Asked>>,
    asked: Mutex<Vec<Request>>,
}

impl ScriptedTerminal {
    fn new(answers: Vec<Asked>) -> Arc<ScriptedTerminal> {
        Arc::new(ScriptedTerminal { answers: Mutex::new(answers.into_iter().rev().collect()), asked: Mutex::default() })
    }
}

impl Terminal for ScriptedTerminal {
    fn ask(&self, request: &Request) -> Asked {
        self.asked.lock().unwrap().push(request.clone());
        self.answers.lock().unwrap().pop().unwrap_or(Asked::Closed)
    }
}

const DEPLOY: &str = r#"
name: deploy
steps:
  - id: build
    action: shell
    command: "echo built > built.txt"
  - id: approve
    action: approval-gate
    message: "Deploy build?"
  - id: ship
    action: shell
    command: "echo shipped > shipped.txt"
    requires: approve.approved
"#;

#[tokio::test]
async fn without_a_terminal_a_gate_waits_in_the_store_until_approved() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(DEPLOY);
    let ex = executor(dir.path(), options(dir.path()));
    let report = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Waiting, "{report:?}");
    assert!(report.reason.as_deref().unwrap().contains(&format!("workflow approve {}", report.run_id)), "{report:?}");
    assert!(dir.path().join("built.txt").exists());
    assert!(!dir.path().join("shipped.txt").exists(), "nothing after the gate ran");

    // Resuming without an answer waits again, and does not run the gate's successors.
    let again = ex.resume(&report.run_id, engine(&w), ResumeOptions::default()).await.unwrap();
    assert_eq!(again.status, RunStatus::Waiting);
    assert!(!dir.path().join("shipped.txt").exists());

    // Another process (its own connection to the file) approves; the run then goes on.
    let other = SqliteStore::open(dir.path().join("runs.db"), SqliteOptions::default()).unwrap();
    let open = other.questions(&report.run_id).unwrap();
    assert_eq!(open.len(), 1, "asking again did not record a second question");
    assert!(other.answer(&report.run_id, open[0].request.seq, RequestKind::Gate, &decision(true, "alice", "looks right")).unwrap());
    assert!(!other.answer(&report.run_id, open[0].request.seq, RequestKind::Gate, &decision(false, "bob", "late")).unwrap(), "the first answer stands");

    let done = ex.resume(&report.run_id, engine(&w), ResumeOptions::default()).await.unwrap();
    assert_eq!(done.status, RunStatus::Completed, "{done:?}");
    assert_eq!(done.trace, ["approve", "ship"]);
    assert!(dir.path().join("shipped.txt").exists());
    let events = ex.store().events(&report.run_id).unwrap();
    let gate = events.iter().find(|e| e.step_id == "approve").unwrap();
    assert_eq!(gate.output["approved"], json!(true));
    assert_eq!(gate.output["approver"], json!("alice"));
    assert_eq!(gate.output["comment"], json!("looks right"));
    let build_runs = events.iter().filter(|e| e.step_id == "build").count();
    assert_eq!(build_runs, 1, "the steps before the gate ran once");

    // The audit record says who decided, and when.
    let record = ex.store().load_run(&report.run_id).unwrap().unwrap();
    let decisions = &record.output.unwrap()["decisions"];
    assert_eq!(decisions[0]["kind"], json!("gate"));
    assert_eq!(decisions[0]["operator"], json!("alice"));
    assert_eq!(decisions[0]["approved"], json!(true));
    assert!(decisions[0]["answered_at_ms"].as_u64().unwrap() >= decisions[0]["asked_at_ms"].as_u64().unwrap());
}

#[tokio::test]
async fn a_rejected_gate_outputs_false_and_the_step_that_requires_it_does_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(DEPLOY);
    let ex = executor(dir.path(), options(dir.path()));
    let report = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    let seq = ex.store().questions(&report.run_id).unwrap()[0].request.seq;
    ex.store().answer(&report.run_id, seq, RequestKind::Gate, &decision(false, "carol", "not on a Friday")).unwrap();
    let done = ex.resume(&report.run_id, engine(&w), ResumeOptions::default()).await.unwrap();
    assert_eq!(done.status, RunStatus::Failed);
    assert!(done.reason.as_deref().unwrap().contains("requires `approve.approved`"), "{done:?}");
    assert!(!dir.path().join("shipped.txt").exists());
    let events = ex.store().events(&report.run_id).unwrap();
    assert_eq!(events.iter().find(|e| e.step_id == "approve").unwrap().output["comment"], json!("not on a Friday"));
}

#[tokio::test]
async fn a_driver_told_to_wait_picks_up_an_approval_given_from_another_connection() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(DEPLOY);
    let ex = Arc::new(executor(dir.path(), ExecutorOptions { answer_poll: Some(Duration::from_millis(20)), ..options(dir.path()) }));
    let driver = {
        let (ex, w) = (ex.clone(), w.clone());
        tokio::spawn(async move { ex.start(engine(&w), StartOptions::default()).await })
    };
    let other = SqliteStore::open(dir.path().join("runs.db"), SqliteOptions::default()).unwrap();
    let question = loop {
        let runs = other.list_runs(&Default::default()).unwrap();
        if let Some(q) = runs.first().and_then(|r| other.questions(&r.id).unwrap().into_iter().next()) {
            break q;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let record = other.load_run(&question.request.run_id).unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Running, "the driver keeps the run while it waits");
    assert!(!dir.path().join("shipped.txt").exists());
    other.answer(&question.request.run_id, question.request.seq, RequestKind::Gate, &decision(true, "dave", "go")).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(20), driver).await.unwrap().unwrap().unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    assert!(dir.path().join("shipped.txt").exists());
}

#[tokio::test]
async fn a_terminal_answers_gates_and_prompts_and_the_answers_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(r#"
name: ask
variables:
  target: ""
steps:
  - id: where
    action: interactive
    prompt: "Deploy where?"
    input-type: choice
    choices: [staging, production]
    output: target
  - id: approve
    action: approval-gate
    message: "Deploy to ${target}?"
  - id: ship
    action: shell
    command: "echo $target > target.txt"
    requires: approve.approved
"#);
    let value = |v: Value| Asked::Answered(Answer { approved: None, value: Some(v), comment: None, operator: "erin".into(), at_ms: now_ms() });
    let terminal = ScriptedTerminal::new(vec![value(json!("production")), Asked::Answered(decision(true, "erin", ""))]);
    let ex = executor(dir.path(), ExecutorOptions { terminal: Some(terminal.clone()), ..options(dir.path()) });
    let report = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("target.txt")).unwrap().trim(), "production");
    let asked = terminal.asked.lock().unwrap();
    assert_eq!(asked[1].message, "Deploy to production?", "the gate's message was filled in with the answer");
    assert_eq!(asked[0].input.as_ref().unwrap().choices, ["staging", "production"]);
    let stored = ex.store().questions(&report.run_id).unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|q| q.answer.as_ref().is_some_and(|a| a.operator == "erin")));
}

#[tokio::test]
async fn a_prompt_takes_its_default_on_timeout_and_in_unattended_workflows() {
    let dir = tempfile::tempdir().unwrap();
    let prompt = |interactive: bool| {
        ir(&format!(
            r#"
name: defaults
interactive: {interactive}
variables:
  n: 0
steps:
  - id: count
    action: interactive
    prompt: "How many?"
    default: 3
    output: n
"#
        ))
    };
    // A person who does not answer in time: the default.
    let terminal = ScriptedTerminal::new(vec![Asked::TimedOut]);
    let ex = executor(dir.path(), ExecutorOptions { terminal: Some(terminal.clone()), ..options(dir.path()) });
    let report = ex.start(engine(&prompt(true)), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    assert_eq!(ex.store().load_run(&report.run_id).unwrap().unwrap().state["variables"]["n"], json!(3));

    // Unattended: nobody is asked, even with a terminal.
    let terminal = ScriptedTerminal::new(vec![]);
    let ex = executor(dir.path(), ExecutorOptions { terminal: Some(terminal.clone()), ..options(dir.path()) });
    let report = ex.start(engine(&prompt(false)), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    assert!(terminal.asked.lock().unwrap().is_empty());
    let stored = ex.store().questions(&report.run_id).unwrap();
    assert_eq!(stored[0].answer.as_ref().unwrap().operator, "default");
}

const RISKY: &str = r#"
name: risky
steps:
  - id: clean
    action: shell
    command: "touch ran-${name}.txt"
variables:
  name: clean
"#;

fn consent(yes: bool, allow: &[&str], deny: &[&str]) -> Consent {
    let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
    Consent { yes, patterns: PermissionsConfig { allow: list(allow), deny: list(deny) } }
}

#[tokio::test]
async fn a_sensitive_step_without_consent_waits_and_never_runs_silently() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(RISKY);
    let ex = executor(dir.path(), ExecutorOptions { consent: consent(false, &[], &[]), ..options(dir.path()) });
    let report = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Waiting, "{report:?}");
    assert!(!dir.path().join("ran-clean.txt").exists(), "the step did not run");
    let question = &ex.store().questions(&report.run_id).unwrap()[0];
    assert_eq!(question.request.kind, RequestKind::Consent);
    assert_eq!(question.request.permission.as_deref(), Some("shell:touch ran-${name}.txt"), "patterns judge the command as written");
    assert_eq!(question.request.message, "run `touch ran-clean.txt`", "people see what will run");

    // Consent given later: it runs.
    ex.store().answer(&report.run_id, question.request.seq, RequestKind::Consent, &decision(true, "frank", "")).unwrap();
    let done = ex.resume(&report.run_id, engine(&w), ResumeOptions::default()).await.unwrap();
    assert_eq!(done.status, RunStatus::Completed, "{done:?}");
    assert!(dir.path().join("ran-clean.txt").exists());
}

#[tokio::test]
async fn refused_consent_fails_the_step_and_a_deny_pattern_beats_yes_and_allow() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(RISKY);
    let terminal = ScriptedTerminal::new(vec![Asked::Answered(decision(false, "gina", "no touching"))]);
    let ex = executor(dir.path(), ExecutorOptions { consent: consent(false, &[], &[]), terminal: Some(terminal), ..options(dir.path()) });
    let report = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    assert!(report.reason.as_deref().unwrap().contains("gina refused consent for `shell:touch ran-${name}.txt`: no touching"), "{report:?}");
    assert!(!dir.path().join("ran-clean.txt").exists());

    let ex = executor(dir.path(), ExecutorOptions { consent: consent(true, &["shell:*"], &["shell:touch *"]), ..options(dir.path()) });
    let report = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    assert!(report.reason.as_deref().unwrap().contains("matches the deny pattern `shell:touch *`"), "{report:?}");
    assert!(!dir.path().join("ran-clean.txt").exists());

    let ex = executor(dir.path(), ExecutorOptions { consent: consent(false, &["shell:touch ran-*"], &[]), ..options(dir.path()) });
    let report = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "an allow pattern is consent: {report:?}");
    assert!(dir.path().join("ran-clean.txt").exists());
}

#[tokio::test]
async fn a_gate_notifies_a_webhook_and_a_command_once() {
    use wiremock::matchers::{body_partial_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/approvals"))
        .and(body_partial_json(json!({ "event": "approval_requested", "workflow": "notified", "step": "approve", "message": "Ship v2?" })))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let w = ir(&format!(
        r#"
name: notified
steps:
  - id: approve
    action: approval-gate
    message: "Ship v2?"
    notify:
      - "{}/hooks/approvals"
      - "cat > payload.json; echo $WORKFLOW_STEP >> calls.txt"
"#,
        server.uri()
    ));
    let ex = executor(dir.path(), options(dir.path()));
    let report = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Waiting);
    // Asking again (a resume) does not notify again.
    ex.resume(&report.run_id, engine(&w), ResumeOptions::default()).await.unwrap();
    let payload: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("payload.json")).unwrap()).unwrap();
    assert_eq!(payload["run_id"], json!(report.run_id));
    assert_eq!(payload["approve"], json!(format!("workflow approve {}", report.run_id)));
    assert_eq!(std::fs::read_to_string(dir.path().join("calls.txt")).unwrap(), "approve\n");
    server.verify().await;
}

#[tokio::test]
async fn a_gate_notification_links_to_the_run_page_and_the_gate_carries_what_changed_so_far() {
    let dir = tempfile::tempdir().unwrap();
    let w = ir(r#"
name: linked
snapshot:
  lines: { shell: "cat log.txt 2>/dev/null | wc -l" }
expect:
  lines: "2"
steps:
  - id: write
    action: shell
    command: "echo one >> log.txt"
  - id: approve
    action: approval-gate
    message: "Ship?"
    notify: ["cat > payload.json; echo $WORKFLOW_RUN_URL > url.txt"]
"#);
    let options = ExecutorOptions { public_url: Some("https://runs.example.com/".into()), ..options(dir.path()) };
    let ex = executor(dir.path(), options);
    let report = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Waiting);
    let page = format!("https://runs.example.com/runs/{}", report.run_id);
    let payload: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("payload.json")).unwrap()).unwrap();
    assert_eq!(payload["url"], json!(page));
    assert_eq!(std::fs::read_to_string(dir.path().join("url.txt")).unwrap().trim(), page);
    // Measured when the gate asked: one line written of the two expected, so the change so far is an anomaly.
    let question = ex.store().questions(&report.run_id).unwrap().remove(0);
    let measured = question.request.measured.expect("the gate measured the run so far");
    assert_eq!(measured["delta"]["lines"], json!(1));
    assert_eq!(measured["anomalies"][0]["metric"], json!("lines"));
}

fn finder(all: &[Arc<WorkflowIr>]) -> Workflows {
    let all = all.to_vec();
    Arc::new(move |name: &str| all.iter().find(|w| w.name == name).cloned())
}

#[tokio::test]
async fn run_workflow_waits_for_its_child_and_finds_it_again_after_a_wait() {
    let dir = tempfile::tempdir().unwrap();
    let all = set(&[
        r#"
name: release
variables:
  version: "0"
steps:
  - id: approve
    action: approval-gate
    message: "Release ${version}?"
  - id: tag
    action: shell
    command: "echo $version >> tags.txt"
    requires: approve.approved
"#,
        r#"
name: train
steps:
  - id: release
    action: run-workflow
    workflow: release
    inputs: { version: "2.1" }
  - id: after
    action: shell
    command: "echo ${release.status} > after.txt"
"#,
    ]);
    let parent = all[1].clone();
    let ex = executor(dir.path(), ExecutorOptions { workflows: Some(finder(&all)), ..options(dir.path()) });
    let report = ex.start(engine(&parent), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Waiting, "the parent waits while its child waits: {report:?}");
    let runs = ex.store().list_runs(&Default::default()).unwrap();
    let child_run = runs.iter().find(|r| r.workflow == "release").unwrap();
    assert_eq!(child_run.parent_run_id.as_deref(), Some(report.run_id.as_str()));
    assert_eq!(child_run.status, RunStatus::Waiting);
    let question = &ex.store().questions(&child_run.id).unwrap()[0];
    assert_eq!(question.request.message, "Release 2.1?", "inputs became the child's variables");

    ex.store().answer(&child_run.id, question.request.seq, RequestKind::Gate, &decision(true, "hal", "")).unwrap();
    let done = ex.resume(&report.run_id, engine(&parent), ResumeOptions::default()).await.unwrap();
    assert_eq!(done.status, RunStatus::Completed, "{done:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("tags.txt")).unwrap(), "2.1\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("after.txt")).unwrap().trim(), "completed");
    let children = ex.store().list_runs(&Default::default()).unwrap().into_iter().filter(|r| r.workflow == "release").count();
    assert_eq!(children, 1, "resuming the parent resumed its child instead of starting another");
}

#[tokio::test]
async fn a_failed_child_fails_its_step_and_wait_false_goes_on_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let all = set(&[
        "name: broken\nsteps:\n  - id: boom\n    action: shell\n    command: \"exit 7\"\n",
        "name: slow\nsteps:\n  - id: nap\n    action: shell\n    command: \"sleep 0.3; echo done > slow.txt\"\n",
        r#"
name: parent
steps:
  - id: background
    action: run-workflow
    workflow: slow
    wait: false
  - id: mark
    action: shell
    command: "test ! -e slow.txt && echo before > order.txt"
  - id: broken
    action: run-workflow
    workflow: broken
"#,
    ]);
    let parent = all[2].clone();
    let ex = executor(dir.path(), ExecutorOptions { workflows: Some(finder(&all)), ..options(dir.path()) });
    let report = ex.start(engine(&parent), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    assert!(report.reason.as_deref().unwrap().contains("of workflow `broken` failed"), "{report:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("order.txt")).unwrap().trim(), "before", "the parent did not wait for `slow`");
    assert!(dir.path().join("slow.txt").exists(), "the background child was driven to its end before the report came back");
    assert!(report.children.iter().any(|c| c.status == RunStatus::Completed), "{report:?}");
}

/// A custom action in Rust: counts the words of its `text` field.
fn count_words(input: workflow_runtime::ActionInput) -> workflow_runtime::ActionFuture {
    Box::pin(async move {
        let text = input.params.get("text").and_then(Value::as_str).unwrap_or_default().to_string();
        if text.is_empty() {
            return Err("`text` is empty".into());
        }
        Ok(json!({ "words": text.split_whitespace().count() }))
    })
}

#[tokio::test]
async fn a_custom_action_registered_by_name_runs_from_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
name: custom
variables:
  title: "Add retry policy now"
steps:
  - id: count
    action: count-words
    text: "${title}"
  - id: show
    action: shell
    command: "echo ${count.words} > words.txt"
"#;
    let read = ReadOptions { custom_actions: vec!["count-words".to_string()] };
    let w = Arc::new(compile_sources(&[Source::new("custom.yaml", yaml)], &read).unwrap_or_else(|d| panic!("{}", d.render())).remove(0).ir);
    let mut actions = Actions::builtin();
    actions.register_fn("count-words", count_words);
    let store = SqliteStore::open(dir.path().join("runs.db"), SqliteOptions::default()).unwrap();
    let ex = Executor::new(Arc::new(store), actions, options(dir.path()));
    let report = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("words.txt")).unwrap().trim(), "4");

    // Without the registration the step fails with a message naming the action.
    let store = SqliteStore::open(dir.path().join("other.db"), SqliteOptions::default()).unwrap();
    let ex = Executor::new(Arc::new(store), Actions::builtin(), options(dir.path()));
    let report = ex.start(engine(&w), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    assert!(report.reason.as_deref().unwrap().contains("no action `count-words` is registered"), "{report:?}");
}
