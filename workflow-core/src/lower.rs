//! Lowering a checked workflow to the [`ir`](crate::ir): jumps become step
//! indices, every name in a condition or `${..}` becomes its resolved
//! canonical path (`var.NAME`, `step.ID.FIELD`, `iteration`, `status`,
//! `before|after|delta.METRIC`), so the interpreter and the generated code
//! never resolve names again. Also computes the definition hash.

use crate::analysis::output_type;
use crate::expr::{Expr, ExprKind, Literal};
use crate::ir::*;
use crate::model::{ActionKind, Condition, MetricSource, ParamValue, Step, Workflow};
use crate::resolve::{Resolved, Scope, Site};
use crate::template::{Part, Template};
use sha2::{Digest, Sha256};

/// The path a closure condition of `workflow!` lowers to: codegen replaces it
/// with the user's Rust code; the interpreter cannot run it.
pub const RUST_CONDITION: &str = "rust";

/// Lowers a workflow that passed [`check_workflow`](crate::check::check_workflow).
pub fn lower(workflow: &Workflow) -> WorkflowIr {
    let scope = Scope::new(workflow);
    let target = |id: Option<&crate::span::Ident>, default: Target| id.and_then(|i| scope.ids.get(i.as_str())).map_or(default, |&i| Target::Step(i));
    let n = workflow.steps.len();
    let steps = workflow
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let following = if i + 1 < n { Target::Step(i + 1) } else { Target::Complete };
            let next = target(step.flow.next.as_ref().or(step.flow.on_success.as_ref()), following);
            let on_error = target(step.flow.on_error.as_ref(), Target::Fail);
            let on_exhausted = target(step.flow.on_exhausted.as_ref(), Target::Fail);
            let condition = |c: &Option<Condition>| match c {
                Some(c) => lower_condition(&scope, c, Site::After(i)),
                None => Expr { kind: ExprKind::Literal(Literal::Bool(true)), span: 0..0 },
            };
            let action = step.spec().map(|s| s.name);
            let max = step.flow.max_iterations.as_ref().map(|m| u32::try_from(m.value).unwrap_or(u32::MAX));
            let flow = if action == Some("end") {
                FlowIr::End { failed: step.param("status").is_some_and(|p| matches!(&p.value, ParamValue::Str(s) if s == "failed")) }
            } else if action == Some("loop") {
                FlowIr::Loop {
                    condition: condition(&step.flow.check),
                    to: step.flow.loop_to.as_ref().and_then(|t| scope.ids.get(t.as_str()).copied()).unwrap_or(i),
                    max: max.unwrap_or(1),
                    next,
                    on_exhausted,
                    on_error,
                }
            } else if step.flow.check.is_some() {
                FlowIr::Branch {
                    check: condition(&step.flow.check),
                    on_true: target(step.flow.on_true.as_ref(), next),
                    on_false: target(step.flow.on_false.as_ref(), next),
                    on_error,
                }
            } else {
                FlowIr::Goto { next, on_error }
            };
            StepIr {
                id: step.id.value.clone(),
                action: step.action.value.clone(),
                description: step.description.clone(),
                params: step.params.iter().map(|p| (p.key.value.clone(), lower_param(&scope, &p.value, i))).collect(),
                outputs: outputs(step),
                flow,
                max_visits: if action == Some("loop") { None } else { max },
                on_exhausted,
                retry: step.retry.as_ref().map(|r| RetryIr { attempts: r.attempts, backoff_ms: r.backoff_ms }),
                timeout_ms: step.timeout_ms,
                set: step
                    .set
                    .iter()
                    .filter_map(|(name, value)| Some((scope.vars.iter().position(|v| v.name == name.value)?, lower_condition(&scope, value, Site::After(i)))))
                    .collect(),
                writes: step.written_variable().and_then(|v| scope.vars.iter().position(|s| s.name == v.value)),
                model: step.model.as_ref().map(|m| m.value.clone()),
                idempotent: step.idempotent,
                requires: step.flow.requires.as_ref().and_then(|r| scope.ids.get(r.step.as_str()).copied()),
                sensitive: step.spec().is_some_and(|s| s.sensitive) || matches!(step.kind, ActionKind::Custom { .. }),
            }
        })
        .collect();
    let variables =
        scope.vars.iter().map(|v| VariableIr { name: v.name.clone(), ty: v.ty, default: workflow.variable(&v.name).and_then(|d| d.default.clone()) }).collect();
    let mut ir = WorkflowIr {
        name: workflow.name.value.clone(),
        description: workflow.description.clone(),
        version: workflow.version.clone(),
        hash: String::new(),
        interactive: workflow.interactive,
        persistent: workflow.persistent,
        variables,
        models: workflow.models.iter().map(|m| (m.name.value.clone(), m.target.value.clone())).collect(),
        budget: workflow.budget.as_ref().map(|b| BudgetIr { tokens: b.tokens, usd: b.usd }),
        snapshot: workflow
            .snapshot
            .iter()
            .map(|m| match &m.source {
                MetricSource::Shell(cmd) => MetricIr { name: m.name.value.clone(), shell: Some(cmd.clone()), sql: None, url: None },
                MetricSource::Sql { url, query } => MetricIr { name: m.name.value.clone(), shell: None, sql: Some(query.clone()), url: Some(url.clone()) },
            })
            .collect(),
        expect: workflow.expect.iter().map(|e| (e.metric.value.clone(), lower_condition(&scope, &e.expr, Site::Expect))).collect(),
        on_completion: workflow
            .on_completion
            .iter()
            .map(|t| TriggerIr { workflow: t.workflow.value.clone(), condition: t.condition.as_ref().map(|c| lower_condition(&scope, c, Site::Trigger)) })
            .collect(),
        steps,
    };
    ir.hash = definition_hash(&ir);
    ir
}

/// Hex SHA-256 of the IR's canonical JSON (with the hash field empty).
pub fn definition_hash(ir: &WorkflowIr) -> String {
    definition_hash_with(ir, &[])
}

/// The definition hash, also covering Rust code the IR only refers to
/// (closure conditions and custom action paths of `workflow!`), so changing
/// that code changes the hash too.
pub fn definition_hash_with(ir: &WorkflowIr, rust_code: &[String]) -> String {
    let mut unhashed = ir.clone();
    unhashed.hash.clear();
    // Positions inside expressions are where a condition was written, not what it means:
    // `{{x}}` and `${x}` (the same reference) must give one hash. They are left out while hashing.
    let json = {
        let _hashing = Hashing::start();
        serde_json::to_vec(&unhashed).expect("IR serializes")
    };
    let mut hasher = Sha256::new();
    hasher.update(json);
    for code in rust_code {
        hasher.update([0u8]);
        hasher.update(code.as_bytes());
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

thread_local! {
    static HASHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is serializing an IR to hash it (expression spans are then left out).
pub(crate) fn hashing<T>(_: &T) -> bool {
    HASHING.with(std::cell::Cell::get)
}

/// Marks this thread as hashing until dropped.
struct Hashing;

impl Hashing {
    fn start() -> Hashing {
        HASHING.with(|h| h.set(true));
        Hashing
    }
}

impl Drop for Hashing {
    fn drop(&mut self) {
        HASHING.with(|h| h.set(false));
    }
}

/// Removes every `span` of an expression from the IR's JSON.
pub(crate) fn strip_spans(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if map.contains_key("kind") {
                map.remove("span");
            }
            map.values_mut().for_each(strip_spans);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_spans),
        _ => {}
    }
}

fn outputs(step: &Step) -> Vec<(String, crate::expr::Type)> {
    match step.spec() {
        Some(spec) => spec.outputs.iter().map(|(name, _)| (name.to_string(), output_type(step, name).unwrap_or(crate::expr::Type::Any))).collect(),
        None => Vec::new(),
    }
}

fn lower_param(scope: &Scope, value: &ParamValue, step: usize) -> serde_json::Value {
    use serde_json::Value;
    match value {
        ParamValue::Text(template, _) => Value::String(canonical_template(scope, template, step)),
        ParamValue::TextList(items) => Value::Array(items.iter().map(|(t, _, _)| Value::String(canonical_template(scope, t, step))).collect()),
        ParamValue::Int(i) => Value::from(*i),
        ParamValue::Bool(b) => Value::Bool(*b),
        ParamValue::Duration(ms) => Value::from(*ms),
        ParamValue::Name(n) => Value::String(n.value.clone()),
        ParamValue::Condition(c) => Value::String(lower_condition(scope, c, Site::After(step)).to_string()),
        ParamValue::Str(s) => Value::String(s.clone()),
        ParamValue::Json(v) => canonical_json(scope, v, step),
    }
}

/// Rewrites the `${..}` references inside the strings of a map or free-form value.
fn canonical_json(scope: &Scope, value: &serde_json::Value, step: usize) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => match crate::template::parse_template(s) {
            Ok(template) if !template.is_literal() => Value::String(canonical_template(scope, &template, step)),
            _ => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(|v| canonical_json(scope, v, step)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), canonical_json(scope, v, step))).collect()),
        other => other.clone(),
    }
}

/// Re-writes a template with canonical `${var.x}` / `${step.id.field}` references.
fn canonical_template(scope: &Scope, template: &Template, step: usize) -> String {
    let mut out = String::new();
    for part in &template.parts {
        match part {
            Part::Text(text) => out.push_str(&text.replace("${", "$${")),
            Part::Ref { path, .. } => {
                let resolved = scope.resolve(path, Site::Before(step)).map(|r| canonical_path(scope, &r)).unwrap_or_else(|_| path.clone());
                out.push_str("${");
                out.push_str(&resolved.join("."));
                out.push('}');
            }
        }
    }
    out
}

fn lower_condition(scope: &Scope, condition: &Condition, site: Site) -> Expr {
    match &condition.expr {
        Some(expr) => resolve_paths(scope, expr, site),
        None => Expr { kind: ExprKind::Path(vec![RUST_CONDITION.to_string()]), span: 0..0 },
    }
}

fn resolve_paths(scope: &Scope, expr: &Expr, site: Site) -> Expr {
    let kind = match &expr.kind {
        ExprKind::Path(path) => ExprKind::Path(scope.resolve(path, site).map(|r| canonical_path(scope, &r)).unwrap_or_else(|_| path.clone())),
        ExprKind::Unary(op, inner) => ExprKind::Unary(*op, Box::new(resolve_paths(scope, inner, site))),
        ExprKind::Binary(op, a, b) => ExprKind::Binary(*op, Box::new(resolve_paths(scope, a, site)), Box::new(resolve_paths(scope, b, site))),
        ExprKind::Call(f, args) => ExprKind::Call(*f, args.iter().map(|a| resolve_paths(scope, a, site)).collect()),
        other => other.clone(),
    };
    Expr { kind, span: expr.span.clone() }
}

/// `var.NAME[.field..]`, `step.ID.FIELD[..]`, `iteration`, `status`, `delta.METRIC`.
pub fn canonical_path(scope: &Scope, resolved: &Resolved) -> Vec<String> {
    match resolved {
        Resolved::Var { index, rest } => ["var".to_string(), scope.vars[*index].name.clone()].into_iter().chain(rest.iter().cloned()).collect(),
        Resolved::Output { step, field, .. } => {
            ["step".to_string(), scope.workflow.steps[*step].id.value.clone()].into_iter().chain(field.iter().cloned()).collect()
        }
        Resolved::Iteration => vec!["iteration".to_string()],
        Resolved::Status => vec!["status".to_string()],
        Resolved::Run { field } => vec!["run".to_string(), field.to_string()],
        Resolved::Metric { when, name } => vec![when.to_string(), name.clone()],
    }
}
