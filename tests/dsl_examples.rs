//! The Rust examples of `docs/rust-dsl.md`, compiled and run.
//!
//! Each ```` ```rust ```` block of the page is copied into a module here
//! (its `fn main` is run by a test), and
//! `every_rust_example_of_the_docs_is_here` checks that the copies match
//! the page, so the documentation cannot drift from what compiles.
//! Blocks marked ```` ```rust,ignore ```` (build scripts) are covered by
//! `the_build_api_compiles_a_folder` instead.

/// `workflow!` and driving the generated machine.
mod first_example {
    use workflow::{workflow, Machine, Outcome, State, Transition};

    workflow! {
        name: "review-loop",
        variables: { title: "Add retries", rounds: 0 },
        models: { reviewer: "openai:glm-4.6" },
        steps: [
            open: create_pr { title: "${title}" },
            to_reviewer: switch_model { model: reviewer },
            review: review_pr { check: approved, on_approved: "human-review" },
            fix: make_changes { prompt: "Address: ${review.comments}", set: { rounds: "rounds + 1" } },
            again: loop { to: to_reviewer, condition: |vars, _| vars.rounds < 3, max_iterations: 3 },
            "human-review": approval_gate { message: "Merge ${title}?" },
            merge: merge_pr { requires: "human-review.approved" },
        ],
    }

    fn main() {
        // Drive the machine by hand: the review rejects twice, then approves.
        let mut state = State::<review_loop::Machine>::new();
        let mut trace = Vec::new();
        let mut reviews = 0;
        let mut at = review_loop::Machine::begin(&mut state);
        while let Transition::Goto(step) = at {
            trace.push(review_loop::Machine::step_id(step));
            if step == review_loop::Step::Review {
                reviews += 1;
                state.outputs.review.approved = reviews == 3;
            }
            at = review_loop::Machine::next(&mut state, step, Outcome::Success);
        }
        assert_eq!(at, Transition::Complete);
        assert_eq!(state.variables.rounds, 2);
        assert_eq!(
            trace,
            ["open", "to_reviewer", "review", "fix", "again", "to_reviewer", "review", "fix", "again", "to_reviewer", "review", "human-review", "merge"]
        );
    }

    #[test]
    fn runs() {
        main();
    }
}

/// Closures as conditions.
mod closures {
    use workflow::{workflow, FailReason, Machine, Outcome, State, Transition};

    workflow! {
        name: "release-gate",
        variables: { "tries-left": 2 },
        steps: [
            test: shell { command: "cargo test", check: |_, steps| steps.test.exit_code == 0, on_false: rework },
            "human-review": approval_gate { message: "Release?", check: |_, steps| steps.human_review.approved, on_true: done },
            rework: make_changes { prompt: "Make the release ready", set: { "tries-left": "tries-left - 1" } },
            again: loop { to: test, condition: |vars, _| vars.tries_left > 0, max_iterations: 3 },
            give_up: end { status: failed },
            done: end,
        ],
    }

    fn main() {
        // With default outputs the tests pass (exit code 0) and the gate rejects (approved is false).
        let mut state = State::<release_gate::Machine>::new();
        let mut trace = Vec::new();
        let mut at = release_gate::Machine::begin(&mut state);
        while let Transition::Goto(step) = at {
            trace.push(release_gate::Machine::step_id(step));
            at = release_gate::Machine::next(&mut state, step, Outcome::Success);
        }
        assert_eq!(trace, ["test", "human-review", "rework", "again", "test", "human-review", "rework", "again", "give_up"]);
        assert_eq!(at, Transition::Fail(FailReason::Ended { step: "give_up" }));
        assert_eq!(state.variables.tries_left, 0);
    }

    #[test]
    fn runs() {
        main();
    }
}

/// A custom action bound to an async fn.
mod custom_actions {
    use workflow::{workflow, ActionError, ActionInput, Machine, Outcome, State, Transition};

    /// Posts a message to a chat channel (here: pretends to).
    async fn notify_chat(input: ActionInput) -> Result<serde_json::Value, ActionError> {
        let channel = input.params["channel"].as_str().ok_or("`channel` must be a string")?;
        Ok(serde_json::json!({ "channel": channel, "sent": true }))
    }

    workflow! {
        name: "announce",
        steps: [
            post: custom(notify_chat) { channel: "releases" },
            verify: conditional { check: "post.sent == true", on_false: failed },
            done: end,
            failed: end { status: failed },
        ],
    }

    fn main() {
        // The machine knows the function behind each custom step.
        let action = announce::Machine::custom_action(announce::Step::Post).expect("a custom action");
        let params = serde_json::json!({ "channel": "releases" }).as_object().cloned().unwrap_or_default();
        let input = ActionInput { step: "post".into(), params, variables: Default::default() };
        let output = block_on(action(input)).expect("the action succeeds");
        assert_eq!(output["sent"], true);

        // Its outputs are stored like any other step's, and read as `post.<field>`.
        let mut state = State::<announce::Machine>::new();
        let mut trace = Vec::new();
        let mut at = announce::Machine::begin(&mut state);
        while let Transition::Goto(step) = at {
            trace.push(announce::Machine::step_id(step));
            if step == announce::Step::Post {
                announce::Machine::set_output(&mut state.outputs, step, output.clone()).expect("a JSON object");
            }
            at = announce::Machine::next(&mut state, step, Outcome::Success);
        }
        assert_eq!(trace, ["post", "verify", "done"]);
    }

    /// Polls a future that never waits (an async runtime does this in real use).
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
        }
    }

    #[test]
    fn runs() {
        main();
    }
}

/// `include_workflow!` of a YAML file.
mod include_yaml {
    use workflow::{include_workflow, Machine, Outcome, State, Transition};

    include_workflow!("examples/yaml-to-binary/workflows/test-fix-loop.yaml");

    fn main() {
        // Outputs start at their defaults, so `exit_code` is 0: the tests pass at once.
        let mut state = State::<test_fix_loop::Machine>::new();
        let mut trace = Vec::new();
        let mut at = test_fix_loop::Machine::begin(&mut state);
        while let Transition::Goto(step) = at {
            trace.push(test_fix_loop::Machine::step_id(step));
            at = test_fix_loop::Machine::next(&mut state, step, Outcome::Success);
        }
        assert_eq!(trace, ["test", "done"]);
        assert_eq!(at, Transition::Complete);
    }

    #[test]
    fn runs() {
        main();
    }
}

#[test]
fn the_build_api_compiles_a_folder() {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/yaml-to-binary/workflows");
    let code = workflow::build::Build::new().input(folder).generate().unwrap_or_else(|diags| panic!("{diags}"));
    assert!(code.starts_with("// @generated by workflow_core::build"), "{code}");
    assert!(code.contains("pub mod pr_review_loop"), "one module per workflow");
    assert!(code.contains("pub mod test_fix_loop"), "one module per workflow");
}

#[test]
fn the_build_api_reports_mistakes() {
    let missing = concat!(env!("CARGO_MANIFEST_DIR"), "/no-such-folder");
    let diags = workflow::build::Build::new().input(missing).generate().expect_err("a missing folder is an error");
    assert!(diags.render().contains("cannot read"), "{}", diags.render());
}

/// The lines of a code block, without indentation and blank lines.
fn normalized(code: &str) -> Vec<&str> {
    code.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
}

#[test]
fn every_rust_example_of_the_docs_is_here() {
    let doc = include_str!("../docs/rust-dsl.md");
    let here = normalized(include_str!("dsl_examples.rs"));
    // (whether the open block is ```rust, its text)
    let mut open: Option<(bool, String)> = None;
    let mut blocks = Vec::new();
    for line in doc.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => open = Some((info.trim() == "rust", String::new())),
            (Some((is_rust, text)), Some(_)) => {
                if *is_rust {
                    blocks.push(std::mem::take(text));
                }
                open = None;
            }
            (Some((_, text)), None) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(blocks.len() >= 4, "only {} Rust examples in docs/rust-dsl.md", blocks.len());
    for block in &blocks {
        let lines = normalized(block);
        let found = here.windows(lines.len()).any(|w| w == lines.as_slice());
        assert!(found, "this example of docs/rust-dsl.md is not in tests/dsl_examples.rs (copy it into a module):\n{block}");
    }
}
