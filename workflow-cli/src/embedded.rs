//! Workflows compiled into a binary (`workflow build`): their typed state
//! machines, found by name before any file, so `BIN run NAME` drives the
//! generated `next()` rather than the interpreter. Everything else in such
//! a binary is the `workflow` command as it is.

use std::sync::{Arc, OnceLock};
use workflow_core::ir::WorkflowIr;
use workflow_runtime::engine::{Engine, MachineEngine};
use workflow_runtime::Machine;

/// One compiled-in workflow: its definition and a constructor of its machine.
#[derive(Clone)]
pub struct Embedded {
    /// Its definition, as the generated machine embeds it.
    pub ir: Arc<WorkflowIr>,
    /// A fresh engine over its typed machine.
    pub engine: fn() -> Box<dyn Engine>,
}

impl Embedded {
    /// The workflow of generated machine `M`.
    pub fn of<M: Machine>() -> Embedded {
        Embedded { ir: Arc::new(M::ir().clone()), engine: || Box::new(MachineEngine::<M>::new()) }
    }
}

static EMBEDDED: OnceLock<Vec<Embedded>> = OnceLock::new();

/// Makes `workflows` the compiled-in workflows of this process (once, before the command runs).
pub fn install(workflows: Vec<Embedded>) {
    let _ = EMBEDDED.set(workflows);
}

/// The compiled-in workflows (none in the plain `workflow` binary).
pub fn all() -> &'static [Embedded] {
    EMBEDDED.get().map_or(&[], Vec::as_slice)
}

/// The compiled-in workflow called `name`.
pub fn find(name: &str) -> Option<&'static Embedded> {
    all().iter().find(|w| w.ir.name == name)
}
