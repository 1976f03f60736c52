//! Typed, durable, model-aware workflows.
//!
//! Write a workflow once, in YAML or with [`workflow!`], and get a typed
//! state machine: an enum of steps, a struct of variables, a struct of step
//! outputs and a transition function that is a `match`. Mistakes such as a
//! jump to a missing step, an unbounded loop or a read of a step that may
//! not have run are build errors pointing at the offending token.
//!
//! ```
//! use workflow::{workflow, Machine, Outcome, State, Transition};
//!
//! workflow! {
//!     name: "retry-tests",
//!     variables: { fixes: 0 },
//!     steps: [
//!         test: shell { command: "cargo test", check: "exit_code == 0", on_true: done },
//!         fix: make_changes { prompt: "Fix: ${test.stderr}", set: { fixes: "fixes + 1" } },
//!         again: loop { to: test, condition: |vars, _| vars.fixes < 3, max_iterations: 3 },
//!         done: end,
//!     ],
//! }
//!
//! // Drive the generated machine by hand: the tests fail once, then pass.
//! let mut state = State::<retry_tests::Machine>::new();
//! let mut path = vec![];
//! let mut at = retry_tests::Machine::begin(&mut state);
//! while let Transition::Goto(step) = at {
//!     path.push(retry_tests::Machine::step_id(step));
//!     if step == retry_tests::Step::Test {
//!         let code = if path.len() == 1 { 1 } else { 0 };
//!         state.outputs.test.exit_code = code;
//!     }
//!     at = retry_tests::Machine::next(&mut state, step, Outcome::Success);
//! }
//! assert_eq!(path, ["test", "fix", "again", "test", "done"]);
//! assert_eq!(state.variables.fixes, 1);
//! assert_eq!(at, Transition::Complete);
//! ```
//!
//! | crate | role |
//! |---|---|
//! | `workflow-core` | the language: parsing, checks, IR, codegen, the build-script API ([`build`]) |
//! | `workflow-macros` | `workflow!` and `include_workflow!` |
//! | `workflow-runtime` | the [`Machine`] trait, typed state, the IR [`Interpreter`] |

pub use workflow_core::build;
pub use workflow_macros::{include_workflow, workflow};
pub use workflow_runtime::*;

/// The language itself (parsing, checks, IR), for tools.
pub use workflow_core as language;
