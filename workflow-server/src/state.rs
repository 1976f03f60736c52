//! What every handler shares: the store, the sessions, how the server was
//! started, the live watches and the runs this server drives.

use crate::auth::Sessions;
use crate::live::Watches;
use std::sync::Arc;
use workflow_runtime::store::Store;

/// The server's shared state (cheap to clone).
pub struct AppState<S: Store> {
    inner: Arc<Shared<S>>,
}

/// What [`AppState`] holds.
pub struct Shared<S: Store> {
    /// The run store.
    pub store: Arc<S>,
    /// Page sessions.
    pub sessions: Sessions,
    /// Whether the server listens on loopback only (then it may run without tokens).
    pub loopback: bool,
    /// The address people open (`--public-url`), for links in notifications; no trailing `/`.
    pub public_url: Option<String>,
    /// Whether cookies get `Secure` (the public URL is https).
    pub secure_cookies: bool,
    /// Who answers on an open server (no tokens): the local operator.
    pub operator: String,
    /// Runs watched live, one poller each.
    pub watches: Watches,
}

impl<S: Store> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState { inner: self.inner.clone() }
    }
}

impl<S: Store> std::ops::Deref for AppState<S> {
    type Target = Shared<S>;

    fn deref(&self) -> &Shared<S> {
        &self.inner
    }
}

impl<S: Store> AppState<S> {
    /// State over `store`.
    pub fn new(store: Arc<S>, loopback: bool, public_url: Option<String>, operator: String) -> AppState<S> {
        let secure_cookies = public_url.as_deref().is_some_and(|u| u.starts_with("https://"));
        AppState {
            inner: Arc::new(Shared { store, sessions: Sessions::default(), loopback, public_url, secure_cookies, operator, watches: Watches::default() }),
        }
    }
}
