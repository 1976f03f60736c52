//! The seed example `pr-review-loop` end to end, as a user runs it: the real
//! `workflow` binary in a real git clone whose `origin` is a local bare
//! repository, pull requests on a real HTTP server on loopback that answers
//! as GitHub's REST API does, and models that are first a scripted local
//! program (recorded to a cassette with `--record`) and then the cassette
//! alone, replayed against a fresh clone. Both runs must go the same way:
//! the original model's review rejects twice and approves the third time,
//! and the pull request is merged.

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{expect_code, status_json};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "ghp_test_token_never_stored";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare `origin` with `main`, and a clone on branch `feature` (pushed) that adds a retry policy.
fn repository(root: &Path) -> PathBuf {
    let remote = root.join("remote.git");
    let work = root.join("work");
    git(root, &["init", "--quiet", "--bare", "--initial-branch=main", remote.to_str().unwrap()]);
    git(root, &["clone", "--quiet", remote.to_str().unwrap(), work.to_str().unwrap()]);
    git(&work, &["config", "user.name", "Test Author"]);
    git(&work, &["config", "user.email", "author@example.com"]);
    git(&work, &["checkout", "--quiet", "-b", "main"]);
    std::fs::write(work.join("README.md"), "# widgets\n").unwrap();
    git(&work, &["add", "README.md"]);
    git(&work, &["commit", "--quiet", "-m", "Start"]);
    git(&work, &["push", "--quiet", "-u", "origin", "main"]);
    git(&work, &["remote", "set-head", "origin", "main"]);
    git(&work, &["checkout", "--quiet", "-b", "feature"]);
    std::fs::create_dir_all(work.join("src")).unwrap();
    std::fs::write(work.join("src/retry.rs"), "pub const ATTEMPTS: u32 = 3;\n").unwrap();
    git(&work, &["add", "src/retry.rs"]);
    git(&work, &["commit", "--quiet", "-m", "Add retry policy"]);
    git(&work, &["push", "--quiet", "-u", "origin", "feature"]);
    work
}

fn pull(state: &str) -> Value {
    json!({
        "number": 7, "html_url": "https://github.com/acme/widgets/pull/7", "title": "Add retry policy", "state": state,
        "head": { "ref": "feature" }, "base": { "ref": "main" }, "merged": false,
    })
}

/// A GitHub for `acme/widgets`: no pull request until one is created, then #7.
async fn github() -> MockServer {
    let server = MockServer::start().await;
    let bearer = format!("Bearer {TOKEN}");
    Mock::given(method("GET"))
        .and(path("/repos/acme/widgets"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "default_branch": "main", "full_name": "acme/widgets" })))
        .mount(&server)
        .await;
    // The first lookup (by create-pr) finds nothing open; every later one finds #7.
    Mock::given(method("GET"))
        .and(path("/repos/acme/widgets/pulls"))
        .and(query_param("head", "acme:feature"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widgets/pulls"))
        .and(query_param("head", "acme:feature"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([pull("open")])))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/widgets/pulls"))
        .and(body_partial_json(json!({ "title": "Add retry policy", "head": "feature", "base": "main" })))
        .respond_with(ResponseTemplate::new(201).set_body_json(pull("open")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widgets/pulls/7"))
        .and(header("accept", "application/vnd.github.diff"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "diff --git a/src/retry.rs b/src/retry.rs\nnew file mode 100644\n--- /dev/null\n+++ b/src/retry.rs\n@@ -0,0 +1 @@\n+pub const ATTEMPTS: u32 = 3;\n",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/widgets/pulls/7/reviews"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": 1 })))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/repos/acme/widgets/pulls/7/merge"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "merged": true, "sha": "5eed5eed", "message": "merged" })))
        .expect(1)
        .mount(&server)
        .await;
    server
}

/// Runs the seed workflow in `work` with the model config `config`; returns the run's status JSON.
async fn run(root: &Path, work: &Path, config: &str, server: &MockServer, extra: &[&str]) -> Value {
    let config_file = root.join("config.yaml");
    std::fs::write(&config_file, config).unwrap();
    let store = root.join("runs.db");
    let workflow = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pr-review-loop/pr-review-loop.yaml");
    let mut cmd = support::workflow(work, &store, &["run", workflow.to_str().unwrap(), "--yes"]);
    cmd.args(extra)
        .env("WORKFLOW_CONFIG", &config_file)
        .env("GITHUB_API_URL", server.uri())
        .env("GITHUB_REPOSITORY", "acme/widgets")
        .env("GITHUB_TOKEN", TOKEN)
        .env("HOME", root)
        .env("XDG_CONFIG_HOME", root.join("xdg"));
    let (stdout, _) = tokio::task::spawn_blocking(move || expect_code(&mut cmd, 0)).await.unwrap();
    let run_id = support::run_id_in(&stdout);
    status_json(work, &store, &run_id)
}

/// What the run did, step by step: the review verdicts of each review step, in order.
fn verdicts(status: &Value, step: &str) -> Vec<bool> {
    status["events"].as_array().unwrap().iter().filter(|e| e["step_id"] == step).map(|e| e["output"]["approved"].as_bool().unwrap()).collect()
}

fn posted_reviews(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.url.path() == "/repos/acme/widgets/pulls/7/reviews")
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["event"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_pr_review_loop_is_rejected_twice_approved_the_third_time_and_merged() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pr-review-loop/scripted-model.sh");
    let script = script.to_str().unwrap();

    // 1. With the scripted model, recording every answer.
    let first = tempfile::tempdir().unwrap();
    let cassette = first.path().join("cassette.yaml");
    let work = repository(first.path());
    let server = github().await;
    let scripted = format!(
        "providers:\n  openai: {{ kind: command, command: [sh, \"{script}\"] }}\n  coder: {{ kind: command, command: [sh, \"{script}\"] }}\ndefault: \"coder:sonnet\"\n"
    );
    let recorded = run(first.path(), &work, &scripted, &server, &["--record", cassette.to_str().unwrap()]).await;
    assert_eq!(recorded["run"]["status"], "completed", "{recorded:#}");
    assert_eq!(verdicts(&recorded, "s7"), [false, false, true], "the original model's review: rejected twice, approved the third time");
    assert_eq!(verdicts(&recorded, "s3"), [false, false, true], "glm's review each round");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(posted_reviews(&requests), ["REQUEST_CHANGES", "REQUEST_CHANGES", "REQUEST_CHANGES", "REQUEST_CHANGES", "APPROVE", "APPROVE"]);
    server.verify().await;
    // Which model answered each review: glm at s3, the run's original model at s7.
    let models: Vec<&str> = recorded["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["step_id"] == "s3" || e["step_id"] == "s7")
        .map(|e| e["output"]["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["openai:glm-4.6", "coder:sonnet", "openai:glm-4.6", "coder:sonnet", "openai:glm-4.6", "coder:sonnet"]);
    // The fixes reached the remote branch; the run ended back on the default branch.
    let pushed = git(&first.path().join("remote.git"), &["ls-tree", "-r", "--name-only", "feature"]);
    for round in [1, 2, 3, 4] {
        assert!(pushed.contains(&format!("tests/retry-{round}.txt")), "round {round} was pushed: {pushed}");
    }
    assert_eq!(git(&work, &["rev-parse", "--abbrev-ref", "HEAD"]), "main", "sync went back to the default branch");
    let merge = requests.iter().find(|r| r.method.as_str() == "PUT").unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&merge.body).unwrap()["merge_method"], "merge");

    // 2. The cassette alone, against a fresh clone and a fresh server: the same run.
    let second = tempfile::tempdir().unwrap();
    let work = repository(second.path());
    let server = github().await;
    let replayed_config = format!(
        "providers:\n  openai: {{ kind: replay, cassette: \"{0}\" }}\n  coder: {{ kind: replay, cassette: \"{0}\" }}\ndefault: \"coder:sonnet\"\n",
        cassette.display()
    );
    let replayed = run(second.path(), &work, &replayed_config, &server, &[]).await;
    assert_eq!(replayed["run"]["status"], "completed", "{replayed:#}");
    assert_eq!(verdicts(&replayed, "s7"), [false, false, true]);
    assert_eq!(posted_reviews(&server.received_requests().await.unwrap()), posted_reviews(&requests));
    server.verify().await;
    let pushed_again = git(&second.path().join("remote.git"), &["ls-tree", "-r", "--name-only", "feature"]);
    assert_eq!(pushed_again, pushed, "the replayed model made the same changes");

    // The token reached neither the store nor the cassette.
    for file in [second.path().join("runs.db"), first.path().join("runs.db"), cassette.clone()] {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(TOKEN), "{} holds the token", file.display());
    }
}

#[test]
fn the_example_is_the_seed_file() {
    let Some(shared) = support::shared_conformance() else { return };
    let seed = std::fs::read_to_string(shared.join("valid/pr-review-loop.yaml")).expect("the shared corpus has the seed example");
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pr-review-loop/pr-review-loop.yaml")).unwrap();
    assert_eq!(example, seed, "examples/pr-review-loop/pr-review-loop.yaml should be the seed example as given");
}
