//! From a model name a workflow uses to a provider and a model.
//!
//! A name is one of:
//! * `provider:model`: the provider must be configured; the model is
//!   everything after the first `:` (so `ollama:qwen2.5-coder:7b` works);
//! * `role:NAME`: the config file's role, resolved in turn;
//! * a bare alias: the workflow's own `models:` first, then the config
//!   file's `aliases:`, resolved in turn.
//!
//! Chains are followed up to [`MAX_DEPTH`] links; a cycle is an error naming
//! the chain. `original` (the run's starting model) is the caller's business.

use std::collections::BTreeMap;
use std::fmt;

use workflow_core::ir::WorkflowIr;

use super::config::ModelConfig;

/// How many links a chain of aliases and roles may have.
pub const MAX_DEPTH: usize = 16;

/// A resolved model: which provider to ask, and for which model.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModelRef {
    /// A configured provider's name.
    pub provider: String,
    /// The provider's model name.
    pub model: String,
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider, self.model)
    }
}

/// What went wrong resolving a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolveErrorKind {
    /// A bare name that is no alias.
    UnknownName,
    /// `provider:model` with a provider that is not configured.
    UnknownProvider,
    /// `role:NAME` with a role that is not configured.
    UnknownRole,
    /// Aliases or roles that refer to each other.
    Cycle,
    /// An empty name, or an empty provider or model part.
    Malformed,
}

/// A model name that does not resolve.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolveError {
    /// Where it was named (`step \`s2\``), when known.
    pub context: Option<String>,
    /// What went wrong.
    pub kind: ResolveErrorKind,
    /// The names followed from the name asked for (first) up to the failing one (last).
    pub chain: Vec<String>,
    /// The explanation, listing what is known.
    pub message: String,
    /// The closest known name, if one is close.
    pub suggestion: Option<String>,
}

impl ResolveError {
    /// The name asked for.
    pub fn name(&self) -> &str {
        self.chain.first().map(String::as_str).unwrap_or("")
    }
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(context) = &self.context {
            write!(f, "{context}: ")?;
        }
        write!(f, "model `{}` does not resolve", self.name())?;
        if self.chain.len() > 1 && self.kind != ResolveErrorKind::Cycle {
            write!(f, " (via {})", self.chain.join(" → "))?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, "; did you mean `{s}`?")?;
        }
        Ok(())
    }
}

impl std::error::Error for ResolveError {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    Workflow,
    Config,
    Role,
}

/// Resolves `name` against the workflow's own aliases and the config.
pub fn resolve(config: &ModelConfig, workflow_models: &BTreeMap<String, String>, name: &str) -> Result<ModelRef, ResolveError> {
    let mut seen: Vec<(String, Layer)> = Vec::new();
    let mut chain: Vec<String> = Vec::new();
    let mut current = name.trim().to_string();
    let fail =
        |kind, chain: &[String], message: String, suggestion: Option<String>| ResolveError { context: None, kind, chain: chain.to_vec(), message, suggestion };
    loop {
        chain.push(current.clone());
        if chain.len() > MAX_DEPTH {
            return Err(fail(ResolveErrorKind::Cycle, &chain, format!("more than {MAX_DEPTH} links: {}", chain.join(" → ")), None));
        }
        if current.is_empty() {
            return Err(fail(ResolveErrorKind::Malformed, &chain, "the name is empty".to_string(), None));
        }
        if let Some(role) = current.strip_prefix("role:") {
            let key = (current.clone(), Layer::Role);
            if seen.contains(&key) {
                return Err(fail(ResolveErrorKind::Cycle, &chain, format!("aliases and roles form a cycle: {}", chain.join(" → ")), None));
            }
            seen.push(key);
            match config.roles.get(role) {
                Some(target) => current = target.trim().to_string(),
                None => {
                    let known: Vec<&str> = config.roles.keys().map(String::as_str).collect();
                    let message = format!("role `{role}` is not configured (known roles: {})", list(&known));
                    let suggestion = closest(role, known.iter().copied()).map(|r| format!("role:{r}"));
                    return Err(fail(ResolveErrorKind::UnknownRole, &chain, message, suggestion));
                }
            }
            continue;
        }
        if let Some((provider, model)) = current.split_once(':') {
            if provider.is_empty() || model.is_empty() {
                return Err(fail(ResolveErrorKind::Malformed, &chain, format!("`{current}` needs both parts of `provider:model`"), None));
            }
            if !config.providers.contains_key(provider) {
                let known: Vec<&str> = config.providers.keys().map(String::as_str).collect();
                let message = format!("provider `{provider}` is not configured (configured providers: {})", list(&known));
                let suggestion = closest(provider, known.iter().copied()).map(|p| format!("{p}:{model}"));
                return Err(fail(ResolveErrorKind::UnknownProvider, &chain, message, suggestion));
            }
            return Ok(ModelRef { provider: provider.to_string(), model: model.to_string() });
        }
        // A bare alias: the workflow's own first, then the config's. A
        // workflow alias may name the config alias of the same name.
        let in_workflow = workflow_models.get(&current).filter(|_| !seen.contains(&(current.clone(), Layer::Workflow)));
        let in_config = config.aliases.get(&current).filter(|_| !seen.contains(&(current.clone(), Layer::Config)));
        let (layer, target) = match (in_workflow, in_config) {
            (Some(t), _) => (Layer::Workflow, t),
            (None, Some(t)) => (Layer::Config, t),
            (None, None) if workflow_models.contains_key(&current) || config.aliases.contains_key(&current) => {
                return Err(fail(ResolveErrorKind::Cycle, &chain, format!("aliases and roles form a cycle: {}", chain.join(" → ")), None));
            }
            (None, None) => {
                let mut known: Vec<String> = workflow_models.keys().chain(config.aliases.keys()).cloned().collect();
                known.extend(config.roles.keys().map(|r| format!("role:{r}")));
                known.sort();
                known.dedup();
                let names: Vec<&str> = known.iter().map(String::as_str).collect();
                let providers: Vec<&str> = config.providers.keys().map(String::as_str).collect();
                let message =
                    format!("`{current}` is no alias, role or `provider:model` (aliases and roles: {}; providers: {})", list(&names), list(&providers));
                let suggestion = closest(&current, names.iter().copied());
                return Err(fail(ResolveErrorKind::UnknownName, &chain, message, suggestion));
            }
        };
        seen.push((current.clone(), layer));
        current = target.trim().to_string();
    }
}

/// Every model a workflow names resolves: its `models:` aliases, the
/// `model` of `switch-model` steps and the `model:` of any step. Run this
/// before a run starts; an empty result means all is well. `original` and
/// names built at run time (`${..}`) are not checked.
pub fn check_workflow_models(config: &ModelConfig, ir: &WorkflowIr) -> Vec<ResolveError> {
    let mut errors = Vec::new();
    let mut check = |name: &str, context: String| {
        if name == "original" || name.contains("${") {
            return;
        }
        if let Err(mut e) = resolve(config, &ir.models, name) {
            e.context = Some(context);
            errors.push(e);
        }
    };
    for alias in ir.models.keys() {
        check(alias, format!("workflow `{}`, models: `{alias}`", ir.name));
    }
    for step in &ir.steps {
        if step.action == "switch-model" {
            if let Some(name) = step.params.get("model").and_then(|v| v.as_str()) {
                check(name, format!("workflow `{}`, step `{}` (switch-model)", ir.name, step.id));
            }
        }
        if let Some(name) = &step.model {
            check(name, format!("workflow `{}`, step `{}`", ir.name, step.id));
        }
    }
    errors
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
    }
}

/// The known name closest to `wanted`, when close enough to be a typo.
fn closest<'a>(wanted: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    let limit = (wanted.chars().count() / 3).max(2);
    known.map(|k| (strsim::damerau_levenshtein(wanted, k), k)).filter(|(d, k)| *d <= limit && *k != wanted).min().map(|(_, k)| k.to_string())
}
