//! Fuzzing on stable Rust, as property tests in the normal test suite: any
//! UTF-8 text, and the project's workflow files mutated (non-ASCII letters,
//! bidirectional controls, zero-width and combining characters, tabs and
//! line breaks, YAML punctuation, cut and repeated lines), go through the
//! YAML reader, the checks, the renderer of errors, the flowcharts `show`
//! prints, `fmt`, and the expression and template parsers. Each input must
//! finish (no panic, no hang), and every rejection must point at a place
//! whose line and column are those of its byte offset, counted in
//! characters.
//!
//! The number of cases per property is bounded (`FUZZ_CASES`, default 256)
//! so the suite stays quick on two cores; raise it locally for a longer
//! hunt: `FUZZ_CASES=20000 cargo test -p workflow-core --test fuzz --release`.
//! (`cargo fuzz` needs a nightly compiler, which this project's machines do
//! not have; proptest runs on stable and shrinks a failure to a small input.)

#[path = "support/mutations.rs"]
mod mutations;

use mutations::{any_text, apply, mutated_seed, mutation};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::sync::mpsc;
use std::time::Duration;
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::{Diagnostics, Source, Span};

/// How long one input may take before it counts as a hang (generous: CI shares two cores).
const HANG: Duration = Duration::from_secs(10);

fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
}

/// Runs `check` on its own thread; an input that takes longer than [`HANG`] fails the property.
fn in_time(input: &str, check: fn(&str) -> Result<(), TestCaseError>) -> Result<(), TestCaseError> {
    let (done, finished) = mpsc::channel();
    let text = input.to_string();
    std::thread::spawn(move || {
        let _ = done.send(check(&text));
    });
    match finished.recv_timeout(HANG) {
        Ok(result) => result,
        // The sender is dropped without a result when `check` panicked: proptest reports the panic itself.
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(TestCaseError::fail(format!("panicked on {input:?}"))),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(TestCaseError::fail(format!("no answer within {HANG:?} (a hang?) on {input:?}"))),
    }
}

/// Every front-end path a file goes through in `validate`, `show` and `fmt`.
fn front_end(text: &str) -> Result<(), TestCaseError> {
    match compile_sources(&[Source::new("fuzz.yaml", text)], &ReadOptions::default()) {
        Ok(compiled) => {
            for c in &compiled {
                let _ = workflow_core::graph::to_mermaid(&c.ir);
                let _ = workflow_core::graph::to_dot(&c.ir);
                prop_assert!(serde_json::to_string(&c.ir).is_ok());
            }
        }
        Err(diags) => located(&diags, text)?,
    }
    match workflow_core::fmt::format("fuzz.yaml", text) {
        Ok(formatted) => {
            // Formatting is idempotent: `fmt --check` on its own output finds nothing to change.
            let again = workflow_core::fmt::format("fuzz.yaml", &formatted);
            prop_assert!(again.as_deref().ok() == Some(formatted.as_str()), "fmt is not idempotent on {text:?}:\n{formatted}\n---\n{again:?}");
        }
        Err(diags) => located(&diags, text)?,
    }
    Ok(())
}

/// Each error renders, and points at a place of `text` whose line and
/// column (in characters) agree with its byte offset.
fn located(diags: &Diagnostics, text: &str) -> Result<(), TestCaseError> {
    prop_assert!(!diags.is_empty());
    let rendered = diags.render();
    prop_assert!(rendered.contains("fuzz.yaml"), "{rendered}");
    for d in diags.iter() {
        prop_assert!(d.location().is_some(), "an error without a location: {}", d.message);
        for span in std::iter::once(&d.span).chain(d.also.iter().map(|(s, _)| s)) {
            let Span::Text(t) = span else { return Err(TestCaseError::fail(format!("not a place in the text: {}", d.message))) };
            prop_assert!(t.offset <= text.len() && text.is_char_boundary(t.offset), "offset {} of {:?} in {text:?}", t.offset, d.message);
            let before = &text[..t.offset];
            let line = before.matches('\n').count() + 1;
            let column = before[before.rfind('\n').map_or(0, |i| i + 1)..].chars().count() + 1;
            prop_assert_eq!((t.line, t.column), (line, column), "{} in {:?}", d.message, text);
        }
    }
    Ok(())
}

/// The expression and template parsers: an error's range is a place in the text (whole characters).
fn expressions(text: &str) -> Result<(), TestCaseError> {
    let within = |r: &std::ops::Range<usize>| r.start <= r.end && r.end <= text.len() && text.is_char_boundary(r.start) && text.is_char_boundary(r.end);
    match workflow_core::expr::parse(text) {
        Ok(expr) => {
            let mut stack = vec![&expr];
            while let Some(e) = stack.pop() {
                prop_assert!(within(&e.span), "span {:?} in {text:?}", e.span);
                match &e.kind {
                    workflow_core::expr::ExprKind::Unary(_, x) => stack.push(x),
                    workflow_core::expr::ExprKind::Binary(_, a, b) => stack.extend([&**a, &**b]),
                    workflow_core::expr::ExprKind::Call(_, args) => stack.extend(args.iter()),
                    _ => {}
                }
            }
            let _ = workflow_core::expr::infer(&expr, &mut |_, _| workflow_core::expr::Type::Any);
        }
        Err(e) => prop_assert!(within(&e.span), "error span {:?} in {text:?}", e.span),
    }
    match workflow_core::template::parse_template(text) {
        Ok(template) => {
            for (_, range) in template.refs() {
                prop_assert!(within(&range), "reference {range:?} in {text:?}");
            }
        }
        Err(e) => prop_assert!(within(&e.span), "error span {:?} in {text:?}", e.span),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_workflow_files_are_read_checked_shown_and_formatted_without_panic(text in mutated_seed()) {
        in_time(&text, front_end)?;
    }

    #[test]
    fn any_text_is_read_checked_shown_and_formatted_without_panic(text in any_text()) {
        in_time(&text, front_end)?;
    }

    #[test]
    fn any_text_is_parsed_as_an_expression_and_a_template_without_panic(text in any_text()) {
        in_time(&text, expressions)?;
    }

    #[test]
    fn mutated_conditions_are_parsed_without_panic(text in mutated_condition()) {
        in_time(&text, expressions)?;
    }
}

/// Conditions as the project writes them, mutated.
fn mutated_condition() -> impl Strategy<Value = String> {
    let conditions = prop::sample::select(vec![
        "approved",
        "not-approved",
        "i < 3 && !done",
        "contains(review.comments, 'LGTM') || attempts >= 5",
        "status == 'completed' && delta.open_prs < 0",
        "matches(title, '^fix: .*$')",
        "${iteration} < 5",
        "file-exists('out/report.txt')",
        "human-review.approved and not steps.build.exit_code",
    ]);
    (conditions, prop::collection::vec(mutation(), 0..5)).prop_map(|(c, mutations)| {
        let mut text = c.to_string();
        for m in &mutations {
            apply(&mut text, m);
        }
        text
    })
}

/// The inputs of issue 13 that made `validate` and `show` panic.
#[test]
fn the_reported_inputs_are_rendered_with_their_place() {
    for text in [
        "name: x\nsteps:\n  - id: a\n    action: shell\n    command: echo\n  - éid: again\n",
        "name: x\nsteps:\n  - id: a\n    action: shell\n    command: echo\n    next: \u{202e}b\n",
        "name: x\nsteps:\n  - \u{202e}id: a\n",
    ] {
        front_end(text).unwrap();
        let diags = compile_sources(&[Source::new("fuzz.yaml", text)], &ReadOptions::default()).unwrap_err();
        let rendered = diags.render();
        assert!(rendered.contains("fuzz.yaml:"), "{rendered}");
    }
}
