//! The build-script route end to end: a copy of `examples/yaml-to-binary`,
//! built by cargo as its own workspace, fails `cargo build` with the YAML
//! file's `file:line:col`, the source line and a hint when one of its
//! workflows is broken, and builds and runs once the file is fixed.
//!
//! The copy builds into `target/example-build`, kept between runs, so only
//! the first run compiles the dependency tree.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[test]
fn a_broken_workflow_fails_cargo_build_at_its_line_and_the_fixed_one_builds_and_runs() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = repo.join("examples/yaml-to-binary");
    let dir = TempDir::new("workflow-example-build");
    let root = dir.path();

    for entry in ["build.rs", "src", "workflows"] {
        copy(&example.join(entry), &root.join(entry));
    }
    // Same versions as the repository's lock file (so `--offline` finds them); cargo drops what it does not need.
    std::fs::copy(repo.join("Cargo.lock"), root.join("Cargo.lock")).expect("copy Cargo.lock");
    let manifest = read(&example.join("Cargo.toml"));
    let relative = r#"workflow = { path = "../.." }"#;
    assert_eq!(manifest.matches(relative).count(), 2, "the example depends on `workflow` by relative path (dependency and build-dependency):\n{manifest}");
    let absolute = format!("workflow = {{ path = {} }}", toml_string(repo));
    write(&root.join("Cargo.toml"), &format!("{}\n[workspace]\n", manifest.replace(relative, &absolute)));

    // Break a jump target.
    let workflow = root.join("workflows/test-fix-loop.yaml");
    let original = read(&workflow);
    let lines: Vec<&str> = original.lines().collect();
    assert_eq!(lines.get(16), Some(&"    to: test"), "line 17 of test-fix-loop.yaml is the loop's jump");
    write(&workflow, &original.replacen("    to: test\n", "    to: tset\n", 1));

    let target = repo.join("target/example-build");
    let broken = cargo_build(root, &target);
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(!broken.status.success(), "the build succeeded with a broken workflow:\n{stderr}");
    for expected in ["workflows/test-fix-loop.yaml:17:9", "names no step", "to: tset", "did you mean `test`"] {
        assert!(stderr.contains(expected), "the build error does not contain {expected:?}:\n{stderr}");
    }

    // Fixed again: it builds, and the binary runs the machine.
    write(&workflow, &original);
    let fixed = cargo_build(root, &target);
    assert!(fixed.status.success(), "the example does not build:\n{}", String::from_utf8_lossy(&fixed.stderr));
    let binary = target.join("debug").join(format!("yaml-to-binary{}", std::env::consts::EXE_SUFFIX));
    let run = Command::new(&binary).args(["trace", "test-fix-loop", "1"]).output().unwrap_or_else(|e| panic!("run {}: {e}", binary.display()));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{} failed:\n{stdout}{}", binary.display(), String::from_utf8_lossy(&run.stderr));
    assert_eq!(stdout.trim_end(), "test-fix-loop: test -> fix -> again -> test -> done -> completed");
}

/// `cargo build --offline --quiet` in `dir`, building into `target`.
fn cargo_build(dir: &Path, target: &Path) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(&cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", Path::new(&cargo).display()))
}

/// `path` as a TOML basic string.
fn toml_string(path: &Path) -> String {
    let text = path.to_str().expect("the repository path is UTF-8");
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Copies a file, or a folder with everything in it.
fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
        for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
            let name = entry.expect("a folder entry").file_name();
            copy(&from.join(&name), &to.join(&name));
        }
    } else {
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// A fresh folder under the system's temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
