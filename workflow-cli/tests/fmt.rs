//! `workflow fmt` run as a user would: rewriting files in place, `--check`
//! for CI, `--stdout`, and invalid files left untouched.

mod support;

use std::path::Path;
use std::process::Command;
use support::{bin, expect_code};

const DIALECT: &str = "\
# Written for an earlier tool.
name: dialect
steps:
  - id: ask
    action: interactive
    prompt: \"Name?\"   # asked first
    inputType: text
    timeoutMs: 1500
  - id: greet
    action: shell
    command: \"echo hello {{ask.value}}\"
";

const DIALECT_FORMATTED: &str = "\
# Written for an earlier tool.
name: dialect
steps:
  - id: ask
    action: interactive
    prompt: \"Name?\"   # asked first
    input-type: text
    timeout: 1500ms
  - id: greet
    action: shell
    command: \"echo hello ${ask.value}\"
";

const CANONICAL: &str = "name: canonical\nsteps:\n  - id: a\n    action: shell\n    command: \"echo ${x}\"   # already canonical\nvariables:\n  x: 1\n";

/// Has a camelCase key to rewrite, but an unknown action makes it invalid.
const INVALID: &str = "name: broken\nsteps:\n  - id: a\n    action: shel\n    maxIterations: 2\n";

/// `workflow fmt ARGS` run in `dir`.
fn fmt(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("fmt").args(args).current_dir(dir).env_remove("RUST_LOG");
    cmd
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        support::write(dir.path(), name, text);
    }
    dir
}

#[test]
fn rewrites_only_the_files_that_change_and_names_them() {
    let dir = folder(&[("flows/dialect.yaml", DIALECT), ("flows/canonical.yml", CANONICAL)]);
    let (stdout, stderr) = expect_code(&mut fmt(dir.path(), &["flows"]), 0);
    assert_eq!(stdout, "");
    assert_eq!(stderr.trim(), format!("formatted {}", Path::new("flows").join("dialect.yaml").display()));
    assert_eq!(read(dir.path(), "flows/dialect.yaml"), DIALECT_FORMATTED);
    assert_eq!(read(dir.path(), "flows/canonical.yml"), CANONICAL);
    // The rewritten file is valid, and formatting it again changes nothing.
    expect_code(Command::new(bin()).args(["validate", "flows/dialect.yaml"]).current_dir(dir.path()), 0);
    let (_, stderr) = expect_code(&mut fmt(dir.path(), &["flows/dialect.yaml", "flows"]), 0);
    assert_eq!(stderr, "");
}

#[test]
fn check_lists_what_would_change_changes_nothing_and_fails() {
    let dir = folder(&[("dialect.yaml", DIALECT), ("canonical.yaml", CANONICAL)]);
    let (stdout, stderr) = expect_code(&mut fmt(dir.path(), &["--check", "."]), 1);
    assert_eq!(stdout.lines().collect::<Vec<_>>(), [Path::new(".").join("dialect.yaml").display().to_string()]);
    assert!(stderr.contains("would be reformatted"), "{stderr}");
    assert_eq!(read(dir.path(), "dialect.yaml"), DIALECT, "--check rewrote a file");

    expect_code(&mut fmt(dir.path(), &["dialect.yaml"]), 0);
    let (stdout, stderr) = expect_code(&mut fmt(dir.path(), &["--check", "."]), 0);
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
}

#[test]
fn an_invalid_file_is_reported_left_untouched_and_exits_2() {
    let dir = folder(&[("broken.yaml", INVALID), ("dialect.yaml", DIALECT)]);
    let (_, stderr) = expect_code(&mut fmt(dir.path(), &["broken.yaml", "dialect.yaml"]), 2);
    assert!(stderr.contains("unknown action `shel`") && stderr.contains("broken.yaml:4:13"), "{stderr}");
    assert_eq!(read(dir.path(), "broken.yaml"), INVALID);
    // The valid file given with it is still formatted.
    assert_eq!(read(dir.path(), "dialect.yaml"), DIALECT_FORMATTED);

    let (_, stderr) = expect_code(&mut fmt(dir.path(), &["--check", "broken.yaml"]), 2);
    assert!(stderr.contains("unknown action"), "{stderr}");
    let (stdout, _) = expect_code(&mut fmt(dir.path(), &["--stdout", "broken.yaml"]), 2);
    assert_eq!(stdout, "");
    assert_eq!(read(dir.path(), "broken.yaml"), INVALID);

    expect_code(&mut fmt(dir.path(), &["missing.yaml"]), 2);
}

#[test]
fn stdout_prints_the_formatted_text_of_one_file_and_writes_nothing() {
    let dir = folder(&[("dialect.yaml", DIALECT), ("canonical.yaml", CANONICAL)]);
    let (stdout, _) = expect_code(&mut fmt(dir.path(), &["--stdout", "dialect.yaml"]), 0);
    assert_eq!(stdout, DIALECT_FORMATTED);
    assert_eq!(read(dir.path(), "dialect.yaml"), DIALECT);
    let (_, stderr) = expect_code(&mut fmt(dir.path(), &["--stdout", "."]), 2);
    assert!(stderr.contains("one file"), "{stderr}");
}

#[test]
fn custom_actions_are_accepted_when_named() {
    let text = "name: ship\nsteps:\n  - id: deploy\n    action: deploy\n    targetEnv: prod\n    onError: stop\n  - id: stop\n    action: end\n";
    let dir = folder(&[("ship.yaml", text)]);
    expect_code(&mut fmt(dir.path(), &["ship.yaml"]), 2);
    expect_code(&mut fmt(dir.path(), &["--custom-action", "deploy", "ship.yaml"]), 0);
    assert_eq!(read(dir.path(), "ship.yaml"), text.replace("onError", "on-error"));
}

/// The file is replaced, not rewritten in place: a reader that opened it
/// before keeps reading the old text whole, the mode stays, a link stays a
/// link, and no temporary file is left behind.
#[test]
fn fmt_replaces_a_file_at_once_keeping_its_mode_and_links() {
    use std::io::Read;
    use std::os::unix::fs::{symlink, PermissionsExt};
    let dir = folder(&[("old.yaml", DIALECT)]);
    let path = dir.path().join("old.yaml");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    symlink("old.yaml", dir.path().join("link.yaml")).unwrap();
    let mut reader = std::fs::File::open(&path).unwrap();

    expect_code(&mut fmt(dir.path(), &["link.yaml"]), 0);
    let mut seen = String::new();
    reader.read_to_string(&mut seen).unwrap();
    assert_eq!(seen, DIALECT, "a reader of the old file saw it change under it");
    assert_eq!(read(dir.path(), "old.yaml"), DIALECT_FORMATTED);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
    assert!(std::fs::symlink_metadata(dir.path().join("link.yaml")).unwrap().file_type().is_symlink(), "the link was replaced by a file");
    let mut names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["link.yaml", "old.yaml"]);
}
