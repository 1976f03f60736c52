//! `workflow resume`: continue a paused, failed, interrupted or waiting run.

use super::run::{executor_options, report_outcome, runtime, DriveArgs};
use super::store::{find_run, ByName, StoreArgs};
use super::CompileArgs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use workflow_runtime::actions::Actions;
use workflow_runtime::engine::{Engine, IrEngine};
use workflow_runtime::executor::definition::{self, DefinitionError};
use workflow_runtime::executor::{Executor, Interrupted, ResumeOptions, Workflows};
use workflow_runtime::store::any::AnyStore;
use workflow_runtime::store::{RunRecord, Store};

/// Arguments of `workflow resume`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run id (or a unique prefix), or a workflow name: its newest resumable run
    pub run: String,
    /// Resume even though the workflow changed since the run started (steps are matched by id)
    #[arg(long)]
    pub force: bool,
    /// An interrupted step that is not idempotent: run it again
    #[arg(long, conflicts_with_all = ["skip_interrupted", "fail_interrupted"])]
    pub retry_interrupted: bool,
    /// An interrupted step that is not idempotent: treat it as done
    #[arg(long, conflicts_with = "fail_interrupted")]
    pub skip_interrupted: bool,
    /// An interrupted step that is not idempotent: treat it as failed
    #[arg(long)]
    pub fail_interrupted: bool,
    #[command(flatten)]
    pub continuing: ContinueArgs,
}

/// How a stopped run goes on (`resume`, and `approve`/`reject`/`answer` after recording the answer).
#[derive(Debug, clap::Args)]
pub struct ContinueArgs {
    /// The workflow file (default: the file the run started from, else found by name, else the definition stored with the run)
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The directory the remaining steps run in (default: where the run started)
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    #[command(flatten)]
    pub drive: DriveArgs,
    #[command(flatten)]
    pub progress: super::progress::ProgressArgs,
    #[command(flatten)]
    pub compile: CompileArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs `workflow resume`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let store = Arc::new(args.continuing.store.open()?);
    let run_id = find_run(&*store, &args.run, ByName::Resumable)?;
    let interrupted = if args.retry_interrupted {
        Some(Interrupted::Retry)
    } else if args.skip_interrupted {
        Some(Interrupted::Skip)
    } else if args.fail_interrupted {
        Some(Interrupted::Fail)
    } else {
        None
    };
    let resume = ResumeOptions { force: args.force, interrupted, cwd: args.continuing.cwd.clone(), ..ResumeOptions::default() };
    continue_run(store, &run_id, &args.continuing, resume)
}

/// Drives run `run_id` on from where it stopped, with its workflow as it is now (when its file
/// can be found, else the definition stored with the run); prints how it ended.
pub fn continue_run(store: Arc<AnyStore>, run_id: &str, how: &ContinueArgs, resume: ResumeOptions) -> anyhow::Result<ExitCode> {
    let (file, compile, drive) = (how.file.clone(), &how.compile, &how.drive);
    let record = store.load_run(run_id)?.ok_or_else(|| anyhow::anyhow!("run {run_id} disappeared"))?;
    let (engine, workflows) = match engine_for(&record, file, compile)? {
        Ok(found) => found,
        Err(invalid) => return Ok(invalid),
    };
    // The run's directory, unless told otherwise: its config (models, permissions) is the one that applies.
    let cwd = resume.cwd.clone().or_else(|| record.cwd.clone().map(PathBuf::from).filter(|d| d.is_dir()));
    let mut options = executor_options(cwd, &how.progress)?;
    options.workflows = workflows;
    let models = super::run::model_runtime(&options.cwd)?;
    drive.apply(&mut options, &models);
    options.models = Some(Arc::new(models));
    let report = runtime()?.block_on(async {
        let executor = Executor::new(store, Actions::builtin(), options);
        executor.resume(run_id, engine, resume).await
    })?;
    Ok(report_outcome(&report, &how.progress))
}

/// The engine to resume `record` with, and where its child workflows are found: the file
/// named, else the workflow compiled into this binary, else the file the run was started
/// from, else one found by the workflow's name, else the definition stored with the run.
#[allow(clippy::type_complexity)]
fn engine_for(record: &RunRecord, file: Option<PathBuf>, compile: &CompileArgs) -> anyhow::Result<Result<(Box<dyn Engine>, Option<Workflows>), ExitCode>> {
    if file.is_none() {
        if let Some(embedded) = crate::embedded::find(&record.workflow) {
            return Ok(Ok(((embedded.engine)(), Some(super::run::embedded_workflows()))));
        }
    }
    let file = file.or_else(|| definition::source_file(record)).or_else(|| super::show::locate(&record.workflow).ok());
    match definition::run_definition(record, file.as_deref(), &compile.read_options()) {
        Ok(found) => Ok(Ok((Box::new(IrEngine::new(Arc::new(found.ir))), found.workflows))),
        Err(DefinitionError::Invalid { report, .. }) => {
            eprint!("{report}");
            Ok(Err(ExitCode::from(super::EXIT_INVALID)))
        }
        Err(e) => Err(e.into()),
    }
}
