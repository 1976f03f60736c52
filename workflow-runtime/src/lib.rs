//! Runtime for workflows.
//!
//! A workflow compiles (through `workflow!`, `include_workflow!` or a build
//! script) to a module holding a typed state machine that implements
//! [`Machine`]: an enum of steps, a struct of variables, a struct of step
//! outputs (the types in [`outputs`]) and a transition function. The same
//! workflow can also run straight from its IR with the [`Interpreter`]; both
//! follow the same rules (DESIGN §3):
//!
//! * after a step succeeds its `set:` is applied, then it routes: `next`, a
//!   branch on its `check`, or a loop jump while the condition holds;
//! * after it fails it goes to `on-error` (by default the run fails);
//! * entering a step whose `max-iterations` is used up goes to its
//!   `on-exhausted` (by default the run fails).
//!
//! ```
//! use workflow_core::{read::ReadOptions, set::compile_sources, Source};
//! use workflow_runtime::ir::{Outcome, Target};
//! use workflow_runtime::{DynState, Interpreter};
//!
//! let yaml = r#"
//! name: retry
//! steps:
//!   - id: again
//!     action: loop
//!     to: again
//!     condition: "iteration < 2"
//!     max-iterations: 5
//!   - id: done
//!     action: end
//! "#;
//! let ir = compile_sources(&[Source::new("retry.yaml", yaml)], &ReadOptions::default()).unwrap().remove(0).ir;
//!
//! let run = Interpreter::new(&ir);
//! let mut state = DynState::new(&ir);
//! let mut trace = vec![];
//! let mut at = run.start(&mut state);
//! while let Target::Step(step) = at {
//!     trace.push(ir.steps[step].id.as_str());
//!     at = run.next(&mut state, step, Outcome::Success);
//! }
//! assert_eq!(trace, ["again", "again", "again", "done"]);
//! assert_eq!(at, Target::Complete);
//! ```

pub mod actions;
pub mod audit;
pub mod changes;
pub mod engine;
pub mod executor;
pub mod github;
pub mod human;
pub mod interpolate;
pub mod interpret;
pub mod machine;
pub mod models;
pub mod outputs;
pub mod permissions;
pub mod providers;
pub mod secrets;
pub mod shell_syntax;
pub(crate) mod step_processes;
pub mod store;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use interpret::{DynState, Interpreter};
pub use machine::{ActionError, ActionFuture, ActionInput, CustomAction, FailReason, Machine, RunFacts, State, Transition};
pub use workflow_core::ir;
pub use workflow_core::ir::{Outcome, Target, WorkflowIr};
