//! `workflow status` (one run: where it is, its history) and `workflow runs` (the list).

use super::print;
use super::store::{find_run, ByName, StoreArgs};
use std::fmt::Write as _;
use std::process::ExitCode;
use workflow_runtime::store::{RunFilter, RunStatus, Store};

/// Arguments of `workflow status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// A run id (or a unique prefix), or a workflow name (its newest run)
    pub run: String,
    /// Print the run record and its step events as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs `workflow status`.
pub fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let run_id = find_run(&store, &args.run, ByName::Newest)?;
    let record = store.load_run(&run_id)?.ok_or_else(|| anyhow::anyhow!("run {run_id} disappeared"))?;
    let events = store.events(&run_id)?;
    let questions = store.questions(&run_id)?;
    if args.json {
        let decisions = workflow_runtime::audit::decisions(&questions);
        print(&(serde_json::to_string_pretty(&serde_json::json!({ "run": record, "events": events, "questions": decisions }))? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    let _ = writeln!(out, "run:      {}", record.id);
    let _ = writeln!(out, "workflow: {}  (definition {})", record.workflow, &record.definition_hash[..12.min(record.definition_hash.len())]);
    let _ = writeln!(out, "status:   {}{}", record.status.as_str(), record.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default());
    if let Some(parent) = &record.parent_run_id {
        let _ = writeln!(out, "parent:   {parent}");
    }
    let steps: Vec<String> = record
        .definition
        .get("steps")
        .and_then(|s| s.as_array())
        .map(|s| s.iter().filter_map(|s| s.get("id")?.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let current = match (&record.open, record.target) {
        (Some(open), _) => Some(open.step),
        (None, workflow_core::ir::Target::Step(i)) if record.status != RunStatus::Completed => Some(i),
        _ => None,
    };
    out.push_str("steps:\n");
    for (i, id) in steps.iter().enumerate() {
        let runs = events.iter().filter(|e| e.step == i).count();
        let marker = if current == Some(i) { ">" } else { " " };
        let _ = writeln!(out, "  {marker} {id}{}", if runs > 0 { format!("  (ran {runs}x)") } else { String::new() });
    }
    out.push_str("history:\n");
    for e in &events {
        let outcome = e.outcome.map_or("started", |o| match o {
            workflow_runtime::store::StepOutcome::Completed => "completed",
            workflow_runtime::store::StepOutcome::Failed => "failed",
            workflow_runtime::store::StepOutcome::Skipped => "skipped",
        });
        let took = e.duration_ms.map(|d| format!(" in {d} ms")).unwrap_or_default();
        let error = e.error.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
        let _ = writeln!(out, "  {:>4}. {} {outcome}{took}{error}", e.seq, e.step_id);
    }
    if !questions.is_empty() {
        out.push_str("people:\n");
        for q in &questions {
            let r = &q.request;
            let answered = match &q.answer {
                None => "waiting for an answer".to_string(),
                Some(a) => {
                    let said = match (a.approved, &a.value) {
                        (Some(true), _) => "approved".to_string(),
                        (Some(false), _) => "rejected".to_string(),
                        (None, _) if r.input.as_ref().is_some_and(|i| i.input_type == workflow_runtime::human::InputType::Password) => {
                            "answered (hidden)".to_string()
                        }
                        (None, Some(v)) => format!("answered {v}"),
                        (None, None) => "answered".to_string(),
                    };
                    let comment = a.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default();
                    format!("{said} by {}{comment}", a.operator)
                }
            };
            let _ = writeln!(out, "  {:>4}. {} {} \"{}\": {answered}", r.seq, r.step_id, r.kind.as_str(), r.message);
        }
        if let Some(open) = questions.iter().rev().find(|q| q.answer.is_none()) {
            let verb = if open.request.kind == workflow_runtime::human::RequestKind::Input { "answer RUN VALUE" } else { "approve RUN (or reject RUN)" };
            let _ = writeln!(out, "  answer with: workflow {}", verb.replace("RUN", &record.id));
        }
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `workflow runs`.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// Only runs of this workflow
    #[arg(long)]
    pub workflow: Option<String>,
    /// Only runs in this status (running, paused, waiting, completed, failed, cancelled)
    #[arg(long)]
    pub status: Option<String>,
    /// At most this many (newest first)
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs `workflow runs`.
pub fn runs(args: &RunsArgs) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let status = match &args.status {
        Some(word) => match RunStatus::parse(word) {
            Some(status) => Some(status),
            None => return Ok(super::run::invalid(&format!("unknown status `{word}`: use running, paused, waiting, completed, failed or cancelled"))),
        },
        None => None,
    };
    let filter = RunFilter { workflow: args.workflow.clone(), status, limit: Some(args.limit), ..RunFilter::default() };
    let runs = store.list_runs(&filter)?;
    if args.json {
        print(&(serde_json::to_string_pretty(&runs)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for r in &runs {
        let _ = writeln!(out, "{}  {:<10} {}", r.id, r.status.as_str(), r.workflow);
    }
    if runs.is_empty() {
        out.push_str("no runs\n");
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}
