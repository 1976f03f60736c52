//! Pause and cancel from any process (`workflow pause|cancel [--now]`,
//! `workflow serve`): a run nobody drives changes at once; a driven one is
//! left a request its driver honours after the current step, or, asked
//! `--now`, within a fifth of a second by interrupting the step and killing
//! its processes (see `watch.rs`).

use super::{Executor, RunError, RunReport};
use crate::engine::IrEngine;
use crate::store::{Control, LeaseResult, RunStatus, Store, StoreError};
use std::sync::Arc;
use workflow_core::ir::WorkflowIr;

/// What a pause or cancel did.
#[derive(Clone, Debug, PartialEq)]
pub enum Stopped {
    /// The run was idle and is paused now.
    Paused,
    /// The run was paused already.
    AlreadyPaused,
    /// The run was idle and is cancelled now, with its audit output.
    Cancelled(RunReport),
    /// A live driver holds the run: it stops after its current step, or, for a
    /// `PauseNow` / `CancelNow` request, as soon as it sees the request.
    Requested,
}

impl<S: Store> Executor<S> {
    /// Asks run `run_id` to stop, on behalf of `by`: `request` is `Pause` or `Cancel` (after the current
    /// step), or `PauseNow` or `CancelNow` (interrupting it). A run that nobody drives (paused, failed,
    /// waiting, or its driver died) changes here and now; a cancelled one gets its audit output like any
    /// finished run. A driven run is left the request. `Control::None` asks nothing and is refused.
    pub async fn stop(&self, run_id: &str, request: Control, by: &str) -> Result<Stopped, RunError> {
        if request == Control::None {
            return Err(RunError::State { run: run_id.to_string(), message: "stopping a run needs a pause or cancel request".to_string() });
        }
        let cancel = request.is_cancel();
        let record = self.store.load_run(run_id)?.ok_or_else(|| StoreError::RunNotFound(run_id.to_string()))?;
        if !record.status.is_resumable() {
            return Err(RunError::Finished { run: record.id, status: record.status.as_str() });
        }
        let idle =
            record.status != RunStatus::Running || matches!(self.store.acquire_lease(run_id, &self.owner, self.options.lease_ms)?, LeaseResult::Acquired(_));
        if !idle {
            self.store.request(run_id, request)?;
            return Ok(Stopped::Requested);
        }
        let reason = format!("{} by {by}", if cancel { "cancelled" } else { "paused" });
        if cancel {
            let ir: WorkflowIr =
                serde_json::from_value(record.definition.clone()).map_err(|e| RunError::State { run: record.id.clone(), message: e.to_string() })?;
            return Ok(Stopped::Cancelled(self.cancel_idle(run_id, Box::new(IrEngine::new(Arc::new(ir))), reason).await?));
        }
        if record.status == RunStatus::Paused {
            return Ok(Stopped::AlreadyPaused);
        }
        // Pausing is a write like any other: under a lease of our own, with its fence.
        let fence = match self.store.acquire_lease(run_id, &self.owner, self.options.lease_ms)? {
            LeaseResult::Acquired(fence) => fence,
            LeaseResult::HeldBy(lease) => {
                return Err(RunError::Busy { run: record.id, pid: lease.owner.pid, host: lease.owner.host, until: lease.until_ms });
            }
        };
        if request.is_now() {
            // Asked to stop now: what a killed driver left of its step (should its watcher have died too) ends here, not at resume.
            self.end_leftovers(run_id)?;
        }
        self.store.set_status(run_id, &fence, RunStatus::Paused, Some(reason), None).await?;
        Ok(Stopped::Paused)
    }
}
