//! A run's page: where it stands and what waits for a person (with the
//! forms to answer), the workflow's graph, every step execution with its
//! outcome, duration, attempts, model, tokens, cost and outputs, the audit
//! record (before, expected, after, delta, anomalies), who answered each
//! question and when, and the runs it started or was started by. The script
//! in `assets/live.js` refreshes the `#live` and `#decide` parts when the
//! run's event stream says it moved.

use super::{badge, duration, error_page, page, short_id, time, Here};
use crate::auth::{Person, Reader};
use crate::error::ApiError;
use crate::extract::{QueryMap, RunPath};
use crate::graph::{self, Marks};
use crate::state::AppState;
use crate::views;
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde_json::{Map, Value};
use workflow_core::ir::WorkflowIr;
use workflow_runtime::human::{InputType, RequestKind};
use workflow_runtime::store::{Question, RunRecord, RunStatus, RunSummary, StepEvent, StepOutcome, Store};

/// Output text longer than this (or with more lines) is folded.
const FOLD_CHARS: usize = 400;
const FOLD_LINES: usize = 6;

/// Everything a run's page shows.
struct RunData {
    record: RunRecord,
    ir: Option<WorkflowIr>,
    events: Vec<StepEvent>,
    questions: Vec<Question>,
    children: Vec<RunSummary>,
}

fn load<S: Store>(store: &S, id: &str) -> Result<RunData, ApiError> {
    let record = store.load_run(id)?.ok_or_else(|| ApiError::no_run(id))?;
    let ir = serde_json::from_value(record.definition.clone()).ok();
    Ok(RunData { events: store.events(id)?, questions: store.questions(id)?, children: store.child_runs(id)?, ir, record })
}

/// `GET /runs/{id}`.
pub async fn show<S: Store>(State(state): State<AppState<S>>, Reader(person): Reader, RunPath(id): RunPath, QueryMap(query): QueryMap) -> Response {
    let data = match load(&*state.store, &id) {
        Ok(data) => data,
        Err(e) => return error_page(&e, Some(&person), Some("/runs")),
    };
    let done = query.get("done").map(String::as_str).filter(|d| DONE_WORDS.contains(d));
    let r = &data.record;
    let body = html! {
        div data-live=(format!("/api/v1/runs/{}/live", r.id)) data-fragment=(format!("/runs/{}/fragment", r.id)) {
            p class="crumbs" { a href="/runs" { "Runs" } " / " span class="mono" { (short_id(&r.id)) } }
            h1 { span class="label" { "Run of " } (r.workflow) }
            p id="status-line" role="status" { (status_sentence(r)) }
            @if let Some(done) = done {
                p class="notice ok" { "Done: " (done) "." }
            }
            noscript { p class="notice" { "This page updates itself with JavaScript; without it, reload to see the run move." } }
            (decide(&data, &person))
            (live(&data))
        }
    };
    page(&format!("{} {}", r.workflow, short_id(&r.id)), Here::Runs, Some(&person), body).into_response()
}

/// The outcomes a form's redirect may announce.
const DONE_WORDS: &[&str] = &[
    "approved",
    "rejected",
    "answered",
    "paused",
    "pause requested",
    "pause now requested",
    "cancelled",
    "cancel requested",
    "cancel now requested",
    "resumed",
];

/// `GET /runs/{id}/fragment`: the parts of the page that move, for the live script.
pub async fn fragment<S: Store>(State(state): State<AppState<S>>, Reader(person): Reader, RunPath(id): RunPath) -> Response {
    match load(&*state.store, &id) {
        Ok(data) => {
            let html = html! { p id="status-line" { (status_sentence(&data.record)) } (decide(&data, &person)) (live(&data)) };
            ([(CACHE_CONTROL, "no-store")], html).into_response()
        }
        Err(e) => e.into_response(),
    }
}

fn status_sentence(r: &RunRecord) -> String {
    // Why it waits is in the question below (the stored reason speaks to the command line).
    let reason = r.reason.as_deref().filter(|_| r.status != RunStatus::Waiting).map(|why| format!(": {why}")).unwrap_or_default();
    let at = views::current_step(r).filter(|_| r.status.is_resumable()).map(|s| format!(" at step {s}")).unwrap_or_default();
    format!("This run is {}{at}{reason}.", r.status.as_str())
}

/// What waits for a person, and pause / resume / cancel.
fn decide(data: &RunData, person: &Person) -> Markup {
    let r = &data.record;
    let open = data.questions.iter().rev().find(|q| q.answer.is_none() && r.open.as_ref().is_some_and(|o| o.seq == q.request.seq) && r.status.is_resumable());
    let key = format!("{}:{}", r.status.as_str(), open.map(|q| format!("{}:{}", q.request.seq, q.request.kind.as_str())).unwrap_or_default());
    let csrf = person.csrf.clone().unwrap_or_default();
    html! {
        section id="decide" data-key=(key) aria-labelledby="decide-heading" {
            h2 id="decide-heading" class="visually-hidden" { "Decide" }
            @if let Some(q) = open {
                (question_form(r, q, person, &csrf))
            }
            @if r.status.is_resumable() {
                div class="controls" {
                    @if matches!(r.status, RunStatus::Running | RunStatus::Waiting) {
                        (control_button(r, "pause", "Pause", &csrf, "secondary"))
                    }
                    @if matches!(r.status, RunStatus::Paused | RunStatus::Failed) || (r.status == RunStatus::Running && r.lease.is_none()) {
                        (control_button(r, "resume", "Resume", &csrf, "secondary"))
                    }
                    (control_button(r, "cancel", "Cancel run", &csrf, "danger"))
                    @if r.status == RunStatus::Running && r.lease.is_some() {
                        // A driven run's "Cancel run" waits for its current step; this one interrupts it.
                        form method="post" action=(format!("/runs/{}/cancel", r.id)) class="inline" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="now" value="true";
                            button type="submit" class="danger" title="Interrupt the current step, killing its processes" { "Cancel now" }
                        }
                    }
                }
            }
        }
    }
}

fn control_button(r: &RunRecord, action: &str, label: &str, csrf: &str, class: &str) -> Markup {
    html! {
        form method="post" action=(format!("/runs/{}/{action}", r.id)) class="inline" {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" class=(class) { (label) }
        }
    }
}

fn question_form(r: &RunRecord, q: &Question, person: &Person, csrf: &str) -> Markup {
    let req = &q.request;
    let allowed = views::may_answer(q, &person.name);
    let what = match req.kind {
        RequestKind::Gate => "Approval needed",
        RequestKind::Consent => "Consent needed",
        RequestKind::Input => "An answer is needed",
    };
    html! {
        div class="question" {
            h2 { (what) " at step " span class="mono" { (req.step_id) } }
            p class="message" { (req.message) }
            @if let Some(permission) = &req.permission { p { "Permission asked for: " code { (permission) } } }
            @if let Some(measured) = &req.measured { (measured_so_far(r, measured)) }
            p class="meta" { "Asked " (time(q.asked_at_ms)) @if !req.approvers.is_empty() { " · approvers: " (req.approvers.join(", ")) } }
            @if !allowed {
                p class="notice" { "Only " (req.approvers.join(", ")) " may answer this; you are signed in as " (person.name) "." }
            } @else if req.kind == RequestKind::Input {
                (input_form(r, q, csrf))
            } @else {
                form method="post" action=(format!("/runs/{}/approve", r.id)) class="decision" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="step" value=(req.step_id);
                    label for="comment" { "Comment " span class="hint" { "(optional, recorded with your decision)" } }
                    textarea id="comment" name="comment" rows="3" maxlength="4000" {}
                    div class="buttons" {
                        button type="submit" class="primary" { "Approve" }
                        button type="submit" class="danger" formaction=(format!("/runs/{}/reject", r.id)) { "Reject" }
                    }
                }
            }
        }
    }
}

fn input_form(r: &RunRecord, q: &Question, csrf: &str) -> Markup {
    let spec = q.request.input.clone().unwrap_or_default();
    let default = spec.default.as_ref().map(|d| d.as_str().map(str::to_string).unwrap_or_else(|| d.to_string()));
    html! {
        form method="post" action=(format!("/runs/{}/answer", r.id)) class="decision" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="step" value=(q.request.step_id);
            @match spec.input_type {
                InputType::Text => {
                    label for="value" { "Your answer" }
                    input id="value" name="value" type="text" autocomplete="off" value=[default.as_deref()];
                }
                InputType::Password => {
                    label for="value" { "Your answer " span class="hint" { "(not shown, and never shown again)" } }
                    input id="value" name="value" type="password" autocomplete="new-password";
                }
                InputType::Multiline => {
                    label for="value" { "Your answer" }
                    textarea id="value" name="value" rows="6" { (default.clone().unwrap_or_default()) }
                }
                InputType::Confirm => {
                    fieldset {
                        legend { "Your answer" }
                        label class="choice" { input type="radio" name="value" value="yes" required; " Yes" }
                        label class="choice" { input type="radio" name="value" value="no"; " No" }
                    }
                }
                InputType::Choice => {
                    fieldset {
                        legend { "Choose one" }
                        @for (i, choice) in spec.choices.iter().enumerate() {
                            label class="choice" { input type="radio" name="value" value=(choice) required[i == 0] checked[default.as_deref() == Some(choice.as_str())]; " " (choice) }
                        }
                    }
                }
            }
            @if let Some(pattern) = &spec.pattern { p class="hint" { "The answer must match " code { (pattern) } } }
            div class="buttons" { button type="submit" class="primary" { "Answer" } }
        }
    }
}

/// What the run changed until its gate asked (measured then), beside the decision.
fn measured_so_far(r: &RunRecord, measured: &Value) -> Markup {
    let before = object(r.input.get("state_snapshot"));
    let expected = object(r.input.get("expected_work"));
    let now = object(measured.get("state_now"));
    let delta = object(measured.get("delta"));
    let anomalies = measured.get("anomalies").and_then(Value::as_array).cloned().unwrap_or_default();
    html! {
        div class="measured" {
            h3 { "What the run changed so far" }
            (metrics_table("Measured when the gate asked", &before, &expected, &now, &delta, "Now"))
            (anomaly_list(&anomalies, "So far the change matches what was expected."))
        }
    }
}

/// The parts that move: the graph, the steps, the audit record, the people, related runs.
fn live(data: &RunData) -> Markup {
    let r = &data.record;
    html! {
        div id="live" {
            section aria-labelledby="summary-heading" {
                h2 id="summary-heading" { "Summary" }
                dl class="facts" {
                    dt { "Status" } dd { (badge(r.status.as_str())) @if let Some(reason) = r.reason.as_ref().filter(|_| r.status != RunStatus::Waiting) { " " span class="reason" { (reason) } } }
                    dt { "Run" } dd class="mono" { (r.id) }
                    dt { "Started" } dd { (time(r.created_at_ms)) }
                    @if let Some(done) = r.finished_at_ms { dt { "Finished" } dd { (time(done)) " (" (duration(done.saturating_sub(r.created_at_ms))) ")" } }
                    @if let Some(who) = r.input.get("operator").and_then(Value::as_str) { dt { "Started by" } dd { (who) } }
                    @if let Some(how) = r.input.get("triggered_by").and_then(Value::as_str) { dt { "Trigger" } dd { (how) } }
                    dt { "Definition" } dd class="mono" { (r.definition_hash.get(..12).unwrap_or(&r.definition_hash)) }
                    (usage_facts(r))
                }
            }
            @if let Some(ir) = &data.ir {
                section aria-labelledby="graph-heading" {
                    h2 id="graph-heading" { "Workflow" }
                    figure class="graph-box" tabindex="0" aria-label="The workflow's graph (scrolls sideways on narrow screens)" {
                        (graph::svg(ir, &marks(data)))
                    }
                }
            }
            (steps(data))
            (audit(r))
            (people(data))
            (related(data))
        }
    }
}

fn usage_facts(r: &RunRecord) -> Markup {
    let run = workflow_runtime::models::RunModels::from_state(&r.state);
    let tokens = run.usage.input_tokens + run.usage.output_tokens;
    html! {
        @if let Some(model) = &run.model { dt { "Model" } dd { (model.to_string()) } }
        @if tokens > 0 {
            dt { "Tokens" } dd { (run.usage.input_tokens) " in, " (run.usage.output_tokens) " out" }
            dt { "Cost" } dd { (format!("${:.4}", run.cost_usd)) }
        }
    }
}

fn marks(data: &RunData) -> Marks {
    let mut marks = Marks::default();
    for e in &data.events {
        *marks.runs.entry(e.step).or_default() += 1;
    }
    for e in &data.events {
        match e.outcome {
            Some(StepOutcome::Failed) => marks.failed.push(e.step),
            Some(_) => marks.failed.retain(|s| *s != e.step),
            None => {}
        }
    }
    let r = &data.record;
    marks.current = r.open.as_ref().map(|o| o.step).or(match r.target {
        workflow_core::ir::Target::Step(i) if r.status.is_resumable() => Some(i),
        _ => None,
    });
    marks.ended = match r.status {
        RunStatus::Completed => Some(true),
        RunStatus::Failed => Some(false),
        _ => None,
    };
    marks
}

fn steps(data: &RunData) -> Markup {
    let secret = views::secret_steps(&data.record.definition);
    let actions: Vec<&str> = data.ir.as_ref().map(|ir| ir.steps.iter().map(|s| s.action.as_str()).collect()).unwrap_or_default();
    html! {
        section aria-labelledby="steps-heading" {
            h2 id="steps-heading" { "Steps" }
            @if data.events.is_empty() {
                p { "No step has run yet." }
            } @else {
                div class="table-box" tabindex="0" role="region" aria-labelledby="steps-heading" {
                    table class="steps" {
                        thead { tr {
                            th scope="col" { "#" } th scope="col" { "Step" } th scope="col" { "Outcome" } th scope="col" { "Took" }
                            th scope="col" { "Attempts" } th scope="col" { "Model" } th scope="col" { "Tokens" } th scope="col" { "Cost" }
                        } }
                        tbody {
                            @for e in &data.events {
                                @let usage = e.output.get("usage");
                                @let tokens = usage.map(|u| u.get("input_tokens").and_then(Value::as_u64).unwrap_or(0) + u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0));
                                @let outcome = e.outcome.map_or("running", views::outcome_word);
                                @let outcome = if e.outcome.is_none() && data.questions.iter().any(|q| q.request.seq == e.seq && q.answer.is_none()) { "waiting" } else { outcome };
                                tr class=(format!("event {outcome}")) {
                                    td { (e.seq) }
                                    th scope="row" { span class="mono" { (e.step_id) } @if let Some(action) = actions.get(e.step) { " " span class="action" { (action) } } }
                                    td { (badge(outcome)) }
                                    td { @if let Some(d) = e.duration_ms { (duration(d)) } }
                                    td { (e.attempts) }
                                    td { @if let Some(m) = e.output.get("model").and_then(Value::as_str) { (m) } }
                                    td { @if let Some(t) = tokens { (t) } }
                                    td { @if let Some(c) = e.output.get("cost_usd").and_then(Value::as_f64) { (format!("${c:.4}")) } }
                                }
                                @if e.error.is_some() || has_outputs(&e.output) {
                                    tr class="outputs" { td {} td colspan="7" { (outputs(e, &secret)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn has_outputs(output: &Value) -> bool {
    output.as_object().is_some_and(|o| o.iter().any(|(k, v)| shown(k, v)))
}

/// Outputs worth a line: not shown in their own columns, not empty, not a plain `exit_code: 0`.
fn shown(name: &str, value: &Value) -> bool {
    !HIDDEN_OUTPUTS.contains(&name) && value != &Value::String(String::new()) && !(name == "exit_code" && value == &Value::from(0))
}

/// Shown in their own columns.
const HIDDEN_OUTPUTS: &[&str] = &["model", "usage", "cost_usd"];

fn outputs(e: &StepEvent, secret: &[usize]) -> Markup {
    let output = views::shown_output(e, secret);
    let fields: Vec<(&String, &Value)> = output.as_object().map(|o| o.iter().filter(|(k, v)| shown(k, v)).collect()).unwrap_or_default();
    html! {
        @if let Some(error) = &e.error { p class="error-text" { strong { "Error: " } (error) } }
        dl class="outputs" {
            @for (name, value) in fields {
                @let text = match value { Value::String(s) => s.clone(), other => other.to_string() };
                @let lines = text.lines().count();
                dt { (name) }
                dd {
                    @if text.chars().count() > FOLD_CHARS || lines > FOLD_LINES {
                        details id=(format!("out-{}-{name}", e.seq)) {
                            summary { (name) " (" (lines) " lines, " (text.len()) " bytes): show" }
                            pre { (text) }
                        }
                    } @else if text.contains('\n') {
                        pre { (text) }
                    } @else {
                        code { (text) }
                    }
                }
            }
        }
    }
}

fn object(value: Option<&Value>) -> Map<String, Value> {
    value.and_then(Value::as_object).cloned().unwrap_or_default()
}

fn audit(r: &RunRecord) -> Markup {
    let before = object(r.input.get("state_snapshot"));
    let expected = object(r.input.get("expected_work"));
    let output = r.output.clone().unwrap_or(Value::Null);
    let after = object(output.get("state_after"));
    let delta = object(output.get("delta"));
    let anomalies = output.get("anomalies").and_then(Value::as_array).cloned().unwrap_or_default();
    html! {
        section aria-labelledby="audit-heading" {
            h2 id="audit-heading" { "Audit record" }
            @if before.is_empty() && expected.is_empty() {
                p { "This workflow measures nothing before and after (it has no " code { "snapshot:" } " metrics)." }
            } @else {
                (metrics_table("Snapshot before and after, expected and actual change", &before, &expected, &after, &delta, "After"))
                @if r.output.is_some() {
                    (anomaly_list(&anomalies, "No anomalies: every change is what was expected."))
                } @else {
                    p class="hint" { "After and delta are measured when the run ends." }
                }
            }
            @if let Some(out) = &r.output {
                p class="meta" {
                    "Steps executed: " (out.get("steps_executed").and_then(Value::as_u64).unwrap_or(0))
                    ", completed: " (out.get("steps_completed").and_then(Value::as_u64).unwrap_or(0))
                    ", failed: " (out.get("steps_failed").and_then(Value::as_u64).unwrap_or(0))
                }
            }
        }
    }
}

fn metrics_table(
    caption: &str,
    before: &Map<String, Value>,
    expected: &Map<String, Value>,
    after: &Map<String, Value>,
    delta: &Map<String, Value>,
    after_word: &str,
) -> Markup {
    let mut names: Vec<&String> = before.keys().chain(expected.keys()).chain(after.keys()).collect();
    names.sort();
    names.dedup();
    let cell = |m: &Map<String, Value>, k: &str| {
        m.get(k).map(|v| match v {
            Value::Null => "—".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    html! {
        div class="table-box" tabindex="0" role="region" aria-label=(caption) {
            table class="metrics" {
                caption { (caption) }
                thead { tr { th scope="col" { "Metric" } th scope="col" { "Before" } th scope="col" { abbr title="expected change" { "Expected" } } th scope="col" { (after_word) } th scope="col" { "Delta" } } }
                tbody {
                    @for name in names {
                        @let differs = expected.get(name.as_str()).is_some_and(|e| !e.is_null() && delta.get(name.as_str()).is_some_and(|d| !d.is_null() && !same_number(e, d)));
                        tr class=[differs.then_some("differs")] {
                            th scope="row" class="mono" { (name) }
                            td { (cell(before, name).unwrap_or_default()) }
                            td { (cell(expected, name).unwrap_or_default()) }
                            td { (cell(after, name).unwrap_or_default()) }
                            td class="delta" { (cell(delta, name).unwrap_or_default()) @if differs { " " span class="flag" { "(differs)" } } }
                        }
                    }
                }
            }
        }
    }
}

fn same_number(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => a == b,
    }
}

fn anomaly_list(anomalies: &[Value], none: &str) -> Markup {
    html! {
        @if anomalies.is_empty() {
            p class="ok-text" { (none) }
        } @else {
            h3 { "Anomalies" }
            ul class="anomalies" {
                @for a in anomalies {
                    li { strong class="mono" { (a.get("metric").and_then(Value::as_str).unwrap_or("?")) } ": " (a.get("message").and_then(Value::as_str).unwrap_or("")) }
                }
            }
        }
    }
}

fn people(data: &RunData) -> Markup {
    html! {
        @if !data.questions.is_empty() {
            section aria-labelledby="people-heading" {
                h2 id="people-heading" { "People" }
                ol class="people" {
                    @for q in &data.questions {
                        @let view = views::QuestionView::from(q);
                        li {
                            span class="mono" { (view.step) } " (" (view.kind) "): "
                            span class="message" { (view.message) }
                            br;
                            @match &view.answer {
                                None => { span class="waiting-text" { "waiting for an answer, asked " (time(view.asked_at_ms)) } }
                                Some(a) => {
                                    @let verdict = match (a.approved, a.hidden) {
                                        (Some(true), _) => "approved".to_string(),
                                        (Some(false), _) => "rejected".to_string(),
                                        (None, true) => "answered (the value is hidden)".to_string(),
                                        (None, false) => format!("answered {}", a.value.as_ref().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).unwrap_or_default()),
                                    };
                                    strong { (verdict) } " by " strong { (a.operator) } " at " (time(a.at_ms))
                                    @if let Some(c) = &a.comment { ": " q { (c) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn related(data: &RunData) -> Markup {
    let r = &data.record;
    html! {
        @if r.parent_run_id.is_some() || !data.children.is_empty() {
            section aria-labelledby="related-heading" {
                h2 id="related-heading" { "Related runs" }
                ul {
                    @if let Some(parent) = &r.parent_run_id { li { "Started by run " a class="mono" href=(format!("/runs/{parent}")) { (short_id(parent)) } } }
                    @for child in &data.children {
                        li { "Started run " a class="mono" href=(format!("/runs/{}", child.id)) { (short_id(&child.id)) } " of " (child.workflow) ": " (badge(child.status.as_str())) }
                    }
                }
            }
        }
    }
}
