//! `${..}` and `{{..}}` interpolation in string fields (`title: "Merge ${title}?"`).
//!
//! Only names may be interpolated, never expressions, so a template can be
//! checked at build time exactly like a condition's paths. Anything else
//! that merely looks like shell (`$HOME`, `$((i + 1))`, `$1`) stays text.

use crate::expr::{scan_reference, ExprError};
use std::ops::Range;

/// A string field split into literal text and references.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Template {
    /// The pieces in order; no two `Text` parts are adjacent.
    pub parts: Vec<Part>,
}

/// One piece of a [`Template`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Part {
    /// Literal text, escapes already decoded (`$${` is stored as `${`).
    Text(String),
    /// A reference to a variable or step output.
    Ref {
        /// The dotted path: `["build", "stdout"]`.
        path: Vec<String>,
        /// Byte range of the whole `${...}` / `{{...}}` in the input.
        span: Range<usize>,
    },
}

/// Splits `s` into text and references; a malformed reference is an error pointing at it.
pub fn parse_template(s: &str) -> Result<Template, ExprError> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut pos = 0;
    while let Some(offset) = s[pos..].find(['$', '{']) {
        let at = pos + offset;
        text.push_str(&s[pos..at]);
        let rest = &s[at..];
        if rest.starts_with("$${") {
            // Shell users escape with `$$`: `$${HOME}` is the text `${HOME}`.
            text.push_str("${");
            pos = at + 3;
        } else if rest.starts_with("${") || rest.starts_with("{{") {
            let (path, end) = scan_reference(s, at).map_err(|mut e| {
                // `${#name}`, `${var:-x}`: shell syntax the shell itself should see.
                if rest.starts_with("${") && e.help.is_none() {
                    e.help = Some(format!("to hand `{}` to the shell as written, write `$$` before it: `${}`", &s[e.span.clone()], &s[e.span.clone()]));
                }
                e
            })?;
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Ref { path, span: at..end });
            pos = end;
        } else {
            text.push_str(&rest[..1]);
            pos = at + 1;
        }
    }
    text.push_str(&s[pos..]);
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(Template { parts })
}

impl Template {
    /// Every reference with the byte range of its `${...}`, in order.
    pub fn refs(&self) -> impl Iterator<Item = (&[String], Range<usize>)> {
        self.parts.iter().filter_map(|part| match part {
            Part::Ref { path, span } => Some((path.as_slice(), span.clone())),
            Part::Text(_) => None,
        })
    }

    /// Whether there is nothing to interpolate.
    pub fn is_literal(&self) -> bool {
        self.refs().next().is_none()
    }

    /// Fills in every reference with `lookup`; an undefined name is an error naming it.
    pub fn render(&self, lookup: &mut dyn FnMut(&[String]) -> Option<String>) -> Result<String, ExprError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Ref { path, span } => match lookup(path) {
                    Some(value) => out.push_str(&value),
                    None => return Err(ExprError::new(format!("`{}` is not defined", path.join(".")), span.clone())),
                },
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Part {
        Part::Text(s.to_string())
    }

    fn reference(path: &str, span: Range<usize>) -> Part {
        Part::Ref { path: path.split('.').map(String::from).collect(), span }
    }

    fn parts(s: &str) -> Vec<Part> {
        parse_template(s).unwrap_or_else(|e| panic!("{s:?}: {e}")).parts
    }

    fn err(s: &str) -> (String, &str) {
        let e = parse_template(s).expect_err(s);
        (e.message, &s[e.span])
    }

    #[test]
    fn both_reference_styles_are_found_with_their_spans() {
        assert_eq!(parts("Merge ${title}?"), [text("Merge "), reference("title", 6..14), text("?")]);
        assert_eq!(parts("{{ build.stdout }}"), [reference("build.stdout", 0..18)]);
        assert_eq!(parts("${human-review.comment}{{a}}"), [reference("human-review.comment", 0..23), reference("a", 23..28)]);
        let t = parse_template("é ${x} ✓ {{y}}").unwrap();
        let spans: Vec<_> = t.refs().map(|(p, s)| (p.join("."), s)).collect();
        assert_eq!(spans, [("x".to_string(), 3..7), ("y".to_string(), 12..17)]);
    }

    #[test]
    fn shell_syntax_stays_literal() {
        let shell = "echo $HOME $1 $((i + 1)) $ {x} {y} } $";
        assert_eq!(parts(shell), [text(shell)]);
        assert!(parse_template(shell).unwrap().is_literal());
        assert_eq!(parts("$${HOME} is ${home}"), [text("${HOME} is "), reference("home", 12..19)]);
        assert_eq!(parse_template("$${HOME}").unwrap().render(&mut |_| None).unwrap(), "${HOME}");
        assert_eq!(parts(""), []);
    }

    #[test]
    fn only_names_may_be_interpolated() {
        assert_eq!(err("n = ${i + 1}"), ("only a name like `build.stdout` may appear inside `${}`, found `i + 1`".into(), "${i + 1}"));
        assert_eq!(err("x {{ }} y"), ("empty `{{}}`: expected a name inside".into(), "{{ }}"));
        assert_eq!(err("${}").1, "${}");
        assert_eq!(err("Merge ${title"), ("unclosed `${`".into(), "${"));
        assert_eq!(err("{{title}").0, "unclosed `{{`");
        assert_eq!(err("${a.}").1, "${a.}");
    }

    #[test]
    fn render_fills_references_and_names_undefined_ones() {
        let t = parse_template("PR #${create.number}: {{title}}").unwrap();
        let mut lookup = |p: &[String]| match p.join(".").as_str() {
            "create.number" => Some("42".to_string()),
            "title" => Some("Add retries".to_string()),
            _ => None,
        };
        assert_eq!(t.render(&mut lookup).unwrap(), "PR #42: Add retries");
        let e = parse_template("hi ${who}").unwrap().render(&mut lookup).unwrap_err();
        assert_eq!((e.message.as_str(), e.span), ("`who` is not defined", 3..9));
    }
}
