//! Pause and cancel from any process (`workflow pause|cancel`, `workflow
//! serve`): a run nobody drives changes at once; a driven one is left a
//! request its driver honours after the current step.

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
    /// A live driver holds the run: it stops after its current step.
    Requested,
}

impl<S: Store> Executor<S> {
    /// Pauses run `run_id` (`cancel == false`) or cancels it, on behalf of `by`. A run that nobody drives
    /// (paused, failed, waiting, or its driver died) changes here and now; a cancelled one gets its audit
    /// output like any finished run. A driven run is asked to stop after its current step.
    pub async fn stop(&self, run_id: &str, cancel: bool, by: &str) -> Result<Stopped, RunError> {
        let record = self.store.load_run(run_id)?.ok_or_else(|| StoreError::RunNotFound(run_id.to_string()))?;
        if !record.status.is_resumable() {
            return Err(RunError::Finished { run: record.id, status: record.status.as_str() });
        }
        let idle =
            record.status != RunStatus::Running || matches!(self.store.acquire_lease(run_id, &self.owner, self.options.lease_ms)?, LeaseResult::Acquired(_));
        if !idle {
            self.store.request(run_id, if cancel { Control::Cancel } else { Control::Pause })?;
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
        self.store.set_status(run_id, &fence, RunStatus::Paused, Some(reason), None).await?;
        Ok(Stopped::Paused)
    }
}
