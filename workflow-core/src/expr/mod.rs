//! Condition expressions: the small, safe language of `condition:`, `check:`
//! and `requires:` (`approved`, `i < 3`, `status == 'completed' && delta.open_prs < 0`).
//!
//! [`parse`] turns text into an [`Expr`] whose nodes keep their byte ranges,
//! [`infer`] / [`check_condition`] type it at build time, and [`eval`] runs it
//! against an [`Env`]. Nothing here can execute code or touch the system except
//! through the [`Env`] the caller supplies.

use std::fmt;
use std::ops::Range;

mod eval;
mod lex;
mod parse;
mod types;

pub use eval::{eval, truthy, Env, EvalError};
pub(crate) use lex::scan_reference;
pub use parse::parse;
pub use types::{check_condition, infer, Type};

/// A parsed expression node with the byte range it came from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// Byte range within the source text of the expression. Left out of the
    /// definition hash (see [`crate::lower::definition_hash`]).
    #[serde(default, skip_serializing_if = "crate::lower::hashing")]
    pub span: Range<usize>,
}

/// The kinds of expression node.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ExprKind {
    /// `true`, `3`, `'text'`, ...
    Literal(Literal),
    /// A variable or step output: `approved`, `build.exit_code`, `human-review.approved`.
    Path(Vec<String>),
    /// `!x`, `not x`, `-x`.
    Unary(UnaryOp, Box<Expr>),
    /// `a op b`.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// A built-in function call: `contains(a, b)`.
    Call(Function, Vec<Expr>),
    /// A bare keyword predicate reading the step's own fields.
    Predicate(Predicate),
}

/// A literal value.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Literal {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number (always finite when parsed).
    Float(f64),
    /// A quoted string, escapes already decoded.
    Str(String),
}

/// Prefix operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UnaryOp {
    /// `!` / `not`.
    Not,
    /// Arithmetic negation `-`.
    Neg,
}

/// Infix operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BinaryOp {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `&&` / `and`.
    And,
    /// `||` / `or`.
    Or,
    /// `+` (numbers, or string concatenation).
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/` (integer division on two ints).
    Div,
    /// `%`.
    Rem,
}

/// Built-in functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Function {
    /// `contains(haystack, needle)`: substring or list element.
    Contains,
    /// `matches(text, regex)`.
    Matches,
    /// `file-exists(path)`.
    FileExists,
}

/// Keyword predicates that read the step's own fields rather than arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Predicate {
    /// `file-exists`: the path in the step's `file:`, or in the variable named by `variable:`.
    FileExists,
    /// `variable-equals`: the step's `variable:` equals its `value:`.
    VariableEquals,
}

/// A parse or type error, pointing at a byte range of the expression text.
#[derive(Clone, Debug, PartialEq)]
pub struct ExprError {
    /// What is wrong, in one sentence.
    pub message: String,
    /// The offending byte range (always on char boundaries of the source).
    pub span: Range<usize>,
    /// How to fix it, when there is an obvious fix.
    pub help: Option<String>,
}

impl ExprError {
    /// An error at `span` without help.
    pub fn new(message: impl Into<String>, span: Range<usize>) -> ExprError {
        ExprError { message: message.into(), span, help: None }
    }

    /// Adds a hint on how to fix it.
    pub fn with_help(mut self, help: impl Into<String>) -> ExprError {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExprError {}

impl Expr {
    /// Every path in the expression with its span, in source order.
    pub fn paths(&self) -> Vec<(&[String], Range<usize>)> {
        let mut out = Vec::new();
        self.collect_paths(&mut out);
        out
    }

    fn collect_paths<'a>(&'a self, out: &mut Vec<(&'a [String], Range<usize>)>) {
        match &self.kind {
            ExprKind::Path(p) => out.push((p, self.span.clone())),
            ExprKind::Unary(_, e) => e.collect_paths(out),
            ExprKind::Binary(_, l, r) => {
                l.collect_paths(out);
                r.collect_paths(out);
            }
            ExprKind::Call(_, args) => args.iter().for_each(|a| a.collect_paths(out)),
            ExprKind::Literal(_) | ExprKind::Predicate(_) => {}
        }
    }
}

impl Function {
    /// The name users write.
    pub fn name(self) -> &'static str {
        match self {
            Function::Contains => "contains",
            Function::Matches => "matches",
            Function::FileExists => "file-exists",
        }
    }

    /// How many arguments it takes.
    pub fn arity(self) -> usize {
        match self {
            Function::Contains | Function::Matches => 2,
            Function::FileExists => 1,
        }
    }

    /// Every function, for lookups and suggestions.
    pub const ALL: [Function; 3] = [Function::Contains, Function::Matches, Function::FileExists];
}

impl Predicate {
    /// The keyword users write.
    pub fn name(self) -> &'static str {
        match self {
            Predicate::FileExists => "file-exists",
            Predicate::VariableEquals => "variable-equals",
        }
    }
}

impl UnaryOp {
    /// The canonical symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Not => "!",
            UnaryOp::Neg => "-",
        }
    }
}

impl BinaryOp {
    /// The canonical symbol (`&&` rather than `and`).
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }

    /// Binding strength: higher binds tighter. All binary operators are left-associative.
    pub(crate) fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne => 3,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 6,
        }
    }
}

const UNARY_PRECEDENCE: u8 = 7;

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(self, 0, f)
    }
}

/// Writes `e`, parenthesised when it binds looser than its context requires.
fn write_expr(e: &Expr, min_prec: u8, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match &e.kind {
        ExprKind::Literal(lit) => write!(f, "{lit}"),
        ExprKind::Path(p) => write_path(p, f),
        ExprKind::Predicate(p) => f.write_str(p.name()),
        ExprKind::Call(func, args) => {
            write!(f, "{}(", func.name())?;
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_expr(a, 0, f)?;
            }
            f.write_str(")")
        }
        ExprKind::Unary(op, operand) => {
            let paren = min_prec > UNARY_PRECEDENCE;
            if paren {
                f.write_str("(")?;
            }
            f.write_str(op.symbol())?;
            // `-5` re-parses as the literal -5, so an explicit negation of a
            // number literal needs parentheses to stay a negation.
            let numeric = matches!(operand.kind, ExprKind::Literal(Literal::Int(_) | Literal::Float(_)));
            if *op == UnaryOp::Neg && numeric {
                write!(f, "(")?;
                write_expr(operand, 0, f)?;
                write!(f, ")")?;
            } else {
                write_expr(operand, UNARY_PRECEDENCE, f)?;
            }
            if paren {
                f.write_str(")")?;
            }
            Ok(())
        }
        ExprKind::Binary(op, l, r) => {
            let prec = op.precedence();
            let paren = prec < min_prec;
            if paren {
                f.write_str("(")?;
            }
            write_expr(l, prec, f)?;
            write!(f, " {} ", op.symbol())?;
            write_expr(r, prec + 1, f)?;
            if paren {
                f.write_str(")")?;
            }
            Ok(())
        }
    }
}

/// Paths that would read back as something else are written as `${..}`.
fn write_path(p: &[String], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let joined = p.join(".");
    if lex::needs_reference(p) {
        write!(f, "${{{joined}}}")
    } else {
        f.write_str(&joined)
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            // Debug keeps a `.0` or an exponent, so the number reads back as a float.
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::Str(s) => {
                f.write_str("'")?;
                for c in s.chars() {
                    match c {
                        '\'' => f.write_str("\\'")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\t' => f.write_str("\\t")?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("'")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(src: &str) -> String {
        parse(src).unwrap().to_string()
    }

    #[test]
    fn display_is_canonical_and_minimally_parenthesised() {
        assert_eq!(roundtrip("a == 1 and not (b or c)"), "a == 1 && !(b || c)");
        assert_eq!(roundtrip("(a + b) * c"), "(a + b) * c");
        assert_eq!(roundtrip("a + (b * c)"), "a + b * c");
        assert_eq!(roundtrip("a - (b - c)"), "a - (b - c)");
        assert_eq!(roundtrip("(a - b) - c"), "a - b - c");
        assert_eq!(roundtrip("not-approved"), "!approved");
        assert_eq!(roundtrip(r#"contains(title, "it's \"x\"")"#), r#"contains(title, 'it\'s "x"')"#);
    }

    #[test]
    fn display_keeps_negative_literals_and_negations_apart() {
        assert_eq!(roundtrip("-5"), "-5");
        assert_eq!(roundtrip("-(5)"), "-(5)");
        assert_eq!(roundtrip("a - -1.5"), "a - -1.5");
        assert_eq!(roundtrip("1e300"), "1e300");
        assert_eq!(roundtrip("2.0"), "2.0");
    }

    #[test]
    fn display_writes_reserved_paths_as_references() {
        assert_eq!(roundtrip("${file-exists} && ${not-approved}"), "${file-exists} && ${not-approved}");
        assert_eq!(roundtrip("${true.x} || ${null}"), "${true.x} || ${null}");
        assert_eq!(roundtrip("file-exists"), "file-exists");
    }

    #[test]
    fn paths_are_listed_in_source_order_with_spans() {
        let src = "steps.review.approved && ${iteration} < max-tries";
        let e = parse(src).unwrap();
        let found: Vec<(String, &str)> = e.paths().into_iter().map(|(p, s)| (p.join("."), &src[s])).collect();
        assert_eq!(
            found,
            [("steps.review.approved".to_string(), "steps.review.approved"), ("iteration".to_string(), "${iteration}"), ("max-tries".to_string(), "max-tries"),]
        );
    }
}
