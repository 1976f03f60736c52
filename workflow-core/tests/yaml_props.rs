//! Fuzzing the YAML front end: arbitrary text, and random but well-formed
//! workflows (random jumps, loops, branches, reads), never panic anywhere in
//! parse → read → check → lower, and a workflow that is accepted lowers to
//! IR whose jumps are all in range.

use proptest::prelude::*;
use workflow_core::ir::{FlowIr, Target};
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;

fn compile(text: &str) -> Result<Vec<workflow_core::set::Compiled>, workflow_core::Diagnostics> {
    compile_sources(&[Source::new("fuzz.yaml", text)], &ReadOptions::default())
}

/// Text that looks like YAML workflows: keys, indentation, quotes, ids.
fn yamlish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "name: w\n",
        "steps:\n",
        "  - id: a\n",
        "  - id: b\n",
        "    action: shell\n",
        "    action: loop\n",
        "    action: end\n",
        "    command: \"echo ${x}\"\n",
        "    to: a\n",
        "    next: b\n",
        "    check: \"a.exit_code == 0\"\n",
        "    on-true: a\n",
        "    max-iterations: 2\n",
        "variables:\n",
        "  x: 1\n",
        "  y: { type: int }\n",
        "    condition: \"x < 3 &&\"\n",
        "\"",
        "'",
        ":",
        "-",
        "{",
        "}",
        "[",
        "]",
        "\n",
        "  ",
        "#",
        "&a ",
        "*a ",
        "!!str ",
        "---\n",
        "...\n",
        "\t",
        "é",
        "${",
        "{{",
        "}}",
    ]);
    prop::collection::vec(atoms, 0..40).prop_map(|parts| parts.concat())
}

/// A structurally random workflow: n steps, each a shell, conditional, loop
/// or end step with random targets and random reads.
fn random_workflow() -> impl Strategy<Value = String> {
    (1usize..12).prop_flat_map(|n| {
        let step = (0u8..6, 0..n, 0..n, 0u8..4, 0u8..3);
        prop::collection::vec(step, n).prop_map(move |steps| {
            let mut y = String::from("name: random\nvariables:\n  i: 0\n  s: { type: string }\nsteps:\n");
            for (k, (kind, t1, t2, bound, read)) in steps.into_iter().enumerate() {
                y.push_str(&format!("  - id: s{k}\n"));
                let read = match read {
                    0 => "${i}".to_string(),
                    1 => format!("${{s{t1}.stdout}}"),
                    _ => "${s}".to_string(),
                };
                match kind {
                    0 => y.push_str(&format!("    action: shell\n    command: \"echo {read}\"\n")),
                    1 => y.push_str(&format!("    action: conditional\n    check: \"i < {t2}\"\n    on-true: s{t1}\n")),
                    2 => y.push_str(&format!("    action: loop\n    to: s{t1}\n    condition: \"iteration < {t2}\"\n")),
                    3 => y.push_str("    action: end\n"),
                    4 => y.push_str("    action: set-variable\n    name: s\n    value: \"x\"\n"),
                    _ => y.push_str(&format!("    action: shell\n    command: \"true\"\n    on-error: s{t2}\n")),
                }
                if bound > 0 {
                    y.push_str(&format!("    max-iterations: {bound}\n"));
                }
            }
            y
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        let _ = compile(&text);
    }

    #[test]
    fn yaml_like_text_never_panics(text in yamlish()) {
        let _ = compile(&text);
    }

    #[test]
    fn random_workflows_check_without_panic_and_lower_in_range(text in random_workflow()) {
        match compile(&text) {
            Ok(compiled) => {
                let ir = &compiled[0].ir;
                let n = ir.steps.len();
                let ok = |t: &Target| !matches!(t, Target::Step(i) if *i >= n);
                for step in &ir.steps {
                    let targets: Vec<Target> = match &step.flow {
                        FlowIr::Goto { next, on_error } => vec![*next, *on_error],
                        FlowIr::Branch { on_true, on_false, on_error, .. } => vec![*on_true, *on_false, *on_error],
                        FlowIr::Loop { to, next, on_exhausted, on_error, .. } => vec![Target::Step(*to), *next, *on_exhausted, *on_error],
                        FlowIr::End { .. } => vec![],
                    };
                    prop_assert!(targets.iter().all(ok), "jump out of range in {text}");
                }
            }
            Err(diags) => {
                // Every rejection explains itself with at least one located error.
                prop_assert!(!diags.is_empty());
                prop_assert!(diags.iter().all(|d| d.location().is_some()), "an error without a location:\n{}", diags.render());
            }
        }
    }
}
