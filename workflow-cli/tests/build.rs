//! `workflow build`: YAML files compiled into a standalone binary with the
//! same subcommands, whose workflows run on their generated state machines.
//! The build is a real `cargo build` of the project `workflow build` writes
//! (in `target/workflow-build-test`, kept between runs so it is incremental).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::{expect_code, run_id_in, write};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `workflow build` with its build folder and cargo target under the workspace's target folder.
fn build(dir: &Path, args: &[&str]) -> Command {
    let cache = repo().join("target/workflow-build-test");
    let mut cmd = Command::new(support::bin());
    cmd.arg("build").args(args).current_dir(dir).env("WORKFLOW_BUILD_DIR", &cache).env("CARGO_TARGET_DIR", cache.join("target")).stdin(Stdio::null());
    cmd
}

#[test]
fn yaml_files_become_a_binary_that_runs_them_on_their_generated_machines() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["hello.yaml", "hello-report.yaml"] {
        std::fs::copy(repo().join("examples/workflows").join(name), dir.path().join(name)).unwrap();
    }
    // hello's model step is answered from the repository's cassette, through its config.
    support::copy_dir(&repo().join(".workflow"), &dir.path().join(".workflow"));
    let bin = dir.path().join("hello-bot");
    // `--debug`: a quick build keeps this test's cost down; the default (release) is checked below without building.
    let (_, stderr) = expect_code(&mut build(dir.path(), &["hello.yaml", "hello-report.yaml", "-o", bin.to_str().unwrap(), "--debug"]), 0);
    assert!(stderr.contains("built ") && stderr.contains("debug profile"), "{stderr}");
    assert!(bin.is_file());

    let store = dir.path().join("runs.db");
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&bin);
        cmd.args(args).current_dir(dir.path()).env("WORKFLOW_STORE", &store).env("WORKFLOW_YES", "1").stdin(Stdio::null());
        cmd
    };
    let (listed, _) = expect_code(&mut run(&["list"]), 0);
    assert!(listed.lines().any(|l| l.starts_with("hello ") && l.contains("(compiled in)")), "{listed}");
    // The same subcommands: run stops at the gate, approve resumes it, on-completion starts the report.
    std::fs::remove_file(dir.path().join("hello.yaml")).unwrap();
    let (_, stderr) = expect_code(&mut run(&["run", "hello"]), 3);
    assert!(stderr.contains("waiting for approval at step `review`"), "{stderr}");
    let id = run_id_in(&stderr);
    // Its hints and help name it, not `workflow`.
    assert!(stderr.contains(&format!("approve with `hello-bot approve {id}`")) && !stderr.contains("workflow approve"), "{stderr}");
    let (status, _) = expect_code(&mut run(&["status", &id]), 0);
    assert!(status.contains(&format!("answer with: hello-bot approve {id}")), "{status}");
    let (help, _) = expect_code(&mut run(&["--help"]), 0);
    assert!(help.contains("Usage: hello-bot") && help.contains("hello-bot run build-and-test"), "{help}");
    let (_, stderr) = expect_code(&mut run(&["approve", &id]), 0);
    assert!(stderr.contains("| published: 3 lines") && stderr.contains("started by on-completion"), "{stderr}");
    // The run was stamped with the definition the YAML compiles to.
    let (status, _) = expect_code(&mut run(&["status", &id, "--json"]), 0);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let (ir, _) = expect_code(Command::new(support::bin()).args(["show", "--format", "json"]).arg(repo().join("examples/workflows/hello.yaml")), 0);
    let ir: serde_json::Value = serde_json::from_str(&ir).unwrap();
    assert_eq!(status["run"]["definition_hash"], ir["hash"]);
    assert_eq!(status["run"]["status"], "completed");
}

#[test]
fn an_invalid_workflow_fails_the_build_before_cargo_runs() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.yaml", "name: bad\nsteps:\n  - id: a\n    action: shell\n    commnd: echo\n");
    let (_, stderr) = expect_code(&mut build(dir.path(), &["bad.yaml", "-o", "bad-bot"]), 2);
    assert!(stderr.contains("bad.yaml:5:5") && stderr.contains("did you mean `command`?"), "{stderr}");
    assert!(!dir.path().join("bad-bot").exists());
}

/// The default build is what users ship: cargo is asked for the release
/// profile, and `--debug` for a quick one. (A stand-in for cargo records
/// what it was asked, so no build is made here.)
#[test]
fn the_default_build_uses_the_release_profile_and_debug_the_quick_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.yaml", "name: ok\nsteps:\n  - id: a\n    action: shell\n    command: echo\n");
    let cargo = write(dir.path(), "cargo.sh", "#!/bin/sh\necho \"$@\" >> cargo-args\nexit 1\n");
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let asked = |extra: &[&str]| {
        let _ = std::fs::remove_file(dir.path().join("cargo-args"));
        let mut cmd = build(dir.path(), &[&["ok.yaml", "-o", "ok-bot"], extra].concat());
        cmd.env("CARGO", &cargo).env("WORKFLOW_BUILD_DIR", dir.path().join("build")).env("CARGO_TARGET_DIR", dir.path().join("target"));
        let (_, stderr) = expect_code(&mut cmd, 1);
        (std::fs::read_to_string(dir.path().join("cargo-args")).unwrap(), stderr)
    };
    let (args, stderr) = asked(&[]);
    assert!(args.contains("build") && args.contains("--release"), "{args}");
    assert!(stderr.contains("release profile"), "{stderr}");
    let (args, stderr) = asked(&["--debug"]);
    assert!(!args.contains("--release"), "{args}");
    assert!(stderr.contains("debug profile"), "{stderr}");
}
