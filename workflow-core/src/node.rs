//! The spanned tree both front ends produce: YAML text and `workflow!`
//! tokens become the same `Node`s, so one builder (`build.rs`) turns either
//! into the model and every field rule is written once.

use crate::diagnostic::{Diagnostic, Source};
use crate::span::{Ident, LineIndex, Span, TextSpan};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::sync::Arc;

/// One value of a workflow definition, with where it was written.
#[derive(Clone, Debug)]
pub struct Node {
    /// The value.
    pub kind: NodeKind,
    /// Where it was written.
    pub span: Span,
}

/// The shapes a value can take.
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// `~`, `null` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string (or, from `workflow!`, a bare identifier).
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A mapping, keys in the order written.
    Map(Vec<(Ident, Node)>),
    /// A Rust expression written in `workflow!` (a condition closure, a custom action's function).
    Rust(proc_macro2::TokenStream),
}

impl Node {
    /// A node of the given kind at `span`.
    pub fn new(kind: NodeKind, span: Span) -> Node {
        Node { kind, span }
    }

    /// The string value, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[(Ident, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value as text, for scalars (numbers and booleans are written out).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            NodeKind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// What kind of value this is, for error messages ("a list", "a number").
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "an empty value",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Rust(_) => "a Rust expression",
        }
    }

    /// The value as JSON (Rust expressions become their source text).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => Value::from(*f),
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(entries.iter().map(|(k, v)| (k.value.clone(), v.to_json())).collect()),
            NodeKind::Rust(tokens) => Value::String(tokens.to_string()),
        }
    }
}

/// Parses YAML text into a spanned tree. A syntax error becomes one
/// diagnostic naming the file, line and column.
pub fn parse_yaml(source: &Arc<Source>) -> Result<Node, Diagnostic> {
    // YAML 1.2 scalars: `n`, `yes` or `off` are words (a step id `n` stays `n`),
    // and `017` stays a string rather than becoming 17.
    let options = serde_saphyr::options! { strict_booleans: true, leading_zero_numbers_as_strings: true };
    let lines = LineIndex::new(&source.text);
    match serde_saphyr::from_str_with_options::<serde_saphyr::Spanned<YamlNode>>(&source.text, options) {
        Ok(root) => Ok(convert(root, &lines)),
        Err(err) => {
            let span = err.location().map(|loc| location_span(&loc, &source.text, &lines)).unwrap_or(Span::Text(TextSpan::at(&source.text, 0, 1)));
            let message = yaml_error_message(&err.to_string());
            let mut d = Diagnostic::error(span, format!("{}: malformed YAML: {message}", source.path))
                .help("fix the YAML syntax at the marked place (quotes, indentation, `key: value`)");
            d.source = Some(source.clone());
            Err(d)
        }
    }
}

/// The first line of the parser's message, without its own location prefix.
fn yaml_error_message(full: &str) -> String {
    let first = full.lines().next().unwrap_or(full).trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "line 7 column 3: invalid indentation" → "invalid indentation"
    let message = match first.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest,
        _ => first,
    };
    // The parser's own advice is about its Rust API, not about the file.
    if message.to_ascii_lowercase().contains("duplicate") {
        return "a key is given twice in the same mapping".to_string();
    }
    message.to_string()
}

/// The place the parser reports. Line and column come from the byte offset
/// (through `lines`), not from the parser: it counts a lone `\r` as a line
/// break, which the rendered snippet does not, and both must agree.
fn location_span(loc: &serde_saphyr::Location, text: &str, lines: &LineIndex<'_>) -> Span {
    let span = loc.span();
    match span.byte_offset() {
        Some(offset) if offset as usize <= text.len() => Span::Text(lines.span(offset as usize, span.byte_len().unwrap_or(1) as usize)),
        _ => {
            // No byte information: walk to the line and column instead.
            let line = loc.line().max(1) as usize;
            let offset: usize = text.split_inclusive('\n').take(line - 1).map(str::len).sum();
            let col = loc.column().max(1) as usize - 1;
            let line_text = &text[offset.min(text.len())..];
            let byte_col: usize = line_text.chars().take(col).map(char::len_utf8).sum();
            Span::Text(TextSpan::at(text, offset + byte_col, 1))
        }
    }
}

fn convert(node: serde_saphyr::Spanned<YamlNode>, lines: &LineIndex<'_>) -> Node {
    let text = lines.text();
    let span = location_span(&node.referenced, text, lines);
    let kind = match node.value {
        YamlNode::Null => NodeKind::Null,
        YamlNode::Bool(b) => NodeKind::Bool(b),
        YamlNode::Int(i) => NodeKind::Int(i),
        YamlNode::Float(f) => NodeKind::Float(f),
        YamlNode::Str(s) => NodeKind::Str(s),
        YamlNode::Seq(items) => NodeKind::Seq(items.into_iter().map(|n| convert(n, lines)).collect()),
        YamlNode::Map(entries) => NodeKind::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = Ident::new(k.value.into_key(), location_span(&k.referenced, text, lines));
                    (key, convert(v, lines))
                })
                .collect(),
        ),
    };
    Node { kind, span }
}

/// The untyped YAML value serde-saphyr fills in, every part wrapped in its location.
enum YamlNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<serde_saphyr::Spanned<YamlNode>>),
    Map(Vec<(serde_saphyr::Spanned<YamlNode>, serde_saphyr::Spanned<YamlNode>)>),
}

impl YamlNode {
    /// Keys are names; a number or boolean used as a key is read as its text.
    fn into_key(self) -> String {
        match self {
            YamlNode::Str(s) => s,
            YamlNode::Int(i) => i.to_string(),
            YamlNode::Float(f) => f.to_string(),
            YamlNode::Bool(b) => b.to_string(),
            YamlNode::Null => "null".to_string(),
            YamlNode::Seq(_) | YamlNode::Map(_) => "<complex key>".to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for YamlNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnyVisitor;
        impl<'de> Visitor<'de> for AnyVisitor {
            type Value = YamlNode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<YamlNode, E> {
                Ok(YamlNode::Null)
            }
            fn visit_none<E>(self) -> Result<YamlNode, E> {
                Ok(YamlNode::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<YamlNode, D::Error> {
                YamlNode::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<YamlNode, E> {
                Ok(YamlNode::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<YamlNode, E> {
                Ok(YamlNode::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<YamlNode, E> {
                Ok(i64::try_from(v).map_or(YamlNode::Float(v as f64), YamlNode::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<YamlNode, E> {
                Ok(YamlNode::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<YamlNode, E> {
                Ok(YamlNode::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<YamlNode, E> {
                Ok(YamlNode::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YamlNode, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(YamlNode::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YamlNode, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(YamlNode::Map(entries))
            }
        }
        deserializer.deserialize_any(AnyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_and_value_knows_its_line_and_column() {
        let src = Source::new("w.yaml", "name: x\nsteps:\n  - id: s1\n    commnd: \"echo\"\n");
        let root = parse_yaml(&src).unwrap();
        let map = root.as_map().unwrap();
        assert_eq!(map[0].0.value, "name");
        let NodeKind::Seq(steps) = &map[1].1.kind else { panic!("steps is a list") };
        let step = steps[0].as_map().unwrap();
        assert_eq!(step[1].0.value, "commnd");
        assert_eq!(step[1].0.span.line(), Some(4));
        match step[1].0.span {
            Span::Text(t) => assert_eq!(t.column, 5),
            _ => panic!("text span expected"),
        }
    }

    #[test]
    fn yaml_1_1_words_and_leading_zeros_stay_strings() {
        let src = Source::new("w.yaml", "a: n\nb: off\nc: 017\nd: true\ne: 17\n");
        let root = parse_yaml(&src).unwrap();
        let kinds: Vec<String> = root.as_map().unwrap().iter().map(|(_, v)| format!("{:?}", v.kind)).collect();
        assert_eq!(kinds, [r#"Str("n")"#, r#"Str("off")"#, r#"Str("017")"#, "Bool(true)", "Int(17)"]);
    }

    #[test]
    fn a_repeated_key_is_explained_in_the_files_terms() {
        let src = Source::new("dup.yaml", "name: a\nname: b\n");
        let err = parse_yaml(&src).unwrap_err();
        assert!(err.message.contains("given twice"), "{}", err.message);
        assert!(!err.message.contains("Options"), "{}", err.message);
        assert_eq!(err.line(), Some(2));
    }

    #[test]
    fn malformed_yaml_names_file_and_line() {
        let src = Source::new("bad.yaml", "steps:\n  - id: s1\n    command: \"echo 'unclosed\n  - id: s2\n");
        let err = parse_yaml(&src).unwrap_err();
        let text = err.render();
        assert!(text.contains("bad.yaml"), "{text}");
        assert!(err.line().is_some());
    }
}
