//! Runs the shared conformance corpus (`../shared/conformance` from the
//! workspace root). CI has it (and fails without it); a fresh clone may
//! not, and then skips these tests, saying so.

mod support;

use support::shared_conformance as corpus;

#[test]
fn shared_valid_files_are_accepted_as_one_set() {
    let Some(dir) = corpus() else { return };
    support::assert_valid_set(&dir.join("valid"));
}

#[test]
fn shared_invalid_files_are_each_rejected_with_the_expected_errors() {
    let Some(dir) = corpus() else { return };
    let checked = support::assert_each_invalid(&dir.join("invalid"));
    assert!(checked >= 16, "only {checked} invalid files found");
}

#[test]
fn a_missing_shared_corpus_fails_under_ci_and_is_skipped_elsewhere() {
    let missing = std::path::PathBuf::from("/nonexistent/shared/conformance");
    assert_eq!(support::corpus_at(missing.clone(), false), None);
    let failed = std::panic::catch_unwind(|| support::corpus_at(missing, true));
    let message = failed.expect_err("under CI a missing corpus must fail the test");
    let text = message.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("CI=true") && text.contains("/nonexistent/shared/conformance"), "{text}");
}
