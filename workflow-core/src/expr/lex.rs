//! Text → tokens, and the `${name}` / `{{name}}` reference syntax shared
//! with [templates](crate::template).
//!
//! Identifiers may contain hyphens (`human-review.approved`), which is why
//! the lexer, not the parser, decides what a `-` is.

use super::{BinaryOp, ExprError};
use std::ops::Range;

const KEYWORDS: [&str; 6] = ["and", "or", "not", "true", "false", "null"];

/// Whether a path would read back as something else if written bare, so
/// that it must be written as `${path}`.
pub(super) fn needs_reference(path: &[String]) -> bool {
    let first = path.first().map_or("", String::as_str);
    let special = matches!(first, "not-approved" | "file-exists" | "variable-equals");
    KEYWORDS.contains(&first) || (path.len() == 1 && special)
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    /// A path; `bare` when written without `${..}` / `{{..}}`, which is when
    /// keywords-like words (`not-approved`, `file-exists(`) get their meaning.
    Name {
        path: Vec<String>,
        bare: bool,
    },
    Int(u64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
    Not,
    Minus,
    Bin(BinaryOp),
    LParen,
    RParen,
    Comma,
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) span: Range<usize>,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Byte length of the identifier at the start of `s`, 0 if there is none.
/// A `-` joins an identifier only between identifier characters, so
/// `human-review` is one name while `a - b` and `a -b` are subtractions.
fn ident_len(s: &[u8]) -> usize {
    if !s.first().is_some_and(|&b| is_ident_start(b)) {
        return 0;
    }
    let mut i = 1;
    loop {
        match s.get(i) {
            Some(&b) if is_ident_char(b) => i += 1,
            Some(b'-') if s.get(i + 1).is_some_and(|&b| is_ident_char(b)) => i += 2,
            _ => return i,
        }
    }
}

/// The dotted path starting at byte `start` of `src`, and where it ends.
fn scan_path(src: &str, start: usize) -> Option<(Vec<String>, usize)> {
    let bytes = src.as_bytes();
    let len = ident_len(&bytes[start..]);
    if len == 0 {
        return None;
    }
    let mut path = vec![src[start..start + len].to_string()];
    let mut end = start + len;
    while bytes.get(end) == Some(&b'.') {
        let len = ident_len(&bytes[end + 1..]);
        if len == 0 {
            break;
        }
        path.push(src[end + 1..end + 1 + len].to_string());
        end += 1 + len;
    }
    Some((path, end))
}

/// Reads the `${path}` or `{{path}}` reference opening at byte `start`;
/// returns the path and the byte just past the reference.
pub(crate) fn scan_reference(src: &str, start: usize) -> Result<(Vec<String>, usize), ExprError> {
    let (open, close) = if src[start..].starts_with("${") { ("${", "}") } else { ("{{", "}}") };
    let inner_start = start + open.len();
    let Some(rel) = src[inner_start..].find(close) else {
        return Err(ExprError::new(format!("unclosed `{open}`"), start..inner_start).with_help(format!("close the reference with `{close}`")));
    };
    let end = inner_start + rel + close.len();
    let inner = &src[inner_start..inner_start + rel];
    let body = inner.trim();
    if body.is_empty() {
        return Err(ExprError::new(format!("empty `{open}{close}`: expected a name inside"), start..end));
    }
    let body_start = inner_start + (inner.len() - inner.trim_start().len());
    match scan_path(src, body_start) {
        Some((path, path_end)) if path_end == body_start + body.len() => Ok((path, end)),
        _ => Err(ExprError::new(format!("only a name like `build.stdout` may appear inside `{open}{close}`, found `{body}`"), start..end)),
    }
}

/// Splits `src` into tokens; the first malformed one is the error.
pub(super) fn lex(src: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    while let Some(c) = src[pos..].chars().next() {
        if c.is_whitespace() {
            pos += c.len_utf8();
            continue;
        }
        let start = pos;
        let next = bytes.get(pos + 1).copied();
        let (tok, end) = match c {
            '(' => (Tok::LParen, pos + 1),
            ')' => (Tok::RParen, pos + 1),
            ',' => (Tok::Comma, pos + 1),
            '+' => (Tok::Bin(BinaryOp::Add), pos + 1),
            '*' => (Tok::Bin(BinaryOp::Mul), pos + 1),
            '/' => (Tok::Bin(BinaryOp::Div), pos + 1),
            '%' => (Tok::Bin(BinaryOp::Rem), pos + 1),
            '-' => (Tok::Minus, pos + 1),
            '!' if next == Some(b'=') => (Tok::Bin(BinaryOp::Ne), pos + 2),
            '!' => (Tok::Not, pos + 1),
            '=' if next == Some(b'=') => (Tok::Bin(BinaryOp::Eq), pos + 2),
            '<' if next == Some(b'=') => (Tok::Bin(BinaryOp::Le), pos + 2),
            '<' => (Tok::Bin(BinaryOp::Lt), pos + 1),
            '>' if next == Some(b'=') => (Tok::Bin(BinaryOp::Ge), pos + 2),
            '>' => (Tok::Bin(BinaryOp::Gt), pos + 1),
            '&' if next == Some(b'&') => (Tok::Bin(BinaryOp::And), pos + 2),
            '|' if next == Some(b'|') => (Tok::Bin(BinaryOp::Or), pos + 2),
            '=' => return Err(stray(start, '=', "use `==` to compare")),
            '&' => return Err(stray(start, '&', "use `&&` (or `and`) to require both")),
            '|' => return Err(stray(start, '|', "use `||` (or `or`) to accept either")),
            '\'' | '"' => lex_string(src, start, c)?,
            '$' | '{' if matches!((c, next), ('$', Some(b'{')) | ('{', Some(b'{'))) => {
                let (path, end) = scan_reference(src, start)?;
                (Tok::Name { path, bare: false }, end)
            }
            '0'..='9' => lex_number(src, start)?,
            _ if is_ident_start(bytes[pos]) => lex_word(src, start)?,
            '$' => return Err(stray(start, '$', "write a reference as `${name}`")),
            _ => {
                let span = start..start + c.len_utf8();
                return Err(ExprError::new(format!("unexpected character `{c}`"), span));
            }
        };
        tokens.push(Token { tok, span: start..end });
        pos = end;
    }
    Ok(tokens)
}

fn stray(start: usize, c: char, help: &str) -> ExprError {
    ExprError::new(format!("unexpected `{c}`"), start..start + 1).with_help(help)
}

fn lex_word(src: &str, start: usize) -> Result<(Tok, usize), ExprError> {
    let bytes = src.as_bytes();
    let len = ident_len(&bytes[start..]);
    let word = &src[start..start + len];
    let keyword = match word {
        "and" => Some(Tok::Bin(BinaryOp::And)),
        "or" => Some(Tok::Bin(BinaryOp::Or)),
        "not" => Some(Tok::Not),
        "true" => Some(Tok::Bool(true)),
        "false" => Some(Tok::Bool(false)),
        "null" => Some(Tok::Null),
        _ => None,
    };
    if let Some(tok) = keyword {
        return Ok((tok, start + len));
    }
    let (path, end) = scan_path(src, start).unwrap_or_else(|| (vec![word.to_string()], start + len));
    if bytes.get(end) == Some(&b'.') {
        return Err(ExprError::new("expected a name after `.`", end..end + 1));
    }
    Ok((Tok::Name { path, bare: true }, end))
}

fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), ExprError> {
    let bytes = src.as_bytes();
    let digit_at = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let mut end = start;
    while digit_at(end) {
        end += 1;
    }
    let mut float = false;
    if bytes.get(end) == Some(&b'.') && digit_at(end + 1) {
        float = true;
        end += 1;
        while digit_at(end) {
            end += 1;
        }
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let mut exp = end + 1;
        if matches!(bytes.get(exp), Some(b'+' | b'-')) {
            exp += 1;
        }
        if digit_at(exp) {
            float = true;
            end = exp;
            while digit_at(end) {
                end += 1;
            }
        }
    }
    let text = &src[start..end];
    let tok = if float {
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Tok::Float(x),
            _ => return Err(ExprError::new(format!("number `{text}` is out of range"), start..end)),
        }
    } else {
        match text.parse::<u64>() {
            Ok(n) => Tok::Int(n),
            Err(_) => return Err(too_large(text, start..end)),
        }
    };
    Ok((tok, end))
}

pub(super) fn too_large(text: &str, span: Range<usize>) -> ExprError {
    ExprError::new(format!("integer `{text}` is too large"), span).with_help(format!("integers range from {} to {}", i64::MIN, i64::MAX))
}

fn lex_string(src: &str, start: usize, quote: char) -> Result<(Tok, usize), ExprError> {
    let unclosed = || ExprError::new("unclosed string", start..src.len()).with_help(format!("end the string with `{quote}`"));
    let mut out = String::new();
    let mut pos = start + 1;
    loop {
        let c = src[pos..].chars().next().ok_or_else(unclosed)?;
        pos += c.len_utf8();
        if c == quote {
            return Ok((Tok::Str(out), pos));
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = src[pos..].chars().next().ok_or_else(unclosed)?;
        out.push(match escaped {
            'n' => '\n',
            't' => '\t',
            '\\' | '\'' | '"' => escaped,
            _ => {
                return Err(ExprError::new(format!("unknown escape `\\{escaped}` in string"), pos - 1..pos + escaped.len_utf8())
                    .with_help(r#"the escapes are \n \t \\ \' \""#))
            }
        });
        pos += escaped.len_utf8();
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::{parse, ExprError, ExprKind, Literal};

    fn p(src: &str) -> ExprKind {
        parse(src).unwrap_or_else(|e| panic!("{src:?}: {e} at {:?}", e.span)).kind
    }

    fn err(src: &str) -> ExprError {
        parse(src).expect_err(src)
    }

    fn path(segments: &[&str]) -> ExprKind {
        ExprKind::Path(segments.iter().map(|s| s.to_string()).collect())
    }

    fn shown(src: &str) -> String {
        parse(src).unwrap().to_string()
    }

    #[test]
    fn hyphens_join_identifiers_but_spaced_minus_subtracts() {
        assert_eq!(p("human-review.approved"), path(&["human-review", "approved"]));
        assert_eq!(p("step-2.exit_code"), path(&["step-2", "exit_code"]));
        assert_eq!(p("a-1"), path(&["a-1"]));
        for src in ["a - b", "a -b", "a- b"] {
            assert_eq!(shown(src), "a - b", "{src}");
        }
        assert_eq!(shown("a--b"), "a - -b");
        assert_eq!(shown("2-1"), "2 - 1");
    }

    #[test]
    fn references_are_plain_paths() {
        assert_eq!(shown("${iteration} < 5"), "iteration < 5");
        assert_eq!(shown("{{ build.exit_code }} == 0"), "build.exit_code == 0");
        assert_eq!(err("${i + 1} < 5").span, 0..8);
        assert_eq!(err("${iteration < 5").message, "unclosed `${`");
        assert_eq!(err("{ a }").message, "unexpected character `{`");
    }

    #[test]
    fn literals() {
        assert_eq!(p("null"), ExprKind::Literal(Literal::Null));
        assert_eq!(p("false"), ExprKind::Literal(Literal::Bool(false)));
        assert_eq!(p("42"), ExprKind::Literal(Literal::Int(42)));
        assert_eq!(p("-9223372036854775808"), ExprKind::Literal(Literal::Int(i64::MIN)));
        assert_eq!(p("2.5e3"), ExprKind::Literal(Literal::Float(2500.0)));
        let escaped = r#"'a\'b\n\t\\"'"#;
        assert_eq!(p(escaped), ExprKind::Literal(Literal::Str("a'b\n\t\\\"".into())));
        assert_eq!(p(r#""it's""#), ExprKind::Literal(Literal::Str("it's".into())));
        assert!(err("9223372036854775808").message.contains("too large"));
        assert!(err("1e999").message.contains("out of range"));
    }

    #[test]
    fn lexical_errors_point_at_the_offending_text() {
        let e = err("status = 'done'");
        assert_eq!((e.message.as_str(), e.span), ("unexpected `=`", 7..8));
        assert_eq!(e.help.as_deref(), Some("use `==` to compare"));
        assert_eq!(err("a & b").help.as_deref(), Some("use `&&` (or `and`) to require both"));
        let e = err("title == 'unterminated");
        assert_eq!((e.message.as_str(), e.span), ("unclosed string", 9..22));
        let e = err(r"'\q'");
        assert_eq!((e.message.as_str(), e.span), (r"unknown escape `\q` in string", 1..3));
        assert_eq!(err("a.").span, 1..2);
        assert_eq!(err("$HOME").help.as_deref(), Some("write a reference as `${name}`"));
    }

    #[test]
    fn multibyte_input_gets_char_boundary_spans() {
        let e = err("a == é");
        assert_eq!((e.message.as_str(), e.span), ("unexpected character `é`", 5..7));
        assert_eq!(err("'✓").span, 0..4);
        assert_eq!(err(r"'\é'").span, 1..4);
        assert_eq!(parse("'héllo ✓'").unwrap().span, 0..12);
    }
}
