//! A release workflow written in Rust with `workflow!`, run to its end by the
//! durable executor, offline.
//!
//! Two of its steps are custom actions, bound to async Rust functions by path
//! (`custom(next_version)`): a misspelled function is a compile error, and so
//! is a jump to a step that does not exist or a loop without a bound. A
//! closure over the typed outputs decides when the release is healthy.
//!
//! `cargo run -p rust-dsl-example [STORE]` prints each step as it ends, then
//! how the run ended and its variables. Every step is checkpointed in a SQLite
//! store (STORE, default `rust-dsl-example.db` in the temporary directory),
//! which the `workflow` CLI reads too: `workflow status RUN --store STORE`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use workflow::actions::Actions;
use workflow::engine::MachineEngine;
use workflow::executor::{Executor, ExecutorOptions, RunReport, StartOptions, StepReport};
use workflow::permissions::{Consent, PermissionsConfig};
use workflow::store::sqlite::{SqliteOptions, SqliteStore};
use workflow::store::{RunStatus, Store};
use workflow::{workflow, ActionError, ActionInput, Machine};

/// The next semantic version after `current`, from the kinds of the `changes`
/// (conventional commits: `feat:` is minor, `fix:` is patch, `!` is major).
async fn next_version(input: ActionInput) -> Result<serde_json::Value, ActionError> {
    let current = input.params.get("current").and_then(|v| v.as_str()).ok_or("`current` must be a version such as 1.4.2")?;
    let numbers: Vec<u64> = current.split('.').map(str::parse).collect::<Result<_, _>>().map_err(|_| format!("`{current}` is not a version"))?;
    let [major, minor, patch] = numbers[..] else { return Err(format!("`{current}` is not MAJOR.MINOR.PATCH").into()) };
    let changes: Vec<&str> = input.variables.get("changes").and_then(|c| c.as_array()).into_iter().flatten().filter_map(|c| c.as_str()).collect();
    let kind_of = |change: &&str| change.split(':').next().unwrap_or_default().to_string();
    let (version, bump) = if changes.iter().any(|c| kind_of(c).ends_with('!')) {
        (format!("{}.0.0", major + 1), "major")
    } else if changes.iter().any(|c| kind_of(c) == "feat") {
        (format!("{major}.{}.0", minor + 1), "minor")
    } else {
        (format!("{major}.{minor}.{}", patch + 1), "patch")
    };
    Ok(serde_json::json!({ "version": version, "bump": bump, "changes": changes.len() }))
}

/// Whether the deployed version answers as healthy. Simulated, so the example
/// runs offline: it warms up for two probes, then reports healthy.
async fn probe_health(input: ActionInput) -> Result<serde_json::Value, ActionError> {
    let version = input.params.get("version").and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let earlier_probes = input.variables.get("probes").and_then(|p| p.as_i64()).unwrap_or(0);
    let healthy = earlier_probes >= 2;
    Ok(serde_json::json!({ "version": version, "healthy": healthy, "status": if healthy { "ok" } else { "warming up" } }))
}

workflow! {
    name: "release",
    description: "Pick the next version from the changes, build it, and probe it until it is healthy",
    variables: {
        version: "1.4.2",
        changes: ["fix: retry on 503", "feat: an audit log of every run"],
        probes: 0,
    },
    steps: [
        plan: custom(next_version) { current: "${version}", set: { version: "plan.version" } },
        build: shell { command: "echo building ${version}" },
        probe: custom(probe_health) {
            version: "${version}",
            set: { probes: "probes + 1" },
            check: |_, steps| steps.probe.0["healthy"] == true,
            on_true: done,
        },
        again: loop { to: probe, condition: |vars, _| vars.probes < 5, max_iterations: 5, on_exhausted: rollback },
        rollback: end { status: failed, message: "version ${version} never became healthy" },
        done: end,
    ],
}

/// How a run of the release ended: the executor's report and the variables it left.
struct Ended {
    report: RunReport,
    variables: serde_json::Value,
}

/// The built-in actions, plus the function behind every custom step of machine `M`
/// (registered under the step's action name, which is the function's name).
fn actions_of<M: Machine>() -> Actions {
    let mut actions = Actions::builtin();
    for (index, step) in M::ir().steps.iter().enumerate() {
        if let Some(function) = M::step_at(index).and_then(M::custom_action) {
            actions.register_fn(step.action.clone(), function);
        }
    }
    actions
}

/// Runs the release through the executor (its generated machine, checkpoints in the store at `store`) and reports each step to `progress`.
async fn run_release(store: &Path, progress: impl Fn(&StepReport) + Send + Sync + 'static) -> Result<Ended, Box<dyn std::error::Error>> {
    let store = Arc::new(SqliteStore::open(store, SqliteOptions::default())?);
    // Shell steps and custom actions are sensitive: they run because these permissions are
    // allowed, as a config file's `permissions: allow` would (a custom step's permission is its action name).
    let allow = ["next_version", "probe_health", "shell:echo building ${version}"].map(String::from).to_vec();
    let consent = Consent { yes: false, patterns: PermissionsConfig { allow, deny: vec![] } };
    let options = ExecutorOptions { operator: "rust-dsl-example".to_string(), consent, progress: Some(Arc::new(progress)), ..ExecutorOptions::default() };
    let executor = Executor::new(store.clone(), actions_of::<release::Machine>(), options);
    let engine = Box::new(MachineEngine::<release::Machine>::new());
    let report = executor.start(engine, StartOptions::default()).await?;
    let record = store.load_run(&report.run_id)?.ok_or("the run is not in the store")?;
    Ok(Ended { report, variables: record.state["variables"].clone() })
}

#[tokio::main]
async fn main() -> Result<std::process::ExitCode, Box<dyn std::error::Error>> {
    let store = std::env::args_os().nth(1).map_or_else(|| std::env::temp_dir().join("rust-dsl-example.db"), PathBuf::from);
    let ended = run_release(&store, |step| {
        let output = serde_json::to_string(&step.output).unwrap_or_default();
        println!("  {:<8} {:<13} {:?}  {output}", step.step_id, step.action, step.outcome);
    })
    .await?;
    let reason = ended.report.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
    println!("run {} {}{reason}", ended.report.run_id, ended.report.status.as_str());
    println!("trace: {}", ended.report.trace.join(" -> "));
    println!("variables: {}", ended.variables);
    println!("checkpoints: workflow status {} --store {}", ended.report.run_id, store.display());
    Ok(if ended.report.status == RunStatus::Completed { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A store file of its own for one test, removed when dropped.
    struct TempStore(PathBuf);

    impl TempStore {
        fn new(test: &str) -> TempStore {
            TempStore(std::env::temp_dir().join(format!("rust-dsl-example-{test}-{}.db", std::process::id())))
        }
    }

    impl Drop for TempStore {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
            }
        }
    }

    #[tokio::test]
    async fn the_release_picks_a_minor_version_and_completes_once_healthy() {
        let outputs = Arc::new(Mutex::new(Vec::new()));
        let seen = outputs.clone();
        let store = TempStore::new("release");
        let ended = run_release(&store.0, move |step| seen.lock().unwrap().push((step.step_id.clone(), step.output.clone()))).await.unwrap();
        assert_eq!(ended.report.status, RunStatus::Completed, "{:?}", ended.report.reason);
        assert_eq!(ended.report.trace, ["plan", "build", "probe", "again", "probe", "again", "probe", "done"]);
        assert_eq!(ended.variables["version"], "1.5.0", "a `feat:` change bumps the minor version");
        assert_eq!(ended.variables["probes"], 3);
        let outputs = outputs.lock().unwrap();
        let build = outputs.iter().find(|(id, _)| id == "build").expect("the build ran");
        assert_eq!(build.1["stdout"], "building 1.5.0\n", "the shell step saw the version the custom action chose");
        let healthy: Vec<bool> = outputs.iter().filter(|(id, _)| id == "probe").map(|(_, o)| o["healthy"] == true).collect();
        assert_eq!(healthy, [false, false, true]);
    }

    #[tokio::test]
    async fn a_breaking_change_bumps_the_major_version() {
        let params = serde_json::json!({ "current": "1.4.2" }).as_object().cloned().unwrap_or_default();
        let variables = serde_json::json!({ "changes": ["feat!: drop the v1 API", "fix: typo"] }).as_object().cloned().unwrap_or_default();
        let out = next_version(ActionInput { step: "plan".into(), params, variables }).await.unwrap();
        assert_eq!((out["version"].as_str(), out["bump"].as_str()), (Some("2.0.0"), Some("major")));
    }
}
