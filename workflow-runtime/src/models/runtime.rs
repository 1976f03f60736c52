//! Models in runs: the config, the providers it names (built on demand, with
//! API keys read from the environment at call time), and the per-run model
//! state the executor persists under the run state's `"run"` key.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use workflow_core::ir::WorkflowIr;

use super::config::{ModelConfig, ProviderKind};
use super::resolve::{check_workflow_models, resolve, ModelRef, ResolveError};
use crate::providers::anthropic::Anthropic;
use crate::providers::command::CommandProvider;
use crate::providers::http::HttpClient;
use crate::providers::ollama::Ollama;
use crate::providers::openai::OpenAi;
use crate::providers::replay::{RecordingProvider, ReplayProvider};
use crate::providers::{api_key_from_env, Message, Provider, Usage};

/// The model layer of an executor: the config, providers registered by name,
/// the starting model and an optional cassette every answer is recorded to.
pub struct ModelRuntime {
    config: ModelConfig,
    registered: Mutex<HashMap<String, Arc<dyn Provider>>>,
    starting: Option<String>,
    record: Option<PathBuf>,
}

impl std::fmt::Debug for ModelRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRuntime").field("starting", &self.starting).field("record", &self.record).finish_non_exhaustive()
    }
}

impl ModelRuntime {
    /// A model layer over `config`.
    pub fn new(config: ModelConfig) -> ModelRuntime {
        ModelRuntime { config, registered: Mutex::default(), starting: None, record: None }
    }

    /// Use `provider` for the provider called `name` (instead of building one from the config).
    pub fn with_provider(self, name: impl Into<String>, provider: Arc<dyn Provider>) -> ModelRuntime {
        self.registered.lock().unwrap_or_else(|p| p.into_inner()).insert(name.into(), provider);
        self
    }

    /// Runs start with the model `name` (any resolvable name) instead of the config's `default`.
    pub fn with_starting_model(mut self, name: impl Into<String>) -> ModelRuntime {
        self.starting = Some(name.into());
        self
    }

    /// Record every answer to the cassette at `path` (appending to it).
    pub fn with_recording(mut self, path: impl Into<PathBuf>) -> ModelRuntime {
        self.record = Some(path.into());
        self
    }

    /// The config.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Resolves `name` against the workflow's `models:` and the config (`original` is the caller's business).
    pub fn resolve(&self, ir: &WorkflowIr, name: &str) -> Result<ModelRef, ResolveError> {
        resolve(&self.config, &ir.models, name)
    }

    /// The model a run of `ir` starts with: the starting model given, else the config's `default`, else none.
    pub fn starting_model(&self, ir: &WorkflowIr) -> Result<Option<ModelRef>, ResolveError> {
        match self.starting.as_deref().or(self.config.default.as_deref()) {
            Some(name) => self.resolve(ir, name).map(Some),
            None => Ok(None),
        }
    }

    /// Every model the workflow names, and the starting model, resolve: the problems, empty when all is well.
    pub fn check(&self, ir: &WorkflowIr) -> Vec<ResolveError> {
        let mut errors = check_workflow_models(&self.config, ir);
        if let Err(mut e) = self.starting_model(ir) {
            e.context = Some("the starting model".to_string());
            errors.push(e);
        }
        errors
    }

    /// The provider called `name`: a registered one, else one built from the config
    /// (API keys are read from the environment now). Wrapped in a recorder when recording.
    pub fn provider(&self, name: &str) -> Result<Arc<dyn Provider>, String> {
        let registered = self.registered.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned();
        let inner = match registered {
            Some(p) => p,
            None => self.build(name)?,
        };
        match &self.record {
            Some(path) => Ok(Arc::new(RecordingProvider::append(inner, path).map_err(|e| e.to_string())?)),
            None => Ok(inner),
        }
    }

    fn build(&self, name: &str) -> Result<Arc<dyn Provider>, String> {
        let config = self.config.providers.get(name).ok_or_else(|| format!("provider `{name}` is not configured"))?;
        let http = || HttpClient::new().map_err(|e| e.to_string());
        let base_url = || {
            config
                .base_url
                .clone()
                .or_else(|| super::config::default_base_url(config.kind, |var| std::env::var(var).ok()))
                .ok_or_else(|| format!("provider `{name}` has no `base-url`"))
        };
        let key = |var: &Option<String>| -> Result<Option<String>, String> {
            match var {
                Some(var) => api_key_from_env(name, var).map(|k| Some(k.expose().to_string())).map_err(|e| e.to_string()),
                None => Ok(None),
            }
        };
        Ok(match config.kind {
            ProviderKind::Openai => {
                let p = OpenAi::new(name, base_url()?, key(&config.api_key_env)?, http()?);
                Arc::new(match &config.api_key_env {
                    Some(var) => p.with_key_env(var.clone()),
                    None => p,
                })
            }
            ProviderKind::Anthropic => {
                let p = Anthropic::new(name, base_url()?, key(&config.api_key_env)?, http()?);
                Arc::new(match &config.api_key_env {
                    Some(var) => p.with_key_env(var.clone()),
                    None => p,
                })
            }
            ProviderKind::Ollama => Arc::new(Ollama::new(name, base_url().unwrap_or_else(|_| Ollama::DEFAULT_BASE_URL.to_string()), http()?)),
            ProviderKind::Command => {
                let argv = config.command.clone().ok_or_else(|| format!("provider `{name}` has no `command`"))?;
                Arc::new(CommandProvider::new(name, argv))
            }
            ProviderKind::Replay => {
                let path = config.cassette.clone().ok_or_else(|| format!("provider `{name}` has no `cassette`"))?;
                let replay = ReplayProvider::open(&path).map_err(|e| e.to_string())?;
                Arc::new(replay)
            }
        })
    }
}

/// A run's model state: its current model, its starting model, its one
/// conversation (shared across model switches) and what it spent so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunModels {
    /// The model `ai-prompt` steps use (a step's own `model:` aside).
    pub model: Option<ModelRef>,
    /// The model the run started with (`original`).
    pub original: Option<ModelRef>,
    /// The conversation so far.
    pub conversation: Vec<Message>,
    /// Tokens spent so far.
    pub usage: Usage,
    /// USD spent so far (on priced models).
    pub cost_usd: f64,
}

fn model_ref(value: Option<&Value>) -> Option<ModelRef> {
    let (provider, model) = value?.as_str()?.split_once(':')?;
    Some(ModelRef { provider: provider.to_string(), model: model.to_string() })
}

impl RunModels {
    /// The model state stored under `"run"` in a run state (empty when there is none).
    pub fn from_state(state: &Value) -> RunModels {
        let Some(run) = state.get("run") else { return RunModels::default() };
        RunModels {
            model: model_ref(run.get("model")),
            original: model_ref(run.get("original")),
            conversation: run.get("conversation").cloned().and_then(|c| serde_json::from_value(c).ok()).unwrap_or_default(),
            usage: run.get("usage").cloned().and_then(|u| serde_json::from_value(u).ok()).unwrap_or_default(),
            cost_usd: run.get("cost_usd").and_then(Value::as_f64).unwrap_or(0.0),
        }
    }

    /// Whether there is anything to store.
    pub fn is_empty(&self) -> bool {
        *self == RunModels::default()
    }

    /// As stored under `"run"`.
    pub fn to_json(&self) -> Value {
        json!({
            "model": self.model.as_ref().map(ToString::to_string),
            "original": self.original.as_ref().map(ToString::to_string),
            "conversation": self.conversation,
            "usage": self.usage,
            "cost_usd": self.cost_usd,
        })
    }

    /// `state` (an engine's) with this under `"run"`; unchanged when this is empty.
    pub fn merge_into(&self, mut state: Value) -> Value {
        if !self.is_empty() {
            if let Value::Object(map) = &mut state {
                map.insert("run".to_string(), self.to_json());
            }
        }
        state
    }
}
