//! `workflow fmt` (`workflow_core::fmt`): every valid workflow of the project
//! formats to a file that means the same and is formatted already; the
//! earlier dialect becomes canonical; comments, order and quoting stay.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use workflow_core::fmt::{format, format_with};
use workflow_core::ir::WorkflowIr;
use workflow_core::node::{parse_yaml, Node, NodeKind};
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shared conformance corpus's valid files (CI has them, and fails without them).
fn conformance_valid() -> Option<PathBuf> {
    support::shared_conformance().map(|dir| dir.join("valid"))
}

/// Whether `text` is a workflow file (a mapping with `steps:`), not another YAML file.
fn is_workflow(text: &str) -> bool {
    parse_yaml(&Source::new("probe.yaml", text)).is_ok_and(|root| root.as_map().is_some_and(|m| m.iter().any(|(k, _)| k.value == "steps")))
}

/// The workflow files under `dir`, in all its folders.
fn workflow_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.is_dir() {
            workflow_files(&path, out);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) && is_workflow(&std::fs::read_to_string(&path).unwrap()) {
            out.push(path);
        }
    }
}

/// Every valid workflow of the project, grouped by folder: a folder is a
/// set (`run-workflow` and `on-completion` resolve within it).
fn valid_sets() -> BTreeMap<PathBuf, Vec<PathBuf>> {
    let mut files = Vec::new();
    workflow_files(&workspace().join("workflow-core/tests/corpus/valid"), &mut files);
    workflow_files(&workspace().join("examples"), &mut files);
    if let Some(dir) = conformance_valid() {
        workflow_files(&dir, &mut files);
    }
    let mut sets: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for file in files {
        sets.entry(file.parent().unwrap().to_path_buf()).or_default().push(file);
    }
    sets.values_mut().for_each(|files| files.sort());
    sets
}

fn compile(texts: &[(String, String)]) -> Vec<WorkflowIr> {
    let sources: Vec<_> = texts.iter().map(|(name, text)| Source::new(name.clone(), text.clone())).collect();
    match compile_sources(&sources, &ReadOptions::default()) {
        Ok(compiled) => compiled.into_iter().map(|c| c.ir).collect(),
        Err(diags) => panic!("does not compile:\n{}", diags.render()),
    }
}

/// The IR as JSON without its hash and the byte ranges of expression nodes
/// (which move when a `{{x}}` in a condition becomes `${x}`).
fn without_positions(ir: &WorkflowIr) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if map.contains_key("kind") {
                    map.remove("span");
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(ir).unwrap();
    value.as_object_mut().unwrap().remove("hash");
    strip(&mut value);
    value
}

/// The formatted text of a valid file, or a panic with its diagnostics.
#[track_caller]
fn formatted(name: &str, text: &str) -> String {
    format(name, text).unwrap_or_else(|diags| panic!("{name} was not formatted:\n{}", diags.render()))
}

#[test]
fn every_valid_file_formats_to_the_same_workflow_and_stays_formatted() {
    let sets = valid_sets();
    let count: usize = sets.values().map(Vec::len).sum();
    assert!(count >= 12, "only {count} valid workflow files found: {sets:?}");
    let mut changed = 0;
    for files in sets.values() {
        let originals: Vec<(String, String)> = files.iter().map(|f| (f.display().to_string(), std::fs::read_to_string(f).unwrap())).collect();
        let outputs: Vec<(String, String)> = originals.iter().map(|(name, text)| (name.clone(), formatted(name, text))).collect();
        for (name, text) in &outputs {
            assert_eq!(&formatted(name, text), text, "formatting {name} twice changes it again");
        }
        changed += originals.iter().zip(&outputs).filter(|(a, b)| a.1 != b.1).count();
        let (before, after) = (compile(&originals), compile(&outputs));
        for (((name, _), b), a) in originals.iter().zip(&before).zip(&after) {
            assert_eq!(without_positions(b), without_positions(a), "formatting {name} changed what it does");
            // Runs started before formatting resume after it: the hash leaves out positions inside conditions.
            assert_eq!(b.hash, a.hash, "formatting {name} changed its definition hash");
        }
    }
    assert!(changed >= 1, "no valid file needed formatting: the corpus does not exercise `fmt`");
}

/// The valid ```` ```yaml ```` blocks of `docs/*.md`, each as its files
/// (a block may hold several, split at `---` lines and named by `# file:`).
fn docs_examples() -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(workspace().join("docs")).unwrap().map(|e| e.unwrap().path()).collect();
    docs.retain(|p| p.extension().is_some_and(|e| e == "md"));
    docs.sort();
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        let mut block: Option<(usize, String)> = None;
        for (i, line) in text.lines().enumerate() {
            let fence = line.trim_start().strip_prefix("```");
            match (&mut block, fence) {
                (None, Some(info)) if info.trim() == "yaml" => block = Some((i + 1, String::new())),
                (None, Some(_)) => block = Some((0, String::new())),
                (Some((start, body)), Some(_)) => {
                    if *start > 0 {
                        let files = body
                            .split("\n---\n")
                            .map(|file| {
                                let name = file.lines().next().and_then(|l| l.strip_prefix("# file:")).map_or("workflow.yaml", str::trim);
                                (name.to_string(), format!("{}\n", file.trim_end_matches('\n')))
                            })
                            .collect();
                        out.push((format!("{}:{start}", doc.display()), files));
                    }
                    block = None;
                }
                (Some((_, body)), None) => {
                    body.push_str(line);
                    body.push('\n');
                }
                (None, None) => {}
            }
        }
    }
    out
}

#[test]
fn every_yaml_example_of_the_docs_formats_to_the_same_workflow() {
    let examples = docs_examples();
    assert!(examples.len() >= 20, "only {} valid YAML examples found in docs/", examples.len());
    let mut changed = 0;
    for (place, originals) in &examples {
        let outputs: Vec<(String, String)> = originals.iter().map(|(name, text)| (name.clone(), formatted(&format!("{place} {name}"), text))).collect();
        for (name, text) in &outputs {
            assert_eq!(&formatted(name, text), text, "{place}: formatting {name} twice changes it again");
        }
        changed += originals.iter().zip(&outputs).filter(|(a, b)| a.1 != b.1).count();
        let (before, after) = (compile(originals), compile(&outputs));
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(without_positions(b), without_positions(a), "{place}: formatting changed what `{}` does", b.name);
        }
    }
    assert!(changed >= 2, "the docs' earlier-dialect examples were not reformatted");
}

const CODI_DIALECT: &str = r#"# Written for an earlier tool: camelCase keys and {{var}} interpolation.
name: codi-dialect
description: Accepted as written
version: 1.0
steps:
  - id: build
    action: shell
    command: "echo building"
  - id: ask
    action: interactive
    prompt: "Continue? (yes/no)"
    inputType: confirm
    timeoutMs: 30000
    defaultValue: "yes"
  - id: branch
    action: conditional
    check: "build.exit_code == 0"
    onTrue: report
    onFalse: fail
  - id: fail
    action: shell
    command: "echo failed"
  - id: report
    action: shell
    command: "echo build said {{build.stdout}}"
"#;

#[test]
fn the_earlier_dialect_becomes_canonical_and_comments_stay() {
    let expected = r#"# Written for an earlier tool: camelCase keys and {{var}} interpolation.
name: codi-dialect
description: Accepted as written
version: 1.0
steps:
  - id: build
    action: shell
    command: "echo building"
  - id: ask
    action: interactive
    prompt: "Continue? (yes/no)"
    input-type: confirm
    timeout: 30s
    default: "yes"
  - id: branch
    action: conditional
    check: "build.exit_code == 0"
    on-true: report
    on-false: fail
  - id: fail
    action: shell
    command: "echo failed"
  - id: report
    action: shell
    command: "echo build said ${build.stdout}"
"#;
    assert_eq!(formatted("codi-dialect.yaml", CODI_DIALECT), expected);
}

/// Keys that are not kebab-case, and string values still holding `{{`.
fn leftovers(node: &Node, out: &mut Vec<String>) {
    match &node.kind {
        NodeKind::Str(s) if s.contains("{{") => out.push(format!("value {s:?}")),
        NodeKind::Seq(items) => items.iter().for_each(|n| leftovers(n, out)),
        NodeKind::Map(entries) => {
            for (key, value) in entries {
                if key.value.contains(|c: char| c.is_ascii_uppercase() || c == '_') {
                    out.push(format!("key `{}`", key.value));
                }
                leftovers(value, out);
            }
        }
        _ => {}
    }
}

#[test]
fn no_camel_case_key_and_no_double_braces_remain_in_the_shared_dialect_file() {
    let shared = conformance_valid().map(|dir| std::fs::read_to_string(dir.join("codi-dialect.yaml")).unwrap());
    for text in [Some(CODI_DIALECT.to_string()), shared].into_iter().flatten() {
        let before = parse_yaml(&Source::new("codi-dialect.yaml", text.clone())).unwrap();
        let mut found = Vec::new();
        leftovers(&before, &mut found);
        assert!(found.len() >= 5, "the dialect file lost its dialect: {found:?}");
        let out = formatted("codi-dialect.yaml", &text);
        let after = parse_yaml(&Source::new("codi-dialect.yaml", out.clone())).unwrap();
        let mut found = Vec::new();
        leftovers(&after, &mut found);
        assert!(found.is_empty(), "left in the earlier dialect: {found:?}\n{out}");
    }
}

#[test]
fn kebab_aliases_stay_and_camel_case_aliases_become_them() {
    let before = "\
name: review
steps:
  - id: review
    action: self-review
    check: approved
    onApproved: done      # the reviewer agreed
    on_rejected: fix
  - id: fix
    action: shell
    command: ./fix.sh
    maxIterations: 3
    onComplete: again
  - id: again
    action: self-review
    check: approved
    on-approved: done
    on-rejected: review
    max-iterations: 2
  - id: done
    action: end
";
    let after = "\
name: review
steps:
  - id: review
    action: self-review
    check: approved
    on-approved: done      # the reviewer agreed
    on-rejected: fix
  - id: fix
    action: shell
    command: ./fix.sh
    max-iterations: 3
    on-complete: again
  - id: again
    action: self-review
    check: approved
    on-approved: done
    on-rejected: review
    max-iterations: 2
  - id: done
    action: end
";
    assert_eq!(formatted("review.yaml", before), after);
    assert_eq!(formatted("review.yaml", after), after, "a canonical file is left byte for byte");
}

#[test]
fn timeouts_in_milliseconds_become_durations_with_their_unit() {
    let before = r#"name: waits
onCompletion: [report]
steps:
  - id: a
    action: shell
    command: "true"
    timeoutMs: 250
  - { id: b, action: shell, command: "true", timeoutMs: 120000 }
  - id: c
    action: shell
    command: "true"
    "timeoutMs": "1500"
  - id: d
    action: shell
    command: "true"
    timeoutMs: 30s
    retry: { maxAttempts: 3, delay: 2 }
"#;
    let after = r#"name: waits
on-completion: [report]
steps:
  - id: a
    action: shell
    command: "true"
    timeout: 250ms
  - { id: b, action: shell, command: "true", timeout: 2m }
  - id: c
    action: shell
    command: "true"
    "timeout": "1500ms"
  - id: d
    action: shell
    command: "true"
    timeout: 30s
    retry: { max-attempts: 3, delay: 2 }
"#;
    assert_eq!(formatted("waits.yaml", before), after);
    let timeouts = |text: &str| -> Vec<Option<u64>> {
        let sources = [Source::new("waits.yaml", text), Source::new("report.yaml", "name: report\nsteps:\n  - { id: a, action: end }\n")];
        compile_sources(&sources, &ReadOptions::default()).unwrap()[0].ir.steps.iter().map(|s| s.timeout_ms).collect()
    };
    assert_eq!(timeouts(after), [Some(250), Some(120_000), Some(1500), Some(30_000)]);
}

#[test]
fn double_braces_become_dollar_braces_only_where_they_interpolate() {
    let before = r#"name: refs
description: "Prints {{name}} (a description is not interpolated)"
variables:
  name: "{{literal}}"
  n: 0
steps:
  - id: greet
    action: shell
    command: echo {{ name }} and $${HOME} and '{{n}}'   # plain scalar
    env: { WHO: "{{name}}" }
    check: "{{n}} < 3 && name != '{{n}}'"
    set: { n: "{{n}} + 1" }
  - id: ask
    action: interactive
    prompt: |
      Hello {{name}},
      again?
    validationPattern: '^x\{{2}$'
"#;
    let after = r#"name: refs
description: "Prints {{name}} (a description is not interpolated)"
variables:
  name: "{{literal}}"
  n: 0
steps:
  - id: greet
    action: shell
    command: echo ${name} and $${HOME} and '${n}'   # plain scalar
    env: { WHO: "${name}" }
    check: "${n} < 3 && name != '{{n}}'"
    set: { n: "${n} + 1" }
  - id: ask
    action: interactive
    prompt: |
      Hello ${name},
      again?
    validation-pattern: '^x\{{2}$'
"#;
    assert_eq!(formatted("refs.yaml", before), after);
}

#[test]
fn a_custom_actions_own_fields_keep_their_names() {
    let before = "name: ship\nsteps:\n  - id: deploy\n    action: deploy\n    targetEnv: \"{{env}}\"\n    onError: rollback\n  - id: rollback\n    action: end\n    status: failed\nvariables:\n  env: prod\n";
    let after = "name: ship\nsteps:\n  - id: deploy\n    action: deploy\n    targetEnv: \"${env}\"\n    on-error: rollback\n  - id: rollback\n    action: end\n    status: failed\nvariables:\n  env: prod\n";
    let options = ReadOptions { custom_actions: vec!["deploy".to_string()] };
    assert_eq!(format_with("ship.yaml", before, &options).unwrap(), after);
    // Without the action registered the file is not valid, so not formatted.
    assert!(format("ship.yaml", before).is_err());
}

#[test]
fn an_invalid_file_is_not_formatted_and_its_mistakes_come_back() {
    let unknown_field = "name: bad\nsteps:\n  - id: a\n    action: shell\n    commnd: \"echo {{x}}\"\n    maxIterations: 2\n";
    let diags = format("bad.yaml", unknown_field).unwrap_err();
    let report = diags.render();
    assert!(report.contains("unknown field `commnd`") && report.contains("bad.yaml"), "{report}");

    let malformed = "name: bad\nsteps:\n  - id: a\n    command: \"unclosed\n";
    let report = format("bad.yaml", malformed).unwrap_err().render();
    assert!(report.contains("malformed YAML"), "{report}");

    let unbounded = "name: spin\nsteps:\n  - id: a\n    action: shell\n    command: \"true\"\n    onComplete: a\n";
    assert!(format("spin.yaml", unbounded).is_err(), "an unbounded cycle is a build error, so not formatted");
}

#[test]
fn the_docs_show_what_fmt_makes_of_their_dialect_example() {
    let examples = docs_examples();
    let at =
        examples.iter().position(|(_, files)| files[0].1.contains("name: earlier-dialect\n") && files[0].1.contains("inputType")).expect("the dialect example");
    let (place, after) = &examples[at + 1];
    assert_eq!(formatted("earlier-dialect.yaml", &examples[at].1[0].1), after[0].1, "{place} is not what `workflow fmt` prints");
}

#[test]
fn unusual_yaml_is_formatted_without_changing_what_it_means() {
    let before = r#"name: odd
variables:
  x: "a"
steps:
  - id: a
    action: shell
    command: "printf \"%s\" \"{{x}}\" \u0041 {{x}}"
    'timeoutMs': |
      2000
  - id: b
    action: shell
    command: 'it''s {{ x }}'
    description: &note "see {{x}}"
  - id: c
    action: shell
    command: echo one
      {{x}} two
      {{x}}
    on_error: a
    max_iterations: 2
"#;
    let after = r#"name: odd
variables:
  x: "a"
steps:
  - id: a
    action: shell
    command: "printf \"%s\" \"${x}\" \u0041 ${x}"
    'timeout': |
      2s
  - id: b
    action: shell
    command: 'it''s ${x}'
    description: &note "see {{x}}"
  - id: c
    action: shell
    command: echo one
      ${x} two
      ${x}
    on-error: a
    max-iterations: 2
"#;
    assert_eq!(formatted("odd.yaml", before), after);
    let ir = |text: &str| compile(&[("odd.yaml".to_string(), text.to_string())]).remove(0);
    assert_eq!(ir(before).hash, ir(after).hash);
}
