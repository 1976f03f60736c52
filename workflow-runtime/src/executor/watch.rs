//! While a step runs: the process groups it starts are recorded with the
//! open step, and `cancel --now` / `pause --now` from another process
//! interrupt it (dropping the step kills its process groups: see
//! `step_processes`).

use super::Executor;
use crate::store::{Control, StepProcess, Store, StoreError};
use std::future::Future;
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
        let (groups, mut started) = tokio::sync::mpsc::unbounded_channel();
        let step = crate::step_processes::reporting_groups(groups, step);
        tokio::pin!(step);
        let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + CONTROL_POLL, CONTROL_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                done = &mut step => return Ok(Watched::Done(done)),
                Some(group) = started.recv() => {
                    let process = StepProcess { seq, host: self.owner.host.clone(), group };
                    // Kept going on failure: the watcher still ends the group with this driver; only the resume-time cleanup lacks it.
                    if let Err(e) = self.store.record_process(run_id, &self.owner.id, process).await {
                        tracing::warn!(error = %e, group, "could not record the step's process group");
                    }
                }
                _ = poll.tick() => {
                    let control = self.store.pending_control(run_id)?;
                    if control.is_now() {
                        return Ok(Watched::Interrupted(control));
                    }
                }
            }
        }
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
