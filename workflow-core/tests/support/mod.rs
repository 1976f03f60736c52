//! Runs a corpus folder the way `../shared/conformance/README.md` says.

#![allow(dead_code)]

use std::path::Path;
use workflow_core::read::ReadOptions;
use workflow_core::set::{compile_paths, yaml_files};

/// Every file of `dir` compiles as one set.
pub fn assert_valid_set(dir: &Path) {
    let files = yaml_files(dir).unwrap();
    assert!(!files.is_empty(), "no YAML files in {}", dir.display());
    match compile_paths(&[dir.to_path_buf()], &ReadOptions::default()) {
        Ok(compiled) => assert_eq!(compiled.len(), files.len()),
        Err(diags) => panic!("valid corpus {} rejected:\n{}", dir.display(), diags.render()),
    }
}

/// Every file of `dir`, checked alone, is rejected with each `# expect:`
/// text (case-insensitive) in the report and an error on its `# line:`.
/// Returns how many files were checked.
pub fn assert_each_invalid(dir: &Path) -> usize {
    let files = yaml_files(dir).unwrap();
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let expects: Vec<String> = text.lines().filter_map(|l| l.strip_prefix("# expect:")).map(|s| s.trim().to_lowercase()).collect();
        let line: Option<usize> = text.lines().find_map(|l| l.strip_prefix("# line:")).map(|s| s.trim().parse().unwrap());
        assert!(!expects.is_empty(), "{} has no `# expect:` header", file.display());
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        match compile_paths(std::slice::from_ref(file), &ReadOptions::default()) {
            Ok(_) => failures.push(format!("{name}: accepted, but it is invalid")),
            Err(diags) => {
                let report = diags.render().to_lowercase();
                for e in &expects {
                    if !report.contains(e) {
                        failures.push(format!("{name}: the report lacks `{e}`:\n{report}"));
                    }
                }
                if let Some(line) = line {
                    if !diags.iter().any(|d| d.line() == Some(line)) {
                        let lines: Vec<_> = diags.iter().map(|d| d.line()).collect();
                        failures.push(format!("{name}: no error on line {line} (errors on {lines:?}):\n{report}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    files.len()
}

/// The shared conformance corpus (`../shared/conformance` beside the
/// project, or beside a folder holding it, as for a git worktree in
/// `wt/NAME`). CI lays it there: under `CI=true` a missing corpus fails the
/// test instead of skipping it; elsewhere (a fresh clone) the test is
/// skipped with a printed reason.
pub fn shared_conformance() -> Option<std::path::PathBuf> {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let beside = crate_dir.join("../../shared/conformance");
    let project = std::fs::canonicalize(crate_dir).ok().and_then(|dir| dir.parent().map(std::path::Path::to_path_buf));
    let found = project.and_then(|project| project.ancestors().skip(1).map(|dir| dir.join("shared/conformance")).find(|dir| dir.is_dir()));
    corpus_at(found.unwrap_or(beside), ci)
}

/// `dir` when it is there; else a failure under CI, a printed skip elsewhere.
pub fn corpus_at(dir: std::path::PathBuf, ci: bool) -> Option<std::path::PathBuf> {
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(!ci, "{} is missing: under CI=true the shared conformance corpus must be there (a skip would pass without testing)", dir.display());
    eprintln!("skipped: {} is missing (outside CI)", dir.display());
    None
}
