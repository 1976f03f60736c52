//! Run-time evaluation of an [`Expr`] against the values of a run.
//!
//! Every failure is an [`EvalError`] rather than a panic: values come from
//! step outputs the type checker could only call `any`.

use super::types::{regex_error, Type};
use super::{BinaryOp, Expr, ExprKind, Function, Literal, Predicate, UnaryOp};
use serde_json::Value;
use std::cmp::Ordering;
use std::ops::Range;

/// What an expression can read while it runs.
pub trait Env {
    /// The value of a variable or step output; `None` when it is undefined.
    fn lookup(&self, path: &[String]) -> Option<Value>;
    /// Whether a file exists (relative paths are the caller's business).
    fn file_exists(&self, path: &str) -> bool;
    /// The value of a keyword predicate; `None` when it is not available here.
    fn predicate(&self, p: Predicate) -> Option<bool>;
}

/// Why an expression could not be evaluated, pointing into its source text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    /// What went wrong, in one sentence.
    pub message: String,
    /// The byte range of the sub-expression that failed.
    pub span: Range<usize>,
}

fn fail<T>(message: impl Into<String>, span: &Range<usize>) -> Result<T, EvalError> {
    Err(EvalError { message: message.into(), span: span.clone() })
}

/// Whether a value counts as true: `false`, `null`, `0`, `""`, `[]` and `{}` do not.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Evaluates `expr`. `&&` and `||` short-circuit and yield bools.
pub fn eval(expr: &Expr, env: &dyn Env) -> Result<Value, EvalError> {
    let span = &expr.span;
    match &expr.kind {
        ExprKind::Literal(lit) => Ok(match lit {
            Literal::Null => Value::Null,
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Int(i) => Value::from(*i),
            Literal::Float(x) => float(*x, span)?,
            Literal::Str(s) => Value::String(s.clone()),
        }),
        ExprKind::Path(path) => match env.lookup(path) {
            Some(v) => Ok(v),
            None => fail(format!("`{}` is not defined", path.join(".")), span),
        },
        ExprKind::Predicate(p) => match env.predicate(*p) {
            Some(b) => Ok(Value::Bool(b)),
            None => fail(format!("the `{}` predicate is not available here", p.name()), span),
        },
        ExprKind::Unary(UnaryOp::Not, operand) => Ok(Value::Bool(!truthy(&eval(operand, env)?))),
        ExprKind::Unary(UnaryOp::Neg, operand) => {
            let v = eval(operand, env)?;
            match number(&v) {
                Some(Num::Int(i)) => i.checked_neg().map(Value::from).map_or_else(|| fail("integer overflow", span), Ok),
                Some(Num::Float(x)) => float(-x, span),
                None => fail(format!("`-` needs a number, found {}", type_of(&v)), span),
            }
        }
        ExprKind::Binary(BinaryOp::And, l, r) => Ok(Value::Bool(truthy(&eval(l, env)?) && truthy(&eval(r, env)?))),
        ExprKind::Binary(BinaryOp::Or, l, r) => Ok(Value::Bool(truthy(&eval(l, env)?) || truthy(&eval(r, env)?))),
        ExprKind::Binary(op, l, r) => binary(*op, &eval(l, env)?, &eval(r, env)?, span),
        ExprKind::Call(func, args) => {
            if args.len() != func.arity() {
                return fail(format!("`{}` takes {} arguments, found {}", func.name(), func.arity(), args.len()), span);
            }
            let values = args.iter().map(|a| eval(a, env)).collect::<Result<Vec<_>, _>>()?;
            call(*func, &values, args, env)
        }
    }
}

#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(x) => x,
        }
    }
}

/// A JSON number as an int when it fits, else as a float (u64 beyond i64 included).
fn number(v: &Value) -> Option<Num> {
    let n = v.as_number()?;
    n.as_i64().map(Num::Int).or_else(|| n.as_f64().map(Num::Float))
}

fn float(x: f64, span: &Range<usize>) -> Result<Value, EvalError> {
    match serde_json::Number::from_f64(x) {
        Some(n) => Ok(Value::Number(n)),
        None => fail("the result is not a finite number", span),
    }
}

fn type_of(v: &Value) -> Type {
    match v {
        Value::Null => Type::Null,
        Value::Bool(_) => Type::Bool,
        Value::Number(n) if n.is_f64() => Type::Float,
        Value::Number(_) => Type::Int,
        Value::String(_) => Type::String,
        Value::Array(_) => Type::List,
        Value::Object(_) => Type::Map,
    }
}

/// Equality where `1 == 1.0`, also inside lists and maps; different kinds are simply unequal.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => compare(a, b) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w))),
        _ => a == b,
    }
}

/// Order of two numbers or two strings; `None` for anything else.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => match (number(a)?, number(b)?) {
            (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
            (x, y) => x.as_f64().partial_cmp(&y.as_f64()),
        },
    }
}

fn binary(op: BinaryOp, l: &Value, r: &Value, span: &Range<usize>) -> Result<Value, EvalError> {
    let sym = op.symbol();
    let ordered = |test: fn(Ordering) -> bool| match compare(l, r) {
        Some(ord) => Ok(Value::Bool(test(ord))),
        None => fail(format!("cannot compare {} with {} using `{sym}`", type_of(l), type_of(r)), span),
    };
    match op {
        BinaryOp::Eq => Ok(Value::Bool(equal(l, r))),
        BinaryOp::Ne => Ok(Value::Bool(!equal(l, r))),
        BinaryOp::Lt => ordered(Ordering::is_lt),
        BinaryOp::Le => ordered(Ordering::is_le),
        BinaryOp::Gt => ordered(Ordering::is_gt),
        BinaryOp::Ge => ordered(Ordering::is_ge),
        BinaryOp::Add if l.is_string() && r.is_string() => Ok(Value::String(format!("{}{}", l.as_str().unwrap_or(""), r.as_str().unwrap_or("")))),
        _ => arithmetic(op, l, r, span),
    }
}

fn arithmetic(op: BinaryOp, l: &Value, r: &Value, span: &Range<usize>) -> Result<Value, EvalError> {
    let (Some(a), Some(b)) = (number(l), number(r)) else {
        let what = if op == BinaryOp::Add { "numbers or two strings" } else { "numbers" };
        return fail(format!("`{}` needs {what}, found {} and {}", op.symbol(), type_of(l), type_of(r)), span);
    };
    let divides = matches!(op, BinaryOp::Div | BinaryOp::Rem);
    if divides && b.as_f64() == 0.0 {
        return fail("division by zero", span);
    }
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => {
            let result = match op {
                BinaryOp::Add => x.checked_add(y),
                BinaryOp::Sub => x.checked_sub(y),
                BinaryOp::Mul => x.checked_mul(y),
                BinaryOp::Div => x.checked_div(y),
                _ => x.checked_rem(y),
            };
            result.map(Value::from).map_or_else(|| fail("integer overflow", span), Ok)
        }
        (a, b) => {
            let (x, y) = (a.as_f64(), b.as_f64());
            float(
                match op {
                    BinaryOp::Add => x + y,
                    BinaryOp::Sub => x - y,
                    BinaryOp::Mul => x * y,
                    BinaryOp::Div => x / y,
                    _ => x % y,
                },
                span,
            )
        }
    }
}

fn call(func: Function, values: &[Value], args: &[Expr], env: &dyn Env) -> Result<Value, EvalError> {
    let name = func.name();
    let wrong = |i: usize, what: &str| fail(format!("`{name}` needs {what} as argument {}, found {}", i + 1, type_of(&values[i])), &args[i].span);
    match func {
        Function::Contains => match (&values[0], &values[1]) {
            (Value::String(text), Value::String(needle)) => Ok(Value::Bool(text.contains(needle.as_str()))),
            // `contains(stdout, 42)` means the digits, as the user sees them printed.
            (Value::String(text), n @ (Value::Number(_) | Value::Bool(_))) => Ok(Value::Bool(text.contains(&n.to_string()))),
            (Value::String(_), _) => wrong(1, "a string, number or bool to search a string for"),
            (Value::Array(items), needle) => Ok(Value::Bool(items.iter().any(|item| equal(item, needle)))),
            _ => wrong(0, "a string or a list"),
        },
        Function::Matches => {
            let Value::String(text) = &values[0] else {
                return wrong(0, "a string");
            };
            let Value::String(pattern) = &values[1] else {
                return wrong(1, "a regex string");
            };
            match regex::Regex::new(pattern) {
                Ok(re) => Ok(Value::Bool(re.is_match(text))),
                Err(e) => {
                    let err = regex_error(&e, args[1].span.clone());
                    fail(err.message, &err.span)
                }
            }
        }
        Function::FileExists => match &values[0] {
            Value::String(path) => Ok(Value::Bool(env.file_exists(path))),
            _ => wrong(0, "a path string"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::parse;
    use serde_json::json;

    /// Values keyed by dotted path, one existing file, and `file-exists` available.
    struct Vars(Value);

    impl Env for Vars {
        fn lookup(&self, path: &[String]) -> Option<Value> {
            self.0.get(path.join(".")).cloned()
        }
        fn file_exists(&self, path: &str) -> bool {
            path == "Cargo.toml"
        }
        fn predicate(&self, p: Predicate) -> Option<bool> {
            (p == Predicate::FileExists).then_some(true)
        }
    }

    fn vars() -> Vars {
        Vars(json!({
            "approved": false, "iteration": 2, "ratio": 0.5, "title": "Add retries",
            "build.exit_code": 0, "human-review.approved": true, "files": ["a.rs", 1],
            "big": i64::MAX, "empty": "",
        }))
    }

    fn run(src: &str) -> Result<Value, EvalError> {
        eval(&parse(src).unwrap(), &vars())
    }

    fn ok(src: &str) -> Value {
        run(src).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn err(src: &str) -> (String, String) {
        let e = run(src).expect_err(src);
        (e.message, src[e.span].to_string())
    }

    #[test]
    fn conditions_from_the_design_evaluate() {
        assert_eq!(ok("not-approved"), json!(true));
        assert_eq!(ok("${iteration} < 5"), json!(true));
        assert_eq!(ok("{{iteration}} >= 5"), json!(false));
        assert_eq!(ok("human-review.approved && build.exit_code == 0"), json!(true));
        assert_eq!(ok("file-exists && file-exists('Cargo.toml') && !file-exists('nope')"), json!(true));
    }

    #[test]
    fn logic_short_circuits() {
        assert_eq!(ok("approved && missing"), json!(false));
        assert_eq!(ok("!approved || missing"), json!(true));
        assert_eq!(err("!approved && missing"), ("`missing` is not defined".into(), "missing".into()));
        assert_eq!(ok("title and iteration"), json!(true));
        assert_eq!(ok("empty or 0"), json!(false));
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(ok("iteration + 1"), json!(3));
        assert_eq!(ok("7 / 2"), json!(3));
        assert_eq!(ok("-7 % 3"), json!(-1));
        assert_eq!(ok("iteration * ratio"), json!(1.0));
        assert_eq!(ok("title + '!'"), json!("Add retries!"));
        assert_eq!(err("big + 1"), ("integer overflow".into(), "big + 1".into()));
        assert_eq!(err("-9223372036854775808 / -1").0, "integer overflow");
        assert_eq!(err("-(-9223372036854775808)").0, "integer overflow");
        assert_eq!(err("iteration % 0").0, "division by zero");
        assert_eq!(err("ratio / 0").0, "division by zero");
        assert_eq!(err("1e308 * 10.0").0, "the result is not a finite number");
        assert_eq!(err("title - 1").0, "`-` needs numbers, found string and int");
    }

    #[test]
    fn comparisons_mix_numbers_and_order_strings() {
        assert_eq!(ok("1 == 1.0"), json!(true));
        assert_eq!(ok("iteration != 2.5"), json!(true));
        assert_eq!(ok("'apple' < 'banana' && '10' < '9'"), json!(true));
        assert_eq!(ok("title == 1"), json!(false));
        assert_eq!(ok("title != null && null == null"), json!(true));
        assert_eq!(err("title < 3"), ("cannot compare string with int using `<`".into(), "title < 3".into()));
    }

    #[test]
    fn functions_search_and_match() {
        assert_eq!(ok("contains(title, 'retr') && contains(files, 'a.rs') && contains(files, 1.0)"), json!(true));
        assert_eq!(ok("contains(files, 'b.rs')"), json!(false));
        assert_eq!(ok("contains('exit 42', 42)"), json!(true));
        assert_eq!(ok("matches(title, '^Add\\\\s')"), json!(true));
        assert_eq!(err("matches(title, '(')").1, "'('");
        assert!(err("matches(title, '(')").0.starts_with("invalid regex"));
        assert_eq!(err("contains(iteration, 1)").1, "iteration");
        assert_eq!(err("file-exists(1)").0, "`file-exists` needs a path string as argument 1, found int");
    }

    #[test]
    fn unavailable_predicates_and_undefined_names_are_errors() {
        assert_eq!(err("variable-equals").0, "the `variable-equals` predicate is not available here");
        assert_eq!(err("steps.s9.stdout == ''").0, "`steps.s9.stdout` is not defined");
    }

    #[test]
    fn truthiness_follows_the_usual_falsy_values() {
        for v in [json!(false), json!(null), json!(0), json!(0.0), json!(""), json!([]), json!({})] {
            assert!(!truthy(&v), "{v}");
        }
        for v in [json!(true), json!(-1), json!(0.1), json!("0"), json!([0]), json!({"a": null})] {
            assert!(truthy(&v), "{v}");
        }
    }
}
