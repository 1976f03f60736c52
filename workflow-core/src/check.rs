//! The build-time checks of DESIGN.md §4. One `check_*` function per rule,
//! each opened by the rule it enforces; all run, and every mistake is
//! collected so the user sees them in one build.

use crate::diagnostic::{Diagnostic, Diagnostics, Source};
use crate::expr::{self, Type};
use crate::model::{ActionKind, Condition, ParamValue, Step, Workflow};
use crate::read::{read_workflow, ReadOptions};
use crate::resolve::{ResolveError, Scope, Site};
use crate::set::Compiled;
use crate::span::{Ident, Span};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Reads, checks and lowers YAML sources as one set.
pub fn compile_set(sources: &[Arc<Source>], options: &ReadOptions) -> Result<Vec<Compiled>, Diagnostics> {
    let mut diags = Diagnostics::new();
    let mut models = Vec::new();
    for source in sources {
        match crate::node::parse_yaml(source) {
            Ok(root) => {
                let (model, read_diags) = read_workflow(&root, Some(source.clone()), options);
                diags.extend(read_diags);
                if let Some(model) = model {
                    let mut found = check_workflow(&model);
                    found.attach_source(source);
                    diags.extend(found);
                    models.push(model);
                }
            }
            Err(d) => diags.push(d),
        }
    }
    diags.extend(check_set(&models));
    if !diags.is_empty() {
        diags.sort();
        return Err(diags);
    }
    Ok(models.into_iter().map(|model| Compiled { ir: crate::lower::lower(&model), model }).collect())
}

/// Runs every per-workflow check. Spans point into the workflow's source.
pub fn check_workflow(workflow: &Workflow) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let scope = Scope::new(workflow);
    check_duplicate_ids(workflow, &mut diags);
    check_jump_targets(workflow, &scope, &mut diags);
    // With a jump to nowhere or an ambiguous id the graph is incomplete:
    // its shape would only produce follow-on errors of the ones just found.
    let graph_complete = diags.is_empty();
    check_flow_keys(workflow, &mut diags);
    check_max_iterations(workflow, &mut diags);
    if graph_complete {
        check_reachable(workflow, &scope, &mut diags);
        let before = diags.len();
        check_cycles_bounded(workflow, &scope, &mut diags);
        // A cycle with no way out is already an unbounded cycle: one error, not two.
        if diags.len() == before {
            check_can_finish(workflow, &scope, &mut diags);
        }
    }
    check_expressions(workflow, &scope, &mut diags);
    check_models(workflow, &mut diags);
    check_requires(workflow, &scope, &mut diags);
    check_expectations(workflow, &mut diags);
    if let Some(source) = &workflow.source {
        diags.attach_source(source);
    }
    diags
}

// Rule 2: step ids are unique.
fn check_duplicate_ids(workflow: &Workflow, diags: &mut Diagnostics) {
    let mut seen: HashMap<&str, &Ident> = HashMap::new();
    for step in &workflow.steps {
        match seen.get(step.id.as_str()) {
            Some(first) => {
                let line = first.span.line().map(|l| format!(" (first defined on line {l})")).unwrap_or_default();
                diags.push(
                    Diagnostic::error(step.id.span, format!("duplicate step id `{}`{line}", step.id.value))
                        .label("duplicate id")
                        .help("give every step a unique `id:`"),
                );
            }
            None => {
                seen.insert(step.id.as_str(), &step.id);
            }
        }
    }
}

// Rule 1: every jump (`to`, `on-*`, `next`, `requires`, `on-exhausted`) names an existing step.
fn check_jump_targets(workflow: &Workflow, scope: &Scope, diags: &mut Diagnostics) {
    let mut ids: Vec<&str> = workflow.steps.iter().map(|s| s.id.as_str()).collect();
    ids.dedup();
    for step in &workflow.steps {
        let f = &step.flow;
        let jumps = [
            ("to", &f.loop_to),
            ("on-true", &f.on_true),
            ("on-false", &f.on_false),
            ("next", &f.next),
            ("on-success", &f.on_success),
            ("on-error", &f.on_error),
            ("on-exhausted", &f.on_exhausted),
        ];
        let requires = f.requires.as_ref().map(|r| ("requires", &r.step));
        let all = jumps.iter().filter_map(|(k, t)| t.as_ref().map(|t| (*k, t))).chain(requires);
        for (key, target) in all {
            if !scope.ids.contains_key(target.as_str()) {
                diags.push(
                    Diagnostic::error(target.span, format!("`{key}: {}` in step `{}` names no step", target.value, step.id.value))
                        .label("unknown step")
                        .suggest(target.as_str(), ids.iter().copied())
                        .or_help(format!("steps are: {}", ids.join(", "))),
                );
            }
        }
    }
}

// `next` and `on-success` mean the same; branches need a `check`.
fn check_flow_keys(workflow: &Workflow, diags: &mut Diagnostics) {
    for step in &workflow.steps {
        let f = &step.flow;
        if let (Some(_), Some(second)) = (&f.next, &f.on_success) {
            diags.push(
                Diagnostic::error(second.span, format!("step `{}` has both `next:` and `on-success:`", step.id.value)).help("they mean the same: keep one"),
            );
        }
        let action = step.spec().map(|s| s.name);
        let is_loop = action == Some("loop");
        let useless: &[(&str, &Option<Ident>)] = match action {
            Some("end") => &[("next", &f.next), ("on-success", &f.on_success), ("on-error", &f.on_error), ("on-true", &f.on_true), ("on-false", &f.on_false)],
            Some("loop") => &[("on-true", &f.on_true), ("on-false", &f.on_false)],
            _ => &[],
        };
        for (key, target) in useless {
            if let Some(target) = target {
                let why = if is_loop { "a loop goes to `to:` while its condition holds, else to the next step" } else { "the run ends here" };
                diags.push(
                    Diagnostic::error(target.span, format!("`{key}:` has no effect on {} step `{}`", step.action.value, step.id.value))
                        .help(format!("remove it: {why}")),
                );
            }
        }
        // A conditional without `check:` is reported where it is read.
        if f.check.is_none() && !is_loop && action != Some("end") && action != Some("conditional") {
            for branch in [&f.on_true, &f.on_false].into_iter().flatten() {
                diags.push(
                    Diagnostic::error(branch.span, format!("step `{}` branches but has no `check:`", step.id.value))
                        .help("add `check: <condition>` (for example `check: approved`)"),
                );
            }
        }
    }
}

// Rule 15: a `loop` has `max-iterations`, and every `max-iterations` is at least 1.
fn check_max_iterations(workflow: &Workflow, diags: &mut Diagnostics) {
    for step in &workflow.steps {
        match &step.flow.max_iterations {
            Some(max) if max.value < 1 => {
                diags.push(
                    Diagnostic::error(max.span, format!("`max-iterations` must be at least 1, found {}", max.value))
                        .help("it is how many times the step may run (or jump back)"),
                );
            }
            Some(max) if max.value > i64::from(u32::MAX) => {
                diags.push(Diagnostic::error(max.span, "`max-iterations` is too large").help("use a bound below 4294967296"));
            }
            None if step.spec().map(|s| s.name) == Some("loop") => {
                diags.push(
                    Diagnostic::error(step.id.span, format!("loop step `{}` has no `max-iterations`", step.id.value))
                        .label("unbounded loop")
                        .help("add `max-iterations: N`, the most times it may jump back (every loop must be bounded)"),
                );
            }
            _ => {}
        }
    }
}

// Rule 5: every step is reachable from the start.
fn check_reachable(workflow: &Workflow, scope: &Scope, diags: &mut Diagnostics) {
    let reachable = scope.graph.reachable();
    for (i, step) in workflow.steps.iter().enumerate() {
        if !reachable[i] && scope.ids.get(step.id.as_str()) == Some(&i) {
            diags.push(
                Diagnostic::error(step.id.span, format!("step `{}` is unreachable: no path from the start leads to it", step.id.value))
                    .label("unreachable step")
                    .help("jump to it (`next:`, `on-true:`, `to:` ...) or remove it"),
            );
        }
    }
}

// Rule 6: every cycle has a step bounding it (`max-iterations`, or a `loop` step's jump).
fn check_cycles_bounded(workflow: &Workflow, scope: &Scope, diags: &mut Diagnostics) {
    let reachable = scope.graph.reachable();
    for (steps, closing) in scope.graph.unbounded_cycles(workflow) {
        if !steps.iter().any(|&s| reachable[s]) {
            continue;
        }
        let names: Vec<&str> = steps.iter().map(|&s| workflow.steps[s].id.as_str()).collect();
        diags.push(
            Diagnostic::error(
                closing.span,
                format!("unbounded cycle: steps {} can repeat forever", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" → ")),
            )
            .label("this jump closes the cycle")
            .help(format!("add `max-iterations: N` to a step of the cycle (for example `{}`), or use a `loop` step", names[0])),
        );
    }
}

// Rule 7: from every step the end can be reached. Reported at each trap (the
// steps the run can never leave but by failing) and the jumps that close it,
// not at the steps that merely lead into it: those need no change.
fn check_can_finish(workflow: &Workflow, scope: &Scope, diags: &mut Diagnostics) {
    for trap in scope.graph.traps() {
        let steps: Vec<String> = trap.steps.iter().map(|&s| format!("`{}`", workflow.steps[s].id.value)).collect();
        let jumps: Vec<String> = trap.jumps.iter().map(|(from, edge)| jump_text(workflow, *from, edge)).collect();
        let (what, them) = if steps.len() == 1 { (format!("step {}", steps[0]), "it") } else { (format!("steps {}", steps.join(", ")), "them") };
        let mut message = format!("the run can never complete once it reaches {what}: only failing leaves {them}");
        if !jumps.is_empty() {
            message += &format!(" (closed by {})", and_list(&jumps));
        }
        let (primary, rest) = match trap.jumps.split_first() {
            Some(((_, first), rest)) => (first.span, rest),
            None => (workflow.steps[trap.steps[0]].id.span, &[][..]),
        };
        let mut d = Diagnostic::error(primary, message).label("this jump leads back into the trap");
        for (_, edge) in rest {
            d = d.also(edge.span, "and this one");
        }
        for &s in &trap.steps {
            d = d.also(workflow.steps[s].id.span, "in the trap");
        }
        diags.push(d.help("give the trap a way out: point one of these jumps (or a branch, or `on-exhausted:`) at a step outside it, or at `action: end`"));
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A jump as the user wrote it: `next: retry` of step `retry`.
fn jump_text(workflow: &Workflow, from: usize, edge: &crate::analysis::Edge) -> String {
    use crate::analysis::EdgeKind;
    let step = &workflow.steps[from];
    let key = match edge.kind {
        EdgeKind::Next if step.flow.next.is_none() && step.flow.on_success.is_some() => "on-success",
        EdgeKind::Next => "next",
        EdgeKind::True => "on-true",
        EdgeKind::False => "on-false",
        EdgeKind::LoopJump => "to",
        EdgeKind::Error => "on-error",
        EdgeKind::Exhausted => "on-exhausted",
    };
    let target = workflow.steps.get(edge.to).map_or("?", |t| t.id.value.as_str());
    format!("`{key}: {target}` of step `{}`", step.id.value)
}

// Rules 8, 9, 10: every name in `${..}` and conditions is defined, readable
// where it is written (the step has surely run, the variable is surely
// assigned), and conditions are well typed.
fn check_expressions(workflow: &Workflow, scope: &Scope, diags: &mut Diagnostics) {
    let source = workflow.source.as_deref().map(|s| s.text.as_str());
    for (i, step) in workflow.steps.iter().enumerate() {
        for param in &step.params {
            match &param.value {
                ParamValue::Text(template, raw) => check_template(scope, template, raw, param.span, Site::Before(i), source, diags),
                ParamValue::TextList(items) => {
                    for (template, raw, span) in items {
                        check_template(scope, template, raw, *span, Site::Before(i), source, diags);
                    }
                }
                // Strings inside maps and free-form values (`env:`, `value:`, custom fields) interpolate too.
                ParamValue::Json(value) => {
                    for_each_string(value, &mut |raw| match crate::template::parse_template(raw) {
                        Ok(template) => check_template(scope, &template, raw, param.span, Site::Before(i), source, diags),
                        Err(e) => {
                            let written = raw.get(e.span.clone()).filter(|w| !w.is_empty()).unwrap_or(raw);
                            let at = source.map_or(param.span, |s| param.span.find(s, written));
                            diags.push(Diagnostic::error(at, e.message.clone()).or_help(e.help.clone().unwrap_or_default()));
                        }
                    });
                }
                _ => {}
            }
        }
        if let Some(check) = &step.flow.check {
            check_condition(scope, check, Site::After(i), Some(step), true, source, diags);
        }
        for (name, value) in &step.set {
            reject_closure(value, "`set:` values", diags);
            let ty = check_condition(scope, value, Site::After(i), Some(step), false, source, diags);
            check_assignment(scope, name, value, ty, diags);
        }
    }
    for trigger in &workflow.on_completion {
        if let Some(condition) = &trigger.condition {
            reject_closure(condition, "`on-completion` conditions", diags);
            check_condition(scope, condition, Site::Trigger, None, true, source, diags);
        }
    }
    for expectation in &workflow.expect {
        reject_closure(&expectation.expr, "`expect:` expressions", diags);
        check_condition(scope, &expectation.expr, Site::Expect, None, false, source, diags);
    }
}

/// Calls `f` on every string inside a JSON value.
fn for_each_string(value: &serde_json::Value, f: &mut dyn FnMut(&str)) {
    match value {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| for_each_string(v, f)),
        serde_json::Value::Object(map) => map.values().for_each(|v| for_each_string(v, f)),
        _ => {}
    }
}

/// Rust closures are bound only where the generated code calls them: `check:` and a loop's `condition:`.
fn reject_closure(condition: &Condition, place: &str, diags: &mut Diagnostics) {
    if condition.rust.is_some() {
        diags.push(
            Diagnostic::error(condition.span, format!("a Rust closure cannot be used in {place}"))
                .help("closures are allowed as `check:` and as a loop's `condition:`; write this one as an expression string"),
        );
    }
}

/// A `set:` value must fit the variable it is assigned to.
fn check_assignment(scope: &Scope, name: &Ident, value: &Condition, found: Option<Type>, diags: &mut Diagnostics) {
    let Some(found) = found else { return };
    let Some(var) = scope.vars.iter().find(|v| v.name == name.value) else { return };
    let fits = found == var.ty || matches!(found, Type::Any | Type::Null) || var.ty == Type::Any || (var.ty == Type::Float && found == Type::Int);
    if !fits {
        diags.push(
            Diagnostic::error(value.span, format!("type mismatch: `{}` is {} but `{}` is {found}", name.value, var.ty, value.text))
                .label("wrong type")
                .help(format!("assign a {} value to `{}`", var.ty, name.value)),
        );
    }
}

fn check_template(scope: &Scope, template: &crate::template::Template, raw: &str, span: Span, site: Site, source: Option<&str>, diags: &mut Diagnostics) {
    for (path, range) in template.refs() {
        if let Err(e) = scope.resolve(path, site) {
            let written = raw.get(range.clone()).unwrap_or_default();
            let at = source.map_or(span, |s| span.find(s, written));
            diags.push(resolve_error(e, path, at, site, scope));
        }
    }
}

/// Checks names and types of an expression; returns its type when it is well typed.
fn check_condition(
    scope: &Scope,
    condition: &Condition,
    site: Site,
    step: Option<&Step>,
    must_be_bool: bool,
    source: Option<&str>,
    diags: &mut Diagnostics,
) -> Option<Type> {
    let Some(expr) = &condition.expr else { return None };
    let at = |range: std::ops::Range<usize>| {
        let written = condition.text.get(range).filter(|w| !w.is_empty()).unwrap_or(&condition.text);
        source.map_or(condition.span, |s| condition.span.find(s, written))
    };
    let mut resolve_errors = Vec::new();
    let mut resolver = |path: &[String], range: std::ops::Range<usize>| match scope.resolve(path, site) {
        Ok(resolved) => scope.type_of(&resolved),
        Err(e) => {
            resolve_errors.push(resolve_error(e, path, at(range), site, scope));
            Type::Any
        }
    };
    let (ty, type_errors) = if must_be_bool {
        (Some(Type::Bool), expr::check_condition(expr, &mut resolver))
    } else {
        match expr::infer(expr, &mut resolver) {
            Ok(ty) => (Some(ty), Vec::new()),
            Err(errors) => (None, errors),
        }
    };
    let resolve_errors_found = !resolve_errors.is_empty();
    diags.extend_from(resolve_errors);
    for e in type_errors.iter().cloned() {
        let mut d = Diagnostic::error(at(e.span.clone()), format!("in `{}`: {}", condition.text, e.message)).label("type error");
        if let Some(help) = e.help {
            d = d.help(help);
        }
        diags.push(d);
    }
    if let Some(step) = step {
        check_predicates(expr, step, condition.span, diags);
    }
    let clean = !resolve_errors_found && type_errors.is_empty();
    clean.then_some(ty).flatten()
}

/// `file-exists` / `variable-equals` read the step's own `file:`, `variable:`, `value:`.
fn check_predicates(expr: &expr::Expr, step: &Step, span: Span, diags: &mut Diagnostics) {
    use expr::{ExprKind, Predicate};
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        match &e.kind {
            ExprKind::Predicate(Predicate::FileExists) if step.param("file").is_none() && step.param("variable").is_none() => {
                diags.push(Diagnostic::error(span, format!("`file-exists` in step `{}` needs the step's `file:` or `variable:`", step.id.value)));
            }
            ExprKind::Predicate(Predicate::VariableEquals) if step.param("variable").is_none() || step.param("value").is_none() => {
                diags.push(Diagnostic::error(span, format!("`variable-equals` in step `{}` needs the step's `variable:` and `value:`", step.id.value)));
            }
            ExprKind::Unary(_, inner) => stack.push(inner),
            ExprKind::Binary(_, a, b) => {
                stack.push(a);
                stack.push(b);
            }
            ExprKind::Call(_, args) => stack.extend(args.iter()),
            _ => {}
        }
    }
}

fn resolve_error(e: ResolveError, path: &[String], at: Span, site: Site, scope: &Scope) -> Diagnostic {
    let written = path.join(".");
    let reader = match site {
        Site::Before(s) | Site::After(s) => format!("step `{}`", scope.workflow.steps[s].id.value),
        Site::Trigger => "`on-completion`".to_string(),
        Site::Expect => "`expect`".to_string(),
    };
    match e {
        ResolveError::Undefined { candidates } => {
            let d = Diagnostic::error(at, format!("undefined variable or output `{written}` in {reader}")).label("undefined");
            let d = d.suggest(&written, candidates.iter().map(String::as_str));
            if written.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') && matches!(site, Site::Before(_)) {
                d.or_help(format!("to pass `${{{written}}}` to the shell untouched, write `$${{{written}}}`"))
            } else {
                match site {
                    Site::Trigger => d.or_help("`on-completion` conditions read `status`, variables and `before.`/`after.`/`delta.<metric>`"),
                    Site::Expect => d.or_help("`expect:` reads the metrics of `snapshot:` (their values before the run) and variables"),
                    _ => d.or_help("declare it under `variables:`, or read an output of a step that runs before (`<step>.<field>`)"),
                }
            }
        }
        ResolveError::NotYetRun { step } => Diagnostic::error(at, format!("`{written}` is read in {reader}, but step `{step}` may not have run before it"))
            .label("may not have run")
            .help(format!("read it only on paths that pass through `{step}`, or set a variable with a default instead")),
        ResolveError::NotAssigned { var } => Diagnostic::error(at, format!("variable `{var}` may be read in {reader} before it is assigned"))
            .label("not assigned on every path")
            .help(format!("give `{var}` a default under `variables:`, or assign it on every path before this step")),
        ResolveError::UnknownField { step, candidates } => {
            Diagnostic::error(at, format!("step `{step}` has no output `{}`", path.last().map(String::as_str).unwrap_or_default()))
                .suggest(path.last().map(String::as_str).unwrap_or_default(), candidates.iter().map(String::as_str))
                .or_help(if candidates.is_empty() {
                    format!("step `{step}` produces no outputs")
                } else {
                    format!("its outputs are: {}", candidates.join(", "))
                })
        }
    }
}

// Rule 11: `switch-model` and `model:` name a declared alias (when `models:` is given).
fn check_models(workflow: &Workflow, diags: &mut Diagnostics) {
    if workflow.models.is_empty() {
        return;
    }
    let aliases: Vec<&str> = workflow.models.iter().map(|m| m.name.as_str()).chain(["original"]).collect();
    for step in &workflow.steps {
        let named = match step.param("model") {
            Some(p) => match &p.value {
                ParamValue::Name(n) => Some(n),
                _ => None,
            },
            None => step.model.as_ref(),
        };
        let Some(model) = named else { continue };
        let direct = model.value.contains(':');
        if !direct && !aliases.contains(&model.as_str()) {
            diags.push(
                Diagnostic::error(model.span, format!("model `{}` is not declared in `models:`", model.value))
                    .label("undeclared model")
                    .suggest(model.as_str(), aliases.iter().copied())
                    .or_help(format!("declared models: {}", aliases.join(", "))),
            );
        }
    }
}

// Rule 12: `requires:` names an approval gate that always runs before the step.
fn check_requires(workflow: &Workflow, scope: &Scope, diags: &mut Diagnostics) {
    for (i, step) in workflow.steps.iter().enumerate() {
        let Some(requires) = &step.flow.requires else { continue };
        let Some(&gate) = scope.ids.get(requires.step.as_str()) else { continue };
        let gate_step = &workflow.steps[gate];
        if gate_step.spec().map(|s| s.name) != Some("approval-gate") {
            diags.push(
                Diagnostic::error(
                    requires.step.span,
                    format!(
                        "`requires: {}.{}` names step `{}`, which is a `{}` step, not an approval-gate",
                        requires.step.value, requires.field, gate_step.id.value, gate_step.action.value
                    ),
                )
                .label("not an approval gate")
                .help("`requires:` takes an `action: approval-gate` step that runs before this one"),
            );
        } else if !scope.dominance.dominates(2 * gate + 1, 2 * i) {
            diags.push(
                Diagnostic::error(requires.step.span, format!("approval gate `{}` does not always run before step `{}`", gate_step.id.value, step.id.value))
                    .help("`requires:` needs the gate on every path to this step"),
            );
        }
    }
}

// `expect:` names metrics of `snapshot:`.
fn check_expectations(workflow: &Workflow, diags: &mut Diagnostics) {
    let metrics: Vec<&str> = workflow.snapshot.iter().map(|m| m.name.as_str()).collect();
    for e in &workflow.expect {
        if !metrics.contains(&e.metric.as_str()) {
            diags.push(
                Diagnostic::error(e.metric.span, format!("`expect:` names `{}`, which is not a metric of `snapshot:`", e.metric.value))
                    .suggest(e.metric.as_str(), metrics.iter().copied())
                    .or_help("declare it under `snapshot:`"),
            );
        }
    }
}

// Rule 13: `on-completion` and `run-workflow` name workflows of the set, and triggers form no cycle.
/// Checks a set of workflows together.
pub fn check_set(workflows: &[Workflow]) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let names: Vec<&str> = workflows.iter().map(|w| w.name.as_str()).collect();
    let mut seen: HashMap<&str, &Workflow> = HashMap::new();
    for w in workflows {
        if let Some(first) = seen.get(w.name.as_str()) {
            let place = first.source.as_ref().map(|s| format!(" (also in {})", s.path)).unwrap_or_default();
            push_in(
                &mut diags,
                w,
                Diagnostic::error(w.name.span, format!("two workflows are named `{}`{place}", w.name.value)).help("workflow names must be unique within a set"),
            );
        } else {
            seen.insert(w.name.as_str(), w);
        }
    }
    // Edges of the trigger graph: workflow → (workflow it starts, where).
    let mut calls: Vec<Vec<(usize, Span)>> = vec![Vec::new(); workflows.len()];
    for (wi, w) in workflows.iter().enumerate() {
        let refs = w.on_completion.iter().map(|t| &t.workflow).chain(w.steps.iter().filter_map(|s| match (&s.kind, s.param("workflow")) {
            (ActionKind::Builtin(spec), Some(p)) if spec.name == "run-workflow" => match &p.value {
                ParamValue::Name(n) => Some(n),
                _ => None,
            },
            _ => None,
        }));
        for target in refs {
            match names.iter().position(|n| *n == target.as_str()) {
                Some(ti) => calls[wi].push((ti, target.span)),
                None => push_in(
                    &mut diags,
                    w,
                    Diagnostic::error(target.span, format!("unknown workflow `{}`", target.value))
                        .label("no such workflow in this set")
                        .suggest(target.as_str(), names.iter().copied())
                        .or_help("validate the folder holding both workflows, so they are checked as one set"),
                ),
            }
        }
    }
    report_trigger_cycles(workflows, &calls, &mut diags);
    diags
}

fn report_trigger_cycles(workflows: &[Workflow], calls: &[Vec<(usize, Span)>], diags: &mut Diagnostics) {
    let mut reported: HashSet<Vec<usize>> = HashSet::new();
    for start in 0..workflows.len() {
        // Depth-first search for a path back to `start`.
        let mut stack: Vec<(usize, Vec<usize>)> = vec![(start, vec![start])];
        let mut visited = HashSet::new();
        while let Some((node, path)) = stack.pop() {
            for &(next, span) in &calls[node] {
                if next == start {
                    let mut key = path.clone();
                    key.sort_unstable();
                    if reported.insert(key) {
                        let names: Vec<&str> = path.iter().chain([&start]).map(|&i| workflows[i].name.as_str()).collect();
                        push_in(
                            diags,
                            &workflows[node],
                            Diagnostic::error(span, format!("trigger cycle: {} would start each other forever", names.join(" → ")))
                                .help("remove one of the triggers, or guard it so the cycle ends"),
                        );
                    }
                } else if visited.insert(next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
}

fn push_in(diags: &mut Diagnostics, workflow: &Workflow, mut d: Diagnostic) {
    d.source = workflow.source.clone();
    diags.push(d);
}
