//! What can go wrong: starting the server ([`ServerError`]), and a request
//! ([`ApiError`]: a status and a message, sent as `{"error": "..."}` to the
//! API and as a page to a browser).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use workflow_runtime::executor::RunError;
use workflow_runtime::human::answering::AnswerError;
use workflow_runtime::store::StoreError;

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// `--listen` names a non-loopback address while no token exists.
    #[error("refusing to listen on {listen}: no API token exists, so anyone who can reach it could approve runs. Create one with `workflow token create NAME`, or listen on 127.0.0.1")]
    OpenToTheNetwork {
        /// The address asked for.
        listen: std::net::SocketAddr,
    },
    /// `--public-url` is not an http(s) URL.
    #[error("--public-url {0}: give an http:// or https:// URL (the address people open, e.g. https://runs.example.com)")]
    PublicUrl(String),
    /// The address cannot be bound.
    #[error("cannot listen on {listen}: {source}")]
    Bind {
        /// The address.
        listen: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A token name that cannot name a person.
    #[error("token name `{0}`: use letters, digits, `.`, `_`, `-` or `@` (1 to 64 of them), e.g. a person's login")]
    TokenName(String),
    /// The name has an active token already.
    #[error("`{0}` already has a token: revoke it first with `workflow token revoke {0}`")]
    TokenExists(String),
}

/// A request that failed: its status and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    /// 404 for a run id that names no run.
    pub fn no_run(run: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("no run `{run}`"))
    }

    /// 401: who is asking is not known.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: known, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::RunNotFound(run) => ApiError::no_run(&run),
            other => {
                tracing::error!(error = %other, "store");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the run store failed: {other}"))
            }
        }
    }
}

impl From<AnswerError> for ApiError {
    fn from(e: AnswerError) -> ApiError {
        let status = match &e {
            AnswerError::RunNotFound(_) => StatusCode::NOT_FOUND,
            // What the run asks decides what fits: a mismatch is a conflict with its state, not a malformed request.
            AnswerError::NotWaiting { .. } | AnswerError::AnsweredMeanwhile { .. } | AnswerError::WrongKind { .. } | AnswerError::Invalid { .. } => {
                StatusCode::CONFLICT
            }
            AnswerError::NotApprover { .. } => StatusCode::FORBIDDEN,
            AnswerError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> ApiError {
        match e {
            RunError::Store(store) => store.into(),
            RunError::Finished { .. } | RunError::Busy { .. } | RunError::DefinitionChanged { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            other => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
        }
    }
}
