//! `workflow pause` and `workflow cancel`: ask a run's driver, from any
//! process, to stop between steps, or with `--now` at once (the current
//! step is interrupted and its processes killed), through the runtime's
//! `Executor::stop`, which `workflow serve` calls too.

use super::store::{find_run, ByName, StoreArgs};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use workflow_runtime::actions::Actions;
use workflow_runtime::executor::{Executor, Stopped};
use workflow_runtime::store::{Control, RunStatus, Store};

/// Arguments of `workflow pause` / `workflow cancel`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run id (or a unique prefix)
    pub run: String,
    /// Interrupt the current step now (its processes are killed) instead of waiting for it to end
    #[arg(long)]
    pub now: bool,
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
    let request = match (cancel, args.now) {
        (false, false) => Control::Pause,
        (true, false) => Control::Cancel,
        (false, true) => Control::PauseNow,
        (true, true) => Control::CancelNow,
    };
    // A cancelled run's after-snapshot is measured where its steps ran.
    let options = super::run::executor_options(record.cwd.clone().map(Into::into), &Default::default())?;
    let store = std::sync::Arc::new(store);
    let stopped = super::run::runtime()?.block_on(async {
        let executor = Executor::new(store.clone(), Actions::builtin(), options);
        executor.stop(&run_id, request, &super::run::operator()).await
    })?;
    let what = if cancel { "cancel" } else { "pause" };
    match stopped {
        Stopped::Cancelled(report) => println!("run {} {}", report.run_id, report.status.as_str()),
        Stopped::Paused => println!("run {run_id} paused"),
        Stopped::AlreadyPaused => println!("run {run_id} is already paused"),
        Stopped::Requested if !args.now => println!("run {run_id}: {what} requested; it takes effect after the current step (--now interrupts the step)"),
        Stopped::Requested => {
            // The driver looks for the request a few times a second while a step runs.
            let began = Instant::now();
            while began.elapsed() < STOP_WAIT {
                std::thread::sleep(Duration::from_millis(50));
                let status = store.load_run(&run_id)?.map(|r| r.status);
                if let Some(status @ (RunStatus::Paused | RunStatus::Cancelled | RunStatus::Completed | RunStatus::Failed | RunStatus::Waiting)) = status {
                    println!("run {run_id} {}", status.as_str());
                    return Ok(ExitCode::SUCCESS);
                }
            }
            println!("run {run_id}: {what} requested; its driver has not answered within {}s (it takes effect when it next looks)", STOP_WAIT.as_secs());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How long `--now` waits to see the run stop.
const STOP_WAIT: Duration = Duration::from_secs(10);
