//! Actions the run's current model performs: `review-pr` (reviews the pull
//! request's diff and posts the review), `self-review` (reviews the local
//! changes of the branch) and `make-changes` (edits the repository through
//! confined tools, see [`crate::changes`]). Each speaks in the run's one
//! conversation, so a fix sees the review that asked for it, and each adds
//! its tokens and cost to the run.

use super::step::step_model;
use crate::actions::{ActionFailure, ActionOutput, StepContext};
use crate::changes::{make_changes, Workspace};
use crate::github::{GitHubSettings, ReviewEvent};
use crate::models::{cost_usd, ModelRef, ModelRuntime, RunModels};
use crate::providers::{ChatRequest, ChatResponse, Message, Role, Usage};
use serde_json::{json, Value};
use workflow_core::ir::{StepIr, WorkflowIr};

/// The longest diff put before a model, in bytes (the rest is cut, and the model told so).
const MAX_DIFF: usize = 60_000;
/// Tool steps `make-changes` allows when the step does not say.
const DEFAULT_MAX_STEPS: u32 = 30;

/// The model a step speaks to: its own `model:`, else the run's current one.
fn current_model(models: &ModelRuntime, ir: &WorkflowIr, ir_step: &StepIr, run: &RunModels) -> Result<ModelRef, ActionFailure> {
    match &ir_step.model {
        Some(name) => step_model(models, ir, run, name),
        None => run.model.clone().ok_or_else(|| ActionFailure::new("no model to ask: set `default:` in the model config, or `switch-model` first")),
    }
}

/// Adds an answer's tokens and cost to the run.
fn account(models: &ModelRuntime, model: &ModelRef, usage: Usage, run: &mut RunModels) -> Option<f64> {
    let cost = cost_usd(models.config(), model, usage);
    run.usage.input_tokens += usage.input_tokens;
    run.usage.output_tokens += usage.output_tokens;
    run.cost_usd += cost.unwrap_or(0.0);
    cost
}

/// One answer from `model` to the run's conversation plus `prompt` (both are kept in the conversation).
async fn ask(models: &ModelRuntime, model: &ModelRef, run: &mut RunModels, prompt: String, json: bool) -> Result<ChatResponse, ActionFailure> {
    run.conversation.push(Message { role: Role::User, content: prompt });
    let request = ChatRequest { model: model.model.clone(), messages: run.conversation.clone(), max_tokens: None, temperature: None, json };
    let provider = models.provider(&model.provider).map_err(ActionFailure::new)?;
    let answer = provider.chat(&request, None).await.map_err(|e| ActionFailure::new(e.to_string()))?;
    run.conversation.push(Message { role: Role::Assistant, content: answer.content.clone() });
    Ok(answer)
}

/// `review-pr` and `self-review`: the verdict (`approved`, `comments`); `review-pr` also posts it on the pull request.
pub(super) async fn review(
    models: &ModelRuntime,
    ir: &WorkflowIr,
    ir_step: &StepIr,
    ctx: &StepContext,
    run: &RunModels,
    github: &GitHubSettings,
) -> Result<(ActionOutput, RunModels), ActionFailure> {
    let mut next = run.clone();
    let model = current_model(models, ir, ir_step, run)?;
    let own = ir_step.action == "self-review";
    let (subject, diff, target) = if own {
        (format!("the changes of branch `{}`", branch(ctx).await), local_diff(ctx).await?, None)
    } else {
        let pr_field = ctx.params.get("pr").map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let (github, pr) = crate::actions::pulls::review_target(github, &ctx.cwd, pr_field.as_deref()).await.map_err(|e| ActionFailure::new(e.to_string()))?;
        let diff = github.diff(pr.number).await.map_err(|e| ActionFailure::new(e.to_string()))?;
        (format!("pull request #{} \"{}\" ({} → {})", pr.number, pr.title, pr.head, pr.base), diff, Some((github, pr)))
    };
    if diff.trim().is_empty() {
        let output = json!({ "approved": true, "comments": "nothing to review: the diff is empty", "model": model.to_string() });
        return Ok((ActionOutput::new(output), next));
    }
    let instructions = ctx.text("prompt").map(|p| format!("{p}\n\n")).unwrap_or_default();
    let prompt = format!(
        "{instructions}Review {subject}. Answer with one JSON object and nothing else: \
         {{\"approved\": true or false, \"comments\": \"what must change, or why it is fine\"}}.\n\n```diff\n{}\n```",
        cut(&diff)
    );
    let answer = ask(models, &model, &mut next, prompt, true).await?;
    let cost = account(models, &model, answer.usage, &mut next);
    let (approved, comments) = verdict(&answer.content)
        .map_err(|e| ActionFailure { message: format!("the answer of {model} is not a review verdict: {e}"), output: json!({ "response": answer.content }) })?;
    let mut output = json!({
        "approved": approved,
        "comments": comments,
        "model": model.to_string(),
        "usage": answer.usage,
        "cost_usd": cost,
    });
    if let Some((github, pr)) = target {
        let event = if approved { ReviewEvent::Approve } else { ReviewEvent::RequestChanges };
        let body = format!("**Review by {model}** ({})\n\n{comments}", if approved { "approved" } else { "changes requested" });
        let posted = github.post_review(pr.number, event, &body).await.map_err(|e| ActionFailure { message: e.to_string(), output: output.clone() })?;
        output["pr"] = json!(pr.number);
        output["posted"] = json!(posted.as_str());
    }
    Ok((ActionOutput::new(output), next))
}

/// `make-changes`: the model edits files of the run's directory until it says it is done.
pub(super) async fn changes(
    models: &ModelRuntime,
    ir: &WorkflowIr,
    ir_step: &StepIr,
    ctx: &StepContext,
    run: &RunModels,
) -> Result<(ActionOutput, RunModels), ActionFailure> {
    let mut next = run.clone();
    let model = current_model(models, ir, ir_step, run)?;
    let workspace =
        Workspace::new(&ctx.cwd, ctx.texts("paths")).map_err(|e| ActionFailure::new(format!("cannot open {} for editing: {e}", ctx.cwd.display())))?;
    let task = ctx.text("prompt").unwrap_or("Make the changes the latest review asks for, and nothing else.").to_string();
    let max_steps = ctx.params.get("max-steps").and_then(Value::as_u64).map_or(DEFAULT_MAX_STEPS, |n| n.clamp(1, 1_000) as u32);
    let provider = models.provider(&model.provider).map_err(ActionFailure::new)?;
    let model_name = model.model.clone();
    let ask = |messages: Vec<Message>| {
        let provider = provider.clone();
        let request = ChatRequest { model: model_name.clone(), messages, max_tokens: None, temperature: None, json: false };
        async move { provider.chat(&request, None).await.map_err(|e| e.to_string()) }
    };
    let result = make_changes(&workspace, &task, max_steps, next.conversation.clone(), ask).await;
    match result {
        Ok(done) => {
            let cost = account(models, &model, done.usage, &mut next);
            // The run's conversation keeps the task and the outcome, not every tool turn.
            next.conversation.push(Message { role: Role::User, content: task });
            next.conversation.push(Message { role: Role::Assistant, content: done.summary.clone() });
            let output = json!({
                "summary": done.summary,
                "files_changed": done.files_changed,
                "steps": done.steps,
                "model": model.to_string(),
                "usage": done.usage,
                "cost_usd": cost,
            });
            Ok((ActionOutput::new(output), next))
        }
        Err(failure) => {
            account(models, &model, failure.usage, &mut next);
            Err(ActionFailure { message: failure.message, output: json!({ "files_changed": failure.files_changed, "model": model.to_string() }) })
        }
    }
}

/// `approved` and `comments` from a model's answer: a JSON object, bare, fenced or amid prose.
pub fn verdict(answer: &str) -> Result<(bool, String), String> {
    let object = json_object(answer).ok_or_else(|| "expected a JSON object with `approved` and `comments`".to_string())?;
    let approved = match object.get("approved") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        _ => return Err("`approved` must be true or false".to_string()),
    };
    let comments = match object.get("comments") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string)).collect::<Vec<_>>().join("\n"),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    Ok((approved, comments))
}

/// The first `{...}` in `text` that parses as a JSON object.
fn json_object(text: &str) -> Option<serde_json::Map<String, Value>> {
    if let Ok(Value::Object(map)) = serde_json::from_str(text.trim()) {
        return Some(map);
    }
    text.match_indices('{').find_map(|(start, _)| {
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(Value::Object(map))) => Some(map),
            _ => None,
        }
    })
}

/// At most [`MAX_DIFF`] bytes of a diff, cut at a line end, saying what was left out.
fn cut(diff: &str) -> String {
    if diff.len() <= MAX_DIFF {
        return diff.to_string();
    }
    let end = diff[..MAX_DIFF].rfind('\n').unwrap_or(MAX_DIFF);
    format!("{}\n... ({} more bytes of diff not shown)", &diff[..end], diff.len() - end)
}

async fn branch(ctx: &StepContext) -> String {
    crate::actions::git::current_branch(&ctx.cwd).await.unwrap_or_else(|_| "HEAD".to_string())
}

/// The branch's own changes: the work tree against where it left the remote's default branch, else against the last commit's parent.
async fn local_diff(ctx: &StepContext) -> Result<String, ActionFailure> {
    use crate::actions::git::git;
    let base = match git(&ctx.cwd, &["rev-parse", "--abbrev-ref", "origin/HEAD"]).await {
        Ok(upstream) => git(&ctx.cwd, &["merge-base", &upstream, "HEAD"]).await.ok(),
        Err(_) => None,
    };
    let base = match base {
        Some(base) => base,
        None => git(&ctx.cwd, &["rev-parse", "HEAD~1"])
            .await
            .map_err(|e| ActionFailure::new(format!("cannot tell which changes are the branch's own: {}", e.message)))?,
    };
    git(&ctx.cwd, &["diff", &base]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_is_read_bare_fenced_or_amid_prose() {
        assert_eq!(verdict(r#"{"approved": true, "comments": "fine"}"#).unwrap(), (true, "fine".to_string()));
        assert_eq!(verdict("Here it is:\n```json\n{\"approved\": false, \"comments\": \"add a test\"}\n```").unwrap(), (false, "add a test".to_string()));
        assert!(verdict("LGTM").is_err());
        assert!(verdict(r#"{"approved": "maybe"}"#).is_err());
    }
}
