//! OpenAI Chat Completions (`POST {base}/chat/completions`), usable with any
//! OpenAI-compatible base URL: OpenAI, Ollama's `/v1`, vLLM, GLM, OpenRouter.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde_json::{json, Value};

use super::http::{error_for_status, join_url, sse_data, ErrorContext, HttpClient, LineReader};
use super::{api_key_from_env, ApiKey, ChatRequest, ChatResponse, Provider, ProviderError, Stream, Usage};

/// An OpenAI-compatible chat completions endpoint.
#[derive(Clone)]
pub struct OpenAi {
    name: String,
    base_url: String,
    api_key: Option<ApiKey>,
    key_env: Option<String>,
    http: HttpClient,
}

impl fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAi")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("key_env", &self.key_env)
            .field("http", &self.http)
            .finish()
    }
}

impl OpenAi {
    /// The environment variable named in messages unless [`OpenAi::with_key_env`] says otherwise.
    pub const DEFAULT_KEY_ENV: &'static str = "OPENAI_API_KEY";

    /// A provider called `name` at `base_url` (e.g. `https://api.openai.com/v1` or
    /// `http://127.0.0.1:11434/v1`); no key = no `Authorization` header (local servers).
    pub fn new(name: impl Into<String>, base_url: impl Into<String>, api_key: Option<String>, http: HttpClient) -> Self {
        Self { name: name.into(), base_url: base_url.into(), api_key: api_key.map(ApiKey::new), key_env: Some(Self::DEFAULT_KEY_ENV.to_string()), http }
    }

    /// A provider whose key is read from the environment variable `env_var`
    /// ([`ProviderError::MissingKey`] if it is not set).
    pub fn from_env(name: impl Into<String>, base_url: impl Into<String>, env_var: &str, http: HttpClient) -> Result<Self, ProviderError> {
        let name = name.into();
        let key = api_key_from_env(&name, env_var)?;
        Ok(Self { name, base_url: base_url.into(), api_key: Some(key), key_env: Some(env_var.to_string()), http })
    }

    /// Name `env_var` as the key's source in error messages.
    pub fn with_key_env(mut self, env_var: impl Into<String>) -> Self {
        self.key_env = Some(env_var.into());
        self
    }

    fn body(request: &ChatRequest, streaming: bool) -> Value {
        let mut body = json!({ "model": request.model, "messages": request.messages, "stream": streaming });
        if let Some(max_tokens) = request.max_tokens {
            body["max_tokens"] = json!(max_tokens);
        }
        if let Some(temperature) = request.temperature {
            body["temperature"] = json!(temperature);
        }
        if request.json {
            body["response_format"] = json!({ "type": "json_object" });
        }
        if streaming {
            body["stream_options"] = json!({ "include_usage": true });
        }
        body
    }

    fn bad_response(&self, message: impl Into<String>) -> ProviderError {
        ProviderError::BadResponse { provider: self.name.clone(), message: message.into() }
    }

    fn redact(&self, text: &str) -> String {
        match &self.api_key {
            Some(key) => key.redact(text),
            None => text.to_string(),
        }
    }

    async fn run(&self, request: &ChatRequest, stream: Stream<'_>) -> Result<ChatResponse, ProviderError> {
        let streaming = stream.is_some();
        let url = join_url(&self.base_url, "chat/completions");
        let body = Self::body(request, streaming);
        let ctx = ErrorContext { provider: &self.name, model: &request.model, env_var: self.key_env.as_deref(), key: self.api_key.as_ref() };
        let build = || {
            let builder = self.http.client().post(&url).json(&body);
            match &self.api_key {
                Some(key) => builder.bearer_auth(key.expose()),
                None => builder,
            }
        };
        let response = self.http.send_with_retry(&self.name, build, |failure| error_for_status(&ctx, &failure)).await?;

        // A server that ignores `stream: true` answers with one JSON document: read it whole.
        if stream.is_none() || super::http::is_json(&response) {
            let value: Value = response.json().await.map_err(|e| self.http.map_error(&self.name, &e))?;
            let content = match value.pointer("/choices/0/message/content") {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) => String::new(),
                _ => return Err(self.bad_response("no choices[0].message.content in the answer")),
            };
            if let Some(sink) = stream {
                sink(&content);
            }
            return Ok(ChatResponse { content, usage: usage_of(&value), model: model_of(&value, request) });
        }
        let Some(sink) = stream else { unreachable!("handled above") };

        let mut lines = LineReader::new(response);
        let mut content = String::new();
        let mut usage = Usage::default();
        let mut model = None;
        while let Some(line) = lines.next_line().await.map_err(|e| self.http.map_error(&self.name, &e))? {
            let Some(data) = sse_data(&line) else { continue };
            let data = data.trim();
            if data == "[DONE]" {
                break;
            }
            if data.is_empty() {
                continue;
            }
            let event: Value = serde_json::from_str(data).map_err(|e| self.bad_response(format!("bad stream event: {e}")))?;
            if let Some(error) = event.get("error") {
                let message = error.get("message").and_then(Value::as_str).unwrap_or("error in stream");
                return Err(self.bad_response(self.redact(message)));
            }
            if model.is_none() {
                model = event.get("model").and_then(Value::as_str).map(str::to_string);
            }
            if let Some(piece) = event.pointer("/choices/0/delta/content").and_then(Value::as_str) {
                if !piece.is_empty() {
                    sink(piece);
                    content.push_str(piece);
                }
            }
            if event.get("usage").is_some_and(|u| !u.is_null()) {
                usage = usage_of(&event);
            }
        }
        Ok(ChatResponse { content, usage, model: model.unwrap_or_else(|| request.model.clone()) })
    }
}

fn usage_of(value: &Value) -> Usage {
    let count = |key: &str| value.pointer(&format!("/usage/{key}")).and_then(Value::as_u64).unwrap_or(0);
    Usage { input_tokens: count("prompt_tokens"), output_tokens: count("completion_tokens") }
}

fn model_of(value: &Value, request: &ChatRequest) -> String {
    value.get("model").and_then(Value::as_str).unwrap_or(&request.model).to_string()
}

impl Provider for OpenAi {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest, stream: Stream<'a>) -> Pin<Box<dyn Future<Output = Result<ChatResponse, ProviderError>> + Send + 'a>> {
        Box::pin(self.run(request, stream))
    }
}
