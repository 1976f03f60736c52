//! Telling people a gate waits for them: each `notify:` entry is a webhook
//! URL (POSTed a JSON payload) or a command (run with the payload on stdin
//! and in `WORKFLOW_*` environment variables). A command runs only with
//! consent, like a `shell` step, and its `${..}` values reach it as data
//! (environment variables), never spliced into its text. A failed
//! notification is logged and never fails the gate: the run waits either way.

use super::Request;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// How long one notification may take.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// The JSON every notification carries; `url` is the run's page on `workflow serve` when its public URL is known.
pub fn payload(request: &Request, url: Option<&str>) -> Value {
    json!({
        "url": url,
        "event": "approval_requested",
        "run_id": request.run_id,
        "workflow": request.workflow,
        "step": request.step_id,
        "message": request.message,
        "approvers": request.approvers,
        "approve": format!("{} approve {}", super::program_name(), request.run_id),
        "reject": format!("{} reject {}", super::program_name(), request.run_id),
    })
}

/// Where one notification goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A webhook, POSTed the payload.
    Url(String),
    /// A shell command made ready by [`crate::interpolate::shell_text`]: its text
    /// (as written, for messages), the text to run, and the values of its references.
    Command {
        /// The command as written in the workflow.
        written: String,
        /// The command to run (`${..}` as quoted `WORKFLOW_REF_n` references).
        line: String,
        /// The value of `WORKFLOW_REF_n` at index n - 1.
        refs: Vec<String>,
    },
}

/// Whether a `notify:` entry is a webhook URL (anything else is a shell command).
pub fn is_url(entry: &str) -> bool {
    entry.starts_with("http://") || entry.starts_with("https://")
}

/// The page of run `run_id` under a `workflow serve` public URL.
pub fn run_url(public_url: &str, run_id: &str) -> String {
    format!("{}/runs/{run_id}", public_url.trim_end_matches('/'))
}

/// Sends every notification; the problems, one per failed target (empty when all went out).
/// `public_url` is where `workflow serve` is reached: the run's page link goes in the payload and `$WORKFLOW_RUN_URL`.
pub async fn notify_all(targets: &[Target], request: &Request, cwd: &Path, public_url: Option<&str>) -> Vec<String> {
    let url = public_url.map(|base| run_url(base, &request.run_id));
    let body = payload(request, url.as_deref());
    let mut problems = Vec::new();
    for target in targets {
        let (name, sent) = match target {
            Target::Url(url) => (url.as_str(), post(url, &body).await),
            Target::Command { written, line, refs } => (written.as_str(), command(line, refs, &body, request, cwd).await),
        };
        if let Err(e) = sent {
            tracing::warn!(target = %name, error = %e, "notification failed");
            problems.push(format!("{name}: {e}"));
        }
    }
    problems
}

async fn post(url: &str, body: &Value) -> Result<(), String> {
    let client = reqwest::Client::builder().timeout(NOTIFY_TIMEOUT).build().map_err(|e| e.to_string())?;
    let response = client.post(url).json(body).send().await.map_err(|e| format!("cannot reach it: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("it answered HTTP {}", response.status().as_u16()));
    }
    Ok(())
}

async fn command(line: &str, refs: &[String], body: &Value, request: &Request, cwd: &Path) -> Result<(), String> {
    command_within(line, refs, body, request, cwd, NOTIFY_TIMEOUT).await
}

/// Runs a notify command in a process group of its own (as a step's commands
/// are), so one that outlasts `timeout`, or whose run stops meanwhile, is
/// killed with everything it started, not just its `sh`.
async fn command_within(line: &str, refs: &[String], body: &Value, request: &Request, cwd: &Path, timeout: Duration) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut child = tokio::process::Command::new("sh");
    for (i, value) in refs.iter().enumerate() {
        child.env(crate::actions::shell::ref_var(i + 1), value);
    }
    #[cfg(unix)]
    child.process_group(0);
    let mut child = child
        .arg("-c")
        .arg(line)
        .current_dir(cwd)
        .env("WORKFLOW_RUN_ID", &request.run_id)
        .env("WORKFLOW_NAME", &request.workflow)
        .env("WORKFLOW_STEP", &request.step_id)
        .env("WORKFLOW_MESSAGE", &request.message)
        .env("WORKFLOW_RUN_URL", body["url"].as_str().unwrap_or_default())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start it: {e}"))?;
    // Killed on every way out but a normal exit; while `child` is not yet waited for, its id cannot name another group.
    let group = crate::step_processes::GroupKill::new(child.id());
    let (mut stdin, mut stderr) = (child.stdin.take(), child.stderr.take());
    let ran = tokio::time::timeout(timeout, async {
        if let Some(stdin) = stdin.as_mut() {
            // A command that ignores its input closes the pipe early: that is fine.
            let _ = stdin.write_all(body.to_string().as_bytes()).await;
        }
        drop(stdin.take());
        let mut text = Vec::new();
        let read = async {
            if let Some(stderr) = stderr.as_mut() {
                let _ = stderr.read_to_end(&mut text).await;
            }
        };
        let (status, ()) = tokio::join!(child.wait(), read);
        status.map(|status| (status, text))
    })
    .await;
    let (status, stderr) = match ran {
        Ok(Ok(done)) => {
            group.disarm();
            done
        }
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("it took longer than {}s", timeout.as_secs_f32())),
    };
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        return Err(format!("it exited with {}: {}", status.code().unwrap_or(-1), stderr.trim()));
    }
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::human::RequestKind;

    fn request() -> Request {
        Request {
            kind: RequestKind::Gate,
            run_id: "run-1".into(),
            workflow: "wf".into(),
            step_id: "gate".into(),
            seq: 1,
            message: "Go?".into(),
            input: None,
            permission: None,
            approvers: Vec::new(),
            measured: None,
        }
    }

    #[tokio::test]
    async fn a_notify_command_that_overruns_is_killed_with_its_grandchildren() {
        let dir = tempfile::tempdir().unwrap();
        let line = "bash -c 'sleep 1; echo late > late.txt'";
        let started = std::time::Instant::now();
        let sent = command_within(line, &[], &json!({}), &request(), dir.path(), Duration::from_millis(200)).await;
        assert_eq!(sent, Err("it took longer than 0.2s".to_string()));
        assert!(started.elapsed() < Duration::from_millis(900), "the overrun was not cut short");
        tokio::time::sleep(Duration::from_millis(1300)).await;
        assert!(!dir.path().join("late.txt").exists(), "a grandchild of the timed-out notify command went on");
    }

    #[tokio::test]
    async fn a_notify_command_gets_the_payload_and_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        let line = "cat > body.json; echo \"$WORKFLOW_RUN_ID $WORKFLOW_STEP\" > env.txt; echo oops >&2; exit 3";
        let sent = command_within(line, &[], &json!({ "run_id": "run-1" }), &request(), dir.path(), Duration::from_secs(5)).await;
        assert_eq!(sent, Err("it exited with 3: oops".to_string()));
        assert_eq!(std::fs::read_to_string(dir.path().join("body.json")).unwrap(), r#"{"run_id":"run-1"}"#);
        assert_eq!(std::fs::read_to_string(dir.path().join("env.txt")).unwrap(), "run-1 gate\n");
    }
}
