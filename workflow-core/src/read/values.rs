//! Reading single values: mappings, strings, names, numbers, booleans and
//! durations. Each reader reports a clear error naming what it expected and
//! what it found, and returns `None` on a mismatch so reading goes on.

use super::Reader;
use crate::diagnostic::Diagnostic;
use crate::expr::Type;
use crate::node::{Node, NodeKind};
use crate::span::Ident;

impl Reader<'_> {
    pub(super) fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Ident, Node)]> {
        match &node.kind {
            NodeKind::Map(m) => Some(m),
            NodeKind::Null => Some(&[]),
            _ => {
                self.push(Diagnostic::error(node.span, format!("`{what}` must be a mapping of `key: value`, found {}", node.describe())));
                None
            }
        }
    }

    pub(super) fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Str(s) => Some(s.clone()),
            _ => {
                self.push(Diagnostic::error(node.span, format!("`{what}` must be a string, found {}", node.describe())));
                None
            }
        }
    }

    /// A string, or a number/boolean read as its text (`version: 1.0`).
    pub(super) fn scalar(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.scalar_text() {
            Some(s) => Some(s),
            None => {
                self.push(Diagnostic::error(node.span, format!("`{what}` must be a single value, found {}", node.describe())));
                None
            }
        }
    }

    pub(super) fn ident(&mut self, node: &Node, what: &str) -> Option<Ident> {
        match node.scalar_text() {
            Some(s) if !s.trim().is_empty() => Some(Ident::new(s, node.span)),
            _ => {
                self.push(Diagnostic::error(node.span, format!("expected {what}, found {}", node.describe())));
                None
            }
        }
    }

    pub(super) fn int(&mut self, node: &Node, what: &str) -> Option<i64> {
        match &node.kind {
            NodeKind::Int(i) => Some(*i),
            NodeKind::Str(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
            _ => {
                self.push(Diagnostic::error(node.span, format!("`{what}` must be a whole number, found {}", node.describe())));
                None
            }
        }
    }

    pub(super) fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.kind {
            NodeKind::Bool(b) => Some(*b),
            _ => {
                self.push(Diagnostic::error(node.span, format!("`{what}` must be true or false, found {}", node.describe())));
                None
            }
        }
    }

    /// `250ms`, `30s`, `5m`, `1h`, or a bare number (seconds; milliseconds for `timeoutMs`).
    pub(super) fn duration(&mut self, node: &Node, bare_is_ms: bool) -> Option<u64> {
        let parsed = match &node.kind {
            NodeKind::Int(n) if *n >= 0 => Some(if bare_is_ms { *n as u64 } else { (*n as u64).saturating_mul(1000) }),
            NodeKind::Float(f) if *f >= 0.0 => Some(if bare_is_ms { *f as u64 } else { (*f * 1000.0) as u64 }),
            NodeKind::Str(s) if bare_is_ms && s.trim().parse::<u64>().is_ok() => s.trim().parse().ok(),
            NodeKind::Str(s) => parse_duration_ms(s),
            _ => None,
        };
        if parsed.is_none() {
            self.push(Diagnostic::error(
                node.span,
                format!(
                    "expected a duration such as `30s`, `5m` or `250ms`, found {}",
                    node.scalar_text().map(|t| format!("`{t}`")).unwrap_or_else(|| node.describe().to_string())
                ),
            ));
        }
        parsed
    }
}

/// The words `{type: ..}` accepts for a variable.
pub(super) const TYPE_WORDS: &[&str] = &["int", "integer", "float", "number", "bool", "boolean", "string", "str", "list", "map"];

/// `250ms`, `30s`, `5m`, `2h`, `1.5s` or a bare number of seconds, in milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "ms" => 1.0,
        "" | "s" | "sec" | "secs" => 1000.0,
        "m" | "min" | "mins" => 60_000.0,
        "h" | "hr" | "hours" => 3_600_000.0,
        _ => return None,
    };
    let ms = number * factor;
    (ms.is_finite() && ms >= 0.0 && ms < u64::MAX as f64).then_some(ms as u64)
}

/// The type of a literal default value.
pub(super) fn type_of_value(node: &Node) -> Type {
    match node.kind {
        NodeKind::Null => Type::Any,
        NodeKind::Bool(_) => Type::Bool,
        NodeKind::Int(_) => Type::Int,
        NodeKind::Float(_) => Type::Float,
        NodeKind::Str(_) => Type::String,
        NodeKind::Seq(_) => Type::List,
        NodeKind::Map(_) => Type::Map,
        NodeKind::Rust(_) => Type::Any,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration_ms;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("2s"), Some(2000));
        assert_eq!(parse_duration_ms("1.5s"), Some(1500));
        assert_eq!(parse_duration_ms("5m"), Some(300_000));
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
        assert_eq!(parse_duration_ms("30"), Some(30_000));
        assert_eq!(parse_duration_ms("soon"), None);
        assert_eq!(parse_duration_ms("5 parsecs"), None);
    }
}
