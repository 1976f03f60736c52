//! Filling in `${..}` in a step's fields just before it runs.

use crate::actions::shell::ref_var;
use crate::engine::Engine;
use serde_json::{Map, Value};
use workflow_core::template::{parse_template, Part};

/// The step's fields with every `${..}` replaced by its value. For a
/// `shell` step's `command`, references become quoted environment variable
/// references instead, and their values are returned separately.
pub fn step_params(engine: &dyn Engine, step: usize) -> Result<(Map<String, Value>, Vec<String>), String> {
    let ir_step = &engine.ir().steps[step];
    let mut params = Map::new();
    let mut command_refs = Vec::new();
    for (key, value) in &ir_step.params {
        let filled = if ir_step.action == "shell" && key == "command" {
            Value::String(shell_command(engine, step, value.as_str().unwrap_or_default(), &mut command_refs)?)
        } else {
            fill(engine, step, value)?
        };
        params.insert(key.clone(), filled);
    }
    Ok((params, command_refs))
}

fn fill(engine: &dyn Engine, step: usize, value: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) if text.contains("${") => Value::String(render(engine, step, text)?),
        Value::String(text) => Value::String(text.replace("$${", "${")),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(engine, step, v)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| Ok((k.clone(), fill(engine, step, v)?))).collect::<Result<_, String>>()?),
        other => other.clone(),
    })
}

/// Renders a template string against the run's state.
pub fn render(engine: &dyn Engine, step: usize, text: &str) -> Result<String, String> {
    let template = parse_template(text).map_err(|e| e.message)?;
    template.render(&mut |path| engine.lookup(step, path).map(|v| crate::interpret::display(&v))).map_err(|e| e.message)
}

fn shell_command(engine: &dyn Engine, step: usize, text: &str, refs: &mut Vec<String>) -> Result<String, String> {
    let template = parse_template(text).map_err(|e| e.message)?;
    let mut out = String::new();
    let mut quoting = Quoting::None;
    for part in &template.parts {
        match part {
            Part::Text(t) => {
                quoting = quoting.after(t);
                out.push_str(t);
            }
            Part::Ref { path, .. } => {
                let value = engine.lookup(step, path).ok_or_else(|| format!("`${{{}}}` has no value", path.join(".")))?;
                refs.push(crate::interpret::display(&value));
                let var = ref_var(refs.len());
                // The value always reaches the shell as one double-quoted expansion: data, never code.
                match quoting {
                    Quoting::None => out.push_str(&format!("\"${{{var}}}\"")),
                    Quoting::Double => out.push_str(&format!("${{{var}}}")),
                    Quoting::Single => out.push_str(&format!("'\"${{{var}}}\"'")),
                }
            }
        }
    }
    Ok(out)
}

/// Which quotes of `sh` a position of a command is inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quoting {
    None,
    Single,
    Double,
}

impl Quoting {
    /// The quoting after reading `text` from this state.
    fn after(self, text: &str) -> Quoting {
        let mut state = self;
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            state = match (state, c) {
                (Quoting::None | Quoting::Double, '\\') => {
                    chars.next();
                    state
                }
                (Quoting::None, '\'') => Quoting::Single,
                (Quoting::Single, '\'') => Quoting::None,
                (Quoting::None, '"') => Quoting::Double,
                (Quoting::Double, '"') => Quoting::None,
                _ => state,
            };
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::Quoting;

    #[test]
    fn quoting_follows_the_shell() {
        assert_eq!(Quoting::None.after("echo "), Quoting::None);
        assert_eq!(Quoting::None.after("echo \""), Quoting::Double);
        assert_eq!(Quoting::None.after("echo '"), Quoting::Single);
        assert_eq!(Quoting::None.after("echo 'it\"s' "), Quoting::None);
        assert_eq!(Quoting::None.after("echo \"a\\\" "), Quoting::Double, "an escaped quote does not close");
        assert_eq!(Quoting::None.after("echo \\' "), Quoting::None, "an escaped quote does not open");
        assert_eq!(Quoting::Double.after("'"), Quoting::Double, "a single quote inside double quotes is text");
    }
}
