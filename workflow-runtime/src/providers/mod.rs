//! Model providers: one [`Provider`] trait, several backends.
//!
//! The HTTP providers ([`openai`], [`anthropic`], [`ollama`]) share an
//! [`http::HttpClient`] that applies timeouts and retries (exponential backoff
//! with jitter on 429, 5xx, overload and network errors, honouring
//! `Retry-After`). API keys are resolved from the environment by the caller
//! (see [`api_key_from_env`]), held in a redacting wrapper, and never appear in
//! `Debug` output, error messages or tracing fields (DESIGN §5 "Models").

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod anthropic;
pub mod http;
pub mod ollama;
pub mod openai;
// other providers: command, replay
pub mod command;
pub mod replay;

/// Who said a [`Message`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The user (or the workflow speaking for them).
    User,
    /// The model.
    Assistant,
}

/// One turn of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

/// A request for one answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The provider's model name.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Cap on the answer's length, in tokens.
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Ask for a JSON object answer where supported.
    pub json: bool,
}

/// Tokens spent on one answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Answer tokens.
    pub output_tokens: u64,
}

/// One answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The answer's text.
    pub content: String,
    /// Tokens spent.
    pub usage: Usage,
    /// The model as reported by the provider.
    pub model: String,
}

/// Why a provider could not answer. Messages never contain an API key.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider rejected the API key (401/403).
    #[error("{provider}: the API key was rejected (unauthorized); {}", key_hint(.env_var))]
    BadKey {
        /// Provider name.
        provider: String,
        /// The environment variable the key came from, if known.
        env_var: Option<String>,
    },
    /// The provider does not know the model.
    #[error("{provider}: unknown model `{model}`; check the model name (and, for Ollama, that it has been pulled)")]
    UnknownModel {
        /// Provider name.
        provider: String,
        /// The model asked for.
        model: String,
    },
    /// Still rate limited after all retries.
    #[error("{provider}: rate limited (HTTP 429) after retries{}; wait and try again, or lower the request rate", retry_hint(.retry_after))]
    RateLimited {
        /// Provider name.
        provider: String,
        /// How long the provider last asked us to wait.
        retry_after: Option<Duration>,
    },
    /// Still overloaded after all retries.
    #[error("{provider}: the provider is overloaded after retries; try again later")]
    Overloaded {
        /// Provider name.
        provider: String,
    },
    /// An HTTP error status the provider explained in `message`.
    #[error("{provider}: HTTP {status}: {message}")]
    Server {
        /// Provider name.
        provider: String,
        /// HTTP status.
        status: u16,
        /// The provider's explanation.
        message: String,
    },
    /// Could not reach the provider (after retries).
    #[error("{provider}: network error: {message}; check the base URL and that the server is running")]
    Network {
        /// Provider name.
        provider: String,
        /// What went wrong.
        message: String,
    },
    /// No answer in time (after retries).
    #[error("{provider}: timed out after {after:?}")]
    Timeout {
        /// Provider name.
        provider: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The provider answered something we could not understand.
    #[error("{provider}: unexpected response: {message}")]
    BadResponse {
        /// Provider name.
        provider: String,
        /// What was wrong with it.
        message: String,
    },
    /// The API key's environment variable is not set (checked before any request).
    #[error("{provider}: no API key: set the environment variable {env_var}")]
    MissingKey {
        /// Provider name.
        provider: String,
        /// The variable to set.
        env_var: String,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

fn key_hint(env_var: &Option<String>) -> String {
    match env_var {
        Some(var) => format!("set a valid key in the environment variable {var}"),
        None => "configure a valid API key for this provider".to_string(),
    }
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(after) => format!(" (the provider asked to wait {}s)", after.as_secs_f64()),
        None => String::new(),
    }
}

/// A sink for streamed text (the CLI prints it as it comes); `None` = don't stream.
pub type Stream<'a> = Option<&'a mut (dyn FnMut(&str) + Send)>;

/// A model backend.
pub trait Provider: Send + Sync {
    /// The provider's configured name (used in messages).
    fn name(&self) -> &str;
    /// Ask for one answer, streaming its text to `stream` as it arrives where the provider streams.
    fn chat<'a>(&'a self, request: &'a ChatRequest, stream: Stream<'a>) -> Pin<Box<dyn Future<Output = Result<ChatResponse, ProviderError>> + Send + 'a>>;
}

/// An API key: its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wrap a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for a request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with the key masked (a provider may echo it in an error): the
    /// whole key and any long part of it, never single letters of a short key
    /// (see [`crate::secrets`]).
    pub fn redact(&self, text: &str) -> String {
        crate::secrets::mask_values(text, &[&self.0]).into_owned()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self(key)
    }
}

/// Read an API key from the environment variable `env_var`; unset or empty is [`ProviderError::MissingKey`].
pub fn api_key_from_env(provider: &str, env_var: &str) -> Result<ApiKey, ProviderError> {
    match std::env::var(env_var) {
        Ok(key) if !key.trim().is_empty() => Ok(ApiKey(key.trim().to_string())),
        _ => Err(ProviderError::MissingKey { provider: provider.to_string(), env_var: env_var.to_string() }),
    }
}
