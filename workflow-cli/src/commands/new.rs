//! `workflow new NAME`: start a workflow file from a template, or have a
//! model draft one from a description. Either way the file is written only
//! once it passes the same checks as `workflow validate`.

mod draft;
mod prompt;

use super::{print, CompileArgs, EXIT_INVALID};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::{Diagnostic, Diagnostics, Source};

const EXAMPLES: &str = "\
Examples:
  workflow new --list-templates                         the templates, one line each
  workflow new review --template pr-review-loop         write ./workflows/review.yaml from a template
  workflow new fix -t test-fix-loop -o ci/fix.yaml      somewhere else (--force replaces a file)
  workflow new triage --describe 'label new issues with a model, ask me before closing any'
  workflow new triage -d '...' --model openai:gpt-4o --rounds 5

With --describe, the model's draft is checked as `workflow validate` would; the
errors go back to the model, which answers with a corrected file, for at most
--rounds drafts. The file is written only when it is valid.

Exit codes: 0 written, 2 nothing written (invalid name, unknown template, file
exists, no valid draft), 1 other failure (the model could not be reached).";

/// Arguments of `workflow new`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The new workflow's name: letters, digits, `-` and `_` (the file is ./workflows/NAME.yaml)
    pub name: Option<String>,
    /// Start from this template (`--template help` lists them)
    #[arg(long, short = 't', value_name = "TEMPLATE", conflicts_with = "describe")]
    pub template: Option<String>,
    /// Have a model draft the workflow from this description of what it should do
    #[arg(long, short = 'd', value_name = "TEXT")]
    pub describe: Option<String>,
    /// The model that drafts (any resolvable name; default: the model config's `default`)
    #[arg(long, value_name = "MODEL", requires = "describe", conflicts_with = "template")]
    pub model: Option<String>,
    /// How many drafts the model may make before giving up [default: 3]
    #[arg(long, value_name = "N", requires = "describe", conflicts_with = "template", value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: Option<u32>,
    /// Write the workflow here instead of ./workflows/NAME.yaml
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace the file if it exists
    #[arg(long)]
    pub force: bool,
    /// List the templates and exit
    #[arg(long, conflicts_with_all = ["template", "describe"])]
    pub list_templates: bool,
    #[command(flatten)]
    pub compile: CompileArgs,
}

/// A workflow to start from.
struct Template {
    /// What `--template` takes; also the `name:` in `text`.
    name: &'static str,
    /// One line on what it does.
    summary: &'static str,
    /// The workflow file.
    text: &'static str,
}

/// The templates, embedded in the binary (each passes `workflow validate`: tests/new.rs).
const TEMPLATES: &[Template] = &[
    Template {
        name: "pr-review-loop",
        summary: "open a PR, a second model reviews it, fix until approved (at most 5 rounds), merge after a person approves",
        text: include_str!("../../templates/pr-review-loop.yaml"),
    },
    Template {
        name: "multi-model-review",
        summary: "two models review the same PR, a third consolidates, a person approves before the changes are made",
        text: include_str!("../../templates/multi-model-review.yaml"),
    },
    Template {
        name: "test-fix-loop",
        summary: "run the tests; on failure the model fixes the code from the output; repeat until they pass (at most 5 fixes)",
        text: include_str!("../../templates/test-fix-loop.yaml"),
    },
    Template {
        name: "audited-batch",
        summary: "summarize every document not summarized yet, with snapshot metrics and expected work in the audit log",
        text: include_str!("../../templates/audited-batch.yaml"),
    },
];

/// Runs `workflow new`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.list_templates || args.template.as_deref() == Some("help") {
        print(&template_list())?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(name) = args.name.as_deref() else {
        return Ok(refuse("give the new workflow's name: workflow new NAME --template TEMPLATE (or --describe TEXT)"));
    };
    if let Err(why) = check_name(name) {
        return Ok(refuse(&why));
    }
    let path = args.output.clone().unwrap_or_else(|| Path::new("workflows").join(format!("{name}.yaml")));
    if path.exists() && !args.force {
        return Ok(refuse(&exists_message(&path)));
    }
    let options = args.compile.read_options();
    let text = match (&args.template, &args.describe) {
        (Some(template), _) => {
            let Some(template) = TEMPLATES.iter().find(|t| t.name == template) else {
                return Ok(refuse(&format!("unknown template `{template}`; the templates are: {}", template_names())));
            };
            let text = from_template(template, name);
            // The templates are tested; this guards the name put into them.
            if let Err(diags) = check(name, &path, &text, &options) {
                anyhow::bail!("the template `{}` named `{name}` does not compile:\n{}", template.name, diags.render());
            }
            text
        }
        (None, Some(description)) => match draft::draft(args, name, description, &path, &options)? {
            Ok(text) => text,
            Err(code) => return Ok(code),
        },
        (None, None) => {
            return Ok(refuse(&format!("say how to start `{name}`: --template TEMPLATE ({}), or --describe TEXT", template_names())));
        }
    };
    if let Err(e) = write(&path, &text, args.force) {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            return Ok(refuse(&exists_message(&path)));
        }
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    print(&written(name, &path))?;
    Ok(ExitCode::SUCCESS)
}

/// Reports a request that cannot be done as asked (exit code 2); nothing is written.
fn refuse(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_INVALID)
}

fn exists_message(path: &Path) -> String {
    format!("{} exists: give --force to replace it, or -o FILE to write elsewhere", path.display())
}

/// `NAME  summary` per template, aligned.
fn template_list() -> String {
    let width = TEMPLATES.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let mut out = String::from("templates (workflow new NAME --template TEMPLATE):\n");
    for t in TEMPLATES {
        out += &format!("  {:<width$}  {}\n", t.name, t.summary);
    }
    out
}

fn template_names() -> String {
    TEMPLATES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

/// The name becomes a file name, a bare name for `workflow run NAME` and a
/// Rust module name, so it is kept to what all three take (the reader itself
/// accepts any non-empty text).
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(char::is_alphabetic);
    if starts_well && chars.all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
        Ok(())
    } else {
        Err(format!("`{name}` is not a workflow name: use letters, digits, `-` and `_`, starting with a letter (it is also the file's name)"))
    }
}

/// The template's text with `name` in place of its own name (in `name:` and the comments).
fn from_template(template: &Template, name: &str) -> String {
    template
        .text
        .lines()
        .map(|line| match line.strip_prefix("name:") {
            Some(_) => format!("name: {}", yaml_scalar(name)),
            None if line.trim_start().starts_with('#') => line.replace(template.name, name),
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `name` as a YAML scalar that reads back as that text (`true` and `null` would not, unquoted).
fn yaml_scalar(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "true" | "false" | "null" => format!("\"{name}\""),
        _ => name.to_string(),
    }
}

/// Checks `text` as `workflow validate FILE` would, and that the workflow is named `name`.
fn check(name: &str, path: &Path, text: &str, options: &ReadOptions) -> Result<(), Diagnostics> {
    let source = Source::new(path.display().to_string(), text);
    let compiled = compile_sources(std::slice::from_ref(&source), options)?;
    let mut diags = Diagnostics::new();
    match compiled.as_slice() {
        [one] if one.ir.name == name => {}
        [one] => diags.push(
            Diagnostic::error(one.model.name.span, format!("the workflow is named `{}`, not `{name}`", one.ir.name)).help(format!("write `name: {name}`")),
        ),
        _ => diags.push(Diagnostic::error(workflow_core::Span::Unknown, format!("the file must hold exactly one workflow, named `{name}`"))),
    }
    diags.attach_source(&source);
    diags.into_result(())
}

/// Writes the file, creating its folder; without `force`, never over an existing file.
fn write(path: &Path, text: &str, force: bool) -> std::io::Result<()> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)?;
    }
    if force {
        return std::fs::write(path, text);
    }
    use std::io::Write;
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)?.write_all(text.as_bytes())
}

/// What was written and what to do next: by name when `workflow run NAME` finds this file, else by path.
fn written(name: &str, path: &Path) -> String {
    let same_file = |found: &Path| std::fs::canonicalize(found).ok().zip(std::fs::canonicalize(path).ok()).is_some_and(|(a, b)| a == b);
    let reference = match super::show::locate(name) {
        Ok(found) if same_file(&found) => name.to_string(),
        _ => path.display().to_string(),
    };
    format!("wrote {}\nnext: workflow show {reference}, then workflow run {reference}\n", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_file_and_module_names_are_accepted() {
        for good in ["deploy", "pr-review-loop", "Build_2", "résumé"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in ["", "2fast", "-x", "a/b", "a b", "x.yaml", "../up"] {
            assert!(check_name(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_template_takes_the_new_name_in_name_and_comments_only() {
        let template = &TEMPLATES[2];
        let text = from_template(template, "ci-fix");
        assert!(text.contains("\nname: ci-fix\n"), "{text}");
        assert!(!text.contains(template.name), "{text}");
        assert_eq!(from_template(template, "true").lines().find(|l| l.starts_with("name:")), Some("name: \"true\""));
    }
}
