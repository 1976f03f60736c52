//! `workflow fmt PATH...`: rewrite workflow files to the canonical spelling
//! of the language, keeping comments and layout (see `workflow_core::fmt`).

use super::{print, report_invalid, CompileArgs, EXIT_INVALID};
use anyhow::Context;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use workflow_core::fmt::format_with;
use workflow_core::set::yaml_files;
use workflow_core::{Diagnostic, Diagnostics, Span};

const EXAMPLES: &str = "\
What changes: keys of the earlier camelCase dialect become kebab-case
(`maxIterations` -> `max-iterations`, `onApproved` -> `on-approved`),
`timeoutMs: 30000` becomes `timeout: 30s`, and `{{name}}` becomes `${name}`.
Comments, key order, quoting and layout stay as written, and what the
workflow does never changes. Only valid files are formatted; each file is
formatted on its own.

Examples:
  workflow fmt workflows/                rewrite every workflow of a folder in place
  workflow fmt --check workflows/        list the files that would change (for CI)
  workflow fmt --stdout old.yaml         print the canonical text, change nothing

Exit codes: 0 done (with --check: nothing would change), 1 with --check:
some file would change, 2 invalid workflow (errors on stderr, file untouched).";

/// Arguments of `workflow fmt`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Workflow files, or folders of them (their *.yaml and *.yml files)
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Change nothing: list the files that would change on stdout and exit 1 if there are any
    #[arg(long, conflicts_with = "stdout")]
    pub check: bool,
    /// Print the formatted text of the one file given instead of rewriting it
    #[arg(long)]
    pub stdout: bool,
    #[command(flatten)]
    pub compile: CompileArgs,
}

/// Formats every file named by the arguments.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let options = args.compile.read_options();
    let files = match files(&args.paths) {
        Ok(files) => files,
        Err(diags) => return Ok(report_invalid(diags)),
    };
    if args.stdout {
        let [file] = files.as_slice() else {
            eprintln!("error: --stdout prints one file, but {} were given", files.len());
            return Ok(ExitCode::from(EXIT_INVALID));
        };
        let (name, text) = match read(file) {
            Ok(read) => read,
            Err(d) => return Ok(report_invalid(one(d))),
        };
        return match format_with(&name, &text, &options) {
            Ok(formatted) => print(&formatted).map(|()| ExitCode::SUCCESS),
            Err(diags) => Ok(report_invalid(diags)),
        };
    }

    let mut diags = Diagnostics::new();
    let mut changed = Vec::new();
    for file in &files {
        let (name, text) = match read(file) {
            Ok(read) => read,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        match format_with(&name, &text, &options) {
            Ok(formatted) if formatted == text => {}
            Ok(formatted) => {
                if !args.check {
                    replace(file, &formatted).with_context(|| format!("cannot write {name} (it was left as it was)"))?;
                    eprintln!("formatted {name}");
                }
                changed.push(name);
            }
            // An invalid file is left untouched; the others are still formatted.
            Err(found) => diags.extend(found),
        }
    }
    if args.check {
        print(&changed.iter().map(|name| format!("{name}\n")).collect::<String>())?;
    }
    if !diags.is_empty() {
        return Ok(report_invalid(diags));
    }
    if args.check && !changed.is_empty() {
        let files = if changed.len() == 1 { "1 file".to_string() } else { format!("{} files", changed.len()) };
        eprintln!("{files} would be reformatted: run `{} fmt` without --check to rewrite them", super::run::program());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The files the paths name (a folder: its *.yaml and *.yml files), each once.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostics> {
    let mut diags = Diagnostics::new();
    let mut seen = HashSet::new();
    let mut files = Vec::new();
    for path in paths {
        match yaml_files(path) {
            Ok(found) if found.is_empty() => diags.push(
                Diagnostic::error(Span::Unknown, format!("no workflow files in {}", path.display()))
                    .help("a folder's workflows are its *.yaml and *.yml files"),
            ),
            Ok(found) => {
                for file in found {
                    if seen.insert(file.canonicalize().unwrap_or_else(|_| file.clone())) {
                        files.push(file);
                    }
                }
            }
            Err(e) => diags.push(Diagnostic::error(Span::Unknown, format!("cannot read {}: {e}", path.display())).help("give a YAML file or a folder of them")),
        }
    }
    diags.into_result(files)
}

/// A file's name as the user gave it, and its text.
fn read(file: &Path) -> Result<(String, String), Diagnostic> {
    let name = file.display().to_string();
    match std::fs::read_to_string(file) {
        Ok(text) => Ok((name, text)),
        Err(e) => Err(Diagnostic::error(Span::Unknown, format!("cannot read {name}: {e}"))),
    }
}

/// Replaces `file`'s text at once: the new text goes to a temporary file
/// beside it (same mode), then is renamed over it, so a crash or a full disk
/// never leaves half a file, and a reader sees the old text or the new one.
/// A symbolic link stays a link: the file it points to is replaced.
fn replace(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let target = std::fs::canonicalize(file)?;
    let dir = target.parent().ok_or_else(|| std::io::Error::other("the file has no folder"))?;
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let permissions = std::fs::metadata(&target)?.permissions();
    let temp = dir.join(format!(".{name}.fmt-{}.tmp", std::process::id()));
    let written = (|| {
        let mut out = std::fs::OpenOptions::new().write(true).create_new(true).open(&temp)?;
        out.write_all(text.as_bytes())?;
        out.sync_all()?;
        std::fs::set_permissions(&temp, permissions)?;
        std::fs::rename(&temp, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

fn one(d: Diagnostic) -> Diagnostics {
    let mut diags = Diagnostics::new();
    diags.push(d);
    diags
}
