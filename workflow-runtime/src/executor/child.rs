//! `run-workflow`: a step that starts another workflow as a child run and
//! waits for it (with `wait: false` it goes on at once, and the child runs
//! beside it; the executor's caller gets the child's report with its own). The child is linked to its parent (`parent_run_id`) and to
//! the step execution that started it, so a parent step re-run after a crash
//! or a wait finds its child again instead of starting a second one.

use super::people::Before;
use super::{Executor, ResumeOptions, RunError, StartOptions};
use crate::actions::{ActionFailure, ActionOutput};
use crate::engine::{Engine, IrEngine};
use crate::interpolate::step_params;
use crate::store::{RunFilter, RunStatus, Store};
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;

impl<S: Store> Executor<S> {
    /// Runs the child of `run-workflow` step `step` (execution `seq`) to its end, or until it waits.
    pub(super) fn child_run<'a>(
        &'a self,
        run_id: &'a str,
        engine: &'a dyn Engine,
        step: usize,
        seq: u64,
    ) -> Pin<Box<dyn Future<Output = Result<Before, RunError>> + Send + 'a>> {
        Box::pin(async move {
            let ir = engine.ir();
            let ir_step = &ir.steps[step];
            let params = match step_params(engine, step) {
                Ok((params, _)) => params,
                Err(e) => return Ok(Before::Fail(ActionFailure::new(format!("cannot fill in the step's fields: {e}")))),
            };
            let Some(name) = params.get("workflow").and_then(Value::as_str).map(str::to_string) else {
                return Ok(Before::Fail(ActionFailure::new("`run-workflow` needs `workflow:`")));
            };
            let Some(child_ir) = self.options.workflows.as_ref().and_then(|find| find(&name)) else {
                return Ok(Before::Fail(ActionFailure::new(format!(
                    "workflow `{name}` was not found (the CLI looks beside the running workflow's file, in ./workflows and ./.workflow/workflows)"
                ))));
            };
            let triggered_by = format!("run-workflow:{}:{}#{seq}", ir.name, ir_step.id);
            let mut child: Box<dyn Engine> = Box::new(IrEngine::new(child_ir));
            let report = match self.existing_child(run_id, &name, &triggered_by)? {
                Some(child_id) => match self.resume(&child_id, child, ResumeOptions::default()).await {
                    Err(RunError::Finished { .. }) => None,
                    other => Some(other?),
                }
                .map_or_else(
                    || self.store.load_run(&child_id).map(|r| r.map(|r| (child_id.clone(), r.status, r.reason))),
                    |r| Ok(Some((r.run_id, r.status, r.reason))),
                )?,
                None => {
                    if let Some(Value::Object(inputs)) = params.get("inputs") {
                        for (var, value) in inputs {
                            if let Err(e) = child.assign(var, value.clone()) {
                                return Ok(Before::Fail(ActionFailure::new(format!("input `{var}` of workflow `{name}`: {e}"))));
                            }
                        }
                    }
                    let start = StartOptions { triggered_by, parent_run_id: Some(run_id.to_string()), source: None };
                    let (id, next, first, models, fence) = self.create(child.as_mut(), start).await?;
                    let span = tracing::info_span!("run", run = %id, workflow = %name);
                    if params.get("wait") == Some(&Value::Bool(false)) {
                        // The parent goes on; the child is driven on its own task, and joined before the executor's caller gets its report.
                        let sibling = self.sibling();
                        let child_id = id.clone();
                        let handle = tokio::spawn(tracing::Instrument::instrument(
                            async move { sibling.drive(&child_id, &fence, child.as_mut(), next, first, models).await },
                            span,
                        ));
                        self.detached.lock().unwrap_or_else(|p| p.into_inner()).push(handle);
                        return Ok(Before::Done(ActionOutput::new(json!({ "status": "running", "run_id": id }))));
                    }
                    let report = tracing::Instrument::instrument(self.drive(&id, &fence, child.as_mut(), next, first, models), span).await?;
                    Some((report.run_id, report.status, report.reason))
                }
            };
            let Some((child_id, status, reason)) = report else {
                return Ok(Before::Fail(ActionFailure::new(format!("the child run of workflow `{name}` disappeared from the store"))));
            };
            let output = json!({ "status": status.as_str(), "run_id": child_id });
            let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
            Ok(match status {
                RunStatus::Completed => Before::Done(ActionOutput::new(output)),
                RunStatus::Failed | RunStatus::Cancelled => {
                    Before::Fail(ActionFailure { message: format!("child run {child_id} of workflow `{name}` {}{why}", status.as_str()), output })
                }
                RunStatus::Waiting | RunStatus::Paused | RunStatus::Running => Before::Wait(
                    None,
                    format!("child run {child_id} of workflow `{name}` is {}{why}; once it can go on, resume this run (it resumes the child)", status.as_str()),
                ),
            })
        })
    }

    /// The child a step execution already started, if any.
    fn existing_child(&self, run_id: &str, workflow: &str, triggered_by: &str) -> Result<Option<String>, RunError> {
        let filter = RunFilter { workflow: Some(workflow.to_string()), ..RunFilter::default() };
        for summary in self.store.list_runs(&filter)? {
            if summary.parent_run_id.as_deref() != Some(run_id) {
                continue;
            }
            let record = self.store.load_run(&summary.id)?;
            if record.is_some_and(|r| r.input.get("triggered_by").and_then(Value::as_str) == Some(triggered_by)) {
                return Ok(Some(summary.id));
            }
        }
        Ok(None)
    }
}
