//! Where a piece of a workflow came from: a place in a YAML text, or a token
//! of a `workflow!` invocation.

use std::fmt;

/// A place in the user's input that a diagnostic can point at.
#[derive(Clone, Copy, Default)]
pub enum Span {
    /// A byte range of a YAML (or other text) source, with its 1-based line and column.
    Text(TextSpan),
    /// A token of a `workflow!` invocation.
    Tokens(proc_macro2::Span),
    /// Built in code; nothing to point at.
    #[default]
    Unknown,
}

/// A byte range of a text source, with the 1-based line and column of its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TextSpan {
    /// Byte offset of the first byte.
    pub offset: usize,
    /// Length in bytes (at least 1 when rendered).
    pub len: usize,
    /// 1-based line of the first byte.
    pub line: usize,
    /// 1-based column (in characters) of the first byte.
    pub column: usize,
}

impl Span {
    /// The 1-based line of a text span.
    pub fn line(&self) -> Option<usize> {
        match self {
            Span::Text(t) => Some(t.line),
            _ => None,
        }
    }

    /// The span of `needle` inside the value this span covers, found in `source`.
    ///
    /// A YAML scalar may be quoted, escaped or folded over several lines, so a
    /// byte index into its decoded value does not map to the source by
    /// arithmetic; searching the source from the value's start does. Falls
    /// back to the whole value when the needle is not found (or for tokens,
    /// which cannot be split on stable Rust).
    pub fn find(&self, source: &str, needle: &str) -> Span {
        match self {
            Span::Text(t) if !needle.is_empty() => {
                let from = floor_char_boundary(source, t.offset);
                match source[from..].find(needle) {
                    Some(i) => Span::Text(t.advance(source, from + i, needle.len())),
                    None => *self,
                }
            }
            _ => *self,
        }
    }
}

impl TextSpan {
    /// The span of `len` bytes at byte `offset`, which lies at or after this
    /// span's start: lines and columns are counted from here, not from the
    /// start of the text.
    fn advance(&self, source: &str, offset: usize, len: usize) -> TextSpan {
        let from = floor_char_boundary(source, self.offset);
        let offset = floor_char_boundary(source, offset.max(from));
        let between = &source[from..offset];
        match between.rfind('\n') {
            None => TextSpan { offset, len, line: self.line, column: self.column + between.chars().count() },
            Some(last) => TextSpan { offset, len, line: self.line + between.matches('\n').count(), column: between[last + 1..].chars().count() + 1 },
        }
    }

    /// The span of `len` bytes at byte `offset` of `source`, computing line and column.
    pub fn at(source: &str, offset: usize, len: usize) -> TextSpan {
        let offset = floor_char_boundary(source, offset);
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = source[line_start..offset].chars().count() + 1;
        TextSpan { offset, len, line, column }
    }

    /// The bytes of `source` to underline: the span widened to whole
    /// characters, at least one character long where the text has one (an
    /// empty span marks the character it starts at). Always a valid range of `source`.
    pub fn char_range(&self, source: &str) -> std::ops::Range<usize> {
        let start = floor_char_boundary(source, self.offset);
        let end = ceil_char_boundary(source, self.offset.saturating_add(self.len).max(start));
        let end = if end > start { end } else { source[start..].chars().next().map_or(start, |c| start + c.len_utf8()) };
        start..end
    }
}

/// Where the lines of a text start, to turn byte offsets into lines and
/// columns without counting from the start of the text each time. Lines end
/// at `\n` only (as the renderer shows them; a lone `\r`, which YAML also
/// takes for a line break, stays inside its line).
#[derive(Debug)]
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `text`.
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { text, starts }
    }

    /// The indexed text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The span of `len` bytes at byte `offset`, with its line and column (in characters).
    pub fn span(&self, offset: usize, len: usize) -> TextSpan {
        let offset = floor_char_boundary(self.text, offset);
        let line = self.starts.partition_point(|&start| start <= offset);
        let column = self.text[self.starts[line - 1]..offset].chars().count() + 1;
        TextSpan { offset, len, line, column }
    }
}

/// The largest character boundary of `text` at or before `index` (the end of the text past it).
pub fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut i = index.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest character boundary of `text` at or after `index` (the end of the text past it).
pub fn ceil_char_boundary(text: &str, index: usize) -> usize {
    let mut i = index.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Span::Text(t) => write!(f, "{}:{}", t.line, t.column),
            Span::Tokens(_) => f.write_str("<tokens>"),
            Span::Unknown => f.write_str("<unknown>"),
        }
    }
}

/// Spans never make two model values different: equality is about meaning.
impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

/// A value together with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where the user wrote it.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Pairs a value with its span.
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// A name the user wrote (a step id, variable, model alias, workflow name).
pub type Ident = Spanned<String>;

impl Ident {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_spans_count_lines_from_the_enclosing_value() {
        let source = "a: 1\nb: \"x ${y}\"\nc: |\n  one\n  ${z} two\n";
        let b_value = TextSpan::at(source, source.find("\"x").unwrap(), 10);
        let y = Span::Text(b_value).find(source, "${y}");
        assert_eq!((y.line(), column(y)), (Some(2), 7));
        let c_value = TextSpan::at(source, source.find('|').unwrap(), 1);
        let z = Span::Text(c_value).find(source, "${z}");
        assert_eq!((z.line(), column(z)), (Some(5), 3));
        // The same as counting from the start of the text.
        assert_eq!(column(z), TextSpan::at(source, source.find("${z}").unwrap(), 4).column);
    }

    #[test]
    fn ranges_are_whole_characters_of_the_text() {
        let text = "  - éid: again\n\u{202e}x";
        let e = text.find('é').unwrap();
        let at = |offset, len| TextSpan { offset, len, line: 1, column: 1 }.char_range(text);
        // An empty span marks the whole character it starts at.
        assert_eq!(at(e, 0), e..e + 2);
        // A span ending or starting inside a character is widened to it.
        assert_eq!(at(e, 1), e..e + 2);
        assert_eq!(at(e + 1, 2), e..e + 3);
        assert_eq!(at(text.len() - 2, 0), text.len() - 4..text.len() - 1);
        // Past the end: the end of the text.
        assert_eq!(at(text.len() + 5, 3), text.len()..text.len());
        assert_eq!(TextSpan::at(text, e + 1, 1).column, 5);
    }

    fn column(span: Span) -> usize {
        match span {
            Span::Text(t) => t.column,
            _ => 0,
        }
    }
}
