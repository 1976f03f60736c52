//! The HTTP model providers against real HTTP servers on loopback (wiremock).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use workflow_runtime::providers::anthropic::Anthropic;
use workflow_runtime::providers::http::{HttpClient, RetryPolicy};
use workflow_runtime::providers::ollama::Ollama;
use workflow_runtime::providers::openai::OpenAi;
use workflow_runtime::providers::{ChatRequest, ChatResponse, Message, Provider, ProviderError, Role, Usage};

const KEY: &str = "sk-test-SECRET-0123456789";
const ATTEMPTS: u32 = 3;

fn http() -> HttpClient {
    HttpClient::new().unwrap().with_retry(RetryPolicy { attempts: ATTEMPTS, base: Duration::from_millis(1), max: Duration::from_secs(5) })
}

fn request(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.to_string(),
        messages: vec![Message { role: Role::System, content: "Be brief.".into() }, Message { role: Role::User, content: "Say hello.".into() }],
        max_tokens: Some(64),
        temperature: Some(0.5),
        json: false,
    }
}

fn openai(server: &MockServer) -> OpenAi {
    OpenAi::new("openai", format!("{}/v1", server.uri()), Some(KEY.to_string()), http())
}

fn anthropic(server: &MockServer) -> Anthropic {
    Anthropic::new("anthropic", server.uri(), Some(KEY.to_string()), http())
}

fn ollama(server: &MockServer) -> Ollama {
    Ollama::new("ollama", server.uri(), http())
}

/// Ask without streaming.
async fn ask(provider: &dyn Provider, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
    provider.chat(request, None).await
}

/// Ask with streaming; also return the pieces the sink received, in order.
async fn ask_streaming(provider: &dyn Provider, request: &ChatRequest) -> (Result<ChatResponse, ProviderError>, Vec<String>) {
    let mut pieces = Vec::new();
    let mut sink = |piece: &str| pieces.push(piece.to_string());
    let result = provider.chat(request, Some(&mut sink)).await;
    (result, pieces)
}

async fn bodies(server: &MockServer) -> Vec<Value> {
    server.received_requests().await.unwrap().iter().map(|r| r.body_json::<Value>().unwrap()).collect()
}

async fn request_count(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

fn sse(events: &[Value]) -> String {
    events.iter().map(|e| format!("data: {e}\n\n")).collect()
}

/// A 429 with `Retry-After: 1` once, then `ok`: the provider waits about a second and succeeds.
async fn check_rate_limit_then_success(server: &MockServer, provider: &dyn Provider, endpoint: &str, ok: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(endpoint))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1").set_body_string("slow down"))
        .up_to_n_times(1)
        .mount(server)
        .await;
    Mock::given(method("POST")).and(path(endpoint)).respond_with(ok).mount(server).await;
    let started = Instant::now();
    let answer = ask(provider, &request("m")).await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(950), "waited only {waited:?}");
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");
    assert!(!answer.content.is_empty());
    assert_eq!(request_count(server).await, 2);
}

/// A 500 every time: `Server` after exactly `ATTEMPTS` requests.
async fn check_server_error_exhaustion(server: &MockServer, provider: &dyn Provider, endpoint: &str) {
    Mock::given(method("POST"))
        .and(path(endpoint))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "internal trouble"}})))
        .mount(server)
        .await;
    let error = ask(provider, &request("m")).await.unwrap_err();
    match &error {
        ProviderError::Server { status: 500, message, .. } => assert!(message.contains("internal trouble"), "{message}"),
        other => panic!("expected a 500 Server error, got {other:?}"),
    }
    assert_eq!(request_count(server).await, ATTEMPTS as usize);
}

/// A 401: `BadKey` at once (no retry), naming the env var, never the key.
async fn check_bad_key(server: &MockServer, provider: &dyn Provider, endpoint: &str, env_var: &str) {
    Mock::given(method("POST"))
        .and(path(endpoint))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {"message": format!("Incorrect API key provided: {KEY}")}})))
        .mount(server)
        .await;
    let error = ask(provider, &request("m")).await.unwrap_err();
    assert!(matches!(error, ProviderError::BadKey { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(env_var), "{message}");
    assert!(!message.contains(KEY), "{message}");
    assert!(!format!("{error:?}").contains(KEY));
    assert_eq!(request_count(server).await, 1);
}

/// A 404: `UnknownModel` at once, naming the model.
async fn check_unknown_model(server: &MockServer, provider: &dyn Provider, endpoint: &str) {
    Mock::given(method("POST"))
        .and(path(endpoint))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "model \"nope\" not found, try pulling it first"})))
        .mount(server)
        .await;
    let error = ask(provider, &request("nope")).await.unwrap_err();
    assert!(matches!(&error, ProviderError::UnknownModel { model, .. } if model == "nope"), "{error:?}");
    assert!(error.to_string().contains("nope"));
    assert_eq!(request_count(server).await, 1);
}

// ---------------------------------------------------------------- OpenAI

const OPENAI_ENDPOINT: &str = "/v1/chat/completions";

fn openai_answer(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test-2025",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    })
}

#[tokio::test]
async fn openai_normal_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(OPENAI_ENDPOINT))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_answer("Hello!")))
        .expect(1)
        .mount(&server)
        .await;
    let mut req = request("gpt-test");
    req.json = true;
    let answer = ask(&openai(&server), &req).await.unwrap();
    assert_eq!(answer, ChatResponse { content: "Hello!".into(), usage: Usage { input_tokens: 12, output_tokens: 3 }, model: "gpt-test-2025".into() });
    let body = &bodies(&server).await[0];
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["messages"], json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]));
    assert_eq!(body["stream"], false);
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
}

#[tokio::test]
async fn openai_without_key_sends_no_authorization() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(OPENAI_ENDPOINT)).respond_with(ResponseTemplate::new(200).set_body_json(openai_answer("hi"))).mount(&server).await;
    let provider = OpenAi::new("local", format!("{}/v1/", server.uri()), None, http());
    assert_eq!(ask(&provider, &request("llama3")).await.unwrap().content, "hi");
    assert!(server.received_requests().await.unwrap()[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn openai_streaming_and_usage() {
    let server = MockServer::start().await;
    let chunk = |content: &str| json!({"model": "gpt-test-2025", "choices": [{"index": 0, "delta": {"content": content}}]});
    let mut body = sse(&[
        json!({"model": "gpt-test-2025", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
        chunk("Hel"),
        chunk("lo, "),
        chunk("world"),
        json!({"model": "gpt-test-2025", "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 4}}),
    ]);
    body.push_str(": keep-alive comment\n\ndata: [DONE]\n\n");
    Mock::given(method("POST"))
        .and(path(OPENAI_ENDPOINT))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
        .expect(1)
        .mount(&server)
        .await;
    let (result, pieces) = ask_streaming(&openai(&server), &request("gpt-test")).await;
    let answer = result.unwrap();
    assert_eq!(pieces, ["Hel", "lo, ", "world"]);
    assert_eq!(answer.content, pieces.concat());
    assert_eq!(answer.usage, Usage { input_tokens: 20, output_tokens: 4 });
    assert_eq!(answer.model, "gpt-test-2025");
    let sent = &bodies(&server).await[0];
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn openai_rate_limited_then_success() {
    let server = MockServer::start().await;
    check_rate_limit_then_success(&server, &openai(&server), OPENAI_ENDPOINT, ResponseTemplate::new(200).set_body_json(openai_answer("ok"))).await;
}

#[tokio::test]
async fn openai_server_error_exhaustion() {
    let server = MockServer::start().await;
    check_server_error_exhaustion(&server, &openai(&server), OPENAI_ENDPOINT).await;
}

#[tokio::test]
async fn openai_bad_key() {
    let server = MockServer::start().await;
    check_bad_key(&server, &openai(&server).with_key_env("MY_OPENAI_KEY"), OPENAI_ENDPOINT, "MY_OPENAI_KEY").await;
}

#[tokio::test]
async fn openai_unknown_model() {
    let server = MockServer::start().await;
    check_unknown_model(&server, &openai(&server), OPENAI_ENDPOINT).await;
}

// ---------------------------------------------------------------- Anthropic

const ANTHROPIC_ENDPOINT: &str = "/v1/messages";

fn anthropic_answer(text: &str) -> Value {
    json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test-2025",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 9, "output_tokens": 2}
    })
}

#[tokio::test]
async fn anthropic_normal_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ANTHROPIC_ENDPOINT))
        .and(header("x-api-key", KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(ResponseTemplate::new(200).set_body_json(anthropic_answer("Hello!")))
        .expect(1)
        .mount(&server)
        .await;
    let answer = ask(&anthropic(&server), &request("claude-test")).await.unwrap();
    assert_eq!(answer, ChatResponse { content: "Hello!".into(), usage: Usage { input_tokens: 9, output_tokens: 2 }, model: "claude-test-2025".into() });
    let body = &bodies(&server).await[0];
    assert_eq!(body["model"], "claude-test");
    assert_eq!(body["system"], "Be brief.");
    assert_eq!(body["messages"], json!([{"role": "user", "content": "Say hello."}]));
    assert_eq!(body["max_tokens"], 64);
    assert!(body.get("stream").is_none());
}

#[tokio::test]
async fn anthropic_defaults_max_tokens() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ANTHROPIC_ENDPOINT))
        .respond_with(ResponseTemplate::new(200).set_body_json(anthropic_answer("x")))
        .mount(&server)
        .await;
    let mut req = request("claude-test");
    req.max_tokens = None;
    ask(&anthropic(&server), &req).await.unwrap();
    assert_eq!(bodies(&server).await[0]["max_tokens"], 4096);
}

#[tokio::test]
async fn anthropic_streaming_and_usage() {
    let server = MockServer::start().await;
    let delta = |text: &str| json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}});
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-test-2025", "content": [], "usage": {"input_tokens": 25, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "ping"}),
        delta("Hel"),
        delta("lo, "),
        delta("world"),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}),
        json!({"type": "message_stop"}),
    ];
    let body: String = events.iter().map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap())).collect();
    Mock::given(method("POST"))
        .and(path(ANTHROPIC_ENDPOINT))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
        .expect(1)
        .mount(&server)
        .await;
    let (result, pieces) = ask_streaming(&anthropic(&server), &request("claude-test")).await;
    let answer = result.unwrap();
    assert_eq!(pieces, ["Hel", "lo, ", "world"]);
    assert_eq!(answer.content, pieces.concat());
    assert_eq!(answer.usage, Usage { input_tokens: 25, output_tokens: 7 });
    assert_eq!(answer.model, "claude-test-2025");
    assert_eq!(bodies(&server).await[0]["stream"], true);
}

#[tokio::test]
async fn anthropic_rate_limited_then_success() {
    let server = MockServer::start().await;
    check_rate_limit_then_success(&server, &anthropic(&server), ANTHROPIC_ENDPOINT, ResponseTemplate::new(200).set_body_json(anthropic_answer("ok"))).await;
}

#[tokio::test]
async fn anthropic_server_error_exhaustion() {
    let server = MockServer::start().await;
    check_server_error_exhaustion(&server, &anthropic(&server), ANTHROPIC_ENDPOINT).await;
}

#[tokio::test]
async fn anthropic_overloaded_exhaustion() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ANTHROPIC_ENDPOINT))
        .respond_with(ResponseTemplate::new(529).set_body_json(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})))
        .mount(&server)
        .await;
    let error = ask(&anthropic(&server), &request("m")).await.unwrap_err();
    assert!(matches!(error, ProviderError::Overloaded { .. }), "{error:?}");
    assert_eq!(request_count(&server).await, ATTEMPTS as usize);
}

#[tokio::test]
async fn anthropic_bad_key() {
    let server = MockServer::start().await;
    check_bad_key(&server, &anthropic(&server), ANTHROPIC_ENDPOINT, "ANTHROPIC_API_KEY").await;
}

#[tokio::test]
async fn anthropic_unknown_model() {
    let server = MockServer::start().await;
    check_unknown_model(&server, &anthropic(&server), ANTHROPIC_ENDPOINT).await;
}

#[tokio::test]
async fn anthropic_missing_key_fails_before_any_request() {
    let server = MockServer::start().await;
    let provider = Anthropic::new("anthropic", server.uri(), None, http()).with_key_env("CLAUDE_KEY");
    let error = ask(&provider, &request("m")).await.unwrap_err();
    assert!(matches!(&error, ProviderError::MissingKey { env_var, .. } if env_var == "CLAUDE_KEY"), "{error:?}");
    assert!(error.to_string().contains("CLAUDE_KEY"));
    assert_eq!(request_count(&server).await, 0);
    let unset = "WORKFLOW_TEST_SURELY_UNSET_KEY_VAR";
    let error = Anthropic::from_env("anthropic", server.uri(), unset, http()).unwrap_err();
    assert!(error.to_string().contains(unset), "{error}");
}

// ---------------------------------------------------------------- Ollama

const OLLAMA_ENDPOINT: &str = "/api/chat";

fn ollama_answer(text: &str) -> Value {
    json!({
        "model": "llama-test:latest", "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": text},
        "done": true, "prompt_eval_count": 14, "eval_count": 5
    })
}

#[tokio::test]
async fn ollama_normal_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(OLLAMA_ENDPOINT))
        .respond_with(ResponseTemplate::new(200).set_body_json(ollama_answer("Hello!")))
        .expect(1)
        .mount(&server)
        .await;
    let mut req = request("llama-test");
    req.json = true;
    let answer = ask(&ollama(&server), &req).await.unwrap();
    assert_eq!(answer, ChatResponse { content: "Hello!".into(), usage: Usage { input_tokens: 14, output_tokens: 5 }, model: "llama-test:latest".into() });
    let received = &server.received_requests().await.unwrap()[0];
    assert!(received.headers.get("authorization").is_none());
    let body: Value = received.body_json().unwrap();
    assert_eq!(body["model"], "llama-test");
    assert_eq!(body["messages"], json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]));
    assert_eq!(body["stream"], false);
    assert_eq!(body["format"], "json");
    assert_eq!(body["options"], json!({"temperature": 0.5, "num_predict": 64}));
}

#[tokio::test]
async fn ollama_streaming_and_usage() {
    let server = MockServer::start().await;
    let line = |content: &str| json!({"model": "llama-test:latest", "message": {"role": "assistant", "content": content}, "done": false});
    let lines = [
        line("Hel"),
        line("lo, "),
        line("world"),
        json!({"model": "llama-test:latest", "message": {"role": "assistant", "content": ""}, "done": true, "prompt_eval_count": 30, "eval_count": 3}),
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    Mock::given(method("POST"))
        .and(path(OLLAMA_ENDPOINT))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/x-ndjson"))
        .expect(1)
        .mount(&server)
        .await;
    let (result, pieces) = ask_streaming(&ollama(&server), &request("llama-test")).await;
    let answer = result.unwrap();
    assert_eq!(pieces, ["Hel", "lo, ", "world"]);
    assert_eq!(answer.content, pieces.concat());
    assert_eq!(answer.usage, Usage { input_tokens: 30, output_tokens: 3 });
    assert_eq!(bodies(&server).await[0]["stream"], true);
}

#[tokio::test]
async fn ollama_rate_limited_then_success() {
    let server = MockServer::start().await;
    check_rate_limit_then_success(&server, &ollama(&server), OLLAMA_ENDPOINT, ResponseTemplate::new(200).set_body_json(ollama_answer("ok"))).await;
}

#[tokio::test]
async fn ollama_server_error_exhaustion() {
    let server = MockServer::start().await;
    check_server_error_exhaustion(&server, &ollama(&server), OLLAMA_ENDPOINT).await;
}

#[tokio::test]
async fn ollama_unknown_model() {
    let server = MockServer::start().await;
    check_unknown_model(&server, &ollama(&server), OLLAMA_ENDPOINT).await;
}

#[tokio::test]
async fn ollama_behind_an_authenticating_proxy_reports_bad_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(OLLAMA_ENDPOINT)).respond_with(ResponseTemplate::new(401)).mount(&server).await;
    let error = ask(&ollama(&server), &request("m")).await.unwrap_err();
    assert!(matches!(error, ProviderError::BadKey { env_var: None, .. }), "{error:?}");
    assert_eq!(request_count(&server).await, 1);
}

// ---------------------------------------------------------------- shared behaviour

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(OLLAMA_ENDPOINT))
        .respond_with(ResponseTemplate::new(200).set_body_json(ollama_answer("late")).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let client = HttpClient::with_timeouts(Duration::from_secs(1), Duration::from_millis(200)).unwrap().with_retry(RetryPolicy {
        attempts: 2,
        base: Duration::from_millis(1),
        max: Duration::from_millis(10),
    });
    let error = ask(&Ollama::new("ollama", server.uri(), client), &request("m")).await.unwrap_err();
    assert!(matches!(error, ProviderError::Timeout { after, .. } if after == Duration::from_millis(200)), "{error:?}");
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn network_errors_are_retried_then_reported() {
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let provider = OpenAi::new("openai", format!("http://127.0.0.1:{port}/v1"), Some(KEY.to_string()), http());
    let error = ask(&provider, &request("m")).await.unwrap_err();
    assert!(matches!(error, ProviderError::Network { .. }), "{error:?}");
    assert!(!error.to_string().contains(KEY));
}

#[tokio::test]
async fn the_key_never_appears_in_debug_output_or_errors() {
    let server = MockServer::start().await;
    // The server echoes the key in a 400 (as some providers do) and on 401.
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"message": format!("bad request from key {KEY}")}})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"type": "error", "error": {"type": "authentication_error", "message": KEY}})))
        .mount(&server)
        .await;
    let providers: Vec<Box<dyn Provider>> = vec![Box::new(openai(&server)), Box::new(anthropic(&server))];
    assert!(!format!("{:?}", openai(&server)).contains(KEY));
    assert!(!format!("{:?}", anthropic(&server)).contains(KEY));
    assert!(format!("{:?}", openai(&server)).contains("[redacted]"));
    for provider in &providers {
        let error = ask(provider.as_ref(), &request("m")).await.unwrap_err();
        let shown = format!("{error} / {error:?}");
        assert!(!shown.contains(KEY), "{} leaked the key: {shown}", provider.name());
    }
    let error = ask(providers[0].as_ref(), &request("m")).await.unwrap_err();
    assert!(matches!(&error, ProviderError::Server { status: 400, message, .. } if message.contains("[redacted]")), "{error:?}");
    // Streaming errors too.
    let (result, _) = ask_streaming(providers[1].as_ref(), &request("m")).await;
    assert!(!result.unwrap_err().to_string().contains(KEY));
}

#[tokio::test]
async fn streamed_pieces_reach_the_sink_before_the_answer_ends() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::mpsc;

    // A hand-written server: it sends the first event, then holds the rest back until the
    // client's sink has seen the first piece. A client that buffered the whole body would hang.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen_tx, seen_rx) = mpsc::channel::<String>();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        reader.read_exact(&mut vec![0; length]).unwrap();
        let mut out = stream;
        let event = |content: &str| format!("data: {}\n\n", json!({"model": "m", "choices": [{"index": 0, "delta": {"content": content}}]}));
        write!(out, "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{}", event("first")).unwrap();
        out.flush().unwrap();
        let seen = seen_rx.recv_timeout(Duration::from_secs(5)).expect("the first piece never reached the sink while the body was still open");
        write!(out, "{}data: [DONE]\n\n", event(" second")).unwrap();
        seen
    });
    let provider = OpenAi::new("openai", format!("http://127.0.0.1:{port}/v1"), None, http());
    let mut pieces = Vec::new();
    let mut sink = |piece: &str| {
        let _ = seen_tx.send(piece.to_string());
        pieces.push(piece.to_string());
    };
    let answer = provider.chat(&request("m"), Some(&mut sink)).await.unwrap();
    assert_eq!(server.join().unwrap(), "first");
    assert_eq!(pieces, ["first", " second"]);
    assert_eq!(answer.content, "first second");
}

/// A server that ignores `stream: true` and answers with one JSON document
/// still gives the whole answer, handed to the stream at once.
#[tokio::test]
async fn a_server_that_does_not_stream_still_answers_a_streaming_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(OPENAI_ENDPOINT)).respond_with(ResponseTemplate::new(200).set_body_json(openai_answer("Hello!"))).mount(&server).await;
    let (answer, pieces) = ask_streaming(&openai(&server), &request("gpt-test")).await;
    assert_eq!(answer.unwrap().content, "Hello!");
    assert_eq!(pieces, ["Hello!"]);
    assert_eq!(bodies(&server).await[0]["stream"], true, "a stream was asked for");
}
