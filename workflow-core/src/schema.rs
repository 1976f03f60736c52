//! A JSON Schema of workflow files, for editors (`workflow schema`). It is
//! generated from the action catalog the checks use, so the two cannot drift.
//! The schema helps while typing; the checks remain the authority (they also
//! know jump targets, variables, cycles and types).

use crate::catalog::{FieldKind, FieldSpec, ACTIONS, STEP_KEYS, WORKFLOW_KEYS};
use serde_json::{json, Map, Value};

/// The JSON Schema (draft 2020-12) of a workflow file.
pub fn json_schema() -> Value {
    let mut properties = fields(WORKFLOW_KEYS, &["steps"]);
    properties.insert(
        "steps".to_string(),
        json!({ "type": "array", "minItems": 1, "items": { "oneOf": ACTIONS.iter().map(|a| step_schema(a.name, a.fields)).collect::<Vec<_>>() } }),
    );
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "workflow",
        "description": "A workflow file: steps mixing shell commands, git and pull requests, model calls and human decisions",
        "type": "object",
        "required": ["name", "steps"],
        "properties": properties,
        "additionalProperties": false,
    })
}

/// One step of action `action`: the common step keys and the action's own fields.
fn step_schema(action: &str, action_fields: &[FieldSpec]) -> Value {
    let mut properties = fields(STEP_KEYS, &["action"]);
    properties.extend(fields(action_fields, &[]));
    properties.insert("action".to_string(), json!({ "const": action }));
    let required: Vec<&str> = ["id", "action"].into_iter().chain(action_fields.iter().filter(|f| f.required).map(|f| f.name)).collect();
    json!({ "type": "object", "title": action, "required": required, "properties": properties, "additionalProperties": false })
}

/// Properties for fields (and their aliases), skipping `except`.
fn fields(specs: &[FieldSpec], except: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    for spec in specs.iter().filter(|s| !except.contains(&s.name)) {
        for name in std::iter::once(spec.name).chain(spec.aliases.iter().copied()) {
            out.insert(name.to_string(), kind_schema(spec.kind));
        }
    }
    out
}

fn kind_schema(kind: FieldKind) -> Value {
    match kind {
        FieldKind::Text | FieldKind::StepRef | FieldKind::ModelRef | FieldKind::VarName | FieldKind::WorkflowRef | FieldKind::Regex => {
            json!({ "type": ["string", "number", "boolean"] })
        }
        FieldKind::Condition => json!({ "type": ["string", "boolean"] }),
        FieldKind::TextList => json!({ "oneOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }] }),
        FieldKind::Int => json!({ "type": ["integer", "string"] }),
        FieldKind::Bool => json!({ "type": "boolean" }),
        FieldKind::Duration => json!({ "type": ["string", "number"] }),
        FieldKind::Choice(words) => json!({ "enum": words }),
        FieldKind::Map => json!({ "type": "object" }),
        FieldKind::Any => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_and_key_is_in_the_schema() {
        let schema = json_schema();
        let steps = schema["properties"]["steps"]["items"]["oneOf"].as_array().unwrap();
        assert_eq!(steps.len(), ACTIONS.len());
        let shell = steps.iter().find(|s| s["title"] == "shell").unwrap();
        assert_eq!(shell["required"], json!(["id", "action", "command"]));
        assert_eq!(shell["properties"]["action"], json!({ "const": "shell" }));
        assert!(shell["properties"].get("on-true").is_some() && shell["properties"].get("onTrue").is_some(), "aliases are accepted too");
        assert!(shell["properties"].get("commnd").is_none());
        let interactive = steps.iter().find(|s| s["title"] == "interactive").unwrap();
        assert_eq!(interactive["properties"]["input-type"]["enum"], json!(["text", "password", "confirm", "choice", "multiline"]));
        for key in WORKFLOW_KEYS {
            assert!(schema["properties"].get(key.name).is_some(), "{}", key.name);
        }
        assert_eq!(schema["required"], json!(["name", "steps"]));
    }
}
