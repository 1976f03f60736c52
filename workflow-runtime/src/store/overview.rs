//! What people looking at many runs at once read (the pages of `workflow
//! serve`): a page of the run listing, a run's children, counts by status,
//! step durations, every question still waiting for a person, and the API
//! tokens that say who that person is.

use super::{RunId, RunStatus};
use serde::{Deserialize, Serialize};

/// Where a page of the run listing continues: after the run created at `created_at_ms` with id `id`
/// (newest first). A keyset, not an offset: page 2,000 costs what page 1 costs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RunCursor {
    /// The last shown run's creation time (Unix milliseconds).
    pub created_at_ms: u64,
    /// The last shown run's id (ties on the creation time are broken by id).
    pub id: RunId,
}

/// One page of the run listing, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunPageQuery {
    /// Only this workflow.
    pub workflow: Option<String>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Start after this run (`None`: the newest).
    pub after: Option<RunCursor>,
    /// At most this many.
    pub limit: usize,
}

impl Default for RunPageQuery {
    fn default() -> RunPageQuery {
        RunPageQuery { workflow: None, status: None, after: None, limit: 50 }
    }
}

/// How long ended step executions took, as a cumulative histogram (Prometheus' shape).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDurations {
    /// Upper bounds of the buckets (milliseconds, ascending).
    pub bounds_ms: Vec<u64>,
    /// Per bound: how many executions took at most that long.
    pub at_most: Vec<u64>,
    /// How many executions ended.
    pub count: u64,
    /// Their total duration (milliseconds).
    pub sum_ms: u64,
}

/// An API token as stored: its owner's name and the SHA-256 of its secret, never the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Whom it names: the person answering with it (recorded like `--operator`).
    pub name: String,
    /// SHA-256 of the token, as lowercase hex.
    pub hash: String,
    /// When it was made (Unix milliseconds).
    pub created_at_ms: u64,
    /// When it was revoked; a revoked token is refused.
    pub revoked_at_ms: Option<u64>,
}
