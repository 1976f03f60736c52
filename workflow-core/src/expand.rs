//! The bodies of the `workflow!` and `include_workflow!` macros, kept here
//! (as `proc_macro2` code) so the proc-macro crate is a thin shim and this
//! logic is testable as a plain library.

use crate::check::check_workflow;
use crate::codegen::{self, RustBindings};
use crate::diagnostic::Diagnostics;
use crate::lower::lower;
use crate::model::{ActionKind, Workflow};
use crate::read::{read_workflow, ReadOptions};
use crate::set::compile_paths;
use crate::span::Span;
use proc_macro2::TokenStream;
use quote::quote;
use std::path::PathBuf;

/// Expands `workflow! { ... }`: the typed machine, or the errors plus a stub
/// (so code using the machine does not add a cascade of follow-on errors).
pub fn expand_workflow(input: TokenStream) -> TokenStream {
    let node = match crate::dsl::parse_dsl(input) {
        Ok(node) => node,
        Err(e) => return e.to_compile_error(),
    };
    let (model, mut diags) = read_workflow(&node, None, &ReadOptions::default());
    let Some(model) = model else { return errors_at_tokens(&diags) };
    diags.extend(check_workflow(&model));
    let out = if diags.is_empty() {
        let bindings = bindings(&model);
        let mut ir = lower(&model);
        let mut rust_code: Vec<String> = bindings.conditions.iter().chain(&bindings.custom_actions).map(|(step, code)| format!("{step}={code}")).collect();
        rust_code.sort();
        ir.hash = crate::lower::definition_hash_with(&ir, &rust_code);
        codegen::generate(&ir, &bindings)
    } else {
        let mut out = errors_at_tokens(&diags);
        out.extend(codegen::generate_stub(&model.name.value));
        out
    };
    debug_print("workflow!", &out);
    out
}

/// The Rust pieces a `workflow!` binds: closure conditions and custom action functions.
fn bindings(model: &Workflow) -> RustBindings {
    let mut bindings = RustBindings::default();
    for step in &model.steps {
        if let Some(rust) = step.flow.check.as_ref().and_then(|c| c.rust.clone()) {
            bindings.conditions.insert(step.id.value.clone(), rust);
        }
        if let ActionKind::Custom { function: Some(f) } = &step.kind {
            bindings.custom_actions.insert(step.id.value.clone(), f.clone());
        }
    }
    bindings
}

/// Each diagnostic as a `compile_error!` spanned to the user's token.
fn errors_at_tokens(diags: &Diagnostics) -> TokenStream {
    let mut out = TokenStream::new();
    for d in diags.iter() {
        let span = match d.span {
            Span::Tokens(s) => s,
            _ => proc_macro2::Span::call_site(),
        };
        let text = match &d.help {
            Some(help) => format!("{}\nhelp: {help}", d.message),
            None => d.message.clone(),
        };
        out.extend(syn::Error::new(span, text).to_compile_error());
    }
    out
}

/// Expands `include_workflow!("path")`: a YAML file (or folder, one set),
/// relative to the invoking file or the crate's `Cargo.toml`, compiled to typed machines.
///
/// `source_dir` is the folder of the file invoking the macro, when the
/// compiler tells (the proc-macro crate asks `proc_macro::Span::local_file`).
pub fn expand_include(input: TokenStream, source_dir: Option<PathBuf>) -> TokenStream {
    let lit: syn::LitStr = match syn::parse2(input) {
        Ok(lit) => lit,
        Err(e) => return syn::Error::new(e.span(), "expected a path in quotes: include_workflow!(\"workflows/x.yaml\")").to_compile_error(),
    };
    let Some(path) = locate(&lit, source_dir) else {
        let message =
            format!("workflow file `{}` not found: the path is relative to this source file (like `include_str!`) or to the crate's Cargo.toml", lit.value());
        return syn::Error::new(lit.span(), message).to_compile_error();
    };
    // Make cargo rebuild when a workflow file changes.
    let watched: Vec<String> = crate::set::yaml_files(&path).unwrap_or_default().iter().map(|p| p.display().to_string()).collect();
    let track = quote! { #( const _: &[u8] = include_bytes!(#watched); )* };
    let out = match compile_paths(std::slice::from_ref(&path), &ReadOptions::default()) {
        Ok(compiled) => {
            let machines = compiled.iter().map(|c| codegen::generate(&c.ir, &RustBindings::default()));
            quote! { #track #(#machines)* }
        }
        Err(diags) => {
            let stubs = stub_names(&path).into_iter().map(|n| codegen::generate_stub(&n));
            // One error per mistake: `file:line:col: message`, then the source line and the hint.
            let messages = diags.iter().map(|d| {
                let rendered = d.render();
                let snippet = rendered.split_once('\n').map_or("", |(_, rest)| rest);
                format!("{}: {}\n{snippet}", d.location().unwrap_or_default(), d.message)
            });
            quote::quote_spanned! { lit.span() => #( compile_error!(#messages); )* #track #(#stubs)* }
        }
    };
    debug_print("include_workflow!", &out);
    out
}

/// Resolves the path like `include_str!` (next to the invoking file), then
/// relative to the crate's `Cargo.toml`.
fn locate(lit: &syn::LitStr, source_dir: Option<PathBuf>) -> Option<PathBuf> {
    let written = PathBuf::from(lit.value());
    if written.is_absolute() {
        return written.exists().then_some(written);
    }
    let beside_source = source_dir.map(|dir| dir.join(&written));
    let in_crate = std::env::var_os("CARGO_MANIFEST_DIR").map(|dir| PathBuf::from(dir).join(&written));
    beside_source.into_iter().chain(in_crate).find(|p| p.exists())
}

/// Names of the workflows in the given files, read leniently, for stubs after an error.
fn stub_names(path: &std::path::Path) -> Vec<String> {
    let files = crate::set::yaml_files(path).unwrap_or_default();
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|text| text.lines().find_map(|l| l.strip_prefix("name:").map(|n| n.trim().trim_matches(['"', '\'']).to_string())))
        .filter(|n| !n.is_empty())
        .collect()
}

/// With `WORKFLOW_MACROS_DEBUG=1`, prints what a macro expanded to.
fn debug_print(what: &str, tokens: &TokenStream) {
    if std::env::var_os("WORKFLOW_MACROS_DEBUG").is_some_and(|v| v != "0" && !v.is_empty()) {
        eprintln!("// ---- {what} expansion ----\n{}", pretty(tokens.clone()));
    }
}

/// Formats generated code for people (falls back to the raw tokens).
pub fn pretty(tokens: TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => tokens.to_string(),
    }
}
