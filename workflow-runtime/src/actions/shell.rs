//! `shell`: runs a command with `sh -c`.
//!
//! Interpolated values never become shell code: each `${..}` of `command`
//! is replaced by a quoted reference to an environment variable
//! (`"${WORKFLOW_REF_1}"`) whose value is the interpolated text, so a value
//! like `$(rm -rf ~)` or `'; reboot` is passed as data. (Inside single
//! quotes the shell does not expand it, as for any variable.) The run's
//! variables are exported under their own names too, so `echo $((i + 1))`
//! works as the shell means it.

use super::{Action, ActionFailure, ActionOutput, ActionResult, StepContext};
use serde_json::{json, Value};

/// The `shell` action.
pub struct Shell;

/// The start of the names of the environment variables that carry the values of `${..}`.
pub const REF_PREFIX: &str = "WORKFLOW_REF_";

/// The environment variable that carries the value of the `n`-th (1-based) `${..}` of a command.
pub fn ref_var(n: usize) -> String {
    format!("{REF_PREFIX}{n}")
}

impl Action for Shell {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async move {
            let command = ctx.text("command").ok_or_else(|| ActionFailure::new("`shell` needs `command:`"))?;
            let mut cmd = crate::step_processes::shell_command(command);
            cmd.current_dir(ctx.path("cwd").unwrap_or_else(|| ctx.cwd.clone()));
            for (name, value) in &ctx.variables {
                if is_env_name(name) {
                    cmd.env(name, crate::interpret::display(value));
                }
            }
            if let Some(env) = ctx.params.get("env").and_then(Value::as_object) {
                for (name, value) in env {
                    cmd.env(name, crate::interpret::display(value));
                }
            }
            for (i, value) in ctx.command_refs.iter().enumerate() {
                cmd.env(ref_var(i + 1), value);
            }
            // The run itself (`WORKFLOW_RUN_ID` is set with the process group, whose processes it marks).
            cmd.env("WORKFLOW_NAME", &ctx.run.workflow).env("WORKFLOW_STARTED_AT", &ctx.run.started_at).env("WORKFLOW_PARENT_RUN_ID", &ctx.run.parent_id);
            // In a process group of its own, killed with the step (timeout, `cancel --now`) and with the driver.
            let out = crate::step_processes::output(cmd, Some(&ctx.run_id)).await.map_err(|e| ActionFailure::new(format!("cannot start `sh`: {e}")))?;
            let exit_code = out.status.code().map_or(-1, i64::from);
            let output = json!({
                "stdout": String::from_utf8_lossy(&out.stdout),
                "stderr": String::from_utf8_lossy(&out.stderr),
                "exit_code": exit_code,
            });
            if out.status.success() || ctx.params.get(EXIT_CODE_HANDLED).and_then(Value::as_bool) == Some(true) {
                Ok(ActionOutput::new(output))
            } else {
                let last = String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default().to_string();
                let why = if exit_code < 0 { "was killed by a signal".to_string() } else { format!("exited with code {exit_code}") };
                Err(ActionFailure { message: format!("the command {why}{}", if last.is_empty() { String::new() } else { format!(": {last}") }), output })
            }
        })
    }
}

/// Set by the executor when the workflow reads this step's `exit_code` in a
/// condition: then a non-zero exit is the workflow's to handle, not a failure.
pub const EXIT_CODE_HANDLED: &str = "__exit_code_handled";

fn is_env_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
