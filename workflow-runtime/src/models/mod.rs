//! Models: the config file that names providers, aliases, roles and prices
//! ([`config`]), how a model name a workflow uses becomes a provider and a
//! model ([`resolve`]), and what a call cost ([`cost`]).
//!
//! The file format, its locations and the resolution rules are documented in
//! `docs/models.md`.

pub mod config;
pub mod cost;
pub mod resolve;

pub use config::{ConfigError, ModelConfig, Price, ProviderConfig, ProviderKind};
pub use cost::cost_usd;
pub use resolve::{check_workflow_models, resolve, ModelRef, ResolveError, ResolveErrorKind};
pub mod runtime;
pub use runtime::{ModelRuntime, RunModels};
