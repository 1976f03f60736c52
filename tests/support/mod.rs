//! What the parity tests share: a seeded random number generator, random
//! values of each type, and which output fields a workflow reads.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::BTreeSet;
use workflow::language::expr::Type;
use workflow::language::ir::WorkflowIr;

/// The output fields of step `id` that any expression or `${..}` of the workflow reads.
pub fn fields_read(ir: &WorkflowIr, id: &str) -> BTreeSet<String> {
    fn walk(value: &Value, id: &str, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(path)) = map.get("Path") {
                    if let [Value::String(kind), Value::String(step), Value::String(field), ..] = path.as_slice() {
                        if kind == "step" && step == id {
                            found.insert(field.clone());
                        }
                    }
                }
                map.values().for_each(|v| walk(v, id, found));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, id, found)),
            Value::String(text) => {
                let prefix = format!("${{step.{id}.");
                for (at, _) in text.match_indices(&prefix) {
                    let rest = &text[at + prefix.len()..];
                    let field: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-').collect();
                    found.insert(field);
                }
            }
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    walk(&serde_json::to_value(&ir.steps).expect("the IR serializes"), id, &mut found);
    found
}

/// Words outputs and variables take: what the workflows compare with, match and search.
pub const WORDS: &[&str] =
    &["", "ok", "all ok", "fast", "slow", "retry", "nit", "LGTM", "wait for CI", "error: boom", "error: Boom!", "low", "high", "m", "zeta", "ana"];

/// A random value of type `ty`.
pub fn random_value(ty: Type, rng: &mut Rng) -> Value {
    match ty {
        Type::Bool => json!(rng.coin()),
        Type::Int => json!(rng.below(14) as i64 - 3),
        Type::Float => json!(rng.pick(&[0.0, 0.5, 1.5, 2.25, -1.0, 100.0])),
        Type::String => json!(rng.pick(WORDS)),
        Type::List => Value::Array((0..rng.below(4)).map(|_| json!(rng.pick(WORDS))).collect()),
        Type::Map => json!({ "cpu": rng.below(4) }),
        Type::Null => Value::Null,
        Type::Any => match rng.below(5) {
            0 => random_value(Type::Bool, rng),
            1 => random_value(Type::Int, rng),
            2 => random_value(Type::Float, rng),
            3 => Value::Null,
            _ => random_value(Type::String, rng),
        },
    }
}

/// xorshift64*, seeded from a key (workflow, step, visit, attempt) and the seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(key: &str, seed: u64) -> Rng {
        // FNV-1a of the key, mixed with the seed by splitmix64.
        let mut z = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        z = z.wrapping_add(seed.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn coin(&mut self) -> bool {
        self.next() >> 63 == 1
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}
