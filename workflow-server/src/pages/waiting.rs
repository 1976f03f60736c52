//! Waiting for me: every gate, prompt and consent question the signed-in
//! person may answer, oldest first, with its message and the run's audit
//! summary (what it measured before, what it is expected to change, and
//! what it changed by the time it asked).

use super::{error_page, page, short_id, time, Here};
use crate::auth::Reader;
use crate::state::AppState;
use crate::views;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde_json::Value;
use workflow_runtime::store::{Question, Store};

/// `GET /waiting`.
pub async fn list<S: Store>(State(state): State<AppState<S>>, Reader(person): Reader) -> Response {
    let open = match state.store.open_questions() {
        Ok(open) => open,
        Err(e) => return error_page(&e.into(), Some(&person), None),
    };
    let mine: Vec<&Question> = open.iter().filter(|q| views::may_answer(q, &person.name)).collect();
    let others = open.len() - mine.len();
    let body = html! {
        h1 { "Waiting for me" }
        @if mine.is_empty() {
            p { "Nothing waits for you." @if others > 0 { " (" (others) " question(s) wait for other approvers.)" } }
        } @else {
            p { (mine.len()) " question(s) wait for you, oldest first." }
            ol class="cards" {
                @for q in &mine { li class="card" { (card(&*state.store, q)) } }
            }
        }
    };
    page("Waiting for me", Here::Waiting, Some(&person), body).into_response()
}

fn card<S: Store>(store: &S, q: &Question) -> Markup {
    let r = &q.request;
    let kind = match r.kind {
        workflow_runtime::human::RequestKind::Gate => "Approval",
        workflow_runtime::human::RequestKind::Consent => "Consent",
        workflow_runtime::human::RequestKind::Input => "Answer",
    };
    let record = store.load_run(&r.run_id).ok().flatten();
    let summary = |key: &str| record.as_ref().and_then(|rec| rec.input.get(key)).and_then(Value::as_object).map(metrics_text).filter(|t| !t.is_empty());
    let delta = r.measured.as_ref().and_then(|m| m.get("delta")).and_then(Value::as_object).map(metrics_text).filter(|t| !t.is_empty());
    let anomalies = r.measured.as_ref().and_then(|m| m.get("anomalies")).and_then(Value::as_array).map_or(0, Vec::len);
    html! {
        h2 { a href=(format!("/runs/{}", r.run_id)) { (kind) ": " (r.workflow) " · " span class="mono" { (r.step_id) } } }
        p class="message" { (r.message) }
        dl class="facts" {
            dt { "Run" } dd class="mono" { (short_id(&r.run_id)) }
            dt { "Asked" } dd { (time(q.asked_at_ms)) }
            @if let Some(before) = summary("state_snapshot") { dt { "Before" } dd class="mono" { (before) } }
            @if let Some(expected) = summary("expected_work") { dt { "Expected change" } dd class="mono" { (expected) } }
            @if let Some(delta) = delta { dt { "Changed so far" } dd class="mono" { (delta) @if anomalies > 0 { " " span class="flag" { "(" (anomalies) " anomal" (if anomalies == 1 { "y" } else { "ies" }) ")" } } } }
        }
        p { a class="button primary" href=(format!("/runs/{}", r.run_id)) { "Review and decide" span class="visually-hidden" { " (" (r.workflow) ", step " (r.step_id) ")" } } }
    }
}

fn metrics_text(metrics: &serde_json::Map<String, Value>) -> String {
    metrics.iter().map(|(k, v)| format!("{k} = {}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect::<Vec<_>>().join(", ")
}
