//! The Runs page: every run, newest first, filtered by workflow and status,
//! a page at a time by keyset (the cursor of the last run shown), so the
//! 2,000th page costs what the first does.

use super::{badge, error_page, page, short_id, time, Here};
use crate::api::{page_query, run_list};
use crate::auth::Reader;
use crate::extract::QueryMap;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use workflow_runtime::store::{RunStatus, Store};

const STATUSES: [RunStatus; 6] = [RunStatus::Running, RunStatus::Waiting, RunStatus::Paused, RunStatus::Completed, RunStatus::Failed, RunStatus::Cancelled];

/// `GET /runs`.
pub async fn list<S: Store>(State(state): State<AppState<S>>, Reader(person): Reader, QueryMap(query): QueryMap) -> Response {
    let wanted = match page_query(&query, true) {
        Ok(wanted) => wanted,
        Err(e) => return error_page(&e, Some(&person), Some("/runs")),
    };
    let list = match run_list(&*state.store, &wanted) {
        Ok(list) => list,
        Err(e) => return error_page(&e, Some(&person), Some("/runs")),
    };
    let workflow = wanted.workflow.clone().unwrap_or_default();
    let status = wanted.status.map(|s| s.as_str()).unwrap_or("");
    let filters = {
        let mut f = Vec::new();
        if !workflow.is_empty() {
            f.push(format!("workflow={}", encode(&workflow)));
        }
        if !status.is_empty() {
            f.push(format!("status={status}"));
        }
        f
    };
    let body = html! {
        h1 { "Runs" }
        form method="get" action="/runs" class="filters" role="search" aria-label="Filter runs" {
            div { label for="workflow" { "Workflow" } input id="workflow" name="workflow" type="text" value=(workflow) autocomplete="off"; }
            div {
                label for="status" { "Status" }
                select id="status" name="status" {
                    option value="" selected[status.is_empty()] { "any" }
                    @for s in STATUSES { option value=(s.as_str()) selected[status == s.as_str()] { (s.as_str()) } }
                }
            }
            div class="buttons" { button type="submit" class="secondary" { "Filter" } }
        }
        @if list.runs.is_empty() {
            p { "No runs" @if !filters.is_empty() { " match these filters" } "." }
        } @else {
            div class="table-box" tabindex="0" role="region" aria-label="Runs, newest first" {
                table class="runs" {
                    thead { tr { th scope="col" { "Run" } th scope="col" { "Workflow" } th scope="col" { "Status" } th scope="col" { "Started" } } }
                    tbody {
                        @for r in &list.runs {
                            tr {
                                td { a class="mono" href=(format!("/runs/{}", r.id)) { (short_id(&r.id)) } }
                                td { (r.workflow) @if r.parent_run_id.is_some() { " " span class="hint" { "(child)" } } }
                                td { (badge(&r.status)) }
                                td { (time(r.created_at_ms)) }
                            }
                        }
                    }
                }
            }
        }
        nav class="pager" aria-label="Pages of runs" {
            @if wanted.after.is_some() { a href=(link(&filters, None)) { "Newest runs" } }
            @if let Some(next) = &list.next { a href=(link(&filters, Some(next))) rel="next" { "Older runs" } }
        }
    };
    page("Runs", Here::Runs, Some(&person), body).into_response()
}

fn link(filters: &[String], after: Option<&str>) -> String {
    let mut parts = filters.to_vec();
    if let Some(after) = after {
        parts.push(format!("after={}", encode(after)));
    }
    if parts.is_empty() {
        "/runs".to_string()
    } else {
        format!("/runs?{}", parts.join("&"))
    }
}

/// Percent-encodes a query value.
pub fn encode(text: &str) -> String {
    text.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") }).collect()
}
