//! The JSON API under `/api/v1`: runs, a run, its step events and
//! questions, the questions waiting for the caller, and approve, reject,
//! answer, pause, resume, cancel. Errors are `{"error": "..."}` with the
//! status that says what went wrong. The OpenAPI document at
//! `/api/v1/openapi.json` is generated from these handlers' annotations.

use crate::auth::Person;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryMap, RunPath};
use crate::operations::{self, Done};
use crate::state::AppState;
use crate::views::{self, AnswerBody, DecisionBody, EventView, QuestionView, RunList, RunSummaryView, RunView};
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::OpenApi;
use workflow_runtime::human::answering::Given;
use workflow_runtime::store::{RunPageQuery, Store};

/// The most runs one page holds.
pub const MAX_PAGE: usize = 500;

/// An error's body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong and what to do.
    pub error: String,
}

/// A run status, as the `status` filter takes it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusParam {
    /// Driven now.
    Running,
    /// Paused.
    Paused,
    /// Waiting for a person.
    Waiting,
    /// Ended at its end.
    Completed,
    /// Ended in failure.
    Failed,
    /// Stopped for good.
    Cancelled,
}

/// The listing a query string asks for: `workflow`, `status`, `after` (a cursor), `limit` (1 to 500).
/// A form (`lenient`) sends its empty fields, which mean "any"; to the API an empty value is a value.
pub fn page_query(query: &std::collections::HashMap<String, String>, lenient: bool) -> Result<RunPageQuery, ApiError> {
    let text = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !(lenient && v.is_empty()));
    let status = match text("status") {
        Some(word) => Some(
            views::parse_status(word)
                .ok_or_else(|| ApiError::bad_request(format!("unknown status `{word}`: use running, paused, waiting, completed, failed or cancelled")))?,
        ),
        None => None,
    };
    let after = match text("after") {
        Some(cursor) => {
            Some(views::parse_cursor(cursor).ok_or_else(|| ApiError::bad_request("`after` is not a cursor: pass the `next` of the previous page"))?)
        }
        None => None,
    };
    let limit = match text("limit") {
        Some(n) => {
            n.parse::<usize>().ok().filter(|n| (1..=MAX_PAGE).contains(n)).ok_or_else(|| ApiError::bad_request(format!("`limit` must be 1 to {MAX_PAGE}")))?
        }
        None => 50,
    };
    Ok(RunPageQuery { workflow: text("workflow").map(str::to_string), status, after, limit })
}

/// A page of runs and the cursor of the next one.
pub fn run_list<S: Store>(store: &S, query: &RunPageQuery) -> Result<RunList, ApiError> {
    // One more than asked tells whether a next page exists.
    let mut runs = store.runs_page(&RunPageQuery { limit: query.limit + 1, ..query.clone() })?;
    let more = runs.len() > query.limit;
    runs.truncate(query.limit);
    let next = if more { runs.last().map(views::cursor_text) } else { None };
    Ok(RunList { runs: runs.iter().map(RunSummaryView::from).collect(), next })
}

/// Runs, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs",
    params(("workflow" = Option<String>, Query, description = "Only runs of this workflow"),
           ("status" = Option<StatusParam>, Query, description = "Only runs in this status"),
           ("after" = Option<String>, Query, pattern = r"^[0-9]{1,19}\..+$", description = "The `next` cursor of the previous page"),
           ("limit" = Option<usize>, Query, minimum = 1, maximum = 500, description = "At most this many (1 to 500, default 50)")),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_runs<S: Store>(State(state): State<AppState<S>>, _person: Person, QueryMap(query): QueryMap) -> Result<Json<RunList>, ApiError> {
    Ok(Json(run_list(&*state.store, &page_query(&query, false)?)?))
}

/// A run: where it stands, its audit record, its children.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = String, Path, description = "The run's id")),
    responses((status = 200, body = RunView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_run<S: Store>(State(state): State<AppState<S>>, _person: Person, RunPath(id): RunPath) -> Result<Json<RunView>, ApiError> {
    let record = state.store.load_run(&id)?.ok_or_else(|| ApiError::no_run(&id))?;
    let children = state.store.child_runs(&id)?;
    Ok(Json(RunView::of(&record, &children)))
}

/// A run's step executions, in order.
#[utoipa::path(get, path = "/api/v1/runs/{id}/events", tag = "runs", params(("id" = String, Path, description = "The run's id")),
    responses((status = 200, body = Vec<EventView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn run_events<S: Store>(State(state): State<AppState<S>>, _person: Person, RunPath(id): RunPath) -> Result<Json<Vec<EventView>>, ApiError> {
    let record = state.store.load_run(&id)?.ok_or_else(|| ApiError::no_run(&id))?;
    let secret = views::secret_steps(&record.definition);
    Ok(Json(state.store.events(&id)?.iter().map(|e| EventView::of(e, &secret)).collect()))
}

/// A run's questions to people and their answers (who, when), oldest first.
#[utoipa::path(get, path = "/api/v1/runs/{id}/questions", tag = "runs", params(("id" = String, Path, description = "The run's id")),
    responses((status = 200, body = Vec<QuestionView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn run_questions<S: Store>(State(state): State<AppState<S>>, _person: Person, RunPath(id): RunPath) -> Result<Json<Vec<QuestionView>>, ApiError> {
    state.store.load_run(&id)?.ok_or_else(|| ApiError::no_run(&id))?;
    Ok(Json(state.store.questions(&id)?.iter().map(QuestionView::from).collect()))
}

/// Every question waiting now that the caller may answer, oldest first.
#[utoipa::path(get, path = "/api/v1/questions", tag = "questions",
    responses((status = 200, body = Vec<QuestionView>), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn waiting<S: Store>(State(state): State<AppState<S>>, person: Person) -> Result<Json<Vec<QuestionView>>, ApiError> {
    let open = state.store.open_questions()?;
    Ok(Json(open.iter().filter(|q| views::may_answer(q, &person.name)).map(QuestionView::from).collect()))
}

/// Approves what the run waits on (a gate, or consent for a sensitive step); the run goes on.
#[utoipa::path(post, path = "/api/v1/runs/{id}/approve", tag = "decisions", params(("id" = String, Path, description = "The run's id")),
    request_body(content = Option<DecisionBody>, description = "Optional: a comment, and the step when not the open one"),
    responses((status = 200, body = Done), (status = 401, body = ErrorBody), (status = 403, description = "Not one of the gate's approvers; nothing was written", body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "The run waits on nothing (at that step), or on a value rather than a decision", body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn approve<S: Store>(
    State(state): State<AppState<S>>,
    person: Person,
    RunPath(id): RunPath,
    JsonBody(body): JsonBody<DecisionBody>,
) -> Result<Json<Done>, ApiError> {
    let given = Given::Decision { approved: true, comment: body.comment };
    Ok(Json(operations::answer(&state, &person.name, &id, body.step.as_deref(), given).await?))
}

/// Rejects what the run waits on (a rejected gate outputs `approved = false`; refused consent fails the step).
#[utoipa::path(post, path = "/api/v1/runs/{id}/reject", tag = "decisions", params(("id" = String, Path, description = "The run's id")),
    request_body(content = Option<DecisionBody>, description = "Optional: a comment, and the step when not the open one"),
    responses((status = 200, body = Done), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn reject<S: Store>(
    State(state): State<AppState<S>>,
    person: Person,
    RunPath(id): RunPath,
    JsonBody(body): JsonBody<DecisionBody>,
) -> Result<Json<Done>, ApiError> {
    let given = Given::Decision { approved: false, comment: body.comment };
    Ok(Json(operations::answer(&state, &person.name, &id, body.step.as_deref(), given).await?))
}

/// Answers the prompt the run waits on; the run goes on.
#[utoipa::path(post, path = "/api/v1/runs/{id}/answer", tag = "decisions", params(("id" = String, Path, description = "The run's id")),
    request_body(content = AnswerBody, description = "The value, as typed"),
    responses((status = 200, body = Done), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, description = "The value does not fit the prompt", body = ErrorBody)), security(("bearer" = [])))]
pub async fn answer<S: Store>(
    State(state): State<AppState<S>>,
    person: Person,
    RunPath(id): RunPath,
    JsonBody(body): JsonBody<AnswerBody>,
) -> Result<Json<Done>, ApiError> {
    Ok(Json(operations::answer(&state, &person.name, &id, body.step.as_deref(), Given::Text(body.value)).await?))
}

/// Pauses the run: at once when nobody drives it, else after its current step (with `now=true`, its driver
/// interrupts the step, killing its processes; the step runs again on resume).
#[utoipa::path(post, path = "/api/v1/runs/{id}/pause", tag = "control",
    params(("id" = String, Path, description = "The run's id"),
           ("now" = Option<bool>, Query, description = "Interrupt the current step (its processes are killed) instead of waiting for it to end")),
    responses((status = 200, body = Done), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "The run is over", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn pause<S: Store>(
    State(state): State<AppState<S>>,
    person: Person,
    RunPath(id): RunPath,
    QueryMap(query): QueryMap,
) -> Result<Json<Done>, ApiError> {
    Ok(Json(operations::stop(&state, &person.name, &id, false, now_param(&query)?).await?))
}

/// Cancels the run for good: at once when nobody drives it, else after its current step (with `now=true`, its
/// driver interrupts the step, killing its processes).
#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", tag = "control",
    params(("id" = String, Path, description = "The run's id"),
           ("now" = Option<bool>, Query, description = "Interrupt the current step (its processes are killed) instead of waiting for it to end")),
    responses((status = 200, body = Done), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "The run is over", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel<S: Store>(
    State(state): State<AppState<S>>,
    person: Person,
    RunPath(id): RunPath,
    QueryMap(query): QueryMap,
) -> Result<Json<Done>, ApiError> {
    Ok(Json(operations::stop(&state, &person.name, &id, true, now_param(&query)?).await?))
}

/// The `now` of a pause or cancel: `true` or `false`, absent meaning `false`.
fn now_param(query: &std::collections::HashMap<String, String>) -> Result<bool, ApiError> {
    match query.get("now").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!("`now` is `true` or `false`, not `{other}`"))),
    }
}

/// Resumes a paused, failed, waiting or abandoned run; this server drives it.
#[utoipa::path(post, path = "/api/v1/runs/{id}/resume", tag = "control", params(("id" = String, Path, description = "The run's id")),
    responses((status = 200, body = Done), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "The run is over, or another process drives it", body = ErrorBody)), security(("bearer" = [])))]
pub async fn resume<S: Store>(State(state): State<AppState<S>>, person: Person, RunPath(id): RunPath) -> Result<Json<Done>, ApiError> {
    Ok(Json(operations::resume(&state, &person.name, &id).await?))
}

/// The server is up and its store answers.
#[utoipa::path(get, path = "/healthz", tag = "server", responses((status = 200, description = "`ok`", body = String), (status = 500, body = ErrorBody)))]
pub async fn healthz<S: Store>(State(state): State<AppState<S>>) -> Result<&'static str, ApiError> {
    state.store.run_counts()?;
    Ok("ok\n")
}

/// The OpenAPI document of this API.
#[derive(OpenApi)]
#[openapi(
    info(title = "workflow serve", description = "Runs, their audit records, and the questions they put to people. Sign in with `Authorization: Bearer TOKEN` (`workflow token create NAME`)."),
    paths(list_runs, get_run, run_events, run_questions, waiting, approve, reject, answer, pause, cancel, resume, crate::live::live, healthz, crate::metrics::metrics),
    components(schemas(ErrorBody, StatusParam, crate::live::LiveEvent, RunList, RunSummaryView, RunView, EventView, QuestionView, views::AnswerView, DecisionBody, AnswerBody, Done, crate::live::Pulse)),
    modifiers(&BearerAuth),
    tags((name = "runs", description = "Runs and what they did"), (name = "questions", description = "What waits for people"),
         (name = "decisions", description = "Answering runs"), (name = "control", description = "Pause, resume, cancel"), (name = "server", description = "Health and metrics"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
