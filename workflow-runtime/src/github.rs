//! A GitHub REST client for pull requests, bound to one repository.
//!
//! [`GitHubSettings`] say where the API is, which environment variables may
//! hold the token and which repository to work on; [`GitHub::connect`] reads
//! the token at that moment (so a token set after start-up is seen), finds the
//! repository (settings, else the `origin` remote of the working directory)
//! and returns a client. The token lives in a redacting [`ApiKey`]: it never
//! appears in `Debug` output, errors or logs.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::providers::http::{error_chain, join_url, RetryPolicy};
use crate::providers::ApiKey;

mod error;
mod retry;
pub use error::GitHubError;
pub use retry::default_policy as default_retry_policy;

/// The public GitHub API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Variables tried, in order, for the token.
pub const DEFAULT_TOKEN_ENV: [&str; 2] = ["GITHUB_TOKEN", "GH_TOKEN"];

/// How long one API request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const API_VERSION: &str = "2022-11-28";
const JSON_MEDIA_TYPE: &str = "application/vnd.github+json";
const DIFF_MEDIA_TYPE: &str = "application/vnd.github.diff";

/// Where the GitHub API is, where the token comes from, and which repository to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitHubSettings {
    /// API base URL: `https://api.github.com`, or `https://HOST/api/v3` for GitHub Enterprise Server.
    pub api_url: String,
    /// Environment variables that may hold the token; the first one set wins (read by [`GitHub::connect`]).
    pub token_env: Vec<String>,
    /// `owner/name`; `None` = from the `origin` remote of the working directory.
    pub repository: Option<String>,
    /// When requests are sent again (see `github/retry.rs`): [`default_retry_policy`] unless changed.
    pub retry: RetryPolicy,
}

impl GitHubSettings {
    /// From `GITHUB_API_URL` and `GITHUB_REPOSITORY` (both optional); the token from `GITHUB_TOKEN` or `GH_TOKEN`.
    pub fn from_env() -> GitHubSettings {
        let set = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        GitHubSettings {
            api_url: set("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_string()),
            token_env: DEFAULT_TOKEN_ENV.iter().map(|v| v.to_string()).collect(),
            repository: set("GITHUB_REPOSITORY"),
            retry: default_retry_policy(),
        }
    }

    /// Explicit API URL and repository; the token from `GITHUB_TOKEN` or `GH_TOKEN`.
    pub fn new(api_url: impl Into<String>, repository: Option<&str>) -> GitHubSettings {
        GitHubSettings {
            api_url: api_url.into(),
            token_env: DEFAULT_TOKEN_ENV.iter().map(|v| v.to_string()).collect(),
            repository: repository.map(str::to_string),
            retry: default_retry_policy(),
        }
    }

    /// The first of `token_env` that is set (and not blank), with its name.
    fn token(&self) -> Result<(ApiKey, String), GitHubError> {
        self.token_env
            .iter()
            .find_map(|name| match std::env::var(name) {
                Ok(value) if !value.trim().is_empty() => Some((ApiKey::new(value.trim()), name.clone())),
                _ => None,
            })
            .ok_or_else(|| GitHubError::MissingToken { variables: self.token_env.clone() })
    }
}

/// A pull request, as far as workflows care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    /// Its number in the repository.
    pub number: u64,
    /// Its page (`html_url`).
    pub url: String,
    /// The head branch.
    pub head: String,
    /// The base branch.
    pub base: String,
    /// Its title.
    pub title: String,
    /// `open` or `closed`.
    pub state: String,
    /// Whether it was merged.
    pub merged: bool,
    /// The merge commit once merged (before that, GitHub's test merge commit, if any).
    pub merge_commit_sha: Option<String>,
}

/// A pull request as GitHub sends it; list answers have `merged_at` but no `merged`.
#[derive(Deserialize)]
struct RawPullRequest {
    number: u64,
    html_url: String,
    head: RawRef,
    base: RawRef,
    title: String,
    state: String,
    merged: Option<bool>,
    merged_at: Option<String>,
    merge_commit_sha: Option<String>,
}

#[derive(Deserialize)]
struct RawRef {
    #[serde(rename = "ref")]
    name: String,
}

impl From<RawPullRequest> for PullRequest {
    fn from(raw: RawPullRequest) -> PullRequest {
        PullRequest {
            number: raw.number,
            url: raw.html_url,
            head: raw.head.name,
            base: raw.base.name,
            title: raw.title,
            state: raw.state,
            merged: raw.merged.unwrap_or(raw.merged_at.is_some()),
            merge_commit_sha: raw.merge_commit_sha,
        }
    }
}

/// The verdict of a review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReviewEvent {
    /// Approve the changes.
    Approve,
    /// Ask for changes before merging.
    RequestChanges,
    /// Comment without a verdict.
    Comment,
}

impl ReviewEvent {
    /// GitHub's name for it: `APPROVE`, `REQUEST_CHANGES` or `COMMENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewEvent::Approve => "APPROVE",
            ReviewEvent::RequestChanges => "REQUEST_CHANGES",
            ReviewEvent::Comment => "COMMENT",
        }
    }
}

impl fmt::Display for ReviewEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a merge request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged {
    /// Whether GitHub merged it.
    pub merged: bool,
    /// The merge commit.
    pub sha: String,
}

/// What a request is about, to say what was not found or could not be merged.
#[derive(Clone, Copy)]
enum Subject {
    Repository,
    Pull(u64),
    Merge(u64),
}

/// A GitHub API client bound to one repository.
#[derive(Clone)]
pub struct GitHub {
    client: reqwest::Client,
    api_url: String,
    owner: String,
    name: String,
    token: ApiKey,
    token_variable: String,
    retry: RetryPolicy,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.api_url)
            .field("repository", &self.repository())
            .field("token", &self.token)
            .field("token_variable", &self.token_variable)
            .finish_non_exhaustive()
    }
}

impl GitHub {
    /// A client for the repository of `settings`, else of the `origin` remote of `cwd`; fails without a token.
    pub async fn connect(settings: &GitHubSettings, cwd: &Path) -> Result<GitHub, GitHubError> {
        let (token, token_variable) = settings.token()?;
        let repository = match &settings.repository {
            Some(repository) => repository.clone(),
            None => repository_of(cwd).await?,
        };
        let (owner, name) =
            split_repository(&repository).ok_or_else(|| GitHubError::NoRepository { reason: format!("`{repository}` is not of the form owner/name") })?;
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("workflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GitHubError::Network { api_url: settings.api_url.clone(), message: format!("cannot build the HTTP client: {e}") })?;
        Ok(GitHub { client, api_url: settings.api_url.clone(), owner: owner.to_string(), name: name.to_string(), token, token_variable, retry: settings.retry })
    }

    /// `owner/name`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The repository's owner.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Opens a pull request from `head` into `base`.
    pub async fn create_pr(&self, title: &str, body: &str, head: &str, base: &str, draft: bool) -> Result<PullRequest, GitHubError> {
        let payload = json!({ "title": title, "body": body, "head": head, "base": base, "draft": draft });
        let raw: RawPullRequest = self.send_json(Method::POST, &self.repo_path("pulls"), Some(&payload), &[], Subject::Repository).await?;
        Ok(raw.into())
    }

    /// The open pull request whose head is `head_branch` (of this repository's owner, unless given as `user:branch`).
    pub async fn find_open_pr(&self, head_branch: &str) -> Result<Option<PullRequest>, GitHubError> {
        Ok(self.find_prs(head_branch, "open").await?.into_iter().next())
    }

    /// The most recently merged pull request whose head is `head_branch` (to recognise a merge already done).
    pub async fn find_merged_pr(&self, head_branch: &str) -> Result<Option<PullRequest>, GitHubError> {
        Ok(self.find_prs(head_branch, "closed").await?.into_iter().find(|pr| pr.merged))
    }

    async fn find_prs(&self, head_branch: &str, state: &str) -> Result<Vec<PullRequest>, GitHubError> {
        let head = if head_branch.contains(':') { head_branch.to_string() } else { format!("{}:{head_branch}", self.owner) };
        let query = [("state", state), ("head", head.as_str()), ("sort", "updated"), ("direction", "desc")];
        let raw: Vec<RawPullRequest> = self.send_json(Method::GET, &self.repo_path("pulls"), None, &query, Subject::Repository).await?;
        Ok(raw.into_iter().map(PullRequest::from).collect())
    }

    /// Pull request `number`.
    pub async fn pull_request(&self, number: u64) -> Result<PullRequest, GitHubError> {
        let raw: RawPullRequest = self.send_json(Method::GET, &self.repo_path(&format!("pulls/{number}")), None, &[], Subject::Pull(number)).await?;
        Ok(raw.into())
    }

    /// The unified diff of pull request `number`.
    pub async fn diff(&self, number: u64) -> Result<String, GitHubError> {
        let path = self.repo_path(&format!("pulls/{number}"));
        let response = self.send(Method::GET, &path, DIFF_MEDIA_TYPE, None, &[], Subject::Pull(number)).await?;
        response.text().await.map_err(|e| self.bad_response(&Method::GET, &path, &e))
    }

    /// Posts a review; when GitHub refuses the verdict (422: a token cannot approve or request
    /// changes on its own pull request) posts it as a comment whose first line states the verdict.
    /// Returns the event actually posted.
    pub async fn post_review(&self, number: u64, verdict: ReviewEvent, body: &str) -> Result<ReviewEvent, GitHubError> {
        let path = self.repo_path(&format!("pulls/{number}/reviews"));
        let payload = json!({ "event": verdict.as_str(), "body": body });
        match self.send_json::<Value>(Method::POST, &path, Some(&payload), &[], Subject::Pull(number)).await {
            Ok(_) => Ok(verdict),
            Err(GitHubError::Api { status: 422, message, .. }) if verdict != ReviewEvent::Comment => {
                tracing::info!(pull = number, verdict = verdict.as_str(), reason = %message, "GitHub refused the review verdict; posting it as a comment");
                let (stated, refused) = match verdict {
                    ReviewEvent::Approve => ("approve", "the approval"),
                    _ => ("request changes", "the change request"),
                };
                let body = format!("**Verdict: {stated}** (posted as a comment because GitHub refused {refused}: {message})\n\n{body}");
                let payload = json!({ "event": ReviewEvent::Comment.as_str(), "body": body });
                self.send_json::<Value>(Method::POST, &path, Some(&payload), &[], Subject::Pull(number)).await?;
                Ok(ReviewEvent::Comment)
            }
            Err(error) => Err(error),
        }
    }

    /// Merges pull request `number` with `method`: `merge`, `squash` or `rebase`.
    pub async fn merge(&self, number: u64, method: &str) -> Result<Merged, GitHubError> {
        if !matches!(method, "merge" | "squash" | "rebase") {
            return Err(GitHubError::Invalid(format!("unknown merge method `{method}`: use merge, squash or rebase")));
        }
        #[derive(Deserialize)]
        struct RawMerge {
            merged: bool,
            sha: Option<String>,
        }
        let payload = json!({ "merge_method": method });
        let raw: RawMerge = self.send_json(Method::PUT, &self.repo_path(&format!("pulls/{number}/merge")), Some(&payload), &[], Subject::Merge(number)).await?;
        Ok(Merged { merged: raw.merged, sha: raw.sha.unwrap_or_default() })
    }

    /// The repository's default branch.
    pub async fn default_branch(&self) -> Result<String, GitHubError> {
        #[derive(Deserialize)]
        struct RawRepository {
            default_branch: String,
        }
        let raw: RawRepository = self.send_json(Method::GET, &self.repo_path(""), None, &[], Subject::Repository).await?;
        Ok(raw.default_branch)
    }

    fn repo_path(&self, rest: &str) -> String {
        let base = format!("repos/{}/{}", self.owner, self.name);
        if rest.is_empty() {
            base
        } else {
            format!("{base}/{rest}")
        }
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        query: &[(&str, &str)],
        subject: Subject,
    ) -> Result<T, GitHubError> {
        let response = self.send(method.clone(), path, JSON_MEDIA_TYPE, body, query, subject).await?;
        response.json::<T>().await.map_err(|e| self.bad_response(&method, path, &e))
    }

    /// Sends one request, again when `retry.rs` says it is safe and worth it;
    /// a non-2xx answer becomes the matching [`GitHubError`].
    async fn send(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<&Value>,
        query: &[(&str, &str)],
        subject: Subject,
    ) -> Result<Response, GitHubError> {
        let action = format!("{method} /{path}");
        let idempotent = retry::is_idempotent(&method);
        let attempts = self.retry.attempts.max(1);
        for attempt in 1..=attempts {
            let last = attempt == attempts;
            tracing::debug!(%method, path, attempt, "GitHub request");
            let mut request: RequestBuilder = self
                .client
                .request(method.clone(), join_url(&self.api_url, path))
                .header(AUTHORIZATION, format!("Bearer {}", self.token.expose()))
                .header(ACCEPT, accept)
                .header("X-GitHub-Api-Version", API_VERSION);
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(response) => response,
                // Not connected: the request never reached GitHub. A timeout may have done the work: only idempotent requests go again.
                Err(e) if !last && (e.is_connect() || (idempotent && e.is_timeout())) => {
                    let delay = self.retry.delay(attempt - 1, None);
                    tracing::warn!(%method, path, attempt, delay_ms = delay.as_millis() as u64, error = %self.token.redact(&error_chain(&e)), "GitHub request failed; retrying");
                    tokio::time::sleep(delay).await;
                    continue;
                }
                Err(e) => return Err(self.transport_error(&e)),
            };
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let headers = response.headers().clone();
            let text = response.text().await.unwrap_or_default();
            if let Some(wait) = retry::rate_limit_wait(status.as_u16(), &headers, &text) {
                if last || wait > self.retry.max {
                    let message = self.token.redact(&github_message(&text));
                    return Err(GitHubError::RateLimited { action, message, wait_secs: wait.as_secs() });
                }
                tracing::warn!(%method, path, attempt, wait_ms = wait.as_millis() as u64, "GitHub rate limit; waiting as it asks");
                tokio::time::sleep(wait).await;
                continue;
            }
            if idempotent && retry::is_transient(status.as_u16()) && !last {
                let delay = self.retry.delay(attempt - 1, crate::providers::http::parse_retry_after(&headers));
                tracing::warn!(%method, path, attempt, status = status.as_u16(), delay_ms = delay.as_millis() as u64, "GitHub request failed; retrying");
                tokio::time::sleep(delay).await;
                continue;
            }
            return Err(self.status_error(status, &text, &action, subject));
        }
        unreachable!("the last attempt always returns")
    }

    fn status_error(&self, status: StatusCode, body: &str, action: &str, subject: Subject) -> GitHubError {
        let message = self.token.redact(&github_message(body));
        let repository = self.repository();
        match (status.as_u16(), subject) {
            (401, _) => GitHubError::BadToken { variable: self.token_variable.clone() },
            (403, _) => GitHubError::Forbidden { repository, message },
            (404, Subject::Repository) => GitHubError::RepositoryNotFound { repository, api_url: self.api_url.clone() },
            (404, Subject::Pull(number) | Subject::Merge(number)) => GitHubError::PullRequestNotFound { repository, number },
            (status @ (405 | 409 | 422), Subject::Merge(number)) => GitHubError::NotMergeable { repository, number, status, message },
            (status, _) => GitHubError::Api { status, action: action.to_string(), message },
        }
    }

    fn transport_error(&self, error: &reqwest::Error) -> GitHubError {
        if error.is_timeout() {
            GitHubError::Timeout { api_url: self.api_url.clone() }
        } else {
            GitHubError::Network { api_url: self.api_url.clone(), message: self.token.redact(&error_chain(error)) }
        }
    }

    fn bad_response(&self, method: &Method, path: &str, error: &reqwest::Error) -> GitHubError {
        GitHubError::BadResponse { action: format!("{method} /{path}"), message: self.token.redact(&error_chain(error)) }
    }
}

/// GitHub's explanation: `message`, then the details of `errors` (a 422 says "Validation Failed"
/// at the top and what failed below).
fn github_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        let text = body.trim();
        return if text.is_empty() { "(no details)".to_string() } else { text.chars().take(500).collect() };
    };
    let mut parts: Vec<String> = value.get("message").and_then(Value::as_str).map(str::to_string).into_iter().collect();
    for error in value.get("errors").and_then(Value::as_array).into_iter().flatten() {
        let detail = match error {
            Value::String(text) => Some(text.clone()),
            _ => error.get("message").and_then(Value::as_str).map(str::to_string).or_else(|| {
                let field = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or("");
                let code = field("code");
                (!code.is_empty()).then(|| format!("{} {} {code}", field("resource"), field("field")).trim().to_string())
            }),
        };
        parts.extend(detail);
    }
    if parts.is_empty() {
        "(no details)".to_string()
    } else {
        parts.join(": ")
    }
}

fn split_repository(repository: &str) -> Option<(&str, &str)> {
    let (owner, name) = repository.trim().split_once('/')?;
    let valid = |part: &str| !part.is_empty() && !part.contains(['/', ' ', ':']);
    (valid(owner) && valid(name)).then_some((owner, name))
}

/// `owner/name` from a GitHub remote URL: `https://HOST/owner/name(.git)`,
/// `git@HOST:owner/name(.git)` or `ssh://git@HOST[:PORT]/owner/name(.git)`.
pub fn repository_from_remote(url: &str) -> Option<String> {
    let url = url.trim();
    let path = match url.split_once("://") {
        Some((scheme, rest)) => {
            if !matches!(scheme, "https" | "http" | "ssh" | "git" | "git+ssh" | "ssh+git") {
                return None;
            }
            // After the authority: `[user[:password]@]host[:port]/path`.
            rest.split_once('/')?.1
        }
        None => {
            // scp-like `[user@]host:path`; a local path has no colon before its first slash.
            let (host, path) = url.split_once(':')?;
            if host.is_empty() || host.contains('/') {
                return None;
            }
            path
        }
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let (owner, name) = split_repository(path)?;
    Some(format!("{owner}/{name}"))
}

/// `owner/name` of the `origin` remote of `cwd`.
async fn repository_of(cwd: &Path) -> Result<String, GitHubError> {
    let url = match git(cwd, &["remote", "get-url", "origin"]).await {
        Ok(url) => url,
        Err(GitHubError::Git { message, .. }) => {
            return Err(GitHubError::NoRepository { reason: format!("no `origin` remote in {} ({message})", cwd.display()) });
        }
        Err(other) => return Err(other),
    };
    repository_from_remote(&url)
        .ok_or_else(|| GitHubError::NoRepository { reason: format!("the `origin` remote `{}` is not a GitHub repository URL", without_credentials(&url)) })
}

/// A URL with any `user:password@` removed (a remote may embed a token).
fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// Runs git in `cwd` and returns its trimmed stdout.
pub(crate) async fn git(cwd: &Path, args: &[&str]) -> Result<String, GitHubError> {
    let command = args.join(" ");
    let output = tokio::process::Command::new("git")
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| GitHubError::Git { command: command.clone(), message: format!("cannot run git in {}: {e}", cwd.display()) })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no details").to_string();
        Err(GitHubError::Git { command, message })
    }
}

#[cfg(test)]
mod tests;
