//! `workflow build FILES... -o BIN`: compiles workflow files into a
//! standalone binary. The files are checked first (an invalid one fails the
//! build with the same report as `validate`); then a small cargo project is
//! written whose build script turns them into typed state machines (the
//! build.rs codegen of `workflow_core::build`), and whose `main` is this
//! very command line with those machines compiled in: `BIN run NAME`,
//! `BIN status`, `BIN approve`, ... work as `workflow` does, and a workflow
//! given by name runs on its generated `next()`.
//!
//! The project is built against the workflow sources this program came
//! from (`$WORKFLOW_SOURCE`, else the checkout it was built in), with the
//! same `Cargo.lock`, in a cache folder so a rebuild is incremental.

use super::{report_invalid, CompileArgs};
use anyhow::Context;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use workflow_core::set::compile_paths;

const EXAMPLES: &str = "\
Examples:
  workflow build workflows/ -o deploy-bot         every workflow of the folder, in ./deploy-bot (optimised)
  workflow build ship.yaml notify.yaml -o ship --debug   a quick build to try, not to ship
  ./deploy-bot list                               the workflows inside
  ./deploy-bot run ship --yes                     runs the compiled machine

The binary is built with cargo against the workflow sources ($WORKFLOW_SOURCE,
else the checkout this `workflow` was built from), in $WORKFLOW_BUILD_DIR
(default: $XDG_CACHE_HOME/workflow/build, else ~/.cache/workflow/build).

Exit codes: 0 built, 2 invalid workflows, 1 the build failed (cargo's output is shown).";

/// Arguments of `workflow build`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Workflow files or folders (compiled together, as one set)
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Where to write the binary
    #[arg(short, long, value_name = "BIN")]
    pub output: PathBuf,
    /// A quick unoptimised build, to try the binary (the default is an optimised build with the release profile, to ship)
    #[arg(long)]
    pub debug: bool,
    /// The default (kept so older scripts still work): an optimised build
    #[arg(long, hide = true, conflicts_with = "debug")]
    pub release: bool,
    #[command(flatten)]
    pub compile: CompileArgs,
}

/// Runs `workflow build`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let compiled = match compile_paths(&args.paths, &args.compile.read_options()) {
        Ok(compiled) => compiled,
        Err(diags) => return Ok(report_invalid(diags)),
    };
    if !args.compile.custom_actions.is_empty() {
        anyhow::bail!("workflows with custom actions need their Rust functions: build them in your own crate with `workflow::build` (see docs/rust-dsl.md)");
    }
    let source = source_root()?;
    let name = args.output.file_name().and_then(|n| n.to_str()).filter(|n| !n.is_empty()).context("-o needs a file name")?;
    let package = package_name(name);
    let project = build_dir()?.join(&package);
    let workflows = project.join("workflows");
    // The workflows folder is rewritten each time: a file removed from the command line leaves the binary.
    if workflows.exists() {
        std::fs::remove_dir_all(&workflows).with_context(|| format!("cannot clear {}", workflows.display()))?;
    }
    std::fs::create_dir_all(project.join("src")).with_context(|| format!("cannot create {}", project.display()))?;
    std::fs::create_dir_all(&workflows)?;
    let mut modules = Vec::new();
    for (i, c) in compiled.iter().enumerate() {
        let from = c.model.source.as_ref().map(|s| PathBuf::from(&s.path)).context("a compiled workflow without its file")?;
        // Numbered, so two files of the same name from different folders do not collide.
        let to = workflows.join(format!("{i:03}-{}", from.file_name().and_then(|n| n.to_str()).unwrap_or("workflow.yaml")));
        std::fs::copy(&from, &to).with_context(|| format!("cannot copy {}", from.display()))?;
        modules.push(workflow_core::codegen::module_name(&c.ir.name));
    }
    write_if_changed(&project.join("Cargo.toml"), &manifest(&package, &source))?;
    write_if_changed(&project.join("build.rs"), BUILD_RS)?;
    write_if_changed(&project.join("src/main.rs"), &main_rs(&modules))?;
    if let Ok(lock) = std::fs::read(source.join("Cargo.lock")) {
        std::fs::write(project.join("Cargo.lock"), lock)?;
    }
    let count = format!("{} workflow{}", compiled.len(), if compiled.len() == 1 { "" } else { "s" });
    let profile = if args.debug { "debug" } else { "release" };
    eprintln!("building {} ({count}, {profile} profile) in {}", args.output.display(), project.display());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.arg("build").arg("--quiet").arg("--manifest-path").arg(project.join("Cargo.toml"));
    if !args.debug {
        build.arg("--release");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| project.join("target"));
    build.env("CARGO_TARGET_DIR", &target);
    let status = build.status().context("cannot run cargo (is it installed and on PATH?)")?;
    if !status.success() {
        eprintln!("error: cargo could not build the binary (its messages are above); the project is in {}", project.display());
        return Ok(ExitCode::FAILURE);
    }
    let built = target.join(profile).join(&package);
    std::fs::copy(&built, &args.output).with_context(|| format!("cannot copy {} to {}", built.display(), args.output.display()))?;
    eprintln!("built {}: try `{} list`", args.output.display(), shown(&args.output));
    Ok(ExitCode::SUCCESS)
}

/// How to run the binary from here.
fn shown(path: &Path) -> String {
    if path.components().count() == 1 {
        format!("./{}", path.display())
    } else {
        path.display().to_string()
    }
}

/// The checkout whose crates the binary is built with.
fn source_root() -> anyhow::Result<PathBuf> {
    let candidates = std::env::var_os("WORKFLOW_SOURCE").map(PathBuf::from).into_iter().chain([Path::new(env!("CARGO_MANIFEST_DIR")).join("..")]);
    for root in candidates {
        if root.join("workflow-cli/Cargo.toml").is_file() && root.join("Cargo.toml").is_file() {
            return Ok(std::fs::canonicalize(&root).unwrap_or(root));
        }
    }
    anyhow::bail!("cannot find the workflow sources to build with: set WORKFLOW_SOURCE to a checkout of this project")
}

/// Where build projects are kept: `$WORKFLOW_BUILD_DIR`, else the user's cache folder.
fn build_dir() -> anyhow::Result<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set("WORKFLOW_BUILD_DIR") {
        return Ok(dir);
    }
    let cache = set("XDG_CACHE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| set("HOME").map(|h| h.join(".cache")))
        .context("no cache folder: set WORKFLOW_BUILD_DIR")?;
    Ok(cache.join("workflow").join("build"))
}

/// A cargo package name from a binary name.
fn package_name(name: &str) -> String {
    let cleaned: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    if cleaned.starts_with(|c: char| c.is_ascii_alphabetic()) {
        cleaned
    } else {
        format!("wf-{cleaned}")
    }
}

fn manifest(package: &str, source: &Path) -> String {
    let path = |sub: &str| toml_string(&source.join(sub).display().to_string());
    format!(
        r#"# Written by `workflow build`; rewritten on every build.
[package]
name = "{package}"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
workflow = {{ path = {root} }}
workflow-cli = {{ path = {cli} }}

[build-dependencies]
workflow = {{ path = {root} }}

[profile.dev]
debug = "line-tables-only"

[profile.dev.package."*"]
debug = false

# What users ship: optimised, without debug info, small.
[profile.release]
debug = false
strip = "debuginfo"

[workspace]
"#,
        root = path(""),
        cli = path("workflow-cli"),
    )
}

fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const BUILD_RS: &str =
    "// Written by `workflow build`: the workflows become typed state machines.\nfn main() {\n    workflow::build::compile_dir(\"workflows\");\n}\n";

fn main_rs(modules: &[String]) -> String {
    let mut list = String::new();
    for module in modules {
        let _ = writeln!(list, "        workflow_cli::embedded::Embedded::of::<{module}::Machine>(),");
    }
    format!(
        "// Written by `workflow build`: the `workflow` command with these workflows compiled in.\n\
         include!(concat!(env!(\"OUT_DIR\"), \"/workflows.rs\"));\n\n\
         fn main() -> std::process::ExitCode {{\n    workflow_cli::main_with(vec![\n{list}    ])\n}}\n"
    )
}

fn write_if_changed(path: &Path, text: &str) -> anyhow::Result<()> {
    // Unchanged files keep their times, so cargo rebuilds only what changed.
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
