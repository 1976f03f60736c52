//! What a call cost, from the config file's `prices:` (USD per million tokens).

use super::config::ModelConfig;
use super::resolve::ModelRef;
use crate::providers::Usage;

/// The cost in USD of `usage` on `model`, or `None` when the config file has
/// no price for it (keyed `provider:model`). Local models are free only if
/// priced at 0.
pub fn cost_usd(config: &ModelConfig, model: &ModelRef, usage: Usage) -> Option<f64> {
    let price = config.prices.get(&model.to_string())?;
    Some((usage.input_tokens as f64 * price.input + usage.output_tokens as f64 * price.output) / 1_000_000.0)
}
