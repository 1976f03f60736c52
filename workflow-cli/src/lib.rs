//! The `workflow` command line, as a library: the `workflow` binary is
//! [`main`], and a binary made by `workflow build` is [`main_with`] its
//! workflows compiled in (the same subcommands, typed machines inside).
//!
//! Each subcommand lives in its own module under `commands`; this file only
//! parses the command line and turns the outcome into an exit code.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod commands;
pub mod embedded;

const EXAMPLES: &str = "\
Examples:
  workflow validate workflows/              check every workflow of a folder, as one set
  workflow validate a.yaml b.yaml --json    check two files together, result as JSON
  workflow new ship -t test-fix-loop        start ./workflows/ship.yaml from a template (or --describe TEXT)
  workflow show pr-review-loop              summary of ./workflows/pr-review-loop.yaml
  workflow show flow.yaml --format mermaid  flowchart for a Markdown file
  workflow run build-and-test               run ./workflows/build-and-test.yaml
  workflow pause 0192                       from another shell: pause after the current step
  workflow resume build-and-test            continue its newest resumable run
  workflow status 0192                      where a run is, and its history
  workflow build workflows/ -o deploy-bot   a binary with these workflows compiled in
  workflow approve 0192 -m 'looks right'    approve the gate a run waits at; the run goes on
  workflow answer 0192 staging              answer the prompt a run waits at
  workflow token create alice               a token for alice to sign in to `workflow serve` with
  workflow serve --public-url URL           web pages and an API for runs and approvals

The run store is a SQLite file: --store FILE, or $WORKFLOW_STORE, else
$XDG_DATA_HOME/workflow/runs.db (~/.local/share/workflow/runs.db).

Exit codes: 0 success (run completed), 1 failure (run failed), 2 invalid
workflow or input, 3 run waiting for a person, 4 run paused, 5 run cancelled.";

/// Typed, durable, model-aware workflows: YAML files checked like code.
#[derive(Debug, Parser)]
#[command(name = "workflow", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check workflow files for errors, as a compiler would
    Validate(commands::validate::Args),
    /// Rewrite workflow files to the canonical spelling (kebab-case keys, `${..}`), keeping comments and layout
    Fmt(commands::fmt::Args),
    /// The workflows that can be run by name here: ./workflows, ./.workflow/workflows, the user's folder
    List(commands::list::Args),
    /// Start a workflow file from a template, or have a model draft one from a description
    New(commands::new::Args),
    /// Print a workflow: summary, flowchart (Mermaid or DOT) or IR as JSON
    Show(commands::show::Args),
    /// Start a run of a workflow and drive it to its end
    Run(commands::run::Args),
    /// Continue a paused, failed, interrupted or waiting run
    Resume(commands::resume::Args),
    /// Approve what a waiting run asks: a gate, or consent for a sensitive step (then the run goes on)
    Approve(commands::answer::DecideArgs),
    /// Reject what a waiting run asks (a rejected gate outputs approved = false; refused consent fails the step)
    Reject(commands::answer::DecideArgs),
    /// Answer a waiting run's prompt (`interactive` step) with a value (then the run goes on)
    Answer(commands::answer::AnswerArgs),
    /// Ask a run to pause after its current step, or at once with --now (from any shell)
    Pause(commands::control::Args),
    /// Stop a run for good after its current step, or at once with --now (from any shell)
    Cancel(commands::control::Args),
    /// Where a run is: its steps, the current one marked, and its history
    Status(commands::status::StatusArgs),
    /// List runs, newest first
    Runs(commands::status::RunsArgs),
    /// Two runs side by side: before, after, delta, anomalies (`*` marks what differs)
    Diff(commands::diff::Args),
    /// Serve a web page and an HTTP API over the run store: runs, their audit records, approvals
    Serve(commands::serve::Args),
    /// Make, list and revoke the tokens people sign in to `workflow serve` with
    Token(commands::token::Args),
    /// Compile workflow files into a standalone binary with these same subcommands (typed machines inside)
    Build(commands::build::Args),
    /// Print the JSON Schema of workflow files (for editors: yaml-language-server and others)
    Schema,
    /// Print shell completions: workflow completions bash > ~/.local/share/bash-completion/completions/workflow
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

/// The `workflow` command.
pub fn main() -> ExitCode {
    // Progress and per-step spans: RUST_LOG=info (or debug) to see them.
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_writer(|| workflow_runtime::secrets::MaskedStderr).init();
    let program = workflow_runtime::human::program_name();
    let cli = if program == "workflow" {
        Cli::parse()
    } else {
        // A built binary's help and hints name it, not `workflow`.
        use clap::{CommandFactory, FromArgMatches};
        let command = Cli::command().name(program).bin_name(program).after_help(EXAMPLES.replace("workflow ", &format!("{program} ")));
        Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
    };
    let outcome = match &cli.command {
        Command::Validate(args) => commands::validate::run(args),
        Command::Fmt(args) => commands::fmt::run(args),
        Command::New(args) => commands::new::run(args),
        Command::Show(args) => commands::show::run(args),
        Command::List(args) => commands::list::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Resume(args) => commands::resume::run(args),
        Command::Approve(args) => commands::answer::decide(args, true),
        Command::Reject(args) => commands::answer::decide(args, false),
        Command::Answer(args) => commands::answer::answer(args),
        Command::Pause(args) => commands::control::run(args, false),
        Command::Cancel(args) => commands::control::run(args, true),
        Command::Status(args) => commands::status::status(args),
        Command::Runs(args) => commands::status::runs(args),
        Command::Diff(args) => commands::diff::run(args),
        Command::Build(args) => commands::build::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Token(args) => commands::token::run(args),
        Command::Schema => {
            commands::print(&(serde_json::to_string_pretty(&workflow_core::schema::json_schema()).unwrap_or_default() + "\n")).map(|()| ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(*shell, &mut Cli::command(), workflow_runtime::human::program_name(), &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    };
    outcome.unwrap_or_else(|e| {
        commands::progress::end_line();
        eprintln!("error: {}", error_chain(&e));
        ExitCode::FAILURE
    })
}

/// An error and its causes on one line, each cause left out when the text
/// before already says it (a store error that quotes its I/O error would
/// otherwise print it twice).
fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let said = cause.to_string();
        if text.contains(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    text
}

/// A binary made by `workflow build`: the `workflow` command with `workflows`
/// compiled in, naming itself (its file name, as it was run) in help and hints.
pub fn main_with(workflows: Vec<embedded::Embedded>) -> ExitCode {
    embedded::install(workflows);
    let name = std::env::args_os().next().and_then(|arg0| std::path::Path::new(&arg0).file_name().and_then(|n| n.to_str()).map(str::to_string));
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        workflow_runtime::human::set_program_name(name);
    }
    main()
}
