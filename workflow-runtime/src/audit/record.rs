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

/// Who runs workflows here: `$WORKFLOW_OPERATOR`, else `$USER` /
/// `$USERNAME` / `$LOGNAME`, else the system account of this process (cron
/// jobs and containers often set none of them), else `unknown`.
pub fn operator() -> String {
    operator_from(|name| std::env::var(name).ok()).or_else(system_account).unwrap_or_else(|| "unknown".to_string())
}

fn operator_from(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    ["WORKFLOW_OPERATOR", "USER", "USERNAME", "LOGNAME"].into_iter().filter_map(var).map(|v| v.trim().to_string()).find(|v| !v.is_empty())
}

/// The account name of this process's real user, from `/etc/passwd` (no
/// `getpwuid`, which would need `unsafe`); `uid N` for an account without
/// an entry there (one known only to a directory service, or a container's
/// arbitrary uid).
#[cfg(unix)]
fn system_account() -> Option<String> {
    let uid = rustix::process::getuid().as_raw();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    Some(account_in(&passwd, uid).unwrap_or_else(|| format!("uid {uid}")))
}

#[cfg(not(unix))]
fn system_account() -> Option<String> {
    None
}

/// The name of account `uid` in the text of a passwd file (`name:password:uid:...`).
#[cfg(unix)]
fn account_in(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next().filter(|n| !n.is_empty())?;
        (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn the_operator_is_the_first_name_set() {
        assert_eq!(operator_from(env(&[("USER", "ana"), ("WORKFLOW_OPERATOR", "release-bot")])).as_deref(), Some("release-bot"));
        assert_eq!(operator_from(env(&[("WORKFLOW_OPERATOR", " "), ("USER", "ana")])).as_deref(), Some("ana"));
        assert_eq!(operator_from(env(&[("USERNAME", "bo")])).as_deref(), Some("bo"));
        assert_eq!(operator_from(env(&[("LOGNAME", "cy")])).as_deref(), Some("cy"));
        assert_eq!(operator_from(env(&[])), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_system_account_is_found_by_uid_in_passwd() {
        let passwd = "# users\nroot:x:0:0:root:/root:/bin/bash\nana:x:1000:1000:Ana,,,:/home/ana:/bin/zsh\n:x:7:7::/:\nbroken\n";
        assert_eq!(account_in(passwd, 1000).as_deref(), Some("ana"));
        assert_eq!(account_in(passwd, 0).as_deref(), Some("root"));
        assert_eq!(account_in(passwd, 7), None);
        assert_eq!(account_in(passwd, 4242), None);
        // This process's own account: what `id -un` says.
        let id = std::process::Command::new("id").arg("-un").output().unwrap();
        assert_eq!(system_account().unwrap(), String::from_utf8_lossy(&id.stdout).trim());
    }
}
