//! Filling in `${..}` in a step's fields just before it runs.

use crate::actions::shell::{ref_var, REF_PREFIX};
use crate::engine::Engine;
use crate::shell_syntax::{reference_places, Place};
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
    let (command, values) = shell_text(engine, step, text)?;
    *refs = values;
    Ok(command)
}

/// A shell command template made ready to run: each `${..}` replaced by a
/// reference to an environment variable ([`ref_var`]) quoted as its place in
/// the command needs, and the values those variables carry (the n-th value
/// for `WORKFLOW_REF_n`). A value never becomes shell code: the shell
/// expands it as one word of data. Used for `shell` steps and `notify:` commands.
pub fn shell_text(engine: &dyn Engine, step: usize, text: &str) -> Result<(String, Vec<String>), String> {
    let template = parse_template(text).map_err(|e| e.message)?;
    let mut values = Vec::new();
    let mut names = Vec::new();
    for part in &template.parts {
        if let Part::Ref { path, .. } = part {
            let value = engine.lookup(step, path).ok_or_else(|| format!("`${{{}}}` has no value", path.join(".")))?;
            values.push(crate::interpret::display(&value));
            names.push(as_written(path));
        }
    }
    Ok((place_values(&template.parts, &values, &names)?, values))
}

/// The command of `parts` with the n-th reference written as its place needs
/// (see [`crate::shell_syntax::Place`]); `values` and `names` (as written, for
/// errors) are the references' in order.
fn place_values(parts: &[Part], values: &[String], names: &[String]) -> Result<String, String> {
    let mut marked = String::new();
    let mut n = 0;
    for part in parts {
        match part {
            Part::Text(t) => marked.push_str(t),
            Part::Ref { .. } => {
                n += 1;
                marked.push_str(&format!("${{{}}}", ref_var(n)));
            }
        }
    }
    if n == 0 {
        return Ok(marked);
    }
    let places = reference_places(&marked, REF_PREFIX, n).map_err(|e| {
        let mut named: Vec<&str> = names.iter().map(String::as_str).collect();
        named.dedup();
        format!("cannot pass the values of `{}` to the shell safely: {e}", named.join("`, `"))
    })?;
    let mut out = String::new();
    let mut n = 0;
    let mut spliced = false;
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Ref { .. } => {
                n += 1;
                let (var, value, name) = (ref_var(n), &values[n - 1], &names[n - 1]);
                match &places[&n] {
                    Place::Plain => out.push_str(&format!("\"${{{var}}}\"")),
                    Place::DoubleQuoted | Place::Heredoc => out.push_str(&format!("${{{var}}}")),
                    // Out of the single quotes, one double-quoted expansion, back in.
                    Place::SingleQuoted => out.push_str(&format!("'\"${{{var}}}\"'")),
                    Place::Arithmetic => {
                        if !is_whole_number(value) {
                            return Err(format!(
                                "`{name}` stands in shell arithmetic `$((..))`, where the shell would read its value `{}` as an expression; only whole numbers are passed there",
                                preview(value)
                            ));
                        }
                        out.push_str(&format!("${{{var}}}"));
                    }
                    // Nothing is expanded in a quoted heredoc: the value goes in as it is, checked below.
                    Place::QuotedHeredoc { .. } => {
                        out.push_str(value);
                        spliced = true;
                    }
                }
            }
        }
    }
    if spliced {
        check_quoted_heredocs(&marked, &out, &places, values, names)?;
    }
    Ok(out)
}

/// A value spliced into a quoted heredoc must not end it early: the heredocs of
/// the command run must be exactly those written, with the values in them.
fn check_quoted_heredocs(
    marked: &str,
    command: &str,
    places: &std::collections::BTreeMap<usize, Place>,
    values: &[String],
    names: &[String],
) -> Result<(), String> {
    let fill = |body: &str| {
        let mut body = body.to_string();
        for (n, place) in places {
            if matches!(place, Place::QuotedHeredoc { .. }) {
                body = body.replace(&format!("${{{}}}", ref_var(*n)), &values[n - 1]);
            }
        }
        body
    };
    let expected: Vec<String> = crate::shell_syntax::quoted_heredoc_bodies(marked).iter().map(|b| fill(b)).collect();
    if crate::shell_syntax::quoted_heredoc_bodies(command) != expected {
        let (name, delimiter) = places
            .iter()
            .find_map(|(n, p)| match p {
                Place::QuotedHeredoc { delimiter, .. } => Some((names[n - 1].clone(), delimiter.clone())),
                _ => None,
            })
            .unwrap_or_default();
        return Err(format!("the value of `{name}` holds the line `{delimiter}`, which would end the quoted heredoc early; it is not run"));
    }
    Ok(())
}

fn is_whole_number(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.len() <= 18 && digits.chars().all(|c| c.is_ascii_digit())
}

/// The start of a value, for a message.
fn preview(value: &str) -> String {
    let short: String = value.chars().take(40).collect();
    if short.len() < value.len() {
        format!("{short}…")
    } else {
        short
    }
}

/// A reference as people write it: `${x}` for a variable, `${id.field}` for a step output.
fn as_written(path: &[String]) -> String {
    let path = match path.first().map(String::as_str) {
        Some("var" | "step") => &path[1..],
        _ => path,
    };
    format!("${{{}}}", path.join("."))
}
