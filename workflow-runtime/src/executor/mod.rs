//! Drives runs: starts and resumes them, runs each step's action (with
//! retries, backoff and jitter, and a timeout), checkpoints every step in
//! the store, honours pause and cancel requests between steps, keeps the
//! run's lease alive, and writes the audit record.
//!
//! A generated machine and the IR interpreter go through the same code here
//! (see [`Engine`]), so they checkpoint, retry and pause alike.

use crate::actions::Actions;
use crate::audit;
use crate::engine::{Engine, Next};
use crate::human::now_ms;
use crate::models::RunModels;
use crate::secrets;
use crate::store::{Control, Fence, LeaseOwner, LeaseResult, NewRun, RunRecord, RunStatus, StepEnd, StepOutcome, StepStart, Store, StoreError};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;
use workflow_core::ir::{Outcome, Target, WorkflowIr};

mod child;
mod commands;
pub mod definition;
mod model_actions;
mod options;
mod people;
mod step;
mod stop;
mod watch;

pub use options::*;
use step::{assign_all, handled_exit_codes, over_budget};
pub use stop::Stopped;

/// Starts and resumes runs against one store.
pub struct Executor<S: Store> {
    store: Arc<S>,
    actions: Arc<Actions>,
    options: ExecutorOptions,
    owner: LeaseOwner,
    /// Each definition's JSON text by hash, serialized once and shared by all its runs.
    definitions: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<str>>>>,
    /// Held while a question is on the terminal: one at a time.
    terminal_turn: Arc<tokio::sync::Mutex<()>>,
    /// Set when the terminal reached end of input: nobody is asked there again.
    terminal_closed: Arc<AtomicBool>,
    /// Child runs started by `run-workflow` with `wait: false`, driven beside their parent.
    detached: Arc<std::sync::Mutex<Vec<Detached>>>,
    /// Permissions a person granted at this process's terminal (snapshot and notify commands).
    granted: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Password answers by run and step execution: in memory only, never stored.
    passwords: Arc<std::sync::Mutex<std::collections::HashMap<(String, u64), crate::human::Answer>>>,
}

/// A child run driven on its own task.
type Detached = tokio::task::JoinHandle<Result<RunReport, RunError>>;

impl<S: Store> Executor<S> {
    /// An executor over `store` running `actions`.
    pub fn new(store: Arc<S>, actions: Actions, options: ExecutorOptions) -> Executor<S> {
        // The secrets of the environment are masked in everything the runs store and report.
        let key_vars: Vec<String> = options.models.iter().flat_map(|m| m.config().providers.values().filter_map(|p| p.api_key_env.clone())).collect();
        for warning in secrets::register_environment(key_vars.iter().map(String::as_str)) {
            tracing::warn!("{warning}");
        }
        let owner = LeaseOwner { id: uuid::Uuid::now_v7().to_string(), pid: std::process::id(), host: host_name() };
        Executor {
            store,
            actions: Arc::new(actions),
            options,
            owner,
            definitions: Arc::default(),
            terminal_turn: Arc::default(),
            terminal_closed: Arc::default(),
            detached: Arc::default(),
            granted: Arc::default(),
            passwords: Arc::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// Records the run's status, the secrets it knows masked in the reason and the audit output.
    async fn record_status(&self, run_id: &str, fence: &Fence, status: RunStatus, reason: Option<String>, output: Option<Value>) -> Result<(), StoreError> {
        let reason = reason.map(|r| secrets::mask(&r).into_owned());
        let output = output.map(|o| secrets::mask_json(&o));
        self.store.set_status(run_id, fence, status, reason, output).await
    }

    /// Starts a new run of the engine's workflow and drives it until it ends,
    /// pauses or waits. Measures the `snapshot:` metrics first and records the
    /// audit input (DESIGN.md §5).
    pub async fn start(&self, mut engine: Box<dyn Engine>, start: StartOptions) -> Result<RunReport, RunError> {
        let (run_id, next, first, run, fence) = self.create(engine.as_mut(), start).await?;
        let span = tracing::info_span!("run", run = %run_id, workflow = %engine.ir().name);
        let report = self.drive(&run_id, &fence, engine.as_mut(), next, first, run).instrument(span).await?;
        Ok(self.join_detached(report).await)
    }

    /// Waits for the child runs started with `wait: false`, so none is cut off when the caller exits.
    async fn join_detached(&self, mut report: RunReport) -> RunReport {
        loop {
            let handles: Vec<_> = std::mem::take(&mut *self.detached.lock().unwrap_or_else(|p| p.into_inner()));
            if handles.is_empty() {
                return report;
            }
            for handle in handles {
                match handle.await {
                    Ok(Ok(child)) => report.children.push(child),
                    Ok(Err(e)) => tracing::warn!(error = %e, "a child run started with `wait: false` stopped with an error"),
                    Err(e) => tracing::warn!(error = %e, "a child run started with `wait: false` panicked"),
                }
            }
        }
    }

    /// An executor sharing this one's store, registry and lease identity (to drive a run on another task).
    fn sibling(&self) -> Executor<S> {
        Executor {
            store: self.store.clone(),
            actions: self.actions.clone(),
            options: self.options.clone(),
            owner: self.owner.clone(),
            definitions: self.definitions.clone(),
            terminal_turn: self.terminal_turn.clone(),
            terminal_closed: self.terminal_closed.clone(),
            detached: self.detached.clone(),
            granted: self.granted.clone(),
            passwords: self.passwords.clone(),
        }
    }

    /// Records a new run (before-snapshot, audit input, first step started) without driving it; returns the lease to drive it under.
    async fn create(&self, engine: &mut dyn Engine, start: StartOptions) -> Result<(String, Next, Option<StepStart>, RunModels, Fence), RunError> {
        let run_id = uuid::Uuid::now_v7().to_string();
        let ir = engine.ir().clone();
        engine.set_run(crate::machine::RunFacts::new(&run_id, &ir.name, start.parent_run_id.as_deref()));
        // Every model the workflow names must resolve before anything is recorded.
        let mut run = RunModels::default();
        if let Some(models) = &self.options.models {
            let errors = models.check(&ir);
            if !errors.is_empty() {
                let message = errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n");
                return Err(RunError::Models { workflow: ir.name.clone(), message });
            }
            let starting = models.starting_model(&ir).ok().flatten();
            run.model = starting.clone();
            run.original = starting;
        }
        let refused = self.snapshot_refusals(&ir, &run_id).await;
        let (before, mut metric_errors) = audit::take_snapshot_refusing(&ir.snapshot, &self.options.cwd, audit::DEFAULT_METRIC_TIMEOUT, &refused).await;
        let variables = engine.variables();
        let (expected, expect_errors) = audit::expected_work(&ir.expect, &before, &variables);
        metric_errors.extend(expect_errors);
        for e in &metric_errors {
            tracing::warn!(%e, "before-snapshot");
        }
        let mode = if ir.interactive { "interactive" } else { "unattended" };
        let input = audit::audit_input(
            "start_workflow",
            &ir.name,
            mode,
            &start.triggered_by,
            &self.options.operator,
            start.parent_run_id.as_deref(),
            &before,
            &expected,
            &variables,
        );
        let next = engine.begin();
        let first = self.next_start(&ir, &next, 1);
        let new = NewRun {
            id: run_id.clone(),
            workflow: ir.name.clone(),
            definition_hash: ir.hash.clone(),
            definition: self.definition_text(&ir),
            parent_run_id: start.parent_run_id.clone(),
            cwd: Some(self.options.cwd.display().to_string()),
            source: start.source.as_ref().map(|p| p.display().to_string()),
            input: secrets::mask_json(&input),
            state: secrets::mask_json(&run.merge_into(engine.state())),
            target: next.target(),
            first: first.clone(),
            owner: self.owner.clone(),
            lease_ms: self.options.lease_ms,
        };
        let fence = self.store.create_run(new).await?;
        Ok((run_id, next, first, run, fence))
    }

    /// Ends a run that nobody drives (paused, failed, waiting, or whose driver
    /// died) as `cancelled`, with its audit output. `engine` is its workflow's.
    pub async fn cancel_idle(&self, run_id: &str, mut engine: Box<dyn Engine>, reason: String) -> Result<RunReport, RunError> {
        let record = self.store.load_run(run_id)?.ok_or_else(|| StoreError::RunNotFound(run_id.to_string()))?;
        if !record.status.is_resumable() {
            return Err(RunError::Finished { run: record.id, status: record.status.as_str() });
        }
        let fence = match self.store.acquire_lease(run_id, &self.owner, self.options.lease_ms)? {
            LeaseResult::Acquired(fence) => fence,
            LeaseResult::HeldBy(lease) => {
                return Err(RunError::Busy { run: record.id, pid: lease.owner.pid, host: lease.owner.host, until: lease.until_ms });
            }
        };
        // What a killed driver left of its step (should its watcher have died too) ends with the run.
        self.end_leftovers(run_id)?;
        engine.restore(&record.state).map_err(|message| RunError::State { run: record.id.clone(), message })?;
        let run = RunModels::from_state(&record.state);
        self.finish(run_id, &fence, engine.as_ref(), &run, RunStatus::Cancelled, Some(reason), Vec::new()).await
    }

    /// Resumes run `run_id` (paused, failed, interrupted or waiting) with the engine of its workflow.
    pub async fn resume(&self, run_id: &str, mut engine: Box<dyn Engine>, options: ResumeOptions) -> Result<RunReport, RunError> {
        let record = self.store.load_run(run_id)?.ok_or_else(|| StoreError::RunNotFound(run_id.to_string()))?;
        if !record.status.is_resumable() {
            return Err(RunError::Finished { run: record.id, status: record.status.as_str() });
        }
        let ir = engine.ir().clone();
        if record.definition_hash != ir.hash && !options.force {
            return Err(RunError::DefinitionChanged { run: record.id, workflow: record.workflow, old: short(&record.definition_hash), new: short(&ir.hash) });
        }
        let fence = match self.store.acquire_lease(run_id, &self.owner, self.options.lease_ms)? {
            LeaseResult::Acquired(fence) => fence,
            LeaseResult::HeldBy(lease) => {
                return Err(RunError::Busy { run: record.id, pid: lease.owner.pid, host: lease.owner.host, until: lease.until_ms });
            }
        };
        engine.restore(&record.state).map_err(|message| RunError::State { run: record.id.clone(), message })?;
        engine.set_run(crate::machine::RunFacts::new(&record.id, &record.workflow, record.parent_run_id.as_deref()));
        for (seq, answer) in &options.passwords.0 {
            self.keep_password(run_id, *seq, answer.clone());
        }
        let span = tracing::info_span!("run", run = %record.id, workflow = %ir.name);
        // Steps go on in the directory the run started in, unless told otherwise.
        let cwd = options.cwd.clone().or_else(|| record.cwd.clone().map(PathBuf::from)).unwrap_or_else(|| self.options.cwd.clone());
        let here = Executor {
            store: self.store.clone(),
            actions: self.actions.clone(),
            options: ExecutorOptions { cwd, ..self.options.clone() },
            owner: self.owner.clone(),
            definitions: self.definitions.clone(),
            terminal_turn: self.terminal_turn.clone(),
            terminal_closed: self.terminal_closed.clone(),
            detached: self.detached.clone(),
            granted: self.granted.clone(),
            passwords: self.passwords.clone(),
        };
        let report = here.continue_run(record, &fence, engine, options).instrument(span).await?;
        Ok(self.join_detached(report).await)
    }

    async fn continue_run(&self, record: RunRecord, fence: &Fence, mut engine: Box<dyn Engine>, options: ResumeOptions) -> Result<RunReport, RunError> {
        let run_id = record.id.clone();
        let ir = engine.ir().clone();
        // The run's model and conversation go on where they stopped.
        let mut run = RunModels::from_state(&record.state);
        if let Some(models) = &self.options.models {
            if run.model.is_none() && run.original.is_none() {
                let starting = models.starting_model(&ir).ok().flatten();
                run.model = starting.clone();
                run.original = starting;
            }
        }
        // Passwords are never stored: the ones later steps may use are asked again.
        if let Some(waiting) = self.reask_passwords(&run_id, fence, engine.as_mut()).await? {
            return Ok(waiting);
        }
        let remap = |step: usize, step_id: &str| -> Result<usize, RunError> {
            // Under --force the definition may have moved steps: follow the id.
            match ir.steps.get(step) {
                Some(s) if s.id == step_id => Ok(step),
                _ => ir
                    .steps
                    .iter()
                    .position(|s| s.id == step_id)
                    .ok_or_else(|| RunError::State { run: run_id.clone(), message: format!("step `{step_id}` no longer exists in workflow `{}`", ir.name) }),
            }
        };
        if let Some(open) = record.open.clone() {
            let step = remap(open.step, &open.step_id)?;
            let open = StepStart { step, ..open };
            // What a killed driver left of the step is ended before anything else happens to it.
            self.end_leftovers(&run_id)?;
            // A step that stopped to ask a person did not start its work: it simply asks again (or finds the answer).
            let asked = self.store.questions(&run_id)?.iter().any(|q| q.request.seq == open.seq);
            let decision = if ir.steps[step].idempotent || asked { Some(Interrupted::Retry) } else { options.interrupted };
            return match decision {
                // At-least-once: the interrupted step runs again under its open execution.
                Some(Interrupted::Retry) => self.drive(&run_id, fence, engine.as_mut(), Next::Step(step), Some(open), run).await,
                Some(choice @ (Interrupted::Skip | Interrupted::Fail)) => {
                    let (outcome, stored) =
                        if choice == Interrupted::Skip { (Outcome::Success, StepOutcome::Skipped) } else { (Outcome::Error, StepOutcome::Failed) };
                    let next = engine.next(step, outcome, &json!({}));
                    let error = (choice == Interrupted::Fail).then(|| "failed by a person after an interruption".to_string());
                    let next_start = self.next_start(&ir, &next, open.seq + 1);
                    let end = StepEnd {
                        seq: open.seq,
                        outcome: stored,
                        output: json!({}),
                        error,
                        attempts: 0,
                        duration_ms: 0,
                        state: Some(run.merge_into(engine.state())),
                        target: next.target(),
                        next: next_start.clone(),
                    };
                    self.store.end_step(&run_id, fence, end).await?;
                    self.drive(&run_id, fence, engine.as_mut(), next, next_start, run).await
                }
                None => {
                    let reason = format!(
                        "step `{}` was interrupted and is not idempotent (it may have done part of its work): resume with --retry-interrupted, --skip-interrupted or --fail-interrupted",
                        open.step_id
                    );
                    self.record_status(&run_id, fence, RunStatus::Waiting, Some(reason.clone()), None).await?;
                    Ok(RunReport { run_id, status: RunStatus::Waiting, reason: Some(reason), trace: Vec::new(), children: Vec::new() })
                }
            };
        }
        let next = match record.target {
            Target::Step(i) => Next::Step(remap(i, record.definition.pointer(&format!("/steps/{i}/id")).and_then(Value::as_str).unwrap_or_default())?),
            Target::Complete => Next::Complete,
            // A failed run is resumed at the step that failed.
            Target::Fail => match self.store.events(&run_id)?.iter().rev().find(|e| e.outcome == Some(StepOutcome::Failed)) {
                Some(failed) => Next::Step(remap(failed.step, &failed.step_id)?),
                None => Next::Fail(record.reason.clone().unwrap_or_else(|| "the run failed".to_string())),
            },
        };
        let first = self.next_start(&ir, &next, record.next_seq);
        if let Some(start) = &first {
            self.store.start_step(&run_id, fence, start.clone()).await?;
        }
        self.drive(&run_id, fence, engine.as_mut(), next, first, run).await
    }

    /// The definition as JSON text, serialized once per definition (a run
    /// holds the shared text, not a tree of its own: 10,000 waiting runs of
    /// one workflow keep one copy).
    fn definition_text(&self, ir: &WorkflowIr) -> Arc<str> {
        let mut cache = self.definitions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.entry(ir.hash.clone()).or_insert_with(|| Arc::from(serde_json::to_string(ir).unwrap_or_default())).clone()
    }

    fn next_start(&self, ir: &WorkflowIr, next: &Next, seq: u64) -> Option<StepStart> {
        match next {
            Next::Step(i) => Some(StepStart { seq, step: *i, step_id: ir.steps[*i].id.clone() }),
            _ => None,
        }
    }

    /// Runs steps from `next` (whose execution `open` is already recorded as started) until the run stops.
    async fn drive(
        &self,
        run_id: &str,
        fence: &Fence,
        engine: &mut dyn Engine,
        mut next: Next,
        mut open: Option<StepStart>,
        mut run: RunModels,
    ) -> Result<RunReport, RunError> {
        let ir = engine.ir().clone();
        let durable = self.store.is_durable();
        let lease_lost = Arc::new(AtomicBool::new(false));
        let _renewal = self.keep_lease(run_id, fence, lease_lost.clone());
        let handled_exit_codes = handled_exit_codes(&ir);
        let people_steps = self.people_steps(&ir);
        let mut trace = Vec::new();
        loop {
            let step = match &next {
                Next::Step(step) => *step,
                Next::Complete => return self.finish(run_id, fence, &*engine, &run, RunStatus::Completed, None, trace).await,
                Next::Fail(reason) => return self.finish(run_id, fence, &*engine, &run, RunStatus::Failed, Some(reason.clone()), trace).await,
            };
            let start = open.take().expect("a step is always started before it runs");
            let ir_step = &ir.steps[step];
            trace.push(ir_step.id.clone());
            let began = Instant::now();
            let span = tracing::info_span!("step", step = %ir_step.id, seq = start.seq);
            let before = if people_steps[step] {
                match self.before_phase(run_id, fence, &*engine, step, start.seq, &run, &trace, span.clone()).await? {
                    Ok(before) => before,
                    Err(stopped) => return Ok(stopped),
                }
            } else {
                people::Before::Proceed
            };
            let result = match before {
                people::Before::Proceed => {
                    if let Some(started) = &self.options.started {
                        started(&StepStarted {
                            run_id,
                            step_id: &ir_step.id,
                            action: &ir_step.action,
                            model: run.model.as_ref().map(|m| m.to_string()),
                            tokens: run.usage.input_tokens + run.usage.output_tokens,
                        });
                    }
                    let running = self.run_step(run_id, engine, step, handled_exit_codes.contains(&step), &run).instrument(span);
                    match self.watch_step(run_id, fence, start.seq, running).await? {
                        watch::Watched::Done(result) => result,
                        watch::Watched::Interrupted(control) => {
                            // Boxed: rare, and its future would otherwise enlarge every run's.
                            return Box::pin(self.interrupted((run_id, fence), &*engine, &run, (step, start.seq, began), control, trace)).await;
                        }
                    }
                }
                people::Before::Done(done) => (Ok((done, None)), 1),
                people::Before::Fail(failure) => (Err(failure), 0),
                people::Before::Wait(..) => unreachable!("waiting is handled above"),
            };
            let (outcome, output, error, attempts) = match result {
                (Ok((done, models)), attempts) => match assign_all(engine, &done) {
                    Ok(()) => {
                        if let Some(models) = models {
                            run = models;
                        }
                        (Outcome::Success, done.output, None, attempts)
                    }
                    Err(e) => (Outcome::Error, done.output, Some(e), attempts),
                },
                (Err(failure), attempts) => (Outcome::Error, failure.output, Some(failure.message), attempts),
            };
            // What a step printed or said may hold a secret: the run goes on with it masked.
            let output = secrets::mask_json(&output);
            let error = error.map(|e| secrets::mask(&e).into_owned());
            if let Some(e) = &error {
                tracing::warn!(step = %ir_step.id, error = %e, "step failed");
            }
            let duration_ms = began.elapsed().as_millis() as u64;
            let stored = if outcome == Outcome::Success { StepOutcome::Completed } else { StepOutcome::Failed };
            if let Some(progress) = &self.options.progress {
                progress(&StepReport {
                    step_id: ir_step.id.clone(),
                    action: ir_step.action.clone(),
                    outcome: stored,
                    error: error.clone(),
                    attempts,
                    duration_ms,
                    output: output.clone(),
                });
            }
            next = engine.next(step, outcome, &output);
            // A run that fails because this step failed says why.
            if let (Next::Fail(_), Some(e)) = (&next, &error) {
                next = Next::Fail(format!("step `{}` failed: {e}", ir_step.id));
            }
            // `action: end` with `status: failed` says why in its `message:`.
            if let (Next::Fail(reason), "end") = (&next, ir_step.action.as_str()) {
                if let Some(message) = ir_step.params.get("message").and_then(Value::as_str) {
                    let message = crate::interpolate::render(&*engine, step, message).unwrap_or_else(|_| message.to_string());
                    next = Next::Fail(format!("{reason}: {message}"));
                }
            }
            let next_start = self.next_start(&ir, &next, start.seq + 1);
            let end = StepEnd {
                seq: start.seq,
                outcome: stored,
                output,
                error,
                attempts,
                duration_ms,
                state: durable.then(|| secrets::mask_json(&run.merge_into(engine.state()))),
                target: next.target(),
                next: next_start.clone(),
            };
            let control = self.store.end_step(run_id, fence, end).await?;
            open = next_start;
            if lease_lost.load(Ordering::Relaxed) {
                return Err(StoreError::LeaseLost { run: run_id.to_string(), detail: "the lease could not be renewed".to_string() }.into());
            }
            // Over budget: the run pauses before its next step (raise the budget in the workflow and resume with --force).
            if let (Next::Step(_), Some(reason)) = (&next, over_budget(&ir, &run)) {
                self.record_status(run_id, fence, RunStatus::Paused, Some(reason.clone()), None).await?;
                return Ok(RunReport { run_id: run_id.to_string(), status: RunStatus::Paused, reason: Some(reason), trace, children: Vec::new() });
            }
            match control {
                Control::None => {}
                Control::Pause | Control::PauseNow if matches!(next, Next::Step(_)) => {
                    self.record_status(run_id, fence, RunStatus::Paused, Some("paused on request".to_string()), None).await?;
                    return Ok(RunReport {
                        run_id: run_id.to_string(),
                        status: RunStatus::Paused,
                        reason: Some("paused on request".to_string()),
                        trace,
                        children: Vec::new(),
                    });
                }
                Control::Cancel | Control::CancelNow => {
                    return self.finish(run_id, fence, &*engine, &run, RunStatus::Cancelled, Some("cancelled on request".to_string()), trace).await
                }
                Control::Pause | Control::PauseNow => {}
            }
        }
    }

    /// Ends a run: measures the metrics again, compares expected and actual
    /// work, writes the audit output, then starts the `on-completion` runs whose
    /// condition holds.
    #[allow(clippy::too_many_arguments)]
    fn finish<'a>(
        &'a self,
        run_id: &'a str,
        fence: &'a Fence,
        engine: &'a dyn Engine,
        run: &'a RunModels,
        status: RunStatus,
        reason: Option<String>,
        trace: Vec<String>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<RunReport, RunError>> + Send + 'a>> {
        Box::pin(async move {
            let reason = reason.map(|r| secrets::mask(&r).into_owned());
            let ir = engine.ir().clone();
            let record = self.store.load_run(run_id)?.ok_or_else(|| StoreError::RunNotFound(run_id.to_string()))?;
            let snapshot_of = |key: &str| record.input.get(key).and_then(Value::as_object).cloned().unwrap_or_default();
            let (before, expected) = (snapshot_of("state_snapshot"), snapshot_of("expected_work"));
            let refused = self.snapshot_refusals(&ir, run_id).await;
            let (after, mut errors) = audit::take_snapshot_refusing(&ir.snapshot, &self.options.cwd, audit::DEFAULT_METRIC_TIMEOUT, &refused).await;
            // A metric the before-snapshot could not measure has no delta either.
            errors.extend(
                before
                    .iter()
                    .filter(|(_, v)| v.is_null())
                    .map(|(m, _)| audit::MetricError { metric: m.clone(), message: "not measured before the run".to_string() }),
            );
            let delta = audit::delta(&before, &after);
            let anomalies = audit::anomalies(&expected, &delta, &errors);
            let events = self.store.events(run_id)?;
            let count = |o: StepOutcome| events.iter().filter(|e| e.outcome == Some(o)).count() as u64;
            let duration_ms = now_ms().saturating_sub(record.created_at_ms);
            let output = audit::audit_output(
                status.as_str(),
                duration_ms,
                events.len() as u64,
                count(StepOutcome::Completed),
                count(StepOutcome::Failed),
                &after,
                &delta,
                &anomalies,
                if run.is_empty() { json!({}) } else { json!({ "input_tokens": run.usage.input_tokens, "output_tokens": run.usage.output_tokens }) },
                if run.is_empty() { json!({}) } else { json!({ "usd": run.cost_usd }) },
            );
            // Who decided what, and when: every gate, prompt and consent question with its answer.
            let mut output = output;
            let questions = self.store.questions(run_id)?;
            if !questions.is_empty() {
                output["decisions"] = audit::decisions(&questions);
            }
            // Child runs are recorded before the parent is marked finished, so a
            // crash in between loses none: finishing again finds them.
            let mut children: Vec<Child> = Vec::new();
            if !ir.on_completion.is_empty() {
                let variables = engine.variables();
                let facts = audit::RunFacts { status: status.as_str(), before: &before, after: &after, delta: &delta, variables: &variables };
                let (names, trigger_errors) = audit::triggered(&ir.on_completion, &facts);
                for e in trigger_errors {
                    tracing::warn!(error = %e, "on-completion");
                }
                for name in names {
                    let Some(child) = self.options.workflows.as_ref().and_then(|find| find(&name)) else {
                        tracing::warn!(workflow = %name, "on-completion: workflow not found; not started");
                        continue;
                    };
                    let mut child_engine: Box<dyn Engine> = Box::new(crate::engine::IrEngine::new(child));
                    let filter = crate::store::RunFilter { workflow: Some(name.clone()), ..Default::default() };
                    let existing = self.store.list_runs(&filter)?.into_iter().find(|r| r.parent_run_id.as_deref() == Some(run_id));
                    match existing {
                        Some(run) => children.push((run.id, child_engine, None)),
                        None => {
                            let start =
                                StartOptions { triggered_by: format!("on-completion:{}", ir.name), parent_run_id: Some(run_id.to_string()), source: None };
                            let (id, next, first, child_run, child_fence) = self.create(child_engine.as_mut(), start).await?;
                            children.push((id, child_engine, Some((next, first, child_run, child_fence))));
                        }
                    }
                }
            }
            self.record_status(run_id, fence, status, reason.clone(), Some(output)).await?;
            let mut report = RunReport { run_id: run_id.to_string(), status, reason, trace, children: Vec::new() };
            for (id, mut child_engine, fresh) in children {
                let span = tracing::info_span!("run", run = %id, workflow = %child_engine.ir().name);
                let child = match fresh {
                    Some((next, first, child_run, child_fence)) => {
                        self.drive(&id, &child_fence, child_engine.as_mut(), next, first, child_run).instrument(span).await
                    }
                    None => match self.resume(&id, child_engine, ResumeOptions::default()).await {
                        Err(RunError::Finished { .. }) => continue,
                        other => other,
                    },
                };
                report.children.push(child?);
            }
            Ok(report)
        })
    }

    /// Renews the lease at a third of its length until dropped; flags a lost lease.
    fn keep_lease(&self, run_id: &str, fence: &Fence, lost: Arc<AtomicBool>) -> LeaseRenewal {
        let store = self.store.clone();
        let run = run_id.to_string();
        let owner = fence.clone();
        let ttl = self.options.lease_ms;
        let handle = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis((ttl / 3).max(1)));
            tick.tick().await;
            loop {
                tick.tick().await;
                let (store, run, owner) = (store.clone(), run.clone(), owner.clone());
                let renewed = tokio::task::spawn_blocking(move || store.renew_lease(&run, &owner, ttl)).await;
                if !matches!(renewed, Ok(Ok(true))) {
                    lost.store(true, Ordering::Relaxed);
                    break;
                }
            }
        });
        LeaseRenewal(handle)
    }
}

/// An `on-completion` run to drive: its id, its engine, and where a new one starts and under which lease (`None`: it existed, resume it).
type Child = (String, Box<dyn Engine>, Option<(Next, Option<StepStart>, RunModels, Fence)>);

/// Stops renewing a lease when dropped.
struct LeaseRenewal(tokio::task::JoinHandle<()>);

impl Drop for LeaseRenewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}
