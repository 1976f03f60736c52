//! What the store tests share: owners, runs, step records and store files.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use serde_json::json;
use std::path::{Path, PathBuf};
use workflow_runtime::human::{Request, RequestKind};
use workflow_runtime::ir::Target;
use workflow_runtime::store::sqlite::{SqliteOptions, SqliteStore};
use workflow_runtime::store::{Fence, LeaseOwner, NewRun, StepEnd, StepOutcome, StepStart};

pub mod postgres;

pub const HOST: &str = "test-host";

pub fn owner(id: &str) -> LeaseOwner {
    LeaseOwner { id: id.to_owned(), pid: std::process::id(), host: HOST.to_owned() }
}

/// The lease `owner` holds at `epoch`.
pub fn fence(owner: &str, epoch: u64) -> Fence {
    Fence { owner: owner.to_owned(), epoch }
}

/// A gate question of run `run`, asked at execution `seq`.
pub fn gate_request(run: &str, seq: u64) -> Request {
    Request {
        kind: RequestKind::Gate,
        run_id: run.to_owned(),
        workflow: "wf".to_owned(),
        step_id: "gate".to_owned(),
        seq,
        message: "Ship it?".to_owned(),
        input: None,
        permission: None,
        approvers: Vec::new(),
        measured: None,
    }
}

pub fn start(seq: u64, step: usize) -> StepStart {
    StepStart { seq, step, step_id: format!("step-{step}") }
}

pub fn new_run(id: &str, workflow: &str, owner: &LeaseOwner, lease_ms: u64) -> NewRun {
    NewRun {
        id: id.to_owned(),
        workflow: workflow.to_owned(),
        definition_hash: "hash-1".to_owned(),
        definition: json!({ "name": workflow }).to_string().into(),
        parent_run_id: None,
        cwd: Some("/work/project".to_owned()),
        source: None,
        input: json!({ "action": "run", "workflow": workflow }),
        state: json!({ "count": 0 }),
        target: Target::Step(0),
        first: Some(start(1, 0)),
        owner: owner.clone(),
        lease_ms,
    }
}

/// Ends execution `seq` successfully with `count` as the new state, going on to `next` (or completing).
pub fn end(seq: u64, count: u64, next: Option<StepStart>) -> StepEnd {
    let target = next.as_ref().map_or(Target::Complete, |next| Target::Step(next.step));
    StepEnd {
        seq,
        outcome: StepOutcome::Completed,
        output: json!({ "stdout": format!("ran {seq}") }),
        error: None,
        attempts: 1,
        duration_ms: 7,
        state: Some(json!({ "count": count })),
        target,
        next,
    }
}

pub fn open_store(path: &Path) -> SqliteStore {
    SqliteStore::open(path, SqliteOptions::default()).unwrap()
}

pub fn store_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("runs.db")
}

// ---------------------------------------------------------------------------
// The rules, written once and run on both stores.
