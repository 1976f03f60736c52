//! `workflow new` through the binary: every template is written and passes
//! `workflow validate`; files are never overwritten without `--force`; and a
//! model behind a real loopback HTTP server (OpenAI-compatible) drafts a
//! workflow, gets the checker's report back in the same conversation, and
//! the file is written only once a draft is valid.

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{expect_code, workflow};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TEMPLATES: [&str; 4] = ["pr-review-loop", "multi-model-review", "test-fix-loop", "audited-batch"];

/// A project folder, with a home that holds no user config.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `workflow ARGS` in the project; the model config is `config` when given (through `WORKFLOW_CONFIG`).
    fn cmd(&self, args: &[&str], config: Option<&Path>) -> Command {
        let mut cmd = workflow(self.path(), &self.path().join("runs.db"), args);
        let home = self.path().join("home");
        cmd.env("HOME", &home).env("XDG_CONFIG_HOME", &home).env_remove("WORKFLOW_CONFIG");
        if let Some(config) = config {
            cmd.env("WORKFLOW_CONFIG", config);
        }
        cmd
    }

    fn read(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.path().join(name)).ok()
    }
}

#[test]
fn every_template_is_written_and_passes_validate() {
    let project = Project::new();
    let (list, _) = expect_code(&mut project.cmd(&["new", "--list-templates"], None), 0);
    let listed: Vec<&str> = list.lines().filter_map(|l| l.strip_prefix("  ")).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(listed, TEMPLATES, "--list-templates:\n{list}");
    let (help, _) = expect_code(&mut project.cmd(&["new", "--template", "help"], None), 0);
    assert_eq!(help, list);

    for template in TEMPLATES {
        let name = format!("my-{template}");
        let (stdout, _) = expect_code(&mut project.cmd(&["new", &name, "--template", template], None), 0);
        let file = format!("workflows/{name}.yaml");
        assert!(stdout.contains(&format!("wrote {file}")), "{stdout}");
        assert!(stdout.contains(&format!("workflow run {name}")), "the next step runs it by name:\n{stdout}");
        let text = project.read(&file).unwrap_or_else(|| panic!("{file} was not written"));
        assert!(text.lines().any(|l| l == format!("name: {name}")), "{file} is not named {name}:\n{text}");
        assert!(text.starts_with("# "), "{file} starts without a comment explaining it:\n{text}");
        // Each file must pass on its own, as the user will first check it.
        let (ok, _) = expect_code(&mut project.cmd(&["validate", &file], None), 0);
        assert!(ok.contains(&format!("ok  {name}")), "{ok}");
        // The next step given works: the file is found by name.
        expect_code(&mut project.cmd(&["show", &name], None), 0);
    }
    let (all, _) = expect_code(&mut project.cmd(&["validate", "workflows"], None), 0);
    assert!(all.contains("4 workflows valid"), "{all}");
}

#[test]
fn an_existing_file_is_replaced_only_with_force() {
    let project = Project::new();
    let file = project.path().join("workflows/ship.yaml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "keep me\n").unwrap();

    let (_, stderr) = expect_code(&mut project.cmd(&["new", "ship", "--template", "test-fix-loop"], None), 2);
    assert!(stderr.contains("workflows/ship.yaml exists") && stderr.contains("--force"), "{stderr}");
    assert_eq!(project.read("workflows/ship.yaml").as_deref(), Some("keep me\n"));
    // A draft is refused before any model is asked (none is configured here).
    let (_, stderr) = expect_code(&mut project.cmd(&["new", "ship", "--describe", "run the tests"], None), 2);
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(project.read("workflows/ship.yaml").as_deref(), Some("keep me\n"));

    expect_code(&mut project.cmd(&["new", "ship", "--template", "test-fix-loop", "--force"], None), 0);
    let text = project.read("workflows/ship.yaml").unwrap();
    assert!(text.contains("\nname: ship\n"), "{text}");

    // -o writes elsewhere, creating folders; the next step then names the path.
    let (stdout, _) = expect_code(&mut project.cmd(&["new", "ship", "-t", "audited-batch", "-o", "ops/batch/ship.yaml"], None), 0);
    assert!(stdout.contains("workflow run ops/batch/ship.yaml"), "{stdout}");
    assert!(project.read("ops/batch/ship.yaml").is_some_and(|t| t.contains("snapshot:")));
}

#[test]
fn an_unknown_template_is_refused_with_the_names_of_the_templates() {
    let project = Project::new();
    let (_, stderr) = expect_code(&mut project.cmd(&["new", "ship", "--template", "pr-reveiw-loop"], None), 2);
    for template in TEMPLATES {
        assert!(stderr.contains(template), "`{template}` is not listed:\n{stderr}");
    }
    assert!(!project.path().join("workflows").exists(), "something was written");
}

#[test]
fn a_name_that_cannot_be_a_file_name_is_refused() {
    let project = Project::new();
    for bad in ["../up", "two words", "9lives"] {
        let (_, stderr) = expect_code(&mut project.cmd(&["new", bad, "--template", "test-fix-loop"], None), 2);
        assert!(stderr.contains("not a workflow name"), "{bad}: {stderr}");
    }
    assert!(!project.path().join("workflows").exists(), "something was written");
}

#[test]
fn drafting_without_a_model_says_how_to_name_one() {
    let project = Project::new();
    let (_, stderr) = expect_code(&mut project.cmd(&["new", "ship", "--describe", "run the tests"], None), 2);
    assert!(stderr.contains("--model") && stderr.contains("default:"), "{stderr}");
    assert!(!project.path().join("workflows").exists(), "something was written");
}

// ---- drafting with a model behind a loopback server ----

/// A first draft with a misspelled field (`commnd:`), in prose and a fence, as models answer.
const MISSPELLED: &str =
    "Here is the workflow:\n\n```yaml\nname: drafted\ndescription: Run the tests\nsteps:\n  - id: test\n    action: shell\n    commnd: \"cargo test\"\n```\n";

/// The corrected file.
const VALID: &str = "name: drafted
description: Run the tests and report a failure
steps:
  - id: test
    action: shell
    command: \"cargo test 2>&1\"
    check: \"exit_code == 0\"
    on-false: failed
  - id: done
    action: end
  - id: failed
    action: end
    status: failed
    message: \"tests failed\"
";

/// An OpenAI Chat Completions answer (not streamed).
fn completion(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "c1",
        "model": "gpt-test",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 1000, "completion_tokens": 100 },
    }))
}

/// A loopback server answering with `answers` in turn (the last one from then on), and a config naming it.
struct Model {
    rt: tokio::runtime::Runtime,
    server: MockServer,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Model {
    fn new(answers: &[&str]) -> Model {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let server = rt.block_on(async {
            let server = MockServer::start().await;
            for (i, answer) in answers.iter().enumerate() {
                let last = i + 1 == answers.len();
                let mock = Mock::given(method("POST")).and(path("/v1/chat/completions")).respond_with(completion(answer)).with_priority(i as u8 + 1);
                let mock = if last { mock } else { mock.up_to_n_times(1) };
                mock.mount(&server).await;
            }
            server
        });
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, format!("providers:\n  oa: {{ kind: openai, base-url: \"{}/v1\" }}\ndefault: \"oa:gpt-test\"\n", server.uri())).unwrap();
        Model { rt, server, config, _dir: dir }
    }

    /// The JSON bodies of the requests the server received, in order.
    fn requests(&self) -> Vec<Value> {
        self.rt.block_on(self.server.received_requests()).unwrap().iter().map(|r| r.body_json().unwrap()).collect()
    }
}

/// The messages of a request, as (role, content).
fn messages(body: &Value) -> Vec<(String, String)> {
    body["messages"].as_array().unwrap().iter().map(|m| (m["role"].as_str().unwrap().to_string(), m["content"].as_str().unwrap().to_string())).collect()
}

#[test]
fn the_checkers_errors_go_back_to_the_model_until_its_draft_is_valid() {
    let model = Model::new(&[MISSPELLED, VALID]);
    let project = Project::new();
    let description = "Run the tests; fail the run when they fail";
    let (stdout, stderr) = expect_code(&mut project.cmd(&["new", "drafted", "--describe", description], Some(&model.config)), 0);
    assert!(stderr.contains("round 1: 1 error, asking again"), "{stderr}");
    assert!(stderr.contains("round 2: valid"), "{stderr}");
    assert!(stdout.contains("wrote workflows/drafted.yaml"), "{stdout}");
    assert_eq!(project.read("workflows/drafted.yaml").as_deref(), Some(VALID), "the valid draft is written as the model wrote it");

    let requests = model.requests();
    assert_eq!(requests.len(), 2, "one request per round");
    assert_eq!(requests[0]["model"], "gpt-test");
    assert_eq!(requests[0]["stream"], false);
    let first = messages(&requests[0]);
    let second = messages(&requests[1]);
    // The system message teaches the language from the action catalog.
    assert_eq!(first[0].0, "system");
    for action in workflow_core::catalog::ACTIONS {
        assert!(first[0].1.contains(&format!("- {}: ", action.name)), "the prompt does not teach `{}`", action.name);
    }
    assert!(first[0].1.contains("command* (text)"), "required fields are marked:\n{}", first[0].1);
    assert_eq!(first[1].0, "user");
    assert!(first[1].1.contains(description) && first[1].1.contains("`drafted`"), "{}", first[1].1);
    // One conversation: the second request is the first, the model's answer, and the checker's report.
    assert_eq!(second.len(), 4, "{second:#?}");
    assert_eq!(second[..2], first[..]);
    assert_eq!(second[2], ("assistant".to_string(), MISSPELLED.to_string()));
    let (role, report) = &second[3];
    assert_eq!(role, "user");
    for expected in ["unknown field `commnd` for action `shell`", "did you mean `command`?", "workflows/drafted.yaml:6:5", "1 problem found"] {
        assert!(report.contains(expected), "the report sent back lacks {expected:?}:\n{report}");
    }
}

#[test]
fn a_draft_with_another_name_is_sent_back() {
    let model = Model::new(&[&VALID.replace("name: drafted", "name: run-tests"), VALID]);
    let project = Project::new();
    expect_code(&mut project.cmd(&["new", "drafted", "--describe", "run the tests"], Some(&model.config)), 0);
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    let report = &messages(&requests[1])[3].1;
    assert!(report.contains("the workflow is named `run-tests`, not `drafted`") && report.contains("name: drafted"), "{report}");
    assert_eq!(project.read("workflows/drafted.yaml").as_deref(), Some(VALID));
}

#[test]
fn a_model_that_never_drafts_a_valid_file_gets_nothing_written() {
    let model = Model::new(&[MISSPELLED]);
    let project = Project::new();
    let (stdout, stderr) = expect_code(&mut project.cmd(&["new", "drafted", "--describe", "run the tests", "--rounds", "2"], Some(&model.config)), 2);
    assert_eq!(model.requests().len(), 2, "--rounds 2 asks twice");
    assert!(stderr.contains("round 1: 1 error, asking again"), "{stderr}");
    assert!(stderr.contains("round 2: 1 error; no valid draft after 2 rounds, nothing written"), "{stderr}");
    // The last errors are printed as `workflow validate` prints them.
    assert!(stderr.contains("unknown field `commnd`") && stderr.contains("--> workflows/drafted.yaml:6:5"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!project.path().join("workflows").exists(), "something was written");
}
