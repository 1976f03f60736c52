//! The tool protocol: one JSON object per reply, found in whatever the model wrote around it.
//!
//! The protocol is plain text so that every provider can speak it (an HTTP
//! API, a local command, a replayed cassette): no provider's native
//! tool-calling format is needed.

use serde::Deserialize;

/// One tool call of the model.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "tool", rename_all = "lowercase")]
pub enum ToolCall {
    /// Read a text file.
    Read {
        /// The file, relative to the repository root.
        path: String,
    },
    /// List a directory, recursively.
    List {
        /// The directory, relative to the repository root (missing: the root).
        #[serde(default)]
        path: String,
    },
    /// Write a whole file, creating it and its parent directories if needed.
    Write {
        /// The file, relative to the repository root.
        path: String,
        /// Its new content.
        content: String,
    },
    /// Replace `old`, which must occur exactly once in the file, by `new`.
    Patch {
        /// The file, relative to the repository root.
        path: String,
        /// The exact text to replace.
        old: String,
        /// What replaces it.
        new: String,
    },
    /// Finish.
    Done {
        /// What the model says it did.
        summary: String,
    },
}

/// Finds the tool call in a reply: a JSON object `{"tool": ...}`, bare, fenced or surrounded by prose.
pub fn parse_tool_call(reply: &str) -> Result<ToolCall, String> {
    let mut first_object = None;
    for (start, _) in reply.match_indices('{') {
        let Some(object) = object_at(&reply[start..]) else { continue };
        if object.get("tool").is_some() {
            return serde_json::from_value(object).map_err(|e| format!("not a valid tool call: {e}"));
        }
        first_object.get_or_insert(object);
    }
    match first_object {
        Some(_) => Err("the JSON object has no \"tool\" field; name the tool, as in {\"tool\": \"read\", \"path\": \"src/lib.rs\"}".to_string()),
        None => Err("no tool call found: reply with exactly one JSON object such as {\"tool\": \"list\", \"path\": \".\"}".to_string()),
    }
}

/// The JSON object that `text` opens with, if its braces balance and it parses.
///
/// Models often put raw newlines and tabs inside JSON strings (a file's
/// content, mostly), which JSON forbids; those are escaped and the object
/// parsed again rather than costing the model a step.
fn object_at(text: &str) -> Option<serde_json::Value> {
    let end = balanced_end(text)?;
    let candidate = &text[..end];
    let parsed = serde_json::from_str::<serde_json::Value>(candidate).or_else(|_| serde_json::from_str(&escape_controls_in_strings(candidate)));
    parsed.ok().filter(serde_json::Value::is_object)
}

/// The byte length of the balanced `{...}` that `text` starts with, braces inside strings ignored.
fn balanced_end(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

fn escape_controls_in_strings(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string && !escaped {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() && (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_string = false;
                    out.push(c);
                }
                c => out.push(c),
            }
        } else {
            escaped = false;
            if c == '"' && !in_string {
                in_string = true;
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &str) -> ToolCall {
        ToolCall::Read { path: path.to_string() }
    }

    #[test]
    fn a_bare_object_is_a_call() {
        assert_eq!(parse_tool_call(r#"{"tool": "read", "path": "src/lib.rs"}"#), Ok(read("src/lib.rs")));
        assert_eq!(
            parse_tool_call(r#"{"tool":"patch","path":"a.rs","old":"x","new":"y"}"#),
            Ok(ToolCall::Patch { path: "a.rs".into(), old: "x".into(), new: "y".into() })
        );
        assert_eq!(parse_tool_call(r#"{"tool": "done", "summary": "ok"}"#), Ok(ToolCall::Done { summary: "ok".into() }));
    }

    #[test]
    fn a_fenced_object_is_a_call() {
        let reply = "Let me look first.\n```json\n{\"tool\": \"list\", \"path\": \"src\"}\n```\n";
        assert_eq!(parse_tool_call(reply), Ok(ToolCall::List { path: "src".into() }));
    }

    #[test]
    fn list_without_a_path_lists_the_root() {
        assert_eq!(parse_tool_call(r#"{"tool": "list"}"#), Ok(ToolCall::List { path: String::new() }));
    }

    #[test]
    fn prose_braces_before_the_call_are_skipped() {
        let reply = "I'll replace the {placeholder} in main: {\"tool\": \"read\", \"path\": \"main.rs\"} and then patch it.";
        assert_eq!(parse_tool_call(reply), Ok(read("main.rs")));
    }

    #[test]
    fn braces_and_quotes_inside_strings_do_not_end_the_object() {
        let reply = r#"{"tool": "write", "path": "a.rs", "content": "fn f() { let s = \"}\"; }\n"} trailing }"#;
        assert_eq!(parse_tool_call(reply), Ok(ToolCall::Write { path: "a.rs".into(), content: "fn f() { let s = \"}\"; }\n".into() }));
    }

    #[test]
    fn only_the_first_call_is_taken() {
        let reply = r#"{"tool": "read", "path": "a"} {"tool": "read", "path": "b"}"#;
        assert_eq!(parse_tool_call(reply), Ok(read("a")));
    }

    #[test]
    fn an_object_without_tool_does_not_hide_the_call_after_it() {
        let reply = r#"The config is {"edition": "2021"}. {"tool": "read", "path": "Cargo.toml"}"#;
        assert_eq!(parse_tool_call(reply), Ok(read("Cargo.toml")));
    }

    #[test]
    fn raw_newlines_inside_strings_are_accepted() {
        let reply = "{\"tool\": \"write\", \"path\": \"a.txt\", \"content\": \"line 1\n\tline 2\n\"}";
        assert_eq!(parse_tool_call(reply), Ok(ToolCall::Write { path: "a.txt".into(), content: "line 1\n\tline 2\n".into() }));
    }

    #[test]
    fn mistakes_are_explained() {
        let none = parse_tool_call("I think the bug is in parse().").unwrap_err();
        assert!(none.starts_with("no tool call found"), "{none}");
        let unbalanced = parse_tool_call(r#"{"tool": "read", "path": "a""#).unwrap_err();
        assert!(unbalanced.starts_with("no tool call found"), "{unbalanced}");
        let no_tool = parse_tool_call(r#"{"path": "a"}"#).unwrap_err();
        assert!(no_tool.contains("no \"tool\" field"), "{no_tool}");
        let unknown = parse_tool_call(r#"{"tool": "delete", "path": "a"}"#).unwrap_err();
        assert!(unknown.contains("unknown variant `delete`") && unknown.contains("`patch`"), "{unknown}");
        let missing = parse_tool_call(r#"{"tool": "write", "path": "a"}"#).unwrap_err();
        assert!(missing.contains("missing field `content`"), "{missing}");
    }
}
