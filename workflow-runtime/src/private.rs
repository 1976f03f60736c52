//! What generated machines use. Not a public API: it changes with the code
//! generator, which always emits paths into this module.
//!
//! The arithmetic helpers repeat the checks of [`workflow_core::expr::eval`]
//! (overflow, division by zero, non-finite results) with the same messages,
//! so a typed condition fails exactly where the interpreter's does.

pub use crate::machine::{ActionError, ActionFuture, ActionInput, CustomAction, FailReason, Machine, State, Transition};
pub use crate::outputs::*;
pub use regex;
pub use serde;
pub use serde_json;
pub use workflow_core::expr::EvalError;
pub use workflow_core::ir::{Outcome, WorkflowIr};

use crate::interpret::{assigned_value, eval_error, flow_condition, initial_value, RunEnv};
use regex::Regex;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::ops::Range;
use std::sync::OnceLock;
use workflow_core::expr::{eval, truthy};

/// Parses the IR a machine embeds as JSON.
pub fn parse_ir(json: &str) -> WorkflowIr {
    match serde_json::from_str(json) {
        Ok(ir) => ir,
        // The generator wrote this JSON from a valid IR in the same build.
        Err(e) => panic!("the embedded workflow IR does not parse: {e}"),
    }
}

/// The initial value of variable `var` as the interpreter computes it, for
/// defaults the generator did not write as a Rust literal.
pub fn initial_variable<T: DeserializeOwned + Default>(ir: &WorkflowIr, var: usize) -> T {
    serde_json::from_value(initial_value(&ir.variables[var])).unwrap_or_default()
}

/// The run's values in the interpreter's JSON form.
struct JsonView {
    variables: Vec<Value>,
    outputs: Vec<Option<Value>>,
}

impl JsonView {
    fn of<M: Machine>(state: &State<M>) -> Result<JsonView, EvalError> {
        let ir = M::ir();
        let json = |v: Result<Value, serde_json::Error>| v.map_err(|e| eval_error(format!("cannot read the run's state: {e}"), 0..0));
        let variables = json(serde_json::to_value(&state.variables))?;
        let outputs = json(serde_json::to_value(&state.outputs))?;
        Ok(JsonView {
            variables: ir.variables.iter().map(|v| variables.get(&v.name).cloned().unwrap_or(Value::Null)).collect(),
            outputs: ir.steps.iter().map(|s| outputs.get(&s.id).cloned()).collect(),
        })
    }

    fn env<'s>(&'s self, ir: &'s WorkflowIr, step: usize, counters: &'s [u32], run: &'s crate::machine::RunFacts) -> RunEnv<'s> {
        RunEnv { ir, step, variables: &self.variables, outputs: &self.outputs, counters, run }
    }
}

/// Evaluates step `step`'s branch or loop condition from the IR (for
/// conditions reading untyped values or keyword predicates).
pub fn eval_condition<M: Machine>(state: &State<M>, step: usize) -> Result<bool, EvalError> {
    let ir = M::ir();
    let Some(condition) = flow_condition(&ir.steps[step]) else {
        return Err(eval_error(format!("step `{}` has no condition", ir.steps[step].id), 0..0));
    };
    let view = JsonView::of(state)?;
    eval(condition, &view.env(ir, step, &state.counters, &state.run)).map(|v| truthy(&v))
}

/// Evaluates the `index`-th `set:` expression of step `step` from the IR,
/// converted to its variable's type as the interpreter converts it.
pub fn eval_set<M: Machine, T: DeserializeOwned>(state: &State<M>, step: usize, index: usize) -> Result<T, EvalError> {
    let ir = M::ir();
    let (var, expr) = &ir.steps[step].set[index];
    let view = JsonView::of(state)?;
    let value = assigned_value(ir, *var, expr, &view.env(ir, step, &state.counters, &state.run))?;
    serde_json::from_value(value).map_err(|e| eval_error(e.to_string(), expr.span.clone()))
}

fn overflow<T>(span: Range<usize>) -> Result<T, EvalError> {
    Err(eval_error("integer overflow", span))
}

fn check_divisor(divisor: f64, span: &Range<usize>) -> Result<(), EvalError> {
    if divisor == 0.0 {
        return Err(eval_error("division by zero", span.clone()));
    }
    Ok(())
}

/// `-a` on ints.
pub fn neg_int(a: i64, span: Range<usize>) -> Result<i64, EvalError> {
    a.checked_neg().map_or_else(|| overflow(span), Ok)
}

/// `a + b` on ints.
pub fn add_int(a: i64, b: i64, span: Range<usize>) -> Result<i64, EvalError> {
    a.checked_add(b).map_or_else(|| overflow(span), Ok)
}

/// `a - b` on ints.
pub fn sub_int(a: i64, b: i64, span: Range<usize>) -> Result<i64, EvalError> {
    a.checked_sub(b).map_or_else(|| overflow(span), Ok)
}

/// `a * b` on ints.
pub fn mul_int(a: i64, b: i64, span: Range<usize>) -> Result<i64, EvalError> {
    a.checked_mul(b).map_or_else(|| overflow(span), Ok)
}

/// `a / b` on ints (truncating).
pub fn div_int(a: i64, b: i64, span: Range<usize>) -> Result<i64, EvalError> {
    check_divisor(b as f64, &span)?;
    a.checked_div(b).map_or_else(|| overflow(span), Ok)
}

/// `a % b` on ints.
pub fn rem_int(a: i64, b: i64, span: Range<usize>) -> Result<i64, EvalError> {
    check_divisor(b as f64, &span)?;
    a.checked_rem(b).map_or_else(|| overflow(span), Ok)
}

/// A float result, refused when it is infinite or NaN.
pub fn finite(x: f64, span: Range<usize>) -> Result<f64, EvalError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(eval_error("the result is not a finite number", span))
    }
}

/// `a / b` on floats.
pub fn div_float(a: f64, b: f64, span: Range<usize>) -> Result<f64, EvalError> {
    check_divisor(b, &span)?;
    finite(a / b, span)
}

/// `a % b` on floats.
pub fn rem_float(a: f64, b: f64, span: Range<usize>) -> Result<f64, EvalError> {
    check_divisor(b, &span)?;
    finite(a % b, span)
}

/// `a + b` on strings.
pub fn concat(a: &str, b: &str) -> String {
    let mut out = String::with_capacity(a.len() + b.len());
    out.push_str(a);
    out.push_str(b);
    out
}

/// `matches(text, 'literal')`: the regex is compiled once per call site.
pub fn is_match_cached(cell: &'static OnceLock<Regex>, pattern: &str, text: &str, span: Range<usize>) -> Result<bool, EvalError> {
    if let Some(re) = cell.get() {
        return Ok(re.is_match(text));
    }
    let re = compile(pattern, span)?;
    Ok(cell.get_or_init(|| re).is_match(text))
}

/// `matches(text, pattern)` with a pattern computed at run time.
pub fn is_match(text: &str, pattern: &str, span: Range<usize>) -> Result<bool, EvalError> {
    Ok(compile(pattern, span)?.is_match(text))
}

fn compile(pattern: &str, span: Range<usize>) -> Result<Regex, EvalError> {
    Regex::new(pattern).map_err(|e| {
        // The regex crate's last line is the reason; the rest draws a caret we have no room for.
        let text = e.to_string();
        let reason = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid");
        eval_error(format!("invalid regex: {}", reason.trim().trim_start_matches("error: ")), span)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use workflow_core::expr::{BinaryOp, Env, Expr, ExprKind, Function, Literal, Predicate, UnaryOp};

    /// Nothing to look up: the expressions below are made of literals only.
    struct Literals;

    impl Env for Literals {
        fn lookup(&self, _: &[String]) -> Option<Value> {
            None
        }
        fn file_exists(&self, _: &str) -> bool {
            false
        }
        fn predicate(&self, _: Predicate) -> Option<bool> {
            None
        }
    }

    fn lit(l: Literal) -> Box<Expr> {
        Box::new(Expr { kind: ExprKind::Literal(l), span: 0..1 })
    }

    /// `eval` of `kind`, as the helpers answer: the value, or the error message.
    fn eval_of(kind: ExprKind) -> Result<Value, String> {
        eval(&Expr { kind, span: 0..1 }, &Literals).map_err(|e| e.message)
    }

    fn helper<T: Into<Value>>(result: Result<T, EvalError>) -> Result<Value, String> {
        result.map(Into::into).map_err(|e| e.message)
    }

    #[test]
    fn integer_helpers_fail_where_eval_fails() {
        type IntOp = fn(i64, i64, Range<usize>) -> Result<i64, EvalError>;
        let ops: [(BinaryOp, IntOp); 5] =
            [(BinaryOp::Add, add_int), (BinaryOp::Sub, sub_int), (BinaryOp::Mul, mul_int), (BinaryOp::Div, div_int), (BinaryOp::Rem, rem_int)];
        let values = [0, 1, -1, 7, -7, i64::MAX, i64::MIN];
        for a in values {
            assert_eq!(helper(neg_int(a, 0..1)), eval_of(ExprKind::Unary(UnaryOp::Neg, lit(Literal::Int(a)))), "-{a}");
            for b in values {
                for (op, f) in ops {
                    let expected = eval_of(ExprKind::Binary(op, lit(Literal::Int(a)), lit(Literal::Int(b))));
                    assert_eq!(helper(f(a, b, 0..1)), expected, "{a} {} {b}", op.symbol());
                }
            }
        }
    }

    #[test]
    fn float_helpers_fail_where_eval_fails() {
        let values = [0.0, 1.5, -2.0, 1e308, -1e308];
        for a in values {
            for b in values {
                let float = |op| eval_of(ExprKind::Binary(op, lit(Literal::Float(a)), lit(Literal::Float(b))));
                assert_eq!(helper(finite(a + b, 0..1)), float(BinaryOp::Add), "{a} + {b}");
                assert_eq!(helper(finite(a - b, 0..1)), float(BinaryOp::Sub), "{a} - {b}");
                assert_eq!(helper(finite(a * b, 0..1)), float(BinaryOp::Mul), "{a} * {b}");
                assert_eq!(helper(div_float(a, b, 0..1)), float(BinaryOp::Div), "{a} / {b}");
                assert_eq!(helper(rem_float(a, b, 0..1)), float(BinaryOp::Rem), "{a} % {b}");
            }
        }
        // Mixed operands are floats on both sides.
        let mixed = eval_of(ExprKind::Binary(BinaryOp::Div, lit(Literal::Int(3)), lit(Literal::Float(2.0))));
        assert_eq!(helper(div_float(3.0, 2.0, 0..1)), mixed);
    }

    #[test]
    fn regex_helpers_match_and_fail_like_eval() {
        static PATTERN: OnceLock<Regex> = OnceLock::new();
        let matches = |text: &str, pattern: &str| {
            let args = vec![*lit(Literal::Str(text.into())), *lit(Literal::Str(pattern.into()))];
            eval_of(ExprKind::Call(Function::Matches, args))
        };
        assert_eq!(helper(is_match_cached(&PATTERN, "^fix", "fix: x", 0..1)), matches("fix: x", "^fix"));
        assert_eq!(helper(is_match_cached(&PATTERN, "^fix", "feat", 0..1)), matches("feat", "^fix"));
        assert_eq!(helper(is_match("a", "(", 0..1)), matches("a", "("));
        assert!(helper(is_match("a", "(", 0..1)).unwrap_err().starts_with("invalid regex: "));
    }
}
