//! The `workflow!` front end: turns the macro's tokens into the same spanned
//! [`Node`] tree the YAML front end produces, so one reader
//! ([`read`](crate::read)) builds the model from either.
//!
//! ```text
//! workflow! {
//!     name: "pr-review-loop",
//!     variables: { title: "Add retries", approved: false },
//!     models: { glm: "openai:glm-4.6" },
//!     steps: [
//!         s1: create_pr { title: "${title}" },
//!         s2: switch_model { model: glm },
//!         s7: review_pr { check: approved, on_approved: done, on_rejected: s10 },
//!         s10: loop { to: s2, condition: |vars, steps| !steps.s7.approved, max_iterations: 5 },
//!         deploy: custom(crate::actions::deploy) { target: "prod" },
//!         done: end,
//!     ],
//! }
//! ```
//!
//! * The input is a comma-separated list of `key: value` entries (a
//!   mapping). Keys are names (keywords such as `loop` or `type` included) or
//!   string literals, kept exactly as written.
//! * A value is a string, an integer (optionally negative), a float, `true` /
//!   `false`, a name or dotted path (`s7.approved`, read as the string
//!   `"s7.approved"`), `{ k: v, .. }`, `[a, b, ..]`, or a closure
//!   `|vars, steps| ..` (kept as Rust tokens).
//! * `steps:` is a list of `ID: ACTION { fields }` (the fields are optional).
//!   The id is a name or a string (for ids like `"human-review"`); the action
//!   is a name, written in snake case and read in kebab case (`create_pr` →
//!   `create-pr`), or `custom(path::to::async_fn)`, kept as Rust tokens. A
//!   step may also be written as a plain mapping `{ id: s1, action: shell }`.
//!
//! Every key and value carries the span of the token that produced it, so
//! build-time errors point into the macro invocation.

use crate::node::{Node, NodeKind};
use crate::span::{Ident, Span};
use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::token::{Brace, Bracket, Paren};
use syn::{braced, bracketed, parenthesized, Token};

/// What a value may be, for the error on anything else.
const VALUE_EXPECTED: &str = "expected a string, number, boolean, name, `{..}`, `[..]` or a closure `|vars, steps| ..`";

/// The shape of a step, for errors inside `steps: [..]`.
const STEP_EXAMPLE: &str = "e.g. `s1: shell { command: \"..\" }`";

/// Parses the tokens of a `workflow! { .. }` invocation (without the outer
/// braces) into a spanned tree: a mapping of the top-level keys, with
/// `steps: [..]` turned into a list of step mappings whose first two entries
/// are `id` and `action`.
///
/// Syntax errors are returned as a [`syn::Error`] pointing at the offending
/// token; everything else (unknown keys, duplicate keys, wrong value kinds) is
/// left to the reader, which reports it with the spans recorded here.
pub fn parse_dsl(tokens: TokenStream) -> syn::Result<Node> {
    root.parse2(tokens)
}

/// Tokenizes `source` (the text between the braces of `workflow! { .. }`)
/// and parses it with [`parse_dsl`]; for tests and tooling that hold the
/// invocation as text. A tokenizing error (an unclosed delimiter or string)
/// becomes a [`syn::Error`] too.
pub fn parse_dsl_str(source: &str) -> syn::Result<Node> {
    let tokens: TokenStream = source.parse().map_err(|e: proc_macro2::LexError| {
        syn::Error::new(e.span(), format!("cannot read the `workflow!` input: {e} (check for an unclosed `{{`, `[`, `(` or string)"))
    })?;
    parse_dsl(tokens)
}

fn tok(span: proc_macro2::Span) -> Span {
    Span::Tokens(span)
}

/// The whole invocation: `key: value, ...`.
fn root(input: ParseStream) -> syn::Result<Node> {
    let span = input.span();
    let entries = entries(input, true)?;
    Ok(Node::new(NodeKind::Map(entries), tok(span)))
}

/// `key: value` entries separated by commas (a trailing comma allowed), up to
/// the end of `input`. At the top level, a bracketed `steps:` value is a step list.
fn entries(input: ParseStream, top_level: bool) -> syn::Result<Vec<(Ident, Node)>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let key = key(input)?;
        if !input.peek(Token![:]) || input.peek(Token![::]) {
            return Err(input.error(format!("expected `:` after the key `{}`, then its value", key.value)));
        }
        input.parse::<Token![:]>()?;
        let value = if top_level && key.value == "steps" && input.peek(Bracket) {
            steps(input)?
        } else if input.is_empty() || input.peek(Token![,]) {
            return Err(input.error(format!("expected a value after `{}:`; {VALUE_EXPECTED}", key.value)));
        } else {
            value(input)?
        };
        let name = key.value.clone();
        out.push((key, value));
        if input.is_empty() {
            break;
        }
        if !input.peek(Token![,]) {
            return Err(input.error(format!(
                "expected `,` after the value of `{name}`: a value is one string, number, boolean, name, `{{..}}`, `[..]` or closure; \
                 write an expression as a string (\"a + b\") or a closure (`|vars, steps| ..`)"
            )));
        }
        input.parse::<Token![,]>()?;
    }
    Ok(out)
}

/// A key: a name (any keyword allowed) or a string literal.
fn key(input: ParseStream) -> syn::Result<Ident> {
    if input.peek(syn::LitStr) {
        let lit: syn::LitStr = input.parse()?;
        Ok(Ident::new(lit.value(), tok(lit.span())))
    } else if input.peek(syn::Ident::peek_any) {
        let ident = syn::Ident::parse_any(input)?;
        Ok(Ident::new(ident.unraw().to_string(), tok(ident.span())))
    } else {
        Err(input.error("expected a key (a name like `steps`, or a string), then `:` and its value"))
    }
}

/// One value (see the module docs for the forms).
fn value(input: ParseStream) -> syn::Result<Node> {
    if input.peek(Brace) {
        let content;
        let brace = braced!(content in input);
        let entries = entries(&content, false)?;
        return Ok(Node::new(NodeKind::Map(entries), tok(brace.span.open())));
    }
    if input.peek(Bracket) {
        let content;
        let bracket = bracketed!(content in input);
        let mut items = Vec::new();
        while !content.is_empty() {
            items.push(value(&content)?);
            if content.is_empty() {
                break;
            }
            if !content.peek(Token![,]) {
                return Err(content.error("expected `,` between list items: an item is one string, number, boolean, name, `{..}`, `[..]` or closure"));
            }
            content.parse::<Token![,]>()?;
        }
        return Ok(Node::new(NodeKind::Seq(items), tok(bracket.span.open())));
    }
    if starts_closure(input) {
        let span = input.span();
        let closure: syn::ExprClosure = input.parse()?;
        return Ok(Node::new(NodeKind::Rust(closure.into_token_stream()), tok(span)));
    }
    if input.peek(Token![-]) {
        let minus: Token![-] = input.parse()?;
        return negative(input, minus.span);
    }
    if input.peek(syn::Lit) {
        let lit: syn::Lit = input.parse()?;
        let span = lit.span();
        let kind = match lit {
            syn::Lit::Str(s) => NodeKind::Str(s.value()),
            syn::Lit::Int(i) => NodeKind::Int(int(&i, i.base10_digits())?),
            syn::Lit::Float(f) => NodeKind::Float(f.base10_parse()?),
            syn::Lit::Bool(b) => NodeKind::Bool(b.value),
            _ => return Err(syn::Error::new(span, VALUE_EXPECTED)),
        };
        return Ok(Node::new(kind, tok(span)));
    }
    if input.peek(syn::Ident::peek_any) {
        return dotted_name(input);
    }
    Err(input.error(VALUE_EXPECTED))
}

/// Whether the next tokens start a closure: `|..|`, `||`, `move |..|`, `async |..|`.
fn starts_closure(input: ParseStream) -> bool {
    if input.peek(Token![|]) || input.peek(Token![||]) {
        return true;
    }
    let prefix = input.peek(Token![move]) || input.peek(Token![async]) || input.peek(Token![static]);
    prefix && (input.peek2(Token![|]) || input.peek2(Token![||]) || input.peek2(Token![move]))
}

/// The number after a leading `-`.
fn negative(input: ParseStream, minus: proc_macro2::Span) -> syn::Result<Node> {
    if input.peek(syn::LitInt) {
        let lit: syn::LitInt = input.parse()?;
        let value = int(&lit, &format!("-{}", lit.base10_digits()))?;
        Ok(Node::new(NodeKind::Int(value), tok(minus)))
    } else if input.peek(syn::LitFloat) {
        let lit: syn::LitFloat = input.parse()?;
        let value: f64 = lit.base10_parse()?;
        Ok(Node::new(NodeKind::Float(-value), tok(minus)))
    } else {
        Err(input.error("expected a number after `-`"))
    }
}

/// The integer written as `digits` (base 10, sign included) by `lit`.
fn int(lit: &syn::LitInt, digits: &str) -> syn::Result<i64> {
    digits.parse::<i64>().map_err(|_| syn::Error::new(lit.span(), format!("the integer `{}` does not fit in 64 bits", lit.base10_digits())))
}

/// A name, or a dotted path of names (`s7.approved`), read as its text.
fn dotted_name(input: ParseStream) -> syn::Result<Node> {
    let first = syn::Ident::parse_any(input)?;
    let mut text = first.unraw().to_string();
    while input.peek(Token![.]) && !input.peek(Token![..]) {
        input.parse::<Token![.]>()?;
        if !input.peek(syn::Ident::peek_any) {
            return Err(input.error("expected a name after `.` (a dotted path looks like `s7.approved`)"));
        }
        let part = syn::Ident::parse_any(input)?;
        text.push('.');
        text.push_str(&part.unraw().to_string());
    }
    Ok(Node::new(NodeKind::Str(text), tok(first.span())))
}

/// The value of `steps:`: `[ ID: ACTION { fields }, ... ]`.
fn steps(input: ParseStream) -> syn::Result<Node> {
    let content;
    let bracket = bracketed!(content in input);
    let mut items = Vec::new();
    while !content.is_empty() {
        let (step, follow) = if content.peek(Brace) { (value(&content)?, "expected `,` after this step".to_string()) } else { step(&content)? };
        items.push(step);
        if content.is_empty() {
            break;
        }
        if !content.peek(Token![,]) {
            return Err(content.error(follow));
        }
        content.parse::<Token![,]>()?;
    }
    Ok(Node::new(NodeKind::Seq(items), tok(bracket.span.open())))
}

/// One step, `ID: ACTION` optionally followed by `{ fields }`, as a mapping
/// `{id, action, fields..}`; with the message for a missing `,` after it.
fn step(input: ParseStream) -> syn::Result<(Node, String)> {
    let (id, id_span) = if input.peek(syn::LitStr) {
        let lit: syn::LitStr = input.parse()?;
        (lit.value(), lit.span())
    } else if input.peek(syn::Ident::peek_any) {
        let ident = syn::Ident::parse_any(input)?;
        (ident.unraw().to_string(), ident.span())
    } else {
        return Err(input.error(format!("expected a step: an id, `:`, then the action, {STEP_EXAMPLE}")));
    };
    if !input.peek(Token![:]) || input.peek(Token![::]) {
        return Err(input.error(format!("expected `:` after the step id, then the action, {STEP_EXAMPLE}")));
    }
    input.parse::<Token![:]>()?;
    let action = action(input)?;
    let mut entries = vec![
        (Ident::new("id".to_string(), tok(id_span)), Node::new(NodeKind::Str(id.clone()), tok(id_span))),
        (Ident::new("action".to_string(), action.span), action),
    ];
    let follow = if input.peek(Brace) {
        let content;
        braced!(content in input);
        entries.extend(self::entries(&content, false)?);
        format!("expected `,` after step `{id}`")
    } else {
        format!("expected `{{ fields }}` or `,` after the action of step `{id}`, {STEP_EXAMPLE}")
    };
    Ok((Node::new(NodeKind::Map(entries), tok(id_span)), follow))
}

/// A step's action: a name (read in kebab case), a string, or `custom(path)`.
fn action(input: ParseStream) -> syn::Result<Node> {
    if input.peek(syn::LitStr) {
        let lit: syn::LitStr = input.parse()?;
        return Ok(Node::new(NodeKind::Str(lit.value()), tok(lit.span())));
    }
    if !input.peek(syn::Ident::peek_any) {
        return Err(input.error(format!("expected the action after the step id: a name like `shell`, or `custom(path::to::async_fn)`, {STEP_EXAMPLE}")));
    }
    let ident = syn::Ident::parse_any(input)?;
    if ident == "custom" && input.peek(Paren) {
        const CUSTOM: &str = "expected the path of an async fn, e.g. `custom(crate::actions::deploy)`";
        let content;
        parenthesized!(content in input);
        if content.is_empty() {
            return Err(content.error(CUSTOM));
        }
        let path: syn::ExprPath = content.parse().map_err(|e| syn::Error::new(e.span(), CUSTOM))?;
        if !content.is_empty() {
            return Err(content.error(CUSTOM));
        }
        return Ok(Node::new(NodeKind::Rust(path.into_token_stream()), tok(ident.span())));
    }
    Ok(Node::new(NodeKind::Str(kebab_case(&ident.unraw().to_string())), tok(ident.span())))
}

/// `create_pr` → `create-pr`, `approvalGate` → `approval-gate`.
fn kebab_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut after_lower = false;
    for c in name.chars() {
        if c == '_' {
            out.push('-');
            after_lower = false;
        } else if c.is_uppercase() {
            if after_lower {
                out.push('-');
            }
            out.extend(c.to_lowercase());
            after_lower = false;
        } else {
            out.push(c);
            after_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn get<'a>(node: &'a Node, key: &str) -> &'a Node {
        let map = node.as_map().unwrap_or_else(|| panic!("expected a mapping, found {}", node.describe()));
        match map.iter().find(|(k, _)| k.value == key) {
            Some((_, v)) => v,
            None => panic!("no key `{key}` in {:?}", map.iter().map(|(k, _)| &k.value).collect::<Vec<_>>()),
        }
    }

    fn keys(node: &Node) -> Vec<&str> {
        node.as_map().expect("a mapping").iter().map(|(k, _)| k.value.as_str()).collect()
    }

    fn items(node: &Node) -> &[Node] {
        match &node.kind {
            NodeKind::Seq(items) => items,
            other => panic!("expected a list, found {other:?}"),
        }
    }

    fn rust(node: &Node) -> &TokenStream {
        match &node.kind {
            NodeKind::Rust(tokens) => tokens,
            other => panic!("expected Rust tokens, found {other:?}"),
        }
    }

    fn example() -> TokenStream {
        quote! {
            name: "pr-review-loop",
            description: "Create PR, review, iterate",
            version: 1,
            interactive: true,
            variables: { title: "Add retries", approved: false, count: { type: "int" }, tags: ["a", "b"] },
            models: { glm: "openai:glm-4.6" },
            budget: { tokens: 200000, usd: 2.0 },
            snapshot: { open_prs: { shell: "gh pr list | wc -l" } },
            expect: { open_prs: "1" },
            on_completion: [ { workflow: "release-notes", condition: "status == 'completed'" } ],
            steps: [
                s1: create_pr { title: "${title}" },
                s2: switch_model { model: glm },
                s7: review_pr { check: approved, on_approved: s11, on_rejected: s8 },
                s8: shell { command: "make fix", retry: { attempts: 3, backoff: "2s" }, timeout: "5m" },
                s10: loop { to: s2, condition: |vars, steps| !steps.s7.approved, max_iterations: 5 },
                "human-review": approval_gate { message: "Merge ${title}?", notify: ["https://hooks.example/x"] },
                check_it: conditional { check: "s8.exit_code == 0 && count > 2", on_true: s1 },
                deploy: custom(crate::actions::deploy) { target: "prod" },
                s11: merge_pr { requires: "human-review.approved" },
                done: end,
            ],
        }
    }

    #[test]
    fn the_full_example_becomes_the_expected_tree() {
        let root = parse_dsl(example()).unwrap();
        assert_eq!(
            keys(&root),
            ["name", "description", "version", "interactive", "variables", "models", "budget", "snapshot", "expect", "on_completion", "steps"]
        );
        assert_eq!(get(&root, "name").as_str(), Some("pr-review-loop"));
        assert!(matches!(get(&root, "version").kind, NodeKind::Int(1)));
        assert!(matches!(get(&root, "interactive").kind, NodeKind::Bool(true)));

        let vars = get(&root, "variables");
        assert_eq!(keys(vars), ["title", "approved", "count", "tags"]);
        assert!(matches!(get(vars, "approved").kind, NodeKind::Bool(false)));
        assert_eq!(get(get(vars, "count"), "type").as_str(), Some("int"));
        let tags: Vec<_> = items(get(vars, "tags")).iter().map(|n| n.as_str().unwrap()).collect();
        assert_eq!(tags, ["a", "b"]);

        let budget = get(&root, "budget");
        assert!(matches!(get(budget, "tokens").kind, NodeKind::Int(200000)));
        assert!(matches!(get(budget, "usd").kind, NodeKind::Float(f) if f == 2.0));
        assert_eq!(get(get(get(&root, "snapshot"), "open_prs"), "shell").as_str(), Some("gh pr list | wc -l"));
        let triggers = items(get(&root, "on_completion"));
        assert_eq!(triggers.len(), 1);
        assert_eq!(get(&triggers[0], "workflow").as_str(), Some("release-notes"));

        let steps = items(get(&root, "steps"));
        let summary: Vec<(String, String)> = steps
            .iter()
            .map(|s| {
                let action = get(s, "action");
                let action = action.as_str().map(str::to_string).unwrap_or_else(|| format!("<{}>", action.describe()));
                (get(s, "id").as_str().unwrap().to_string(), action)
            })
            .collect();
        let expected = [
            ("s1", "create-pr"),
            ("s2", "switch-model"),
            ("s7", "review-pr"),
            ("s8", "shell"),
            ("s10", "loop"),
            ("human-review", "approval-gate"),
            ("check_it", "conditional"),
            ("deploy", "<a Rust expression>"),
            ("s11", "merge-pr"),
            ("done", "end"),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(summary, expected);

        // Every step starts with `id` then `action`, then its fields in order.
        assert_eq!(keys(&steps[3]), ["id", "action", "command", "retry", "timeout"]);
        assert!(matches!(get(get(&steps[3], "retry"), "attempts").kind, NodeKind::Int(3)));
        assert_eq!(keys(&steps[2]), ["id", "action", "check", "on_approved", "on_rejected"]);
        assert_eq!(get(&steps[2], "check").as_str(), Some("approved"));
        assert_eq!(get(&steps[2], "on_approved").as_str(), Some("s11"));
        assert_eq!(get(&steps[1], "model").as_str(), Some("glm"));
        assert_eq!(keys(&steps[9]), ["id", "action"]);

        // The loop condition is kept as the closure's tokens.
        let condition = rust(get(&steps[4], "condition"));
        let closure: syn::ExprClosure = syn::parse2(condition.clone()).unwrap();
        assert_eq!(closure.inputs.len(), 2);
        assert_eq!(condition.to_string(), quote!(|vars, steps| !steps.s7.approved).to_string());
        assert!(matches!(get(&steps[4], "max_iterations").kind, NodeKind::Int(5)));

        let notify = items(get(&steps[5], "notify"));
        assert_eq!(notify[0].as_str(), Some("https://hooks.example/x"));

        // The custom action is the path of its function.
        assert_eq!(rust(get(&steps[7], "action")).to_string(), quote!(crate::actions::deploy).to_string());
        assert_eq!(get(&steps[7], "target").as_str(), Some("prod"));
        assert_eq!(get(&steps[8], "requires").as_str(), Some("human-review.approved"));
    }

    #[test]
    fn numbers_names_and_keywords() {
        let root = parse_dsl(quote! {
            a: -3, b: -2.5, c: 9223372036854775807, d: -9223372036854775808,
            e: s7.approved, f: human_review.approved, g: r#type, loop: where, "quoted key": x,
            h: || true, i: move |v, s| v.count > 2,
        })
        .unwrap();
        assert_eq!(keys(&root), ["a", "b", "c", "d", "e", "f", "g", "loop", "quoted key", "h", "i"]);
        assert!(matches!(get(&root, "a").kind, NodeKind::Int(-3)));
        assert!(matches!(get(&root, "b").kind, NodeKind::Float(f) if f == -2.5));
        assert!(matches!(get(&root, "c").kind, NodeKind::Int(i64::MAX)));
        assert!(matches!(get(&root, "d").kind, NodeKind::Int(i64::MIN)));
        assert_eq!(get(&root, "e").as_str(), Some("s7.approved"));
        assert_eq!(get(&root, "f").as_str(), Some("human_review.approved"));
        assert_eq!(get(&root, "g").as_str(), Some("type"));
        assert_eq!(get(&root, "loop").as_str(), Some("where"));
        assert!(matches!(get(&root, "h").kind, NodeKind::Rust(_)));
        assert!(matches!(get(&root, "i").kind, NodeKind::Rust(_)));
    }

    #[test]
    fn duplicate_keys_and_yaml_style_steps_are_kept() {
        let root = parse_dsl(quote! { name: a, name: b, steps: [ { id: s1, action: shell }, s2: end ] }).unwrap();
        assert_eq!(keys(&root), ["name", "name", "steps"]);
        let steps = items(get(&root, "steps"));
        assert_eq!(keys(&steps[0]), ["id", "action"]);
        assert_eq!(get(&steps[1], "action").as_str(), Some("end"));
    }

    #[test]
    fn empty_input_and_empty_lists() {
        assert!(parse_dsl(TokenStream::new()).unwrap().as_map().unwrap().is_empty());
        let root = parse_dsl(quote!(steps: [], variables: {},)).unwrap();
        assert!(items(get(&root, "steps")).is_empty());
        assert!(get(&root, "variables").as_map().unwrap().is_empty());
    }

    #[test]
    fn kebab_case_of_actions() {
        assert_eq!(kebab_case("create_pr"), "create-pr");
        assert_eq!(kebab_case("approval_gate"), "approval-gate");
        assert_eq!(kebab_case("approvalGate"), "approval-gate");
        assert_eq!(kebab_case("loop"), "loop");
    }

    fn error(tokens: TokenStream) -> String {
        parse_dsl(tokens).expect_err("should not parse").to_string()
    }

    #[test]
    fn a_step_without_a_colon_is_an_error_at_the_action() {
        let msg = error(quote! { name: x, steps: [ s1 shell { command: "ls" } ] });
        assert!(msg.contains("expected `:` after the step id"), "{msg}");
        assert!(msg.contains("s1: shell"), "{msg}");
        let msg = error(quote! { steps: [ s1 ] });
        assert!(msg.contains("expected `:` after the step id"), "{msg}");
    }

    #[test]
    fn an_expression_value_is_an_error() {
        let msg = error(quote! { name: x, version: 1 + 2 });
        assert!(msg.contains("expected `,` after the value of `version`"), "{msg}");
        let msg = error(quote! { name: x, version: (1) });
        assert!(msg.contains(VALUE_EXPECTED), "{msg}");
        let msg = error(quote! { steps: [ s1: shell { command: 'c' } ] });
        assert!(msg.contains(VALUE_EXPECTED), "{msg}");
    }

    #[test]
    fn other_syntax_errors_explain_themselves() {
        let cases = [
            (quote! { name "x" }, "expected `:` after the key `name`"),
            (quote! { name: }, "expected a value after `name:`"),
            (quote! { 3: x }, "expected a key"),
            (quote! { a: -x }, "expected a number after `-`"),
            (quote! { a: s7. }, "expected a name after `.`"),
            (quote! { a: [1 2] }, "expected `,` between list items"),
            (quote! { a: 99999999999999999999 }, "does not fit in 64 bits"),
            (quote! { steps: [ s1: shell { } s2: end ] }, "expected `,` after step `s1`"),
            (quote! { steps: [ s1: shell command: "x" ] }, "after the action of step `s1`"),
            (quote! { steps: [ s1: 3 ] }, "expected the action after the step id"),
            (quote! { steps: [ s1: custom() ] }, "expected the path of an async fn"),
            (quote! { steps: [ s1: custom(a + b) ] }, "expected the path of an async fn"),
            (quote! { steps: [ -: x ] }, "expected a step"),
        ];
        for (tokens, expected) in cases {
            let input = tokens.to_string();
            let msg = error(tokens);
            assert!(msg.contains(expected), "`{input}`: {msg}");
        }
    }

    #[test]
    fn text_input_and_an_unclosed_brace() {
        let root = parse_dsl_str("name: \"x\", steps: [ done: end ]").unwrap();
        assert_eq!(keys(&root), ["name", "steps"]);
        let msg = parse_dsl_str("name: x, steps: [ s1: shell { command: \"ls\" ]").unwrap_err().to_string();
        assert!(msg.contains("cannot read the `workflow!` input"), "{msg}");
        let msg = parse_dsl_str("variables: { a: 1").unwrap_err().to_string();
        assert!(msg.contains("unclosed"), "{msg}");
    }
}
