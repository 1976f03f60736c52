//! Anthropic Messages API (`POST {base}/v1/messages`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde_json::{json, Value};

use super::http::{error_for_status, join_url, sse_data, ErrorContext, HttpClient, LineReader};
use super::{api_key_from_env, ApiKey, ChatRequest, ChatResponse, Provider, ProviderError, Role, Stream, Usage};

/// The API version sent in `anthropic-version`.
pub const API_VERSION: &str = "2023-06-01";
/// `max_tokens` when the request does not say (the API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
const JSON_INSTRUCTION: &str = "Answer with a single JSON object and nothing else.";

/// The Anthropic Messages API.
#[derive(Clone)]
pub struct Anthropic {
    name: String,
    base_url: String,
    api_key: Option<ApiKey>,
    key_env: String,
    http: HttpClient,
}

impl fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anthropic")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("key_env", &self.key_env)
            .field("http", &self.http)
            .finish()
    }
}

impl Anthropic {
    /// The environment variable named in messages unless [`Anthropic::with_key_env`] says otherwise.
    pub const DEFAULT_KEY_ENV: &'static str = "ANTHROPIC_API_KEY";

    /// A provider called `name` at `base_url` (e.g. `https://api.anthropic.com`). Without a
    /// key every request fails with [`ProviderError::MissingKey`] before reaching the network.
    pub fn new(name: impl Into<String>, base_url: impl Into<String>, api_key: Option<String>, http: HttpClient) -> Self {
        Self { name: name.into(), base_url: base_url.into(), api_key: api_key.map(ApiKey::new), key_env: Self::DEFAULT_KEY_ENV.to_string(), http }
    }

    /// A provider whose key is read from the environment variable `env_var`
    /// ([`ProviderError::MissingKey`] if it is not set).
    pub fn from_env(name: impl Into<String>, base_url: impl Into<String>, env_var: &str, http: HttpClient) -> Result<Self, ProviderError> {
        let name = name.into();
        let key = api_key_from_env(&name, env_var)?;
        Ok(Self { name, base_url: base_url.into(), api_key: Some(key), key_env: env_var.to_string(), http })
    }

    /// Name `env_var` as the key's source in error messages.
    pub fn with_key_env(mut self, env_var: impl Into<String>) -> Self {
        self.key_env = env_var.into();
        self
    }

    fn body(request: &ChatRequest, streaming: bool) -> Value {
        let mut system: Vec<&str> = request.messages.iter().filter(|m| m.role == Role::System).map(|m| m.content.as_str()).collect();
        if request.json {
            system.push(JSON_INSTRUCTION);
        }
        let messages: Vec<Value> = request
            .messages
            .iter()
            .filter(|m| m.role != Role::System)
            .map(|m| json!({ "role": if m.role == Role::Assistant { "assistant" } else { "user" }, "content": m.content }))
            .collect();
        let mut body = json!({
            "model": request.model,
            "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            "messages": messages,
        });
        if !system.is_empty() {
            body["system"] = json!(system.join("\n\n"));
        }
        if let Some(temperature) = request.temperature {
            body["temperature"] = json!(temperature);
        }
        if streaming {
            body["stream"] = json!(true);
        }
        body
    }

    fn bad_response(&self, message: impl Into<String>) -> ProviderError {
        ProviderError::BadResponse { provider: self.name.clone(), message: message.into() }
    }

    fn stream_error(&self, key: &ApiKey, event: &Value) -> ProviderError {
        let error = event.get("error").unwrap_or(event);
        if error.get("type").and_then(Value::as_str) == Some("overloaded_error") {
            return ProviderError::Overloaded { provider: self.name.clone() };
        }
        let message = error.get("message").and_then(Value::as_str).unwrap_or("error in stream");
        self.bad_response(key.redact(message))
    }

    async fn run(&self, request: &ChatRequest, stream: Stream<'_>) -> Result<ChatResponse, ProviderError> {
        let Some(key) = &self.api_key else {
            return Err(ProviderError::MissingKey { provider: self.name.clone(), env_var: self.key_env.clone() });
        };
        let streaming = stream.is_some();
        let url = join_url(&self.base_url, "v1/messages");
        let body = Self::body(request, streaming);
        let ctx = ErrorContext { provider: &self.name, model: &request.model, env_var: Some(&self.key_env), key: Some(key) };
        let build = || self.http.client().post(&url).header("x-api-key", key.expose()).header("anthropic-version", API_VERSION).json(&body);
        let response = self.http.send_with_retry(&self.name, build, |failure| error_for_status(&ctx, &failure)).await?;

        // A server that ignores `stream: true` answers with one JSON document: read it whole.
        if stream.is_none() || super::http::is_json(&response) {
            let value: Value = response.json().await.map_err(|e| self.http.map_error(&self.name, &e))?;
            if value.get("type").and_then(Value::as_str) == Some("error") {
                return Err(self.stream_error(key, &value));
            }
            let blocks = value.get("content").and_then(Value::as_array).ok_or_else(|| self.bad_response("no `content` in the answer"))?;
            let content: String =
                blocks.iter().filter(|b| b.get("type").and_then(Value::as_str) == Some("text")).filter_map(|b| b.get("text").and_then(Value::as_str)).collect();
            let mut usage = Usage::default();
            if let Some(reported) = value.get("usage") {
                add_usage(&mut usage, reported);
            }
            let model = value.get("model").and_then(Value::as_str).unwrap_or(&request.model).to_string();
            if let Some(sink) = stream {
                sink(&content);
            }
            return Ok(ChatResponse { content, usage, model });
        }
        let Some(sink) = stream else { unreachable!("handled above") };

        let mut lines = LineReader::new(response);
        let mut content = String::new();
        let mut usage = Usage::default();
        let mut model = None;
        while let Some(line) = lines.next_line().await.map_err(|e| self.http.map_error(&self.name, &e))? {
            let Some(data) = sse_data(&line) else { continue };
            if data.trim().is_empty() {
                continue;
            }
            let event: Value = serde_json::from_str(data).map_err(|e| self.bad_response(format!("bad stream event: {e}")))?;
            match event.get("type").and_then(Value::as_str) {
                Some("message_start") => {
                    if let Some(message) = event.get("message") {
                        model = message.get("model").and_then(Value::as_str).map(str::to_string);
                        if let Some(reported) = message.get("usage") {
                            add_usage(&mut usage, reported);
                        }
                    }
                }
                Some("content_block_delta") => {
                    if let Some(piece) = event.pointer("/delta/text").and_then(Value::as_str) {
                        if !piece.is_empty() {
                            sink(piece);
                            content.push_str(piece);
                        }
                    }
                }
                Some("message_delta") => {
                    if let Some(reported) = event.get("usage") {
                        add_usage(&mut usage, reported);
                    }
                }
                Some("message_stop") => break,
                Some("error") => return Err(self.stream_error(key, &event)),
                _ => {}
            }
        }
        Ok(ChatResponse { content, usage, model: model.unwrap_or_else(|| request.model.clone()) })
    }
}

/// Fold a reported `usage` object into `usage`: counts present replace earlier ones (the stream
/// reports cumulative totals); cache reads and writes count as input.
fn add_usage(usage: &mut Usage, reported: &Value) {
    let count = |key: &str| reported.get(key).and_then(Value::as_u64);
    let input = [count("input_tokens"), count("cache_creation_input_tokens"), count("cache_read_input_tokens")];
    if input.iter().any(Option::is_some) {
        usage.input_tokens = input.iter().flatten().sum();
    }
    if let Some(output) = count("output_tokens") {
        usage.output_tokens = output;
    }
}

impl Provider for Anthropic {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest, stream: Stream<'a>) -> Pin<Box<dyn Future<Output = Result<ChatResponse, ProviderError>> + Send + 'a>> {
        Box::pin(self.run(request, stream))
    }
}
