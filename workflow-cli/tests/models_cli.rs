//! Models through the `workflow` binary: two loopback servers (OpenAI-compatible
//! and Anthropic, streaming) named in the project's model config, a run that
//! switches between them and back to `original`, SIGKILLed while the second
//! provider's answer is pending and resumed by another process; no API key in
//! the children's logs, the store or the cassette; `run --estimate`.

mod support;

use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{expect_code, parts, status_json, workflow};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CHAT: &str = r#"name: chat
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

fn openai_sse(text: &str) -> String {
    let mut body = String::new();
    for word in text.split_inclusive(' ') {
        body += &format!("data: {}\n\n", json!({"model": "gpt-test", "choices": [{"index": 0, "delta": {"content": word}}]}));
    }
    body += &format!("data: {}\n\n", json!({"model": "gpt-test", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}}));
    body + "data: [DONE]\n\n"
}

fn anthropic_sse(text: &str) -> String {
    let events = [
        json!({"type": "message_start", "message": {"id": "m1", "model": "claude-test", "content": [], "usage": {"input_tokens": 20, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}}),
        json!({"type": "message_stop"}),
    ];
    events.iter().map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap())).collect()
}

fn sse(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

struct Setup {
    rt: tokio::runtime::Runtime,
    openai: MockServer,
    anthropic: MockServer,
    dir: tempfile::TempDir,
    keys: [(String, String); 2],
}

/// The servers (the Anthropic one answers its first request after `delay`), and
/// a project folder whose `.workflow/config.yaml` names them.
fn setup(test: &str, delay: Option<Duration>) -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (openai, anthropic) = rt.block_on(async {
        let openai = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(sse(openai_sse("answer one")))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&openai)
            .await;
        Mock::given(method("POST")).and(path("/v1/chat/completions")).respond_with(sse(openai_sse("answer three"))).with_priority(2).mount(&openai).await;
        let anthropic = MockServer::start().await;
        if let Some(delay) = delay {
            Mock::given(method("POST"))
                .and(path("/v1/messages"))
                .respond_with(sse(anthropic_sse("too late")).set_delay(delay))
                .up_to_n_times(1)
                .with_priority(1)
                .mount(&anthropic)
                .await;
        }
        Mock::given(method("POST")).and(path("/v1/messages")).respond_with(sse(anthropic_sse("answer two"))).with_priority(2).mount(&anthropic).await;
        (openai, anthropic)
    });
    let dir = tempfile::tempdir().unwrap();
    let pid = std::process::id();
    let keys = [
        (format!("WF_MODELS_CLI_OA_KEY_{}_{pid}", test.to_uppercase()), format!("sk-oa-SECRET-{test}-{pid}-x9")),
        (format!("WF_MODELS_CLI_AN_KEY_{}_{pid}", test.to_uppercase()), format!("sk-an-SECRET-{test}-{pid}-y7")),
    ];
    std::fs::create_dir_all(dir.path().join(".workflow")).unwrap();
    std::fs::create_dir_all(dir.path().join("home")).unwrap();
    let config = format!(
        "providers:\n  oa: {{ kind: openai, base-url: \"{}/v1\", api-key-env: {} }}\n  an: {{ kind: anthropic, base-url: \"{}\", api-key-env: {} }}\ndefault: \"oa:gpt-test\"\nprices:\n  \"oa:gpt-test\": {{ input: 1.0, output: 2.0 }}\n  \"an:claude-test\": {{ input: 3.0, output: 15.0 }}\n",
        openai.uri(),
        keys[0].0,
        anthropic.uri(),
        keys[1].0
    );
    std::fs::write(dir.path().join(".workflow/config.yaml"), config).unwrap();
    std::fs::write(dir.path().join("chat.yaml"), CHAT).unwrap();
    Setup { rt, openai, anthropic, dir, keys }
}

impl Setup {
    fn store(&self) -> std::path::PathBuf {
        self.dir.path().join("runs.db")
    }

    /// `workflow ARGS` with the keys (in its environment only), debug logging and no user config.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = workflow(self.dir.path(), &self.store(), args);
        for (var, key) in &self.keys {
            cmd.env(var, key);
        }
        let home = self.dir.path().join("home");
        cmd.env("RUST_LOG", "debug").env("HOME", &home).env("XDG_CONFIG_HOME", &home);
        cmd
    }

    /// The (role, content) pairs of each request `server` received.
    fn conversations(&self, server: &MockServer) -> Vec<Vec<(String, String)>> {
        self.rt.block_on(server.received_requests()).unwrap().iter().map(|r| messages(&r.body_json().unwrap())).collect()
    }

    fn requests(&self, server: &MockServer) -> usize {
        self.rt.block_on(server.received_requests()).unwrap().len()
    }

    /// Asserts no API key (nor a long piece of one) is in `bytes`.
    #[track_caller]
    fn assert_no_key(&self, what: &str, bytes: &[u8]) {
        for (_, key) in &self.keys {
            assert!(!bytes.windows(key.len()).any(|w| w == key.as_bytes()), "{what} holds an API key");
            let piece = &key.as_bytes()[..16];
            assert!(!bytes.windows(piece.len()).any(|w| w == piece), "{what} holds part of an API key");
        }
    }
}

fn messages(body: &Value) -> Vec<(String, String)> {
    body["messages"].as_array().unwrap().iter().map(|m| (m["role"].as_str().unwrap().to_string(), m["content"].as_str().unwrap().to_string())).collect()
}

fn turns(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(r, c)| (r.to_string(), c.to_string())).collect()
}

#[test]
fn a_killed_run_with_two_providers_resumes_in_another_process_with_the_same_conversation_and_no_key_leaks() {
    let s = setup("kill", Some(Duration::from_secs(2)));
    let cassette = s.dir.path().join("cassette.yaml");
    let mut run = s.cmd(&["run", "chat.yaml", "--record", cassette.to_str().unwrap()]);
    let mut child = run.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("cannot start `workflow run`");
    let start = Instant::now();
    while s.requests(&s.anthropic) == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "the run never asked the second provider");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before asking the second provider");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL, while the second provider's answer is pending
    let killed = child.wait_with_output().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&killed.status), Some(9), "killed by SIGKILL");
    let mut stderrs = vec![("the killed run's stderr".to_string(), killed.stderr.clone())];
    assert!(String::from_utf8_lossy(&killed.stderr).contains(".... ask1 (oa:gpt-test)"), "the first answer was streamed to the terminal");

    let run_id = support::run_ids(s.dir.path(), &s.store()).pop().expect("the killed run was recorded");
    let out = s.cmd(&["resume", &run_id]).stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap();
    let (code, stdout, stderr) = parts(&out);
    assert_eq!(code, Some(0), "resume failed\n--- stdout:\n{stdout}--- stderr:\n{stderr}");
    assert!(stdout.contains("completed"), "{stdout}");
    assert!(stderr.contains(".... ask2 (an:claude-test)\nanswer two"), "the answer is streamed as it arrives:\n{stderr}");
    assert!(stderr.contains(".... ask3 (oa:gpt-test)\nanswer three"), "{stderr}");
    assert_eq!(stderr.matches("answer three").count(), 1, "an answer is not printed twice:\n{stderr}");
    stderrs.push(("the resume's stderr".to_string(), out.stderr.clone()));

    let one = turns(&[("user", "first question")]);
    let two = turns(&[("user", "first question"), ("assistant", "answer one"), ("user", "second question")]);
    let three =
        turns(&[("user", "first question"), ("assistant", "answer one"), ("user", "second question"), ("assistant", "answer two"), ("user", "third question")]);
    assert_eq!(s.conversations(&s.openai), vec![one, three], "the original model answered the first and third questions");
    assert_eq!(s.conversations(&s.anthropic), vec![two.clone(), two], "the interrupted question was asked again, once, with the same conversation");

    let status = status_json(s.dir.path(), &s.store(), &run_id);
    assert_eq!(status["run"]["status"], "completed", "{status}");
    let conversation = &status["run"]["state"]["run"]["conversation"];
    let expected = json!([
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "answer one"},
        {"role": "user", "content": "second question"},
        {"role": "assistant", "content": "answer two"},
        {"role": "user", "content": "third question"},
        {"role": "assistant", "content": "answer three"},
    ]);
    assert_eq!(conversation, &expected, "{status}");
    let answered: Vec<(String, Value)> = status["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "completed" && e["step_id"].as_str().unwrap().starts_with("ask"))
        .map(|e| (e["step_id"].as_str().unwrap().to_string(), e["output"]["model"].clone()))
        .collect();
    assert_eq!(
        answered,
        [("ask1".to_string(), json!("oa:gpt-test")), ("ask2".to_string(), json!("an:claude-test")), ("ask3".to_string(), json!("oa:gpt-test"))],
        "which model answered each step"
    );

    // The keys reached the servers, and nowhere else.
    let sent = s.rt.block_on(s.anthropic.received_requests()).unwrap();
    assert_eq!(sent[0].headers.get("x-api-key").unwrap().to_str().unwrap(), s.keys[1].1);
    let (_, status_err) = expect_code(&mut s.cmd(&["status", &run_id]), 0);
    stderrs.push(("status's stderr".to_string(), status_err.into_bytes()));
    assert!(stderrs.iter().any(|(_, e)| String::from_utf8_lossy(e).contains("DEBUG")), "debug logging was on");
    for (what, bytes) in &stderrs {
        s.assert_no_key(what, bytes);
    }
    assert!(std::fs::read_to_string(&cassette).unwrap().contains("answer one"), "the cassette was written");
    s.assert_no_key("the cassette", &std::fs::read(&cassette).unwrap());
    for file in ["runs.db", "runs.db-wal"] {
        if let Ok(bytes) = std::fs::read(s.dir.path().join(file)) {
            s.assert_no_key(file, &bytes);
        }
    }
}

#[test]
fn estimate_prints_the_expected_cost_from_past_runs_without_running() {
    let s = setup("estimate", None);
    let (stdout, _) = expect_code(&mut s.cmd(&["run", "chat.yaml", "--estimate"]), 0);
    assert!(stdout.contains("no completed past runs"), "{stdout}");
    assert_eq!(stdout.matches("no past runs: unknown").count(), 3, "{stdout}");
    assert!(stdout.contains("an:claude-test"), "the models are resolved from the definition:\n{stdout}");
    assert_eq!(s.requests(&s.openai) + s.requests(&s.anthropic), 0, "nothing was asked");
    assert!(support::run_ids(s.dir.path(), &s.store()).is_empty(), "no run was started");

    let cassette = s.dir.path().join("estimate-cassette.yaml");
    let (_, run_err) = expect_code(&mut s.cmd(&["run", "chat.yaml", "--record", cassette.to_str().unwrap()]), 0);
    s.assert_no_key("the run's stderr", run_err.as_bytes());
    s.assert_no_key("the cassette", &std::fs::read(&cassette).unwrap());
    let asked = s.requests(&s.openai) + s.requests(&s.anthropic);
    let (stdout, err) = expect_code(&mut s.cmd(&["run", "chat.yaml", "--estimate"]), 0);
    s.assert_no_key("the estimate's stderr", err.as_bytes());
    assert_eq!(s.requests(&s.openai) + s.requests(&s.anthropic), asked, "nothing was asked");
    assert!(stdout.contains("from 1 completed past run"), "{stdout}");
    let line = |id: &str| stdout.lines().find(|l| l.trim_start().starts_with(id)).unwrap_or_else(|| panic!("no line for {id}:\n{stdout}")).to_string();
    assert!(line("ask1").contains("oa:gpt-test") && line("ask1").contains("~15 tokens (12 in, 3 out)") && line("ask1").contains("$0.000018"), "{stdout}");
    assert!(line("ask2").contains("an:claude-test") && line("ask2").contains("~24 tokens (20 in, 4 out)") && line("ask2").contains("$0.000120"), "{stdout}");
    assert!(line("ask3").contains("oa:gpt-test"), "{stdout}");
    assert!(stdout.contains("total: avg ~54 tokens, ~$0.000156; min 54 tokens, $0.000156"), "{stdout}");
    assert_eq!(support::run_ids(s.dir.path(), &s.store()).len(), 1, "no run was started by --estimate");
}

#[test]
fn a_model_chosen_at_run_time_from_a_variable_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    support::write(
        dir.path(),
        ".workflow/config.yaml",
        "providers:\n  echo: { kind: command, command: [\"sh\", \"-c\", \"cat > /dev/null; echo answered by $WORKFLOW_MODEL\"] }\ndefault: \"echo:first\"\n",
    );
    support::write(
        dir.path(),
        "pick.yaml",
        "name: pick\nvariables:\n  reviewer: \"echo:first\"\nsteps:\n  - id: choose\n    action: switch-model\n    model: \"${reviewer}\"\n  - id: ask\n    action: ai-prompt\n    prompt: \"who are you?\"\n",
    );
    let (stdout, _) = expect_code(&mut workflow(dir.path(), &store, &["run", "pick.yaml", "--var", "reviewer=echo:second"]), 0);
    let status = status_json(dir.path(), &store, &support::run_id_in(&stdout));
    let ask = status["events"].as_array().unwrap().iter().find(|e| e["step_id"] == "ask").unwrap();
    assert_eq!(ask["output"]["response"], "answered by second");
    assert_eq!(ask["output"]["model"], "echo:second");
    // A reference to nothing is a build error at the line, as in any text field.
    support::write(
        dir.path(),
        "typo.yaml",
        "name: typo\nvariables:\n  reviewer: \"echo:first\"\nsteps:\n  - id: choose\n    action: switch-model\n    model: \"${reviewr}\"\n",
    );
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["validate", "typo.yaml"]), 2);
    assert!(stderr.contains("typo.yaml:7:13") && stderr.contains("did you mean `reviewer`?"), "{stderr}");
}

/// The built-in `openai` and `anthropic` providers go where `OPENAI_BASE_URL`
/// and `ANTHROPIC_BASE_URL` say (a proxy, a gateway), as the vendors' own tools do.
#[test]
fn the_vendor_base_url_variables_move_the_builtin_providers() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (openai, anthropic) = rt.block_on(async {
        let openai = MockServer::start().await;
        Mock::given(method("POST")).and(path("/gateway/v1/chat/completions")).respond_with(sse(openai_sse("from the gateway"))).mount(&openai).await;
        let anthropic = MockServer::start().await;
        Mock::given(method("POST")).and(path("/proxy/v1/messages")).respond_with(sse(anthropic_sse("from the proxy"))).mount(&anthropic).await;
        (openai, anthropic)
    });
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    support::write(
        dir.path(),
        "two.yaml",
        "name: two\nsteps:\n  - id: a\n    action: ai-prompt\n    model: \"openai:gpt-test\"\n    prompt: hi\n  - id: b\n    action: ai-prompt\n    model: \"anthropic:claude-test\"\n    prompt: hi\n",
    );
    let home = dir.path().join("home");
    let mut cmd = workflow(dir.path(), &store, &["run", "two.yaml"]);
    cmd.env("HOME", &home).env("XDG_CONFIG_HOME", &home).env_remove("WORKFLOW_CONFIG");
    cmd.env("OPENAI_BASE_URL", format!("{}/gateway/v1", openai.uri())).env("OPENAI_API_KEY", "sk-test-openai");
    cmd.env("ANTHROPIC_BASE_URL", format!("{}/proxy", anthropic.uri())).env("ANTHROPIC_API_KEY", "sk-test-anthropic");
    let (stdout, _) = expect_code(&mut cmd, 0);
    let status = status_json(dir.path(), &store, &support::run_id_in(&stdout));
    let responses: Vec<&str> = status["events"].as_array().unwrap().iter().map(|e| e["output"]["response"].as_str().unwrap_or_default()).collect();
    assert_eq!(responses, ["from the gateway", "from the proxy"]);
}
