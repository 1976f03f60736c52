//! Runs the shared conformance corpus (`../shared/conformance` from the
//! workspace root) when present; CI has it, a fresh clone may not.

mod support;

use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    dir.is_dir().then_some(dir)
}

#[test]
fn shared_valid_files_are_accepted_as_one_set() {
    let Some(dir) = corpus() else {
        eprintln!("../shared/conformance not present: skipped");
        return;
    };
    support::assert_valid_set(&dir.join("valid"));
}

#[test]
fn shared_invalid_files_are_each_rejected_with_the_expected_errors() {
    let Some(dir) = corpus() else {
        eprintln!("../shared/conformance not present: skipped");
        return;
    };
    let checked = support::assert_each_invalid(&dir.join("invalid"));
    assert!(checked >= 16, "only {checked} invalid files found");
}
