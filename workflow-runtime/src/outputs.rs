//! Typed outputs of the built-in actions, one struct per family. A step's
//! outputs are addressed as `steps.<id>.<field>`; the generated `Outputs`
//! struct holds one of these per step that produces any.
//!
//! Every struct deserializes from a partial object (missing fields take their
//! default), so an action may leave out what it could not determine.

use serde::{Deserialize, Serialize};

/// `shell`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShellOutput {
    /// What the command printed.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
    /// Its exit status.
    pub exit_code: i64,
}

/// `ai-prompt`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AiPromptOutput {
    /// The model's answer.
    pub response: String,
    /// The answer parsed as JSON (`format: json`); its fields are addressable as `steps.<id>.<field>`.
    pub json: serde_json::Value,
}

/// `review-pr` and `self-review`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReviewOutput {
    /// The verdict.
    pub approved: bool,
    /// The review's text.
    pub comments: String,
}

/// `interactive`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InteractiveOutput {
    /// The answer (a bool for `confirm`, else a string).
    pub value: serde_json::Value,
}

/// `approval-gate`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GateOutput {
    /// Whether it was approved.
    pub approved: bool,
    /// What the approver said.
    pub comment: String,
    /// Who answered.
    pub approver: String,
}

/// `create-pr`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrOutput {
    /// The pull request's number.
    pub number: i64,
    /// Its web address.
    pub url: String,
}

/// `check-file-exists`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileExistsOutput {
    /// Whether the file exists.
    pub exists: bool,
}

/// `commit`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommitOutput {
    /// The new commit (HEAD when there was nothing to commit).
    pub sha: String,
    /// The paths in the commit.
    pub files: Vec<String>,
    /// Whether a commit was made.
    pub committed: bool,
}

/// `commit-push`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommitPushOutput {
    /// The commit pushed.
    pub sha: String,
    /// The paths in the commit.
    pub files: Vec<String>,
    /// Whether a commit was made (it is pushed either way).
    pub committed: bool,
    /// The remote pushed to.
    pub remote: String,
    /// The branch pushed.
    pub branch: String,
}

/// `push`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PushOutput {
    /// The remote pushed to.
    pub remote: String,
    /// The branch pushed.
    pub branch: String,
    /// The commit pushed.
    pub sha: String,
}

/// `pull`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PullOutput {
    /// HEAD afterwards.
    pub sha: String,
    /// Whether it moved.
    pub updated: bool,
}

/// `sync`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncOutput {
    /// The branch checked out.
    pub branch: String,
    /// Its commit afterwards.
    pub sha: String,
}

/// `merge-pr`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MergeOutput {
    /// Whether the pull request was merged.
    pub merged: bool,
    /// The merge commit.
    pub sha: String,
}

/// `make-changes`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MakeChangesOutput {
    /// What the model says it did.
    pub summary: String,
    /// The files it changed.
    pub files_changed: Vec<String>,
}

/// `run-workflow`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunWorkflowOutput {
    /// How the child run ended.
    pub status: String,
    /// The child run's id.
    pub run_id: String,
}

/// A custom action's outputs: whatever JSON it returned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomOutput(pub serde_json::Value);
