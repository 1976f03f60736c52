//! The `workflow!` expansion as a library call: errors become
//! `compile_error!`s next to a stub, and the definition hash covers the
//! Rust code a workflow binds.

use workflow_core::expand::expand_workflow;

fn expand(src: &str) -> String {
    expand_workflow(src.parse().unwrap()).to_string()
}

fn hash_of(expanded: &str) -> String {
    let at = expanded.find("const HASH").expect("a HASH constant");
    expanded[at..].split('"').nth(1).unwrap().to_string()
}

const WITH_CLOSURE: &str = r#"
    name: "h",
    variables: { n: 0 },
    steps: [
        work: shell { command: "echo" },
        again: loop { to: work, condition: |vars, _| vars.n < 3, max_iterations: 3 },
    ],
"#;

#[test]
fn changing_a_closure_changes_the_definition_hash() {
    let a = expand(WITH_CLOSURE);
    let b = expand(&WITH_CLOSURE.replace("vars.n < 3", "vars.n < 4"));
    assert!(!a.contains("compile_error"), "{a}");
    assert_eq!(hash_of(&a), hash_of(&expand(WITH_CLOSURE)));
    assert_ne!(hash_of(&a), hash_of(&b));
}

#[test]
fn errors_come_with_a_stub_module() {
    let out = expand(r#"name: "broken", steps: [ s1: shell { command: "echo", next: nowhere } ]"#);
    assert!(out.contains("compile_error"), "{out}");
    assert!(out.contains("names no step"), "{out}");
    assert!(out.contains("mod broken"), "the stub keeps `broken::Machine` usable: {out}");
}

/// The `run` context is checked like any name in `workflow!` too, and read by the generated machine.
#[test]
fn the_run_context_is_checked_and_compiled_in_the_dsl() {
    let ok = expand(
        r#"name: "named", steps: [
            tag: shell { command: "git tag run-${run.id} # ${run.workflow} ${run.started_at}" },
            child: conditional { check: "run.parent_id == ''", on_true: done },
            other: shell { command: "echo started by ${run.parent_id}" },
            done: end {},
        ]"#,
    );
    assert!(!ok.contains("compile_error"), "{ok}");
    assert!(ok.contains("state . run . parent_id"), "the generated condition reads the run's facts: {ok}");
    let typo = expand(r#"name: "typo", steps: [ tag: shell { command: "echo ${run.idd}" } ]"#);
    assert!(typo.contains("compile_error") && typo.contains("did you mean `run.id`"), "{typo}");
    let typed = expand(r#"name: "typed", steps: [ a: shell { command: "echo", check: "run.started_at > 3", on_true: a, max_iterations: 2 } ]"#);
    assert!(typed.contains("compile_error") && typed.contains("type"), "comparing text to a number is a build error: {typed}");
}
