//! The model config file: providers, aliases, roles, the default model and prices.
//!
//! ```yaml
//! providers:
//!   glm:    { kind: openai, base-url: "https://open.bigmodel.cn/api/paas/v4", api-key-env: GLM_API_KEY }
//!   agent:  { kind: command, command: ["my-agent", "--print"] }
//! aliases: { sonnet: "anthropic:claude-sonnet-4-5" }
//! roles: { fast: "ollama:qwen2.5-coder", capable: sonnet }
//! default: capable
//! prices:
//!   "anthropic:claude-sonnet-4-5": { input: 3.0, output: 15.0 }
//! permissions:            # sensitive steps (shell, push, merge, file edits); see `permissions`
//!   allow: ["shell:cargo *", "push:origin/*"]
//!   deny: ["shell:*rm -rf*", "merge-pr:*"]
//! ```
//!
//! [`ModelConfig::load`] merges, later wins: the built-in defaults, the user
//! file (`$WORKFLOW_CONFIG`, else `$XDG_CONFIG_HOME/workflow/config.yaml`,
//! else `~/.config/workflow/config.yaml`) and the project file
//! `<project>/.workflow/config.yaml`. The file holds the *names* of the
//! environment variables that carry API keys, never the keys.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What speaks to a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// An OpenAI-compatible chat-completions API (OpenAI, GLM, DeepSeek, ...).
    Openai,
    /// The Anthropic messages API.
    Anthropic,
    /// A local Ollama server.
    Ollama,
    /// A local program fed the conversation on stdin (see `providers::command`).
    Command,
    /// Recorded answers played from a cassette (see `providers::replay`).
    Replay,
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Command => "command",
            ProviderKind::Replay => "replay",
        })
    }
}

/// One configured provider.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ProviderConfig {
    /// What speaks to it.
    pub kind: ProviderKind,
    /// The API's base URL (http kinds).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The environment variable holding the API key (never the key itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The program and its arguments (`kind: command`).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// The cassette file (`kind: replay`); a relative path is relative to the project directory.
    #[serde(default)]
    pub cassette: Option<PathBuf>,
}

impl ProviderConfig {
    /// The API key from the environment variable named by `api-key-env`, if
    /// both are set. Keys live only in the environment and in memory.
    pub fn api_key(&self) -> Option<String> {
        let var = self.api_key_env.as_deref()?;
        std::env::var(var).ok().filter(|k| !k.is_empty())
    }
}

/// Price of a model in USD per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Per million input (prompt) tokens.
    pub input: f64,
    /// Per million output (completion) tokens.
    pub output: f64,
}

/// The merged model configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelConfig {
    /// Providers by name (the part before `:` in `provider:model`).
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Aliases: name → any resolvable model name.
    pub aliases: BTreeMap<String, String>,
    /// Roles (`fast`, `capable`, `reasoning`, or others): name → any resolvable model name.
    pub roles: BTreeMap<String, String>,
    /// The model a run starts with (`original`), any resolvable name.
    pub default: Option<String>,
    /// Prices by `provider:model`.
    pub prices: BTreeMap<String, Price>,
    /// Which sensitive steps run without asking, and which never run (`permissions:`).
    pub permissions: crate::permissions::PermissionsConfig,
    /// The files that were merged, in order (for messages and `workflow config`).
    pub files: Vec<PathBuf>,
}

/// One file's content, before merging.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    providers: BTreeMap<String, ProviderConfig>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[serde(default)]
    roles: BTreeMap<String, String>,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    prices: BTreeMap<String, Price>,
    #[serde(default)]
    permissions: crate::permissions::PermissionsConfig,
}

/// A config file that cannot be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("{}: cannot read the model config: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML is malformed or does not fit the format.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// The file parses but an entry is incomplete.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The project-level config file of a project directory.
pub fn project_config_path(project_dir: &Path) -> PathBuf {
    project_dir.join(".workflow").join("config.yaml")
}

/// The user-level config file: `$WORKFLOW_CONFIG`, else
/// `$XDG_CONFIG_HOME/workflow/config.yaml`, else `~/.config/workflow/config.yaml`.
pub fn user_config_path() -> Option<PathBuf> {
    user_config_path_from(|name| std::env::var_os(name))
}

/// [`user_config_path`] over a given environment (for tests and embedders).
pub fn user_config_path_from(env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(explicit) = set("WORKFLOW_CONFIG") {
        return Some(PathBuf::from(explicit));
    }
    let base = match set("XDG_CONFIG_HOME") {
        Some(xdg) => PathBuf::from(xdg),
        None => PathBuf::from(set("HOME")?).join(".config"),
    };
    Some(base.join("workflow").join("config.yaml"))
}

/// Where an `openai` or `anthropic` provider is when the config names no
/// `base-url`: `$OPENAI_BASE_URL` / `$ANTHROPIC_BASE_URL` as the vendors'
/// own tools read them (a proxy, a gateway, a compatible server), else the
/// public API. `None` for the other kinds. `env` reads a variable.
pub fn default_base_url(kind: ProviderKind, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let (var, public) = match kind {
        ProviderKind::Openai => ("OPENAI_BASE_URL", "https://api.openai.com/v1"),
        ProviderKind::Anthropic => ("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
        _ => return None,
    };
    Some(env(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).unwrap_or_else(|| public.to_string()))
}

impl ModelConfig {
    /// The built-in defaults: `openai`, `anthropic` and `ollama` at their
    /// public addresses (or `$OPENAI_BASE_URL`, `$ANTHROPIC_BASE_URL`) with
    /// their usual key variables, and `replay` playing
    /// `.workflow/cassette.yaml` of the project.
    pub fn builtin() -> ModelConfig {
        let http = |kind, url: &str, key: Option<&str>| ProviderConfig {
            kind,
            base_url: Some(url.to_string()),
            api_key_env: key.map(str::to_string),
            command: None,
            cassette: None,
        };
        let mut providers = BTreeMap::new();
        let url = |kind| default_base_url(kind, |var| std::env::var(var).ok()).unwrap_or_default();
        providers.insert("openai".to_string(), http(ProviderKind::Openai, &url(ProviderKind::Openai), Some("OPENAI_API_KEY")));
        providers.insert("anthropic".to_string(), http(ProviderKind::Anthropic, &url(ProviderKind::Anthropic), Some("ANTHROPIC_API_KEY")));
        providers.insert("ollama".to_string(), http(ProviderKind::Ollama, "http://127.0.0.1:11434", None));
        providers.insert(
            "replay".to_string(),
            ProviderConfig {
                kind: ProviderKind::Replay,
                base_url: None,
                api_key_env: None,
                command: None,
                cassette: Some(PathBuf::from(".workflow/cassette.yaml")),
            },
        );
        ModelConfig { providers, ..ModelConfig::default() }
    }

    /// Loads the configuration of a project: built-in defaults, then the user
    /// file, then the project file (later wins). Missing files are skipped.
    pub fn load(project_dir: &Path) -> Result<ModelConfig, ConfigError> {
        ModelConfig::load_files(project_dir, user_config_path().as_deref())
    }

    /// [`ModelConfig::load`] with the user file given explicitly (`None`: no user file).
    pub fn load_files(project_dir: &Path, user_file: Option<&Path>) -> Result<ModelConfig, ConfigError> {
        let mut config = ModelConfig::builtin();
        for path in user_file.into_iter().map(Path::to_path_buf).chain([project_config_path(project_dir)]) {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(ConfigError::Read { path, source }),
            };
            config.merge_text(&text, &path)?;
        }
        config.anchor_paths(project_dir);
        Ok(config)
    }

    /// Parses one file's text and merges it over this configuration: each
    /// provider, alias, role and price replaces the entry of the same name;
    /// `default` replaces the default; permission patterns add to the lists.
    pub fn merge_text(&mut self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let file = parse_file(text, path)?;
        for (name, provider) in &file.providers {
            validate_provider(name, provider).map_err(|message| ConfigError::Invalid { path: path.to_path_buf(), message })?;
        }
        for (name, price) in &file.prices {
            if !(price.input >= 0.0 && price.output >= 0.0 && price.input.is_finite() && price.output.is_finite()) {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: format!("price of `{name}`: input and output must be non-negative numbers (USD per million tokens)"),
                });
            }
        }
        self.providers.extend(file.providers);
        self.aliases.extend(file.aliases);
        self.roles.extend(file.roles);
        self.prices.extend(file.prices);
        self.permissions.merge(file.permissions);
        if file.default.is_some() {
            self.default = file.default;
        }
        self.files.push(path.to_path_buf());
        Ok(())
    }

    /// Makes relative cassette paths relative to the project directory.
    fn anchor_paths(&mut self, project_dir: &Path) {
        for provider in self.providers.values_mut() {
            if let Some(cassette) = &provider.cassette {
                if cassette.is_relative() {
                    provider.cassette = Some(project_dir.join(cassette));
                }
            }
        }
    }
}

fn parse_file(text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
    if text.trim().is_empty() {
        return Ok(ConfigFile::default());
    }
    serde_saphyr::from_str::<ConfigFile>(text).map_err(|err| {
        let (line, column) = err.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        ConfigError::Parse { path: path.to_path_buf(), line, column, message: first_line(&err.to_string()) }
    })
}

/// The parser's message without its own location prefix and snippet.
fn first_line(full: &str) -> String {
    let first = full.lines().next().unwrap_or(full).trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest.to_string(),
        _ => first.to_string(),
    }
}

fn validate_provider(name: &str, p: &ProviderConfig) -> Result<(), String> {
    if name.is_empty() || name.contains(':') {
        return Err(format!("provider name `{name}` must be non-empty and must not contain `:`"));
    }
    match p.kind {
        ProviderKind::Command => match &p.command {
            Some(argv) if !argv.is_empty() && !argv[0].is_empty() => Ok(()),
            _ => Err(format!("provider `{name}` (kind: command) needs `command: [program, args..]`")),
        },
        ProviderKind::Replay if p.cassette.is_none() => Err(format!("provider `{name}` (kind: replay) needs `cassette: <file>`")),
        _ => Ok(()),
    }
}
