//! Tokens → [`Expr`]: a precedence-climbing parser.
//!
//! Hand-written rather than generated so that every error can name the
//! token the user wrote and point at its exact byte range.

use super::lex::{lex, too_large, Tok, Token};
use super::{BinaryOp, Expr, ExprError, ExprKind, Function, Literal, Predicate, UnaryOp};
use crate::diagnostic::closest;
use std::ops::Range;

/// Nesting (and tree depth) beyond this is refused, so hostile input cannot
/// exhaust the stack here or in the recursive passes that follow.
const MAX_DEPTH: usize = 128;

/// Parses a condition expression.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let tokens = lex(src)?;
    if tokens.is_empty() {
        return Err(ExprError::new("empty expression", 0..src.len()).with_help("write a condition such as `approved` or `i < 3`"));
    }
    let mut parser = Parser { src, tokens, pos: 0, nesting: 0 };
    let (expr, _) = parser.expr(0)?;
    match parser.peek() {
        None => Ok(expr),
        Some(t) => Err(parser.unexpected(t)),
    }
}

/// A parsed node and the depth of the tree under it.
type Node = (Expr, usize);

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    nesting: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_tok(&self) -> Option<&Tok> {
        self.peek().map(|t| &t.tok)
    }

    fn bump(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn text(&self, span: &Range<usize>) -> &str {
        &self.src[span.clone()]
    }

    fn node(&self, kind: ExprKind, span: Range<usize>, depth: usize) -> Result<Node, ExprError> {
        if depth > MAX_DEPTH {
            return Err(too_deep(span));
        }
        Ok((Expr { kind, span }, depth))
    }

    fn unexpected(&self, t: &Token) -> ExprError {
        let err = ExprError::new(format!("unexpected `{}`", self.text(&t.span)), t.span.clone());
        let starts_operand = matches!(t.tok, Tok::Name { .. } | Tok::Int(_) | Tok::Float(_) | Tok::Str(_) | Tok::Bool(_) | Tok::Null | Tok::Not | Tok::LParen);
        if starts_operand {
            err.with_help("join conditions with `&&` or `||`")
        } else {
            err
        }
    }

    fn expr(&mut self, min_prec: u8) -> Result<Node, ExprError> {
        let (mut lhs, mut depth) = self.unary()?;
        loop {
            let op = match self.peek_tok() {
                Some(Tok::Bin(op)) => *op,
                Some(Tok::Minus) => BinaryOp::Sub,
                _ => break,
            };
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.pos += 1;
            // Left-associative: the right operand may only hold tighter operators.
            let (rhs, rhs_depth) = self.expr(prec + 1)?;
            let span = lhs.span.start..rhs.span.end;
            let kind = ExprKind::Binary(op, Box::new(lhs), Box::new(rhs));
            (lhs, depth) = self.node(kind, span, depth.max(rhs_depth) + 1)?;
        }
        Ok((lhs, depth))
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            let at = self.peek().map_or(self.src.len()..self.src.len(), |t| t.span.clone());
            return Err(too_deep(at));
        }
        let result = self.unary_inner();
        self.nesting -= 1;
        result
    }

    fn unary_inner(&mut self) -> Result<Node, ExprError> {
        let op = match self.peek_tok() {
            Some(Tok::Not) => UnaryOp::Not,
            Some(Tok::Minus) => UnaryOp::Neg,
            _ => return self.primary(),
        };
        let op_span = self.bump().map(|t| t.span).unwrap_or_default();
        if op == UnaryOp::Neg {
            // `-5` is the literal -5 (so `i64::MIN` is writable); `-(5)` stays a negation.
            let negative = match self.peek() {
                Some(Token { tok: Tok::Int(n), span }) => {
                    Some((0i64.checked_sub_unsigned(*n).map(Literal::Int).ok_or_else(|| too_large(self.text(span), span.clone())), span.end))
                }
                Some(Token { tok: Tok::Float(x), span }) => Some((Ok(Literal::Float(-x)), span.end)),
                _ => None,
            };
            if let Some((lit, end)) = negative {
                self.pos += 1;
                return self.node(ExprKind::Literal(lit?), op_span.start..end, 1);
            }
        }
        let (operand, depth) = self.unary()?;
        let span = op_span.start..operand.span.end;
        self.node(ExprKind::Unary(op, Box::new(operand)), span, depth + 1)
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let Some(Token { tok, span }) = self.peek().cloned() else {
            return Err(self.missing_operand(None));
        };
        let lit = match tok {
            Tok::Int(n) => Literal::Int(i64::try_from(n).map_err(|_| too_large(self.text(&span), span.clone()))?),
            Tok::Float(x) => Literal::Float(x),
            Tok::Str(s) => Literal::Str(s),
            Tok::Bool(b) => Literal::Bool(b),
            Tok::Null => Literal::Null,
            Tok::Name { path, bare } => {
                self.pos += 1;
                return self.name(path, bare, span);
            }
            Tok::LParen => {
                self.pos += 1;
                return self.parenthesised(span);
            }
            Tok::Not | Tok::Minus | Tok::Bin(_) | Tok::RParen | Tok::Comma => {
                let t = Token { tok, span };
                return Err(self.missing_operand(Some(&t)));
            }
        };
        self.pos += 1;
        self.node(ExprKind::Literal(lit), span, 1)
    }

    /// The error for a missing operand, phrased after what came before it.
    fn missing_operand(&self, found: Option<&Token>) -> ExprError {
        let before = self.pos.checked_sub(1).and_then(|i| self.tokens.get(i));
        match (before, found) {
            (Some(b), Some(f)) => ExprError::new(format!("expected an operand after `{}`, found `{}`", self.text(&b.span), self.text(&f.span)), f.span.clone()),
            (Some(b), None) => ExprError::new(format!("expected an operand after `{}`", self.text(&b.span)), b.span.clone()),
            (None, Some(f)) => self.unexpected(f),
            (None, None) => ExprError::new("empty expression", 0..self.src.len()),
        }
    }

    fn parenthesised(&mut self, open: Range<usize>) -> Result<Node, ExprError> {
        let (mut inner, depth) = self.expr(0)?;
        match self.bump() {
            Some(Token { tok: Tok::RParen, span }) => {
                // The node covers its parentheses so later errors point at what the user grouped.
                inner.span = open.start..span.end;
                Ok((inner, depth))
            }
            Some(t) => Err(self.unexpected(&t)),
            None => Err(ExprError::new("unclosed `(`", open).with_help("add the matching `)`")),
        }
    }

    fn name(&mut self, path: Vec<String>, bare: bool, span: Range<usize>) -> Result<Node, ExprError> {
        if bare && self.peek_tok() == Some(&Tok::LParen) {
            return self.call(&path.join("."), span);
        }
        // Written as `${..}`, even these words are just names.
        let word = if bare && path.len() == 1 { path[0].as_str() } else { "" };
        let kind = match word {
            "not-approved" => {
                let approved = Expr { kind: ExprKind::Path(vec!["approved".into()]), span: span.clone() };
                return self.node(ExprKind::Unary(UnaryOp::Not, Box::new(approved)), span, 2);
            }
            "file-exists" => ExprKind::Predicate(Predicate::FileExists),
            "variable-equals" => ExprKind::Predicate(Predicate::VariableEquals),
            _ => ExprKind::Path(path),
        };
        self.node(kind, span, 1)
    }

    fn call(&mut self, name: &str, name_span: Range<usize>) -> Result<Node, ExprError> {
        let Some(func) = Function::ALL.into_iter().find(|f| f.name() == name) else {
            let err = ExprError::new(format!("unknown function `{name}`"), name_span);
            let help = match closest(name, Function::ALL.map(Function::name)) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "the functions are `contains`, `matches` and `file-exists`".to_string(),
            };
            return Err(err.with_help(help));
        };
        let open = self.bump().map(|t| t.span).unwrap_or_default();
        let mut args = Vec::new();
        let mut depth = 0;
        let close = if self.peek_tok() == Some(&Tok::RParen) {
            self.bump().map(|t| t.span).unwrap_or_default()
        } else {
            loop {
                let (arg, d) = self.expr(0)?;
                args.push(arg);
                depth = depth.max(d);
                match self.bump() {
                    Some(Token { tok: Tok::Comma, .. }) => {}
                    Some(Token { tok: Tok::RParen, span }) => break span,
                    Some(t) => return Err(self.unexpected(&t)),
                    None => return Err(ExprError::new("unclosed `(`", open).with_help("add the matching `)`")),
                }
            }
        };
        let span = name_span.start..close.end;
        if args.len() != func.arity() {
            let plural = if func.arity() == 1 { "" } else { "s" };
            return Err(ExprError::new(format!("`{}` takes {} argument{plural}, found {}", func.name(), func.arity(), args.len()), span)
                .with_help(format!("write {}", usage(func))));
        }
        self.node(ExprKind::Call(func, args), span, depth + 1)
    }
}

fn usage(func: Function) -> &'static str {
    match func {
        Function::Contains => "`contains(text_or_list, needle)`",
        Function::Matches => "`matches(text, 'regex')`",
        Function::FileExists => "`file-exists(path)`",
    }
}

fn too_deep(span: Range<usize>) -> ExprError {
    ExprError::new(format!("expression is nested too deeply (more than {MAX_DEPTH} levels)"), span).with_help("split it into simpler conditions")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str) -> Expr {
        parse(src).unwrap_or_else(|e| panic!("{src:?}: {e} at {:?}", e.span))
    }

    fn err(src: &str) -> ExprError {
        parse(src).expect_err(src)
    }

    /// Fully parenthesised prefix form, so a test states the tree outright.
    fn tree(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Unary(op, x) => format!("({} {})", op.symbol(), tree(x)),
            ExprKind::Binary(op, l, r) => format!("({} {} {})", op.symbol(), tree(l), tree(r)),
            ExprKind::Call(f, args) => {
                let args: Vec<String> = args.iter().map(tree).collect();
                format!("({} {})", f.name(), args.join(" "))
            }
            _ => e.to_string(),
        }
    }

    fn t(src: &str) -> String {
        tree(&p(src))
    }

    #[test]
    fn precedence_follows_the_usual_order() {
        assert_eq!(t("a || b && c == 1 + 2 * -x"), "(|| a (&& b (== c (+ 1 (* 2 (- x))))))");
        assert_eq!(t("a or b and not c"), "(|| a (&& b (! c)))");
        assert_eq!(t("!a == b"), "(== (! a) b)");
        assert_eq!(t("a < b == c >= d"), "(== (< a b) (>= c d))");
        assert_eq!(t("a - b - c"), "(- (- a b) c)");
        assert_eq!(t("a / b % c * d"), "(* (% (/ a b) c) d)");
        assert_eq!(t("(a || b) && c"), "(&& (|| a b) c)");
        assert_eq!(t("--x"), "(- (- x))");
    }

    #[test]
    fn not_approved_is_a_negation_of_approved() {
        let e = p("not-approved");
        assert_eq!(e.span, 0..12);
        let ExprKind::Unary(UnaryOp::Not, inner) = e.kind else { panic!("{e:?}") };
        assert_eq!(inner.kind, ExprKind::Path(vec!["approved".into()]));
        assert_eq!(inner.span, 0..12);
        assert_eq!(p("approved").kind, ExprKind::Path(vec!["approved".into()]));
        assert_eq!(t("not-approved && ready"), "(&& (! approved) ready)");
    }

    #[test]
    fn keyword_predicates_and_calls() {
        assert_eq!(p("file-exists").kind, ExprKind::Predicate(Predicate::FileExists));
        assert_eq!(p("variable-equals").kind, ExprKind::Predicate(Predicate::VariableEquals));
        assert_eq!(
            t("file-exists('out.md') && contains(build.stdout, \"ok\") || matches(title, '^v')"),
            "(|| (&& (file-exists 'out.md') (contains build.stdout 'ok')) (matches title '^v'))"
        );
        assert_eq!(p("contains").kind, ExprKind::Path(vec!["contains".into()]));
        assert_eq!(p("(a) || (b)").span, 0..10);
    }

    #[test]
    fn syntax_errors_name_and_point_at_the_offending_token() {
        let cases = [
            ("approved &&", "expected an operand after `&&`", 9..11),
            ("a && )", "expected an operand after `&&`, found `)`", 5..6),
            ("a )", "unexpected `)`", 2..3),
            (") a", "unexpected `)`", 0..1),
            ("(a || b", "unclosed `(`", 0..1),
            ("a b", "unexpected `b`", 2..3),
            ("   ", "empty expression", 0..3),
            ("", "empty expression", 0..0),
        ];
        for (src, message, span) in cases {
            let e = err(src);
            assert_eq!((e.message.as_str(), e.span), (message, span), "{src:?}");
        }
        assert_eq!(err("a b").help.as_deref(), Some("join conditions with `&&` or `||`"));
    }

    #[test]
    fn function_errors_suggest_and_count() {
        let e = err("contain(a, 'b')");
        assert_eq!((e.message.as_str(), e.span), ("unknown function `contain`", 0..7));
        assert_eq!(e.help.as_deref(), Some("did you mean `contains`?"));
        assert_eq!(err("file_exists('x')").help.as_deref(), Some("did you mean `file-exists`?"));
        assert_eq!(err("variable-equals()").message, "unknown function `variable-equals`");
        let e = err("matches(title)");
        assert_eq!((e.message.as_str(), e.span), ("`matches` takes 2 arguments, found 1", 0..14));
        assert_eq!(err("file-exists()").message, "`file-exists` takes 1 argument, found 0");
        assert_eq!(err("contains(a, )").message, "expected an operand after `,`, found `)`");
        assert_eq!(err("contains(a, b").message, "unclosed `(`");
    }

    #[test]
    fn hostile_nesting_is_refused_without_overflowing() {
        let hostile = ["(".repeat(100_000), "!".repeat(100_000) + "a", "-".repeat(100_000) + "1"];
        for src in hostile {
            assert!(err(&src).message.contains("nested too deeply"));
        }
        let chain = vec!["a"; 1000].join(" && ");
        assert!(err(&chain).message.contains("nested too deeply"));
        let nested = format!("{}a{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(p(&nested).kind, ExprKind::Path(vec!["a".into()]));
    }
}
