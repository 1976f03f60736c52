//! Models in runs: two real loopback HTTP servers (OpenAI-compatible and
//! Anthropic) named in the model config, one conversation shared across model
//! switches, interrupted and resumed runs, budgets, and no API key at rest.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use workflow_core::ir::WorkflowIr;
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;
use workflow_runtime::actions::Actions;
use workflow_runtime::engine::{Engine, IrEngine};
use workflow_runtime::executor::{Executor, ExecutorOptions, ResumeOptions, RunError, StartOptions};
use workflow_runtime::models::{ModelConfig, ModelRuntime};
use workflow_runtime::store::sqlite::{SqliteOptions, SqliteStore};
use workflow_runtime::store::{RunStatus, Store};

const CHAT: &str = r#"
name: chat
models:
  claude: an:claude-test
steps:
  - id: ask1
    action: ai-prompt
    prompt: "first question"
  - id: to-claude
    action: switch-model
    model: claude
  - id: ask2
    action: ai-prompt
    prompt: "second question"
  - id: back
    action: switch-model
    model: original
  - id: ask3
    action: ai-prompt
    prompt: "third question"
"#;

fn ir(yaml: &str) -> Arc<WorkflowIr> {
    let compiled = compile_sources(&[Source::new("test.yaml", yaml)], &ReadOptions::default()).unwrap_or_else(|d| panic!("{}", d.render()));
    Arc::new(compiled.into_iter().next().unwrap().ir)
}

fn engine(ir: &Arc<WorkflowIr>) -> Box<dyn Engine> {
    Box::new(IrEngine::new(ir.clone()))
}

struct Servers {
    openai: MockServer,
    anthropic: MockServer,
    oa_key: String,
    an_key: String,
}

fn openai_answer(text: &str) -> Value {
    json!({
        "id": "c1", "object": "chat.completion", "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    })
}

fn anthropic_answer(text: &str) -> Value {
    json!({
        "id": "m1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 20, "output_tokens": 4}
    })
}

/// Both servers; the OpenAI one answers `answer one`, then `answer three`; the Anthropic one `answer two`
/// (after `anthropic_delay` the first time).
async fn servers(test: &str, anthropic_delay: Option<Duration>) -> Servers {
    let openai = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_answer("answer one")))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&openai)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_answer("answer three")))
        .with_priority(2)
        .mount(&openai)
        .await;
    let anthropic = MockServer::start().await;
    if let Some(delay) = anthropic_delay {
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .respond_with(ResponseTemplate::new(200).set_body_json(anthropic_answer("too late")).set_delay(delay))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&anthropic)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_json(anthropic_answer("answer two")))
        .with_priority(2)
        .mount(&anthropic)
        .await;
    let oa_key = format!("sk-oa-SECRET-{test}-{}", std::process::id());
    let an_key = format!("sk-an-SECRET-{test}-{}", std::process::id());
    std::env::set_var(env_var("OA", test), &oa_key);
    std::env::set_var(env_var("AN", test), &an_key);
    Servers { openai, anthropic, oa_key, an_key }
}

fn env_var(which: &str, test: &str) -> String {
    format!("WF_MODELS_RUN_{which}_KEY_{}", test.to_uppercase())
}

fn config(s: &Servers, test: &str) -> ModelConfig {
    let text = format!(
        r#"
providers:
  oa: {{ kind: openai, base-url: "{}/v1", api-key-env: {} }}
  an: {{ kind: anthropic, base-url: "{}", api-key-env: {} }}
default: "oa:gpt-test"
prices:
  "oa:gpt-test": {{ input: 1.0, output: 2.0 }}
  "an:claude-test": {{ input: 3.0, output: 15.0 }}
"#,
        s.openai.uri(),
        env_var("OA", test),
        s.anthropic.uri(),
        env_var("AN", test)
    );
    let mut config = ModelConfig::builtin();
    config.merge_text(&text, Path::new("test-config.yaml")).unwrap();
    config
}

fn executor(dir: &Path, models: ModelRuntime, lease_ms: u64) -> Executor<SqliteStore> {
    let store = SqliteStore::open(dir.join("runs.db"), SqliteOptions::default()).unwrap();
    let options = ExecutorOptions {
        cwd: dir.to_path_buf(),
        lease_ms,
        operator: "test".into(),
        models: Some(Arc::new(models)),
        consent: workflow_runtime::permissions::Consent::granted(),
        ..ExecutorOptions::default()
    };
    Executor::new(Arc::new(store), Actions::builtin(), options)
}

/// The (role, content) pairs of each request a server received (the system prompt aside).
async fn conversations(server: &MockServer) -> Vec<Vec<(String, String)>> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let body: Value = r.body_json().unwrap();
            body["messages"].as_array().unwrap().iter().map(|m| (m["role"].as_str().unwrap().to_string(), m["content"].as_str().unwrap().to_string())).collect()
        })
        .collect()
}

fn turns(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(r, c)| (r.to_string(), c.to_string())).collect()
}

fn expected() -> [Vec<(String, String)>; 3] {
    [
        turns(&[("user", "first question")]),
        turns(&[("user", "first question"), ("assistant", "answer one"), ("user", "second question")]),
        turns(&[("user", "first question"), ("assistant", "answer one"), ("user", "second question"), ("assistant", "answer two"), ("user", "third question")]),
    ]
}

#[tokio::test]
async fn one_conversation_across_two_providers_and_back_to_original() {
    let dir = tempfile::tempdir().unwrap();
    let s = servers("switch", None).await;
    let ex = executor(dir.path(), ModelRuntime::new(config(&s, "switch")), 30_000);
    let report = ex.start(engine(&ir(CHAT)), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    let [one, two, three] = expected();
    assert_eq!(conversations(&s.openai).await, vec![one, three], "the original model answered the first and third questions");
    assert_eq!(conversations(&s.anthropic).await, vec![two], "the other provider answered the second");

    let events = ex.store().events(&report.run_id).unwrap();
    let output = |id: &str| events.iter().find(|e| e.step_id == id).unwrap().output.clone();
    assert_eq!(output("ask1")["response"], "answer one");
    assert_eq!(output("ask1")["model"], "oa:gpt-test");
    assert_eq!(output("ask2")["model"], "an:claude-test");
    assert_eq!(output("ask2")["usage"], json!({"input_tokens": 20, "output_tokens": 4}));
    assert_eq!(output("ask3")["model"], "oa:gpt-test");
    assert_eq!(output("to-claude")["model"], "an:claude-test");
    let cost = output("ask1")["cost_usd"].as_f64().unwrap();
    assert!((cost - (12.0 + 6.0) / 1e6).abs() < 1e-12, "{cost}");

    let run = ex.store().load_run(&report.run_id).unwrap().unwrap();
    let audit = run.output.clone().expect("an audit output");
    assert_eq!(audit["usage"], json!({"input_tokens": 44, "output_tokens": 10}));
    let usd = audit["cost"]["usd"].as_f64().unwrap();
    assert!((usd - (2.0 * 18.0 + 60.0 + 60.0) / 1e6).abs() < 1e-12, "{usd}");
    assert_eq!(run.state["run"]["model"], "oa:gpt-test");
    assert_eq!(run.state["run"]["original"], "oa:gpt-test");
    assert_eq!(run.state["run"]["conversation"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn an_interrupted_run_continues_the_same_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let s = servers("resume", Some(Duration::from_secs(20))).await;
    let w = ir(CHAT);
    let first = Arc::new(executor(dir.path(), ModelRuntime::new(config(&s, "resume")), 300));
    let task = {
        let (first, w) = (first.clone(), w.clone());
        tokio::spawn(async move { first.start(engine(&w), StartOptions::default()).await })
    };
    for _ in 0..250 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if !s.anthropic.received_requests().await.unwrap().is_empty() {
            break;
        }
    }
    task.abort();
    let _ = task.await;
    let run_id = first.store().list_runs(&Default::default()).unwrap()[0].id.clone();
    let stored = first.store().load_run(&run_id).unwrap().unwrap();
    assert_eq!(stored.open.as_ref().map(|o| o.step_id.as_str()), Some("ask2"), "aborted during the second provider's answer");
    // Let the abandoned lease expire, then resume in a new executor.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = executor(dir.path(), ModelRuntime::new(config(&s, "resume")), 30_000);
    let report = second.resume(&run_id, engine(&w), ResumeOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    assert_eq!(report.trace, ["ask2", "back", "ask3"]);
    let [one, two, three] = expected();
    assert_eq!(conversations(&s.openai).await, vec![one, three], "nothing lost or duplicated across the interruption");
    assert_eq!(conversations(&s.anthropic).await, vec![two.clone(), two], "the interrupted question is asked again, once, with the same conversation");
    let run = second.store().load_run(&run_id).unwrap().unwrap();
    assert_eq!(run.state["run"]["conversation"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn a_run_over_its_token_budget_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let s = servers("budget", None).await;
    let yaml = CHAT.replace("name: chat\n", "name: chat\nbudget:\n  tokens: 10\n");
    let ex = executor(dir.path(), ModelRuntime::new(config(&s, "budget")), 30_000);
    let report = ex.start(engine(&ir(&yaml)), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Paused, "{report:?}");
    assert_eq!(report.reason.as_deref(), Some("budget exceeded: used 15 tokens of 10"));
    assert_eq!(report.trace, ["ask1"]);
    assert!(s.anthropic.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_model_that_does_not_resolve_stops_the_run_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let s = servers("check", None).await;
    let yaml = CHAT.replace("claude: an:claude-test", "claude: anthropik:claude-test");
    let ex = executor(dir.path(), ModelRuntime::new(config(&s, "check")), 30_000);
    let err = ex.start(engine(&ir(&yaml)), StartOptions::default()).await.unwrap_err();
    assert!(matches!(err, RunError::Models { .. }), "{err}");
    assert!(err.to_string().contains("anthropik"), "{err}");
    assert!(ex.store().list_runs(&Default::default()).unwrap().is_empty(), "no run was created");
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect()
}

#[tokio::test]
async fn no_api_key_in_the_store_the_outputs_or_the_cassette() {
    let dir = tempfile::tempdir().unwrap();
    let s = servers("secret", None).await;
    let cassette = dir.path().join("cassette.yaml");
    let models = ModelRuntime::new(config(&s, "secret")).with_recording(&cassette);
    let ex = executor(dir.path(), models, 30_000);
    let report = ex.start(engine(&ir(CHAT)), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    // The keys did reach the servers.
    let sent = s.openai.received_requests().await.unwrap();
    assert_eq!(sent[0].headers.get("authorization").unwrap().to_str().unwrap(), format!("Bearer {}", s.oa_key));
    let outputs = serde_json::to_string(&ex.store().events(&report.run_id).unwrap().iter().map(|e| e.output.clone()).collect::<Vec<_>>()).unwrap();
    assert!(std::fs::read_to_string(&cassette).unwrap().contains("answer two"), "the cassette was written");
    let mut texts = vec![("step outputs".to_string(), outputs.into_bytes())];
    for file in files_under(dir.path()) {
        texts.push((file.display().to_string(), std::fs::read(&file).unwrap()));
    }
    for (what, bytes) in texts {
        for key in [&s.oa_key, &s.an_key] {
            assert!(!bytes.windows(key.len()).any(|w| w == key.as_bytes()), "{what} holds an API key");
            assert!(!bytes.windows(12).any(|w| w == b"SECRET-secre"), "{what} holds part of an API key");
        }
    }
}

#[tokio::test]
async fn streamed_pieces_reach_the_executor_sink_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = servers("stream", None).await;
    let streaming = MockServer::start().await;
    let chunk = |content: &str| json!({"model": "gpt-test", "choices": [{"index": 0, "delta": {"content": content}}]});
    let mut body = String::new();
    for event in
        [chunk("Str"), chunk("eamed "), chunk("answer"), json!({"model": "gpt-test", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}})]
    {
        body += &format!("data: {event}\n\n");
    }
    body += "data: [DONE]\n\n";
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
        .mount(&streaming)
        .await;
    let mut config = config(&s, "stream");
    let extra = format!("providers:\n  st: {{ kind: openai, base-url: \"{}/v1\", api-key-env: {} }}\n", streaming.uri(), env_var("OA", "stream"));
    config.merge_text(&extra, Path::new("stream-config.yaml")).unwrap();
    let pieces = Arc::new(std::sync::Mutex::new(Vec::<(String, String, String, bool)>::new()));
    let sink: workflow_runtime::executor::StreamSink = {
        let pieces = pieces.clone();
        Arc::new(move |p: &workflow_runtime::executor::StreamPiece<'_>| {
            pieces.lock().unwrap().push((p.step_id.to_string(), p.model.to_string(), p.text.to_string(), p.first));
        })
    };
    let store = SqliteStore::open(dir.path().join("runs.db"), SqliteOptions::default()).unwrap();
    let models = ModelRuntime::new(config).with_starting_model("st:gpt-test");
    let options = ExecutorOptions {
        cwd: dir.path().to_path_buf(),
        operator: "test".into(),
        models: Some(Arc::new(models)),
        stream: Some(sink),
        consent: workflow_runtime::permissions::Consent::granted(),
        ..ExecutorOptions::default()
    };
    let ex = Executor::new(Arc::new(store), Actions::builtin(), options);
    let yaml = "name: streamed\nsteps:\n  - id: ask\n    action: ai-prompt\n    prompt: \"stream please\"\n";
    let report = ex.start(engine(&ir(yaml)), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    let pieces = pieces.lock().unwrap().clone();
    let texts: Vec<&str> = pieces.iter().map(|p| p.2.as_str()).collect();
    assert_eq!(texts, ["Str", "eamed ", "answer"], "the pieces, in order");
    assert!(pieces.iter().all(|p| p.0 == "ask" && p.1 == "st:gpt-test"), "{pieces:?}");
    assert_eq!(pieces.iter().map(|p| p.3).collect::<Vec<_>>(), [true, false, false], "only the first piece is marked first");
    let events = ex.store().events(&report.run_id).unwrap();
    let response = events.iter().find(|e| e.step_id == "ask").unwrap().output["response"].clone();
    assert_eq!(response, json!(texts.concat()), "the pieces make up the step's response");
    let sent: Value = streaming.received_requests().await.unwrap()[0].body_json().unwrap();
    assert_eq!(sent["stream"], true);
}
