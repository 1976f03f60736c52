//! The two JSON records DESIGN §5 keeps per run, and who ran it.

use super::{Anomaly, Snapshot};
use serde_json::{json, Map, Value};

/// The `input` record, written when a run starts or resumes.
///
/// `action` is `start_workflow` or `resume_workflow`; `mode` `interactive` or
/// `unattended`; `triggered_by` `manual`, `on-completion:<parent workflow>` or
/// `run-workflow:<parent>`. The keys are exactly: `action, workflow, mode,
/// triggered_by, operator, parent_run_id, state_snapshot, expected_work,
/// variables` (`parent_run_id` is `null` for a run nobody started).
// The parameters are the record's fields, one each, as DESIGN §5 lists them.
#[allow(clippy::too_many_arguments)]
pub fn audit_input(
    action: &str,
    workflow: &str,
    mode: &str,
    triggered_by: &str,
    operator: &str,
    parent_run_id: Option<&str>,
    state_snapshot: &Snapshot,
    expected_work: &Snapshot,
    variables: &Map<String, Value>,
) -> Value {
    json!({
        "action": action,
        "workflow": workflow,
        "mode": mode,
        "triggered_by": triggered_by,
        "operator": operator,
        "parent_run_id": parent_run_id,
        "state_snapshot": state_snapshot,
        "expected_work": expected_work,
        "variables": variables,
    })
}

/// The `output` record, written when a run ends.
///
/// The keys are exactly: `status, duration_ms, steps_executed,
/// steps_completed, steps_failed, state_after, delta, anomalies, usage, cost`.
/// `usage` and `cost` are passed through as given (`{}` when not tracked).
#[allow(clippy::too_many_arguments)]
pub fn audit_output(
    status: &str,
    duration_ms: u64,
    steps_executed: u64,
    steps_completed: u64,
    steps_failed: u64,
    state_after: &Snapshot,
    delta: &Snapshot,
    anomalies: &[Anomaly],
    usage: Value,
    cost: Value,
) -> Value {
    json!({
        "status": status,
        "duration_ms": duration_ms,
        "steps_executed": steps_executed,
        "steps_completed": steps_completed,
        "steps_failed": steps_failed,
        "state_after": state_after,
        "delta": delta,
        "anomalies": anomalies,
        "usage": usage,
        "cost": cost,
    })
}

/// The `decisions` of an audit output: each question a run put to a person
/// (gate, prompt, consent) with the answer, who gave it and when. A password
/// prompt's value is never copied here.
pub fn decisions(questions: &[crate::store::Question]) -> Value {
    Value::Array(
        questions
            .iter()
            .map(|q| {
                let secret = q.request.input.as_ref().is_some_and(|i| i.input_type == crate::human::InputType::Password);
                let answer = q.answer.as_ref();
                json!({
                    "kind": q.request.kind.as_str(),
                    "step": q.request.step_id,
                    "seq": q.request.seq,
                    "message": q.request.message,
                    "permission": q.request.permission,
                    "asked_at_ms": q.asked_at_ms,
                    "approved": answer.and_then(|a| a.approved),
                    "value": if secret { answer.and_then(|a| a.value.as_ref()).map(|_| json!("(hidden)")) } else { answer.and_then(|a| a.value.clone()) },
                    "comment": answer.and_then(|a| a.comment.clone()),
                    "operator": answer.map(|a| a.operator.clone()),
                    "answered_at_ms": answer.map(|a| a.at_ms),
                })
            })
            .collect(),
    )
}

/// Who runs workflows here: `$WORKFLOW_OPERATOR`, else `$USER` / `$USERNAME`, else `unknown`.
pub fn operator() -> String {
    operator_from(|name| std::env::var(name).ok())
}

fn operator_from(var: impl Fn(&str) -> Option<String>) -> String {
    ["WORKFLOW_OPERATOR", "USER", "USERNAME"]
        .into_iter()
        .filter_map(var)
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn the_operator_is_the_first_name_set() {
        assert_eq!(operator_from(env(&[("USER", "ana"), ("WORKFLOW_OPERATOR", "release-bot")])), "release-bot");
        assert_eq!(operator_from(env(&[("WORKFLOW_OPERATOR", " "), ("USER", "ana")])), "ana");
        assert_eq!(operator_from(env(&[("USERNAME", "bo")])), "bo");
        assert_eq!(operator_from(env(&[])), "unknown");
    }
}
