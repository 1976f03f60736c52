//! `workflow run`: start a run of a workflow file and drive it.

use super::store::StoreArgs;
use super::{report_invalid, CompileArgs};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use workflow_runtime::actions::Actions;
use workflow_runtime::engine::{Engine, IrEngine};
use workflow_runtime::executor::{Executor, ExecutorOptions, RunReport, StartOptions, Workflows};
use workflow_runtime::permissions::Consent;
use workflow_runtime::store::RunStatus;

/// Arguments of `workflow run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A workflow file, or the name of one in ./workflows or ./.workflow/workflows
    pub workflow: String,
    /// Set a variable before the first step (repeatable): --var title="Add retries"
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// The directory steps run in (default: the current one)
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// The model the run starts with (`original`), instead of the config's `default`
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Record every model answer to this cassette, written anew (replay it later with a `replay` provider)
    #[arg(long, value_name = "CASSETTE")]
    pub record: Option<PathBuf>,
    /// Print the expected model usage and cost (from past runs of this workflow) without running
    #[arg(long)]
    pub estimate: bool,
    #[command(flatten)]
    pub drive: DriveArgs,
    #[command(flatten)]
    pub progress: super::progress::ProgressArgs,
    #[command(flatten)]
    pub compile: CompileArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// How a run treats people: consent for sensitive steps, and what happens when nobody answers.
#[derive(Debug, clap::Args)]
pub struct DriveArgs {
    /// Consent to every sensitive step (shell, push, merge-pr, make-changes) and shell command (snapshot metrics, notify) not denied by the config's `permissions: deny`
    #[arg(long, short = 'y', env = "WORKFLOW_YES", value_parser = clap::builder::FalseyValueParser::new())]
    pub yes: bool,
    /// When a gate, prompt or consent question has no answer, keep the run and wait for one
    /// from another shell (`workflow approve|reject|answer`) instead of exiting with code 3
    #[arg(long)]
    pub wait: bool,
    /// Where `workflow serve` is reached (https://runs.example.com): gate notifications link to the run's page there
    #[arg(long, value_name = "URL", env = "WORKFLOW_PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl DriveArgs {
    /// Applies these choices and the config's permission patterns to the executor's options.
    pub fn apply(&self, options: &mut ExecutorOptions, models: &workflow_runtime::models::ModelRuntime) {
        options.consent = Consent { yes: self.yes, patterns: models.config().permissions.clone() };
        // Secrets are masked in everything stored and printed; say which ones cannot be.
        let key_vars: Vec<String> = models.config().providers.values().filter_map(|p| p.api_key_env.clone()).collect();
        for warning in workflow_runtime::secrets::register_environment(key_vars.iter().map(String::as_str)) {
            eprintln!("warning: {warning}");
        }
        if self.wait {
            options.answer_poll = Some(std::time::Duration::from_millis(250));
        }
        options.public_url = self.public_url.clone();
    }
}

/// Exit code of a run that waits for a person.
pub const EXIT_WAITING: u8 = 3;
/// Exit code of a run that was paused.
pub const EXIT_PAUSED: u8 = 4;
/// Exit code of a run that was cancelled.
pub const EXIT_CANCELLED: u8 = 5;

/// Runs `workflow run`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    // A workflow compiled into this binary runs on its generated machine; any other is read and interpreted.
    let (mut engine, path): (Box<dyn Engine>, Option<PathBuf>) = match crate::embedded::find(&args.workflow) {
        Some(embedded) => ((embedded.engine)(), None),
        None => {
            let path = match super::show::locate(&args.workflow) {
                Ok(path) => path,
                Err(diags) => return Ok(report_invalid(diags)),
            };
            let compiled = match super::show::compile(&path, &args.compile.read_options()) {
                Ok(compiled) => compiled,
                Err(diags) => return Ok(report_invalid(diags)),
            };
            let [one] = compiled.as_slice() else {
                anyhow::bail!("{} holds {} workflows: run one file", path.display(), compiled.len());
            };
            (Box::new(IrEngine::new(Arc::new(one.ir.clone()))), Some(path))
        }
    };
    for assignment in &args.vars {
        let Some((name, value)) = assignment.split_once('=') else {
            return Ok(invalid(&format!("--var {assignment}: write NAME=VALUE")));
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
        if let Err(e) = engine.assign(name, value) {
            return Ok(invalid(&format!("--var {name}: {e}")));
        }
    }
    let store = Arc::new(args.store.open()?);
    let mut options = executor_options(args.cwd.clone(), &args.progress)?;
    options.workflows = Some(match &path {
        Some(path) => siblings(path, &args.compile),
        None => embedded_workflows(),
    });
    let mut models = model_runtime(&options.cwd)?;
    if let Some(name) = &args.model {
        models = models.with_starting_model(name.clone());
    }
    if let Some(cassette) = &args.record {
        // A recording starts anew: the cassette is this run's answers, in order.
        if cassette.exists() && !args.estimate {
            std::fs::remove_file(cassette).with_context(|| format!("cannot replace the cassette {}", cassette.display()))?;
        }
        models = models.with_recording(cassette.clone());
    }
    if args.estimate {
        return super::estimate::print(engine.ir(), &*store, &models);
    }
    args.drive.apply(&mut options, &models);
    options.models = Some(Arc::new(models));
    let report = runtime()?.block_on(async {
        let executor = Executor::new(store, Actions::builtin(), options);
        let source = path.as_ref().and_then(|p| std::path::absolute(p).ok());
        executor.start(engine, StartOptions { source, ..StartOptions::default() }).await
    })?;
    Ok(report_outcome(&report, &args.progress))
}

/// Finds `on-completion` and `run-workflow` workflows among those compiled into this binary.
pub fn embedded_workflows() -> Workflows {
    Arc::new(|name: &str| crate::embedded::find(name).map(|w| w.ir.clone()))
}

/// Finds `on-completion` workflows among those of the run's folder.
pub fn siblings(path: &std::path::Path, compile: &CompileArgs) -> Workflows {
    workflow_runtime::executor::definition::siblings(path, &compile.read_options())
}

/// Reports invalid input on the command line (exit code 2).
pub fn invalid(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(super::EXIT_INVALID)
}

/// The model layer of runs in `cwd`: the merged model config (built-in, user file, project file).
pub fn model_runtime(cwd: &std::path::Path) -> anyhow::Result<workflow_runtime::models::ModelRuntime> {
    let config = workflow_runtime::models::ModelConfig::load(cwd)?;
    Ok(workflow_runtime::models::ModelRuntime::new(config))
}

/// The executor's options from the command line: progress lines after each step, and
/// model answers streamed to stderr as they arrive (where the provider streams; an
/// `ai-prompt`'s response is not printed again in its progress line).
pub fn executor_options(cwd: Option<PathBuf>, shown: &super::progress::ProgressArgs) -> anyhow::Result<ExecutorOptions> {
    let cwd = match cwd {
        Some(dir) => dir,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let printer = super::progress::printer(shown);
    let terminal = workflow_runtime::human::terminal::TtyTerminal::open().map(|t| Arc::new(t) as Arc<dyn workflow_runtime::human::Terminal>);
    Ok(ExecutorOptions {
        cwd,
        operator: operator(),
        progress: Some(printer.progress),
        started: printer.started,
        stream: printer.stream,
        terminal: terminal.map(|t| Arc::new(super::progress::AfterProgress(t)) as Arc<dyn workflow_runtime::human::Terminal>),
        ..ExecutorOptions::default()
    })
}

/// The name of this program in hints (`workflow`, or the binary `workflow build` made).
pub fn program() -> &'static str {
    workflow_runtime::human::program_name()
}

/// Who runs this: $WORKFLOW_OPERATOR, else $USER.
pub fn operator() -> String {
    workflow_runtime::audit::operator()
}

/// A tokio runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// Prints how the run ended (with `--json`, as a JSON line on stdout) and returns its exit code.
pub fn report_outcome(report: &RunReport, shown: &super::progress::ProgressArgs) -> ExitCode {
    super::progress::end_line();
    if shown.json {
        let children: Vec<serde_json::Value> =
            report.children.iter().map(|c| serde_json::json!({ "run_id": c.run_id, "status": c.status, "reason": c.reason })).collect();
        let line = serde_json::json!({ "event": "run", "run_id": report.run_id, "status": report.status, "reason": report.reason, "children": children });
        println!("{line}");
        return exit_code(report.status);
    }
    for child in &report.children {
        let reason = child.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        eprintln!("  started by on-completion: run {} {}{reason}", child.run_id, child.status.as_str());
    }
    let reason = report.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
    let line = format!("run {} {}{reason}", report.run_id, report.status.as_str());
    match report.status {
        RunStatus::Completed => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        RunStatus::Failed => {
            eprintln!("{line}\n  resume it with: {} resume {}", program(), report.run_id);
            ExitCode::FAILURE
        }
        RunStatus::Waiting => {
            eprintln!("{line}");
            ExitCode::from(EXIT_WAITING)
        }
        RunStatus::Paused => {
            eprintln!("{line}\n  resume it with: {} resume {}", program(), report.run_id);
            ExitCode::from(EXIT_PAUSED)
        }
        RunStatus::Cancelled => {
            eprintln!("{line}");
            ExitCode::from(EXIT_CANCELLED)
        }
        RunStatus::Running => {
            eprintln!("{line}");
            ExitCode::FAILURE
        }
    }
}

/// The exit code of a run that ended as `status`.
fn exit_code(status: RunStatus) -> ExitCode {
    match status {
        RunStatus::Completed => ExitCode::SUCCESS,
        RunStatus::Failed | RunStatus::Running => ExitCode::FAILURE,
        RunStatus::Waiting => ExitCode::from(EXIT_WAITING),
        RunStatus::Paused => ExitCode::from(EXIT_PAUSED),
        RunStatus::Cancelled => ExitCode::from(EXIT_CANCELLED),
    }
}
