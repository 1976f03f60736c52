//! The git actions against real repositories: a bare remote in a temporary
//! folder and clones of it, driven by the real `git` binary.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;
use workflow_runtime::actions::git::{self, current_branch, remote_url};
use workflow_runtime::actions::{Action, ActionFailure, ActionOutput, Actions, StepContext};
use workflow_runtime::engine::IrEngine;
use workflow_runtime::executor::{Executor, ExecutorOptions, StartOptions};
use workflow_runtime::permissions::Consent;
use workflow_runtime::store::memory::MemoryStore;
use workflow_runtime::store::{RunStatus, Store};

/// Runs git for the test's own setup and checks; panics when it fails.
fn sh(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").args(args).current_dir(dir).env("GIT_TERMINAL_PROMPT", "0").output().expect("git runs");
    assert!(out.status.success(), "git {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An identity in the repository itself: CI machines have no global one.
fn identify(repo: &Path) {
    sh(repo, &["config", "user.name", "Test"]);
    sh(repo, &["config", "user.email", "test@example.com"]);
    sh(repo, &["config", "commit.gpgsign", "false"]);
}

fn write(repo: &Path, file: &str, text: &str) {
    std::fs::write(repo.join(file), text).unwrap();
}

fn read(repo: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(repo.join(file)).ok()
}

/// A bare remote whose default branch is `default`, holding one commit, and two clones of it.
struct Repos {
    _dir: tempfile::TempDir,
    remote: PathBuf,
    a: PathBuf,
    b: PathBuf,
}

impl Repos {
    fn new(default: &str) -> Repos {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let init = format!("init.defaultBranch={default}");
        sh(root, &["-c", &init, "init", "-q", "--bare", "remote.git"]);
        sh(root, &["-c", &init, "init", "-q", "seed"]);
        let seed = root.join("seed");
        identify(&seed);
        write(&seed, "readme.txt", "hello\n");
        sh(&seed, &["add", "-A"]);
        sh(&seed, &["commit", "-q", "-m", "first"]);
        sh(&seed, &["push", "-q", "../remote.git", &format!("{default}:{default}")]);
        for clone in ["a", "b"] {
            sh(root, &["-c", &init, "clone", "-q", "remote.git", clone]);
            identify(&root.join(clone));
        }
        Repos { remote: root.join("remote.git"), a: root.join("a"), b: root.join("b"), _dir: dir }
    }

    /// The commit the remote has for `branch`.
    fn remote_sha(&self, branch: &str) -> String {
        sh(&self.remote, &["rev-parse", &format!("refs/heads/{branch}")])
    }

    /// Commits `file` in clone `repo` and pushes it to the remote's `branch`.
    fn push_change(&self, repo: &Path, branch: &str, file: &str, text: &str) -> String {
        write(repo, file, text);
        sh(repo, &["add", "-A"]);
        sh(repo, &["commit", "-q", "-m", &format!("change {file}")]);
        sh(repo, &["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")]);
        sh(repo, &["rev-parse", "HEAD"])
    }
}

fn head(repo: &Path) -> String {
    sh(repo, &["rev-parse", "HEAD"])
}

fn ctx(repo: &Path, step: &str, params: Value) -> StepContext {
    StepContext {
        run_id: "run-1".into(),
        step_id: step.into(),
        action: step.into(),
        params: params.as_object().cloned().unwrap_or_default(),
        command_refs: Vec::new(),
        variables: Default::default(),
        cwd: repo.to_path_buf(),
        attempt: 1,
        run: Default::default(),
    }
}

async fn run(action: &dyn Action, repo: &Path, params: Value) -> Result<ActionOutput, ActionFailure> {
    action.run(&ctx(repo, "step", params)).await
}

async fn ok(action: &dyn Action, repo: &Path, params: Value) -> Value {
    run(action, repo, params).await.unwrap_or_else(|f| panic!("{}", f.message)).output
}

async fn fails(action: &dyn Action, repo: &Path, params: Value) -> ActionFailure {
    match run(action, repo, params).await {
        Ok(out) => panic!("expected a failure, got {:?}", out.output),
        Err(failure) => failure,
    }
}

#[tokio::test]
async fn commit_records_every_change_with_the_message() {
    let r = Repos::new("main");
    write(&r.a, "readme.txt", "changed\n");
    write(&r.a, "new file.txt", "new\n");
    let out = ok(&git::Commit, &r.a, json!({ "message": "update the docs" })).await;
    assert_eq!(out["committed"], json!(true));
    assert_eq!(out["sha"], json!(head(&r.a)));
    assert_eq!(out["files"], json!(["new file.txt", "readme.txt"]));
    assert_eq!(sh(&r.a, &["log", "-1", "--format=%s"]), "update the docs");
    assert_eq!(sh(&r.a, &["show", "--format=", "--name-only", "-z", "HEAD"]), "new file.txt\0readme.txt\0");
    assert_eq!(sh(&r.a, &["status", "--porcelain"]), "", "everything was committed");
}

#[tokio::test]
async fn commit_with_add_commits_only_the_named_paths() {
    let r = Repos::new("main");
    write(&r.a, "one.txt", "1\n");
    write(&r.a, "two.txt", "2\n");
    // Staged by someone else before the step: not the step's to commit.
    write(&r.a, "three.txt", "3\n");
    sh(&r.a, &["add", "three.txt"]);
    let out = ok(&git::Commit, &r.a, json!({ "add": "one.txt" })).await;
    assert_eq!(out["files"], json!(["one.txt"]));
    assert_eq!(sh(&r.a, &["show", "--format=", "--name-only", "HEAD"]), "one.txt");
    assert_eq!(sh(&r.a, &["log", "-1", "--format=%s"]), "workflow: changes from step step", "the default message names the step");
    assert_eq!(sh(&r.a, &["status", "--porcelain"]), "A  three.txt\n?? two.txt");

    sh(&r.a, &["rm", "-q", "readme.txt"]);
    sh(&r.a, &["reset", "-q"]);
    let out = ok(&git::Commit, &r.a, json!({ "add": ["readme.txt", "two.txt"] })).await;
    assert_eq!(out["files"], json!(["readme.txt", "two.txt"]), "a deletion is committed too");
    assert!(sh(&r.a, &["ls-files"]).lines().all(|f| f != "readme.txt"));
}

#[tokio::test]
async fn commit_with_nothing_to_commit_succeeds_without_a_commit() {
    let r = Repos::new("main");
    let before = head(&r.a);
    let out = ok(&git::Commit, &r.a, json!({ "message": "review fixes" })).await;
    assert_eq!(out, json!({ "sha": before, "files": [], "committed": false }));
    assert_eq!(head(&r.a), before);
    assert_eq!(sh(&r.a, &["rev-list", "--count", "HEAD"]), "1");
}

#[tokio::test]
async fn commit_in_a_fresh_repository_makes_the_first_commit() {
    let dir = tempfile::tempdir().unwrap();
    sh(dir.path(), &["-c", "init.defaultBranch=trunk", "init", "-q", "fresh"]);
    let repo = dir.path().join("fresh");
    identify(&repo);
    let out = ok(&git::Commit, &repo, json!({})).await;
    assert_eq!(out, json!({ "sha": "", "files": [], "committed": false }), "no HEAD and nothing to commit");

    write(&repo, "a.txt", "a\n");
    let out = ok(&git::Commit, &repo, json!({ "message": "start" })).await;
    assert_eq!(out["committed"], json!(true));
    assert_eq!(out["files"], json!(["a.txt"]));
    assert_eq!(out["sha"], json!(head(&repo)));
    assert_eq!(sh(&repo, &["log", "--format=%s"]), "start");
}

#[tokio::test]
async fn push_sends_a_new_branch_and_sets_its_upstream() {
    let r = Repos::new("main");
    sh(&r.a, &["checkout", "-q", "-b", "feature"]);
    write(&r.a, "f.txt", "f\n");
    let sha = ok(&git::Commit, &r.a, json!({})).await["sha"].clone();
    let out = ok(&git::Push, &r.a, json!({})).await;
    assert_eq!(out, json!({ "remote": "origin", "branch": "feature", "sha": sha }));
    assert_eq!(json!(r.remote_sha("feature")), sha);
    assert_eq!(sh(&r.a, &["config", "branch.feature.remote"]), "origin");
    assert_eq!(sh(&r.a, &["config", "branch.feature.merge"]), "refs/heads/feature");
    // Pushing again what is already pushed is no error (a step may run twice).
    assert_eq!(ok(&git::Push, &r.a, json!({})).await, out);
}

#[tokio::test]
async fn push_defaults_to_the_branch_upstream_remote() {
    let r = Repos::new("main");
    // No `origin` at all: only the upstream's remote can be right.
    sh(&r.a, &["remote", "rename", "origin", "upstream"]);
    write(&r.a, "u.txt", "u\n");
    let sha = ok(&git::Commit, &r.a, json!({})).await["sha"].clone();
    let out = ok(&git::Push, &r.a, json!({})).await;
    assert_eq!(out["remote"], json!("upstream"));
    assert_eq!(json!(r.remote_sha("main")), sha);
    assert_eq!(remote_url(&r.a, "upstream").await.unwrap(), r.remote.to_str().unwrap());
    let failure = remote_url(&r.a, "origin").await.unwrap_err();
    assert!(failure.message.contains("git remote get-url") && failure.message.contains("origin"), "{}", failure.message);
}

#[tokio::test]
async fn push_force_replaces_rewritten_history_but_respects_the_lease() {
    let r = Repos::new("main");
    sh(&r.a, &["commit", "-q", "--amend", "-m", "first, reworded"]);
    let failure = fails(&git::Push, &r.a, json!({})).await;
    assert!(failure.message.contains("git push"), "{}", failure.message);
    assert!(failure.output["exit_code"].as_i64().unwrap() > 0 && failure.output["stderr"].as_str().unwrap().contains("rejected"));
    let out = ok(&git::Push, &r.a, json!({ "force": true })).await;
    assert_eq!(r.remote_sha("main"), head(&r.a));
    assert_eq!(out["sha"], json!(head(&r.a)));

    // Someone else pushes; this clone has not seen it, so even a forced push must not erase it.
    sh(&r.b, &["fetch", "-q"]);
    sh(&r.b, &["reset", "-q", "--hard", "origin/main"]);
    let theirs = r.push_change(&r.b, "main", "theirs.txt", "theirs\n");
    sh(&r.a, &["commit", "-q", "--amend", "-m", "first, reworded again"]);
    let failure = fails(&git::Push, &r.a, json!({ "force": "true" })).await;
    assert!(failure.message.contains("--force-with-lease"), "{}", failure.message);
    assert_eq!(r.remote_sha("main"), theirs, "the other clone's commit survived");
}

#[tokio::test]
async fn push_on_a_detached_head_is_a_clear_error() {
    let r = Repos::new("main");
    sh(&r.a, &["checkout", "-q", "--detach"]);
    let failure = fails(&git::Push, &r.a, json!({})).await;
    assert!(failure.message.contains("detached") && failure.message.contains("branch:"), "{}", failure.message);
    assert!(current_branch(&r.a).await.is_err());
    sh(&r.a, &["checkout", "-q", "main"]);
    assert_eq!(current_branch(&r.a).await.unwrap(), "main");
}

#[tokio::test]
async fn pull_brings_in_a_commit_pushed_from_another_clone() {
    let r = Repos::new("main");
    let theirs = r.push_change(&r.b, "main", "from-b.txt", "b\n");
    let out = ok(&git::Pull, &r.a, json!({})).await;
    assert_eq!(out, json!({ "sha": theirs, "updated": true }));
    assert_eq!(head(&r.a), theirs);
    assert_eq!(read(&r.a, "from-b.txt").as_deref(), Some("b\n"));
    let again = ok(&git::Pull, &r.a, json!({ "remote": "origin", "branch": "main" })).await;
    assert_eq!(again, json!({ "sha": theirs, "updated": false }));
}

#[tokio::test]
async fn a_diverged_pull_fails_clearly_and_changes_nothing() {
    let r = Repos::new("main");
    r.push_change(&r.b, "main", "from-b.txt", "b\n");
    write(&r.a, "mine.txt", "mine\n");
    ok(&git::Commit, &r.a, json!({ "message": "mine" })).await;
    let before = head(&r.a);
    let failure = fails(&git::Pull, &r.a, json!({})).await;
    assert!(failure.message.contains("diverged"), "{}", failure.message);
    assert!(failure.message.contains("git pull --rebase origin main"), "says what to do: {}", failure.message);
    assert_eq!(head(&r.a), before);
    assert_eq!(sh(&r.a, &["rev-list", "--merges", "--count", "HEAD"]), "0", "no merge commit");
    assert_eq!(read(&r.a, "from-b.txt"), None);
    assert_eq!(sh(&r.a, &["status", "--porcelain"]), "");
}

#[tokio::test]
async fn sync_checks_out_and_fast_forwards_the_remote_default_branch() {
    // `trunk`, not `main`: the default must come from the remote.
    let r = Repos::new("trunk");
    sh(&r.a, &["checkout", "-q", "-b", "feature"]);
    let theirs = r.push_change(&r.b, "trunk", "from-b.txt", "b\n");
    let out = ok(&git::Sync, &r.a, json!({})).await;
    assert_eq!(out, json!({ "branch": "trunk", "sha": theirs }));
    assert_eq!(current_branch(&r.a).await.unwrap(), "trunk");
    assert_eq!(head(&r.a), theirs);
    assert_eq!(read(&r.a, "from-b.txt").as_deref(), Some("b\n"));
}

#[tokio::test]
async fn sync_asks_the_remote_for_its_default_branch_when_no_clone_recorded_it() {
    let r = Repos::new("trunk");
    sh(&r.a, &["remote", "set-head", "origin", "--delete"]);
    sh(&r.a, &["checkout", "-q", "-b", "feature"]);
    let theirs = r.push_change(&r.b, "trunk", "from-b.txt", "b\n");
    let out = ok(&git::Sync, &r.a, json!({})).await;
    assert_eq!(out, json!({ "branch": "trunk", "sha": theirs }));
    assert_eq!(current_branch(&r.a).await.unwrap(), "trunk");

    // A remote whose HEAD names no branch it has: only `branch:` can say.
    sh(&r.remote, &["symbolic-ref", "HEAD", "refs/heads/nothing"]);
    let failure = fails(&git::Sync, &r.a, json!({ "remote": "origin" })).await;
    assert!(failure.message.contains("default branch") && failure.message.contains("`branch:`"), "{}", failure.message);
}

#[tokio::test]
async fn sync_creates_a_tracking_branch_for_a_branch_only_on_the_remote() {
    let r = Repos::new("trunk");
    let release = r.push_change(&r.b, "release", "r.txt", "r\n");
    let out = ok(&git::Sync, &r.a, json!({ "branch": "release" })).await;
    assert_eq!(out, json!({ "branch": "release", "sha": release }));
    assert_eq!(current_branch(&r.a).await.unwrap(), "release");
    assert_eq!(sh(&r.a, &["config", "branch.release.remote"]), "origin");
    assert_eq!(sh(&r.a, &["config", "branch.release.merge"]), "refs/heads/release");

    // Later syncs fast-forward the branch they created.
    sh(&r.a, &["checkout", "-q", "trunk"]);
    let newer = r.push_change(&r.b, "release", "r2.txt", "r2\n");
    let out = ok(&git::Sync, &r.a, json!({ "branch": "release" })).await;
    assert_eq!(out, json!({ "branch": "release", "sha": newer }));
    assert_eq!(head(&r.a), newer);
}

#[tokio::test]
async fn sync_refuses_to_switch_with_uncommitted_changes_and_loses_nothing() {
    let r = Repos::new("trunk");
    sh(&r.a, &["checkout", "-q", "-b", "feature"]);
    let feature = head(&r.a);
    r.push_change(&r.b, "trunk", "readme.txt", "theirs\n");
    write(&r.a, "readme.txt", "my edit\n");
    write(&r.a, "notes.txt", "my notes\n");
    let failure = fails(&git::Sync, &r.a, json!({})).await;
    assert!(failure.message.contains("uncommitted") && failure.message.contains("readme.txt"), "{}", failure.message);
    assert_eq!(current_branch(&r.a).await.unwrap(), "feature");
    assert_eq!(head(&r.a), feature);
    assert_eq!(read(&r.a, "readme.txt").as_deref(), Some("my edit\n"));
    assert_eq!(read(&r.a, "notes.txt").as_deref(), Some("my notes\n"));
}

#[tokio::test]
async fn a_diverged_sync_fails_before_switching_branches() {
    let r = Repos::new("trunk");
    write(&r.a, "mine.txt", "mine\n");
    ok(&git::Commit, &r.a, json!({})).await;
    let mine = head(&r.a);
    sh(&r.a, &["checkout", "-q", "-b", "feature"]);
    r.push_change(&r.b, "trunk", "from-b.txt", "b\n");
    let failure = fails(&git::Sync, &r.a, json!({ "branch": "trunk" })).await;
    assert!(failure.message.contains("diverged"), "{}", failure.message);
    assert_eq!(current_branch(&r.a).await.unwrap(), "feature");
    assert_eq!(sh(&r.a, &["rev-parse", "trunk"]), mine);
}

#[tokio::test]
async fn commit_push_converges_when_run_again() {
    let r = Repos::new("main");
    write(&r.a, "a.txt", "a\n");
    let out = ok(&git::CommitPush, &r.a, json!({ "message": "add a" })).await;
    let sha = head(&r.a);
    assert_eq!(out, json!({ "sha": sha, "files": ["a.txt"], "committed": true, "remote": "origin", "branch": "main" }));
    assert_eq!(r.remote_sha("main"), sha);
    let again = ok(&git::CommitPush, &r.a, json!({ "message": "add a" })).await;
    assert_eq!(again, json!({ "sha": sha, "files": [], "committed": false, "remote": "origin", "branch": "main" }));
    assert_eq!(sh(&r.a, &["rev-list", "--count", "HEAD"]), "2", "no second commit");

    // An earlier attempt committed and then died before pushing: the re-run pushes it.
    write(&r.a, "b.txt", "b\n");
    ok(&git::Commit, &r.a, json!({ "message": "add b" })).await;
    let out = ok(&git::CommitPush, &r.a, json!({ "message": "add b" })).await;
    assert_eq!(out["committed"], json!(false));
    assert_eq!(r.remote_sha("main"), head(&r.a));
}

#[tokio::test]
async fn commit_push_refuses_to_push_a_branch_it_did_not_commit_on() {
    let r = Repos::new("main");
    write(&r.a, "a.txt", "a\n");
    let failure = fails(&git::CommitPush, &r.a, json!({ "branch": "feature" })).await;
    assert!(failure.message.contains("`main`") && failure.message.contains("`feature`"), "{}", failure.message);
    assert_eq!(sh(&r.a, &["rev-list", "--count", "HEAD"]), "1", "nothing was committed");
}

#[tokio::test]
async fn a_failed_git_command_names_itself_and_carries_stderr() {
    let r = Repos::new("main");
    assert_eq!(git::git(&r.a, &["rev-parse", "--abbrev-ref", "HEAD"]).await.unwrap(), "main", "stdout is trimmed");
    let failure = git::git(&r.a, &["rev-parse", "--verify", "no-such-branch"]).await.unwrap_err();
    assert!(failure.message.starts_with("`git rev-parse --verify no-such-branch` failed (exit code 128): fatal:"), "{}", failure.message);
    assert_eq!(failure.output["exit_code"], json!(128));
    assert!(failure.output["stderr"].as_str().unwrap().contains("fatal"));
}

#[tokio::test]
async fn a_yaml_workflow_syncs_commits_and_pushes_through_the_executor() {
    let r = Repos::new("trunk");
    sh(&r.a, &["checkout", "-q", "-b", "work"]);
    let theirs = r.push_change(&r.b, "trunk", "from-b.txt", "b\n");
    let yaml = r#"
name: ship
variables:
  what: "the report"
steps:
  - id: start
    action: sync
  - id: edit
    action: shell
    command: "echo done > report.txt"
  - id: save
    action: commit-push
    message: "add ${what}"
    add: report.txt
  - id: note
    action: shell
    command: "echo ${steps.save.sha} > ../pushed-sha.txt"
"#;
    let compiled = compile_sources(&[Source::new("ship.yaml", yaml)], &ReadOptions::default()).unwrap_or_else(|d| panic!("{}", d.render()));
    let ir = Arc::new(compiled.into_iter().next().unwrap().ir);
    let mut actions = Actions::builtin();
    actions.register("commit", git::Commit);
    actions.register("push", git::Push);
    actions.register("pull", git::Pull);
    actions.register("sync", git::Sync);
    actions.register("commit-push", git::CommitPush);
    let options = ExecutorOptions { cwd: r.a.clone(), operator: "test".into(), consent: Consent::granted(), ..ExecutorOptions::default() };
    let ex = Executor::new(Arc::new(MemoryStore::new()), actions, options);
    let report = ex.start(Box::new(IrEngine::new(ir)), StartOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");

    let sha = head(&r.a);
    assert_eq!(current_branch(&r.a).await.unwrap(), "trunk");
    assert_eq!(sh(&r.a, &["rev-parse", "HEAD~1"]), theirs, "committed on top of the synced branch");
    assert_eq!(sh(&r.a, &["log", "-1", "--format=%s"]), "add the report");
    assert_eq!(sh(&r.a, &["show", "--format=", "--name-only", "HEAD"]), "report.txt");
    assert_eq!(r.remote_sha("trunk"), sha);
    assert_eq!(read(r.a.parent().unwrap(), "pushed-sha.txt").as_deref().map(str::trim), Some(sha.as_str()), "later steps read the sha");
    let events = ex.store().events(&report.run_id).unwrap();
    let save = events.iter().find(|e| e.step_id == "save").expect("save recorded");
    assert_eq!(save.output["branch"], json!("trunk"));
    assert_eq!(save.output["committed"], json!(true));
}
