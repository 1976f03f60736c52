//! The HTTP plumbing shared by the HTTP providers: a client with timeouts, a
//! retry policy (exponential backoff with jitter, honouring `Retry-After`),
//! mapping of HTTP failures to [`ProviderError`]s, and a line reader for
//! streamed (SSE / NDJSON) bodies.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, Response};

use super::{ApiKey, ProviderError};

/// When and how often to retry a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (at least 1).
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further retry.
    pub base: Duration,
    /// Cap on any one delay, `Retry-After` included.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 4, base: Duration::from_millis(500), max: Duration::from_secs(30) }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt `retry` (0-based): the server's `Retry-After` if it
    /// sent one (capped at `max`), else `min(max, base * 2^retry)` scaled by a jitter in `[0.5, 1.5)`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max);
        }
        let backoff = self.base.saturating_mul(2u32.saturating_pow(retry)).min(self.max);
        backoff.mul_f64(rand::random_range(0.5..1.5))
    }
}

/// Statuses worth retrying: rate limits, server errors and overload (529).
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504 | 529)
}

/// A non-success HTTP answer, handed to the provider to turn into a [`ProviderError`].
#[derive(Clone, Debug)]
pub struct HttpFailure {
    /// HTTP status.
    pub status: u16,
    /// The server's `Retry-After`, if any.
    pub retry_after: Option<Duration>,
    /// The response body (possibly empty).
    pub body: String,
}

/// A `reqwest::Client` with connect/read timeouts and a [`RetryPolicy`]; cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    connect_timeout: Duration,
    read_timeout: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Default connect timeout.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default read timeout: the longest silence allowed while waiting for (more of) an answer.
    pub const READ_TIMEOUT: Duration = Duration::from_secs(300);

    /// A client with the default timeouts and retry policy.
    pub fn new() -> Result<Self, ProviderError> {
        Self::with_timeouts(Self::CONNECT_TIMEOUT, Self::READ_TIMEOUT)
    }

    /// A client with these timeouts and the default retry policy.
    pub fn with_timeouts(connect_timeout: Duration, read_timeout: Duration) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .user_agent(concat!("workflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client, connect_timeout, read_timeout, retry: RetryPolicy::default() })
    }

    /// The same client with another retry policy (tests use tiny delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// The underlying `reqwest` client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Send the request `build` makes, retrying on 429, 500/502/503/504/529 and
    /// connection errors or timeouts as the policy allows. A success (2xx) is
    /// returned; any other status, once retries are spent or at once if not
    /// retryable (400/401/403/404…), goes through `on_failure`.
    pub async fn send_with_retry(
        &self,
        provider: &str,
        build: impl Fn() -> RequestBuilder,
        on_failure: impl Fn(HttpFailure) -> ProviderError,
    ) -> Result<Response, ProviderError> {
        let attempts = self.retry.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= attempts;
            match build().send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = parse_retry_after(response.headers());
                    if is_retryable_status(status) && !last {
                        let delay = self.retry.delay(attempt - 1, retry_after);
                        tracing::warn!(provider, status, attempt, delay_ms = delay.as_millis() as u64, "model request failed; retrying");
                        drop(response);
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    let body = response.text().await.unwrap_or_default();
                    return Err(on_failure(HttpFailure { status, retry_after, body }));
                }
                Err(error) => {
                    if (error.is_connect() || error.is_timeout() || error.is_request()) && !last {
                        let delay = self.retry.delay(attempt - 1, None);
                        tracing::warn!(provider, attempt, delay_ms = delay.as_millis() as u64, error = %error_chain(&error), "model request failed; retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(self.map_error(provider, &error));
                }
            }
        }
    }

    /// A transport error as a [`ProviderError`] (`Timeout` or `Network`).
    pub fn map_error(&self, provider: &str, error: &reqwest::Error) -> ProviderError {
        if error.is_timeout() {
            let after = if error.is_connect() { self.connect_timeout } else { self.read_timeout };
            ProviderError::Timeout { provider: provider.to_string(), after }
        } else if error.is_decode() || error.is_body() {
            ProviderError::BadResponse { provider: provider.to_string(), message: error_chain(error) }
        } else {
            ProviderError::Network { provider: provider.to_string(), message: error_chain(error) }
        }
    }
}

/// An error and its sources on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `Retry-After` as a delay: delta-seconds or an HTTP-date (a past date is zero).
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// What a provider knows when turning an [`HttpFailure`] into a [`ProviderError`].
#[derive(Clone, Copy, Debug)]
pub struct ErrorContext<'a> {
    /// Provider name.
    pub provider: &'a str,
    /// The model asked for.
    pub model: &'a str,
    /// The environment variable holding the key, for `BadKey`.
    pub env_var: Option<&'a str>,
    /// The key, redacted from any message the server echoes.
    pub key: Option<&'a ApiKey>,
}

/// The usual mapping: 401/403 bad key, 404 (or a 400 naming a missing model) unknown model,
/// 429 rate limited, 529 or an `overloaded` body overloaded, anything else `Server` with the
/// provider's own message (key redacted).
pub fn error_for_status(ctx: &ErrorContext<'_>, failure: &HttpFailure) -> ProviderError {
    let provider = ctx.provider.to_string();
    let message = error_message(&failure.body);
    let message = match ctx.key {
        Some(key) => key.redact(&message),
        None => message,
    };
    let lower = message.to_lowercase();
    let body_lower = failure.body.to_lowercase();
    match failure.status {
        401 | 403 => ProviderError::BadKey { provider, env_var: ctx.env_var.map(str::to_string) },
        404 => ProviderError::UnknownModel { provider, model: ctx.model.to_string() },
        429 => ProviderError::RateLimited { provider, retry_after: failure.retry_after },
        529 => ProviderError::Overloaded { provider },
        _ if body_lower.contains("overloaded") => ProviderError::Overloaded { provider },
        400 | 422 if lower.contains("model") && (lower.contains("not found") || lower.contains("does not exist") || lower.contains("invalid model")) => {
            ProviderError::UnknownModel { provider, model: ctx.model.to_string() }
        }
        status => ProviderError::Server { provider, status, message },
    }
}

/// The human part of an error body: `error.message`, `error` (a string), `message`, or the
/// body itself, shortened.
pub fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body).ok().and_then(|value| {
        let error = value.get("error");
        error
            .and_then(|e| e.get("message"))
            .or_else(|| error.filter(|e| e.is_string()))
            .or_else(|| value.get("message"))
            .and_then(|m| m.as_str())
            .map(str::to_string)
    });
    let text = from_json.unwrap_or_else(|| body.trim().to_string());
    let text = if text.is_empty() { "(no details)".to_string() } else { text };
    const LIMIT: usize = 500;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Reads a response body line by line as it arrives (for SSE and NDJSON).
pub struct LineReader {
    response: Response,
    buffer: Vec<u8>,
    finished: bool,
}

impl LineReader {
    /// Read `response`'s body.
    pub fn new(response: Response) -> Self {
        Self { response, buffer: Vec::new(), finished: false }
    }

    /// The next line without its line ending, or `None` at the end of the body.
    pub async fn next_line(&mut self) -> Result<Option<String>, reqwest::Error> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.finished {
                if self.buffer.is_empty() {
                    return Ok(None);
                }
                let line = std::mem::take(&mut self.buffer);
                return Ok(Some(String::from_utf8_lossy(&line).trim_end_matches('\r').to_string()));
            }
            match self.response.chunk().await? {
                Some(chunk) => self.buffer.extend_from_slice(&chunk),
                None => self.finished = true,
            }
        }
    }
}

/// The payload of an SSE `data:` line, or `None` for other lines (events, comments, blanks).
pub fn sse_data(line: &str) -> Option<&str> {
    let data = line.strip_prefix("data:")?;
    Some(data.strip_prefix(' ').unwrap_or(data))
}

/// A base URL joined with a path, without doubling the slash.
pub fn join_url(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// Whether a response is one JSON document (not an event stream).
pub fn is_json(response: &reqwest::Response) -> bool {
    response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.trim_start().starts_with("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let policy = RetryPolicy { attempts: 10, base: Duration::from_millis(100), max: Duration::from_secs(1) };
        for retry in 0..8 {
            let nominal = Duration::from_millis(100).saturating_mul(1 << retry).min(policy.max);
            let delay = policy.delay(retry, None);
            assert!(delay >= nominal.mul_f64(0.5) && delay < nominal.mul_f64(1.5), "{retry}: {delay:?}");
        }
        assert_eq!(policy.delay(0, Some(Duration::from_secs(7))), Duration::from_secs(1));
        assert_eq!(policy.delay(3, Some(Duration::from_millis(20))), Duration::from_millis(20));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
        headers.insert(RETRY_AFTER, later.parse().unwrap());
        let after = parse_retry_after(&headers).unwrap();
        assert!(after > Duration::from_secs(55) && after <= Duration::from_secs(60), "{after:?}");
        headers.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), None);
    }

    #[test]
    fn error_messages_come_from_the_body() {
        assert_eq!(error_message(r#"{"error":{"message":"boom","type":"x"}}"#), "boom");
        assert_eq!(error_message(r#"{"error":"model \"x\" not found"}"#), "model \"x\" not found");
        assert_eq!(error_message("plain text\n"), "plain text");
        assert_eq!(error_message(""), "(no details)");
    }
}
