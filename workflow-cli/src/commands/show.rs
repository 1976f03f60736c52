//! `workflow show PATH|NAME`: what a workflow declares and where each step
//! goes, as text, a flowchart (Mermaid, DOT) or its IR as JSON.

use super::{print, report_invalid, CompileArgs};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use workflow_core::graph;
use workflow_core::ir::{FlowIr, StepIr, Target, WorkflowIr};
use workflow_core::read::ReadOptions;
use workflow_core::set::Compiled;
use workflow_core::{Diagnostic, Diagnostics, Span};

const EXAMPLES: &str = "\
A NAME is looked up as ./workflows/NAME.yaml, then ./.workflow/workflows/NAME.yaml,
then in the user's folder ($XDG_CONFIG_HOME/workflow/workflows, else
~/.config/workflow/workflows), .yml too (`workflow list` shows what is found).
The workflow is checked first: an invalid one is reported, not shown.

Examples:
  workflow show pr-review-loop                     summary and steps
  workflow show flow.yaml --format mermaid         flowchart for Markdown
  workflow show flow.yaml --format dot | dot -Tsvg > flow.svg
  workflow show flow.yaml --format json            the checked IR, as run

Exit codes: 0 shown, 2 not found or invalid (errors on stderr), 1 other failure.";

/// Where a workflow given by name is looked for, in order: the project's
/// `./workflows` and `./.workflow/workflows`, then the user's folder.
pub(crate) fn name_folders() -> Vec<PathBuf> {
    let mut folders = vec![PathBuf::from("workflows"), PathBuf::from(".workflow/workflows")];
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(config) = set("XDG_CONFIG_HOME").filter(|p| p.is_absolute()).or_else(|| set("HOME").map(|home| home.join(".config"))) {
        folders.push(config.join("workflow").join("workflows"));
    }
    folders
}

/// Arguments of `workflow show`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// A workflow file (or folder), or the NAME of a workflow of this project
    #[arg(value_name = "PATH|NAME")]
    pub workflow: String,
    /// What to print
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub compile: CompileArgs,
}

/// The forms `show` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Name, description, hash, variables, models and the steps with their jumps
    Text,
    /// A Mermaid flowchart
    Mermaid,
    /// A Graphviz digraph
    Dot,
    /// The lowered workflow (IR) as JSON
    Json,
}

/// Finds, compiles and prints the workflow.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(embedded) = crate::embedded::find(&args.workflow) {
        let ir = &*embedded.ir;
        let output = match args.format {
            Format::Text => summary(ir, "(compiled into this binary)"),
            Format::Mermaid => graph::to_mermaid(ir),
            Format::Dot => graph::to_dot(ir),
            Format::Json => serde_json::to_string_pretty(ir)? + "\n",
        };
        print(&output)?;
        return Ok(ExitCode::SUCCESS);
    }
    let path = match locate(&args.workflow) {
        Ok(path) => path,
        Err(missing) => return Ok(report_invalid(missing)),
    };
    let compiled = match compile(&path, &args.compile.read_options()) {
        Ok(compiled) => compiled,
        Err(diags) => return Ok(report_invalid(diags)),
    };
    let irs: Vec<&WorkflowIr> = compiled.iter().map(|c| &c.ir).collect();
    let output = match args.format {
        Format::Text => compiled.iter().map(text).collect::<Vec<_>>().join("\n"),
        Format::Mermaid => each(&irs, graph::to_mermaid),
        Format::Dot => each(&irs, graph::to_dot),
        Format::Json => match irs.as_slice() {
            [one] => serde_json::to_string_pretty(one)? + "\n",
            many => serde_json::to_string_pretty(many)? + "\n",
        },
    };
    print(&output)?;
    Ok(ExitCode::SUCCESS)
}

/// Compiles the workflow at `path`. A file that names workflows of its
/// folder (`on-completion`, `run-workflow`) only checks together with them,
/// as `validate FOLDER` does: then the folder is the set, and the file's
/// own errors are the ones reported if that fails too.
pub(crate) fn compile(path: &Path, options: &ReadOptions) -> Result<Vec<Compiled>, Diagnostics> {
    workflow_core::set::compile_file(path, options)
}

/// Renders each workflow (a folder may hold several), a blank line between them.
fn each(irs: &[&WorkflowIr], render: fn(&WorkflowIr) -> String) -> String {
    irs.iter().map(|ir| render(ir)).collect::<Vec<_>>().join("\n")
}

/// The file `arg` names: itself when it exists, else, for a bare name, the
/// first `NAME.yaml` / `NAME.yml` of the project's workflow folders.
pub(crate) fn locate(arg: &str) -> Result<PathBuf, Diagnostics> {
    let path = Path::new(arg);
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    let is_name = !arg.is_empty() && !arg.contains(['/', '\\']) && !matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
    let candidates: Vec<PathBuf> =
        if is_name { name_folders().iter().flat_map(|folder| ["yaml", "yml"].map(|ext| folder.join(format!("{arg}.{ext}")))).collect() } else { Vec::new() };
    if let Some(found) = candidates.iter().find(|c| c.is_file()) {
        return Ok(found.clone());
    }
    let diagnostic = if is_name {
        let looked: Vec<String> = candidates.iter().map(|c| if c.is_absolute() { c.display().to_string() } else { format!("./{}", c.display()) }).collect();
        Diagnostic::error(Span::Unknown, format!("no workflow file or workflow named `{arg}`"))
            .help(format!("looked for {}; give the path of a YAML file", looked.join(", ")))
    } else {
        Diagnostic::error(Span::Unknown, format!("no such file: {arg}"))
    };
    let mut diags = Diagnostics::new();
    diags.push(diagnostic);
    Err(diags)
}

/// The human summary: header fields, variables, models, then the numbered steps
/// (conditions as the user wrote them).
fn text(compiled: &Compiled) -> String {
    let checks: Vec<Option<String>> = compiled.model.steps.iter().map(|s| s.flow.check.as_ref().map(|c| c.text.clone())).collect();
    summary_with(&compiled.ir, "", &checks)
}

/// The text form of a workflow compiled in; `origin` follows its name.
fn summary(ir: &WorkflowIr, origin: &str) -> String {
    summary_with(ir, origin, &[])
}

/// The text form of `ir`, with each step's `check:` as written when known.
fn summary_with(ir: &WorkflowIr, origin: &str, checks: &[Option<String>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "name:        {}{}", ir.name, if origin.is_empty() { String::new() } else { format!("  {origin}") });
    if let Some(description) = &ir.description {
        let _ = writeln!(out, "description: {}", description.trim());
    }
    if let Some(version) = &ir.version {
        let _ = writeln!(out, "version:     {version}");
    }
    let _ = writeln!(out, "hash:        {}", ir.hash);
    if !ir.variables.is_empty() {
        out.push_str("variables:\n");
        for var in &ir.variables {
            let _ = match &var.default {
                Some(default) => writeln!(out, "  {}: {} = {default}", var.name, var.ty),
                None => writeln!(out, "  {}: {} (no default)", var.name, var.ty),
            };
        }
    }
    if !ir.models.is_empty() {
        out.push_str("models:\n");
        for (alias, target) in &ir.models {
            let _ = writeln!(out, "  {alias} = {target}");
        }
    }
    if let Some(budget) = &ir.budget {
        let limits: Vec<String> = [budget.tokens.map(|t| format!("{t} tokens")), budget.usd.map(|usd| format!("${usd:.2}"))].into_iter().flatten().collect();
        let _ = writeln!(out, "budget:      {}", limits.join(", "));
    }
    if !ir.on_completion.is_empty() {
        out.push_str("on completion:\n");
        for trigger in &ir.on_completion {
            let _ = match &trigger.condition {
                Some(condition) => writeln!(out, "  {} when {condition}", trigger.workflow),
                None => writeln!(out, "  {}", trigger.workflow),
            };
        }
    }
    out.push_str("steps:\n");
    let number_width = ir.steps.len().to_string().len();
    let id_width = ir.steps.iter().map(|s| s.id.chars().count()).max().unwrap_or(0);
    let action_width = ir.steps.iter().map(|s| s.action.chars().count()).max().unwrap_or(0);
    for (i, step) in ir.steps.iter().enumerate() {
        let written = checks.get(i).and_then(|c| c.as_deref());
        let _ = writeln!(out, "  {:>number_width$}. {:<id_width$}  {:<action_width$}  -> {}", i + 1, step.id, step.action, jumps(ir, step, written));
    }
    out
}

/// Where a step goes: `s2`, `true: s11, false: s8`, `loop: s2, next: s11, exhausted: FAIL`,
/// followed by the condition and bounds in parentheses.
fn jumps(ir: &WorkflowIr, step: &StepIr, written: Option<&str>) -> String {
    let name = |target: Target| match target {
        Target::Step(i) => ir.steps.get(i).map_or_else(|| format!("#{i}"), |s| s.id.clone()),
        Target::Complete => "END".to_string(),
        Target::Fail => "FAIL".to_string(),
    };
    let mut parts = Vec::new();
    let mut notes = Vec::new();
    let on_error = match &step.flow {
        FlowIr::Goto { next, on_error } => {
            parts.push(name(*next));
            Some(*on_error)
        }
        FlowIr::Branch { check, on_true, on_false, on_error } => {
            parts.push(format!("true: {}", name(*on_true)));
            parts.push(format!("false: {}", name(*on_false)));
            notes.push(format!("check: {}", written.map_or_else(|| check.to_string(), str::to_string)));
            Some(*on_error)
        }
        FlowIr::Loop { condition, to, max, next, on_exhausted, on_error } => {
            parts.push(format!("loop: {}", name(Target::Step(*to))));
            parts.push(format!("next: {}", name(*next)));
            parts.push(format!("exhausted: {}", name(*on_exhausted)));
            notes.push(format!("while {}, max {max}", written.map_or_else(|| condition.to_string(), str::to_string)));
            Some(*on_error)
        }
        FlowIr::End { failed } => {
            parts.push(name(if *failed { Target::Fail } else { Target::Complete }));
            None
        }
    };
    if let Some(max) = step.max_visits {
        parts.push(format!("exhausted: {}", name(step.on_exhausted)));
        notes.push(format!("runs at most {max} times"));
    }
    // Failing is what an error does by default; only a handled error is news.
    if let Some(target) = on_error.filter(|t| *t != Target::Fail) {
        parts.push(format!("error: {}", name(target)));
    }
    let mut line = parts.join(", ");
    if !notes.is_empty() {
        let _ = write!(line, "  ({})", notes.join("; "));
    }
    line
}
