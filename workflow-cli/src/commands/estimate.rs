//! `workflow run --estimate`: the expected model usage and cost of a run,
//! from the definition (which model each model step uses) and the completed
//! past runs of the same workflow in the store (what each step spent, and how
//! often it ran). Nothing is run.

use std::collections::BTreeMap;
use std::process::ExitCode;

use workflow_core::ir::WorkflowIr;
use workflow_runtime::models::{cost_usd, ModelRef, ModelRuntime};
use workflow_runtime::providers::Usage;
use workflow_runtime::store::{RunFilter, RunStatus, StepOutcome, Store};

/// Actions that ask a model.
const MODEL_ACTIONS: [&str; 4] = ["ai-prompt", "review-pr", "self-review", "make-changes"];

/// The model each model step of `ir` uses, read from the definition: its own
/// `model:`, else the model of the nearest `switch-model` above it (with a
/// literal `model:`), else the starting model. `None`: it cannot be told before the run.
fn step_models(ir: &WorkflowIr, models: &ModelRuntime) -> BTreeMap<String, Option<ModelRef>> {
    let starting = models.starting_model(ir).ok().flatten();
    let resolve = |name: &str| -> Option<ModelRef> {
        if name.trim() == "original" {
            starting.clone()
        } else if name.contains("${") {
            None
        } else {
            models.resolve(ir, name).ok()
        }
    };
    let mut current = starting.clone();
    let mut out = BTreeMap::new();
    for step in &ir.steps {
        if step.action == "switch-model" {
            current = step.params.get("model").and_then(|m| m.as_str()).and_then(resolve);
        } else if MODEL_ACTIONS.contains(&step.action.as_str()) {
            let model = match &step.model {
                Some(name) => resolve(name),
                None => current.clone(),
            };
            out.insert(step.id.clone(), model);
        }
    }
    out
}

fn usage_of(output: &serde_json::Value) -> Usage {
    output.get("usage").cloned().and_then(|u| serde_json::from_value(u).ok()).unwrap_or_default()
}

fn tokens(usage: Usage) -> u64 {
    usage.input_tokens + usage.output_tokens
}

fn usd(cost: Option<f64>) -> String {
    cost.map_or_else(|| "unpriced".to_string(), |c| format!("${c:.6}"))
}

/// Prints the estimate for a run of `ir`; exit code 0.
pub fn print(ir: &WorkflowIr, store: &impl Store, models: &ModelRuntime) -> anyhow::Result<ExitCode> {
    let step_models = step_models(ir, models);
    let filter = RunFilter { workflow: Some(ir.name.clone()), status: Some(RunStatus::Completed), ..RunFilter::default() };
    let past = store.list_runs(&filter)?;
    // Per past run, per step id: (times it ran, tokens spent).
    let mut per_run: Vec<BTreeMap<String, (u64, Usage)>> = Vec::new();
    for run in &past {
        let mut steps: BTreeMap<String, (u64, Usage)> = BTreeMap::new();
        for event in store.events(&run.id)? {
            if event.outcome != Some(StepOutcome::Completed) || !step_models.contains_key(&event.step_id) {
                continue;
            }
            let entry = steps.entry(event.step_id.clone()).or_default();
            let usage = usage_of(&event.output);
            entry.0 += 1;
            entry.1.input_tokens += usage.input_tokens;
            entry.1.output_tokens += usage.output_tokens;
        }
        per_run.push(steps);
    }
    let runs = per_run.len() as u64;
    println!("estimate for workflow `{}` (nothing is run)", ir.name);
    if step_models.is_empty() {
        println!("  no step asks a model: no model cost");
        return Ok(ExitCode::SUCCESS);
    }
    if runs == 0 {
        println!("  from the definition only: no completed past runs of `{}` in the store", ir.name);
    } else {
        println!("  from {runs} completed past run{} of `{}` (average per run)", if runs == 1 { "" } else { "s" }, ir.name);
    }
    let cost_of = |step: &str, usage: Usage| -> Option<f64> {
        let model = step_models.get(step)?.as_ref()?;
        cost_usd(models.config(), model, usage)
    };
    for step in ir.steps.iter().filter(|s| step_models.contains_key(&s.id)) {
        let model = step_models[&step.id].as_ref().map_or_else(|| "? (set at run time)".to_string(), ToString::to_string);
        let line = format!("  {:<20} {:<14} {:<24}", step.id, step.action, model);
        if runs == 0 {
            println!("{line} no past runs: unknown");
            continue;
        }
        let (times, usage) = per_run.iter().filter_map(|r| r.get(&step.id)).fold((0u64, Usage::default()), |(t, u), (n, v)| {
            (t + n, Usage { input_tokens: u.input_tokens + v.input_tokens, output_tokens: u.output_tokens + v.output_tokens })
        });
        let avg = Usage { input_tokens: usage.input_tokens / runs, output_tokens: usage.output_tokens / runs };
        println!(
            "{line} x{:.1}  ~{} tokens ({} in, {} out)  ~{}",
            times as f64 / runs as f64,
            tokens(avg),
            avg.input_tokens,
            avg.output_tokens,
            usd(cost_of(&step.id, avg))
        );
    }
    if runs == 0 {
        println!("  total: unknown (run it once to get an estimate)");
        return Ok(ExitCode::SUCCESS);
    }
    // Each past run's total at today's prices for the models above.
    let totals: Vec<(u64, Option<f64>)> = per_run
        .iter()
        .map(|steps| {
            let tokens_sum = steps.values().map(|(_, u)| tokens(*u)).sum();
            let cost = steps.iter().map(|(id, (_, u))| cost_of(id, *u)).sum::<Option<f64>>();
            (tokens_sum, cost)
        })
        .collect();
    let min_tokens = totals.iter().map(|t| t.0).min().unwrap_or(0);
    let avg_tokens = totals.iter().map(|t| t.0).sum::<u64>() / runs;
    let costs: Option<Vec<f64>> = totals.iter().map(|t| t.1).collect();
    let (min_cost, avg_cost) = match &costs {
        Some(c) => (Some(c.iter().copied().fold(f64::INFINITY, f64::min)), Some(c.iter().sum::<f64>() / runs as f64)),
        None => (None, None),
    };
    println!("  total: avg ~{avg_tokens} tokens, ~{}; min {min_tokens} tokens, {}", usd(avg_cost), usd(min_cost));
    Ok(ExitCode::SUCCESS)
}
