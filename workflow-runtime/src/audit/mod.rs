//! The audit record of a run (DESIGN §5): what the world looked like before
//! it, what it was expected to do, what it did, and where the two disagree.
//!
//! A run with `snapshot:` metrics is audited in five moves:
//!
//! 1. [`take_snapshot`] measures every metric before the first step
//!    (`state_snapshot`);
//! 2. [`expected_work`] evaluates `expect:` over that snapshot and the
//!    variables (`expected_work`);
//! 3. after the run, [`take_snapshot`] again (`state_after`) and [`delta`]
//!    (after − before, per metric);
//! 4. [`anomalies`] compares the expected with the actual change, and lists
//!    every metric that could not be measured;
//! 5. [`triggered`] picks the `on-completion:` workflows to start.
//!
//! [`audit_input`] and [`audit_output`] shape the two JSON records the store
//! keeps, so SQL over them answers "runs where expected != actual".
//!
//! # `expect:` is the expected change
//!
//! Each `expect:` expression gives how much its metric should **change**
//! during the run (its expected delta), computed from the values *before* the
//! run. The seed example reads that way:
//!
//! ```yaml
//! snapshot:
//!   postings_total: { shell: "cat counts/total" }
//!   postings_with_summary: { shell: "cat counts/summarized" }
//! expect:
//!   postings_with_summary: "postings_total - postings_with_summary"
//! ```
//!
//! With 847 postings of which 288 are summarized, the run is expected to
//! summarize the 559 others: `postings_with_summary` should grow by 559
//! (to 847). DESIGN §5 records an anomaly "where expected and actual delta
//! differ", so an anomaly is raised when `delta[m]` differs from
//! `expected_work[m]`, not when the after-value differs from it.
//!
//! ```
//! use serde_json::{json, Map};
//! use workflow_core::expr::parse;
//! use workflow_runtime::audit::{anomalies, delta, expected_work, Snapshot};
//!
//! fn snapshot(v: serde_json::Value) -> Snapshot {
//!     v.as_object().unwrap().clone()
//! }
//! // The IR's resolved form of `postings_total - postings_with_summary`.
//! let expect = [("postings_with_summary".to_string(), parse("before.postings_total - before.postings_with_summary").unwrap())];
//! let before = snapshot(json!({"postings_total": 847, "postings_with_summary": 288}));
//! let (expected, errors) = expected_work(&expect, &before, &Map::new());
//! assert_eq!(expected["postings_with_summary"], json!(559));
//!
//! let after = snapshot(json!({"postings_total": 847, "postings_with_summary": 800}));
//! let change = delta(&before, &after);
//! assert_eq!(change["postings_with_summary"], json!(512));
//! let found = anomalies(&expected, &change, &errors);
//! assert_eq!((found.len(), &found[0].expected, &found[0].actual), (1, &json!(559), &json!(512)));
//! ```

mod metrics;
mod record;
mod triggers;
mod work;

pub use metrics::{take_snapshot, take_snapshot_refusing, take_snapshot_with_timeout, DEFAULT_METRIC_TIMEOUT};
pub use record::{audit_input, audit_output, decisions, operator};
pub use triggers::{triggered, RunFacts};
pub use work::{anomalies, delta, expected_work, Anomaly};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Measured metrics: name → number (a string when the value is not numeric; `null` when it could not be measured).
pub type Snapshot = serde_json::Map<String, Value>;

/// A metric that could not be measured, or whose expectation could not be computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("metric `{metric}`: {message}")]
pub struct MetricError {
    /// The metric's name.
    pub metric: String,
    /// What went wrong, in one sentence.
    pub message: String,
}

impl MetricError {
    pub(crate) fn new(metric: impl Into<String>, message: impl Into<String>) -> MetricError {
        MetricError { metric: metric.into(), message: message.into() }
    }
}
