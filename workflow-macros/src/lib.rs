//! Procedural macros for workflows: a thin shim over `workflow-core`.
//!
//! * `workflow! { ... }` — a workflow written in Rust, compiled to a typed state machine.
//! * `include_workflow!("workflows/x.yaml")` — a YAML workflow (or a folder of them) compiled at build time.
//!
//! Set `WORKFLOW_MACROS_DEBUG=1` to print the generated code.

use proc_macro::TokenStream;

/// Defines a workflow in Rust; see the `workflow` crate's docs for the syntax.
#[proc_macro]
pub fn workflow(input: TokenStream) -> TokenStream {
    workflow_core::expand::expand_workflow(input.into()).into()
}

/// Compiles a YAML workflow file, or a folder of them, into typed machines.
/// The path is relative to the invoking file (like `include_str!`), or else
/// to the crate's `Cargo.toml`.
#[proc_macro]
pub fn include_workflow(input: TokenStream) -> TokenStream {
    let source_dir = proc_macro::Span::call_site().local_file().and_then(|file| file.parent().map(|dir| dir.to_path_buf()));
    workflow_core::expand::expand_include(input.into(), source_dir).into()
}
