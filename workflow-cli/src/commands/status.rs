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
    // Models: the current and starting ones, every one that answered, and what they cost.
    let run = workflow_runtime::models::RunModels::from_state(&record.state);
    let used: Vec<&str> = {
        let mut used: Vec<&str> = events.iter().filter_map(|e| e.output.get("model").and_then(|m| m.as_str())).collect();
        used.dedup();
        let mut seen = std::collections::BTreeSet::new();
        used.retain(|m| seen.insert(*m));
        used
    };
    if let Some(current) = &run.model {
        let started = run.original.as_ref().filter(|o| *o != current).map(|o| format!(" (started with {o})")).unwrap_or_default();
        let _ = writeln!(out, "model:    {current}{started}");
    }
    if !used.is_empty() {
        let _ = writeln!(out, "models:   {}", used.join(", "));
    }
    if run.usage.input_tokens + run.usage.output_tokens > 0 {
        let cost = if run.cost_usd > 0.0 { format!(", ${:.4}", run.cost_usd) } else { String::new() };
        let _ = writeln!(out, "usage:    {} tokens in, {} out{cost}", run.usage.input_tokens, run.usage.output_tokens);
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
        let model = e.output.get("model").and_then(|m| m.as_str()).map(|m| format!(" [{m}]")).unwrap_or_default();
        let error = e.error.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
        let _ = writeln!(out, "  {:>4}. {} {outcome}{took}{model}{error}", e.seq, e.step_id);
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
            let _ = writeln!(out, "  answer with: {} {}", super::run::program(), verb.replace("RUN", &record.id));
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
    /// Only runs started on this day (YYYY-MM-DD, UTC)
    #[arg(long, value_name = "DATE", conflicts_with_all = ["since", "until"])]
    pub date: Option<String>,
    /// Only runs started on or after this day (YYYY-MM-DD, UTC)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only runs started before this day (YYYY-MM-DD, UTC)
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
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
    let day = |flag: &str, text: &Option<String>| -> Result<Option<u64>, String> {
        text.as_deref().map(|t| day_start_ms(t).ok_or_else(|| format!("--{flag} {t}: write a day as YYYY-MM-DD"))).transpose()
    };
    let (since_ms, until_ms) = match (day("date", &args.date), day("since", &args.since), day("until", &args.until)) {
        (Ok(Some(date)), _, _) => (Some(date), Some(date + DAY_MS)),
        (Ok(None), Ok(since), Ok(until)) => (since, until),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Ok(super::run::invalid(&e)),
    };
    let filter = RunFilter { workflow: args.workflow.clone(), status, limit: Some(args.limit), since_ms, until_ms };
    let runs = store.list_runs(&filter)?;
    if args.json {
        print(&(serde_json::to_string_pretty(&runs)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for r in &runs {
        let _ = writeln!(out, "{}  {:<10} {:<24} {}", r.id, r.status.as_str(), r.workflow, utc_time(r.created_at_ms));
    }
    if runs.is_empty() {
        out.push_str("no runs\n");
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

const DAY_MS: u64 = 86_400_000;

/// Midnight UTC of day `YYYY-MM-DD`, in Unix milliseconds.
fn day_start_ms(text: &str) -> Option<u64> {
    let mut parts = text.trim().splitn(3, '-');
    let (y, m, d): (i64, i64, i64) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    u64::try_from(days_from_civil(y, m, d)).ok().map(|days| days * DAY_MS)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD HH:MM` (UTC) of Unix milliseconds.
fn utc_time(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // The inverse of days_from_civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rest / 3600, rest % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_read_and_print_in_utc() {
        assert_eq!(day_start_ms("1970-01-01"), Some(0));
        assert_eq!(day_start_ms("2026-11-21"), Some(1_795_219_200_000));
        assert_eq!(utc_time(1_795_219_200_000 + 13 * 3_600_000 + 5 * 60_000), "2026-11-21 13:05");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00");
        assert_eq!(day_start_ms("2026-13-01"), None);
        assert_eq!(day_start_ms("yesterday"), None);
    }
}
