//! What the drafting model is told: the language, generated from the action
//! catalog (so a new action or field reaches the prompt by itself), the flow
//! rules, and one template as an example.

use std::fmt::Write as _;
use workflow_core::catalog::{FieldKind, FieldSpec, ACTIONS, STEP_KEYS, WORKFLOW_KEYS};

/// The template shown as an example: small, yet it branches, loops, sets a variable and ends.
const EXAMPLE: &str = include_str!("../../../templates/test-fix-loop.yaml");

/// The system message: how to write a workflow file; `custom` names actions implemented in Rust.
pub fn system(custom: &[String]) -> String {
    let mut out = String::from(
        "You write workflow files for `workflow`, an engine that runs YAML workflows: steps that run shell commands, \
         ask language models, operate git and pull requests, and wait for people. A file is checked like source code \
         before it runs; only a file without errors is accepted.\n\n\
         Answer with the whole file in one ```yaml fenced block. Keys are kebab-case. Comment the file where a reader needs it.\n",
    );
    out += "\n## Top-level keys\n";
    for key in WORKFLOW_KEYS {
        let _ = writeln!(out, "- {}{}", describe(key), workflow_key_hint(key.name));
    }
    out += "\n## Keys every step accepts\n";
    for key in STEP_KEYS {
        let _ = writeln!(out, "- {}{}", describe(key), step_key_hint(key.name));
    }
    out += "\n## Actions (`action:`), their own fields (* = required) and outputs\n";
    for action in ACTIONS {
        let fields: Vec<String> = action.fields.iter().map(describe).collect();
        let outputs: Vec<String> = action.outputs.iter().map(|(name, ty)| format!("{name} ({ty})")).collect();
        let _ = writeln!(
            out,
            "- {}: {}. Fields: {}. Outputs: {}.{}",
            action.name,
            action.summary,
            if fields.is_empty() { "none".to_string() } else { fields.join(", ") },
            if outputs.is_empty() { "none".to_string() } else { outputs.join(", ") },
            if action.sensitive { " Sensitive: runs only with the user's consent." } else { "" }
        );
    }
    if !custom.is_empty() {
        let _ = writeln!(out, "- Custom actions, implemented in Rust (their fields are passed as written): {}.", custom.join(", "));
    }
    out += FLOW;
    out += "\n## Example\n\n```yaml\n";
    out += EXAMPLE;
    out += "```\n";
    out
}

/// The first user message: what to write.
pub fn task(name: &str, description: &str) -> String {
    format!(
        "Write a workflow named `{name}` that does this:\n\n{description}\n\n\
         Set `name: {name}`. Answer with the whole file in one ```yaml block."
    )
}

/// The message after a rejected draft: the checker's report, as `workflow validate` prints it.
pub fn correction(report: &str) -> String {
    format!(
        "The checker rejected the file (`workflow validate` says):\n\n```text\n{report}```\n\n\
         Fix every error and answer with the whole corrected file in one ```yaml block."
    )
}

/// The rules the tables cannot show (DESIGN §3, docs/language.md).
const FLOW: &str = "
## Flow
- The run starts at the first step; the default next step is the following one; after the last step the run completes.
- `check: CONDITION` is evaluated after the step succeeds: to `on-true` when it holds, to `on-false` when not; \
a branch that is not given falls through to the next step. `on-true`/`on-false` need a `check`.
- `next: ID` replaces the following step. `action: end` completes the run (`status: failed` fails it).
- A failing step goes to `on-error: ID`, else the run fails. `retry: {attempts: 3, backoff: 2s}` retries it first.
- `loop`: while `condition` holds, jump to `to`; once it does not, go on with the next step. `iteration` counts its jumps.
- Every cycle must be bounded: by a `loop` step, or by a step of the cycle with `max-iterations: N` (how often it may run). \
When it is used up the run goes to `on-exhausted: ID`, or fails.
- Every step must be reachable from the start, and the end reachable from every step. A step after an `end` or after a \
step that always jumps elsewhere must be the target of some jump.

## Values
- Outputs are read as `steps.ID.FIELD` or `ID.FIELD` (for example `test.exit_code`), only where step ID surely ran \
before (on every path from the start). In a step's own `check` and `set`, a bare output name is its own output.
- Text fields interpolate names with `${name}` (`${title}`, `${review.comments}`); only names, never expressions. \
`$$` writes a literal `$`. In a shell `command`, `${..}` values are passed quoted; variables are also in the environment \
(`$fixes`).
- Conditions: literals (`true`, 3, 'text'), names, `== != < <= > >= && || !` (also `and or not`), `+ - * / %` \
(subtraction with spaces: `a - b`, since `a-b` is one name), parentheses, `contains(text_or_list, x)`, \
`matches(text, 'regex')`, `file-exists(path)`. Bare `approved` / `not-approved` read the nearest review's or gate's verdict. \
Typed: a number never equals a string (`exit_code == 0`, not `'0'`); a condition must be a bool (`stdout == ''`).
- `set: {var: EXPRESSION}` assigns variables when the step succeeds; a string value is quoted inside: `\"'done'\"`.
- Quote a YAML value that starts with `!`, `{`, `[`, `'` or `\"`, or contains `: ` or ` #`.
";

/// `name* (kind)`.
fn describe(field: &FieldSpec) -> String {
    format!("{}{} ({})", field.name, if field.required { "*" } else { "" }, kind(field.kind))
}

fn kind(kind: FieldKind) -> String {
    match kind {
        FieldKind::Text => "text".to_string(),
        FieldKind::TextList => "list of texts".to_string(),
        FieldKind::Int => "whole number".to_string(),
        FieldKind::Bool => "true/false".to_string(),
        FieldKind::Duration => "duration: 30s, 5m, 1h".to_string(),
        FieldKind::StepRef => "step id".to_string(),
        FieldKind::ModelRef => "model: an alias of `models:`, `original`, provider:model or role:NAME".to_string(),
        FieldKind::VarName => "variable name".to_string(),
        FieldKind::Condition => "condition".to_string(),
        FieldKind::Regex => "regex".to_string(),
        FieldKind::Choice(words) => format!("one of {}", words.join(" | ")),
        FieldKind::WorkflowRef => "workflow name".to_string(),
        FieldKind::Map => "map".to_string(),
        FieldKind::Any => "any value".to_string(),
    }
}

/// What a common step key holds, beyond its kind.
fn step_key_hint(key: &str) -> &'static str {
    match key {
        "id" => ": letters, digits, `-` and `_`; unique in the workflow",
        "action" => ": one of the actions below",
        "check" => ": evaluated after the step succeeds; see Flow",
        "max-iterations" => ": how often the step may run in one run, at least 1",
        "retry" => ": `{attempts: 3, backoff: 2s}`, or a number of attempts",
        "requires" => ": `GATE.approved`, an approval-gate step that always runs before this one",
        "set" => ": `{variable: expression}`, assigned when the step succeeds",
        "model" => ": the model for this step only",
        "idempotent" => ": false when running the step twice after a crash would do harm",
        _ => "",
    }
}

/// What a top-level key holds, beyond its kind.
fn workflow_key_hint(key: &str) -> &'static str {
    match key {
        "variables" => ": `name: default` (typed by the default) or `name: {type: int|float|bool|string|list|map, default: ..}`",
        "models" => ": aliases, `alias: provider:model` or `alias: role:fast|capable|reasoning`; the run starts with `original`",
        "budget" => ": `{tokens: N, usd: X}`; the run pauses when it reaches it",
        "snapshot" => ": metrics measured before and after the run, `metric: \"shell command\"` or `{sql: .., url: sqlite://..}`",
        "expect" => ": per snapshot metric, the change the run should make, as an expression over the values before it",
        "on-completion" => ": workflows started when the run ends; they must exist in the same folder, so leave this out unless asked",
        "interactive" => ": false runs unattended (prompts take their default, gates wait)",
        "steps" => ": the list of steps",
        _ => "",
    }
}
