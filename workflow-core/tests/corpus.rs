//! The project's own corpus of valid and invalid workflows (one invalid
//! file per build-time check at least), in `tests/corpus/`.

mod support;

use std::path::Path;

fn dir(kind: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(kind)
}

#[test]
fn valid_corpus_is_accepted_as_one_set() {
    support::assert_valid_set(&dir("valid"));
}

#[test]
fn each_invalid_file_is_rejected_with_its_expected_errors() {
    let checked = support::assert_each_invalid(&dir("invalid"));
    assert!(checked >= 25, "only {checked} invalid files found");
}
