//! Consent for the shell commands a run executes besides its steps: the
//! `snapshot:` metrics measured before and after it, and a gate's `notify:`
//! commands. They go through the same patterns as `shell` steps (permission
//! `snapshot:CMD` or `notify:CMD`; `shell:` patterns apply to them too), so a
//! deny pattern stops them and none runs without consent. Without consent
//! a metric is not measured and a notification is not sent; the run goes on.

use super::Executor;
use crate::engine::Engine;
use crate::human::notify::{self, Target};
use crate::human::{Asked, Request, RequestKind};
use crate::permissions::Decision;
use crate::store::Store;
use serde_json::Value;
use workflow_core::ir::WorkflowIr;

impl<S: Store> Executor<S> {
    /// Whether the command of `permission` may run: `Ok`, or why not. A person
    /// at the terminal is asked when no pattern decides; consent given in this
    /// process, or stored for `run_id`, counts again.
    async fn command_consent(&self, permission: &str, question: Request, interactive: bool) -> Result<(), String> {
        match self.options.consent.decide(permission) {
            Decision::Denied(why) => Err(format!("denied: {why}")),
            Decision::Allowed(why) => {
                tracing::info!(%permission, %why, "consent");
                Ok(())
            }
            Decision::Ask => {
                let granted = || self.granted.lock().unwrap_or_else(|p| p.into_inner()).contains(permission);
                if granted() || (!question.run_id.is_empty() && self.consented(&question.run_id, permission).unwrap_or(false)) {
                    return Ok(());
                }
                match self.ask_terminal(&question, interactive).await {
                    Asked::Answered(answer) if answer.approved == Some(true) => {
                        tracing::info!(%permission, operator = %answer.operator, "consent given");
                        self.granted.lock().unwrap_or_else(|p| p.into_inner()).insert(permission.to_string());
                        Ok(())
                    }
                    Asked::Answered(answer) => Err(format!("{} refused consent for `{permission}`", answer.operator)),
                    Asked::TimedOut | Asked::Closed => Err(format!(
                        "`{permission}` needs consent: allow it with a pattern in the config's `permissions: allow`, or run with --yes (at a terminal you are asked)"
                    )),
                }
            }
        }
    }

    /// For each metric of `ir.snapshot`, why it is not measured (`None`: it may be).
    pub(super) async fn snapshot_refusals(&self, ir: &WorkflowIr, run_id: &str) -> Vec<Option<String>> {
        let mut refusals = Vec::new();
        for metric in &ir.snapshot {
            let Some(command) = metric.shell.as_deref().filter(|_| !self.options.consent.grants_all()) else {
                refusals.push(None);
                continue;
            };
            let permission = format!("snapshot:{command}");
            let question = Request {
                kind: RequestKind::Consent,
                run_id: run_id.to_string(),
                workflow: ir.name.clone(),
                step_id: format!("snapshot `{}`", metric.name),
                seq: 0,
                message: format!("measure `{}` by running `{command}`", metric.name),
                input: None,
                permission: Some(permission.clone()),
                approvers: Vec::new(),
                measured: None,
            };
            refusals.push(self.command_consent(&permission, question, ir.interactive).await.err().map(|why| format!("not measured: {why}")));
        }
        refusals
    }

    /// A gate's `notify:` entries, each made ready to send: URLs filled in,
    /// commands with their values passed as data. A command without consent,
    /// or whose values cannot be passed safely, is left out (and logged).
    pub(super) async fn notify_targets(&self, engine: &dyn Engine, step: usize, gate: &Request) -> Vec<Target> {
        let ir = engine.ir();
        let entries: Vec<&str> = match ir.steps[step].params.get("notify") {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(one)) => vec![one.as_str()],
            _ => Vec::new(),
        };
        let mut targets = Vec::new();
        for entry in entries {
            let written = super::people::as_written(entry);
            if notify::is_url(entry) {
                match crate::interpolate::render(engine, step, entry) {
                    Ok(url) => targets.push(Target::Url(url)),
                    Err(e) => tracing::warn!(target = %written, error = %e, "notification not sent"),
                }
                continue;
            }
            let permission = format!("notify:{written}");
            let question = Request {
                kind: RequestKind::Consent,
                message: format!("notify by running `{written}`"),
                permission: Some(permission.clone()),
                approvers: Vec::new(),
                input: None,
                measured: None,
                ..gate.clone()
            };
            if let Err(why) = self.command_consent(&permission, question, ir.interactive).await {
                tracing::warn!(target = %written, reason = %why, "notification not sent");
                continue;
            }
            match crate::interpolate::shell_text(engine, step, entry) {
                Ok((line, refs)) => targets.push(Target::Command { written, line, refs }),
                Err(e) => tracing::warn!(target = %written, error = %e, "notification not sent"),
            }
        }
        targets
    }
}
