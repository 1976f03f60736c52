//! Prompts at a terminal: being written (placeholder so the executor and CLI can be wired first).

use super::{Asked, Request, Terminal};

/// The controlling terminal.
#[derive(Debug)]
pub struct TtyTerminal;

impl TtyTerminal {
    /// The terminal of this process, if it has one.
    pub fn open() -> Option<TtyTerminal> {
        None
    }
}

impl Terminal for TtyTerminal {
    fn ask(&self, _: &Request) -> Asked {
        Asked::Closed
    }
}
