//! `workflow serve`: a web page and a JSON API over a run store, for the
//! people runs wait on. One axum server, generic over the runtime's
//! [`Store`], with:
//!
//! * pages rendered on the server ([`pages`]): *Waiting for me*, *Runs*
//!   (keyset pages), and a run's page (graph, steps, outputs, audit record,
//!   who answered what) that updates live over Server-Sent Events ([`live`]);
//! * the API under `/api/v1` ([`api`]), its OpenAPI document generated from
//!   the handlers, `/healthz` and `/metrics` ([`metrics`]);
//! * sign-in with tokens ([`auth`]); approve, reject, answer, pause, resume
//!   and cancel doing what the command line does, through the runtime's same
//!   code ([`operations`]).
//!
//! The command line's `workflow serve` and `workflow token` are thin over
//! [`start`] and [`auth::create_token`].

pub mod api;
pub mod auth;
pub mod error;
pub mod extract;
pub mod graph;
pub mod live;
pub mod metrics;
pub mod operations;
pub mod pages;
pub mod state;
pub mod views;

pub use error::{ApiError, ServerError};
pub use state::AppState;

use axum::extract::DefaultBodyLimit;
use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use workflow_runtime::store::Store;

/// The largest request body taken (forms and JSON): answers and comments are text, not files.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The address people open (`https://runs.example.com`), for notification links and `Secure` cookies.
    pub public_url: Option<String>,
    /// Who answers on a server without tokens (the local operator).
    pub operator: String,
}

/// A server that is listening.
pub struct Started {
    /// The address it listens on (the port is known even when 0 was asked for).
    pub local_addr: SocketAddr,
    /// What to tell the person who started it: where it is, and who may use it.
    pub banner: String,
    /// The server, running until it fails or `shutdown` resolves.
    pub task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

/// Binds `options.listen` and serves `store` until `shutdown` resolves. Refuses an address
/// beyond loopback while no token exists.
pub async fn start<S: Store>(
    store: Arc<S>,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Started, ServerError> {
    let loopback = options.listen.ip().is_loopback();
    let public_url = match options.public_url.as_deref().map(|u| u.trim().trim_end_matches('/').to_string()) {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => Some(url),
        Some(url) => return Err(ServerError::PublicUrl(url)),
        None => None,
    };
    let tokens = store.tokens()?.iter().filter(|t| t.revoked_at_ms.is_none()).count();
    if tokens == 0 && !loopback {
        return Err(ServerError::OpenToTheNetwork { listen: options.listen });
    }
    let listener = tokio::net::TcpListener::bind(options.listen).await.map_err(|source| ServerError::Bind { listen: options.listen, source })?;
    let local_addr = listener.local_addr().map_err(ServerError::Serve)?;
    let here = public_url.clone().unwrap_or_else(|| format!("http://{local_addr}"));
    let banner = if tokens == 0 {
        format!(
            "workflow serve: listening on http://{local_addr} (open it at {here})\n  no API token exists, so it listens on loopback only and everyone who reaches it acts as `{}`;\n  to sign people in, create tokens with `workflow token create NAME`",
            options.operator
        )
    } else {
        format!("workflow serve: listening on http://{local_addr} (open it at {here})\n  {tokens} token(s) may sign in (`workflow token list`)")
    };
    let state = AppState::new(store, loopback, public_url, options.operator);
    let app = router(state);
    let task = tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(shutdown).await.map_err(ServerError::Serve) });
    Ok(Started { local_addr, banner, task })
}

/// Every route, over `state`.
pub fn router<S: Store>(state: AppState<S>) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(api::openapi))
        .route("/runs", get(api::list_runs::<S>))
        .route("/runs/{id}", get(api::get_run::<S>))
        .route("/runs/{id}/events", get(api::run_events::<S>))
        .route("/runs/{id}/questions", get(api::run_questions::<S>))
        .route("/runs/{id}/live", get(live::live::<S>))
        .route("/runs/{id}/approve", post(api::approve::<S>))
        .route("/runs/{id}/reject", post(api::reject::<S>))
        .route("/runs/{id}/answer", post(api::answer::<S>))
        .route("/runs/{id}/pause", post(api::pause::<S>))
        .route("/runs/{id}/resume", post(api::resume::<S>))
        .route("/runs/{id}/cancel", post(api::cancel::<S>))
        .route("/questions", get(api::waiting::<S>))
        .fallback(api_not_found);
    Router::new()
        .route("/", get(|| async { Redirect::to("/waiting") }))
        .route("/waiting", get(pages::waiting::list::<S>))
        .route("/runs", get(pages::runs::list::<S>))
        .route("/runs/{id}", get(pages::run::show::<S>))
        .route("/runs/{id}/fragment", get(pages::run::fragment::<S>))
        .route("/runs/{id}/approve", post(pages::forms::approve::<S>))
        .route("/runs/{id}/reject", post(pages::forms::reject::<S>))
        .route("/runs/{id}/answer", post(pages::forms::answer::<S>))
        .route("/runs/{id}/pause", post(pages::forms::pause::<S>))
        .route("/runs/{id}/resume", post(pages::forms::resume::<S>))
        .route("/runs/{id}/cancel", post(pages::forms::cancel::<S>))
        .route("/signin", get(pages::signin::form).post(pages::signin::submit::<S>))
        .route("/signout", post(pages::signin::sign_out::<S>))
        .route("/assets/style.css", get(pages::style))
        .route("/assets/live.js", get(pages::script))
        .route("/healthz", get(api::healthz::<S>))
        .route("/metrics", get(metrics::metrics::<S>))
        .nest("/api/v1", api)
        .fallback(page_not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::identify::<S>))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn api_not_found(uri: Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no such API path: {}", uri.path()))
}

async fn page_not_found(uri: Uri) -> Response {
    pages::error_page(&ApiError::new(StatusCode::NOT_FOUND, format!("there is no page at {}", uri.path())), None, Some("/"))
}

/// No inline script, nothing from another origin, no framing: an injection that escaped escaping still could not run.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response.into_response()
}
