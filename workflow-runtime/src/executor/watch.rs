//! While a step runs: the process group it starts is recorded with the open
//! step, and a `cancel --now` / `pause --now` from another process
//! interrupts it (dropping the step kills its process groups: see
//! `step_processes`).
//!
//! [`Watch`] is a future written out by hand rather than an `async fn`: it
//! holds the step's future once, in place, so a run's future grows by a few
//! words, not by a second copy of the step (10,000 waiting runs hold 10,000
//! of them).

use super::{Executor, RunError, RunReport, StepReport};
use crate::engine::Engine;
use crate::models::RunModels;
use crate::store::{Control, Fence, RunStatus, StepEnd, StepOutcome, StepProcess, Store, StoreError};
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use workflow_core::ir::Target;

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

/// A write of the step's process group, under way.
type Recording<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

pin_project_lite::pin_project! {
    /// Runs step future `F` (execution `seq` of run `run_id`, driven under `fence`) to its end, unless a `--now` request interrupts it first.
    pub(super) struct Watch<'a, S: Store, F> {
        #[pin]
        step: F,
        executor: &'a Executor<S>,
        run_id: &'a str,
        fence: &'a Fence,
        seq: u64,
        // Made when the step first waits: a step that ends at once costs no timer.
        look: Option<Pin<Box<tokio::time::Sleep>>>,
        recording: Option<Recording<'a>>,
    }
}

impl<S: Store> Executor<S> {
    /// Watches `step`, execution `seq` of run `run_id`, driven under `fence`.
    pub(super) fn watch_step<'a, F: Future>(&'a self, run_id: &'a str, fence: &'a Fence, seq: u64, step: F) -> Watch<'a, S, F> {
        Watch { step, executor: self, run_id, fence, seq, look: None, recording: None }
    }
}

impl<'a, S: Store, F: Future> Future for Watch<'a, S, F> {
    type Output = Result<Watched<F::Output>, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (done, started) = crate::step_processes::reporting_groups(|| this.step.poll(cx));
        if let Some(group) = started {
            let executor = *this.executor;
            let process = StepProcess { seq: *this.seq, host: executor.owner.host.clone(), group };
            // A retry's group replaces the write of an earlier attempt's.
            *this.recording = Some(Box::pin(executor.store.record_process(this.run_id, this.fence, process)));
        }
        if let Some(recording) = this.recording {
            if let Poll::Ready(written) = recording.as_mut().poll(cx) {
                // Kept going on failure: the watcher still ends the group with this driver; only the resume-time cleanup lacks it.
                if let Err(e) = written {
                    tracing::warn!(error = %e, "could not record the step's process group");
                }
                *this.recording = None;
            }
        }
        if let Poll::Ready(done) = done {
            return Poll::Ready(Ok(Watched::Done(done)));
        }
        let look = this.look.get_or_insert_with(|| Box::pin(tokio::time::sleep(CONTROL_POLL)));
        while look.as_mut().poll(cx).is_ready() {
            let control = this.executor.store.pending_control(this.run_id)?;
            if control.is_now() {
                return Poll::Ready(Ok(Watched::Interrupted(control)));
            }
            look.as_mut().reset(tokio::time::Instant::now() + CONTROL_POLL);
        }
        Poll::Pending
    }
}

impl<S: Store> Executor<S> {
    /// A step interrupted by `cancel --now` or `pause --now` (its processes
    /// already killed): cancelled, it is recorded as failed and the run
    /// finishes as cancelled; paused, it stays open and runs again on resume.
    pub(super) async fn interrupted(
        &self,
        (run_id, fence): (&str, &Fence),
        engine: &dyn Engine,
        run: &RunModels,
        (step, seq, began): (usize, u64, Instant),
        control: Control,
        trace: Vec<String>,
    ) -> Result<RunReport, RunError> {
        let step_id = &engine.ir().steps[step].id;
        if !control.is_cancel() {
            let reason = format!("paused on request, interrupting step `{step_id}` (it runs again on resume)");
            self.record_status(run_id, fence, RunStatus::Paused, Some(reason.clone()), None).await?;
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
        self.store.end_step(run_id, fence, end).await?;
        let reason = format!("cancelled on request, interrupting step `{step_id}`");
        self.finish(run_id, fence, engine, run, RunStatus::Cancelled, Some(reason), trace).await
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
