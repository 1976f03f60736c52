//! Running one step: its fields filled in, each attempt under its timeout,
//! retries with backoff and jitter, `ai-prompt` and `switch-model` with the
//! run's models, and the variables the action writes.

use super::{Executor, StreamPiece, StreamSink};
use crate::actions::{ActionFailure, ActionOutput, StepContext};
use crate::engine::Engine;
use crate::interpolate::step_params;
use crate::models::{cost_usd, ModelRef, ModelRuntime, RunModels};
use crate::providers::{ChatRequest, Message, Role};
use crate::store::Store;
use rand::Rng;
use serde_json::{json, Value};
use std::time::Duration;
use workflow_core::expr::{Expr, ExprKind, Type};
use workflow_core::ir::WorkflowIr;

impl<S: Store> Executor<S> {
    /// Runs a step's action: fields filled in, each attempt under the step's
    /// timeout, retried with exponential backoff and jitter. Returns the result and the attempts made.
    /// `ai-prompt` and `switch-model` run here (with the run's models) unless the
    /// registry replaced them; they also return the run's new model state.
    pub(super) async fn run_step(
        &self,
        run_id: &str,
        engine: &dyn Engine,
        step: usize,
        exit_code_handled: bool,
        run: &RunModels,
    ) -> (Result<(ActionOutput, Option<RunModels>), ActionFailure>, u32) {
        let ir = engine.ir();
        let ir_step = &ir.steps[step];
        let (mut params, command_refs) = match step_params(engine, step) {
            Ok(filled) => filled,
            Err(e) => return (Err(ActionFailure::new(format!("cannot fill in the step's fields: {e}"))), 0),
        };
        if exit_code_handled {
            params.insert(crate::actions::shell::EXIT_CODE_HANDLED.to_string(), Value::Bool(true));
        }
        let models = self.options.models.as_ref().filter(|_| MODEL_ACTIONS.contains(&ir_step.action.as_str()) && self.actions.is_builtin(&ir_step.action));
        let action = match (models, self.actions.get(&ir_step.action)) {
            (Some(_), _) => None,
            (None, Some(action)) => Some(action),
            (None, None) => return (Err(ActionFailure::new(format!("no action `{}` is registered", ir_step.action))), 0),
        };
        let attempts = ir_step.retry.as_ref().map_or(1, |r| r.attempts.max(1));
        let mut ctx = StepContext {
            run_id: run_id.to_string(),
            step_id: ir_step.id.clone(),
            action: ir_step.action.clone(),
            params,
            command_refs,
            variables: engine.variables(),
            cwd: self.options.cwd.clone(),
            attempt: 1,
            run: engine.run().clone(),
        };
        let mut last = None;
        for attempt in 1..=attempts {
            ctx.attempt = attempt;
            let run = async {
                match (action, models) {
                    (Some(action), _) => action.run(&ctx).await.map(|done| (done, None)),
                    (None, Some(models)) => match ir_step.action.as_str() {
                        // Boxed: their futures are large, and most steps of most runs are not model steps.
                        "review-pr" | "self-review" => {
                            let github = self.options.github.clone().unwrap_or_else(crate::github::GitHubSettings::from_env);
                            Box::pin(super::model_actions::review(models, ir, ir_step, &ctx, run, &github)).await
                        }
                        "make-changes" => Box::pin(super::model_actions::changes(models, ir, ir_step, &ctx, run)).await,
                        _ => Box::pin(model_step(models, ir, ir_step, &ctx, run, self.options.stream.as_ref())).await,
                    }
                    .map(|(done, run)| (done, Some(run))),
                    (None, None) => Err(ActionFailure::new("no action to run")),
                }
            };
            let result = match ir_step.timeout_ms {
                Some(ms) => match tokio::time::timeout(Duration::from_millis(ms), run).await {
                    Ok(result) => result,
                    Err(_) => Err(ActionFailure::new(format!("timed out after {}", human_ms(ms)))),
                },
                None => run.await,
            };
            match result {
                Ok(done) => return (Ok(done), attempt),
                Err(failure) => {
                    if attempt < attempts {
                        let backoff = ir_step.retry.as_ref().map_or(0, |r| r.backoff_ms);
                        let delay = backoff_delay(backoff, attempt);
                        tracing::info!(attempt, delay_ms = delay.as_millis() as u64, error = %failure.message, "retrying");
                        tokio::time::sleep(delay).await;
                    }
                    last = Some(failure);
                }
            }
        }
        (Err(last.unwrap_or_else(|| ActionFailure::new("no attempt was made"))), attempts)
    }
}

/// Actions the executor runs with the run's models (unless the registry replaced them).
const MODEL_ACTIONS: &[&str] = &["ai-prompt", "switch-model", "review-pr", "self-review", "make-changes"];

/// Why the run is over its `budget:`, if it is.
pub(super) fn over_budget(ir: &WorkflowIr, run: &RunModels) -> Option<String> {
    let budget = ir.budget.as_ref()?;
    let used = run.usage.input_tokens + run.usage.output_tokens;
    if let Some(limit) = budget.tokens.filter(|&limit| used > limit) {
        return Some(format!("budget exceeded: used {used} tokens of {limit}"));
    }
    if let Some(limit) = budget.usd.filter(|&limit| run.cost_usd > limit) {
        return Some(format!("budget exceeded: used ${:.4} of ${limit}", run.cost_usd));
    }
    None
}

/// Resolves a model name of a step (`original`: the run's starting model).
pub(super) fn step_model(models: &ModelRuntime, ir: &WorkflowIr, run: &RunModels, name: &str) -> Result<ModelRef, ActionFailure> {
    if name.trim() == "original" {
        return run
            .original
            .clone()
            .ok_or_else(|| ActionFailure::new("`original` names the run's starting model, and this run has none (set `default:` in the model config)"));
    }
    models.resolve(ir, name).map_err(|e| ActionFailure::new(e.to_string()))
}

/// `switch-model` and `ai-prompt` with the run's models: the step's outputs and the run's new model state.
async fn model_step(
    models: &ModelRuntime,
    ir: &WorkflowIr,
    ir_step: &workflow_core::ir::StepIr,
    ctx: &StepContext,
    run: &RunModels,
    stream: Option<&StreamSink>,
) -> Result<(ActionOutput, RunModels), ActionFailure> {
    let mut next = run.clone();
    if ir_step.action == "switch-model" {
        let name = ctx.text("model").ok_or_else(|| ActionFailure::new("`switch-model` needs `model:`"))?;
        let model = step_model(models, ir, run, name)?;
        next.model = Some(model.clone());
        return Ok((ActionOutput::new(json!({ "model": model.to_string() })), next));
    }
    let model = match &ir_step.model {
        Some(name) => step_model(models, ir, run, name)?,
        None => run.model.clone().ok_or_else(|| ActionFailure::new("no model to ask: set `default:` in the model config, or `switch-model` first"))?,
    };
    let prompt = ctx.text("prompt").ok_or_else(|| ActionFailure::new("`ai-prompt` needs `prompt:`"))?;
    if let Some(system) = ctx.text("system") {
        next.conversation.retain(|m| m.role != Role::System);
        next.conversation.insert(0, Message { role: Role::System, content: system.to_string() });
    }
    next.conversation.push(Message { role: Role::User, content: prompt.to_string() });
    let json_format = ctx.text("format") == Some("json");
    let number = |key: &str| ctx.params.get(key).and_then(|v| v.as_f64().or_else(|| v.as_str().and_then(|t| t.trim().parse().ok())));
    let request = ChatRequest {
        model: model.model.clone(),
        messages: next.conversation.clone(),
        max_tokens: number("max-tokens").map(|n| n as u32),
        temperature: number("temperature").map(|t| t as f32),
        json: json_format,
    };
    let provider = models.provider(&model.provider).map_err(ActionFailure::new)?;
    let model_name = model.to_string();
    let mut first = true;
    let mut sink = stream.map(|stream| {
        move |text: &str| {
            stream(&StreamPiece { step_id: &ctx.step_id, model: &model_name, text, first });
            first = false;
        }
    });
    let sink = sink.as_mut().map(|s| s as &mut (dyn FnMut(&str) + Send));
    let answer = provider.chat(&request, sink).await.map_err(|e| ActionFailure::new(e.to_string()))?;
    next.conversation.push(Message { role: Role::Assistant, content: answer.content.clone() });
    let cost = cost_usd(models.config(), &model, answer.usage);
    next.usage.input_tokens += answer.usage.input_tokens;
    next.usage.output_tokens += answer.usage.output_tokens;
    next.cost_usd += cost.unwrap_or(0.0);
    let mut output = json!({
        "response": answer.content,
        "model": model.to_string(),
        "usage": answer.usage,
        "cost_usd": cost,
    });
    if json_format {
        let parsed: Value = serde_json::from_str(answer.content.trim())
            .map_err(|e| ActionFailure { message: format!("the answer of {model} is not valid JSON (format: json): {e}"), output: output.clone() })?;
        output["json"] = parsed;
    }
    let mut done = ActionOutput::new(output);
    if let Some(var) = ir_step.writes.and_then(|i| ir.variables.get(i)) {
        done.assign.push((var.name.clone(), Value::String(answer.content)));
    }
    Ok((done, next))
}

/// Applies the variables an action writes.
pub(super) fn assign_all(engine: &mut dyn Engine, done: &ActionOutput) -> Result<(), String> {
    for (name, value) in &done.assign {
        let ty = engine.ir().variables.iter().find(|v| &v.name == name).map(|v| v.ty).unwrap_or(Type::Any);
        engine.assign(name, from_text(value.clone(), ty))?;
    }
    Ok(())
}

/// Text read from a file or typed by a person, as a value of the variable's type when it reads as one.
pub(super) fn from_text(value: Value, ty: Type) -> Value {
    let Value::String(text) = &value else { return value };
    let t = text.trim();
    let parsed = match ty {
        Type::Int => t.parse::<i64>().ok().map(Value::from),
        Type::Float => t.parse::<f64>().ok().map(Value::from),
        Type::Bool => match t {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        Type::List | Type::Map => serde_json::from_str(t).ok(),
        _ => None,
    };
    parsed.unwrap_or(value)
}

/// `backoff · 2^(attempt-1)`, times a random factor in [0.5, 1.5) so retries of many runs spread out.
pub(super) fn backoff_delay(backoff_ms: u64, attempt: u32) -> Duration {
    let base = backoff_ms.saturating_mul(1u64 << (attempt - 1).min(16));
    let jitter: f64 = rand::rng().random_range(0.5..1.5);
    Duration::from_millis((base as f64 * jitter) as u64)
}

/// Steps whose `exit_code` the workflow reads in a condition or `set:`: a non-zero exit is theirs to handle.
pub(super) fn handled_exit_codes(ir: &WorkflowIr) -> Vec<usize> {
    let mut handled = Vec::new();
    let mut visit = |expr: &Expr| {
        let mut stack = vec![expr];
        while let Some(e) = stack.pop() {
            match &e.kind {
                ExprKind::Path(path) if path.len() == 3 && path[0] == "step" && path[2] == "exit_code" => {
                    if let Some(i) = ir.steps.iter().position(|s| s.id == path[1]) {
                        handled.push(i);
                    }
                }
                ExprKind::Unary(_, a) => stack.push(a),
                ExprKind::Binary(_, a, b) => {
                    stack.push(a);
                    stack.push(b);
                }
                ExprKind::Call(_, args) => stack.extend(args.iter()),
                _ => {}
            }
        }
    };
    for step in &ir.steps {
        if let Some(c) = crate::interpret::flow_condition(step) {
            visit(c);
        }
        for (_, e) in &step.set {
            visit(e);
        }
    }
    handled
}

pub(super) fn human_ms(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
