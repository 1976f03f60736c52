//! Why a GitHub operation failed, said so a person knows what to do.

use super::REQUEST_TIMEOUT;

/// Why a GitHub operation failed. Messages say what to do and never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// None of the token variables is set.
    #[error("no GitHub token: set the environment variable {}", either(.variables))]
    MissingToken {
        /// The variables tried, in order.
        variables: Vec<String>,
    },
    /// GitHub answered 401.
    #[error("GitHub rejected the token from {variable} (HTTP 401 Unauthorized): set a valid token (not expired, not revoked) in {variable}")]
    BadToken {
        /// The variable the token came from.
        variable: String,
    },
    /// GitHub answered 403.
    #[error("GitHub refused access to {repository} (HTTP 403 Forbidden): {message}; check that the token may read and write pull requests and contents there")]
    Forbidden {
        /// `owner/name`.
        repository: String,
        /// GitHub's explanation.
        message: String,
    },
    /// GitHub answered 404 about the repository.
    #[error(
        "repository {repository} not found on {api_url} (HTTP 404): check the name (GITHUB_REPOSITORY or the `origin` remote) and that the token can see it"
    )]
    RepositoryNotFound {
        /// `owner/name`.
        repository: String,
        /// The API asked.
        api_url: String,
    },
    /// GitHub answered 404 about a pull request.
    #[error("pull request #{number} not found in {repository} (HTTP 404): check the number and that the token can see the repository")]
    PullRequestNotFound {
        /// `owner/name`.
        repository: String,
        /// The pull request asked for.
        number: u64,
    },
    /// No open pull request has the branch as its head.
    #[error("no open pull request from branch `{branch}` in {repository}: open one first (create-pr) or name it with `pr:`")]
    NoOpenPullRequest {
        /// `owner/name`.
        repository: String,
        /// The head branch looked for.
        branch: String,
    },
    /// GitHub refused to merge (405, 409 or 422).
    #[error("pull request #{number} in {repository} cannot be merged (HTTP {status}): {message}")]
    NotMergeable {
        /// `owner/name`.
        repository: String,
        /// The pull request.
        number: u64,
        /// HTTP status.
        status: u16,
        /// GitHub's explanation.
        message: String,
    },
    /// Any other error status, with GitHub's explanation.
    #[error("GitHub answered HTTP {status} to {action}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// What was asked, e.g. `POST /repos/acme/widgets/pulls`.
        action: String,
        /// GitHub's explanation.
        message: String,
    },
    /// GitHub's rate limit refused the request, and the wait it asks for is longer than the retries allow (or they are spent).
    #[error("GitHub's rate limit refused {action}: {message}; it allows requests again in about {wait_secs}s (retry the step then, or raise its `retry:`)")]
    RateLimited {
        /// What was asked.
        action: String,
        /// GitHub's explanation.
        message: String,
        /// How long GitHub asks to wait, in seconds.
        wait_secs: u64,
    },
    /// Neither the settings nor the `origin` remote name a repository.
    #[error("cannot determine the GitHub repository: {reason}; set GITHUB_REPOSITORY=owner/name or add a GitHub `origin` remote")]
    NoRepository {
        /// What was found instead.
        reason: String,
    },
    /// A value given to us that cannot be right (a pull request number, a merge method).
    #[error("{0}")]
    Invalid(String),
    /// Could not talk to the API.
    #[error("cannot reach GitHub at {api_url}: {message}; check the network and GITHUB_API_URL")]
    Network {
        /// The API asked.
        api_url: String,
        /// What went wrong.
        message: String,
    },
    /// No answer within [`REQUEST_TIMEOUT`].
    #[error("GitHub at {api_url} did not answer within {}s", REQUEST_TIMEOUT.as_secs())]
    Timeout {
        /// The API asked.
        api_url: String,
    },
    /// A success answer we could not read.
    #[error("unexpected answer from GitHub to {action}: {message}")]
    BadResponse {
        /// What was asked.
        action: String,
        /// What was wrong with it.
        message: String,
    },
    /// A git command in the working directory failed.
    #[error("git {command} failed: {message}")]
    Git {
        /// The git arguments.
        command: String,
        /// git's complaint.
        message: String,
    },
}

fn either(variables: &[String]) -> String {
    match variables {
        [] => "GITHUB_TOKEN".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
