//! The git actions (`commit`, `push`, `pull`, `sync`, `commit-push`), run
//! with the `git` binary in the run's directory.
//!
//! A run is unattended: git gets no stdin and `GIT_TERMINAL_PROMPT=0`, so a
//! missing credential fails the step instead of waiting for someone to type
//! it. History is never rewritten or merged behind the user's back: `pull`
//! and `sync` only fast-forward, and `force: true` is `--force-with-lease`.
//! Steps may be run again after a crash, so each action converges: a commit
//! with nothing to commit and a push of what is already pushed succeed.
//!
//! Defaults: `remote` is the branch's upstream remote, else `origin`;
//! `branch` is the current branch (for `sync`, the remote's default branch).

use super::{Action, ActionFailure, ActionOutput, ActionResult, StepContext};
use serde_json::{json, Map, Value};
use std::path::Path;

/// The `commit` action.
pub struct Commit;

/// The `push` action.
pub struct Push;

/// The `pull` action.
pub struct Pull;

/// The `sync` action.
pub struct Sync;

/// The `commit-push` action.
pub struct CommitPush;

impl Action for Commit {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async move { commit(ctx).await.map(|out| ActionOutput::new(Value::Object(out))) })
    }
}

impl Action for Push {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async move { push(ctx).await.map(|out| ActionOutput::new(Value::Object(out))) })
    }
}

impl Action for Pull {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async move { pull(ctx).await.map(|out| ActionOutput::new(Value::Object(out))) })
    }
}

impl Action for Sync {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async move { sync(ctx).await.map(|out| ActionOutput::new(Value::Object(out))) })
    }
}

impl Action for CommitPush {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async move { commit_push(ctx).await.map(|out| ActionOutput::new(Value::Object(out))) })
    }
}

/// Runs `git ARGS` in `cwd` and returns its trimmed stdout; a failure names the command and carries git's stderr.
pub async fn git(cwd: &Path, args: &[&str]) -> Result<String, ActionFailure> {
    let ran = run(cwd, args).await?;
    if ran.code == 0 {
        Ok(ran.stdout.trim().to_string())
    } else {
        Err(ran.failure(args))
    }
}

/// The branch HEAD is on (also when it has no commits yet); a detached HEAD is an error.
pub async fn current_branch(cwd: &Path) -> Result<String, ActionFailure> {
    if let Some(branch) = head_branch(cwd).await? {
        return Ok(branch);
    }
    let at = head_sha(cwd).await?.map(|sha| sha.chars().take(12).collect::<String>()).unwrap_or_default();
    Err(ActionFailure::new(format!("git HEAD is detached (at {at}), so there is no current branch: check out a branch, or name one with `branch:`")))
}

/// The URL `git` fetches `remote` from.
pub async fn remote_url(cwd: &Path, remote: &str) -> Result<String, ActionFailure> {
    git(cwd, &["remote", "get-url", "--", remote]).await
}

/// What a git command did.
struct Ran {
    code: i64,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn failure(&self, args: &[&str]) -> ActionFailure {
        // Hooks (pre-commit, say) often report on stdout only.
        let said = if self.stderr.trim().is_empty() { self.stdout.trim() } else { self.stderr.trim() };
        let why = if self.code < 0 { "was killed by a signal".to_string() } else { format!("failed (exit code {})", self.code) };
        ActionFailure {
            message: format!("`{}` {why}{}", command_line(args), if said.is_empty() { String::new() } else { format!(": {said}") }),
            output: json!({ "stderr": self.stderr, "exit_code": self.code }),
        }
    }
}

async fn run(cwd: &Path, args: &[&str]) -> Result<Ran, ActionFailure> {
    let mut cmd = crate::step_processes::program_command("git");
    cmd.args(args).current_dir(cwd).env("GIT_TERMINAL_PROMPT", "0").env("GCM_INTERACTIVE", "never");
    // In a process group of its own: a step that times out takes git's ssh and hooks with it.
    let out = crate::step_processes::output(cmd, None).await.map_err(|e| ActionFailure::new(format!("cannot start `git` in {}: {e}", cwd.display())))?;
    Ok(Ran {
        code: out.status.code().map_or(-1, i64::from),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// For git commands that answer "no" with exit code 1 (`config --get`,
/// `diff --quiet`, `rev-parse --verify -q`): `None` then; other failures are errors.
async fn git_maybe(cwd: &Path, args: &[&str]) -> Result<Option<String>, ActionFailure> {
    let ran = run(cwd, args).await?;
    match ran.code {
        0 => Ok(Some(ran.stdout.trim().to_string())),
        1 => Ok(None),
        _ => Err(ran.failure(args)),
    }
}

/// `git ARGS` as a person would type it, long arguments (commit messages) cut short.
fn command_line(args: &[&str]) -> String {
    let mut line = String::from("git");
    for arg in args {
        let arg = if arg.chars().count() > 60 { format!("{}…", arg.chars().take(57).collect::<String>()) } else { arg.to_string() };
        line.push(' ');
        if arg.is_empty() || arg.contains(char::is_whitespace) {
            line.push_str(&format!("{arg:?}"));
        } else {
            line.push_str(&arg);
        }
    }
    line
}

/// The branch HEAD points at, or `None` when detached.
async fn head_branch(cwd: &Path) -> Result<Option<String>, ActionFailure> {
    git_maybe(cwd, &["symbolic-ref", "--short", "-q", "HEAD"]).await
}

/// The commit HEAD is at, or `None` before the first commit.
async fn head_sha(cwd: &Path) -> Result<Option<String>, ActionFailure> {
    commit_of(cwd, "HEAD").await
}

/// The commit `rev` names, or `None` when it names none.
async fn commit_of(cwd: &Path, rev: &str) -> Result<Option<String>, ActionFailure> {
    git_maybe(cwd, &["rev-parse", "--verify", "-q", &format!("{rev}^{{commit}}")]).await
}

/// A text field, absent when empty (an interpolated variable that was empty means "use the default").
fn param<'a>(ctx: &'a StepContext, key: &str) -> Option<&'a str> {
    ctx.text(key).map(str::trim).filter(|s| !s.is_empty())
}

fn flag(ctx: &StepContext, key: &str) -> Result<bool, ActionFailure> {
    match ctx.params.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        // An interpolated `${..}` arrives as text.
        Some(Value::String(s)) if s.trim() == "true" => Ok(true),
        Some(Value::String(s)) if s.trim() == "false" || s.trim().is_empty() => Ok(false),
        Some(other) => Err(ActionFailure::new(format!("`{key}:` must be true or false, not {other}"))),
    }
}

/// `add:` as a list of paths (a single string is a one-item list).
fn paths(ctx: &StepContext) -> Result<Vec<String>, ActionFailure> {
    let list = match ctx.params.get("add") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => {
            items.iter().map(|v| v.as_str().ok_or_else(|| ActionFailure::new(format!("`add:` must list paths, not {v}")))).collect::<Result<_, _>>()?
        }
        Some(other) => return Err(ActionFailure::new(format!("`add:` must be a path or a list of paths, not {other}"))),
    };
    Ok(list.into_iter().map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
}

/// The remote `branch` pushes to and pulls from when the step names none.
async fn default_remote(cwd: &Path, branch: Option<&str>) -> Result<String, ActionFailure> {
    let upstream = match branch {
        Some(branch) => git_maybe(cwd, &["config", "--get", &format!("branch.{branch}.remote")]).await?,
        None => None,
    };
    // "." is a local upstream: there is no remote to talk to, so fall back.
    Ok(upstream.filter(|r| !r.is_empty() && r != ".").unwrap_or_else(|| "origin".to_string()))
}

/// The remote and branch `push` uses for these fields: by default the current branch and its upstream remote, else `origin`.
pub async fn push_target(cwd: &Path, remote: Option<&str>, branch: Option<&str>) -> Result<(String, String), ActionFailure> {
    let branch = match branch.map(str::trim).filter(|b| !b.is_empty()) {
        Some(branch) => branch.to_string(),
        None => current_branch(cwd).await?,
    };
    let remote = match remote.map(str::trim).filter(|r| !r.is_empty()) {
        Some(remote) => remote.to_string(),
        None => default_remote(cwd, Some(&branch)).await?,
    };
    Ok((remote, branch))
}

/// The remote and branch of `push`, `pull` and `commit-push`.
async fn remote_and_branch(ctx: &StepContext) -> Result<(String, String), ActionFailure> {
    push_target(&ctx.cwd, param(ctx, "remote"), param(ctx, "branch")).await
}

async fn commit(ctx: &StepContext) -> Result<Map<String, Value>, ActionFailure> {
    let cwd = &ctx.cwd;
    let paths = paths(ctx)?;
    let message = param(ctx, "message").map(String::from).unwrap_or_else(|| format!("workflow: changes from step {}", ctx.step_id));
    let with_paths = |head: &[&'static str]| -> Vec<String> { head.iter().map(|s| s.to_string()).chain(paths.iter().cloned()).collect() };

    // `-A` with paths stages their deletions too.
    let add = if paths.is_empty() { vec!["add".to_string(), "-A".to_string()] } else { with_paths(&["add", "-A", "--"]) };
    git(cwd, &as_strs(&add)).await?;
    let nothing_staged = git_maybe(cwd, &as_strs(&with_paths(&["diff", "--cached", "--quiet", "--"]))).await?.is_some();
    if nothing_staged {
        let sha = head_sha(cwd).await?.unwrap_or_default();
        return Ok(object(json!({ "sha": sha, "files": [], "committed": false })));
    }

    // With paths, commit only those: whatever else was staged is not this step's to commit.
    let mut args = vec!["commit".to_string(), "-q".to_string(), "-m".to_string(), message];
    if !paths.is_empty() {
        args.extend(with_paths(&["--only", "--"]));
    }
    git(cwd, &as_strs(&args)).await?;
    let sha = git(cwd, &["rev-parse", "HEAD"]).await?;
    // `-z`: paths exactly as stored, not C-quoted; `--root`: the first commit lists its files too.
    const LIST: &[&str] = &["diff-tree", "-z", "-r", "--root", "--no-commit-id", "--name-only", "HEAD"];
    let listed = run(cwd, LIST).await?;
    if listed.code != 0 {
        return Err(listed.failure(LIST));
    }
    let files: Vec<&str> = listed.stdout.split('\0').filter(|f| !f.is_empty()).collect();
    Ok(object(json!({ "sha": sha, "files": files, "committed": true })))
}

async fn push(ctx: &StepContext) -> Result<Map<String, Value>, ActionFailure> {
    let (remote, branch) = remote_and_branch(ctx).await?;
    push_branch(&ctx.cwd, &remote, &branch, flag(ctx, "force")?).await
}

async fn push_branch(cwd: &Path, remote: &str, branch: &str, force: bool) -> Result<Map<String, Value>, ActionFailure> {
    let local = format!("refs/heads/{branch}");
    let sha = commit_of(cwd, &local)
        .await?
        .ok_or_else(|| ActionFailure::new(format!("cannot push `{branch}`: there is no local branch of that name with a commit on it")))?;
    let mut args = vec!["push"];
    if git_maybe(cwd, &["config", "--get", &format!("branch.{branch}.merge")]).await?.is_none() {
        args.push("-u");
    }
    // The lease refuses to overwrite remote commits this clone has not seen.
    if force {
        args.push("--force-with-lease");
    }
    // Full ref names: a tag called like the branch must not be pushed instead.
    let refspec = format!("{local}:{local}");
    args.extend(["--", remote, refspec.as_str()]);
    git(cwd, &args).await?;
    Ok(object(json!({ "remote": remote, "branch": branch, "sha": sha })))
}

async fn pull(ctx: &StepContext) -> Result<Map<String, Value>, ActionFailure> {
    let cwd = &ctx.cwd;
    let (remote, branch) = remote_and_branch(ctx).await?;
    let theirs = fetch(cwd, &remote, &branch).await?;
    let before = head_sha(cwd).await?;
    let ours = match &before {
        Some(sha) => sha.clone(),
        None => {
            git(cwd, &["merge", "--ff-only", "-q", &theirs]).await?;
            return Ok(object(json!({ "sha": theirs, "updated": true })));
        }
    };
    let here = head_branch(cwd).await?.unwrap_or_else(|| "HEAD".to_string());
    let updated = match relation(cwd, &ours, &theirs).await? {
        Relation::Same | Relation::Ahead => false,
        Relation::Behind => {
            git(cwd, &["merge", "--ff-only", "-q", &theirs]).await?;
            true
        }
        Relation::Diverged { ours: mine, theirs: new } => return Err(diverged("pull", &here, &remote, &branch, mine, new)),
    };
    let sha = git(cwd, &["rev-parse", "HEAD"]).await?;
    Ok(object(json!({ "sha": sha, "updated": updated })))
}

async fn sync(ctx: &StepContext) -> Result<Map<String, Value>, ActionFailure> {
    let cwd = &ctx.cwd;
    let head = head_branch(cwd).await?;
    let remote = match param(ctx, "remote") {
        Some(remote) => remote.to_string(),
        None => default_remote(cwd, head.as_deref()).await?,
    };
    let branch = match param(ctx, "branch") {
        Some(branch) => branch.to_string(),
        None => default_branch(cwd, &remote).await?,
    };
    let switching = head.as_deref() != Some(branch.as_str());
    if switching {
        refuse_uncommitted(cwd, &branch).await?;
    }
    let theirs = fetch(cwd, &remote, &branch).await?;
    let local = format!("refs/heads/{branch}");
    match commit_of(cwd, &local).await? {
        None if switching => {
            git(cwd, &["checkout", "-q", "--no-track", "-b", &branch, &theirs, "--"]).await?;
            track(cwd, &remote, &branch).await?;
        }
        // The current branch, before its first commit.
        None => {
            git(cwd, &["merge", "--ff-only", "-q", &theirs]).await?;
            track(cwd, &remote, &branch).await?;
        }
        Some(ours) => {
            // Decided before switching, so a refusal leaves the checkout as it was.
            let relation = relation(cwd, &ours, &theirs).await?;
            if let Relation::Diverged { ours: mine, theirs: new } = relation {
                return Err(diverged("sync", &branch, &remote, &branch, mine, new));
            }
            if switching {
                git(cwd, &["checkout", "-q", &branch, "--"]).await?;
            }
            if relation == Relation::Behind {
                git(cwd, &["merge", "--ff-only", "-q", &theirs]).await?;
            }
        }
    }
    let sha = git(cwd, &["rev-parse", "HEAD"]).await?;
    Ok(object(json!({ "branch": branch, "sha": sha })))
}

async fn commit_push(ctx: &StepContext) -> Result<Map<String, Value>, ActionFailure> {
    // Settled before committing, so a step that cannot push changes nothing.
    let (remote, branch) = remote_and_branch(ctx).await?;
    let here = current_branch(&ctx.cwd).await?;
    if here != branch {
        // The commit lands on the current branch; pushing another one would leave it behind.
        return Err(ActionFailure::new(format!(
            "commit-push would commit on `{here}` but push `{branch}`: check out `{branch}` first (a `sync` step), or drop `branch:`"
        )));
    }
    let mut out = commit(ctx).await?;
    match push_branch(&ctx.cwd, &remote, &branch, false).await {
        Ok(pushed) => {
            out.insert("remote".into(), pushed["remote"].clone());
            out.insert("branch".into(), pushed["branch"].clone());
            Ok(out)
        }
        Err(mut failure) => {
            if out["committed"] == json!(true) {
                failure.message = format!("committed {} but did not push it: {}", out["sha"].as_str().unwrap_or_default(), failure.message);
            }
            if let Value::Object(pushed) = failure.output {
                out.extend(pushed);
            }
            failure.output = Value::Object(out);
            Err(failure)
        }
    }
}

/// Fetches `branch` of `remote` and returns the commit it is at.
async fn fetch(cwd: &Path, remote: &str, branch: &str) -> Result<String, ActionFailure> {
    git(cwd, &["fetch", "-q", "--", remote, &format!("refs/heads/{branch}")]).await?;
    git(cwd, &["rev-parse", "--verify", "FETCH_HEAD^{commit}"]).await
}

/// Makes a new local `branch` track `remote` the way `git checkout --track` would.
async fn track(cwd: &Path, remote: &str, branch: &str) -> Result<(), ActionFailure> {
    git(cwd, &["config", &format!("branch.{branch}.remote"), remote]).await?;
    git(cwd, &["config", &format!("branch.{branch}.merge"), &format!("refs/heads/{branch}")]).await?;
    Ok(())
}

/// The remote's default branch: as last recorded locally, else as the remote says now.
async fn default_branch(cwd: &Path, remote: &str) -> Result<String, ActionFailure> {
    let recorded = run(cwd, &["symbolic-ref", "--short", "-q", &format!("refs/remotes/{remote}/HEAD")]).await?;
    if recorded.code == 0 {
        if let Some(branch) = recorded.stdout.trim().strip_prefix(&format!("{remote}/")) {
            return Ok(branch.to_string());
        }
    }
    let asked = run(cwd, &["ls-remote", "--symref", "--", remote, "HEAD"]).await?;
    let told = asked.stdout.lines().find_map(|line| line.strip_prefix("ref: refs/heads/")?.strip_suffix("\tHEAD"));
    match told {
        Some(branch) if asked.code == 0 => Ok(branch.to_string()),
        _ => {
            let why = if asked.code == 0 { "it does not say".to_string() } else { asked.failure(&["ls-remote", "--symref", "--", remote, "HEAD"]).message };
            Err(ActionFailure::new(format!("cannot tell the default branch of remote `{remote}` ({why}): set `branch:` on the step")))
        }
    }
}

/// Switching branches would carry these changes along or clobber them; the user decides.
async fn refuse_uncommitted(cwd: &Path, branch: &str) -> Result<(), ActionFailure> {
    let status = run(cwd, &["status", "--porcelain"]).await?;
    if status.code != 0 {
        return Err(status.failure(&["status", "--porcelain"]));
    }
    let changes: Vec<&str> = status.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    if changes.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = changes.iter().take(10).copied().collect();
    let more = if changes.len() > shown.len() { format!("\n  … and {} more", changes.len() - shown.len()) } else { String::new() };
    Err(ActionFailure {
        message: format!(
            "cannot switch to `{branch}`: the work tree has uncommitted changes; commit or stash them, then run again (nothing was changed):\n  {}{more}",
            shown.join("\n  ")
        ),
        output: json!({ "uncommitted": changes }),
    })
}

/// Where our commit stands against theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Relation {
    Same,
    /// Theirs has commits ours lacks, and not the other way: a fast-forward.
    Behind,
    /// Ours has commits theirs lacks, and not the other way: nothing to bring in.
    Ahead,
    /// Both have commits the other lacks (how many each).
    Diverged {
        ours: u64,
        theirs: u64,
    },
}

async fn relation(cwd: &Path, ours: &str, theirs: &str) -> Result<Relation, ActionFailure> {
    let counts = git(cwd, &["rev-list", "--left-right", "--count", &format!("{ours}...{theirs}")]).await?;
    let mut numbers = counts.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(ours)), Some(Ok(theirs))) = (numbers.next(), numbers.next()) else {
        return Err(ActionFailure::new(format!("cannot read `git rev-list --left-right --count`: {counts:?}")));
    };
    Ok(match (ours, theirs) {
        (0, 0) => Relation::Same,
        (0, _) => Relation::Behind,
        (_, 0) => Relation::Ahead,
        (ours, theirs) => Relation::Diverged { ours, theirs },
    })
}

fn diverged(action: &str, local: &str, remote: &str, branch: &str, ours: u64, theirs: u64) -> ActionFailure {
    let plural = |n: u64| if n == 1 { "commit" } else { "commits" };
    ActionFailure::new(format!(
        "{action} cannot fast-forward: `{local}` and `{remote}/{branch}` have diverged ({ours} local {} not on the remote, {theirs} remote {} not here), \
         and {action} never makes a merge commit; nothing was changed. Rebase the local commits (`git pull --rebase {remote} {branch}`) \
         or merge by hand, then run the step again",
        plural(ours),
        plural(theirs),
    ))
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
