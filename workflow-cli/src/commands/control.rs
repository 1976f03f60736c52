//! `workflow pause` and `workflow cancel`: ask a run's driver, from any
//! process, to stop between steps (the runtime's `Executor::stop`, which
//! `workflow serve` calls too).

use super::store::{find_run, ByName, StoreArgs};
use std::process::ExitCode;
use workflow_runtime::actions::Actions;
use workflow_runtime::executor::{Executor, Stopped};
use workflow_runtime::store::Store;

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
    // A cancelled run's after-snapshot is measured where its steps ran.
    let options = super::run::executor_options(record.cwd.clone().map(Into::into))?;
    let stopped = super::run::runtime()?.block_on(async {
        let executor = Executor::new(std::sync::Arc::new(store), Actions::builtin(), options);
        executor.stop(&run_id, cancel, &super::run::operator()).await
    })?;
    match stopped {
        Stopped::Cancelled(report) => println!("run {} {}", report.run_id, report.status.as_str()),
        Stopped::Paused => println!("run {run_id} paused"),
        Stopped::AlreadyPaused => println!("run {run_id} is already paused"),
        Stopped::Requested => println!("run {run_id}: {} requested; it takes effect after the current step", if cancel { "cancel" } else { "pause" }),
    }
    Ok(ExitCode::SUCCESS)
}
