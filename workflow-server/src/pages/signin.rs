//! Signing in with a token (it becomes a session cookie) and out again.

use super::{error_page, page, Here};
use crate::auth::{self, Identity, Person};
use crate::error::ApiError;
use crate::extract::QueryMap;
use crate::state::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::header::SET_COOKIE;
use axum::http::Extensions;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use workflow_runtime::store::Store;

/// Where to go after signing in: a path of this server only.
fn local(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_string(),
        _ => "/waiting".to_string(),
    }
}

/// `GET /signin`.
pub async fn form(QueryMap(query): QueryMap) -> Response {
    sign_in_page(&local(query.get("next").map(String::as_str)), None).into_response()
}

fn sign_in_page(next: &str, problem: Option<&str>) -> maud::Markup {
    page(
        "Sign in",
        Here::Elsewhere,
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(problem) = problem { p class="notice error" role="alert" { (problem) } }
            p { "Sign in with the token " code { "workflow token create NAME" } " printed for you. Your name is recorded with every answer you give." }
            form method="post" action="/signin" class="signin" {
                input type="hidden" name="next" value=(next);
                label for="token" { "Token" }
                input id="token" name="token" type="password" autocomplete="current-password" required spellcheck="false";
                div class="buttons" { button type="submit" class="primary" { "Sign in" } }
            }
        },
    )
}

/// The sign-in form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct SignIn {
    /// The token.
    #[serde(default)]
    pub token: String,
    /// Where to go next.
    #[serde(default)]
    pub next: Option<String>,
}

/// `POST /signin`.
pub async fn submit<S: Store>(State(state): State<AppState<S>>, fields: Result<Form<SignIn>, FormRejection>) -> Response {
    let fields = match fields {
        Ok(Form(fields)) => fields,
        Err(e) => return error_page(&ApiError::new(e.status(), format!("the form could not be read: {}", e.body_text())), None, Some("/signin")),
    };
    let next = local(fields.next.as_deref());
    let token = match auth::find_token(&*state.store, fields.token.trim()) {
        Ok(token) => token,
        Err(e) => return error_page(&e, None, Some("/signin")),
    };
    let Some(token) = token else {
        let page = sign_in_page(&next, Some("That token is not valid: it is unknown, or it was revoked. Ask for a new one."));
        return (axum::http::StatusCode::UNAUTHORIZED, page).into_response();
    };
    let cookie = state.sessions.start(&token.name, Some(auth::token_hash(fields.token.trim())));
    tracing::info!(name = %token.name, "signed in");
    ([(SET_COOKIE, auth::session_cookie(&cookie, state.secure_cookies))], Redirect::to(&next)).into_response()
}

/// The sign-out form's field.
#[derive(Debug, Default, Deserialize)]
pub struct SignOut {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
}

/// `POST /signout`.
pub async fn sign_out<S: Store>(
    State(state): State<AppState<S>>,
    extensions: Extensions,
    headers: axum::http::HeaderMap,
    Form(fields): Form<SignOut>,
) -> Response {
    let person: Option<Person> = match extensions.get::<Identity>() {
        Some(Identity::Known(person)) => Some(person.clone()),
        _ => None,
    };
    if let Some(person) = &person {
        if let Err(e) = person.check_csrf(&fields.csrf) {
            return error_page(&e, Some(person), Some("/"));
        }
    }
    if let Some(cookie) = auth::cookie(&headers) {
        state.sessions.end(&cookie);
    }
    ([(SET_COOKIE, auth::expired_cookie())], Redirect::to("/signin")).into_response()
}
