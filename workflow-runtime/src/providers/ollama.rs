//! Ollama's native chat API (`POST {base}/api/chat`); no API key.

use std::future::Future;
use std::pin::Pin;

use serde_json::{json, Value};

use super::http::{error_for_status, join_url, ErrorContext, HttpClient, LineReader};
use super::{ChatRequest, ChatResponse, Provider, ProviderError, Stream, Usage};

/// A local (or remote) Ollama server.
#[derive(Clone, Debug)]
pub struct Ollama {
    name: String,
    base_url: String,
    http: HttpClient,
}

impl Ollama {
    /// Ollama's usual address.
    pub const DEFAULT_BASE_URL: &'static str = "http://127.0.0.1:11434";

    /// A provider called `name` at `base_url` (e.g. `http://127.0.0.1:11434`).
    pub fn new(name: impl Into<String>, base_url: impl Into<String>, http: HttpClient) -> Self {
        Self { name: name.into(), base_url: base_url.into(), http }
    }

    fn body(request: &ChatRequest, streaming: bool) -> Value {
        let mut body = json!({ "model": request.model, "messages": request.messages, "stream": streaming });
        let mut options = serde_json::Map::new();
        if let Some(temperature) = request.temperature {
            options.insert("temperature".into(), json!(temperature));
        }
        if let Some(max_tokens) = request.max_tokens {
            options.insert("num_predict".into(), json!(max_tokens));
        }
        if !options.is_empty() {
            body["options"] = Value::Object(options);
        }
        if request.json {
            body["format"] = json!("json");
        }
        body
    }

    fn bad_response(&self, message: impl Into<String>) -> ProviderError {
        ProviderError::BadResponse { provider: self.name.clone(), message: message.into() }
    }

    async fn run(&self, request: &ChatRequest, stream: Stream<'_>) -> Result<ChatResponse, ProviderError> {
        let streaming = stream.is_some();
        let url = join_url(&self.base_url, "api/chat");
        let body = Self::body(request, streaming);
        let ctx = ErrorContext { provider: &self.name, model: &request.model, env_var: None, key: None };
        let build = || self.http.client().post(&url).json(&body);
        let response = self.http.send_with_retry(&self.name, build, |failure| error_for_status(&ctx, &failure)).await?;

        let Some(sink) = stream else {
            let value: Value = response.json().await.map_err(|e| self.http.map_error(&self.name, &e))?;
            if let Some(error) = value.get("error").and_then(Value::as_str) {
                return Err(self.bad_response(error));
            }
            let content = value.pointer("/message/content").and_then(Value::as_str).ok_or_else(|| self.bad_response("no message.content in the answer"))?;
            return Ok(ChatResponse { content: content.to_string(), usage: usage_of(&value), model: model_of(&value, request) });
        };

        let mut lines = LineReader::new(response);
        let mut content = String::new();
        let mut usage = Usage::default();
        let mut model = None;
        while let Some(line) = lines.next_line().await.map_err(|e| self.http.map_error(&self.name, &e))? {
            if line.trim().is_empty() {
                continue;
            }
            let event: Value = serde_json::from_str(&line).map_err(|e| self.bad_response(format!("bad stream line: {e}")))?;
            if let Some(error) = event.get("error").and_then(Value::as_str) {
                return Err(self.bad_response(error));
            }
            if model.is_none() {
                model = event.get("model").and_then(Value::as_str).map(str::to_string);
            }
            if let Some(piece) = event.pointer("/message/content").and_then(Value::as_str) {
                if !piece.is_empty() {
                    sink(piece);
                    content.push_str(piece);
                }
            }
            if event.get("done").and_then(Value::as_bool) == Some(true) {
                usage = usage_of(&event);
                break;
            }
        }
        Ok(ChatResponse { content, usage, model: model.unwrap_or_else(|| request.model.clone()) })
    }
}

fn usage_of(value: &Value) -> Usage {
    let count = |key: &str| value.get(key).and_then(Value::as_u64).unwrap_or(0);
    Usage { input_tokens: count("prompt_eval_count"), output_tokens: count("eval_count") }
}

fn model_of(value: &Value, request: &ChatRequest) -> String {
    value.get("model").and_then(Value::as_str).unwrap_or(&request.model).to_string()
}

impl Provider for Ollama {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest, stream: Stream<'a>) -> Pin<Box<dyn Future<Output = Result<ChatResponse, ProviderError>> + Send + 'a>> {
        Box::pin(self.run(request, stream))
    }
}
