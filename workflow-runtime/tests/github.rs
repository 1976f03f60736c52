//! The GitHub client and the pull request actions against a real HTTP server on loopback (wiremock).

use std::path::Path;
use std::process::Command;

use serde_json::{json, Map, Value};
use tempfile::TempDir;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};
use workflow_runtime::actions::pulls::{review_target, CreatePr, MergePr};
use workflow_runtime::actions::{Action, StepContext};
use workflow_runtime::github::{repository_from_remote, GitHub, GitHubError, GitHubSettings, ReviewEvent, DEFAULT_API_URL};
use workflow_runtime::providers::http::RetryPolicy;

const TOKEN: &str = "ghp_test_SECRET_0123456789abcdef";
const PULLS: &str = "/repos/acme/widgets/pulls";

/// Settings for `server` and acme/widgets, the token in the environment variable `var` (one per test).
fn settings(server: &MockServer, var: &str) -> GitHubSettings {
    std::env::set_var(var, TOKEN);
    let mut settings = GitHubSettings::new(server.uri(), Some("acme/widgets"));
    settings.token_env = vec![var.to_string()];
    settings
}

async fn github(server: &MockServer, var: &str) -> GitHub {
    GitHub::connect(&settings(server, var), Path::new(".")).await.unwrap()
}

/// A pull request as GET /pulls/N answers it.
fn pr_json(number: u64, head: &str, state: &str, merged: bool) -> Value {
    json!({
        "number": number,
        "html_url": format!("https://github.com/acme/widgets/pull/{number}"),
        "url": format!("https://api.github.com/repos/acme/widgets/pulls/{number}"),
        "head": { "ref": head, "sha": "1111111111111111111111111111111111111111" },
        "base": { "ref": "main", "sha": "2222222222222222222222222222222222222222" },
        "title": "Add the widget frobnicator",
        "state": state,
        "merged": merged,
        "merged_at": if merged { json!("2024-05-01T10:00:00Z") } else { Value::Null },
        "merge_commit_sha": "3333333333333333333333333333333333333333",
    })
}

/// A pull request as the list endpoint answers it: `merged_at`, no `merged`.
fn listed_pr_json(number: u64, head: &str, state: &str, merged: bool) -> Value {
    let mut pr = pr_json(number, head, state, merged);
    pr.as_object_mut().unwrap().remove("merged");
    pr
}

/// Mocks that only answer requests carrying the headers GitHub wants.
fn api(verb: &str, route: &str) -> wiremock::MockBuilder {
    Mock::given(method(verb))
        .and(path(route))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("x-github-api-version", "2022-11-28"))
}

fn json_api(verb: &str, route: &str) -> wiremock::MockBuilder {
    api(verb, route).and(header("accept", "application/vnd.github+json"))
}

async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap()
}

#[tokio::test]
async fn create_pr_posts_the_fields_with_the_token_and_api_headers() {
    let server = MockServer::start().await;
    json_api("POST", PULLS)
        .and(body_partial_json(json!({ "title": "Add widgets", "body": "Why: because", "head": "feature", "base": "main", "draft": true })))
        .respond_with(ResponseTemplate::new(201).set_body_json(pr_json(7, "feature", "open", false)))
        .expect(1)
        .mount(&server)
        .await;

    let pr = github(&server, "WF_TEST_GH_CREATE").await.create_pr("Add widgets", "Why: because", "feature", "main", true).await.unwrap();

    assert_eq!(pr.number, 7);
    assert_eq!(pr.url, "https://github.com/acme/widgets/pull/7");
    assert_eq!((pr.head.as_str(), pr.base.as_str(), pr.state.as_str(), pr.merged), ("feature", "main", "open", false));
    let sent = requests(&server).await;
    let agent = sent[0].headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(agent.starts_with("workflow/"), "user agent: {agent:?}");
}

#[tokio::test]
async fn find_open_pr_asks_for_owner_colon_branch() {
    let server = MockServer::start().await;
    json_api("GET", PULLS)
        .and(query_param("state", "open"))
        .and(query_param("head", "acme:feature"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([listed_pr_json(7, "feature", "open", false)])))
        .mount(&server)
        .await;
    json_api("GET", PULLS)
        .and(query_param("state", "open"))
        .and(query_param("head", "acme:elsewhere"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let github = github(&server, "WF_TEST_GH_FIND").await;

    let found = github.find_open_pr("feature").await.unwrap().expect("the open pull request");
    assert_eq!((found.number, found.head.as_str(), found.merged), (7, "feature", false));
    assert_eq!(github.find_open_pr("elsewhere").await.unwrap(), None);
}

#[tokio::test]
async fn diff_asks_for_the_diff_media_type() {
    let server = MockServer::start().await;
    let diff = "diff --git a/src/lib.rs b/src/lib.rs\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1 +1 @@\n-old\n+new\n";
    api("GET", &format!("{PULLS}/7"))
        .and(header("accept", "application/vnd.github.diff"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(diff, "text/plain"))
        .mount(&server)
        .await;

    assert_eq!(github(&server, "WF_TEST_GH_DIFF").await.diff(7).await.unwrap(), diff);
}

#[tokio::test]
async fn approval_is_posted_as_approve() {
    let server = MockServer::start().await;
    json_api("POST", &format!("{PULLS}/7/reviews"))
        .and(body_partial_json(json!({ "event": "APPROVE", "body": "Looks good." })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": 1, "state": "APPROVED" })))
        .expect(1)
        .mount(&server)
        .await;

    let posted = github(&server, "WF_TEST_GH_APPROVE").await.post_review(7, ReviewEvent::Approve, "Looks good.").await.unwrap();

    assert_eq!(posted, ReviewEvent::Approve);
    server.verify().await;
}

#[tokio::test]
async fn refused_verdict_on_own_pr_is_posted_as_a_comment_stating_it() {
    let server = MockServer::start().await;
    let reviews = format!("{PULLS}/7/reviews");
    json_api("POST", &reviews)
        .and(body_partial_json(json!({ "event": "REQUEST_CHANGES" })))
        .respond_with(
            ResponseTemplate::new(422)
                .set_body_json(json!({ "message": "Unprocessable Entity", "errors": ["Review Can not request changes on your own pull request"] })),
        )
        .expect(1)
        .mount(&server)
        .await;
    json_api("POST", &reviews)
        .and(body_partial_json(json!({ "event": "COMMENT" })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": 2, "state": "COMMENTED" })))
        .expect(1)
        .mount(&server)
        .await;

    let body = "The parser drops the last line.\nPlease add a test.";
    let posted = github(&server, "WF_TEST_GH_FALLBACK").await.post_review(7, ReviewEvent::RequestChanges, body).await.unwrap();

    assert_eq!(posted, ReviewEvent::Comment);
    server.verify().await;
    let comment: Value = requests(&server).await[1].body_json().unwrap();
    let text = comment["body"].as_str().unwrap();
    let first_line = text.lines().next().unwrap();
    assert!(first_line.contains("Verdict: request changes"), "{first_line}");
    assert!(text.ends_with(body), "{text}");
}

#[tokio::test]
async fn merge_puts_the_method_and_returns_the_sha() {
    let server = MockServer::start().await;
    json_api("PUT", &format!("{PULLS}/7/merge"))
        .and(body_partial_json(json!({ "merge_method": "squash" })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "sha": "abc123", "merged": true, "message": "Pull Request successfully merged" })))
        .expect(1)
        .mount(&server)
        .await;

    let merged = github(&server, "WF_TEST_GH_MERGE").await.merge(7, "squash").await.unwrap();

    assert!(merged.merged);
    assert_eq!(merged.sha, "abc123");
}

#[tokio::test]
async fn merge_refused_by_github_says_why() {
    let server = MockServer::start().await;
    json_api("PUT", &format!("{PULLS}/7/merge"))
        .respond_with(ResponseTemplate::new(405).set_body_json(json!({ "message": "Pull Request is not mergeable" })))
        .mount(&server)
        .await;
    let github = github(&server, "WF_TEST_GH_UNMERGEABLE").await;

    let error = github.merge(7, "merge").await.unwrap_err();
    assert!(matches!(error, GitHubError::NotMergeable { number: 7, status: 405, .. }), "{error:?}");
    assert_eq!(error.to_string(), "pull request #7 in acme/widgets cannot be merged (HTTP 405): Pull Request is not mergeable");

    let error = github.merge(7, "fast-forward").await.unwrap_err();
    assert!(error.to_string().contains("use merge, squash or rebase"), "{error}");
    assert_eq!(requests(&server).await.len(), 1, "an unknown method is refused before asking GitHub");
}

#[tokio::test]
async fn default_branch_comes_from_the_repository() {
    let server = MockServer::start().await;
    json_api("GET", "/repos/acme/widgets")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "full_name": "acme/widgets", "default_branch": "trunk" })))
        .mount(&server)
        .await;

    assert_eq!(github(&server, "WF_TEST_GH_DEFAULT").await.default_branch().await.unwrap(), "trunk");
}

#[tokio::test]
async fn rejected_token_names_its_variable_and_never_shows_the_token() {
    let server = MockServer::start().await;
    // A server that echoes what it was sent must not get the token into our messages either.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "message": format!("Bad credentials: {TOKEN}") })))
        .mount(&server)
        .await;
    let github = github(&server, "WF_TEST_GH_BAD_TOKEN").await;

    let error = github.pull_request(7).await.unwrap_err();

    let (text, debug) = (error.to_string(), format!("{error:?}"));
    assert!(text.contains("token") && text.contains("401") && text.contains("WF_TEST_GH_BAD_TOKEN"), "{text}");
    assert!(!text.contains(TOKEN) && !debug.contains(TOKEN), "{text} / {debug}");
    assert!(!format!("{github:?}").contains(TOKEN), "{github:?}");
}

#[tokio::test]
async fn forbidden_shows_githubs_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({ "message": "Resource not accessible by integration" })))
        .mount(&server)
        .await;

    let error = github(&server, "WF_TEST_GH_FORBIDDEN").await.create_pr("t", "", "feature", "main", false).await.unwrap_err();

    let text = error.to_string();
    assert!(text.contains("403") && text.contains("acme/widgets") && text.contains("Resource not accessible by integration"), "{text}");
}

#[tokio::test]
async fn not_found_names_the_pull_request_or_the_repository() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" }))).mount(&server).await;
    let github = github(&server, "WF_TEST_GH_NOT_FOUND").await;

    let error = github.pull_request(99).await.unwrap_err().to_string();
    assert!(error.starts_with("pull request #99 not found in acme/widgets"), "{error}");
    let error = github.default_branch().await.unwrap_err().to_string();
    assert!(error.starts_with("repository acme/widgets not found") && error.contains("GITHUB_REPOSITORY"), "{error}");
}

#[tokio::test]
async fn missing_token_names_the_variables_to_set_and_sends_nothing() {
    let server = MockServer::start().await;
    let mut settings = GitHubSettings::new(server.uri(), Some("acme/widgets"));
    settings.token_env = vec!["WF_TEST_GH_UNSET_A".to_string(), "WF_TEST_GH_UNSET_B".to_string()];

    let error = GitHub::connect(&settings, Path::new(".")).await.unwrap_err();

    assert!(matches!(error, GitHubError::MissingToken { .. }), "{error:?}");
    assert_eq!(error.to_string(), "no GitHub token: set the environment variable WF_TEST_GH_UNSET_A or WF_TEST_GH_UNSET_B");
    assert!(requests(&server).await.is_empty());
}

#[test]
fn remote_urls_of_every_shape_name_the_repository() {
    for url in [
        "https://github.com/acme/widgets.git",
        "https://github.com/acme/widgets",
        "https://github.com/acme/widgets/",
        "https://x-access-token:ghp_abc@github.com/acme/widgets.git",
        "http://github.com/acme/widgets",
        "git@github.com:acme/widgets.git",
        "git@github.com:acme/widgets",
        "ssh://git@github.com/acme/widgets.git",
        "ssh://git@github.com:22/acme/widgets",
        "https://ghe.example.com/acme/widgets.git",
        "git@ghe.example.com:acme/widgets",
        "ssh://git@ghe.example.com:7999/acme/widgets.git",
    ] {
        assert_eq!(repository_from_remote(url).as_deref(), Some("acme/widgets"), "{url}");
    }
    for url in
        ["/srv/git/widgets.git", "../widgets", "file:///srv/git/acme/widgets.git", "https://gitlab.com/group/sub/widgets.git", "https://github.com/acme", ""]
    {
        assert_eq!(repository_from_remote(url), None, "{url}");
    }
}

#[test]
fn settings_from_the_environment() {
    // The only test of this binary touching these variables.
    std::env::set_var("GITHUB_API_URL", "https://ghe.example.com/api/v3");
    std::env::set_var("GITHUB_REPOSITORY", "acme/widgets");
    let settings = GitHubSettings::from_env();
    assert_eq!(settings.api_url, "https://ghe.example.com/api/v3");
    assert_eq!(settings.repository.as_deref(), Some("acme/widgets"));
    assert_eq!(settings.token_env, ["GITHUB_TOKEN", "GH_TOKEN"]);

    std::env::remove_var("GITHUB_API_URL");
    std::env::remove_var("GITHUB_REPOSITORY");
    let settings = GitHubSettings::from_env();
    assert_eq!(settings.api_url, DEFAULT_API_URL);
    assert_eq!(settings.repository, None);
}

// ---- a real git repository ----

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git").args(args).current_dir(dir).output().unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A repository on branch `feature` whose last commit is "Add the widget frobnicator", `origin` = `remote` if any.
fn repository(remote: Option<&str>) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    git(root, &["config", "user.name", "Test"]);
    git(root, &["config", "user.email", "test@example.com"]);
    git(root, &["config", "commit.gpgsign", "false"]);
    git(root, &["checkout", "-q", "-b", "main"]);
    std::fs::write(root.join("README"), "widgets\n").unwrap();
    git(root, &["add", "README"]);
    git(root, &["commit", "-q", "-m", "Initial commit"]);
    git(root, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(root.join("frobnicator.rs"), "fn frob() {}\n").unwrap();
    git(root, &["add", "frobnicator.rs"]);
    git(root, &["commit", "-q", "-m", "Add the widget frobnicator", "-m", "A longer explanation."]);
    if let Some(remote) = remote {
        git(root, &["remote", "add", "origin", remote]);
    }
    dir
}

fn step(action: &str, cwd: &Path, params: Value) -> StepContext {
    let Value::Object(params) = params else { panic!("params must be an object") };
    StepContext {
        run_id: "run-1".into(),
        step_id: "pr".into(),
        action: action.into(),
        params,
        command_refs: vec![],
        variables: Map::new(),
        cwd: cwd.to_path_buf(),
        attempt: 1,
        run: Default::default(),
    }
}

#[tokio::test]
async fn repository_comes_from_the_origin_remote() {
    let server = MockServer::start().await;
    let mut settings = settings(&server, "WF_TEST_GH_REMOTE");
    settings.repository = None;

    let repo = repository(Some("git@github.com:acme/widgets.git"));
    assert_eq!(GitHub::connect(&settings, repo.path()).await.unwrap().repository(), "acme/widgets");

    let local = repository(Some("/srv/git/widgets.git"));
    let error = GitHub::connect(&settings, local.path()).await.unwrap_err().to_string();
    assert!(error.contains("/srv/git/widgets.git") && error.contains("set GITHUB_REPOSITORY=owner/name or add a GitHub `origin` remote"), "{error}");

    let none = repository(None);
    let error = GitHub::connect(&settings, none.path()).await.unwrap_err().to_string();
    assert!(error.contains("no `origin` remote") && error.contains("GITHUB_REPOSITORY=owner/name"), "{error}");
}

#[tokio::test]
async fn create_pr_action_defaults_to_the_current_branch_default_base_and_last_commit() {
    let server = MockServer::start().await;
    json_api("GET", PULLS)
        .and(query_param("state", "open"))
        .and(query_param("head", "acme:feature"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    json_api("GET", "/repos/acme/widgets").respond_with(ResponseTemplate::new(200).set_body_json(json!({ "default_branch": "trunk" }))).mount(&server).await;
    json_api("POST", PULLS)
        .and(body_partial_json(json!({ "title": "Add the widget frobnicator", "body": "", "head": "feature", "base": "trunk", "draft": false })))
        .respond_with(ResponseTemplate::new(201).set_body_json(pr_json(12, "feature", "open", false)))
        .expect(1)
        .mount(&server)
        .await;
    let repo = repository(Some("https://github.com/acme/widgets.git"));

    let out = CreatePr(settings(&server, "WF_TEST_GH_ACTION_CREATE")).run(&step("create-pr", repo.path(), json!({}))).await.unwrap();

    assert_eq!(out.output, json!({ "number": 12, "url": "https://github.com/acme/widgets/pull/12" }));
    server.verify().await;
}

#[tokio::test]
async fn create_pr_action_uses_the_fields_given() {
    let server = MockServer::start().await;
    json_api("GET", PULLS).and(query_param("head", "acme:topic")).respond_with(ResponseTemplate::new(200).set_body_json(json!([]))).mount(&server).await;
    json_api("GET", "/repos/acme/widgets")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "default_branch": "trunk" })))
        .expect(0)
        .mount(&server)
        .await;
    json_api("POST", PULLS)
        .and(body_partial_json(json!({ "title": "Frobnicate", "body": "Closes #3", "head": "topic", "base": "release", "draft": true })))
        .respond_with(ResponseTemplate::new(201).set_body_json(pr_json(13, "topic", "open", false)))
        .expect(1)
        .mount(&server)
        .await;
    let repo = repository(Some("https://github.com/acme/widgets.git"));
    let params = json!({ "title": "Frobnicate", "body": "Closes #3", "head": "topic", "base": "release", "draft": "true" });

    let out = CreatePr(settings(&server, "WF_TEST_GH_ACTION_FIELDS")).run(&step("create-pr", repo.path(), params)).await.unwrap();

    assert_eq!(out.output["number"], 13);
    server.verify().await;
}

#[tokio::test]
async fn create_pr_action_run_again_reuses_the_open_pr_without_posting() {
    let server = MockServer::start().await;
    json_api("GET", PULLS)
        .and(query_param("state", "open"))
        .and(query_param("head", "acme:feature"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([listed_pr_json(7, "feature", "open", false)])))
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(201).set_body_json(pr_json(8, "feature", "open", false))).expect(0).mount(&server).await;
    let repo = repository(Some("https://github.com/acme/widgets.git"));

    let out = CreatePr(settings(&server, "WF_TEST_GH_ACTION_AGAIN")).run(&step("create-pr", repo.path(), json!({ "title": "Again" }))).await.unwrap();

    assert_eq!(out.output, json!({ "number": 7, "url": "https://github.com/acme/widgets/pull/7" }));
    server.verify().await;
}

#[tokio::test]
async fn create_pr_action_failure_says_what_to_do() {
    let server = MockServer::start().await;
    let repo = repository(Some("https://github.com/acme/widgets.git"));
    let mut settings = GitHubSettings::new(server.uri(), Some("acme/widgets"));
    settings.token_env = vec!["WF_TEST_GH_ACTION_NO_TOKEN".to_string()];

    let failure = CreatePr(settings).run(&step("create-pr", repo.path(), json!({}))).await.unwrap_err();

    assert_eq!(failure.message, "no GitHub token: set the environment variable WF_TEST_GH_ACTION_NO_TOKEN");
}

#[tokio::test]
async fn merge_pr_action_merges_the_open_pr_of_the_current_branch() {
    let server = MockServer::start().await;
    json_api("GET", PULLS)
        .and(query_param("state", "open"))
        .and(query_param("head", "acme:feature"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([listed_pr_json(7, "feature", "open", false)])))
        .mount(&server)
        .await;
    json_api("PUT", &format!("{PULLS}/7/merge"))
        .and(body_partial_json(json!({ "merge_method": "rebase" })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "sha": "feedbeef", "merged": true, "message": "merged" })))
        .expect(1)
        .mount(&server)
        .await;
    let repo = repository(Some("https://github.com/acme/widgets.git"));

    let out = MergePr(settings(&server, "WF_TEST_GH_ACTION_MERGE")).run(&step("merge-pr", repo.path(), json!({ "method": "rebase" }))).await.unwrap();

    assert_eq!(out.output, json!({ "merged": true, "sha": "feedbeef" }));
    server.verify().await;
}

#[tokio::test]
async fn merge_pr_action_on_an_already_merged_pr_succeeds_without_merging() {
    let server = MockServer::start().await;
    json_api("GET", &format!("{PULLS}/12")).respond_with(ResponseTemplate::new(200).set_body_json(pr_json(12, "feature", "closed", true))).mount(&server).await;
    Mock::given(method("PUT")).respond_with(ResponseTemplate::new(405)).expect(0).mount(&server).await;
    let repo = repository(Some("https://github.com/acme/widgets.git"));

    let out = MergePr(settings(&server, "WF_TEST_GH_ACTION_MERGED")).run(&step("merge-pr", repo.path(), json!({ "pr": "#12" }))).await.unwrap();

    assert_eq!(out.output, json!({ "merged": true, "sha": "3333333333333333333333333333333333333333" }));
    server.verify().await;
}

#[tokio::test]
async fn merge_pr_action_run_again_after_the_merge_finds_the_merged_pr_of_the_branch() {
    let server = MockServer::start().await;
    json_api("GET", PULLS).and(query_param("state", "open")).respond_with(ResponseTemplate::new(200).set_body_json(json!([]))).mount(&server).await;
    json_api("GET", PULLS)
        .and(query_param("state", "closed"))
        .and(query_param("head", "acme:feature"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([listed_pr_json(7, "feature", "closed", true)])))
        .mount(&server)
        .await;
    Mock::given(method("PUT")).respond_with(ResponseTemplate::new(405)).expect(0).mount(&server).await;
    let repo = repository(Some("https://github.com/acme/widgets.git"));

    let out = MergePr(settings(&server, "WF_TEST_GH_ACTION_REMERGE")).run(&step("merge-pr", repo.path(), json!({}))).await.unwrap();

    assert_eq!(out.output, json!({ "merged": true, "sha": "3333333333333333333333333333333333333333" }));
    server.verify().await;
}

#[tokio::test]
async fn merge_pr_action_without_a_pr_says_how_to_get_one() {
    let server = MockServer::start().await;
    json_api("GET", PULLS).respond_with(ResponseTemplate::new(200).set_body_json(json!([]))).mount(&server).await;
    let repo = repository(Some("https://github.com/acme/widgets.git"));

    let failure = MergePr(settings(&server, "WF_TEST_GH_ACTION_NO_PR")).run(&step("merge-pr", repo.path(), json!({}))).await.unwrap_err();

    assert_eq!(failure.message, "no open pull request from branch `feature` in acme/widgets: open one first (create-pr) or name it with `pr:`");
}

#[tokio::test]
async fn review_target_is_the_pr_named_or_the_open_pr_of_the_branch() {
    let server = MockServer::start().await;
    json_api("GET", &format!("{PULLS}/5")).respond_with(ResponseTemplate::new(200).set_body_json(pr_json(5, "other", "open", false))).mount(&server).await;
    json_api("GET", PULLS)
        .and(query_param("state", "open"))
        .and(query_param("head", "acme:feature"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([listed_pr_json(7, "feature", "open", false)])))
        .mount(&server)
        .await;
    let repo = repository(Some("https://github.com/acme/widgets.git"));
    let settings = settings(&server, "WF_TEST_GH_REVIEW_TARGET");

    let (github, named) = review_target(&settings, repo.path(), Some("https://github.com/acme/widgets/pull/5")).await.unwrap();
    assert_eq!((named.number, named.head.as_str()), (5, "other"));
    assert_eq!(github.repository(), "acme/widgets");

    let (_, current) = review_target(&settings, repo.path(), None).await.unwrap();
    assert_eq!((current.number, current.head.as_str()), (7, "feature"));

    let error = review_target(&settings, repo.path(), Some("the big one")).await.unwrap_err().to_string();
    assert!(error.contains("`pr:` must be a pull request number"), "{error}");
}

/// A client for `server` whose retries wait a millisecond, not seconds.
async fn quick_github(server: &MockServer, var: &str) -> GitHub {
    let mut settings = settings(server, var);
    settings.retry = RetryPolicy { attempts: 3, base: std::time::Duration::from_millis(1), max: std::time::Duration::from_millis(50) };
    GitHub::connect(&settings, Path::new(".")).await.unwrap()
}

#[tokio::test]
async fn reads_are_retried_after_server_errors() {
    let server = MockServer::start().await;
    json_api("GET", "/repos/acme/widgets/pulls/7").respond_with(ResponseTemplate::new(502)).up_to_n_times(1).mount(&server).await;
    json_api("GET", "/repos/acme/widgets/pulls/7")
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    json_api("GET", "/repos/acme/widgets/pulls/7")
        .respond_with(ResponseTemplate::new(200).set_body_json(pr_json(7, "feature", "open", false)))
        .mount(&server)
        .await;

    let pr = quick_github(&server, "WF_TEST_GH_RETRY_GET").await.pull_request(7).await.unwrap();
    assert_eq!(pr.number, 7);
    assert_eq!(requests(&server).await.len(), 3);
}

#[tokio::test]
async fn a_merge_is_retried_but_gives_up_after_its_attempts() {
    let server = MockServer::start().await;
    json_api("PUT", "/repos/acme/widgets/pulls/7/merge").respond_with(ResponseTemplate::new(500)).mount(&server).await;
    let error = quick_github(&server, "WF_TEST_GH_RETRY_PUT").await.merge(7, "squash").await.unwrap_err();
    assert!(error.to_string().contains("HTTP 500"), "{error}");
    assert_eq!(requests(&server).await.len(), 3, "three attempts in all");
}

/// Opening a pull request twice would open two: a 502 may have opened one, so it is not sent again.
#[tokio::test]
async fn opening_a_pull_request_is_not_repeated_after_a_server_error() {
    let server = MockServer::start().await;
    json_api("POST", PULLS).respond_with(ResponseTemplate::new(502)).mount(&server).await;
    let error = quick_github(&server, "WF_TEST_GH_NO_RETRY_POST").await.create_pr("t", "", "feature", "main", false).await.unwrap_err();
    assert!(error.to_string().contains("HTTP 502"), "{error}");
    assert_eq!(requests(&server).await.len(), 1);
}

/// A rate-limited request was not carried out: it goes again, POST too, after the wait GitHub names.
#[tokio::test]
async fn rate_limited_requests_wait_and_go_again() {
    let server = MockServer::start().await;
    let secondary = json!({ "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again." });
    json_api("POST", PULLS)
        .respond_with(ResponseTemplate::new(403).insert_header("retry-after", "0").set_body_json(secondary))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    json_api("POST", PULLS).respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0")).up_to_n_times(1).mount(&server).await;
    json_api("POST", PULLS).respond_with(ResponseTemplate::new(201).set_body_json(pr_json(8, "feature", "open", false))).mount(&server).await;

    let pr = quick_github(&server, "WF_TEST_GH_RATE_LIMIT").await.create_pr("t", "", "feature", "main", false).await.unwrap();
    assert_eq!(pr.number, 8);
    assert_eq!(requests(&server).await.len(), 3);
}

/// A primary rate limit that resets long after the retries could wait fails at once, saying how long.
#[tokio::test]
async fn an_exhausted_rate_limit_fails_at_once_saying_when_it_resets() {
    let server = MockServer::start().await;
    let reset = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1800).to_string();
    json_api("GET", "/repos/acme/widgets/pulls/7")
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.as_str())
                .set_body_json(json!({ "message": "API rate limit exceeded for user ID 1." })),
        )
        .mount(&server)
        .await;
    let error = quick_github(&server, "WF_TEST_GH_EXHAUSTED").await.pull_request(7).await.unwrap_err();
    assert!(matches!(error, GitHubError::RateLimited { wait_secs: 1790..=1800, .. }), "{error:?}");
    assert!(error.to_string().contains("API rate limit exceeded"), "{error}");
    assert_eq!(requests(&server).await.len(), 1);
}
