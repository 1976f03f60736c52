//! Who is asking. People sign in with an API token (`workflow token create
//! NAME` prints it once; the store keeps only its SHA-256): the API takes it
//! as `Authorization: Bearer`, the pages exchange it for a session cookie
//! (HttpOnly, SameSite=Strict) and put a CSRF token in every form. The
//! person is the token's name, recorded with every answer.
//!
//! Without any token the server is *open*: it listens on loopback only, and
//! everyone who reaches it is the local operator (`$WORKFLOW_OPERATOR`, else
//! `$USER`), as at the command line. Forms still carry a CSRF token, and an
//! open server answers only requests addressed to a loopback host name, so
//! neither another site nor a DNS rebinding can act through a local browser.

use crate::error::{ApiError, ServerError};
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use subtle::ConstantTimeEq;
use workflow_runtime::human::now_ms;
use workflow_runtime::store::{Store, TokenRecord};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "workflow_session";
/// How long a page session lasts.
const SESSION_MS: u64 = 12 * 3_600_000;
/// What every token starts with, so one found in a log or a paste is recognised.
const TOKEN_PREFIX: &str = "wft_";

/// A signed-in person, as the handlers see them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// Their name: the token's, or the local operator's on an open server.
    pub name: String,
    /// The CSRF token their forms carry (`None` for API calls with a bearer token, which forms never make).
    pub csrf: Option<String>,
    /// Signed in with a token (not the local operator of an open server): they can sign out.
    pub with_token: bool,
}

impl Person {
    /// Checks a form's CSRF token against the session's, in constant time.
    pub fn check_csrf(&self, given: &str) -> Result<(), ApiError> {
        match &self.csrf {
            Some(expected) if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) => Ok(()),
            _ => Err(ApiError::forbidden("the form's CSRF token is missing or stale: reload the page and send it again")),
        }
    }
}

/// Makes a token for `name`, stores its hash, and returns the token (shown once, never stored).
pub fn create_token<S: Store>(store: &S, name: &str) -> Result<String, ServerError> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || ".-_@".contains(c)) {
        return Err(ServerError::TokenName(name.to_string()));
    }
    let token = format!("{TOKEN_PREFIX}{}", random_hex());
    let record = TokenRecord { name: name.to_string(), hash: hex(&Sha256::digest(token.as_bytes())), created_at_ms: now_ms(), revoked_at_ms: None };
    if !store.add_token(&record)? {
        return Err(ServerError::TokenExists(name.to_string()));
    }
    Ok(token)
}

/// The active token `presented` is, if any. Every active token's hash is compared, in
/// constant time, whatever matches: the time taken says nothing about the stored hashes.
pub fn find_token<S: Store>(store: &S, presented: &str) -> Result<Option<TokenRecord>, ApiError> {
    let digest = Sha256::digest(presented.as_bytes());
    let mut found = None;
    for token in store.tokens()?.into_iter().filter(|t| t.revoked_at_ms.is_none()) {
        let stored = unhex(&token.hash).unwrap_or_default();
        if bool::from(stored.as_slice().ct_eq(digest.as_slice())) {
            found = Some(token);
        }
    }
    Ok(found)
}

/// Whether any active token exists (without one the server is open, on loopback only).
pub fn any_token<S: Store>(store: &S) -> Result<bool, ApiError> {
    Ok(store.tokens()?.iter().any(|t| t.revoked_at_ms.is_none()))
}

/// Page sessions, in memory: a restarted server asks people to sign in again.
#[derive(Debug, Default)]
pub struct Sessions {
    by_digest: Mutex<HashMap<[u8; 32], Session>>,
}

#[derive(Clone, Debug)]
struct Session {
    name: String,
    /// The hash of the token signed in with (`None` on an open server): revoking it ends the session.
    token_hash: Option<String>,
    csrf: String,
    expires_at_ms: u64,
}

impl Sessions {
    /// Starts a session for `name`; returns the cookie value.
    pub fn start(&self, name: &str, token_hash: Option<String>) -> String {
        let id = random_hex();
        let session = Session { name: name.to_string(), token_hash, csrf: random_hex(), expires_at_ms: now_ms() + SESSION_MS };
        let mut sessions = self.by_digest.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_ms();
        sessions.retain(|_, s| s.expires_at_ms > now);
        sessions.insert(Sha256::digest(id.as_bytes()).into(), session);
        id
    }

    /// Ends the session a cookie names.
    pub fn end(&self, cookie: &str) {
        self.by_digest.lock().unwrap_or_else(|p| p.into_inner()).remove(&<[u8; 32]>::from(Sha256::digest(cookie.as_bytes())));
    }

    fn find(&self, cookie: &str) -> Option<Session> {
        let sessions = self.by_digest.lock().unwrap_or_else(|p| p.into_inner());
        sessions.get(&<[u8; 32]>::from(Sha256::digest(cookie.as_bytes()))).filter(|s| s.expires_at_ms > now_ms()).cloned()
    }
}

/// The `Set-Cookie` of a new session (`Secure` when the public URL is https).
pub fn session_cookie(value: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", SESSION_MS / 1000))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` that ends a session in the browser.
pub fn expired_cookie() -> HeaderValue {
    HeaderValue::from_str(&format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session cookie a request carries.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

/// Who a request comes from, worked out once per request (and a session started for a
/// browser on an open server): the handlers read it with [`Person`]'s extractor.
#[derive(Clone, Debug)]
pub enum Identity {
    /// Known.
    Known(Person),
    /// Not signed in.
    Anonymous,
    /// A bearer token or a session that is not (or no longer) valid.
    Refused(String),
}

/// Middleware: refuses cross-site writes and foreign hosts, identifies the person.
pub async fn identify<S: Store>(State(state): State<AppState<S>>, mut request: Request, next: Next) -> Response {
    let headers = request.headers().clone();
    if request.method() != Method::GET && request.method() != Method::HEAD && !same_origin(&headers) {
        return ApiError::forbidden("a request from another site was refused (its Origin is not this server)").into_response();
    }
    let open = match any_token(&*state.store).map(|any| !any) {
        Ok(open) => open,
        Err(e) => return e.into_response(),
    };
    if open && !state.loopback {
        return ApiError::unauthorized("this server listens beyond loopback but no token exists: create one with `workflow token create NAME`").into_response();
    }
    if open && !loopback_host(&headers) {
        return ApiError::forbidden("this server has no tokens and answers only requests to localhost (a name that resolves elsewhere was refused)")
            .into_response();
    }
    let mut new_session = None;
    // On an open server the API (no cookies, no forms) is the local operator; a browser gets a session, for its forms' CSRF token.
    let api = request.uri().path().starts_with("/api/") || request.uri().path() == "/metrics";
    let identity = match identity(&state, &headers, open) {
        Ok(Identity::Anonymous) if open && api => Identity::Known(Person { name: state.operator.clone(), csrf: None, with_token: false }),
        Ok(Identity::Anonymous) if open => {
            let cookie = state.sessions.start(&state.operator, None);
            let found = identity_of_cookie(&state, &cookie);
            new_session = Some(cookie);
            found
        }
        Ok(identity) => identity,
        Err(e) => return e.into_response(),
    };
    request.extensions_mut().insert(identity);
    let mut response = next.run(request).await;
    if let Some(cookie) = new_session {
        response.headers_mut().append(SET_COOKIE, session_cookie(&cookie, state.secure_cookies));
    }
    response
}

fn identity<S: Store>(state: &AppState<S>, headers: &HeaderMap, open: bool) -> Result<Identity, ApiError> {
    if let Some(auth) = headers.get(AUTHORIZATION) {
        let presented = auth.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).unwrap_or_default();
        if open {
            return Ok(Identity::Refused("no API token exists on this server: send no Authorization header".to_string()));
        }
        return Ok(match find_token(&*state.store, presented)? {
            Some(token) => Identity::Known(Person { name: token.name, csrf: None, with_token: true }),
            None => Identity::Refused("the bearer token is not valid (unknown or revoked)".to_string()),
        });
    }
    let Some(cookie) = cookie(headers) else { return Ok(Identity::Anonymous) };
    let found = identity_of_cookie(state, &cookie);
    // A session from an open server is void once tokens exist, and one signed in with a revoked token ends.
    if let Identity::Known(_) = &found {
        let session = state.sessions.find(&cookie);
        let valid = match session.as_ref().and_then(|s| s.token_hash.clone()) {
            None => open,
            Some(hash) => state.store.tokens()?.iter().any(|t| t.revoked_at_ms.is_none() && bool::from(t.hash.as_bytes().ct_eq(hash.as_bytes()))),
        };
        if !valid {
            state.sessions.end(&cookie);
            return Ok(Identity::Anonymous);
        }
    }
    Ok(found)
}

fn identity_of_cookie<S: Store>(state: &AppState<S>, cookie: &str) -> Identity {
    match state.sessions.find(cookie) {
        Some(session) => Identity::Known(Person { with_token: session.token_hash.is_some(), name: session.name, csrf: Some(session.csrf) }),
        None => Identity::Anonymous,
    }
}

/// A write from a browser says where its page came from: it must be this server.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) else { return true };
    let host = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

/// Whether the request was addressed to a loopback name (`localhost`, `127.x.y.z`, `[::1]`).
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else { return true };
    let name = if host.starts_with('[') { host.split(']').next().map(|h| &h[1..]).unwrap_or(host) } else { host.split(':').next().unwrap_or(host) };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A person the API knows (401 JSON otherwise).
impl<S: Store> FromRequestParts<AppState<S>> for Person {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState<S>) -> Result<Person, ApiError> {
        match parts.extensions.get::<Identity>() {
            Some(Identity::Known(person)) => Ok(person.clone()),
            Some(Identity::Refused(why)) => Err(ApiError::unauthorized(why.clone())),
            _ => Err(ApiError::unauthorized("sign in: send `Authorization: Bearer TOKEN` (make one with `workflow token create NAME`)")),
        }
    }
}

/// A person a page knows; anyone else is sent to the sign-in page.
#[derive(Clone, Debug)]
pub struct Reader(pub Person);

impl<S: Store> FromRequestParts<AppState<S>> for Reader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState<S>) -> Result<Reader, Response> {
        match parts.extensions.get::<Identity>() {
            Some(Identity::Known(person)) => Ok(Reader(person.clone())),
            _ => {
                let here = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let next: String = form_urlencoded_byte(here);
                Err(Redirect::to(&format!("/signin?next={next}")).into_response())
            }
        }
    }
}

fn form_urlencoded_byte(text: &str) -> String {
    text.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") }).collect()
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// The SHA-256 of a token, as stored (for a session to remember which token it came from).
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use workflow_runtime::store::memory::MemoryStore;

    #[test]
    fn a_token_is_found_by_its_hash_and_not_once_revoked() {
        let store = MemoryStore::new();
        let token = create_token(&store, "alice").unwrap();
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() == TOKEN_PREFIX.len() + 64);
        assert!(store.tokens().unwrap().iter().all(|t| t.hash != token), "only the hash is stored");
        assert_eq!(find_token(&store, &token).unwrap().map(|t| t.name), Some("alice".to_string()));
        assert_eq!(find_token(&store, "wft_guess").unwrap(), None);
        assert!(matches!(create_token(&store, "alice"), Err(ServerError::TokenExists(_))));
        assert!(store.revoke_token("alice", now_ms()).unwrap());
        assert_eq!(find_token(&store, &token).unwrap(), None);
        assert!(matches!(create_token(&store, "<script>"), Err(ServerError::TokenName(_))));
    }

    #[test]
    fn hosts_and_origins() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(loopback_host(&headers) && same_origin(&headers));
        headers.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&headers));
        headers.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&headers));
        headers.insert(HOST, HeaderValue::from_static("rebound.example:8080"));
        assert!(!loopback_host(&headers));
        headers.insert(HOST, HeaderValue::from_static("[::1]:8080"));
        assert!(loopback_host(&headers));
    }
}
