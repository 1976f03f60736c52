//! Pull request actions: `create-pr`, `merge-pr`, and [`review_target`], the
//! pull request a `review-pr` step looks at. Both actions are idempotent, as
//! a step is run again after a crash: an open pull request for the branch is
//! reused, a merged one counts as merged.

use std::path::Path;

use serde_json::{json, Value};

use super::{Action, ActionFailure, ActionOutput, ActionResult, StepContext};
use crate::github::{git, GitHub, GitHubError, GitHubSettings, PullRequest};

/// `create-pr`: opens a pull request (or finds the one already open for the branch); outputs `number` and `url`.
pub struct CreatePr(pub GitHubSettings);

impl Action for CreatePr {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async move { create_pr(&self.0, ctx).await.map_err(|e| ActionFailure::new(e.to_string())) })
    }
}

/// `merge-pr`: merges the pull request `pr` (else the current branch's); outputs `merged` and `sha`.
pub struct MergePr(pub GitHubSettings);

impl Action for MergePr {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        Box::pin(async move { merge_pr(&self.0, ctx).await.map_err(|e| ActionFailure::new(e.to_string())) })
    }
}

/// The pull request a review step looks at: `pr` (a number, `#N` or its URL), else the open one of the current branch.
pub async fn review_target(settings: &GitHubSettings, cwd: &Path, pr: Option<&str>) -> Result<(GitHub, PullRequest), GitHubError> {
    let github = GitHub::connect(settings, cwd).await?;
    let pr = match pr.map(str::trim).filter(|p| !p.is_empty()) {
        Some(given) => github.pull_request(pr_number(given)?).await?,
        None => {
            let branch = current_branch(cwd, "pr").await?;
            github.find_open_pr(&branch).await?.ok_or_else(|| GitHubError::NoOpenPullRequest { repository: github.repository(), branch })?
        }
    };
    Ok((github, pr))
}

async fn create_pr(settings: &GitHubSettings, ctx: &StepContext) -> Result<ActionOutput, GitHubError> {
    let github = GitHub::connect(settings, &ctx.cwd).await?;
    let head = match field(ctx, "head") {
        Some(head) => head.to_string(),
        None => current_branch(&ctx.cwd, "head").await?,
    };
    if let Some(pr) = github.find_open_pr(&head).await? {
        tracing::info!(step = %ctx.step_id, number = pr.number, head = %head, "a pull request is already open for the branch; reusing it");
        return Ok(ActionOutput::new(json!({ "number": pr.number, "url": pr.url })));
    }
    let base = match field(ctx, "base") {
        Some(base) => base.to_string(),
        None => github.default_branch().await?,
    };
    let title = match field(ctx, "title") {
        Some(title) => title.to_string(),
        None => git(&ctx.cwd, &["log", "-1", "--format=%s"]).await?,
    };
    let body = ctx.text("body").unwrap_or("");
    let draft = flag(ctx, "draft")?;
    let pr = github.create_pr(&title, body, &head, &base, draft).await?;
    tracing::info!(step = %ctx.step_id, number = pr.number, head = %head, base = %base, "opened a pull request");
    Ok(ActionOutput::new(json!({ "number": pr.number, "url": pr.url })))
}

async fn merge_pr(settings: &GitHubSettings, ctx: &StepContext) -> Result<ActionOutput, GitHubError> {
    let method = field(ctx, "method").unwrap_or("merge");
    if !matches!(method, "merge" | "squash" | "rebase") {
        return Err(GitHubError::Invalid(format!("`method:` must be merge, squash or rebase, not `{method}`")));
    }
    let github = GitHub::connect(settings, &ctx.cwd).await?;
    let pr = match ctx.params.get("pr") {
        Some(Value::Number(n)) => github.pull_request(n.as_u64().ok_or_else(|| invalid_pr(&n.to_string()))?).await?,
        Some(Value::String(text)) if !text.trim().is_empty() => github.pull_request(pr_number(text)?).await?,
        Some(Value::String(_) | Value::Null) | None => {
            let branch = current_branch(&ctx.cwd, "pr").await?;
            match github.find_open_pr(&branch).await? {
                Some(pr) => pr,
                // Run again after the merge went through: the branch's pull request is now closed and merged.
                None => github.find_merged_pr(&branch).await?.ok_or_else(|| GitHubError::NoOpenPullRequest { repository: github.repository(), branch })?,
            }
        }
        Some(other) => return Err(invalid_pr(&other.to_string())),
    };
    if pr.merged {
        tracing::info!(step = %ctx.step_id, number = pr.number, "the pull request is already merged");
        return Ok(merged_output(&pr));
    }
    if pr.state == "closed" {
        return Err(GitHubError::Invalid(format!(
            "pull request #{} in {} is closed without being merged: reopen it to merge it",
            pr.number,
            github.repository()
        )));
    }
    match github.merge(pr.number, method).await {
        Ok(merged) => Ok(ActionOutput::new(json!({ "merged": merged.merged, "sha": merged.sha }))),
        // Someone (or an earlier attempt whose answer was lost) merged it in the meantime.
        Err(error @ GitHubError::NotMergeable { .. }) => match github.pull_request(pr.number).await {
            Ok(now) if now.merged => Ok(merged_output(&now)),
            _ => Err(error),
        },
        Err(error) => Err(error),
    }
}

fn merged_output(pr: &PullRequest) -> ActionOutput {
    ActionOutput::new(json!({ "merged": true, "sha": pr.merge_commit_sha.clone().unwrap_or_default() }))
}

/// A text field that is set and not blank (an empty `${..}` means "use the default").
fn field<'a>(ctx: &'a StepContext, key: &str) -> Option<&'a str> {
    ctx.text(key).map(str::trim).filter(|v| !v.is_empty())
}

/// A boolean field, given as a boolean or as text (after `${..}`); absent is false.
fn flag(ctx: &StepContext, key: &str) -> Result<bool, GitHubError> {
    match ctx.params.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(text)) => match text.trim() {
            "true" | "yes" => Ok(true),
            "false" | "no" | "" => Ok(false),
            other => Err(GitHubError::Invalid(format!("`{key}:` must be true or false, not `{other}`"))),
        },
        Some(other) => Err(GitHubError::Invalid(format!("`{key}:` must be true or false, not `{other}`"))),
    }
}

/// A pull request number from `42`, `#42` or `https://HOST/owner/name/pull/42`.
fn pr_number(given: &str) -> Result<u64, GitHubError> {
    let text = given.trim();
    let digits = match text.rsplit_once("/pull/") {
        Some((_, rest)) => rest.split(['/', '#', '?']).next().unwrap_or(""),
        None => text.strip_prefix('#').unwrap_or(text),
    };
    digits.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| invalid_pr(given))
}

fn invalid_pr(given: &str) -> GitHubError {
    GitHubError::Invalid(format!("`pr:` must be a pull request number (42, #42 or its URL), not `{given}`"))
}

/// The branch checked out in `cwd`; on a detached HEAD, says to set the field `instead`.
async fn current_branch(cwd: &Path, instead: &str) -> Result<String, GitHubError> {
    let branch = git(cwd, &["rev-parse", "--abbrev-ref", "HEAD"]).await?;
    if branch == "HEAD" {
        return Err(GitHubError::Invalid(format!("{} is on a detached HEAD, not a branch: check out a branch or set `{instead}:`", cwd.display())));
    }
    Ok(branch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_numbers_in_their_usual_spellings() {
        assert_eq!(pr_number("42").unwrap(), 42);
        assert_eq!(pr_number(" #7 ").unwrap(), 7);
        assert_eq!(pr_number("https://github.com/acme/widgets/pull/128").unwrap(), 128);
        assert_eq!(pr_number("https://github.com/acme/widgets/pull/128/files").unwrap(), 128);
        for bad in ["", "0", "feature", "#", "https://github.com/acme/widgets/pull/x"] {
            assert!(pr_number(bad).unwrap_err().to_string().contains("`pr:` must be a pull request number"), "{bad}");
        }
    }
}
