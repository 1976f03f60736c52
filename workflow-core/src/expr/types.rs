//! Build-time type checking of expressions, so `attempts > 'three'` fails
//! when the workflow is compiled rather than halfway through a run.

use super::{BinaryOp, Expr, ExprError, ExprKind, Function, Literal, UnaryOp};
use std::fmt;
use std::ops::Range;

/// The static type of an expression or a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Type {
    /// `true` / `false`.
    Bool,
    /// A 64-bit integer.
    Int,
    /// A floating-point number.
    Float,
    /// Text.
    String,
    /// A JSON array.
    List,
    /// A JSON object.
    Map,
    /// The type of `null`.
    Null,
    /// Unknown until run time (unparsed outputs, unknown names); compatible with everything.
    Any,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Float => "float",
            Type::String => "string",
            Type::List => "list",
            Type::Map => "map",
            Type::Null => "null",
            Type::Any => "any",
        })
    }
}

impl Type {
    fn is_numeric(self) -> bool {
        matches!(self, Type::Int | Type::Float)
    }

    /// Whether a value of this type may be used where `want` is required.
    fn fits(self, want: Type) -> bool {
        self == want || self == Type::Any
    }
}

/// Infers the type; `resolve` gives the type of each path (the caller reports
/// unknown names itself and returns [`Type::Any`] for them).
pub fn infer(expr: &Expr, resolve: &mut dyn FnMut(&[String], Range<usize>) -> Type) -> Result<Type, Vec<ExprError>> {
    let mut checker = Checker { resolve, errors: Vec::new() };
    let ty = checker.infer(expr);
    if checker.errors.is_empty() {
        Ok(ty)
    } else {
        Err(checker.errors)
    }
}

/// Like [`infer`], and additionally requires the result to be bool (or any).
pub fn check_condition(expr: &Expr, resolve: &mut dyn FnMut(&[String], Range<usize>) -> Type) -> Vec<ExprError> {
    match infer(expr, resolve) {
        Err(errors) => errors,
        Ok(ty) if ty.fits(Type::Bool) => Vec::new(),
        Ok(ty) => vec![ExprError::new(format!("a condition must be a bool, found {ty}"), expr.span.clone()).with_help(match ty {
            Type::Int | Type::Float => format!("compare it, for example `{expr} > 0`"),
            Type::String => format!("compare it, for example `{expr} == 'yes'`"),
            _ => "compare it with `==` or test it with `contains()`".to_string(),
        })],
    }
}

struct Checker<'r> {
    resolve: &'r mut dyn FnMut(&[String], Range<usize>) -> Type,
    errors: Vec<ExprError>,
}

impl Checker<'_> {
    /// The type of `e`. After reporting an error it answers [`Type::Any`], so
    /// one mistake is reported once rather than again by every enclosing node.
    fn infer(&mut self, e: &Expr) -> Type {
        match &e.kind {
            ExprKind::Literal(lit) => match lit {
                Literal::Null => Type::Null,
                Literal::Bool(_) => Type::Bool,
                Literal::Int(_) => Type::Int,
                Literal::Float(_) => Type::Float,
                Literal::Str(_) => Type::String,
            },
            ExprKind::Path(path) => (self.resolve)(path, e.span.clone()),
            ExprKind::Predicate(_) => Type::Bool,
            ExprKind::Unary(op, operand) => self.unary(*op, operand),
            ExprKind::Binary(op, l, r) => self.binary(*op, l, r, e),
            ExprKind::Call(func, args) => self.call(*func, args, e),
        }
    }

    fn error(&mut self, message: String, span: Range<usize>) -> Type {
        self.errors.push(ExprError::new(message, span));
        Type::Any
    }

    fn unary(&mut self, op: UnaryOp, operand: &Expr) -> Type {
        let ty = self.infer(operand);
        match op {
            UnaryOp::Not if ty.fits(Type::Bool) => Type::Bool,
            UnaryOp::Not => self.error(format!("`!` needs a bool, found {ty}"), operand.span.clone()),
            UnaryOp::Neg if ty.is_numeric() || ty == Type::Any => ty,
            UnaryOp::Neg => self.error(format!("`-` needs a number, found {ty}"), operand.span.clone()),
        }
    }

    fn binary(&mut self, op: BinaryOp, l: &Expr, r: &Expr, whole: &Expr) -> Type {
        let (lt, rt) = (self.infer(l), self.infer(r));
        let sym = op.symbol();
        let any = lt == Type::Any || rt == Type::Any;
        let numeric = lt.is_numeric() && rt.is_numeric();
        match op {
            BinaryOp::And | BinaryOp::Or => {
                for (ty, side) in [(lt, l), (rt, r)] {
                    if !ty.fits(Type::Bool) {
                        self.error(format!("`{sym}` needs bool operands, found {ty}"), side.span.clone());
                    }
                }
                Type::Bool
            }
            BinaryOp::Eq | BinaryOp::Ne => {
                let nullable = lt == Type::Null || rt == Type::Null;
                if !(any || numeric || nullable || lt == rt) {
                    self.mismatch(format!("cannot compare {lt} with {rt}"), whole);
                }
                Type::Bool
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let orderable = |t: Type| t.is_numeric() || t == Type::String || t == Type::Any;
                let ok = orderable(lt) && orderable(rt) && (any || numeric || lt == rt);
                if !ok {
                    self.mismatch(format!("cannot compare {lt} with {rt} using `{sym}`"), whole);
                }
                Type::Bool
            }
            BinaryOp::Add if lt == Type::String && rt == Type::String => Type::String,
            BinaryOp::Add if (lt == Type::String || rt == Type::String) && any => Type::Any,
            _ => self.arithmetic(op, lt, rt, whole),
        }
    }

    fn mismatch(&mut self, message: String, whole: &Expr) {
        let err = ExprError::new(format!("type mismatch: {message}"), whole.span.clone());
        self.errors.push(match whole.kind {
            ExprKind::Binary(BinaryOp::Eq | BinaryOp::Ne, _, _) => {
                err.with_help("values of different types are never equal: compare like with like (a quoted '1' is a string, 1 a number)")
            }
            _ => err,
        });
    }

    fn arithmetic(&mut self, op: BinaryOp, lt: Type, rt: Type, whole: &Expr) -> Type {
        let operand_ok = |t: Type| t.is_numeric() || t == Type::Any;
        if !(operand_ok(lt) && operand_ok(rt)) {
            let what = if op == BinaryOp::Add { "numbers or two strings" } else { "numbers" };
            let message = format!("type mismatch: `{}` needs {what}, found {lt} and {rt}", op.symbol());
            return self.error(message, whole.span.clone());
        }
        match (lt, rt) {
            (Type::Int, Type::Int) => Type::Int,
            (Type::Any, _) | (_, Type::Any) => Type::Any,
            _ => Type::Float,
        }
    }

    fn call(&mut self, func: Function, args: &[Expr], whole: &Expr) -> Type {
        let types: Vec<Type> = args.iter().map(|a| self.infer(a)).collect();
        if args.len() != func.arity() {
            let message = format!("`{}` takes {} arguments, found {}", func.name(), func.arity(), args.len());
            return self.error(message, whole.span.clone());
        }
        let name = func.name();
        let want = |this: &mut Self, i: usize, ok: &[Type], what: &str| {
            if !ok.contains(&types[i]) && types[i] != Type::Any {
                let message = format!("`{name}` needs {what} as argument {}, found {}", i + 1, types[i]);
                this.error(message, args[i].span.clone());
            }
        };
        match func {
            Function::Contains => want(self, 0, &[Type::String, Type::List], "a string or a list"),
            Function::Matches => {
                want(self, 0, &[Type::String], "a string");
                want(self, 1, &[Type::String], "a regex string");
                if let ExprKind::Literal(Literal::Str(pattern)) = &args[1].kind {
                    if let Err(e) = regex::Regex::new(pattern) {
                        self.errors.push(regex_error(&e, args[1].span.clone()));
                    }
                }
            }
            Function::FileExists => want(self, 0, &[Type::String], "a path string"),
        }
        Type::Bool
    }
}

/// The regex crate's message spans several lines with its own caret; the
/// last line is the reason, which is what the user needs next to our span.
pub(crate) fn regex_error(e: &regex::Error, span: Range<usize>) -> ExprError {
    let text = e.to_string();
    let reason = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid");
    let reason = reason.trim().trim_start_matches("error: ");
    ExprError::new(format!("invalid regex: {reason}"), span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::parse;

    /// Types of the variables a typical workflow declares.
    fn resolve(path: &[String], _: Range<usize>) -> Type {
        match path.join(".").as_str() {
            "attempts" | "i" | "build.exit_code" => Type::Int,
            "ratio" => Type::Float,
            "title" | "build.stdout" => Type::String,
            "approved" => Type::Bool,
            "files" => Type::List,
            "config" => Type::Map,
            _ => Type::Any,
        }
    }

    fn ty(src: &str) -> Result<Type, Vec<ExprError>> {
        infer(&parse(src).unwrap(), &mut resolve)
    }

    fn errors(src: &str) -> Vec<(String, &str)> {
        let e = parse(src).unwrap();
        check_condition(&e, &mut resolve).into_iter().map(|err| (err.message, &src[err.span])).collect()
    }

    #[test]
    fn numbers_mix_and_strings_concatenate() {
        assert_eq!(ty("attempts + 1"), Ok(Type::Int));
        assert_eq!(ty("attempts * ratio"), Ok(Type::Float));
        assert_eq!(ty("title + '!'"), Ok(Type::String));
        assert_eq!(ty("-ratio"), Ok(Type::Float));
        assert_eq!(ty("unknown + 1"), Ok(Type::Any));
        assert_eq!(ty("i < 3 && !approved"), Ok(Type::Bool));
        assert_eq!(ty("contains(files, 'a.rs') || matches(title, '^fix')"), Ok(Type::Bool));
    }

    #[test]
    fn comparing_a_number_to_a_string_is_a_type_error() {
        let errs = errors("attempts > 'three'");
        assert_eq!(errs, [("type mismatch: cannot compare int with string using `>`".into(), "attempts > 'three'")]);
        let errs = errors("build.exit_code == '0'");
        assert_eq!(errs[0].0, "type mismatch: cannot compare int with string");
        assert!(errors("attempts == 2.0 && title != null && anything == 3").is_empty());
        assert!(errors("title < 'm' && ratio >= attempts").is_empty());
        assert_eq!(errors("approved < true")[0].0, "type mismatch: cannot compare bool with bool using `<`");
    }

    #[test]
    fn logic_needs_bools_and_every_error_is_reported() {
        let errs = errors("attempts && title || !i");
        assert_eq!(
            errs,
            [
                ("`&&` needs bool operands, found int".to_string(), "attempts"),
                ("`&&` needs bool operands, found string".to_string(), "title"),
                ("`!` needs a bool, found int".to_string(), "i"),
            ]
        );
    }

    #[test]
    fn arithmetic_and_functions_check_their_operands() {
        assert_eq!(errors("title - 1 > 0")[0], ("type mismatch: `-` needs numbers, found string and int".into(), "title - 1"));
        assert_eq!(errors("attempts + title == 1")[0].1, "attempts + title");
        assert_eq!(errors("contains(attempts, 1)")[0], ("`contains` needs a string or a list as argument 1, found int".into(), "attempts"));
        assert_eq!(errors("contains(config, 'k')").len(), 1);
        assert_eq!(errors("file-exists(attempts)")[0].1, "attempts");
        assert!(errors("file-exists(title) && file-exists && variable-equals").is_empty());
    }

    #[test]
    fn invalid_regex_literals_are_reported_at_the_literal() {
        let errs = errors("matches(title, 'fix(') || matches(build.stdout, '[')");
        assert_eq!(errs.len(), 2);
        assert!(errs[0].0.starts_with("invalid regex: "), "{}", errs[0].0);
        assert_eq!(errs[0].1, "'fix('");
        assert_eq!(errs[1].1, "'['");
        assert!(errors("matches(title, title)").is_empty());
    }

    #[test]
    fn a_condition_must_be_bool() {
        let e = parse("attempts").unwrap();
        let errs = check_condition(&e, &mut resolve);
        assert_eq!(errs[0].message, "a condition must be a bool, found int");
        assert_eq!(errs[0].help.as_deref(), Some("compare it, for example `attempts > 0`"));
        assert!(errors("unknown").is_empty());
        assert!(errors("not-approved").is_empty());
    }

    #[test]
    fn resolve_sees_every_path_with_its_span() {
        let src = "${iteration} < limit && steps.s1.ok";
        let mut seen = Vec::new();
        let _ = infer(&parse(src).unwrap(), &mut |p: &[String], span: Range<usize>| {
            seen.push((p.join("."), &src[span]));
            Type::Any
        });
        assert_eq!(seen, [("iteration".into(), "${iteration}"), ("limit".into(), "limit"), ("steps.s1.ok".into(), "steps.s1.ok")]);
    }
}
