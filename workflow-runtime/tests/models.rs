//! Model configuration, resolution, cost, and the `command` and `replay` providers.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;
use workflow_runtime::models::config::{project_config_path, user_config_path_from};
use workflow_runtime::models::{check_workflow_models, cost_usd, resolve, ConfigError, ModelConfig, ModelRef, ProviderKind, ResolveErrorKind};
use workflow_runtime::providers::command::{conversation_text, CommandProvider};
use workflow_runtime::providers::replay::{Cassette, RecordingProvider, ReplayProvider};
use workflow_runtime::providers::{ChatRequest, ChatResponse, Message, Provider, ProviderError, Role, Stream, Usage};

const EXAMPLE: &str = r#"
providers:
  openai: { kind: openai, base-url: "https://api.openai.com/v1", api-key-env: OPENAI_API_KEY }
  glm:    { kind: openai, base-url: "https://open.bigmodel.cn/api/paas/v4", api-key-env: GLM_API_KEY }
  anthropic: { kind: anthropic, api-key-env: ANTHROPIC_API_KEY }
  ollama: { kind: ollama, base-url: "http://127.0.0.1:11434" }
  agent:  { kind: command, command: ["my-agent", "--print"] }
  replay: { kind: replay, cassette: "cassettes/demo.yaml" }
aliases: { sonnet: "anthropic:claude-sonnet-4-5", local: "ollama:qwen2.5-coder" }
roles: { fast: "ollama:qwen2.5-coder", capable: sonnet, reasoning: "anthropic:claude-opus-4-1" }
default: capable          # the model a run starts with ("original"), any resolvable name
prices:                   # USD per million tokens
  "anthropic:claude-sonnet-4-5": { input: 3.0, output: 15.0 }
"#;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn example_config() -> ModelConfig {
    let project = tempfile::tempdir().unwrap();
    write(&project_config_path(project.path()), EXAMPLE);
    ModelConfig::load_files(project.path(), None).unwrap()
}

fn mref(provider: &str, model: &str) -> ModelRef {
    ModelRef { provider: provider.to_string(), model: model.to_string() }
}

fn msg(role: Role, content: &str) -> Message {
    Message { role, content: content.to_string() }
}

fn request(model: &str, messages: Vec<Message>) -> ChatRequest {
    ChatRequest { model: model.to_string(), messages, max_tokens: None, temperature: None, json: false }
}

// ---------------------------------------------------------------- config

#[test]
fn builtin_defaults_name_the_public_providers_and_a_project_cassette() {
    let project = tempfile::tempdir().unwrap();
    let config = ModelConfig::load_files(project.path(), None).unwrap();
    assert_eq!(config.providers["openai"].kind, ProviderKind::Openai);
    assert_eq!(config.providers["openai"].api_key_env.as_deref(), Some("OPENAI_API_KEY"));
    assert_eq!(config.providers["anthropic"].api_key_env.as_deref(), Some("ANTHROPIC_API_KEY"));
    assert_eq!(config.providers["ollama"].base_url.as_deref(), Some("http://127.0.0.1:11434"));
    assert_eq!(config.providers["replay"].cassette.as_deref(), Some(project.path().join(".workflow/cassette.yaml").as_path()));
    assert!(config.files.is_empty());
}

#[test]
fn the_documented_example_parses() {
    let config = example_config();
    assert_eq!(config.providers["glm"].base_url.as_deref(), Some("https://open.bigmodel.cn/api/paas/v4"));
    assert_eq!(config.providers["agent"].command.as_deref(), Some(&["my-agent".to_string(), "--print".to_string()][..]));
    assert_eq!(config.aliases["sonnet"], "anthropic:claude-sonnet-4-5");
    assert_eq!(config.roles["capable"], "sonnet");
    assert_eq!(config.default.as_deref(), Some("capable"));
    assert_eq!(config.prices["anthropic:claude-sonnet-4-5"].output, 15.0);
    assert!(config.providers["replay"].cassette.as_ref().unwrap().ends_with("cassettes/demo.yaml"));
}

#[test]
fn project_file_wins_over_user_file_which_wins_over_builtins() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let user = home.path().join("workflow/config.yaml");
    write(
        &user,
        "providers:\n  openai: { kind: openai, base-url: \"http://proxy.local/v1\", api-key-env: MY_KEY }\n  glm: { kind: openai, base-url: \"https://glm\" }\n\
         aliases: { fast-one: \"glm:glm-4.6\", sonnet: \"anthropic:claude-sonnet-4-5\" }\ndefault: sonnet\n",
    );
    write(&project_config_path(project.path()), "aliases: { sonnet: \"anthropic:claude-sonnet-4-6\" }\ndefault: fast-one\n");
    let config = ModelConfig::load_files(project.path(), Some(&user)).unwrap();
    assert_eq!(config.providers["openai"].base_url.as_deref(), Some("http://proxy.local/v1"));
    assert_eq!(config.providers["openai"].api_key_env.as_deref(), Some("MY_KEY"));
    assert!(config.providers.contains_key("anthropic"), "built-ins not overridden stay");
    assert_eq!(config.aliases["fast-one"], "glm:glm-4.6");
    assert_eq!(config.aliases["sonnet"], "anthropic:claude-sonnet-4-6");
    assert_eq!(config.default.as_deref(), Some("fast-one"));
    assert_eq!(config.files, vec![user, project_config_path(project.path())]);
}

#[test]
fn user_file_location_follows_the_environment() {
    let env = |vars: &'static [(&'static str, &'static str)]| move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v));
    assert_eq!(
        user_config_path_from(env(&[("WORKFLOW_CONFIG", "/etc/wf.yaml"), ("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")])),
        Some(PathBuf::from("/etc/wf.yaml"))
    );
    assert_eq!(user_config_path_from(env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")])), Some(PathBuf::from("/x/workflow/config.yaml")));
    assert_eq!(user_config_path_from(env(&[("XDG_CONFIG_HOME", ""), ("HOME", "/h")])), Some(PathBuf::from("/h/.config/workflow/config.yaml")));
    assert_eq!(user_config_path_from(env(&[])), None);
}

#[test]
fn an_unknown_kind_is_an_error_naming_file_and_line() {
    let project = tempfile::tempdir().unwrap();
    let file = project_config_path(project.path());
    write(&file, "providers:\n  openai: { kind: openai }\n  mine: { kind: opneai, base-url: \"http://x\" }\n");
    let err = ModelConfig::load_files(project.path(), None).unwrap_err();
    let ConfigError::Parse { path, line, .. } = &err else { panic!("expected a parse error, got {err:?}") };
    assert_eq!(path, &file);
    assert_eq!(*line, 3, "{err}");
    let text = err.to_string();
    assert!(text.starts_with(&format!("{}:3:", file.display())), "{text}");
    assert!(text.contains("opneai"), "{text}");
}

#[test]
fn unknown_keys_and_malformed_yaml_are_located() {
    let project = tempfile::tempdir().unwrap();
    let file = project_config_path(project.path());
    write(&file, "aliases: { a: \"openai:x\" }\nrole:\n  fast: a\n");
    let err = ModelConfig::load_files(project.path(), None).unwrap_err();
    assert!(matches!(err, ConfigError::Parse { line: 2, .. }), "{err}");

    write(&file, "aliases: { a: \"openai:x\"\nroles: [\n");
    let err = ModelConfig::load_files(project.path(), None).unwrap_err();
    let ConfigError::Parse { line, .. } = err else { panic!("{err:?}") };
    assert!(line >= 1);
}

#[test]
fn incomplete_providers_are_rejected() {
    let project = tempfile::tempdir().unwrap();
    let file = project_config_path(project.path());
    write(&file, "providers:\n  agent: { kind: command }\n");
    let err = ModelConfig::load_files(project.path(), None).unwrap_err().to_string();
    assert!(err.contains("agent") && err.contains("command: [program"), "{err}");
    write(&file, "providers:\n  rec: { kind: replay }\n");
    let err = ModelConfig::load_files(project.path(), None).unwrap_err().to_string();
    assert!(err.contains("cassette"), "{err}");
}

// ---------------------------------------------------------------- resolution

#[test]
fn provider_model_strings_resolve_to_configured_providers() {
    let config = example_config();
    let none = BTreeMap::new();
    assert_eq!(resolve(&config, &none, "openai:gpt-4o").unwrap(), mref("openai", "gpt-4o"));
    assert_eq!(resolve(&config, &none, "ollama:qwen2.5-coder:7b").unwrap(), mref("ollama", "qwen2.5-coder:7b"));
    let err = resolve(&config, &none, "opnai:gpt-4o").unwrap_err();
    assert_eq!(err.kind, ResolveErrorKind::UnknownProvider);
    assert_eq!(err.suggestion.as_deref(), Some("openai:gpt-4o"));
    assert!(err.to_string().contains("configured providers:") && err.to_string().contains("`glm`"), "{err}");
    assert_eq!(resolve(&config, &none, "openai:").unwrap_err().kind, ResolveErrorKind::Malformed);
}

#[test]
fn aliases_and_roles_resolve_and_the_workflows_own_aliases_win() {
    let config = example_config();
    let mut wf = BTreeMap::new();
    assert_eq!(resolve(&config, &wf, "sonnet").unwrap(), mref("anthropic", "claude-sonnet-4-5"));
    assert_eq!(resolve(&config, &wf, "role:capable").unwrap(), mref("anthropic", "claude-sonnet-4-5"));
    assert_eq!(resolve(&config, &wf, "role:fast").unwrap(), mref("ollama", "qwen2.5-coder"));

    wf.insert("sonnet".to_string(), "glm:glm-4.6".to_string());
    wf.insert("coder".to_string(), "role:capable".to_string());
    assert_eq!(resolve(&config, &wf, "sonnet").unwrap(), mref("glm", "glm-4.6"));
    // Every bare name on a chain looks at the workflow's aliases first: role `capable` says `sonnet`, which this workflow redefines.
    assert_eq!(resolve(&config, &wf, "coder").unwrap(), mref("glm", "glm-4.6"));

    // A workflow alias may point at the config alias of the same name.
    let mut wf = BTreeMap::new();
    wf.insert("local".to_string(), "local".to_string());
    assert_eq!(resolve(&config, &wf, "local").unwrap(), mref("ollama", "qwen2.5-coder"));
}

#[test]
fn cycles_are_errors_naming_the_chain() {
    let mut config = example_config();
    config.aliases.insert("a".to_string(), "b".to_string());
    config.aliases.insert("b".to_string(), "role:loop".to_string());
    config.roles.insert("loop".to_string(), "a".to_string());
    let err = resolve(&config, &BTreeMap::new(), "a").unwrap_err();
    assert_eq!(err.kind, ResolveErrorKind::Cycle);
    assert_eq!(err.chain, ["a", "b", "role:loop", "a"]);
    assert!(err.to_string().contains("a → b → role:loop → a"), "{err}");
}

#[test]
fn unknown_names_list_what_is_known_with_a_did_you_mean() {
    let config = example_config();
    let mut wf = BTreeMap::new();
    wf.insert("glm".to_string(), "glm:glm-4.6".to_string());
    let err = resolve(&config, &wf, "sonet").unwrap_err();
    assert_eq!(err.kind, ResolveErrorKind::UnknownName);
    assert_eq!(err.suggestion.as_deref(), Some("sonnet"));
    let text = err.to_string();
    assert!(text.contains("`glm`") && text.contains("`role:fast`") && text.contains("did you mean `sonnet`?"), "{text}");

    let err = resolve(&config, &wf, "role:capabel").unwrap_err();
    assert_eq!(err.kind, ResolveErrorKind::UnknownRole);
    assert_eq!(err.suggestion.as_deref(), Some("role:capable"));

    // An alias whose target is unknown names the chain.
    wf.insert("coder".to_string(), "role:clever".to_string());
    let err = resolve(&config, &wf, "coder").unwrap_err();
    assert_eq!(err.chain, ["coder", "role:clever"]);
    assert!(err.to_string().contains("via coder → role:clever"), "{err}");
}

#[test]
fn every_model_a_workflow_names_is_checked_before_the_run() {
    let yaml = r#"
name: models
models:
  glm: glm:glm-4.6
  coder: role:capabel
steps:
  - id: to-glm
    action: switch-model
    model: glm
  - id: ask
    action: ai-prompt
    prompt: "hello"
    model: opnai:gpt-4o
  - id: back
    action: switch-model
    model: original
"#;
    let ir = compile_sources(&[Source::new("models.yaml", yaml)], &ReadOptions::default()).unwrap().remove(0).ir;
    let config = example_config();
    let errors = check_workflow_models(&config, &ir);
    let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{texts:#?}");
    assert!(texts[0].contains("models: `coder`") && texts[0].contains("role:capable"), "{}", texts[0]);
    assert!(texts[1].contains("step `ask`") && texts[1].contains("openai:gpt-4o"), "{}", texts[1]);

    let fine = yaml.replace("role:capabel", "role:capable").replace("opnai", "openai");
    let ir = compile_sources(&[Source::new("models.yaml", &fine)], &ReadOptions::default()).unwrap().remove(0).ir;
    assert!(check_workflow_models(&config, &ir).is_empty());
}

// ---------------------------------------------------------------- cost

#[test]
fn cost_comes_from_prices_per_million_tokens() {
    let config = example_config();
    let usage = Usage { input_tokens: 1_000_000, output_tokens: 200_000 };
    let cost = cost_usd(&config, &mref("anthropic", "claude-sonnet-4-5"), usage).unwrap();
    assert!((cost - 6.0).abs() < 1e-9, "{cost}");
    assert_eq!(cost_usd(&config, &mref("ollama", "qwen2.5-coder"), usage), None);
}

// ---------------------------------------------------------------- command provider

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn command_provider_pipes_the_conversation_to_stdin() {
    let provider = CommandProvider::new("agent", argv(&["cat"]));
    let req = request("any", vec![msg(Role::System, "Be brief."), msg(Role::User, "Hi"), msg(Role::Assistant, "Hello."), msg(Role::User, "Review PR 12")]);
    let answer = provider.chat(&req, None).await.unwrap();
    assert_eq!(answer.content, "## system\nBe brief.\n\n## user\nHi\n\n## assistant\nHello.\n\n## user\nReview PR 12");
    assert_eq!(conversation_text(&req.messages).trim_end(), answer.content);
    let sent = conversation_text(&req.messages).len() as u64;
    assert_eq!(answer.usage.input_tokens, sent.div_ceil(4));
    assert_eq!(answer.model, "any");
    assert_eq!(provider.name(), "agent");
}

#[tokio::test]
async fn command_provider_substitutes_the_prompt_placeholder_without_a_shell() {
    let provider =
        CommandProvider::new("agent", argv(&["sh", "-c", "printf '%s|%s|%s' \"$1\" \"$2\" \"$WORKFLOW_MODEL\"", "sh", "{prompt}", "--model={model}"]));
    let tricky = "it's $(rm -rf /) `x` \"quoted\"";
    let req = request("m1", vec![msg(Role::System, "sys"), msg(Role::User, "first"), msg(Role::User, tricky)]);
    let answer = provider.chat(&req, None).await.unwrap();
    assert_eq!(answer.content, format!("{tricky}|--model=m1|m1"));
    assert_eq!(answer.usage.input_tokens, (tricky.len() as u64).div_ceil(4));
    assert_eq!(answer.usage.output_tokens, (answer.content.len() as u64).div_ceil(4));
}

#[tokio::test]
async fn command_provider_streams_stdout_as_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("agent.sh");
    std::fs::write(&script, "#!/bin/sh\ncat > /dev/null\nprintf 'one '\nsleep 0.2\nprintf 'two '\nsleep 0.2\necho 'three'\n").unwrap();
    let provider = CommandProvider::new("agent", argv(&["sh", script.to_str().unwrap()]));
    let chunks = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink_chunks = chunks.clone();
    let mut sink = move |s: &str| sink_chunks.lock().unwrap().push(s.to_string());
    let answer = provider.chat(&request("m", vec![msg(Role::User, "go")]), Some(&mut sink)).await.unwrap();
    assert_eq!(answer.content, "one two three");
    let chunks = chunks.lock().unwrap();
    assert!(chunks.len() >= 2, "expected several chunks, got {chunks:?}");
    assert_eq!(chunks.concat(), "one two three\n");
}

#[tokio::test]
async fn command_provider_reports_exit_code_and_last_stderr_line() {
    let provider = CommandProvider::new("agent", argv(&["sh", "-c", "cat >/dev/null; echo noise >&2; echo 'model overloaded' >&2; exit 3"]));
    let err = provider.chat(&request("m", vec![msg(Role::User, "go")]), None).await.unwrap_err();
    let ProviderError::Other(text) = err else { panic!("expected Other, got {err:?}") };
    assert!(text.contains("exit code 3") && text.contains("model overloaded") && !text.contains("noise"), "{text}");

    let missing = CommandProvider::new("agent", argv(&["/nonexistent/agent-cli"]));
    let err = missing.chat(&request("m", vec![msg(Role::User, "go")]), None).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Other(t) if t.contains("cannot start")), "{err:?}");
}

#[tokio::test]
async fn command_provider_answers_a_program_that_ignores_large_input() {
    let provider = CommandProvider::new("agent", argv(&["sh", "-c", "echo done"]));
    let big = "x".repeat(1 << 20);
    let answer = provider.chat(&request("m", vec![msg(Role::User, &big)]), None).await.unwrap();
    assert_eq!(answer.content, "done");
}

// ---------------------------------------------------------------- replay and recording

/// The one stand-in: a provider answering from a list, so recording can be
/// tested without a network (the real providers are tested elsewhere).
struct Canned {
    answers: Mutex<Vec<&'static str>>,
}

impl Provider for Canned {
    fn name(&self) -> &str {
        "canned"
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest, stream: Stream<'a>) -> Pin<Box<dyn Future<Output = Result<ChatResponse, ProviderError>> + Send + 'a>> {
        let content = self.answers.lock().unwrap().remove(0).to_string();
        Box::pin(async move {
            if let Some(sink) = stream {
                sink(&content);
            }
            Ok(ChatResponse { usage: Usage { input_tokens: 10, output_tokens: content.len() as u64 }, content, model: format!("{}-0801", request.model) })
        })
    }
}

fn conversation() -> Vec<ChatRequest> {
    let first = request("gpt-4o", vec![msg(Role::System, "You review."), msg(Role::User, "Review PR 12")]);
    let mut second = first.clone();
    second.messages.push(msg(Role::Assistant, "Needs tests."));
    second.messages.push(msg(Role::User, "Tests added. Again?"));
    vec![first, second.clone(), second]
}

#[tokio::test]
async fn recorded_answers_replay_identically_and_keys_never_reach_the_cassette() {
    std::env::set_var("OPENAI_API_KEY", "sk-test-secret");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cassettes/run.yaml");
    let inner = Arc::new(Canned { answers: Mutex::new(vec!["Needs tests.", "Approved.", "Still approved."]) });
    let recorder = RecordingProvider::new(inner, &path);
    let mut recorded = vec![];
    for req in conversation() {
        recorded.push(recorder.chat(&req, None).await.unwrap());
    }
    assert_eq!(recorder.name(), "canned");

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("sk-test-secret"), "{text}");
    assert!(text.contains("Review PR 12") && text.contains("Approved."), "{text}");
    assert_eq!(Cassette::read(&path).unwrap().interactions.len(), 3);
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");

    let replay = ReplayProvider::open(&path).unwrap();
    let mut streamed = String::new();
    let mut sink = |s: &str| streamed.push_str(s);
    let mut replayed = vec![replay.chat(&conversation()[0], Some(&mut sink)).await.unwrap()];
    assert_eq!(streamed, "Needs tests.");
    for req in &conversation()[1..] {
        replayed.push(replay.chat(req, None).await.unwrap());
    }
    assert_eq!(replayed, recorded);
    // Once all recordings of a request have played, the last one plays again.
    assert_eq!(replay.chat(&conversation()[2], None).await.unwrap().content, "Still approved.");
}

#[tokio::test]
async fn a_request_not_in_the_cassette_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    let recorder = RecordingProvider::new(Arc::new(Canned { answers: Mutex::new(vec!["Needs tests."]) }), &path);
    recorder.chat(&conversation()[0], None).await.unwrap();

    let replay = ReplayProvider::open(&path).unwrap();
    let changed = request("gpt-4o", vec![msg(Role::System, "You review."), msg(Role::User, "Review PR 13")]);
    let err = replay.chat(&changed, None).await.unwrap_err();
    let ProviderError::Other(text) = err else { panic!("{err:?}") };
    assert!(text.contains("no recorded answer for this request (model gpt-4o, last message: \"Review PR 13\")"), "{text}");
    assert!(text.contains("--record") && text.contains("c.yaml"), "{text}");

    let other_model = request("gpt-5", conversation()[0].messages.clone());
    assert!(replay.chat(&other_model, None).await.is_err());
}

#[test]
fn a_broken_cassette_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, "interactions:\n  - request: { model: m, hash: h }\n    response: { content: 3.5.x: [ }\n").unwrap();
    let err = ReplayProvider::open(&path).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:", path.display())), "{err}");
    assert!(ReplayProvider::open(dir.path().join("missing.yaml")).is_err());
}
