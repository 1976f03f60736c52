//! `${..}` values in shell commands arrive as exactly one word of data,
//! wherever the command puts them: plain, in quotes, in command
//! substitutions and backticks, in heredocs (quoted or not), in arithmetic.
//! Real `sh`, real files, hostile values.

use std::path::Path;
use std::sync::Arc;
use workflow_core::ir::WorkflowIr;
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;
use workflow_runtime::actions::Actions;
use workflow_runtime::engine::{Engine, IrEngine};
use workflow_runtime::executor::{Executor, ExecutorOptions, StartOptions};
use workflow_runtime::store::sqlite::{SqliteOptions, SqliteStore};
use workflow_runtime::store::{RunStatus, Store};

/// Values that would run, split or glob if they were spliced into the command.
const HOSTILE: &[&str] = &[
    "a  b *",
    "$(touch pwned)",
    "`touch pwned`",
    "'; touch pwned; '",
    "\"; touch pwned; \"",
    "line one\nline two",
    "EOF",
    "x\nEOF\ntouch pwned",
    "\\\"$(touch pwned)\\",
    "-n",
];

fn ir(command: &str) -> Arc<WorkflowIr> {
    let yaml =
        format!("name: values\nvariables:\n  x: \"\"\nsteps:\n  - id: say\n    action: shell\n    command: {}\n", serde_json::to_string(command).unwrap());
    let compiled = compile_sources(&[Source::new("test.yaml", &yaml)], &ReadOptions::default()).unwrap_or_else(|d| panic!("{}", d.render()));
    Arc::new(compiled.into_iter().next().unwrap().ir)
}

fn executor(dir: &Path) -> Executor<SqliteStore> {
    let store = SqliteStore::open(dir.join("runs.db"), SqliteOptions::default()).unwrap();
    let options = ExecutorOptions {
        cwd: dir.to_path_buf(),
        operator: "test".into(),
        consent: workflow_runtime::permissions::Consent::granted(),
        ..ExecutorOptions::default()
    };
    Executor::new(Arc::new(store), Actions::builtin(), options)
}

/// Runs `command` with `x` set to `value`: the step's stdout, or its error.
async fn run(ex: &Executor<SqliteStore>, command: &str, value: &str) -> Result<String, String> {
    let mut engine = IrEngine::new(ir(command));
    engine.assign("x", serde_json::json!(value)).unwrap();
    let report = ex.start(Box::new(engine) as Box<dyn Engine>, StartOptions::default()).await.unwrap();
    let events = ex.store().events(&report.run_id).unwrap();
    match report.status {
        RunStatus::Completed => Ok(events[0].output["stdout"].as_str().unwrap_or_default().to_string()),
        _ => Err(events[0].error.clone().unwrap_or_default()),
    }
}

/// A context's name, a command with `${x}` in it, and the output a user sees for the value `v`.
type Context = (&'static str, &'static str, fn(&str) -> String);

/// Each context with the output a user sees for the value `v`.
fn contexts() -> Vec<Context> {
    vec![
        ("plain", "printf '[%s]' ${x}", |v| format!("[{v}]")),
        ("double quotes", "printf '[%s]' \"<${x}>\"", |v| format!("[<{v}>]")),
        ("single quotes", "printf '[%s]' 'a${x}b'", |v| format!("[a{v}b]")),
        ("nested quotes", "printf '[%s]' \"it's '${x}'\"", |v| format!("[it's '{v}']")),
        ("command substitution in double quotes", "echo \"$(printf '[%s]' \"${x}\")\"", |v| format!("[{v}]\n")),
        ("command substitution, plain inside", "printf '%s' \"$(printf '[%s]' ${x})\"", |v| format!("[{v}]")),
        ("single quotes in a command substitution", "printf '%s' \"$(printf '[%s]' 'a${x}b')\"", |v| format!("[a{v}b]")),
        ("backticks", "y=`printf '[%s]' ${x}`; printf '%s' \"$y\"", |v| format!("[{v}]")),
        ("backticks in double quotes", "printf '%s' \"`printf '[%s]' \"${x}\"`\"", |v| format!("[{v}]")),
        ("heredoc", "cat <<EOF\n<${x}>\n'${x}' \"${x}\"\nEOF", |v| format!("<{v}>\n'{v}' \"{v}\"\n")),
        ("quoted heredoc", "cat <<'EOF'\n<${x}> $HOME `x`\nEOF", |v| format!("<{v}> $HOME `x`\n")),
        ("command substitution in a heredoc", "cat <<EOF\n$(printf '[%s]' ${x})\nEOF", |v| format!("[{v}]\n")),
        ("assignment", "y=${x}; printf '[%s]' \"$y\"", |v| format!("[{v}]")),
        ("case pattern", "case \"$x\" in ${x}) printf same;; *) printf other;; esac", |_| "same".to_string()),
    ]
}

#[tokio::test]
async fn values_arrive_as_one_word_of_data_in_every_context() {
    let dir = tempfile::tempdir().unwrap();
    let ex = executor(dir.path());
    for (context, command, expected) in contexts() {
        for value in HOSTILE {
            // A value holding the quoted heredoc's delimiter line is refused, not run (below).
            if context == "quoted heredoc" && value.lines().any(|l| l == "EOF") {
                continue;
            }
            let out = run(&ex, command, value).await;
            assert_eq!(out, Ok(expected(value)), "{context}: `{command}` with x = {value:?}");
            assert!(!dir.path().join("pwned").exists(), "{context}: {value:?} ran as code");
        }
    }
}

#[tokio::test]
async fn a_value_holding_a_quoted_heredocs_delimiter_line_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ex = executor(dir.path());
    let command = "cat <<'EOF'\n${x}\nEOF\necho after";
    for value in ["EOF", "x\nEOF\ntouch pwned", "EOF\ntouch pwned"] {
        let out = run(&ex, command, value).await;
        let error = out.expect_err(value);
        assert!(error.contains("holds the line `EOF`, which would end the quoted heredoc early"), "{error}");
        assert!(!dir.path().join("pwned").exists());
    }
    // The delimiter inside a longer line is data.
    assert_eq!(run(&ex, command, "not EOF").await, Ok("not EOF\nafter\n".to_string()));
    // `<<-` strips tabs: a tab-indented delimiter line would end it too.
    let error = run(&ex, "cat <<-'EOF'\n\t${x}\n\tEOF", "\tEOF\ntouch pwned").await.unwrap_err();
    assert!(error.contains("would end the quoted heredoc early"), "{error}");
    assert!(!dir.path().join("pwned").exists());
}

#[tokio::test]
async fn arithmetic_takes_whole_numbers_and_refuses_expressions() {
    let dir = tempfile::tempdir().unwrap();
    let ex = executor(dir.path());
    assert_eq!(run(&ex, "echo $(( ${x} + 1 ))", "41").await, Ok("42\n".to_string()));
    assert_eq!(run(&ex, "echo $(( ${x} * 2 ))", "-4").await, Ok("-8\n".to_string()));
    for value in ["PATH=0", "x[$(touch pwned)]", "1+1", "", "4 2", "$(touch pwned)"] {
        let error = run(&ex, "echo $(( ${x} + 1 ))", value).await.unwrap_err();
        assert!(error.contains("stands in shell arithmetic `$((..))`") && error.contains("only whole numbers"), "{value:?}: {error}");
        assert!(!dir.path().join("pwned").exists());
    }
}

#[tokio::test]
async fn references_where_no_value_can_be_passed_safely_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ex = executor(dir.path());
    for (command, reason) in [
        ("cat <<${x}\nhi\n${x}", "here document"),
        ("echo $${HOME:-${x}}", "parameter expansion"),
        ("echo $'a${x}'", "`$'..'`"),
        ("echo \"unclosed ${x}", "cannot be read as shell syntax"),
    ] {
        let error = run(&ex, command, "v").await.unwrap_err();
        assert!(error.contains("cannot pass the values of `${x}` to the shell safely") && error.contains(reason), "{command}: {error}");
    }
}
