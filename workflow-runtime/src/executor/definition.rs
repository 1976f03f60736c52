//! Which definition a stopped run goes on with: its workflow file as it is
//! now (compiled again, so a changed file is noticed by the definition hash),
//! else the definition stored with the run. The command line's `resume`,
//! `approve`, `reject` and `answer` and `workflow serve` all take it from here.

use super::Workflows;
use crate::store::RunRecord;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use workflow_core::ir::WorkflowIr;
use workflow_core::read::ReadOptions;
use workflow_core::Diagnostics;

/// A run's workflow, ready to drive it on.
pub struct RunDefinition {
    /// The definition.
    pub ir: WorkflowIr,
    /// The file it was compiled from (`None`: the definition stored with the run).
    pub file: Option<PathBuf>,
    /// Where its `on-completion` and `run-workflow` workflows are found: beside its file.
    pub workflows: Option<Workflows>,
}

/// Why a run's definition could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// The workflow file does not compile.
    #[error("{} does not compile:\n{report}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Its errors, rendered as a compiler would (diagnostics hold compiler spans, which stay on one thread).
        report: String,
    },
    /// The file compiles but holds no workflow of the run's name.
    #[error("{} does not define workflow `{workflow}`", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// The run's workflow.
        workflow: String,
    },
    /// The definition stored with the run does not read.
    #[error("the definition stored with run {run} is damaged: {source}")]
    Stored {
        /// The run.
        run: String,
        /// Why.
        source: serde_json::Error,
    },
}

/// The definition `record` goes on with: compiled from `file` when one is given, else the one stored with the run.
pub fn run_definition(record: &RunRecord, file: Option<&Path>, options: &ReadOptions) -> Result<RunDefinition, DefinitionError> {
    let Some(path) = file else {
        let ir = serde_json::from_value(record.definition.clone()).map_err(|source| DefinitionError::Stored { run: record.id.clone(), source })?;
        return Ok(RunDefinition { ir, file: None, workflows: None });
    };
    let compiled = workflow_core::set::compile_file(path, options).map_err(|diagnostics| invalid(path, diagnostics))?;
    let ir = compiled
        .into_iter()
        .find(|c| c.ir.name == record.workflow)
        .map(|c| c.ir)
        .ok_or_else(|| DefinitionError::Missing { path: path.to_path_buf(), workflow: record.workflow.clone() })?;
    Ok(RunDefinition { ir, file: Some(path.to_path_buf()), workflows: Some(siblings(path, options)) })
}

/// The file a run was started from, when it is still there.
pub fn source_file(record: &RunRecord) -> Option<PathBuf> {
    record.source.clone().map(PathBuf::from).filter(|p| p.is_file())
}

/// Finds `on-completion` and `run-workflow` workflows among those of `path`'s folder.
pub fn siblings(path: &Path, options: &ReadOptions) -> Workflows {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let set: Vec<Arc<WorkflowIr>> =
        workflow_core::set::compile_paths(&[folder], options).map(|c| c.into_iter().map(|c| Arc::new(c.ir)).collect()).unwrap_or_default();
    Arc::new(move |name: &str| set.iter().find(|ir| ir.name == name).cloned())
}

fn invalid(path: &Path, mut diagnostics: Diagnostics) -> DefinitionError {
    diagnostics.sort();
    DefinitionError::Invalid { path: path.to_path_buf(), report: diagnostics.render() }
}
