//! Compiling a set of workflows together: read every file, check each and
//! the set (cross-workflow references, trigger cycles), lower to IR.

use crate::diagnostic::{Diagnostic, Diagnostics, Source};
use crate::ir::WorkflowIr;
use crate::model::Workflow;
use crate::read::ReadOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A checked workflow: its model (with spans) and its IR.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The model, for tools that point at source (diagrams, fmt).
    pub model: Workflow,
    /// The lowered form, for running and codegen.
    pub ir: WorkflowIr,
}

/// Compiles YAML sources as one set. All mistakes of all files come back together.
pub fn compile_sources(sources: &[Arc<Source>], options: &ReadOptions) -> Result<Vec<Compiled>, Diagnostics> {
    crate::check::compile_set(sources, options)
}

/// The YAML files a path names: the file itself, or the `*.yaml` / `*.yml` files of a folder (sorted).
pub fn yaml_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        Ok(files)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}

/// Reads files into sources; an unreadable file is a diagnostic naming it.
pub fn read_sources(files: &[PathBuf]) -> Result<Vec<Arc<Source>>, Diagnostics> {
    let mut diags = Diagnostics::new();
    let mut sources = Vec::new();
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => sources.push(Source::new(file.display().to_string(), text)),
            Err(e) => diags.push(Diagnostic::error(crate::Span::Unknown, format!("cannot read {}: {e}", file.display()))),
        }
    }
    diags.into_result(sources)
}

/// Compiles one workflow file. When it does not compile alone (it names
/// workflows of its folder, say), it is compiled with its folder as one set
/// and only its own workflows are returned.
pub fn compile_file(path: &Path, options: &ReadOptions) -> Result<Vec<Compiled>, Diagnostics> {
    let alone = compile_paths(&[path.to_path_buf()], options);
    if alone.is_ok() || path.is_dir() {
        return alone;
    }
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let Ok(set) = compile_paths(&[folder.to_path_buf()], options) else {
        return alone;
    };
    let ours: Vec<Compiled> = set.into_iter().filter(|c| c.model.source.as_ref().is_some_and(|s| Path::new(&s.path).file_name() == path.file_name())).collect();
    if ours.is_empty() {
        alone
    } else {
        Ok(ours)
    }
}

/// Compiles the YAML files under `paths` (files, or folders of `*.yaml`) as one set.
pub fn compile_paths(paths: &[PathBuf], options: &ReadOptions) -> Result<Vec<Compiled>, Diagnostics> {
    let mut files = Vec::new();
    let mut diags = Diagnostics::new();
    for path in paths {
        match yaml_files(path) {
            Ok(found) => files.extend(found),
            Err(e) => {
                diags.push(Diagnostic::error(crate::Span::Unknown, format!("cannot read {}: {e}", path.display())).help("give a YAML file or a folder of them"))
            }
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let sources = read_sources(&files)?;
    compile_sources(&sources, options)
}
