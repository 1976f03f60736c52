//! Lowering: jumps become indices, fall-through is explicit, names become
//! canonical paths, and the definition hash is stable.

use workflow_core::expr::{BinaryOp, ExprKind, Literal, Type};
use workflow_core::ir::{FlowIr, Target, WorkflowIr};
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;

fn lower(yaml: &str) -> WorkflowIr {
    let compiled = compile_sources(&[Source::new("test.yaml", yaml)], &ReadOptions::default()).unwrap_or_else(|d| panic!("{}", d.render()));
    compiled.into_iter().next().unwrap().ir
}

const REVIEW: &str = r#"
name: review
variables:
  title: "Add retries"
steps:
  - id: pr
    action: create-pr
    title: "${title} {{title}}"
  - id: review
    action: review-pr
    check: approved
    on-approved: merge
  - id: fix
    action: make-changes
    on-error: give-up
  - id: again
    action: loop
    to: review
    condition: not-approved
    max-iterations: 5
  - id: merge
    action: merge-pr
  - id: give-up
    action: end
    status: failed
"#;

#[test]
fn branches_fall_through_and_jumps_become_indices() {
    let ir = lower(REVIEW);
    let ids: Vec<&str> = ir.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["pr", "review", "fix", "again", "merge", "give-up"]);
    assert_eq!(ir.steps[0].flow, FlowIr::Goto { next: Target::Step(1), on_error: Target::Fail });
    match &ir.steps[1].flow {
        FlowIr::Branch { on_true, on_false, on_error, check } => {
            assert_eq!(*on_true, Target::Step(4));
            // `on-rejected` is missing: the branch falls through to the next step.
            assert_eq!(*on_false, Target::Step(2));
            assert_eq!(*on_error, Target::Fail);
            // `approved` is the review step's own output.
            assert_eq!(check.kind, ExprKind::Path(vec!["step".into(), "review".into(), "approved".into()]));
        }
        other => panic!("expected a branch, got {other:?}"),
    }
    assert_eq!(ir.steps[2].flow, FlowIr::Goto { next: Target::Step(3), on_error: Target::Step(5) });
    match &ir.steps[3].flow {
        FlowIr::Loop { to, max, next, on_exhausted, condition, .. } => {
            assert_eq!((*to, *max, *next, *on_exhausted), (1, 5, Target::Step(4), Target::Fail));
            // `not-approved` in the loop means the nearest review's verdict.
            assert_eq!(condition.to_string(), "!step.review.approved");
        }
        other => panic!("expected a loop, got {other:?}"),
    }
    assert_eq!(ir.steps[4].flow, FlowIr::Goto { next: Target::Step(5), on_error: Target::Fail });
    assert_eq!(ir.steps[5].flow, FlowIr::End { failed: true });
}

#[test]
fn templates_are_rewritten_to_canonical_references() {
    let ir = lower(REVIEW);
    assert_eq!(ir.steps[0].params["title"], serde_json::json!("${var.title} ${var.title}"));
    assert_eq!(ir.variables[0].name, "title");
    assert_eq!(ir.variables[0].ty, Type::String);
    assert_eq!(ir.variables[0].default, Some(serde_json::json!("Add retries")));
}

#[test]
fn sensitive_steps_and_outputs_are_marked() {
    let ir = lower(REVIEW);
    assert!(!ir.steps[0].sensitive, "create-pr is not sensitive");
    assert!(ir.steps[2].sensitive, "make-changes writes files");
    assert!(ir.steps[4].sensitive, "merge-pr merges");
    assert_eq!(ir.steps[1].outputs, vec![("approved".to_string(), Type::Bool), ("comments".to_string(), Type::String)]);
}

#[test]
fn max_iterations_on_a_plain_step_bounds_its_visits() {
    let ir = lower(
        r#"
name: retry
steps:
  - id: flaky
    action: shell
    command: "./flaky.sh"
    on-error: flaky
    max-iterations: 3
    on-exhausted: done
  - id: done
    action: end
"#,
    );
    assert_eq!(ir.steps[0].max_visits, Some(3));
    assert_eq!(ir.steps[0].on_exhausted, Target::Step(1));
    assert_eq!(ir.steps[0].flow, FlowIr::Goto { next: Target::Step(1), on_error: Target::Step(0) });
}

#[test]
fn set_and_writes_name_variable_slots() {
    let ir = lower(
        r#"
name: counter
variables:
  i: 0
steps:
  - id: bump
    action: shell
    command: "echo $((i + 1))"
    set: { i: "i + 1" }
  - id: load
    action: load-variable
    name: i
    from: counter.txt
"#,
    );
    let (slot, expr) = &ir.steps[0].set[0];
    assert_eq!(*slot, 0);
    match &expr.kind {
        ExprKind::Binary(BinaryOp::Add, a, b) => {
            assert_eq!(a.kind, ExprKind::Path(vec!["var".into(), "i".into()]));
            assert_eq!(b.kind, ExprKind::Literal(Literal::Int(1)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ir.steps[1].writes, Some(0));
    // Shell text is left alone: `$((i + 1))` is the shell's arithmetic.
    assert_eq!(ir.steps[0].params["command"], serde_json::json!("echo $((i + 1))"));
}

#[test]
fn the_hash_is_stable_and_changes_with_the_definition() {
    let a = lower(REVIEW);
    let b = lower(REVIEW);
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.hash.len(), 64);
    let c = lower(&REVIEW.replace("max-iterations: 5", "max-iterations: 6"));
    assert_ne!(a.hash, c.hash);
    // Comments and formatting do not change the meaning, so not the hash.
    let d = lower(&format!("# a comment\n{REVIEW}"));
    assert_eq!(a.hash, d.hash);
}

#[test]
fn on_completion_conditions_read_run_facts() {
    let batch = r#"
name: batch
snapshot:
  done: { shell: "echo 1" }
expect:
  done: "done + 1"
on-completion:
  - workflow: report
    condition: "status == 'completed' && delta.done > 0"
steps:
  - id: s1
    action: shell
    command: "true"
"#;
    let report = "name: report\nsteps:\n  - id: s1\n    action: end\n";
    let sources = [Source::new("batch.yaml", batch), Source::new("report.yaml", report)];
    let compiled = compile_sources(&sources, &ReadOptions::default()).unwrap_or_else(|d| panic!("{}", d.render()));
    let ir = &compiled[0].ir;
    assert_eq!(ir.on_completion[0].workflow, "report");
    assert_eq!(ir.on_completion[0].condition.as_ref().unwrap().to_string(), "status == 'completed' && delta.done > 0");
    assert_eq!(ir.expect[0].1.to_string(), "before.done + 1");
}

#[test]
fn templates_inside_maps_and_free_form_values_are_rewritten() {
    let ir = lower(
        r#"
name: maps
variables:
  token: "t"
steps:
  - id: s1
    action: shell
    command: "deploy"
    env: { API_TOKEN: "${token}", LEVEL: "debug" }
  - id: copy
    action: set-variable
    name: token
    value: "${s1.stdout}"
"#,
    );
    assert_eq!(ir.steps[0].params["env"], serde_json::json!({ "API_TOKEN": "${var.token}", "LEVEL": "debug" }));
    assert_eq!(ir.steps[1].params["value"], serde_json::json!("${step.s1.stdout}"));
}

#[test]
fn a_map_default_with_a_type_key_is_a_map_not_a_declaration() {
    let ir = lower(
        r#"
name: maps
variables:
  target: { type: "docker", host: "build-1" }
  count: { type: int, default: 2 }
steps:
  - id: s1
    action: shell
    command: "echo ${target.host} ${count}"
"#,
    );
    assert_eq!(ir.variables[0].ty, Type::Map);
    assert_eq!(ir.variables[0].default, Some(serde_json::json!({ "type": "docker", "host": "build-1" })));
    assert_eq!(ir.variables[1].ty, Type::Int);
    assert_eq!(ir.variables[1].default, Some(serde_json::json!(2)));
}
