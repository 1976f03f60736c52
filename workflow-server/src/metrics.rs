//! `/metrics` in Prometheus' text format: runs by status, how long steps
//! take (a histogram), and how many questions wait for people. All read from
//! the store, so runs driven by any process count. (Queue depth joins them
//! when workers exist: one more gauge here, from one more store read.)

use crate::auth::Person;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use std::fmt::Write as _;
use workflow_runtime::store::{RunStatus, Store};

/// Bucket bounds of the step duration histogram (milliseconds).
const BOUNDS_MS: &[u64] = &[10, 50, 100, 500, 1_000, 5_000, 10_000, 60_000, 300_000, 1_800_000];

const STATUSES: [RunStatus; 6] = [RunStatus::Running, RunStatus::Paused, RunStatus::Waiting, RunStatus::Completed, RunStatus::Failed, RunStatus::Cancelled];

/// The metrics as Prometheus text.
pub fn render<S: Store>(store: &S) -> Result<String, ApiError> {
    let counts = store.run_counts()?;
    let durations = store.step_durations(BOUNDS_MS)?;
    let waiting = store.open_questions()?.len();
    let mut out = String::new();
    out.push_str("# HELP workflow_runs Runs in the store, by status.\n# TYPE workflow_runs gauge\n");
    for status in STATUSES {
        let n = counts.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "workflow_runs{{status=\"{}\"}} {n}", status.as_str());
    }
    out.push_str("# HELP workflow_step_duration_seconds How long ended step executions took.\n# TYPE workflow_step_duration_seconds histogram\n");
    for (bound, n) in durations.bounds_ms.iter().zip(&durations.at_most) {
        let _ = writeln!(out, "workflow_step_duration_seconds_bucket{{le=\"{}\"}} {n}", *bound as f64 / 1000.0);
    }
    let _ = writeln!(out, "workflow_step_duration_seconds_bucket{{le=\"+Inf\"}} {}", durations.count);
    let _ = writeln!(out, "workflow_step_duration_seconds_sum {}", durations.sum_ms as f64 / 1000.0);
    let _ = writeln!(out, "workflow_step_duration_seconds_count {}", durations.count);
    out.push_str("# HELP workflow_questions_waiting Gates, prompts and consent questions waiting for a person.\n# TYPE workflow_questions_waiting gauge\n");
    let _ = writeln!(out, "workflow_questions_waiting {waiting}");
    Ok(out)
}

/// Prometheus metrics: runs by status, step durations, questions waiting.
#[utoipa::path(get, path = "/metrics", tag = "server",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String), (status = 401, body = crate::api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn metrics<S: Store>(State(state): State<AppState<S>>, _person: Person) -> Result<impl IntoResponse, ApiError> {
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], render(&*state.store)?))
}
