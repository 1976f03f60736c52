//! The workflow language: YAML and `workflow!` front ends, build-time
//! checks, the lowered IR, Rust code generation and the build.rs API.
//!
//! Pipeline (one module per stage): [`node`] (spanned tree from YAML or
//! tokens) → [`read`] (the [`model`], field rules) → [`check`] (the 15
//! build-time checks, all errors collected) → [`lower`] (the [`ir`], also
//! interpreted at run time) → [`codegen`] (a typed state machine).

pub mod analysis;
pub mod build;
pub mod catalog;
pub mod check;
pub mod codegen;
pub mod diagnostic;
pub mod dsl;
pub mod expand;
pub mod expr;
pub mod fmt;
pub mod graph;
pub mod ir;
pub mod lower;
pub mod model;
pub mod node;
pub mod read;
pub mod resolve;
pub mod schema;
pub mod set;
pub mod span;
pub mod template;

pub use diagnostic::{Diagnostic, Diagnostics, Source};
pub use span::{Ident, Span, Spanned};
