//! While a step runs: every 200 ms, the process group it started last is
//! recorded with the open step, and a `cancel --now` / `pause --now` from
//! another process interrupts it (dropping the step kills its process
//! groups: see `step_processes`).

use super::{Executor, RunError, RunReport, StepReport};
use crate::engine::Engine;
use crate::models::RunModels;
use crate::store::{Control, RunStatus, StepEnd, StepOutcome, StepProcess, Store, StoreError};
use serde_json::json;
use std::time::Instant;
use workflow_core::ir::Target;
use std::future::Future;
use std::task::Poll;
use std::time::Duration;

/// How often a running step looks for a `--now` request. The first look is
/// after this long, so short steps never pay for one.
const CONTROL_POLL: Duration = Duration::from_millis(200);

/// How a watched step ended.
pub(super) enum Watched<T> {
    /// It ran to its end.
    Done(T),
    /// A `--now` request interrupted it (its processes are killed).
    Interrupted(Control),
}

impl<S: Store> Executor<S> {
    /// Runs `step` (execution `seq` of run `run_id`) to its end, unless a `--now` request interrupts it first.
    pub(super) async fn watch_step<T>(&self, run_id: &str, seq: u64, step: impl Future<Output = T>) -> Result<Watched<T>, StoreError> {
        crate::step_processes::reporting_groups(async {
            let mut step = std::pin::pin!(step);
            // Most steps end at their first poll (routing, quick actions): they cost no timer.
            if let Poll::Ready(done) = std::future::poll_fn(|cx| Poll::Ready(step.as_mut().poll(cx))).await {
                return Ok(Watched::Done(done));
            }
            let mut look = std::pin::pin!(tokio::time::sleep(CONTROL_POLL));
            loop {
                tokio::select! {
                    biased;
                    done = &mut step => return Ok(Watched::Done(done)),
                    () = &mut look => {
                        if let Some(group) = crate::step_processes::take_reported() {
                            let process = StepProcess { seq, host: self.owner.host.clone(), group };
                            // Kept going on failure: the watcher still ends the group with this driver; only the resume-time cleanup lacks it.
                            if let Err(e) = self.store.record_process(run_id, &self.owner.id, process).await {
                                tracing::warn!(error = %e, group, "could not record the step's process group");
                            }
                        }
                        let control = self.store.pending_control(run_id)?;
                        if control.is_now() {
                            return Ok(Watched::Interrupted(control));
                        }
                        look.as_mut().reset(tokio::time::Instant::now() + CONTROL_POLL);
                    }
                }
            }
        })
        .await
    }

    /// A step interrupted by `cancel --now` or `pause --now` (its processes
    /// already killed): cancelled, it is recorded as failed and the run
    /// finishes as cancelled; paused, it stays open and runs again on resume.
    pub(super) async fn interrupted(
        &self,
        run_id: &str,
        engine: &dyn Engine,
        run: &RunModels,
        (step, seq, began): (usize, u64, Instant),
        control: Control,
        trace: Vec<String>,
    ) -> Result<RunReport, RunError> {
        let step_id = &engine.ir().steps[step].id;
        if !control.is_cancel() {
            let reason = format!("paused on request, interrupting step `{step_id}` (it runs again on resume)");
            self.store.set_status(run_id, &self.owner.id, RunStatus::Paused, Some(reason.clone()), None).await?;
            return Ok(RunReport { run_id: run_id.to_string(), status: RunStatus::Paused, reason: Some(reason), trace, children: Vec::new() });
        }
        let error = "interrupted: the run was cancelled on request".to_string();
        let duration_ms = began.elapsed().as_millis() as u64;
        if let Some(progress) = &self.options.progress {
            let action = engine.ir().steps[step].action.clone();
            let output = json!({});
            progress(&StepReport {
                step_id: step_id.clone(),
                action,
                outcome: StepOutcome::Failed,
                error: Some(error.clone()),
                attempts: 1,
                duration_ms,
                output,
            });
        }
        let end = StepEnd {
            seq,
            outcome: StepOutcome::Failed,
            output: json!({}),
            error: Some(error),
            attempts: 1,
            duration_ms,
            state: self.store.is_durable().then(|| run.merge_into(engine.state())),
            target: Target::Step(step),
            next: None,
        };
        self.store.end_step(run_id, &self.owner.id, end).await?;
        let reason = format!("cancelled on request, interrupting step `{step_id}`");
        self.finish(run_id, engine, run, RunStatus::Cancelled, Some(reason), trace).await
    }

    /// Before an interrupted step runs again: ends what its dead driver left
    /// running on this host (when the group's watcher was killed too).
    pub(super) fn end_leftovers(&self, run_id: &str) -> Result<(), StoreError> {
        if let Some(process) = self.store.open_process(run_id)? {
            if process.host == self.owner.host {
                let left = crate::step_processes::end_leftovers(process.group, run_id);
                if left > 0 {
                    tracing::warn!(group = process.group, processes = left, "killed what an interrupted step left running");
                }
            }
        }
        Ok(())
    }
}
