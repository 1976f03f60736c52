//! The pages' forms: approve, reject, answer, pause, resume, cancel, each
//! checked against the session's CSRF token, then done through the same
//! operations as the API; back to the run's page, or a page saying why not.

use super::error_page;
use crate::auth::Reader;
use crate::error::ApiError;
use crate::extract::RunPath;
use crate::operations;
use crate::state::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use workflow_runtime::human::answering::Given;
use workflow_runtime::store::Store;

/// What the forms send (each form sends the fields it has).
#[derive(Debug, Default, Deserialize)]
pub struct Fields {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// The step the page showed the question of (so a stale page never answers another one).
    #[serde(default)]
    pub step: Option<String>,
    /// A decision's comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// A prompt's answer.
    #[serde(default)]
    pub value: Option<String>,
    /// `true` on "Cancel now": interrupt the current step rather than wait for it.
    #[serde(default)]
    pub now: Option<String>,
}

/// What a form asks for.
#[derive(Clone, Copy, Debug)]
enum Act {
    Approve,
    Reject,
    Answer,
    Pause,
    Resume,
    Cancel,
}

async fn act<S: Store>(state: AppState<S>, person: crate::auth::Person, id: String, fields: Result<Form<Fields>, FormRejection>, act: Act) -> Response {
    let back = format!("/runs/{id}");
    let fields = match fields {
        Ok(Form(fields)) => fields,
        Err(e) => return error_page(&ApiError::new(e.status(), format!("the form could not be read: {}", e.body_text())), Some(&person), Some(&back)),
    };
    if let Err(e) = person.check_csrf(&fields.csrf) {
        return error_page(&e, Some(&person), Some(&back));
    }
    let step = fields.step.as_deref().filter(|s| !s.is_empty());
    let done = match act {
        Act::Approve => operations::answer(&state, &person.name, &id, step, Given::Decision { approved: true, comment: fields.comment }).await,
        Act::Reject => operations::answer(&state, &person.name, &id, step, Given::Decision { approved: false, comment: fields.comment }).await,
        Act::Answer => operations::answer(&state, &person.name, &id, step, Given::Text(fields.value.unwrap_or_default())).await,
        Act::Pause => operations::stop(&state, &person.name, &id, false, fields.now.as_deref() == Some("true")).await,
        Act::Cancel => operations::stop(&state, &person.name, &id, true, fields.now.as_deref() == Some("true")).await,
        Act::Resume => operations::resume(&state, &person.name, &id).await,
    };
    match done {
        Ok(done) => Redirect::to(&format!("/runs/{id}?done={}", done.outcome.replace(' ', "+"))).into_response(),
        Err(e) => error_page(&e, Some(&person), Some(&back)),
    }
}

macro_rules! form_handler {
    ($name:ident, $act:expr, $doc:literal) => {
        #[doc = $doc]
        pub async fn $name<S: Store>(
            State(state): State<AppState<S>>,
            Reader(person): Reader,
            RunPath(id): RunPath,
            fields: Result<Form<Fields>, FormRejection>,
        ) -> Response {
            act(state, person, id, fields, $act).await
        }
    };
}

form_handler!(approve, Act::Approve, "`POST /runs/{id}/approve`.");
form_handler!(reject, Act::Reject, "`POST /runs/{id}/reject`.");
form_handler!(answer, Act::Answer, "`POST /runs/{id}/answer`.");
form_handler!(pause, Act::Pause, "`POST /runs/{id}/pause`.");
form_handler!(resume, Act::Resume, "`POST /runs/{id}/resume`.");
form_handler!(cancel, Act::Cancel, "`POST /runs/{id}/cancel`.");
