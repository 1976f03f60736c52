//! Actions on variables and files: `set-variable`, `load-variable`,
//! `check-file-exists`, and `switch-model` (which records the model a run uses).

use super::{Action, ActionFailure, ActionOutput, ActionResult, StepContext};
use serde_json::{json, Value};

/// `set-variable`: `name:` gets `value:` (interpolated; text that reads as a number or boolean is converted for typed variables).
pub struct SetVariable;

impl Action for SetVariable {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async move {
            let name = ctx.text("name").ok_or_else(|| ActionFailure::new("`set-variable` needs `name:`"))?;
            let value = ctx.params.get("value").cloned().unwrap_or(Value::Null);
            Ok(ActionOutput { output: json!({}), assign: vec![(name.to_string(), value)] })
        })
    }
}

/// `load-variable`: `name:` gets the contents of the file `from:` (trimmed).
pub struct LoadVariable;

impl Action for LoadVariable {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async move {
            let name = ctx.text("name").ok_or_else(|| ActionFailure::new("`load-variable` needs `name:`"))?;
            let path = ctx.path("from").ok_or_else(|| ActionFailure::new("`load-variable` needs `from:`"))?;
            let text = tokio::fs::read_to_string(&path).await.map_err(|e| ActionFailure::new(format!("cannot read {}: {e}", path.display())))?;
            Ok(ActionOutput { output: json!({}), assign: vec![(name.to_string(), Value::String(text.trim().to_string()))] })
        })
    }
}

/// `check-file-exists`: whether the file `file:` (or the one the variable `variable:` names) exists.
pub struct CheckFileExists;

impl Action for CheckFileExists {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async move {
            let path = match (ctx.path("file"), ctx.text("variable")) {
                (Some(path), _) => path,
                (None, Some(var)) => match ctx.variables.get(var).and_then(Value::as_str) {
                    Some(p) => ctx.cwd.join(p),
                    None => return Err(ActionFailure::new(format!("variable `{var}` does not hold a path"))),
                },
                (None, None) => return Err(ActionFailure::new("`check-file-exists` needs `file:` or `variable:`")),
            };
            let exists = tokio::fs::try_exists(&path).await.unwrap_or(false);
            Ok(ActionOutput::new(json!({ "exists": exists })))
        })
    }
}

/// `switch-model`: records which model later steps use (calling models is a later part of the product).
pub struct SwitchModel;

impl Action for SwitchModel {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async move {
            let model = ctx.text("model").ok_or_else(|| ActionFailure::new("`switch-model` needs `model:`"))?;
            Ok(ActionOutput::new(json!({ "model": model })))
        })
    }
}
