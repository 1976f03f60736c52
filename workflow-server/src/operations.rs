//! What people do to runs, for the API and the pages alike: approve,
//! reject, answer, pause, resume, cancel. Answers go through the runtime's
//! one path (`workflow_runtime::human::answering`, as `workflow approve`
//! does: the approvers check, who answered and when), pause and cancel
//! through `Executor::stop` (as `workflow pause|cancel`). Then the run goes
//! on: when no live process drives it (the single-host case: nobody else
//! will), this server resumes it on a task, from its workflow file as it is
//! now or else the definition stored with it, in the directory it started
//! in, with that directory's model config and permissions; as `workflow
//! approve` takes over a waiting run whose driver is gone.

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use workflow_core::read::ReadOptions;
use workflow_runtime::actions::Actions;
use workflow_runtime::engine::IrEngine;
use workflow_runtime::executor::{definition, Executor, ExecutorOptions, ResumeOptions, RunReport, Stopped};
use workflow_runtime::human::answering::{self, Given};
use workflow_runtime::human::now_ms;
use workflow_runtime::models::{ModelConfig, ModelRuntime};
use workflow_runtime::permissions::Consent;
use workflow_runtime::store::{Control, RunStatus, Store};

/// What an operation did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Done {
    /// The run.
    pub run_id: String,
    /// What happened: `approved`, `rejected`, `answered`, `paused`, `pause requested`, `pause now requested`, `cancelled`,
    /// `cancel requested`, `cancel now requested`, `resumed`.
    pub outcome: String,
    /// The step answered, for answers.
    pub step: Option<String>,
    /// Who did it.
    pub by: String,
    /// How the run goes on: `here` (this server drives it now), `elsewhere` (a live process drives it and picks the answer up), or `stopped`.
    pub continuing: String,
}

/// Records a person's answer to what run `run_id` waits on, then has the run go on.
/// A password is never recorded: it goes, in memory, to the run this server drives on.
pub async fn answer<S: Store>(state: &AppState<S>, by: &str, run_id: &str, step: Option<&str>, given: Given) -> Result<Done, ApiError> {
    let question = answering::open_question(&*state.store, run_id, step)?;
    let answer = answering::answer_for(&question, given, by, now_ms())?;
    let outcome = answering::verdict(question.request.kind, &answer).to_string();
    let step_id = question.request.step_id.clone();
    let continuing = if question.request.asks_for_password() {
        let record = state.store.load_run(run_id)?.ok_or_else(|| ApiError::no_run(run_id))?;
        if driven_elsewhere(&record) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("run {run_id} is driven by another process, and a password reaches only the process that runs the step: type it there"),
            ));
        }
        let mut resume = ResumeOptions::default();
        resume.passwords.0.push((question.request.seq, answer));
        go_on(state, run_id, resume)?
    } else {
        answering::record(&*state.store, &question, &answer)?;
        go_on(state, run_id, ResumeOptions::default())?
    };
    tracing::info!(run = %run_id, step = %step_id, %outcome, by, "answered");
    Ok(Done { run_id: run_id.to_string(), outcome, step: Some(step_id), by: by.to_string(), continuing })
}

/// Pauses (or cancels) run `run_id`: after its current step, or with `now` by interrupting it (its processes killed).
pub async fn stop<S: Store>(state: &AppState<S>, by: &str, run_id: &str, cancel: bool, now: bool) -> Result<Done, ApiError> {
    let record = state.store.load_run(run_id)?.ok_or_else(|| ApiError::no_run(run_id))?;
    let executor = Executor::new(state.store.clone(), Actions::builtin(), options(state, record.cwd.as_deref(), by)?);
    let request = match (cancel, now) {
        (false, false) => Control::Pause,
        (true, false) => Control::Cancel,
        (false, true) => Control::PauseNow,
        (true, true) => Control::CancelNow,
    };
    let stopped = executor.stop(run_id, request, by).await?;
    let (outcome, continuing) = match stopped {
        Stopped::Paused | Stopped::AlreadyPaused => ("paused", "stopped"),
        Stopped::Cancelled(_) => ("cancelled", "stopped"),
        Stopped::Requested => match request {
            Control::CancelNow => ("cancel now requested", "elsewhere"),
            Control::PauseNow => ("pause now requested", "elsewhere"),
            Control::Cancel => ("cancel requested", "elsewhere"),
            _ => ("pause requested", "elsewhere"),
        },
    };
    Ok(Done { run_id: run_id.to_string(), outcome: outcome.to_string(), step: None, by: by.to_string(), continuing: continuing.to_string() })
}

/// Resumes run `run_id` (paused, failed, waiting, or whose driver died) on a task of this server.
pub async fn resume<S: Store>(state: &AppState<S>, by: &str, run_id: &str) -> Result<Done, ApiError> {
    let record = state.store.load_run(run_id)?.ok_or_else(|| ApiError::no_run(run_id))?;
    if !record.status.is_resumable() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("run {run_id} is {}: there is nothing to resume", record.status.as_str())));
    }
    if driven_elsewhere(&record) {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("run {run_id} is being driven by another process; wait for it, or stop that process")));
    }
    let continuing = go_on(state, run_id, ResumeOptions::default())?;
    Ok(Done { run_id: run_id.to_string(), outcome: "resumed".to_string(), step: None, by: by.to_string(), continuing })
}

/// After an answer: leaves the run to its live driver, or drives it here.
fn go_on<S: Store>(state: &AppState<S>, run_id: &str, resume: ResumeOptions) -> Result<String, ApiError> {
    let record = state.store.load_run(run_id)?.ok_or_else(|| ApiError::no_run(run_id))?;
    if driven_elsewhere(&record) {
        return Ok("elsewhere".to_string());
    }
    if !record.status.is_resumable() {
        return Ok("stopped".to_string());
    }
    let (state, run) = (state.clone(), run_id.to_string());
    tokio::spawn(async move {
        match drive(&state, &run, resume).await {
            Ok(report) => tracing::info!(run = %run, status = report.status.as_str(), reason = ?report.reason, "run went on"),
            Err(e) => tracing::warn!(run = %run, error = %e.message, "the run could not go on"),
        }
    });
    Ok("here".to_string())
}

/// A run held by a live driver (`workflow run --wait`, another resume): its lease is current.
fn driven_elsewhere(record: &workflow_runtime::store::RunRecord) -> bool {
    record.status == RunStatus::Running && record.lease.as_ref().is_some_and(|lease| lease.until_ms > now_ms())
}

/// Drives run `run_id` on until it ends, pauses or waits again.
async fn drive<S: Store>(state: &AppState<S>, run_id: &str, resume: ResumeOptions) -> Result<RunReport, ApiError> {
    let record = state.store.load_run(run_id)?.ok_or_else(|| ApiError::no_run(run_id))?;
    let file = definition::source_file(&record);
    let found = definition::run_definition(&record, file.as_deref(), &ReadOptions::default())
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let mut options = options(state, record.cwd.as_deref(), &state.operator)?;
    options.workflows = found.workflows;
    let executor = Executor::new(state.store.clone(), Actions::builtin(), options);
    Ok(executor.resume(run_id, Box::new(IrEngine::new(Arc::new(found.ir))), resume).await?)
}

/// How runs are driven from here: in the run's directory, with its model config and
/// permission patterns; nobody at a terminal, so questions wait for the pages.
fn options<S: Store>(state: &AppState<S>, cwd: Option<&str>, by: &str) -> Result<ExecutorOptions, ApiError> {
    let _ = state;
    let cwd = cwd.map(PathBuf::from).filter(|d| d.is_dir()).or_else(|| std::env::current_dir().ok()).unwrap_or_else(|| PathBuf::from("."));
    let config = ModelConfig::load(&cwd)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("the model config of {} does not load: {e}", cwd.display())))?;
    let models = ModelRuntime::new(config);
    Ok(ExecutorOptions {
        consent: Consent { yes: false, patterns: models.config().permissions.clone() },
        models: Some(Arc::new(models)),
        cwd,
        operator: by.to_string(),
        ..ExecutorOptions::default()
    })
}
