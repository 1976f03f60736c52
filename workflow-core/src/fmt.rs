//! `workflow fmt`: rewrites a workflow file to the canonical spelling of the
//! language. The source text is edited at the spans of its parsed tree, so
//! comments, key order, quoting and layout stay as written and only what is
//! not canonical changes:
//!
//! * camelCase (and snake_case) keys of the earlier dialect become kebab-case:
//!   `maxIterations` → `max-iterations`, `defaultValue` → `default`, in
//!   top-level keys, step keys, the fields of built-in actions, `retry` and
//!   `on-completion` entries. The fields of custom actions are theirs and
//!   keep their names.
//! * `timeoutMs: 30000` becomes `timeout: 30s` (a bare number under
//!   `timeoutMs` is milliseconds, under `timeout` seconds, so the value is
//!   rewritten with its unit).
//! * `{{name}}` references become `${name}` wherever the language
//!   interpolates: text fields, conditions, `set:` values, and the strings of
//!   map and free-form fields (which are lowered as templates too). Text that
//!   is never interpolated (descriptions, variable defaults, snapshot
//!   commands, regular expressions) is left as written: a `{{` there is text.
//!
//! Kebab-case aliases are part of the canonical language and stay as
//! written: `on-approved` / `on-rejected` after a review read better than
//! `on-true` / `on-false`, and `on-complete` says when the jump happens.
//! A camelCase alias of one of them becomes that kebab alias
//! (`onApproved` → `on-approved`), keeping the author's word.
//!
//! Only a valid file is formatted, and formatting never changes what a
//! workflow does: the result is compiled again and must lower to the same
//! IR (byte positions inside conditions aside), else nothing is rewritten.
//! Set-level checks (`run-workflow` targets, trigger cycles) need the other
//! files of the set and are `workflow validate`'s business: a file is
//! formatted on its own.

use crate::catalog::{self, FieldKind, FieldSpec};
use crate::check::check_workflow;
use crate::diagnostic::{Diagnostic, Diagnostics, Source};
use crate::expr::{self, Expr, ExprKind};
use crate::ir::WorkflowIr;
use crate::node::{parse_yaml, Node, NodeKind};
use crate::read::{parse_duration_ms, read_workflow, ReadOptions};
use crate::span::{Ident, Span};
use crate::template::{parse_template, Part};
use std::ops::Range;

/// The keys of a `retry:` mapping (as `Reader::retry` reads them).
const RETRY_KEYS: &[FieldSpec] = &[
    FieldSpec { name: "attempts", kind: FieldKind::Int, required: true, aliases: &["max-attempts", "maxAttempts"] },
    FieldSpec { name: "backoff", kind: FieldKind::Duration, required: false, aliases: &["delay"] },
];

/// The keys of an `on-completion:` entry (as `Reader::triggers` reads them).
const TRIGGER_KEYS: &[FieldSpec] = &[
    FieldSpec { name: "workflow", kind: FieldKind::WorkflowRef, required: true, aliases: &[] },
    FieldSpec { name: "condition", kind: FieldKind::Condition, required: false, aliases: &["when"] },
];

/// The canonical form of the workflow file `source` (named `file_name` in
/// diagnostics); the text itself when it is canonical already. An invalid
/// file is not formatted: its diagnostics come back instead.
pub fn format(file_name: &str, source: &str) -> Result<String, Diagnostics> {
    format_with(file_name, source, &ReadOptions::default())
}

/// [`format`], accepting the custom actions of `options`.
pub fn format_with(file_name: &str, source: &str, options: &ReadOptions) -> Result<String, Diagnostics> {
    let (root, before) = compile_one(file_name, source, options)?;
    let mut rewriter = Rewriter { text: source, edits: Vec::new() };
    rewriter.workflow(&root);
    if rewriter.edits.is_empty() {
        return Ok(source.to_string());
    }
    let formatted = apply(source, rewriter.edits);
    // The edits are local and each keeps its value's meaning; compiling the
    // result again makes sure of it, quoting and escapes included.
    let same = compile_one(file_name, &formatted, options).is_ok_and(|(_, after)| meaning(&before) == meaning(&after));
    if !same {
        let d = Diagnostic::error(Span::Unknown, format!("{file_name}: formatting would change what this workflow does, so it is left as written"))
            .help("this is a bug in `workflow fmt`; please report it with this file");
        let mut diags = Diagnostics::new();
        diags.push(d);
        return Err(diags);
    }
    Ok(formatted)
}

/// Parses, reads and checks one file on its own; its tree and IR.
fn compile_one(file_name: &str, text: &str, options: &ReadOptions) -> Result<(Node, WorkflowIr), Diagnostics> {
    let source = Source::new(file_name, text);
    let root = parse_yaml(&source).map_err(|d| {
        let mut diags = Diagnostics::new();
        diags.push(d);
        diags
    })?;
    let (model, mut diags) = read_workflow(&root, Some(source.clone()), options);
    if let Some(model) = &model {
        diags.extend(check_workflow(model));
    }
    match model {
        Some(model) if diags.is_empty() => Ok((root, crate::lower::lower(&model))),
        _ => Err(diags),
    }
}

/// The IR as JSON without what formatting may move: the hash and the byte
/// ranges of expression nodes within their condition's text.
fn meaning(ir: &WorkflowIr) -> serde_json::Value {
    let mut value = serde_json::to_value(ir).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.remove("hash");
    }
    crate::lower::strip_spans(&mut value);
    value
}

/// Replacing the bytes `range` of the source by `text`.
#[derive(Debug)]
struct Edit {
    range: Range<usize>,
    text: String,
}

/// The source with `edits` applied; an edit overlapping an earlier one
/// (a YAML alias shares its anchor's text) is dropped.
fn apply(source: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    let mut out = String::with_capacity(source.len());
    let mut at = 0;
    for edit in edits {
        if edit.range.start < at {
            continue;
        }
        out.push_str(&source[at..edit.range.start]);
        out.push_str(&edit.text);
        at = edit.range.end;
    }
    out.push_str(&source[at..]);
    out
}

/// Walks the tree of a valid file, collecting the edits that make it canonical.
struct Rewriter<'s> {
    text: &'s str,
    edits: Vec<Edit>,
}

impl Rewriter<'_> {
    fn workflow(&mut self, root: &Node) {
        for (key, value) in root.as_map().unwrap_or_default() {
            let Some(spec) = lookup(&[catalog::WORKFLOW_KEYS], &key.value) else { continue };
            self.key(key, spec);
            match spec.name {
                "steps" => seq(value).iter().for_each(|step| self.step(step)),
                "on-completion" => {
                    for entry in seq(value) {
                        self.fields(entry, TRIGGER_KEYS);
                    }
                }
                "expect" => value.as_map().unwrap_or_default().iter().for_each(|(_, condition)| self.condition(condition)),
                _ => {}
            }
        }
    }

    fn step(&mut self, node: &Node) {
        let Some(map) = node.as_map() else { return };
        let action = map.iter().find(|(k, _)| k.value == "action").and_then(|(_, v)| v.as_str()).and_then(catalog::action);
        for (key, value) in map {
            let spec = match action {
                Some(action) => lookup(&[action.fields, catalog::STEP_KEYS], &key.value),
                None => lookup(&[catalog::STEP_KEYS], &key.value),
            };
            match spec {
                Some(spec) if spec.name == "timeout" && key.value == "timeoutMs" => self.timeout_ms(key, value),
                Some(spec) => {
                    self.key(key, spec);
                    match spec.name {
                        "set" => value.as_map().unwrap_or_default().iter().for_each(|(_, condition)| self.condition(condition)),
                        "retry" => self.fields(value, RETRY_KEYS),
                        // Read as plain strings, not templates: a `{{` in them is text.
                        "id" | "action" | "description" | "requires" => {}
                        _ => self.value(spec.kind, value),
                    }
                }
                // A custom action's own field: its name is its own; its
                // strings are lowered as templates.
                None if action.is_none() => self.free_form(value),
                None => {}
            }
        }
    }

    /// A nested mapping of known keys: `retry`, an `on-completion` entry.
    fn fields(&mut self, node: &Node, specs: &[FieldSpec]) {
        for (key, value) in node.as_map().unwrap_or_default() {
            if let Some(spec) = lookup(&[specs], &key.value) {
                self.key(key, spec);
                self.value(spec.kind, value);
            }
        }
    }

    fn value(&mut self, kind: FieldKind, node: &Node) {
        match kind {
            FieldKind::Text => self.template(node),
            FieldKind::TextList => match &node.kind {
                NodeKind::Seq(items) => items.iter().for_each(|item| self.template(item)),
                _ => self.template(node),
            },
            FieldKind::Condition => self.condition(node),
            FieldKind::Map | FieldKind::Any => self.free_form(node),
            _ => {}
        }
    }

    /// Renames a key written in the earlier dialect, keeping its quotes.
    fn key(&mut self, key: &Ident, spec: &FieldSpec) {
        if let Some(canonical) = canonical_key(&key.value, spec) {
            self.replace_in(key.span, &key.value, canonical);
        }
    }

    /// `timeoutMs: 30000` → `timeout: 30s`. A value that is not a bare
    /// number (`timeoutMs: 30s`) means the same under `timeout`.
    fn timeout_ms(&mut self, key: &Ident, value: &Node) {
        let ms = match &value.kind {
            NodeKind::Int(n) => u64::try_from(*n).ok(),
            NodeKind::Float(f) if *f >= 0.0 => Some(*f as u64),
            NodeKind::Str(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        let written = match ms {
            Some(ms) => {
                let duration = duration_text(ms);
                // Leave a value that would not read back the same as it is, key included.
                if parse_duration_ms(&duration) != Some(ms) {
                    return;
                }
                Some(duration)
            }
            None => None,
        };
        self.replace_in(key.span, &key.value, "timeout".to_string());
        if let (Some(duration), Span::Text(t)) = (written, value.span) {
            // A block scalar's span ends with its line break, which stays.
            let scalar = self.text.get(t.offset..t.offset + t.len).unwrap_or_default().trim_end();
            let text = match scalar.chars().next().filter(|c| matches!(c, '"' | '\'')) {
                Some(quote) => format!("{quote}{duration}{quote}"),
                None => duration,
            };
            self.edits.push(Edit { range: t.offset..t.offset + scalar.len(), text });
        }
    }

    /// A text field: its `{{..}}` references.
    fn template(&mut self, node: &Node) {
        let Some(text) = node.as_str() else { return };
        let Ok(template) = parse_template(text) else { return };
        let refs = template
            .parts
            .iter()
            .filter_map(|part| match part {
                Part::Ref { path, span } if text[span.clone()].starts_with("{{") => Some((span.clone(), reference(path))),
                _ => None,
            })
            .collect();
        self.rewrite_value(node, text, refs);
    }

    /// A map or free-form value: every string in it that reads as a template.
    fn free_form(&mut self, node: &Node) {
        match &node.kind {
            NodeKind::Str(_) => self.template(node),
            NodeKind::Seq(items) => items.iter().for_each(|item| self.free_form(item)),
            NodeKind::Map(entries) => entries.iter().for_each(|(_, value)| self.free_form(value)),
            _ => {}
        }
    }

    /// A condition: the `{{..}}` names of its expression (a `{{` inside a
    /// quoted string of the expression is text and stays).
    fn condition(&mut self, node: &Node) {
        let Some(text) = node.as_str() else { return };
        let Ok(expr) = expr::parse(text) else { return };
        let mut refs = Vec::new();
        paths(&expr, &mut |span| {
            // A name's node may cover its parentheses: `({{x}})`.
            let Some(open) = text[span.clone()].find("{{") else { return };
            if let Ok((path, end)) = expr::scan_reference(text, span.start + open) {
                refs.push((span.start + open..end, reference(&path)));
            }
        });
        refs.sort_by_key(|(range, _)| range.start);
        refs.dedup_by_key(|(range, _)| range.start);
        self.rewrite_value(node, text, refs);
    }

    /// Replaces parts of the decoded scalar `value` (byte ranges in it) in
    /// the source. Quotes, escapes and folded lines shift where a part is
    /// written but keep its text, so the k-th occurrence of a part's text in
    /// the value is the k-th in the scalar's source, as long as both have
    /// as many (else the part is left alone).
    fn rewrite_value(&mut self, node: &Node, value: &str, parts: Vec<(Range<usize>, String)>) {
        let Span::Text(t) = node.span else { return };
        let Some(written) = self.text.get(t.offset..t.offset + t.len) else { return };
        for (range, replacement) in parts {
            let needle = &value[range.clone()];
            let in_value: Vec<usize> = value.match_indices(needle).map(|(i, _)| i).collect();
            let in_source: Vec<usize> = written.match_indices(needle).map(|(i, _)| i).collect();
            let Some(k) = in_value.iter().position(|&i| i == range.start) else { continue };
            if in_value.len() == in_source.len() {
                let start = t.offset + in_source[k];
                self.edits.push(Edit { range: start..start + needle.len(), text: replacement });
            }
        }
    }

    /// Replaces the text `old` inside the source at `span` (a key, maybe quoted) by `new`.
    fn replace_in(&mut self, span: Span, old: &str, new: String) {
        let Span::Text(t) = span else { return };
        let written = self.text.get(t.offset..t.offset + t.len).unwrap_or_default();
        // An escaped key (`"max\x49terations"`) is not found as written: it is replaced whole.
        let range = match written.find(old) {
            Some(i) => t.offset + i..t.offset + i + old.len(),
            None => t.offset..t.offset + t.len,
        };
        self.edits.push(Edit { range, text: new });
    }
}

/// The spec of `key` among `tables`, as the reader resolves it (a `_` reads as `-`).
fn lookup<'a>(tables: &[&'a [FieldSpec]], key: &str) -> Option<&'a FieldSpec> {
    let name = key.replace('_', "-");
    tables.iter().find_map(|fields| catalog::canonical(fields, &name).or_else(|| catalog::canonical(fields, key)))
}

/// The spelling a key written as `written` is rewritten to, if it is not
/// canonical: its kebab-case form when the language knows that spelling
/// (`onApproved` → `on-approved`), else the field's name.
fn canonical_key(written: &str, spec: &FieldSpec) -> Option<String> {
    if !written.contains(|c: char| c.is_ascii_uppercase() || c == '_') {
        return None;
    }
    let kebab = kebab_case(written);
    if kebab == spec.name || spec.aliases.contains(&kebab.as_str()) {
        Some(kebab)
    } else {
        Some(spec.name.to_string())
    }
}

/// `maxIterations` → `max-iterations`, `input_type` → `input-type`.
fn kebab_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else if c == '_' {
            out.push('-');
        } else {
            out.push(c);
        }
    }
    out
}

/// A duration in the largest unit that holds it whole: `30s`, `5m`, `250ms`.
fn duration_text(ms: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(3_600_000, "h"), (60_000, "m"), (1000, "s")];
    match UNITS.iter().find(|(size, _)| ms > 0 && ms.is_multiple_of(*size)) {
        Some((size, unit)) => format!("{}{unit}", ms / size),
        None if ms == 0 => "0s".to_string(),
        None => format!("{ms}ms"),
    }
}

/// `${path}`.
fn reference(path: &[String]) -> String {
    format!("${{{}}}", path.join("."))
}

/// The items of a list value (none for anything else).
fn seq(node: &Node) -> &[Node] {
    match &node.kind {
        NodeKind::Seq(items) => items,
        _ => &[],
    }
}

/// Calls `found` with the byte range of every name node of an expression.
fn paths(expr: &Expr, found: &mut dyn FnMut(&Range<usize>)) {
    match &expr.kind {
        ExprKind::Path(_) => found(&expr.span),
        ExprKind::Unary(_, inner) => paths(inner, found),
        ExprKind::Binary(_, a, b) => {
            paths(a, found);
            paths(b, found);
        }
        ExprKind::Call(_, args) => args.iter().for_each(|a| paths(a, found)),
        ExprKind::Literal(_) | ExprKind::Predicate(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_and_snake_keys_become_the_kebab_spelling_the_language_knows() {
        let on_true = lookup(&[catalog::STEP_KEYS], "onTrue").unwrap();
        assert_eq!(canonical_key("onTrue", on_true).as_deref(), Some("on-true"));
        assert_eq!(canonical_key("onApproved", on_true).as_deref(), Some("on-approved"));
        assert_eq!(canonical_key("on-approved", on_true), None);
        assert_eq!(canonical_key("on_approved", on_true).as_deref(), Some("on-approved"));
        let next = lookup(&[catalog::STEP_KEYS], "onComplete").unwrap();
        assert_eq!(canonical_key("onComplete", next).as_deref(), Some("on-complete"));
        let interactive = catalog::action("interactive").unwrap().fields;
        let default = lookup(&[interactive], "defaultValue").unwrap();
        assert_eq!(canonical_key("defaultValue", default).as_deref(), Some("default"));
        let attempts = lookup(&[RETRY_KEYS], "maxAttempts").unwrap();
        assert_eq!(canonical_key("maxAttempts", attempts).as_deref(), Some("max-attempts"));
    }

    #[test]
    fn durations_take_the_largest_whole_unit_and_read_back_the_same() {
        for (ms, text) in [(30_000, "30s"), (250, "250ms"), (1500, "1500ms"), (300_000, "5m"), (90_000, "90s"), (7_200_000, "2h"), (0, "0s")] {
            assert_eq!(duration_text(ms), text);
            assert_eq!(parse_duration_ms(text), Some(ms), "{text}");
        }
    }

    #[test]
    fn the_meaning_check_ignores_positions_in_conditions_but_not_values() {
        let ir = |check: &str| {
            let text = format!("name: m\nvariables:\n  n: 0\nsteps:\n  - id: s\n    action: shell\n    command: \"true\"\n    check: \"{check}\"\n");
            compile_one("m.yaml", &text, &ReadOptions::default()).unwrap().1
        };
        let (braces, dollar) = (ir("{{n}} < 3"), ir("${n} < 3"));
        assert_eq!(braces.hash, dollar.hash, "positions inside a condition are not part of the hash");
        assert_eq!(meaning(&braces), meaning(&dollar));
        assert_ne!(meaning(&braces), meaning(&ir("{{n}} < 4")));
    }

    #[test]
    fn overlapping_edits_keep_the_first() {
        let edits = vec![Edit { range: 4..6, text: "X".into() }, Edit { range: 0..2, text: "ab".into() }, Edit { range: 5..7, text: "Y".into() }];
        assert_eq!(apply("0123456789", edits), "ab23X6789");
    }

    #[test]
    fn names_in_quoted_strings_of_a_condition_stay_text() {
        let src =
            "name: c\nvariables:\n  x: \"a\"\nsteps:\n  - id: s\n    action: shell\n    command: \"true\"\n    check: \"{{x}} == '{{x}}' && ({{x}} != 'b')\"\n";
        let out = format("c.yaml", src).unwrap();
        assert!(out.contains(r#"check: "${x} == '{{x}}' && (${x} != 'b')""#), "{out}");
    }
}
