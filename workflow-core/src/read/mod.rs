//! Reads a spanned [`Node`] tree (from YAML or `workflow!`) into the
//! [`model`](crate::model), applying the field rules of the action table:
//! unknown keys (with "did you mean"), aliases, value kinds, required fields.
//! Every mistake is collected; reading goes on past it.

use crate::catalog::{self, FieldKind, FieldSpec};
use crate::diagnostic::{Diagnostic, Diagnostics, Source};
use crate::expr::{self, Type};
use crate::model::*;
use crate::node::{Node, NodeKind};
use crate::span::{Ident, Span, Spanned};
use crate::template::{self, Template};
use std::sync::Arc;

mod values;

pub use values::parse_duration_ms;
use values::{type_of_value, TYPE_WORDS};

/// What a reader accepts besides the built-in language.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Names of custom actions registered with the runtime (usable from YAML).
    pub custom_actions: Vec<String>,
}

/// Reads one workflow. Returns the model (as complete as the input allows)
/// and every mistake found; the model is `None` only when the input is not a
/// mapping with a name and steps.
pub fn read_workflow(root: &Node, source: Option<Arc<Source>>, options: &ReadOptions) -> (Option<Workflow>, Diagnostics) {
    let mut reader = Reader { source: source.clone(), diags: Diagnostics::new(), options, suggested: Vec::new() };
    let workflow = reader.workflow(root);
    let mut diags = reader.diags;
    if let Some(src) = &source {
        diags.attach_source(src);
    }
    (workflow, diags)
}

struct Reader<'a> {
    source: Option<Arc<Source>>,
    diags: Diagnostics,
    options: &'a ReadOptions,
    /// Field names offered as "did you mean" in the mapping read last, so a
    /// misspelled required field is one error, not also "missing".
    suggested: Vec<&'static str>,
}

/// The entries of one mapping, keys resolved to their canonical names.
struct Fields<'n> {
    entries: Vec<(String, &'n Ident, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(k, _, _)| *k == name).map(|(_, _, n)| *n)
    }

    fn key(&self, name: &str) -> Option<&'n Ident> {
        self.entries.iter().find(|(k, _, _)| *k == name).map(|(_, i, _)| *i)
    }
}

impl Reader<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn source_text(&self) -> Option<&str> {
        self.source.as_deref().map(|s| s.text.as_str())
    }

    /// The span of `part` of a string value written at `span`.
    fn sub_span(&self, span: Span, part: &str) -> Span {
        match self.source_text() {
            Some(text) => span.find(text, part),
            None => span,
        }
    }

    /// Splits a mapping into known fields (by canonical name) and reports
    /// unknown and repeated keys, suggesting the closest known name.
    fn fields<'n>(&mut self, map: &'n [(Ident, Node)], known: &[&'static [FieldSpec]], what: &str) -> Fields<'n> {
        let mut entries: Vec<(String, &'n Ident, &'n Node)> = Vec::new();
        self.suggested.clear();
        for (key, value) in map {
            let name = key.value.replace('_', "-");
            match known.iter().find_map(|fields| catalog::canonical(fields, &name).or_else(|| catalog::canonical(fields, &key.value))) {
                Some(spec) => {
                    if let Some((_, first, _)) = entries.iter().find(|(k, _, _)| k == spec.name) {
                        let first_line = first.span.line().map(|l| format!(" (first given on line {l})")).unwrap_or_default();
                        self.push(Diagnostic::error(key.span, format!("`{}` is given twice{first_line}", spec.name)).help("keep one of them"));
                    } else {
                        entries.push((spec.name.to_string(), key, value));
                    }
                }
                None => {
                    let candidates: Vec<&'static str> = known.iter().flat_map(|f| f.iter().map(|s| s.name)).collect();
                    if let Some(near) = crate::diagnostic::closest(&key.value, candidates.iter().copied()) {
                        self.suggested.push(near);
                    }
                    let d = Diagnostic::error(key.span, format!("unknown field `{}` for {what}", key.value))
                        .label("unknown field")
                        .suggest(&key.value, candidates.iter().copied())
                        .or_help(format!("{what} accepts: {}", candidates.join(", ")));
                    self.push(d);
                }
            }
        }
        Fields { entries }
    }

    fn workflow(&mut self, root: &Node) -> Option<Workflow> {
        let Some(map) = root.as_map() else {
            self.push(Diagnostic::error(root.span, format!("a workflow file must be a mapping with `name:` and `steps:`, found {}", root.describe())));
            return None;
        };
        let fields = self.fields(map, &[catalog::WORKFLOW_KEYS], "a workflow");
        let misspelled = std::mem::take(&mut self.suggested);
        let name = match fields.get("name") {
            Some(n) => self.ident(n, "the workflow name"),
            None if misspelled.contains(&"name") => None,
            None => {
                self.push(Diagnostic::error(root.span, "the workflow has no `name:`").help("add `name: my-workflow` at the top"));
                None
            }
        };
        let steps_node = fields.get("steps");
        if steps_node.is_none() && !misspelled.contains(&"steps") {
            self.push(Diagnostic::error(root.span, "the workflow has no `steps:`").help("add a `steps:` list"));
        }
        let mut workflow = Workflow {
            source: self.source.clone(),
            name: name.clone().unwrap_or_else(|| Ident::new(String::new(), root.span)),
            description: fields.get("description").and_then(|n| self.string(n, "description")),
            version: fields.get("version").and_then(|n| self.scalar(n, "version")),
            interactive: fields.get("interactive").and_then(|n| self.bool(n, "interactive")).unwrap_or(true),
            persistent: fields.get("persistent").and_then(|n| self.bool(n, "persistent")).unwrap_or(true),
            variables: fields.get("variables").map(|n| self.variables(n)).unwrap_or_default(),
            models: fields.get("models").map(|n| self.models(n)).unwrap_or_default(),
            budget: fields.get("budget").and_then(|n| self.budget(n)),
            snapshot: fields.get("snapshot").map(|n| self.snapshot(n)).unwrap_or_default(),
            expect: fields.get("expect").map(|n| self.expect(n)).unwrap_or_default(),
            on_completion: fields.get("on-completion").map(|n| self.triggers(n)).unwrap_or_default(),
            steps: Vec::new(),
        };
        if let Some(node) = steps_node {
            match &node.kind {
                NodeKind::Seq(items) => {
                    workflow.steps = items.iter().filter_map(|item| self.step(item)).collect();
                    if items.is_empty() {
                        self.push(Diagnostic::error(node.span, "`steps:` is empty").help("a workflow needs at least one step"));
                    }
                }
                _ => self.push(Diagnostic::error(node.span, format!("`steps:` must be a list of steps, found {}", node.describe()))),
            }
        }
        name.map(|_| workflow)
    }

    fn variables(&mut self, node: &Node) -> Vec<Variable> {
        let Some(map) = self.map(node, "variables") else { return Vec::new() };
        let mut out: Vec<Variable> = Vec::new();
        for (name, value) in map {
            if let Some(first) = out.iter().find(|v| v.name.value == name.value) {
                let line = first.name.span.line().map(|l| format!(" (first declared on line {l})")).unwrap_or_default();
                self.push(Diagnostic::error(name.span, format!("variable `{}` is declared twice{line}", name.value)));
                continue;
            }
            // `{type: int, default: 0}` declares; any other mapping is a map default.
            let declared_type = value.as_map().filter(|m| {
                m.iter().all(|(k, _)| matches!(k.value.as_str(), "type" | "default" | "description"))
                    && m.iter().any(|(k, v)| k.value == "type" && v.as_str().is_some_and(|t| TYPE_WORDS.contains(&t)))
            });
            let (ty, default) = match declared_type {
                Some(entries) => self.typed_variable(entries),
                None => (type_of_value(value), Some(value.to_json())),
            };
            out.push(Variable { name: name.clone(), ty, default });
        }
        out
    }

    /// `{type: int, default: 3}`.
    fn typed_variable(&mut self, entries: &[(Ident, Node)]) -> (Type, Option<serde_json::Value>) {
        const KEYS: &[FieldSpec] = &[
            FieldSpec { name: "type", kind: FieldKind::Text, required: true, aliases: &[] },
            FieldSpec { name: "default", kind: FieldKind::Any, required: false, aliases: &[] },
            FieldSpec { name: "description", kind: FieldKind::Text, required: false, aliases: &[] },
        ];
        let fields = self.fields(entries, &[KEYS], "a variable");
        let ty = fields.get("type").and_then(|n| {
            let word = n.as_str().unwrap_or_default();
            let ty = match word {
                "int" | "integer" => Some(Type::Int),
                "float" | "number" => Some(Type::Float),
                "bool" | "boolean" => Some(Type::Bool),
                "string" | "str" => Some(Type::String),
                "list" => Some(Type::List),
                "map" => Some(Type::Map),
                _ => None,
            };
            if ty.is_none() {
                self.push(
                    Diagnostic::error(n.span, format!("unknown variable type `{word}`"))
                        .suggest(word, ["int", "float", "bool", "string", "list", "map"])
                        .help("types are int, float, bool, string, list, map"),
                );
            }
            ty
        });
        let ty = ty.unwrap_or(Type::Any);
        let default = fields.get("default").map(|n| {
            let found = type_of_value(n);
            let fits = found == ty || ty == Type::Any || (ty == Type::Float && found == Type::Int);
            if !fits {
                self.push(Diagnostic::error(n.span, format!("type mismatch: the default is {found} but the variable is declared {ty}")));
            }
            n.to_json()
        });
        (ty, default)
    }

    fn models(&mut self, node: &Node) -> Vec<ModelAlias> {
        let Some(map) = self.map(node, "models") else { return Vec::new() };
        let mut out: Vec<ModelAlias> = Vec::new();
        for (name, value) in map {
            if name.value == "original" {
                self.push(Diagnostic::error(name.span, "`original` is reserved: it names the model the run started with").help("choose another alias"));
                continue;
            }
            if out.iter().any(|m| m.name.value == name.value) {
                self.push(Diagnostic::error(name.span, format!("model alias `{}` is declared twice", name.value)));
                continue;
            }
            if let Some(target) = self.string(value, "a model") {
                out.push(ModelAlias { name: name.clone(), target: Spanned::new(target, value.span) });
            }
        }
        out
    }

    fn budget(&mut self, node: &Node) -> Option<Budget> {
        const KEYS: &[FieldSpec] = &[
            FieldSpec { name: "tokens", kind: FieldKind::Int, required: false, aliases: &[] },
            FieldSpec { name: "usd", kind: FieldKind::Any, required: false, aliases: &["cost"] },
        ];
        let map = self.map(node, "budget")?;
        let fields = self.fields(map, &[KEYS], "`budget`");
        let tokens = fields.get("tokens").and_then(|n| self.int(n, "tokens")).and_then(|t| self.non_negative(t, fields.get("tokens")?.span));
        let usd = fields.get("usd").and_then(|n| match n.kind {
            NodeKind::Int(i) if i >= 0 => Some(i as f64),
            NodeKind::Float(f) if f >= 0.0 => Some(f),
            _ => {
                self.push(Diagnostic::error(n.span, "`usd` must be a non-negative number"));
                None
            }
        });
        Some(Budget { tokens, usd })
    }

    fn non_negative(&mut self, value: i64, span: Span) -> Option<u64> {
        match u64::try_from(value) {
            Ok(v) => Some(v),
            Err(_) => {
                self.push(Diagnostic::error(span, "must not be negative"));
                None
            }
        }
    }

    fn snapshot(&mut self, node: &Node) -> Vec<Metric> {
        const KEYS: &[FieldSpec] = &[
            FieldSpec { name: "shell", kind: FieldKind::Text, required: false, aliases: &["command"] },
            FieldSpec { name: "sql", kind: FieldKind::Text, required: false, aliases: &["query"] },
            FieldSpec { name: "url", kind: FieldKind::Text, required: false, aliases: &["database"] },
        ];
        let Some(map) = self.map(node, "snapshot") else { return Vec::new() };
        let mut out = Vec::new();
        for (name, value) in map {
            let source = match &value.kind {
                NodeKind::Str(command) => Some(MetricSource::Shell(command.clone())),
                NodeKind::Map(entries) => {
                    let fields = self.fields(entries, &[KEYS], "a snapshot metric");
                    let shell = fields.get("shell").and_then(|n| self.string(n, "shell"));
                    let sql = fields.get("sql").and_then(|n| self.string(n, "sql"));
                    let url = fields.get("url").and_then(|n| self.string(n, "url"));
                    match (shell, sql, url) {
                        (Some(cmd), None, None) => Some(MetricSource::Shell(cmd)),
                        (None, Some(query), Some(url)) => Some(MetricSource::Sql { url, query }),
                        (None, Some(_), None) => {
                            self.push(
                                Diagnostic::error(value.span, format!("metric `{}` has `sql:` but no `url:`", name.value))
                                    .help("add `url: sqlite://path.db` or `url: postgres://...`"),
                            );
                            None
                        }
                        _ => {
                            self.push(Diagnostic::error(value.span, format!("metric `{}` needs either `shell:` or `sql:` with `url:`", name.value)));
                            None
                        }
                    }
                }
                _ => {
                    self.push(Diagnostic::error(value.span, format!("metric `{}` must be a command or `{{shell: ..}}` / `{{sql: .., url: ..}}`", name.value)));
                    None
                }
            };
            if let Some(source) = source {
                out.push(Metric { name: name.clone(), source });
            }
        }
        out
    }

    fn expect(&mut self, node: &Node) -> Vec<Expectation> {
        let Some(map) = self.map(node, "expect") else { return Vec::new() };
        map.iter().filter_map(|(metric, value)| self.condition(value).map(|expr| Expectation { metric: metric.clone(), expr })).collect()
    }

    fn triggers(&mut self, node: &Node) -> Vec<Trigger> {
        const KEYS: &[FieldSpec] = &[
            FieldSpec { name: "workflow", kind: FieldKind::WorkflowRef, required: true, aliases: &[] },
            FieldSpec { name: "condition", kind: FieldKind::Condition, required: false, aliases: &["when"] },
        ];
        let NodeKind::Seq(items) = &node.kind else {
            self.push(
                Diagnostic::error(node.span, format!("`on-completion:` must be a list, found {}", node.describe())).help("write `- workflow: NAME` entries"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            if let Some(name) = item.as_str() {
                out.push(Trigger { workflow: Ident::new(name.to_string(), item.span), condition: None });
                continue;
            }
            let Some(map) = self.map(item, "an on-completion entry") else { continue };
            let fields = self.fields(map, &[KEYS], "an on-completion entry");
            let Some(workflow) = fields.get("workflow").and_then(|n| self.ident(n, "workflow")) else {
                self.push(Diagnostic::error(item.span, "an on-completion entry needs `workflow:`"));
                continue;
            };
            let condition = fields.get("condition").and_then(|n| self.condition(n));
            out.push(Trigger { workflow, condition });
        }
        out
    }

    fn step(&mut self, node: &Node) -> Option<Step> {
        let map = self.map(node, "a step")?;
        let id_node = map.iter().find(|(k, _)| k.value == "id").map(|(_, v)| v);
        let action_node = map.iter().find(|(k, _)| k.value == "action").map(|(_, v)| v);
        let id = match id_node {
            Some(n) => {
                let id = self.ident(n, "a step id")?;
                if !id.value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                    self.push(
                        Diagnostic::error(id.span, format!("step id `{}` may only contain letters, digits, `-` and `_`", id.value))
                            .help("conditions and `${..}` name steps by id, so ids must be plain names"),
                    );
                }
                id
            }
            None => {
                self.push(Diagnostic::error(node.span, "this step has no `id:`").help("give every step a unique `id:`"));
                return None;
            }
        };
        let Some(action_node) = action_node else {
            self.push(Diagnostic::error(id.span, format!("step `{}` has no `action:`", id.value)).help("add `action: shell` (or another action)"));
            return None;
        };
        if let NodeKind::Rust(function) = &action_node.kind {
            // `custom(path::to::async_fn)` in `workflow!`: named after the function.
            let name = function.to_string().rsplit("::").next().unwrap_or_default().trim().to_string();
            return self.step_with(map, id, Ident::new(name, action_node.span), ActionKind::Custom { function: Some(function.clone()) }, &[]);
        }
        let action = self.ident(action_node, "an action")?;
        let (kind, action_fields): (ActionKind, &'static [FieldSpec]) = match catalog::action(&action.value) {
            Some(spec) => (ActionKind::Builtin(spec), spec.fields),
            None if self.options.custom_actions.iter().any(|c| c == &action.value) => (ActionKind::Custom { function: None }, &[]),
            None => {
                let names: Vec<&str> = catalog::ACTIONS.iter().map(|a| a.name).chain(self.options.custom_actions.iter().map(String::as_str)).collect();
                self.push(
                    Diagnostic::error(action.span, format!("unknown action `{}` in step `{}`", action.value, id.value))
                        .label("unknown action")
                        .suggest(&action.value, names.iter().copied())
                        .or_help(format!("built-in actions: {}", names.join(", "))),
                );
                (ActionKind::Unknown, &[])
            }
        };
        self.step_with(map, id, action, kind, action_fields)
    }

    fn step_with(&mut self, map: &[(Ident, Node)], id: Ident, action: Ident, kind: ActionKind, action_fields: &'static [FieldSpec]) -> Option<Step> {
        let custom = matches!(kind, ActionKind::Custom { .. } | ActionKind::Unknown);
        let fields = if custom {
            // A custom action takes any fields; an unknown one has already been reported.
            Self::fields_custom(map)
        } else {
            self.fields(map, &[action_fields, catalog::STEP_KEYS], &format!("action `{}`", action.value))
        };
        let misspelled = std::mem::take(&mut self.suggested);

        let mut step = Step {
            id: id.clone(),
            action: action.clone(),
            kind,
            description: fields.get("description").and_then(|n| self.string(n, "description")),
            params: Vec::new(),
            flow: Flow::default(),
            retry: fields.get("retry").and_then(|n| self.retry(n)),
            timeout_ms: None,
            set: fields.get("set").map(|n| self.set(n)).unwrap_or_default(),
            model: None,
            idempotent: fields.get("idempotent").and_then(|n| self.bool(n, "idempotent")).unwrap_or(true),
        };
        if let Some(n) = fields.get("timeout") {
            let in_ms = fields.key("timeout").is_some_and(|k| k.value == "timeoutMs");
            step.timeout_ms = self.duration(n, in_ms);
        }
        let step_ref = |r: &mut Self, key: &str| fields.get(key).and_then(|n| r.ident(n, "a step id"));
        step.flow.on_true = step_ref(self, "on-true");
        step.flow.on_false = step_ref(self, "on-false");
        step.flow.next = step_ref(self, "next");
        step.flow.on_success = step_ref(self, "on-success");
        step.flow.on_error = step_ref(self, "on-error");
        step.flow.on_exhausted = step_ref(self, "on-exhausted");
        step.flow.check = fields.get("check").and_then(|n| self.condition(n));
        step.flow.max_iterations = fields.get("max-iterations").and_then(|n| self.int(n, "max-iterations").map(|v| Spanned::new(v, n.span)));
        step.flow.requires = fields.get("requires").and_then(|n| self.requires(n));
        let is_switch = step.spec().is_some_and(|s| s.name == "switch-model");
        if !is_switch {
            step.model = fields.get("model").and_then(|n| self.ident(n, "a model"));
        }

        for (name, key, value) in &fields.entries {
            let spec = action_fields.iter().find(|f| f.name == name);
            let Some(spec) = spec else {
                if custom && catalog::canonical(catalog::STEP_KEYS, name).is_none() {
                    step.params.push(Param { key: Ident::new(name.clone(), key.span), value: ParamValue::Json(value.to_json()), span: value.span });
                }
                continue;
            };
            if let Some(v) = self.param_value(spec.kind, value, name) {
                step.params.push(Param { key: Ident::new(spec.name.to_string(), key.span), value: v, span: value.span });
            }
        }
        for spec in action_fields.iter().filter(|f| f.required) {
            if fields.get(spec.name).is_none() && !misspelled.contains(&spec.name) {
                self.push(
                    Diagnostic::error(id.span, format!("step `{}` ({}) is missing the field `{}`", id.value, action.value, spec.name))
                        .help(format!("add `{}: ...` to the step", spec.name)),
                );
            }
        }
        if let Some(spec) = step.spec() {
            self.action_rules(&mut step, spec.name);
        }
        Some(step)
    }

    /// Fields of a custom action: the common step keys are checked, anything else is the action's.
    fn fields_custom(map: &[(Ident, Node)]) -> Fields<'_> {
        let entries = map
            .iter()
            .map(|(key, value)| {
                let name = key.value.replace('_', "-");
                let canonical_name = catalog::canonical(catalog::STEP_KEYS, &name).map_or(name, |spec| spec.name.to_string());
                (canonical_name, key, value)
            })
            .collect();
        Fields { entries }
    }

    /// Rules particular to one action that the field table cannot say.
    fn action_rules(&mut self, step: &mut Step, action: &str) {
        match action {
            "loop" => {
                if let Some(p) = step.param("to") {
                    if let ParamValue::Name(to) = &p.value {
                        step.flow.loop_to = Some(to.clone());
                    }
                }
                let condition = step.param("condition").and_then(|p| match &p.value {
                    ParamValue::Condition(c) => Some(c.clone()),
                    _ => None,
                });
                if condition.is_some() {
                    step.flow.check = condition;
                }
            }
            "conditional" if step.flow.check.is_none() => {
                self.push(Diagnostic::error(step.id.span, format!("conditional step `{}` has no `check:`", step.id.value)).help("add `check: <condition>`"));
            }
            "check-file-exists" if step.param("file").is_none() && step.param("variable").is_none() => {
                self.push(Diagnostic::error(step.id.span, format!("step `{}` needs `file:` or `variable:`", step.id.value)));
            }
            "interactive" => {
                let is_choice = step.param("input-type").is_some_and(|p| matches!(&p.value, ParamValue::Str(s) if s == "choice"));
                if is_choice && step.param("choices").is_none() {
                    self.push(Diagnostic::error(step.id.span, format!("step `{}` asks for a choice but gives no `choices:`", step.id.value)));
                }
            }
            _ => {}
        }
    }

    fn param_value(&mut self, kind: FieldKind, node: &Node, name: &str) -> Option<ParamValue> {
        Some(match kind {
            FieldKind::Text => {
                let text = self.scalar(node, name)?;
                ParamValue::Text(self.template(&text, node.span)?, text)
            }
            FieldKind::TextList => {
                let items: Vec<&Node> = match &node.kind {
                    NodeKind::Seq(items) => items.iter().collect(),
                    _ => vec![node],
                };
                let mut out = Vec::new();
                for item in items {
                    let text = self.scalar(item, name)?;
                    out.push((self.template(&text, item.span)?, text, item.span));
                }
                ParamValue::TextList(out)
            }
            FieldKind::Int => ParamValue::Int(self.int(node, name)?),
            FieldKind::Bool => ParamValue::Bool(self.bool(node, name)?),
            FieldKind::Duration => ParamValue::Duration(self.duration(node, false)?),
            // A model chosen at run time (`model: "${reviewer}"`) is a template, checked and filled in like text.
            FieldKind::ModelRef => {
                let text = self.scalar(node, name)?;
                if text.contains("${") || text.contains("{{") {
                    ParamValue::Text(self.template(&text, node.span)?, text)
                } else {
                    ParamValue::Name(self.ident(node, name)?)
                }
            }
            FieldKind::StepRef | FieldKind::VarName | FieldKind::WorkflowRef => ParamValue::Name(self.ident(node, name)?),
            FieldKind::Condition => ParamValue::Condition(self.condition(node)?),
            FieldKind::Regex => {
                let pattern = self.string(node, name)?;
                if let Err(e) = regex::Regex::new(&pattern) {
                    let last = e.to_string().lines().last().unwrap_or_default().trim().to_string();
                    let detail = last.strip_prefix("error: ").unwrap_or(&last).to_string();
                    self.push(
                        Diagnostic::error(node.span, format!("invalid regular expression in `{name}`: {detail}"))
                            .label("not a valid regex")
                            .help("check brackets and escapes; see https://docs.rs/regex for the syntax"),
                    );
                    return None;
                }
                ParamValue::Str(pattern)
            }
            FieldKind::Choice(words) => {
                let word = self.string(node, name)?;
                if !words.contains(&word.as_str()) {
                    self.push(
                        Diagnostic::error(node.span, format!("`{name}` must be one of {}, found `{word}`", words.join(", ")))
                            .suggest(&word, words.iter().copied()),
                    );
                    return None;
                }
                ParamValue::Str(word)
            }
            FieldKind::Map => {
                self.map(node, name)?;
                ParamValue::Json(node.to_json())
            }
            FieldKind::Any => ParamValue::Json(node.to_json()),
        })
    }

    fn template(&mut self, text: &str, span: Span) -> Option<Template> {
        match template::parse_template(text) {
            Ok(t) => Some(t),
            Err(e) => {
                let part = text.get(e.span.clone()).unwrap_or(text);
                let at = self.sub_span(span, part);
                let mut d = Diagnostic::error(at, e.message.clone());
                if let Some(help) = e.help {
                    d = d.help(help);
                }
                self.push(d);
                None
            }
        }
    }

    /// Parses an expression; a Rust expression (from `workflow!`) is kept as tokens.
    fn condition(&mut self, node: &Node) -> Option<Condition> {
        if let NodeKind::Rust(tokens) = &node.kind {
            return Some(Condition { text: tokens.to_string(), span: node.span, expr: None, rust: Some(tokens.clone()) });
        }
        let text = self.scalar(node, "a condition")?;
        match expr::parse(&text) {
            Ok(e) => Some(Condition { text, span: node.span, expr: Some(e), rust: None }),
            Err(e) => {
                let part = text.get(e.span.clone()).filter(|p| !p.is_empty()).unwrap_or(&text);
                let at = self.sub_span(node.span, part);
                let mut d = Diagnostic::error(at, format!("invalid condition `{text}`: {}", e.message));
                if let Some(help) = e.help {
                    d = d.help(help);
                }
                self.push(d);
                Some(Condition { text, span: node.span, expr: None, rust: None })
            }
        }
    }

    fn requires(&mut self, node: &Node) -> Option<Requires> {
        let text = self.string(node, "requires")?;
        let (step, field) = text.split_once('.').unwrap_or((text.as_str(), "approved"));
        if field != "approved" {
            self.push(
                Diagnostic::error(node.span, format!("`requires:` takes `<gate>.approved`, found `{text}`")).help(format!("write `requires: {step}.approved`")),
            );
        }
        Some(Requires { step: Ident::new(step.to_string(), self.sub_span(node.span, step)), field: field.to_string() })
    }

    fn retry(&mut self, node: &Node) -> Option<Retry> {
        const KEYS: &[FieldSpec] = &[
            FieldSpec { name: "attempts", kind: FieldKind::Int, required: true, aliases: &["max-attempts", "maxAttempts"] },
            FieldSpec { name: "backoff", kind: FieldKind::Duration, required: false, aliases: &["delay"] },
        ];
        if let NodeKind::Int(n) = node.kind {
            return self.attempts(n, node.span).map(|attempts| Retry { attempts, backoff_ms: 1000 });
        }
        let map = self.map(node, "retry")?;
        let fields = self.fields(map, &[KEYS], "`retry`");
        let Some(attempts_node) = fields.get("attempts") else {
            self.push(Diagnostic::error(node.span, "`retry:` needs `attempts:`").help("write `retry: { attempts: 3, backoff: 2s }`"));
            return None;
        };
        let attempts = self.int(attempts_node, "attempts").and_then(|n| self.attempts(n, attempts_node.span))?;
        let backoff_ms = match fields.get("backoff") {
            Some(n) => self.duration(n, false)?,
            None => 1000,
        };
        Some(Retry { attempts, backoff_ms })
    }

    fn attempts(&mut self, n: i64, span: Span) -> Option<u32> {
        match u32::try_from(n) {
            Ok(a) if a >= 1 => Some(a),
            _ => {
                self.push(Diagnostic::error(span, format!("`attempts` must be at least 1, found {n}")));
                None
            }
        }
    }

    fn set(&mut self, node: &Node) -> Vec<(Ident, Condition)> {
        let Some(map) = self.map(node, "set") else { return Vec::new() };
        map.iter().filter_map(|(name, value)| self.condition(value).map(|c| (name.clone(), c))).collect()
    }
}
