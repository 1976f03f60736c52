//! The commands a person runs on a broken file, as real processes: the
//! project's workflow files, mutated (non-ASCII letters, bidirectional
//! controls, cut and repeated lines...), through `validate` (text and
//! JSON), `show` (text and Mermaid) and `fmt`. Each must finish in time
//! without a panic, with exit code 0 (accepted) or 2 (rejected, with an
//! error naming the file's line and column), and `fmt` must leave a file
//! it rejects byte for byte as it was.
//!
//! Bounded: `FUZZ_CASES` / 8 files (default 32); the in-process fuzzing of
//! `workflow-core/tests/fuzz.rs` covers many more inputs.

#[path = "../../workflow-core/tests/support/mutations.rs"]
mod mutations;
mod support;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HANG: Duration = Duration::from_secs(20);

fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse::<u32>().ok()).map_or(32, |n| (n / 8).max(1))
}

/// Runs `workflow ARGS` in `dir`; its exit code, stdout and stderr, or a failure when it hangs or panics.
fn workflow(dir: &Path, args: &[&str]) -> Result<(i32, String, String), TestCaseError> {
    let mut child = Command::new(support::bin())
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| TestCaseError::fail(format!("cannot start `workflow`: {e}")))?;
    let began = Instant::now();
    while child.try_wait().map_err(|e| TestCaseError::fail(e.to_string()))?.is_none() {
        if began.elapsed() > HANG {
            let _ = child.kill();
            return Err(TestCaseError::fail(format!("`workflow {}` did not finish within {HANG:?}", args.join(" "))));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    prop_assert!(!stderr.contains("panicked"), "`workflow {}` panicked:\n{stderr}", args.join(" "));
    Ok((out.status.code().unwrap_or(-1), stdout, stderr))
}

fn check(text: &str) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let file = dir.path().join("flow.yaml");
    std::fs::write(&file, text).map_err(|e| TestCaseError::fail(e.to_string()))?;

    let (code, _, stderr) = workflow(dir.path(), &["validate", "flow.yaml"])?;
    prop_assert!(code == 0 || code == 2, "validate exited {code}:\n{stderr}");
    let valid = code == 0;
    if !valid {
        prop_assert!(stderr.contains(" --> flow.yaml:"), "an error without its place:\n{stderr}");
    }
    let (code, stdout, _) = workflow(dir.path(), &["validate", "--json", "flow.yaml"])?;
    prop_assert_eq!(code == 0, valid);
    let report: serde_json::Value = serde_json::from_str(&stdout).map_err(|e| TestCaseError::fail(format!("validate --json: {e}:\n{stdout}")))?;
    for error in report["errors"].as_array().into_iter().flatten() {
        let (line, column) = (error["line"].as_u64(), error["column"].as_u64());
        prop_assert!(line.is_some_and(|l| l >= 1) && column.is_some_and(|c| c >= 1), "no line and column: {error}");
        // The column counts characters: it lies within the line it names.
        let line_text = text.split('\n').nth(line.unwrap_or(1) as usize - 1).unwrap_or_default();
        prop_assert!(column.unwrap_or(0) as usize <= line_text.chars().count() + 1, "column past the end of its line: {error}");
    }
    for format in ["text", "mermaid"] {
        let (code, _, stderr) = workflow(dir.path(), &["show", "flow.yaml", "--format", format])?;
        prop_assert_eq!(code == 0, valid, "show --format {} exited {}:\n{}", format, code, stderr);
    }
    let (code, _, stderr) = workflow(dir.path(), &["fmt", "flow.yaml"])?;
    prop_assert!(code == 0 || code == 2, "fmt exited {code}:\n{stderr}");
    if code == 2 {
        let after = std::fs::read_to_string(&file).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(after == text, "fmt changed a file it rejected");
    } else {
        let (code, _, stderr) = workflow(dir.path(), &["fmt", "--check", "flow.yaml"])?;
        prop_assert_eq!(code, 0, "fmt is not idempotent:\n{}", stderr);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_files_through_validate_show_and_fmt(text in mutations::mutated_seed()) {
        check(&text)?;
    }

    #[test]
    fn any_text_through_validate_show_and_fmt(text in mutations::any_text()) {
        check(&text)?;
    }
}

/// The two inputs of issue 13 that made `validate` and `show` exit 101.
#[test]
fn the_reported_inputs_are_rejected_with_their_place() {
    for text in [
        "name: x\nsteps:\n  - id: a\n    action: shell\n    command: echo\n  - éid: again\n",
        "name: x\nsteps:\n  - id: a\n    action: shell\n    command: echo\n    next: \u{202e}b\n",
    ] {
        check(text).unwrap();
    }
}
