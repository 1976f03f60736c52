//! The built-in actions: their fields, the outputs they produce, and which
//! are sensitive. Field checking, output typing and `workflow schema` all
//! read this one table.

use crate::expr::Type;

/// What a field's value must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// A string with `${..}` / `{{..}}` interpolation.
    Text,
    /// A list of interpolated strings (a single string is a one-item list).
    TextList,
    /// A whole number.
    Int,
    /// `true` / `false`.
    Bool,
    /// `30s`, `5m`, `1h`, `250ms`, or a number of seconds.
    Duration,
    /// The id of a step of the same workflow.
    StepRef,
    /// A model alias declared in `models:`, `original`, `provider:model` or `role:NAME`.
    ModelRef,
    /// The name of a variable the step writes.
    VarName,
    /// A condition expression.
    Condition,
    /// A regular expression.
    Regex,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// The name of another workflow.
    WorkflowRef,
    /// A mapping of names to values.
    Map,
    /// Any value.
    Any,
}

/// One field an action accepts.
#[derive(Clone, Copy, Debug)]
pub struct FieldSpec {
    /// Canonical kebab-case name.
    pub name: &'static str,
    /// What the value must be.
    pub kind: FieldKind,
    /// Whether the step must give it.
    pub required: bool,
    /// Other accepted spellings (the earlier camelCase dialect).
    pub aliases: &'static [&'static str],
}

/// A built-in action.
#[derive(Clone, Copy, Debug)]
pub struct ActionSpec {
    /// The name used in `action:`.
    pub name: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// The fields it accepts besides the common step keys.
    pub fields: &'static [FieldSpec],
    /// The outputs it produces, addressable as `steps.<id>.<field>`.
    pub outputs: &'static [(&'static str, Type)],
    /// Whether it runs only with consent (shell, push, merge, file writes).
    pub sensitive: bool,
}

const fn field(name: &'static str, kind: FieldKind) -> FieldSpec {
    FieldSpec { name, kind, required: false, aliases: &[] }
}

const fn required(name: &'static str, kind: FieldKind) -> FieldSpec {
    FieldSpec { name, kind, required: true, aliases: &[] }
}

const fn aliased(name: &'static str, kind: FieldKind, aliases: &'static [&'static str]) -> FieldSpec {
    FieldSpec { name, kind, required: false, aliases }
}

const fn required_aliased(name: &'static str, kind: FieldKind, aliases: &'static [&'static str]) -> FieldSpec {
    FieldSpec { name, kind, required: true, aliases }
}

use FieldKind::*;

const GIT_REMOTE: FieldSpec = field("remote", Text);
const GIT_BRANCH: FieldSpec = field("branch", Text);
/// What the keyword predicates `file-exists` and `variable-equals` read.
const PREDICATE_FIELDS: &[FieldSpec] = &[field("file", Text), field("variable", VarName), field("value", Any)];
const REVIEW_OUTPUTS: &[(&str, Type)] = &[("approved", Type::Bool), ("comments", Type::String)];
const COMMIT_OUTPUTS: &[(&str, Type)] = &[("sha", Type::String), ("files", Type::List), ("committed", Type::Bool)];

/// Every built-in action.
pub const ACTIONS: &[ActionSpec] = &[
    ActionSpec {
        name: "shell",
        summary: "run a shell command; variables are exported to its environment",
        fields: &[required("command", Text), field("cwd", Text), field("env", Map)],
        outputs: &[("stdout", Type::String), ("stderr", Type::String), ("exit_code", Type::Int)],
        sensitive: true,
    },
    ActionSpec {
        name: "ai-prompt",
        summary: "ask the current model; the answer is `response` (or JSON fields with `format: json`)",
        fields: &[required("prompt", Text), field("system", Text), field("format", Choice(&["text", "json"])), field("output", VarName)],
        outputs: &[("response", Type::String)],
        sensitive: false,
    },
    ActionSpec {
        name: "switch-model",
        summary: "make another model the current one (`original` returns to the first)",
        fields: &[required("model", ModelRef)],
        outputs: &[],
        sensitive: false,
    },
    ActionSpec {
        name: "conditional",
        summary: "branch on `check` to `on-true` / `on-false` (a missing branch falls through)",
        fields: PREDICATE_FIELDS,
        outputs: &[],
        sensitive: false,
    },
    ActionSpec {
        name: "loop",
        summary: "while `condition` holds jump to `to`, at most `max-iterations` times",
        fields: &[required("to", StepRef), required("condition", Condition), field("file", Text), field("variable", VarName), field("value", Any)],
        outputs: &[],
        sensitive: false,
    },
    ActionSpec {
        name: "interactive",
        summary: "ask a person for a value (text, password, confirm, choice, multiline)",
        fields: &[
            required("prompt", Text),
            aliased("input-type", Choice(&["text", "password", "confirm", "choice", "multiline"]), &["inputType"]),
            field("choices", TextList),
            aliased("default", Any, &["defaultValue"]),
            aliased("validation-pattern", Regex, &["validationPattern"]),
            field("output", VarName),
        ],
        outputs: &[("value", Type::Any)],
        sensitive: false,
    },
    ActionSpec {
        name: "approval-gate",
        summary: "wait for a person to approve or reject",
        fields: &[required("message", Text), field("notify", TextList), field("approvers", TextList)],
        outputs: &[("approved", Type::Bool), ("comment", Type::String), ("approver", Type::String)],
        sensitive: false,
    },
    ActionSpec {
        name: "check-file-exists",
        summary: "test whether a file exists (the path in `file:` or in the variable named by `variable:`)",
        fields: &[field("file", Text), field("variable", VarName)],
        outputs: &[("exists", Type::Bool)],
        sensitive: false,
    },
    ActionSpec {
        name: "set-variable",
        summary: "set a variable to a value (interpolated)",
        fields: &[required_aliased("name", VarName, &["variable"]), required("value", Any)],
        outputs: &[],
        sensitive: false,
    },
    ActionSpec {
        name: "load-variable",
        summary: "set a variable from the contents of a file",
        fields: &[required_aliased("name", VarName, &["variable"]), required_aliased("from", Text, &["file"])],
        outputs: &[],
        sensitive: false,
    },
    ActionSpec {
        name: "commit",
        summary: "git commit (adding the given paths, or all changes)",
        fields: &[field("message", Text), field("add", TextList)],
        outputs: COMMIT_OUTPUTS,
        sensitive: false,
    },
    ActionSpec {
        name: "push",
        summary: "git push (setting the upstream of a new branch)",
        fields: &[GIT_REMOTE, GIT_BRANCH, field("force", Bool)],
        outputs: &[("remote", Type::String), ("branch", Type::String), ("sha", Type::String)],
        sensitive: true,
    },
    ActionSpec {
        name: "pull",
        summary: "git pull, fast-forward only",
        fields: &[GIT_REMOTE, GIT_BRANCH],
        outputs: &[("sha", Type::String), ("updated", Type::Bool)],
        sensitive: false,
    },
    ActionSpec {
        name: "sync",
        summary: "check out a branch (default: the remote's default branch) and bring it up to date",
        fields: &[GIT_REMOTE, GIT_BRANCH],
        outputs: &[("branch", Type::String), ("sha", Type::String)],
        sensitive: false,
    },
    ActionSpec {
        name: "commit-push",
        summary: "git commit, then push",
        fields: &[field("message", Text), field("add", TextList), GIT_REMOTE, GIT_BRANCH],
        outputs: &[("sha", Type::String), ("files", Type::List), ("committed", Type::Bool), ("remote", Type::String), ("branch", Type::String)],
        sensitive: true,
    },
    ActionSpec {
        name: "create-pr",
        summary: "open a pull request",
        fields: &[field("title", Text), field("body", Text), field("base", Text), field("head", Text), field("draft", Bool)],
        outputs: &[("number", Type::Int), ("url", Type::String)],
        sensitive: false,
    },
    ActionSpec {
        name: "review-pr",
        summary: "the current model reviews the pull request's diff and posts its review",
        fields: &[field("prompt", Text), field("pr", Text)],
        outputs: REVIEW_OUTPUTS,
        sensitive: false,
    },
    ActionSpec {
        name: "make-changes",
        summary: "the current model edits files of the repository through read/write/patch tools",
        fields: &[field("prompt", Text), field("max-steps", Int), field("paths", TextList)],
        outputs: &[("summary", Type::String), ("files_changed", Type::List)],
        sensitive: true,
    },
    ActionSpec {
        name: "self-review",
        summary: "the current model reviews its own changes",
        fields: &[field("prompt", Text)],
        outputs: REVIEW_OUTPUTS,
        sensitive: false,
    },
    ActionSpec {
        name: "merge-pr",
        summary: "merge the pull request",
        fields: &[field("method", Choice(&["merge", "squash", "rebase"])), field("pr", Text)],
        outputs: &[("merged", Type::Bool), ("sha", Type::String)],
        sensitive: true,
    },
    ActionSpec {
        name: "run-workflow",
        summary: "start another workflow as a child run and wait for it",
        fields: &[required("workflow", WorkflowRef), field("inputs", Map), field("wait", Bool)],
        outputs: &[("status", Type::String), ("run_id", Type::String)],
        sensitive: false,
    },
    ActionSpec {
        name: "end",
        summary: "complete the run here",
        fields: &[field("status", Choice(&["completed", "failed"])), field("message", Text)],
        outputs: &[],
        sensitive: false,
    },
];

/// The built-in action named `name`.
pub fn action(name: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|a| a.name == name)
}

/// Keys every step accepts, whatever its action, with their aliases.
pub const STEP_KEYS: &[FieldSpec] = &[
    required("id", Text),
    required("action", Text),
    field("description", Text),
    aliased("check", Condition, &[]),
    aliased("on-true", StepRef, &["on-approved", "onTrue", "onApproved"]),
    aliased("on-false", StepRef, &["on-rejected", "onFalse", "onRejected"]),
    aliased("next", StepRef, &["on-complete", "onComplete"]),
    aliased("on-success", StepRef, &["onSuccess"]),
    aliased("on-error", StepRef, &["onError"]),
    aliased("on-exhausted", StepRef, &["onExhausted"]),
    aliased("max-iterations", Int, &["maxIterations"]),
    field("retry", Map),
    aliased("timeout", Duration, &["timeoutMs"]),
    field("requires", Text),
    field("set", Map),
    field("model", ModelRef),
    field("idempotent", Bool),
];

/// The canonical spelling of a step key or action field `key` (resolving aliases).
pub fn canonical<'a>(fields: &'a [FieldSpec], key: &str) -> Option<&'a FieldSpec> {
    fields.iter().find(|f| f.name == key || f.aliases.contains(&key))
}

/// Top-level keys of a workflow file, with their aliases.
pub const WORKFLOW_KEYS: &[FieldSpec] = &[
    required("name", Text),
    field("description", Text),
    field("version", Any),
    field("interactive", Bool),
    field("persistent", Bool),
    field("variables", Map),
    field("models", Map),
    field("budget", Map),
    field("snapshot", Map),
    field("expect", Map),
    aliased("on-completion", Any, &["onCompletion"]),
    required("steps", Any),
];
