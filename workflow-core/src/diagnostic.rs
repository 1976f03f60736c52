//! Build errors: collected (never the first one only), each pointing at the
//! user's token or `file:line:col`, rendered with the source line shown.

use crate::span::Span;
use std::fmt;
use std::sync::Arc;

/// A text the user wrote: a YAML file, or a `workflow!` invocation.
#[derive(Debug, PartialEq, Eq)]
pub struct Source {
    /// The path shown in diagnostics (as given by the user).
    pub path: String,
    /// The whole text.
    pub text: String,
}

impl Source {
    /// A source with the given path and text.
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Arc<Source> {
        Arc::new(Source { path: path.into(), text: text.into() })
    }
}

/// One mistake in a workflow, with where it is and how to fix it.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    /// What is wrong, in one sentence.
    pub message: String,
    /// The offending token.
    pub span: Span,
    /// A short label shown under the token (a boxed `str`, to keep errors small).
    pub label: Option<Box<str>>,
    /// How to fix it (for example "did you mean `command`?").
    pub help: Option<String>,
    /// The text the span points into, when it is a text.
    pub source: Option<Arc<Source>>,
    /// More tokens worth seeing, each with a short label (shown with the
    /// source line when the text is known; a `workflow!` error shows the
    /// primary token only). Boxed: most diagnostics have none, and errors stay small.
    pub also: Box<Vec<(Span, String)>>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic { message: message.into(), span, label: None, help: None, source: None, also: Box::default() }
    }

    /// Adds a label under the token.
    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into().into_boxed_str());
        self
    }

    /// Points at another token too, with a label.
    pub fn also(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.also.push((span, label.into()));
        self
    }

    /// Adds a hint on how to fix it.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a hint unless one is already there.
    pub fn or_help(self, help: impl Into<String>) -> Diagnostic {
        if self.help.is_some() {
            self
        } else {
            self.help(help)
        }
    }

    /// Adds "did you mean `x`?" when a close candidate exists.
    pub fn suggest<'a>(self, wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Diagnostic {
        match closest(wrong, candidates) {
            Some(best) => self.help(format!("did you mean `{best}`?")),
            None => self,
        }
    }

    /// The 1-based line the diagnostic points at, for text sources.
    pub fn line(&self) -> Option<usize> {
        self.span.line()
    }

    /// `path:line:col`, when known.
    pub fn location(&self) -> Option<String> {
        match (&self.source, self.span) {
            (Some(src), Span::Text(t)) => Some(format!("{}:{}:{}", src.path, t.line, t.column)),
            (Some(src), _) => Some(src.path.clone()),
            _ => None,
        }
    }

    /// Renders the diagnostic as a compiler would: message, location, source line, help.
    pub fn render(&self) -> String {
        use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
        let renderer = Renderer::plain();
        let title = Level::ERROR.primary_title(self.message.as_str());
        let first = if let (Some(src), Span::Text(t)) = (&self.source, self.span) {
            // Whole characters only: the renderer slices the text at these bytes.
            let mut annotation = AnnotationKind::Primary.span(t.char_range(&src.text));
            if let Some(label) = &self.label {
                annotation = annotation.label(&**label);
            }
            let mut snippet = Snippet::source(src.text.as_str()).path(src.path.as_str()).annotation(annotation);
            for (span, label) in self.also.iter() {
                if let Span::Text(t) = span {
                    snippet = snippet.annotation(AnnotationKind::Context.span(t.char_range(&src.text)).label(label.as_str()));
                }
            }
            title.element(snippet)
        } else if let Some(src) = &self.source {
            title.element(annotate_snippets::Origin::path(src.path.as_str()))
        } else {
            Group::with_title(title)
        };
        let mut report = vec![first];
        if let Some(help) = &self.help {
            report.push(Group::with_title(Level::HELP.secondary_title(help.as_str())));
        }
        renderer.render(&report).to_string()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = self.location() {
            write!(f, "{loc}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// Every mistake found in one pass over one or more workflows.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// No mistakes yet.
    pub fn new() -> Diagnostics {
        Diagnostics::default()
    }

    /// Records a mistake.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// Records every mistake of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// Records every mistake of a list.
    pub fn extend_from(&mut self, items: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(items);
    }

    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many mistakes.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The mistakes, in the order found.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// Sets the source of every diagnostic that has none yet.
    pub fn attach_source(&mut self, source: &Arc<Source>) {
        for d in &mut self.items {
            if d.source.is_none() {
                d.source = Some(source.clone());
            }
        }
    }

    /// Sorts by file and position so reports read top to bottom.
    pub fn sort(&mut self) {
        self.items.sort_by_key(|d| {
            let path = d.source.as_ref().map(|s| s.path.clone()).unwrap_or_default();
            let offset = match d.span {
                Span::Text(t) => t.offset,
                _ => 0,
            };
            (path, offset)
        });
    }

    /// Renders all diagnostics, followed by a count, as a compiler would.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&d.render());
            out.push_str("\n\n");
        }
        let n = self.items.len();
        out.push_str(&format!("error: {n} problem{} found\n", if n == 1 { "" } else { "s" }));
        out
    }

    /// `Ok(value)` when empty, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Diagnostics {}

/// The candidate closest to `wrong`, if any is close enough to be a likely typo.
///
/// Close means a small edit distance (`commnd` → `command`), or, failing
/// that, sharing a leading word of five or more characters with a longer
/// spelling (`merge-pull-request` → `merge-pr`).
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wrong_norm = wrong.to_ascii_lowercase().replace('_', "-");
    let candidates: Vec<&str> = candidates.into_iter().filter(|c| *c != wrong).collect();
    let by_edits = candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&wrong_norm, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.len().max(wrong.len()) / 3).max(1) + usize::from(c.len() > 6))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    by_edits.or_else(|| candidates.iter().map(|c| (common_word_prefix(&wrong_norm, c), *c)).filter(|(n, _)| *n >= 5).max_by_key(|(n, _)| *n).map(|(_, c)| c))
}

/// Length of the common prefix of `a` and `b`, counted only up to a word boundary (`-`).
fn common_word_prefix(a: &str, b: &str) -> usize {
    // Counted in whole characters: `a[..common]` below must not cut one.
    let common: usize = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).map(|(x, _)| x.len_utf8()).sum();
    let boundary = |s: &str| common == s.len() || s.as_bytes().get(common) == Some(&b'-');
    if boundary(a) || boundary(b) {
        common
    } else {
        a[..common].rfind('-').unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_and_rejects_strangers() {
        assert_eq!(closest("commnd", ["command", "cwd", "env"]), Some("command"));
        assert_eq!(closest("gml", ["glm", "original"]), Some("glm"));
        assert_eq!(closest("s99", ["s1", "s9"]), Some("s9"));
        assert_eq!(closest("merge-pull-request", ["merge-pr", "shell"]), Some("merge-pr"));
        assert_eq!(closest("tweet", ["shell", "merge-pr", "end"]), None);
        assert_eq!(closest("zzzzzz", ["command"]), None);
        // Characters sharing a first byte are not a common prefix.
        assert_eq!(closest("déploy-é", ["déploy-è", "shell"]), Some("déploy-è"));
        assert_eq!(closest("ééééé-abcdefgh", ["ééééè-zzzzzzzz"]), None);
    }
}
