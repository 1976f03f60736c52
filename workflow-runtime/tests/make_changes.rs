//! `make-changes` on real temporary git repositories: a scripted model, escape
//! attempts, mistakes, limits, and a model recorded on one copy and replayed on another.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::{ready, Future, Ready};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;

use workflow_runtime::changes::{make_changes, Changes, ChangesFailure, Workspace};
use workflow_runtime::providers::replay::{Cassette, RecordingProvider, ReplayProvider};
use workflow_runtime::providers::{ChatRequest, ChatResponse, Message, Provider, ProviderError, Role, Stream, Usage};

const LIB: &str = "pub fn greet() -> &'static str {\n    \"hello\"\n}\n";
const README: &str = "# demo\n\nSays hello.\n";

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git").args(["-c", "user.name=test", "-c", "user.email=test@example.com"]).args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A committed git repository at `dir` with a README and a small crate.
fn git_repo(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("README.md"), README).unwrap();
    std::fs::write(dir.join("src/lib.rs"), LIB).unwrap();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "initial"]);
    dir.to_path_buf()
}

fn git_status(dir: &Path) -> String {
    let out = Command::new("git").args(["status", "--porcelain"]).current_dir(dir).output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// Every file under `dir` but those in `.git`, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let kind = entry.file_type().unwrap();
            if entry.file_name() == ".git" {
                continue;
            } else if kind.is_dir() {
                walk(&entry.path(), &format!("{name}/"), out);
            } else if kind.is_symlink() {
                out.insert(name, std::fs::read_link(entry.path()).unwrap().to_string_lossy().into_owned().into_bytes());
            } else {
                out.insert(name, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out);
    out
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn user(content: &str) -> Message {
    Message { role: Role::User, content: content.to_string() }
}

type Seen = Rc<RefCell<Vec<Vec<Message>>>>;

/// A model answering `replies` in turn (each spending 10 + 2 tokens); `seen` holds every conversation it was asked.
fn scripted(replies: &[&str]) -> (impl FnMut(Vec<Message>) -> Ready<Result<ChatResponse, String>>, Seen) {
    let seen: Seen = Rc::default();
    let mut replies: Vec<String> = replies.iter().rev().map(|r| r.to_string()).collect();
    let log = seen.clone();
    let ask = move |messages: Vec<Message>| {
        log.borrow_mut().push(messages);
        let content = replies.pop().expect("the model was asked more often than scripted");
        ready(Ok(ChatResponse { content, usage: Usage { input_tokens: 10, output_tokens: 2 }, model: "scripted".into() }))
    };
    (ask, seen)
}

/// The tool result the model saw after its `n`th reply (1-based).
fn result_after(seen: &Seen, n: usize) -> String {
    let conversation = &seen.borrow()[n];
    assert_eq!(conversation[conversation.len() - 2].role, Role::Assistant);
    let last = conversation.last().unwrap();
    assert_eq!(last.role, Role::User);
    last.content.clone()
}

#[tokio::test]
async fn a_scripted_model_lists_reads_patches_and_writes_then_is_done() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = git_repo(&tmp.path().join("repo"));
    let workspace = Workspace::new(&repo, vec![]).unwrap();
    let (ask, seen) = scripted(&[
        r#"{"tool": "list", "path": "."}"#,
        "Let me read the library.\n```json\n{\"tool\": \"read\", \"path\": \"src/lib.rs\"}\n```",
        r#"{"tool": "patch", "path": "src/lib.rs", "old": "\"hello\"", "new": "\"hello, world\""}"#,
        r#"{"tool": "write", "path": "src/greet/loud.rs", "content": "pub fn loud() -> String {\n    crate::greet().to_uppercase()\n}\n"}"#,
        r#"{"tool": "done", "summary": "Greets the world, loudly too."}"#,
    ]);
    let context = vec![Message { role: Role::System, content: "You fix code.".into() }, user("Review: greet the whole world.")];

    let changes = make_changes(&workspace, "Address the review.", 10, context.clone(), ask).await.unwrap();

    assert_eq!(changes.summary, "Greets the world, loudly too.");
    assert_eq!(changes.files_changed, ["src/greet/loud.rs", "src/lib.rs"]);
    assert_eq!(changes.steps, 5);
    assert_eq!(changes.usage, Usage { input_tokens: 50, output_tokens: 10 });
    assert_eq!(read(repo.join("src/lib.rs")), LIB.replace("\"hello\"", "\"hello, world\""));
    assert_eq!(read(repo.join("src/greet/loud.rs")), "pub fn loud() -> String {\n    crate::greet().to_uppercase()\n}\n");
    assert_eq!(read(repo.join("README.md")), README);
    assert_eq!(git_status(&repo), " M src/lib.rs\n?? src/greet/\n");

    // The model saw the context, then the instructions, then its replies and their results, growing each turn.
    let seen = seen.borrow().clone();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0][..2], context[..]);
    assert!(seen[0][2].content.contains("Task:\nAddress the review."), "{}", seen[0][2].content);
    assert!(seen.windows(2).all(|w| w[1].len() == w[0].len() + 2 && w[1][..w[0].len()] == w[0][..]));
    assert_eq!(seen[1].last().unwrap().content, "list .:\nREADME.md\nsrc/\nsrc/lib.rs");
    assert_eq!(seen[2].last().unwrap().content, format!("read src/lib.rs:\n{LIB}"));
    assert_eq!(seen[3].last().unwrap().content, "patched src/lib.rs");
    assert_eq!(seen[4].last().unwrap().content, format!("wrote src/greet/loud.rs ({} bytes)", read(repo.join("src/greet/loud.rs")).len()));

    // `messages` is the conversation after the context: instructions, then 5 replies and 4 results.
    assert_eq!(changes.messages.len(), 10);
    assert_eq!(changes.messages[..9], seen[4][2..]);
    assert_eq!(changes.messages[9].content, r#"{"tool": "done", "summary": "Greets the world, loudly too."}"#);
    assert_eq!(changes.output().files_changed, changes.files_changed);
}

#[tokio::test]
async fn escape_attempts_are_refused_the_model_sees_why_and_nothing_outside_is_touched() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = git_repo(&tmp.path().join("repo"));
    std::fs::write(tmp.path().join("outside.txt"), "untouched\n").unwrap();
    let outside_absolute = tmp.path().join("outside.txt").canonicalize().unwrap().display().to_string();
    let git_config = read(repo.join(".git/config"));
    let before = tree(tmp.path());
    let workspace = Workspace::new(&repo, vec!["src".into()]).unwrap();
    let attempts = [
        (r#"{"tool": "read", "path": "../outside.txt"}"#.to_string(), "error: refused: `../outside.txt` leads outside the repository"),
        (
            r#"{"tool": "write", "path": "src/../../outside.txt", "content": "pwned"}"#.to_string(),
            "error: refused: `src/../../outside.txt` leads outside the repository",
        ),
        (r#"{"tool": "read", "path": "/etc/passwd"}"#.to_string(), "error: refused: `/etc/passwd` is an absolute path"),
        (format!(r#"{{"tool": "write", "path": "{outside_absolute}", "content": "pwned"}}"#), "is an absolute path"),
        (r#"{"tool": "read", "path": ".git/config"}"#.to_string(), "error: refused: `.git/config` is inside `.git`"),
        (
            r#"{"tool": "write", "path": ".git/hooks/pre-commit", "content": "rm -rf /"}"#.to_string(),
            "error: refused: `.git/hooks/pre-commit` is inside `.git`",
        ),
        (r#"{"tool": "list", "path": ".git"}"#.to_string(), "error: refused: `.git` is inside `.git`"),
        (
            r#"{"tool": "write", "path": "README.md", "content": "pwned"}"#.to_string(),
            "error: refused: `README.md` is outside the paths this step may write (`src`); change files under those paths only",
        ),
        (r#"{"tool": "patch", "path": "README.md", "old": "hello", "new": "pwned"}"#.to_string(), "is outside the paths this step may write"),
    ];
    let mut replies: Vec<&str> = attempts.iter().map(|(reply, _)| reply.as_str()).collect();
    replies.push(r#"{"tool": "done", "summary": "Nothing I may change."}"#);
    let (ask, seen) = scripted(&replies);

    let changes = make_changes(&workspace, "Escape.", 20, vec![], ask).await.unwrap();

    for (n, (reply, expected)) in attempts.iter().enumerate() {
        let result = result_after(&seen, n + 1);
        assert!(result.starts_with("error: refused: ") && result.contains(expected), "{reply}\n -> {result}");
        assert!(!result.contains("untouched") && !result.contains("[core]") && !result.contains("root:"), "{result}");
    }
    assert!(changes.files_changed.is_empty());
    assert_eq!(tree(tmp.path()), before, "no file inside or outside the repository changed");
    assert_eq!(read(repo.join(".git/config")), git_config);
    assert!(!repo.join(".git/hooks/pre-commit").exists());
    assert_eq!(git_status(&repo), "");
}

#[cfg(unix)]
#[tokio::test]
async fn symbolic_links_leading_out_of_the_repository_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = git_repo(&tmp.path().join("repo"));
    std::fs::write(tmp.path().join("outside.txt"), "untouched\n").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("outside.txt"), repo.join("src/leak.txt")).unwrap();
    std::os::unix::fs::symlink(tmp.path(), repo.join("src/up")).unwrap();
    let before = tree(tmp.path());
    let workspace = Workspace::new(&repo, vec![]).unwrap();
    let (ask, seen) = scripted(&[
        r#"{"tool": "read", "path": "src/leak.txt"}"#,
        r#"{"tool": "write", "path": "src/leak.txt", "content": "pwned"}"#,
        r#"{"tool": "patch", "path": "src/leak.txt", "old": "untouched", "new": "pwned"}"#,
        r#"{"tool": "write", "path": "src/up/new.txt", "content": "pwned"}"#,
        r#"{"tool": "list", "path": "src/up"}"#,
        r#"{"tool": "list", "path": "src"}"#,
        r#"{"tool": "done", "summary": "Nothing."}"#,
    ]);

    let changes = make_changes(&workspace, "Escape.", 10, vec![], ask).await.unwrap();

    for n in 1..=5 {
        let result = result_after(&seen, n);
        assert!(result.contains("goes through a symbolic link that leads outside the repository"), "reply {n} -> {result}");
        assert!(!result.contains("untouched"), "{result}");
    }
    // A listing shows the links but does not follow them.
    assert_eq!(result_after(&seen, 6), "list src:\nsrc/leak.txt\nsrc/lib.rs\nsrc/up");
    assert!(changes.files_changed.is_empty());
    assert_eq!(tree(tmp.path()), before);
    assert!(!tmp.path().join("new.txt").exists());
}

#[tokio::test]
async fn a_patch_must_match_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = git_repo(&tmp.path().join("repo"));
    std::fs::write(repo.join("src/config.rs"), "let retries = 1;\nlet retries = 1;\n").unwrap();
    let workspace = Workspace::new(&repo, vec![]).unwrap();
    let (ask, seen) = scripted(&[
        r#"{"tool": "patch", "path": "src/config.rs", "old": "let tries = 1;", "new": "let tries = 3;"}"#,
        r#"{"tool": "patch", "path": "src/config.rs", "old": "let retries = 1;", "new": "let retries = 3;"}"#,
        r#"{"tool": "patch", "path": "src/config.rs", "old": "1;\nlet retries = 1;", "new": "1;\nlet retries = 3;"}"#,
        r#"{"tool": "patch", "path": "src/missing.rs", "old": "a", "new": "b"}"#,
        r#"{"tool": "done", "summary": "Three retries."}"#,
    ]);

    let changes = make_changes(&workspace, "Retry three times.", 10, vec![], ask).await.unwrap();

    assert_eq!(
        result_after(&seen, 1),
        "error: `old` occurs 0 times in src/config.rs; it must occur exactly once: copy it exactly from `read src/config.rs`, whitespace included"
    );
    assert_eq!(
        result_after(&seen, 2),
        "error: `old` occurs 2 times in src/config.rs; it must occur exactly once: include more of the surrounding lines to make it unique"
    );
    assert_eq!(result_after(&seen, 3), "patched src/config.rs");
    assert_eq!(result_after(&seen, 4), "error: cannot read `src/missing.rs`: it does not exist; use `list` to see the files");
    assert_eq!(read(repo.join("src/config.rs")), "let retries = 1;\nlet retries = 3;\n");
    assert_eq!(changes.files_changed, ["src/config.rs"]);
    assert!(!repo.join("src/missing.rs").exists());
}

#[tokio::test]
async fn replies_that_are_not_tool_calls_are_answered_and_the_model_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = git_repo(&tmp.path().join("repo"));
    let workspace = Workspace::new(&repo, vec![]).unwrap();
    let (ask, seen) = scripted(&[
        "I will now fix the greeting.",
        r#"{"tool": "read", "path": "src/lib.rs""#,
        r#"{"tool": "write", "path": "NOTES.md"}"#,
        r#"{"tool": "rm", "path": "README.md"}"#,
        "Sorry. Here it is:\n```json\n{\"tool\": \"write\", \"path\": \"NOTES.md\", \"content\": \"line one\nline two\n\"}\n```",
        r#"{"tool": "done", "summary": "Wrote notes."}"#,
    ]);

    let changes = make_changes(&workspace, "Write notes.", 10, vec![], ask).await.unwrap();

    assert!(result_after(&seen, 1).starts_with("error: no tool call found: reply with exactly one JSON object"), "{}", result_after(&seen, 1));
    assert!(result_after(&seen, 2).starts_with("error: no tool call found"), "{}", result_after(&seen, 2));
    assert!(result_after(&seen, 3).starts_with("error: not a valid tool call: missing field `content`"), "{}", result_after(&seen, 3));
    assert!(result_after(&seen, 4).starts_with("error: not a valid tool call: unknown variant `rm`"), "{}", result_after(&seen, 4));
    assert_eq!(result_after(&seen, 5), "wrote NOTES.md (18 bytes)");
    assert_eq!(read(repo.join("NOTES.md")), "line one\nline two\n");
    assert_eq!(read(repo.join("README.md")), README);
    assert_eq!(changes.steps, 6, "every reply counts as a step, the bad ones too");
    assert_eq!(changes.files_changed, ["NOTES.md"]);
}

#[tokio::test]
async fn the_step_limit_fails_listing_the_files_changed_and_keeps_them() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = git_repo(&tmp.path().join("repo"));
    let workspace = Workspace::new(&repo, vec![]).unwrap();
    let (ask, seen) = scripted(&[
        r#"{"tool": "write", "path": "docs/a.md", "content": "A\n"}"#,
        r#"{"tool": "patch", "path": "src/lib.rs", "old": "hello", "new": "bye"}"#,
        r#"{"tool": "read", "path": "README.md"}"#,
    ]);

    let failure: ChangesFailure = make_changes(&workspace, "Never finish.", 3, vec![], ask).await.unwrap_err();

    assert_eq!(
        failure.message,
        "stopped after 3 steps without `done` (the files changed so far are kept: docs/a.md, src/lib.rs); raise `max-steps` or make the task smaller"
    );
    assert_eq!(failure.files_changed, ["docs/a.md", "src/lib.rs"]);
    assert_eq!(failure.usage, Usage { input_tokens: 30, output_tokens: 6 });
    assert_eq!(read(repo.join("docs/a.md")), "A\n");
    assert!(read(repo.join("src/lib.rs")).contains("\"bye\""), "nothing is rolled back");
    assert!(result_after(&seen, 2).ends_with("note: you have one reply left: call `done` now with a summary of what you changed."));
    assert!(!result_after(&seen, 1).contains("reply left"));
}

#[tokio::test]
async fn a_failing_model_ends_the_loop_with_its_message_and_the_files_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = git_repo(&tmp.path().join("repo"));
    let workspace = Workspace::new(&repo, vec![]).unwrap();
    let mut turn = 0;
    let ask = |_: Vec<Message>| {
        turn += 1;
        ready(match turn {
            1 => Ok(ChatResponse { content: r#"{"tool": "write", "path": "a.txt", "content": "a"}"#.into(), usage: Usage::default(), model: "m".into() }),
            _ => Err("anthropic: timed out after 60s".to_string()),
        })
    };

    let failure = make_changes(&workspace, "Task.", 10, vec![], ask).await.unwrap_err();

    assert_eq!(failure.to_string(), "anthropic: timed out after 60s");
    assert_eq!(failure.files_changed, ["a.txt"]);
    assert_eq!(read(repo.join("a.txt")), "a");
}

#[tokio::test]
async fn rewriting_the_same_content_or_undoing_an_edit_is_not_a_change() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = git_repo(&tmp.path().join("repo"));
    let workspace = Workspace::new(&repo, vec![]).unwrap();
    let same_readme = serde_json::json!({"tool": "write", "path": "README.md", "content": README}).to_string();
    let (ask, seen) = scripted(&[
        &same_readme,
        r#"{"tool": "patch", "path": "src/lib.rs", "old": "hello", "new": "bye"}"#,
        r#"{"tool": "patch", "path": "./src/lib.rs", "old": "bye", "new": "hello"}"#,
        r#"{"tool": "write", "path": "src/new.rs", "content": "// new\n"}"#,
        r#"{"tool": "done", "summary": "Net effect: one new file."}"#,
    ]);

    let changes = make_changes(&workspace, "Task.", 10, vec![], ask).await.unwrap();

    assert_eq!(result_after(&seen, 1), "README.md already has this content; nothing changed");
    assert_eq!(changes.files_changed, ["src/new.rs"]);
    assert_eq!(git_status(&repo), "?? src/new.rs\n");
}

// ---------------------------------------------------------------- a recorded model, replayed

/// A stand-in for a real model: its reply depends only on the turn (how many replies it already gave).
struct ScriptedModel;

const SCRIPT: [&str; 6] = [
    r#"{"tool": "list", "path": "."}"#,
    r#"{"tool": "read", "path": "src/lib.rs"}"#,
    r#"I'll make the greeting configurable. {"tool": "patch", "path": "src/lib.rs", "old": "pub fn greet() -> &'static str {\n    \"hello\"\n}", "new": "pub fn greet() -> &'static str {\n    greeting::DEFAULT\n}\n\npub mod greeting;"}"#,
    r#"{"tool": "write", "path": "src/greeting/mod.rs", "content": "/// What `greet` says.\npub const DEFAULT: &str = \"hello\";\n"}"#,
    r#"{"tool": "patch", "path": "README.md", "old": "Says hello.", "new": "Says hello; see `greeting::DEFAULT`."}"#,
    r#"{"tool": "done", "summary": "Moved the greeting to a `greeting` module and documented it."}"#,
];

impl Provider for ScriptedModel {
    fn name(&self) -> &str {
        "scripted"
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest, _stream: Stream<'a>) -> Pin<Box<dyn Future<Output = Result<ChatResponse, ProviderError>> + Send + 'a>> {
        let turn = request.messages.iter().filter(|m| m.role == Role::Assistant).count();
        let content = SCRIPT[turn].to_string();
        let usage = Usage { input_tokens: 100 * (turn as u64 + 1), output_tokens: content.len() as u64 };
        Box::pin(async move { Ok(ChatResponse { content, usage, model: request.model.clone() }) })
    }
}

/// `make-changes` on `repo` with `provider` answering as the model `scripted-1`.
async fn run_with(provider: &dyn Provider, repo: &Path) -> Result<Changes, ChangesFailure> {
    let workspace = Workspace::new(repo, vec!["src".into(), "README.md".into()]).unwrap();
    let context = vec![Message { role: Role::System, content: "You are a careful engineer.".into() }];
    let ask = |messages: Vec<Message>| async move {
        let request = ChatRequest { model: "scripted-1".into(), messages, max_tokens: None, temperature: None, json: false };
        provider.chat(&request, None).await.map_err(|e| e.to_string())
    };
    make_changes(&workspace, "Make the greeting configurable.", 10, context, ask).await
}

#[tokio::test]
async fn a_replayed_model_makes_the_same_changes_on_a_fresh_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let cassette = tmp.path().join("cassettes/make-changes.yaml");
    let a = git_repo(&tmp.path().join("a"));
    let b = git_repo(&tmp.path().join("b"));
    let original = tree(&b);

    let recorder = RecordingProvider::new(Arc::new(ScriptedModel), &cassette);
    let recorded = run_with(&recorder, &a).await.unwrap();
    assert_eq!(recorded.files_changed, ["README.md", "src/greeting/mod.rs", "src/lib.rs"]);
    assert_ne!(tree(&a), original, "the recording changed copy A");
    assert_eq!(Cassette::read(&cassette).unwrap().interactions.len(), SCRIPT.len());

    let replay = ReplayProvider::open(&cassette).unwrap();
    let replayed = run_with(&replay, &b).await.unwrap();

    assert_eq!(tree(&b), tree(&a), "copy B ends byte-identical to copy A");
    assert_eq!(replayed, recorded, "same summary, files, steps, usage and conversation");
    assert_eq!(git_status(&b), " M README.md\n M src/lib.rs\n?? src/greeting/\n");
}

#[tokio::test]
async fn a_replay_on_a_changed_repository_fails_clearly_where_the_conversation_differs() {
    let tmp = tempfile::tempdir().unwrap();
    let cassette = tmp.path().join("make-changes.yaml");
    let a = git_repo(&tmp.path().join("a"));
    let recorder = RecordingProvider::new(Arc::new(ScriptedModel), &cassette);
    run_with(&recorder, &a).await.unwrap();

    // Same files, one edited since the recording: the model read something else, so its next request is not in the cassette.
    let changed = git_repo(&tmp.path().join("changed"));
    std::fs::write(changed.join("src/lib.rs"), LIB.replace("hello", "hi")).unwrap();
    let before = tree(&changed);
    let replay = ReplayProvider::open(&cassette).unwrap();
    let failure = run_with(&replay, &changed).await.unwrap_err();

    assert!(failure.message.contains("no recorded answer for this request (model scripted-1"), "{}", failure.message);
    assert!(failure.message.contains("read src/lib.rs:") && failure.message.contains("make-changes.yaml"), "{}", failure.message);
    assert!(failure.files_changed.is_empty());
    assert_eq!(tree(&changed), before, "list and read only, before the replay stopped");
}
