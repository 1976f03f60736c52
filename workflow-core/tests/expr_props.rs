//! Properties of the condition language and templates that must hold for any
//! input: no panics, spans inside the text, and `Display` that reads back.

use proptest::prelude::*;
use serde_json::{json, Value};
use std::ops::Range;
use workflow_core::expr::{eval, infer, parse, BinaryOp, Env, Expr, ExprKind, Function, Literal, Predicate, Type, UnaryOp};
use workflow_core::template::{parse_template, Part};

/// The same tree with every span zeroed, so trees parsed from different texts compare.
fn without_spans(e: &Expr) -> Expr {
    let kind = match &e.kind {
        ExprKind::Unary(op, x) => ExprKind::Unary(*op, Box::new(without_spans(x))),
        ExprKind::Binary(op, l, r) => ExprKind::Binary(*op, Box::new(without_spans(l)), Box::new(without_spans(r))),
        ExprKind::Call(f, args) => ExprKind::Call(*f, args.iter().map(without_spans).collect()),
        other => other.clone(),
    };
    Expr { kind, span: 0..0 }
}

fn node(kind: ExprKind) -> Expr {
    Expr { kind, span: 0..0 }
}

/// Ordinary names, and names that `Display` must write as `${..}` to read back.
const PATHS: [&str; 14] = [
    "a",
    "approved",
    "i",
    "build.exit_code",
    "steps.review.approved",
    "human-review.approved",
    "step-2.stdout",
    "delta.open_prs",
    "missing",
    "not-approved",
    "file-exists",
    "contains",
    "and",
    "true.x",
];

fn leaf() -> impl Strategy<Value = Expr> {
    let finite = prop::num::f64::POSITIVE | prop::num::f64::NEGATIVE | prop::num::f64::NORMAL | prop::num::f64::ZERO;
    prop_oneof![
        Just(Literal::Null).prop_map(ExprKind::Literal),
        any::<bool>().prop_map(|b| ExprKind::Literal(Literal::Bool(b))),
        any::<i64>().prop_map(|i| ExprKind::Literal(Literal::Int(i))),
        finite.prop_map(|x| ExprKind::Literal(Literal::Float(x))),
        any::<String>().prop_map(|s| ExprKind::Literal(Literal::Str(s))),
        prop::sample::select(&PATHS[..]).prop_map(|p| ExprKind::Path(p.split('.').map(String::from).collect())),
        prop::sample::select(vec![Predicate::FileExists, Predicate::VariableEquals]).prop_map(ExprKind::Predicate),
    ]
    .prop_map(node)
}

fn expr() -> impl Strategy<Value = Expr> {
    use BinaryOp::*;
    let binary_ops = vec![Eq, Ne, Lt, Le, Gt, Ge, And, Or, Add, Sub, Mul, Div, Rem];
    leaf().prop_recursive(6, 64, 3, move |inner| {
        let boxed = |e: Expr| Box::new(e);
        prop_oneof![
            (prop::sample::select(vec![UnaryOp::Not, UnaryOp::Neg]), inner.clone()).prop_map(move |(op, x)| node(ExprKind::Unary(op, boxed(x)))),
            (prop::sample::select(binary_ops.clone()), inner.clone(), inner.clone()).prop_map(move |(op, l, r)| node(ExprKind::Binary(op, boxed(l), boxed(r)))),
            (prop::sample::select(vec![Function::Contains, Function::Matches]), inner.clone(), inner.clone())
                .prop_map(|(f, a, b)| node(ExprKind::Call(f, vec![a, b]))),
            inner.clone().prop_map(|p| node(ExprKind::Call(Function::FileExists, vec![p]))),
        ]
    })
}

/// Text made of the language's own tokens, to reach deep into the parser.
fn token_soup() -> impl Strategy<Value = String> {
    let tokens = vec![
        "a",
        "b.c",
        "not-approved",
        "human-review.approved",
        "file-exists",
        "variable-equals",
        "contains",
        "matches",
        "and",
        "or",
        "not",
        "true",
        "false",
        "null",
        "&&",
        "||",
        "!",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "=",
        "+",
        "-",
        "*",
        "/",
        "%",
        "(",
        ")",
        ",",
        "'x'",
        "\"y\"",
        "'",
        "1",
        "-1",
        "2.5",
        "1e3",
        "${i}",
        "{{ j }}",
        "${",
        "}}",
        ".",
        "é",
        "9223372036854775808",
    ];
    (prop::collection::vec(prop::sample::select(tokens), 0..24), any::<bool>()).prop_map(|(parts, spaced)| parts.join(if spaced { " " } else { "" }))
}

fn on_boundaries(src: &str, span: &Range<usize>) -> bool {
    span.start <= span.end && src.is_char_boundary(span.start) && src.is_char_boundary(span.end)
}

/// A run's values: every type once, one name left undefined.
struct Values;

impl Env for Values {
    fn lookup(&self, path: &[String]) -> Option<Value> {
        Some(match path.join(".").as_str() {
            "a" => json!(1),
            "approved" => json!(true),
            "i" => json!(i64::MAX),
            "build.exit_code" => json!(0),
            "steps.review.approved" => json!(false),
            "human-review.approved" => json!("yes"),
            "step-2.stdout" => json!(["x", 2.5, null]),
            "delta.open_prs" => json!({"n": -1.5}),
            _ => return None,
        })
    }
    fn file_exists(&self, path: &str) -> bool {
        path.is_empty()
    }
    fn predicate(&self, p: Predicate) -> Option<bool> {
        (p == Predicate::FileExists).then_some(false)
    }
}

fn check_parse(src: &str) -> Result<(), TestCaseError> {
    match parse(src) {
        Ok(e) => {
            for (_, span) in e.paths() {
                prop_assert!(on_boundaries(src, &span), "path span {span:?} in {src:?}");
            }
            let text = e.to_string();
            let again = parse(&text).map_err(|err| TestCaseError::fail(format!("{src:?} → {text:?}: {err}")))?;
            prop_assert_eq!(without_spans(&again), without_spans(&e), "{:?} → {:?}", src, text);
        }
        Err(err) => {
            prop_assert!(on_boundaries(src, &err.span) && err.span.end <= src.len(), "{err:?} in {src:?}");
        }
    }
    Ok(())
}

fn check_template(src: &str) -> Result<(), TestCaseError> {
    match parse_template(src) {
        Ok(t) => {
            for part in &t.parts {
                if let Part::Ref { span, .. } = part {
                    prop_assert!(on_boundaries(src, span));
                    let text = &src[span.clone()];
                    prop_assert!(text.starts_with("${") || text.starts_with("{{"), "{text:?}");
                }
            }
            let adjacent_text = t.parts.windows(2).any(|w| matches!(w, [Part::Text(_), Part::Text(_)]));
            prop_assert!(!adjacent_text);
        }
        Err(err) => prop_assert!(on_boundaries(src, &err.span) && err.span.end <= src.len()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_on_any_text(src in ".*") {
        check_parse(&src)?;
        check_template(&src)?;
    }

    #[test]
    fn parse_never_panics_on_grammar_like_text(src in r#"[a-z0-9_.+*/%!=<>&|(), '"\\${}é✓\t-]{0,48}"#) {
        check_parse(&src)?;
        check_template(&src)?;
    }

    #[test]
    fn parse_never_panics_on_token_soup(src in token_soup()) {
        check_parse(&src)?;
        check_template(&src)?;
    }

    #[test]
    fn display_reads_back_as_the_same_tree(e in expr()) {
        let text = e.to_string();
        let parsed = parse(&text).map_err(|err| TestCaseError::fail(format!("{text:?}: {err} at {:?}", err.span)))?;
        prop_assert_eq!(without_spans(&parsed), without_spans(&e), "{}", text);
    }

    #[test]
    fn eval_and_infer_never_panic(e in expr()) {
        let _ = eval(&e, &Values);
        let mut resolve = |p: &[String], _: Range<usize>| match p.len() {
            1 => Type::Int,
            2 => Type::String,
            _ => Type::Any,
        };
        let _ = infer(&e, &mut resolve);
        // What the user would see after a round trip must behave the same.
        let reparsed = parse(&e.to_string()).map_err(|err| TestCaseError::fail(err.to_string()))?;
        prop_assert_eq!(eval(&reparsed, &Values).map_err(|e| e.message), eval(&e, &Values).map_err(|e| e.message));
    }
}
