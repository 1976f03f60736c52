//! `workflow pause` and `workflow cancel`: ask a run's driver, from any
//! process, to stop between steps.

use super::store::{find_run, ByName, StoreArgs};
use std::process::ExitCode;
use workflow_runtime::actions::Actions;
use workflow_runtime::engine::IrEngine;
use workflow_runtime::executor::Executor;
use workflow_runtime::store::{Control, LeaseOwner, LeaseResult, RunStatus, Store};

/// Arguments of `workflow pause` / `workflow cancel`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run id (or a unique prefix)
    pub run: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs `workflow pause` (`cancel == false`) or `workflow cancel`.
pub fn run(args: &Args, cancel: bool) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let run_id = find_run(&store, &args.run, ByName::No)?;
    let record = store.load_run(&run_id)?.ok_or_else(|| anyhow::anyhow!("run {run_id} disappeared"))?;
    if !record.status.is_resumable() {
        anyhow::bail!("run {run_id} is {}: it cannot be paused or cancelled", record.status.as_str());
    }
    // A run nobody drives (paused, failed, waiting, or its driver died) is changed here and now.
    let me = LeaseOwner { id: format!("cli-{}", std::process::id()), pid: std::process::id(), host: String::new() };
    let idle = record.status != RunStatus::Running || matches!(store.acquire_lease(&run_id, &me, 5_000)?, LeaseResult::Acquired(_));
    if idle {
        let reason = format!("{} by {}", if cancel { "cancelled" } else { "paused" }, super::run::operator());
        if cancel {
            // Through the executor, so the run gets its audit output like any finished run.
            let ir: workflow_core::ir::WorkflowIr = serde_json::from_value(record.definition.clone())?;
            let options = super::run::executor_options(record.cwd.clone().map(Into::into))?;
            let report = super::run::runtime()?.block_on(async {
                let executor = Executor::new(std::sync::Arc::new(store), Actions::builtin(), options);
                executor.cancel_idle(&run_id, Box::new(IrEngine::new(std::sync::Arc::new(ir))), reason).await
            })?;
            println!("run {} {}", report.run_id, report.status.as_str());
            return Ok(ExitCode::SUCCESS);
        }
        if record.status == RunStatus::Paused {
            println!("run {run_id} is already paused");
            return Ok(ExitCode::SUCCESS);
        }
        let LeaseResult::Acquired(fence) = store.acquire_lease(&run_id, &me, 5_000)? else {
            anyhow::bail!("run {run_id} was taken over by another process just now; try again");
        };
        super::run::runtime()?.block_on(store.set_status(&run_id, &fence, RunStatus::Paused, Some(reason), None))?;
        println!("run {run_id} paused");
        return Ok(ExitCode::SUCCESS);
    }
    store.request(&run_id, if cancel { Control::Cancel } else { Control::Pause })?;
    println!("run {run_id}: {} requested; it takes effect after the current step", if cancel { "cancel" } else { "pause" });
    Ok(ExitCode::SUCCESS)
}
