//! `workflow validate PATH...`: compile workflows and report every mistake
//! in them, as a compiler would.

use super::{print, report_invalid, CompileArgs, EXIT_INVALID};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use workflow_core::read::ReadOptions;
use workflow_core::set::{compile_paths, yaml_files, Compiled};
use workflow_core::{Diagnostic, Diagnostics, Span};

const EXAMPLES: &str = "\
Files given together form one set, and each folder (its *.yaml and *.yml
files) is a set of its own: `on-completion` and `run-workflow` resolve
within a set.

Examples:
  workflow validate review.yaml             one file
  workflow validate workflows/              every workflow of a folder
  workflow validate a.yaml b.yaml           two files that refer to each other
  workflow validate workflows/ --json       {\"valid\": .., \"workflows\"|\"errors\": [..]}

Exit codes: 0 all valid, 2 errors found (listed on stderr), 1 other failure.";

/// Arguments of `workflow validate`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Workflow files, or folders of them
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Print nothing on success (errors still go to stderr)
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,
    /// Print the result, errors included, as JSON on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub compile: CompileArgs,
}

/// Compiles every set named by the arguments and reports the outcome.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let options = args.compile.read_options();
    let mut workflows = Vec::new();
    let mut diags = Diagnostics::new();
    for set in sets(&args.paths) {
        match compile_set(&set, &options) {
            Ok(compiled) => workflows.extend(compiled),
            Err(errors) => diags.extend(errors),
        }
    }
    diags.sort();

    if args.json {
        print(&(serde_json::to_string_pretty(&report(&workflows, &diags))? + "\n"))?;
        let code = if diags.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_INVALID) };
        return Ok(code);
    }
    if !args.quiet {
        print(&listing(&workflows, diags.is_empty()))?;
    }
    if diags.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(report_invalid(diags))
    }
}

/// The sets to compile: all files given, together; each folder on its own.
fn sets(paths: &[PathBuf]) -> Vec<Vec<PathBuf>> {
    let (folders, files): (Vec<PathBuf>, Vec<PathBuf>) = paths.iter().cloned().partition(|p| p.is_dir());
    let mut sets = Vec::new();
    if !files.is_empty() {
        sets.push(files);
    }
    sets.extend(folders.into_iter().map(|folder| vec![folder]));
    sets
}

/// Compiles one set; a folder without workflows is a mistake, not a success.
fn compile_set(set: &[PathBuf], options: &ReadOptions) -> Result<Vec<Compiled>, Diagnostics> {
    let mut diags = Diagnostics::new();
    for folder in set.iter().filter(|p| p.is_dir()) {
        if yaml_files(folder).is_ok_and(|files| files.is_empty()) {
            diags.push(
                Diagnostic::error(Span::Unknown, format!("no workflow files in {}", folder.display()))
                    .help("a folder's workflows are its *.yaml and *.yml files"),
            );
        }
    }
    diags.into_result(())?;
    compile_paths(set, options)
}

/// `ok  NAME  (N steps)  PATH` per workflow, aligned, then the count when all passed.
fn listing(workflows: &[Compiled], all_valid: bool) -> String {
    let rows: Vec<(&str, String, &str)> =
        workflows.iter().map(|c| (c.ir.name.as_str(), format!("({})", count(c.ir.steps.len(), "step")), path_of(c))).collect();
    let name_width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let steps_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (name, steps, path) in rows {
        let _ = writeln!(out, "ok  {name:<name_width$}  {steps:<steps_width$}  {path}");
    }
    if all_valid {
        let _ = writeln!(out, "{} valid", count(workflows.len(), "workflow"));
    }
    out
}

/// `1 step`, `2 steps`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// The file a workflow was read from, as the user named it.
fn path_of(compiled: &Compiled) -> &str {
    compiled.model.source.as_ref().map_or("-", |s| s.path.as_str())
}

/// The `--json` report. Fields are in the order a reader wants them:
/// `valid` first, then what failed, then what passed.
#[derive(Serialize)]
struct Report<'a> {
    valid: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ErrorEntry<'a>>,
    /// The workflows of the sets that passed.
    workflows: Vec<WorkflowEntry<'a>>,
}

#[derive(Serialize)]
struct WorkflowEntry<'a> {
    name: &'a str,
    path: &'a str,
    steps: usize,
    hash: &'a str,
}

/// One diagnostic; `file`, `line`, `column` and `help` are null when unknown.
#[derive(Serialize)]
struct ErrorEntry<'a> {
    message: &'a str,
    file: Option<&'a str>,
    line: Option<usize>,
    column: Option<usize>,
    help: Option<&'a str>,
}

fn report<'a>(workflows: &'a [Compiled], diags: &'a Diagnostics) -> Report<'a> {
    Report {
        valid: diags.is_empty(),
        errors: diags.iter().map(error_entry).collect(),
        workflows: workflows.iter().map(|c| WorkflowEntry { name: &c.ir.name, path: path_of(c), steps: c.ir.steps.len(), hash: &c.ir.hash }).collect(),
    }
}

fn error_entry(d: &Diagnostic) -> ErrorEntry<'_> {
    let (line, column) = match d.span {
        Span::Text(t) => (Some(t.line), Some(t.column)),
        _ => (None, None),
    };
    ErrorEntry { message: &d.message, file: d.source.as_ref().map(|s| s.path.as_str()), line, column, help: d.help.as_deref() }
}
