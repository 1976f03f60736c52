//! Compile-time behaviour of `workflow!` and `include_workflow!`: each
//! mistake is a build error at the user's token (`tests/ui/fail/*.rs`, with
//! the expected compiler output in `.stderr`), and valid workflows compile
//! and run (`tests/ui/pass/*.rs`).
//!
//! After changing diagnostics, regenerate with `TRYBUILD=overwrite cargo test --test ui`
//! and review every changed `.stderr` file.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
