//! `make-changes`: a model edits the files of a repository through `read`,
//! `list`, `write` and `patch` tools confined to it, until it calls `done`.
//!
//! The tool protocol is text (one JSON object per reply, see
//! [`parse_tool_call`]), so it works with every provider: an HTTP API, a
//! local command, a replayed cassette. The loop asks through a closure and
//! never sees the provider.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use workflow_runtime::changes::{make_changes, Workspace};
//! use workflow_runtime::providers::{ChatResponse, Message, Usage};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let workspace = Workspace::new(dir.path(), vec![]).unwrap();
//! let mut replies = vec![
//!     r#"{"tool": "write", "path": "hello.txt", "content": "hello\n"}"#,
//!     r#"{"tool": "done", "summary": "Said hello."}"#,
//! ]
//! .into_iter();
//! let ask = |_: Vec<Message>| {
//!     let content = replies.next().unwrap().to_string();
//!     async move { Ok(ChatResponse { content, usage: Usage::default(), model: "scripted".into() }) }
//! };
//! let changes = make_changes(&workspace, "Say hello.", 10, vec![], ask).await.unwrap();
//! assert_eq!(changes.files_changed, ["hello.txt"]);
//! assert_eq!(std::fs::read_to_string(dir.path().join("hello.txt")).unwrap(), "hello\n");
//! # });
//! ```

use std::collections::BTreeMap;
use std::future::Future;

use crate::outputs::MakeChangesOutput;
use crate::providers::{ChatResponse, Message, Role, Usage};

mod tool;
mod workspace;

pub use tool::{parse_tool_call, ToolCall};
pub use workspace::Workspace;

/// What a finished `make-changes` did.
#[derive(Clone, Debug, PartialEq)]
pub struct Changes {
    /// What the model says it did (its `done` summary).
    pub summary: String,
    /// The files whose content differs from before the run: sorted, relative to the root, `/`-separated.
    pub files_changed: Vec<String>,
    /// How many replies the model gave, `done` included.
    pub steps: u32,
    /// Tokens spent over all replies.
    pub usage: Usage,
    /// The tool conversation after the context: the instructions, then each reply and tool result.
    pub messages: Vec<Message>,
}

impl Changes {
    /// The step's outputs (`summary`, `files_changed`).
    pub fn output(&self) -> MakeChangesOutput {
        MakeChangesOutput { summary: self.summary.clone(), files_changed: self.files_changed.clone() }
    }
}

/// Why `make-changes` ended without `done`; the files it changed stay changed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ChangesFailure {
    /// What went wrong.
    pub message: String,
    /// The files changed before it stopped (left as they are), as in [`Changes::files_changed`].
    pub files_changed: Vec<String>,
    /// Tokens spent over all replies.
    pub usage: Usage,
}

/// The user message that explains the tools and the protocol, the step limit, and the task.
pub fn instructions(task: &str, max_steps: u32) -> String {
    format!(
        r#"You are changing files in a repository. You act only through tools: each reply must contain exactly one JSON object calling one tool, and its result comes back as the next message. Paths are relative to the repository root.

Tools, with an example of each:
- list a directory, recursively (at most 500 entries; directories end with `/`):
  {{"tool": "list", "path": "."}}
- read a text file:
  {{"tool": "read", "path": "src/lib.rs"}}
- write a whole file, creating it and its directories if needed:
  {{"tool": "write", "path": "src/greet.rs", "content": "pub fn greet() -> &'static str {{\n    \"hello\"\n}}\n"}}
- patch a file: replace `old`, which must occur exactly once in the file, by `new`:
  {{"tool": "patch", "path": "src/lib.rs", "old": "fn old_name(", "new": "fn new_name("}}
- finish, saying what you changed:
  {{"tool": "done", "summary": "Renamed old_name to new_name."}}

Rules:
- One tool call per reply; only the first JSON object of a reply is run. In JSON strings write a newline as \n and a quote as \".
- Read a file before patching it; prefer `patch` to `write` for a file that exists.
- Paths outside the repository and in `.git` are refused, and writes may be limited to some paths: a refusal says why.
- You have at most {max_steps} replies, `done` included. Changes are kept even if you run out, but only `done` finishes the task.

Task:
{task}"#
    )
}

/// Runs the tool loop: asks the model through `ask` (with the whole conversation each turn) and runs its tool calls on `workspace`.
///
/// `context` is the run's conversation so far (a review's comments, say);
/// the instructions follow it as a user message, then each reply and each
/// tool result. A reply that is not a valid tool call is answered with an
/// error and counts as a step. Nothing is rolled back when the loop fails
/// (step limit, or `ask` failing): the files changed so far stay changed,
/// and the failure lists them.
pub async fn make_changes<F, Fut>(workspace: &Workspace, task: &str, max_steps: u32, context: Vec<Message>, mut ask: F) -> Result<Changes, ChangesFailure>
where
    F: FnMut(Vec<Message>) -> Fut,
    Fut: Future<Output = Result<ChatResponse, String>>,
{
    let mut messages = context;
    let start = messages.len();
    messages.push(Message { role: Role::User, content: instructions(task, max_steps) });
    let mut usage = Usage::default();
    let mut originals = Originals::default();
    for step in 1..=max_steps {
        let reply = match ask(messages.clone()).await {
            Ok(reply) => reply,
            Err(message) => return Err(ChangesFailure { message, files_changed: originals.changed(), usage }),
        };
        usage.input_tokens += reply.usage.input_tokens;
        usage.output_tokens += reply.usage.output_tokens;
        let call = parse_tool_call(&reply.content);
        messages.push(Message { role: Role::Assistant, content: reply.content });
        let result = match call {
            Ok(ToolCall::Done { summary }) => {
                let files_changed = originals.changed();
                return Ok(Changes { summary, files_changed, steps: step, usage, messages: messages.split_off(start) });
            }
            Ok(call) => run(workspace, &call, &mut originals),
            Err(message) => Err(message),
        };
        let mut content = result.unwrap_or_else(|message| format!("error: {message}"));
        if max_steps - step == 1 {
            content.push_str("\n\nnote: you have one reply left: call `done` now with a summary of what you changed.");
        }
        messages.push(Message { role: Role::User, content });
    }
    let files_changed = originals.changed();
    let kept =
        if files_changed.is_empty() { "no file was changed".to_string() } else { format!("the files changed so far are kept: {}", files_changed.join(", ")) };
    Err(ChangesFailure {
        message: format!("stopped after {max_steps} steps without `done` ({kept}); raise `max-steps` or make the task smaller"),
        files_changed,
        usage,
    })
}

/// Runs one tool call other than `done`; `Ok` and `Err` are both texts for the model.
fn run(workspace: &Workspace, call: &ToolCall, originals: &mut Originals) -> Result<String, String> {
    match call {
        ToolCall::Read { path } => workspace.read(path),
        ToolCall::List { path } => workspace.list(path),
        ToolCall::Write { path, content } => {
            originals.remember(workspace, path);
            workspace.write(path, content)
        }
        ToolCall::Patch { path, old, new } => {
            originals.remember(workspace, path);
            workspace.patch(path, old, new)
        }
        // The loop ends on `done` before running anything.
        ToolCall::Done { .. } => Ok(String::new()),
    }
}

/// The content of each file before the loop first wrote it (`None`: it did not exist).
///
/// Comparing with these at the end, rather than counting writes, keeps out of
/// `files_changed` a write of the same content and an edit later undone.
#[derive(Default)]
struct Originals(BTreeMap<String, (std::path::PathBuf, Option<Vec<u8>>)>);

impl Originals {
    fn remember(&mut self, workspace: &Workspace, path: &str) {
        // A refused path is never written, so there is nothing to remember.
        if let Ok((file, rel)) = workspace.locate(path, true) {
            self.0.entry(rel).or_insert_with(|| {
                let before = std::fs::read(&file).ok();
                (file, before)
            });
        }
    }

    /// The files whose content now differs, sorted (the map's order).
    fn changed(&self) -> Vec<String> {
        self.0.iter().filter(|(_, (file, before))| std::fs::read(file).ok() != *before).map(|(rel, _)| rel.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_show_every_tool_the_limit_and_the_task() {
        let text = instructions("Rename `foo` to `bar`.", 7);
        for tool in ["list", "read", "write", "patch", "done"] {
            let example = format!("{{\"tool\": \"{tool}\"");
            let line = text.lines().find(|l| l.trim_start().starts_with(&example)).unwrap_or_else(|| panic!("no example of {tool}:\n{text}"));
            assert_eq!(parse_tool_call(line).map(|_| ()), Ok(()), "the example of {tool} must itself parse: {line}");
        }
        assert!(text.contains("at most 7 replies"), "{text}");
        assert!(text.ends_with("Task:\nRename `foo` to `bar`."), "{text}");
    }
}
