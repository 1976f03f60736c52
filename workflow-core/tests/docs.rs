//! The user documentation in `docs/` is executable:
//!
//! * every ```` ```yaml ```` block of `docs/*.md` is compiled on its own and
//!   must be accepted, unless its fence says ```` ```yaml invalid ````, in
//!   which case it must be rejected; when the next fenced block is a
//!   ```` ```text ```` block, it is the exact report `workflow validate`
//!   prints for it (the file is `workflow.yaml`);
//! * a block may hold several files of one set, separated by `---` lines,
//!   each named by a first line `# file: NAME.yaml`;
//! * the tables of `docs/language.md` are the action catalog: every action,
//!   field, alias, output, step key and top-level key is listed exactly as
//!   `catalog.rs` defines it.

use std::path::{Path, PathBuf};
use workflow_core::catalog::{self, FieldKind, FieldSpec};
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;

/// A fenced code block of a Markdown file.
struct Block {
    /// The fence's info string (`yaml`, `yaml invalid`, `text`, ...).
    info: String,
    /// The lines between the fences.
    body: String,
    /// The 1-based line of the opening fence.
    line: usize,
}

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

fn read(name: &str) -> String {
    let path = docs_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The Markdown files of `docs/`, sorted.
fn markdown_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(docs_dir())
        .expect("docs/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
}

/// Every fenced block (```` ``` ```` fences, possibly indented) in order.
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some((info.trim().to_string(), i + 1, String::new()));
                }
            }
            Some((info, start, body)) => {
                if trimmed.starts_with("```") {
                    out.push(Block { info: std::mem::take(info), body: std::mem::take(body), line: *start });
                    open = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    assert!(open.is_none(), "a fenced block is not closed");
    out
}

/// The files of a YAML block: split at `---` lines, named by `# file: NAME`.
fn sources(body: &str) -> Vec<std::sync::Arc<Source>> {
    let mut documents = vec![String::new()];
    for line in body.lines() {
        if line.trim_end() == "---" {
            documents.push(String::new());
        } else {
            let doc = documents.last_mut().expect("one document at least");
            doc.push_str(line);
            doc.push('\n');
        }
    }
    documents
        .into_iter()
        .map(|text| {
            let name = text.lines().next().and_then(|l| l.strip_prefix("# file:")).map_or("workflow.yaml", str::trim).to_string();
            Source::new(name, text)
        })
        .collect()
}

#[test]
fn every_yaml_example_is_accepted_or_rejected_as_its_fence_says() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for path in markdown_files() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let text = std::fs::read_to_string(&path).expect("readable");
        let all = blocks(&text);
        for (i, block) in all.iter().enumerate() {
            let mut words = block.info.split_whitespace();
            if words.next() != Some("yaml") {
                continue;
            }
            checked += 1;
            let invalid = words.any(|w| w == "invalid");
            let where_ = format!("docs/{name}:{}", block.line);
            match (compile_sources(&sources(&block.body), &ReadOptions::default()), invalid) {
                (Ok(_), false) => {}
                (Ok(_), true) => failures.push(format!("{where_}: marked `yaml invalid` but it compiles")),
                (Err(diags), false) => failures.push(format!("{where_}: rejected:\n{}", diags.render())),
                (Err(diags), true) => {
                    let expected = all.get(i + 1).filter(|next| next.info == "text").map(|next| next.body.as_str());
                    let actual = diags.render();
                    if let Some(expected) = expected {
                        if expected.trim_end() != actual.trim_end() {
                            failures.push(format!("{where_}: the report differs from the ```text block after it; it is now:\n{actual}"));
                        }
                    }
                }
            }
        }
    }
    assert!(checked >= 30, "only {checked} YAML examples found in docs/");
    assert!(failures.is_empty(), "{} of {checked} YAML examples are wrong:\n\n{}", failures.len(), failures.join("\n\n"));
}

/// How the reference writes a field's kind.
fn kind(kind: FieldKind) -> String {
    match kind {
        FieldKind::Text => "text".into(),
        FieldKind::TextList => "text list".into(),
        FieldKind::Int => "int".into(),
        FieldKind::Bool => "bool".into(),
        FieldKind::Duration => "duration".into(),
        FieldKind::StepRef => "step id".into(),
        FieldKind::ModelRef => "model".into(),
        FieldKind::VarName => "variable name".into(),
        FieldKind::Condition => "condition".into(),
        FieldKind::Regex => "regex".into(),
        FieldKind::Choice(words) => words.join(" / "),
        FieldKind::WorkflowRef => "workflow name".into(),
        FieldKind::Map => "map".into(),
        FieldKind::Any => "any value".into(),
    }
}

fn aliases(spec: &FieldSpec) -> String {
    spec.aliases.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
}

/// `` `command`* (text) `` — a field as the action table lists it.
fn field(spec: &FieldSpec) -> String {
    let required = if spec.required { "*" } else { "" };
    let alias = if spec.aliases.is_empty() { String::new() } else { format!(", alias {}", aliases(spec)) };
    format!("`{}`{required} ({}{alias})", spec.name, kind(spec.kind))
}

/// The rows the action table must hold, generated from the catalog.
fn action_rows() -> Vec<String> {
    catalog::ACTIONS
        .iter()
        .map(|a| {
            let fields = if a.fields.is_empty() { "—".to_string() } else { a.fields.iter().map(field).collect::<Vec<_>>().join(", ") };
            let outputs = if a.outputs.is_empty() {
                "—".to_string()
            } else {
                a.outputs.iter().map(|(name, ty)| format!("`{name}` ({ty})")).collect::<Vec<_>>().join(", ")
            };
            let sensitive = if a.sensitive { "yes" } else { "no" };
            format!("| `{}` | {} | {fields} | {outputs} | {sensitive} |", a.name, a.summary)
        })
        .collect()
}

/// The start of each row of a key table (`| key | kind | aliases |`); the description after it is free text.
fn key_rows(keys: &[FieldSpec]) -> Vec<String> {
    keys.iter()
        .map(|k| {
            let required = if k.required { " (required)" } else { "" };
            let alias = if k.aliases.is_empty() { "—".to_string() } else { aliases(k) };
            format!("| `{}`{required} | {} | {alias} |", k.name, kind(k.kind))
        })
        .collect()
}

fn assert_rows_present(doc: &str, rows: &[String], what: &str) {
    let missing: Vec<&String> = rows.iter().filter(|row| !doc.lines().any(|line| line.starts_with(row.as_str()))).collect();
    assert!(
        missing.is_empty(),
        "docs/language.md: the {what} table does not match catalog.rs; these rows are missing or differ:\n{}\n\nthe whole table, from the catalog:\n{}",
        missing.iter().map(|r| r.as_str()).collect::<Vec<_>>().join("\n"),
        rows.join("\n")
    );
}

#[test]
fn the_action_table_is_the_catalog() {
    let doc = read("language.md");
    assert_rows_present(&doc, &action_rows(), "action");
    // No row for an action that does not exist: the table has one row per action.
    let header = doc.lines().position(|l| l.starts_with("| action | what it does |")).expect("the action table's header");
    let rows = doc.lines().skip(header + 2).take_while(|l| l.starts_with('|')).count();
    assert_eq!(rows, catalog::ACTIONS.len(), "the action table has rows for actions the catalog does not define");
}

#[test]
fn the_key_tables_are_the_catalog() {
    let doc = read("language.md");
    assert_rows_present(&doc, &key_rows(catalog::STEP_KEYS), "step key");
    assert_rows_present(&doc, &key_rows(catalog::WORKFLOW_KEYS), "top-level key");
}

#[test]
fn every_action_and_step_key_is_named_in_the_reference() {
    let doc = read("language.md");
    let names = catalog::ACTIONS.iter().map(|a| a.name).chain(catalog::STEP_KEYS.iter().map(|k| k.name)).chain(catalog::WORKFLOW_KEYS.iter().map(|k| k.name));
    let aliases = catalog::STEP_KEYS.iter().chain(catalog::ACTIONS.iter().flat_map(|a| a.fields)).flat_map(|f| f.aliases.iter().copied());
    let missing: Vec<&str> = names.chain(aliases).filter(|name| !doc.contains(&format!("`{name}`"))).collect();
    assert!(missing.is_empty(), "docs/language.md does not mention: {}", missing.join(", "));
}

#[test]
fn the_checks_page_has_a_section_per_rule() {
    let doc = read("checks.md");
    for rule in 1..=15 {
        let heading = format!("## {rule}. ");
        assert!(doc.lines().any(|l| l.starts_with(&heading)), "docs/checks.md has no section `{heading}...`");
    }
}
