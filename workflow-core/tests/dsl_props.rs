//! `workflow!` input that tokenizes never makes the DSL parser panic: it
//! returns a tree or a `syn::Error`.

use proptest::prelude::*;
use workflow_core::dsl::parse_dsl;

/// Words and punctuation the DSL is made of, so generated input gets past
/// the first token often.
const WORDS: &[&str] = &[
    "name",
    "steps",
    "variables",
    "loop",
    "type",
    "custom",
    "s1",
    "s2",
    "shell",
    "end",
    "create_pr",
    "crate",
    "::",
    ":",
    ":",
    ",",
    ",",
    ".",
    "-",
    "|",
    "||",
    "|v, s|",
    "move",
    "!",
    "+",
    "1",
    "-3",
    "2.5",
    "99999999999999999999",
    "true",
    "false",
    "\"x\"",
    "\"human-review\"",
    "'c'",
    "b\"b\"",
    "r#type",
    "=",
    "#",
    "&&",
    "'a",
    "async",
];

/// Balanced token text: words, and groups of them in `{}`, `[]` or `()`.
fn dsl_like() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(WORDS).prop_map(str::to_string);
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(|v| v.join(" ")),
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("{{ {} }}", v.join(" "))),
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[ {} ]", v.join(" "))),
            prop::collection::vec(inner, 0..4).prop_map(|v| format!("( {} )", v.join(" "))),
        ]
    })
}

/// A value in the DSL's grammar: scalars, names, closures, `{..}` and `[..]`.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(&["\"s\"", "1", "-2", "2.5", "true", "x", "s7.approved", "|v, s| !s.s7.approved", "loop"][..]).prop_map(str::to_string);
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(("[a-z_]{1,6}", inner.clone()), 0..4)
                .prop_map(|v| format!("{{ {} }}", v.into_iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "))),
            prop::collection::vec(inner, 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        ]
    })
}

/// Well-formed `workflow!` input, then one token inserted at random (or not).
fn mutated_workflow() -> impl Strategy<Value = String> {
    let id = prop::sample::select(&["s1", "\"human-review\"", "loop", "done"][..]);
    let action = prop::sample::select(&["shell", "create_pr", "custom(crate::actions::deploy)", "end", "loop"][..]);
    let step = (id, action, prop::option::of(value())).prop_map(|(id, action, fields)| match fields {
        Some(f) if f.starts_with('{') => format!("{id}: {action} {f}"),
        _ => format!("{id}: {action}"),
    });
    let workflow =
        (value(), prop::collection::vec(step, 0..5)).prop_map(|(vars, steps)| format!("name: \"x\", variables: {vars}, steps: [{}],", steps.join(", ")));
    (workflow, prop::option::of((any::<prop::sample::Index>(), prop::sample::select(WORDS)))).prop_map(|(text, mutation)| {
        let mut words: Vec<&str> = text.split(' ').collect();
        if let Some((at, word)) = mutation {
            words.insert(at.index(words.len() + 1), word);
        }
        words.join(" ")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dsl_parser_never_panics_on_tokenizable_input(s in prop_oneof![dsl_like(), mutated_workflow(), "\\PC{0,80}", "[a-z_:,.{}\\[\\]|! \"0-9-]{0,80}"]) {
        if let Ok(tokens) = s.parse::<proc_macro2::TokenStream>() {
            let _ = parse_dsl(tokens);
        }
    }
}
