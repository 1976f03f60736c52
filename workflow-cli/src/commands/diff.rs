//! `workflow diff`: two runs side by side — what each started from, ended
//! with, changed, and whether that was expected.

use super::print;
use super::store::{find_run, ByName, StoreArgs};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::process::ExitCode;
use workflow_runtime::store::{RunRecord, Store};

/// Arguments of `workflow diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The first run (an id, a unique prefix of one, or a workflow name: its newest run)
    pub a: String,
    /// The second run
    pub b: String,
    /// Print both audit records and the differences as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The rows compared: (label, where in the record).
const FACTS: &[(&str, &str)] = &[
    ("status", "/output/status"),
    ("duration_ms", "/output/duration_ms"),
    ("steps_executed", "/output/steps_executed"),
    ("steps_completed", "/output/steps_completed"),
    ("steps_failed", "/output/steps_failed"),
];

/// Runs `workflow diff`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let load = |arg: &str| -> anyhow::Result<RunRecord> {
        let id = find_run(&store, arg, ByName::Newest)?;
        store.load_run(&id)?.ok_or_else(|| anyhow::anyhow!("run {id} disappeared"))
    };
    let (a, b) = (serde_json::to_value(load(&args.a)?)?, serde_json::to_value(load(&args.b)?)?);
    let sections = [
        ("before", "/input/state_snapshot"),
        ("expected", "/input/expected_work"),
        ("after", "/output/state_after"),
        ("delta", "/output/delta"),
        ("variables", "/state/variables"),
    ];
    if args.json {
        let mut out = Map::new();
        for (name, pointer) in sections.iter().chain(FACTS) {
            out.insert(name.to_string(), json!({ "a": a.pointer(pointer), "b": b.pointer(pointer) }));
        }
        out.insert("anomalies".into(), json!({ "a": a.pointer("/output/anomalies"), "b": b.pointer("/output/anomalies") }));
        print(&(serde_json::to_string_pretty(&json!({ "a": a["id"], "b": b["id"], "workflows": [a["workflow"], b["workflow"]], "compare": out }))? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    let _ = writeln!(out, "{:<24} {:<38} {}", "", text(&a["id"]), text(&b["id"]));
    let _ = writeln!(out, "{:<24} {:<38} {}", "workflow", text(&a["workflow"]), text(&b["workflow"]));
    for (label, pointer) in FACTS {
        row(&mut out, label, a.pointer(pointer), b.pointer(pointer));
    }
    for (name, pointer) in sections {
        let keys: BTreeSet<&String> = [&a, &b].iter().filter_map(|r| r.pointer(pointer)?.as_object()).flat_map(|m| m.keys()).collect();
        if keys.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{name}:");
        for key in keys {
            let get = |r: &Value| r.pointer(pointer).and_then(|m| m.get(key.as_str())).cloned();
            row(&mut out, &format!("  {key}"), get(&a).as_ref(), get(&b).as_ref());
        }
    }
    let anomalies = |r: &Value| r.pointer("/output/anomalies").and_then(Value::as_array).map_or(0, Vec::len);
    row(&mut out, "anomalies", Some(&json!(anomalies(&a))), Some(&json!(anomalies(&b))));
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn row(out: &mut String, label: &str, a: Option<&Value>, b: Option<&Value>) {
    let (x, y) = (a.map_or("-".to_string(), text), b.map_or("-".to_string(), text));
    let mark = if x == y { " " } else { "*" };
    let _ = writeln!(out, "{mark} {label:<22} {x:<38} {y}");
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}
