//! `workflow list`: the workflows this project (and the user) can run by
//! name, found where `run NAME` looks for them.

use super::print;
use super::CompileArgs;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `workflow list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub compile: CompileArgs,
}

/// One workflow found.
#[derive(Debug, serde::Serialize)]
struct Found {
    name: String,
    description: Option<String>,
    steps: usize,
    path: PathBuf,
    /// Whether it passes the checks (an invalid file is listed, with its first error).
    valid: bool,
    error: Option<String>,
    /// Another file earlier in the search order has the same name, so `run NAME` picks that one.
    shadowed: bool,
}

/// Runs `workflow list`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut found: Vec<Found> = Vec::new();
    // Workflows compiled into this binary (`workflow build`) come first: `run NAME` finds them first.
    for embedded in crate::embedded::all() {
        let ir = &embedded.ir;
        found.push(Found {
            name: ir.name.clone(),
            description: ir.description.clone(),
            steps: ir.steps.len(),
            path: PathBuf::from("(compiled in)"),
            valid: true,
            error: None,
            shadowed: false,
        });
    }
    for folder in super::show::name_folders() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        let mut files: Vec<PathBuf> =
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml")).collect();
        files.sort();
        for path in files {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let shadowed = found.iter().any(|f| f.path.file_stem() == path.file_stem());
            match super::show::compile(&path, &args.compile.read_options()) {
                Ok(compiled) => {
                    for c in compiled {
                        let ir = c.ir;
                        found.push(Found {
                            name: ir.name.clone(),
                            description: ir.description.clone(),
                            steps: ir.steps.len(),
                            path: path.clone(),
                            valid: true,
                            error: None,
                            shadowed,
                        });
                    }
                }
                Err(mut diags) => {
                    diags.sort();
                    let first = diags.render().lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
                    found.push(Found { name: stem, description: None, steps: 0, path: path.clone(), valid: false, error: Some(first), shadowed });
                }
            }
        }
    }
    if args.json {
        print(&(serde_json::to_string_pretty(&found)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    if found.is_empty() {
        let looked: Vec<String> = super::show::name_folders().iter().map(|f| f.display().to_string()).collect();
        let _ = writeln!(out, "no workflows found (looked in {})", looked.join(", "));
    }
    let width = found.iter().map(|f| f.name.len()).max().unwrap_or(0);
    let path_width = found.iter().map(|f| f.path.display().to_string().len()).max().unwrap_or(0);
    let steps = |n: usize| if n == 1 { "1 step".to_string() } else { format!("{n} steps") };
    for f in &found {
        let about = match (&f.error, &f.description) {
            (Some(error), _) => format!("INVALID: {error}"),
            (None, Some(description)) => format!("{} · {description}", steps(f.steps)),
            (None, None) => steps(f.steps),
        };
        let shadowed = if f.shadowed { "  (shadowed by the one above)" } else { "" };
        let _ = writeln!(out, "{:<width$}  {:<path_width$}  {about}{shadowed}", f.name, f.path.display().to_string());
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}
