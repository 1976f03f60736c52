//! Rust names for workflow names: `human-review` is the variant `HumanReview`
//! and the field `human_review`. Every name is a valid identifier (keywords
//! become raw identifiers) and distinct from the others of its kind.

use proc_macro2::{Ident, Span};
use std::collections::HashSet;

/// Words of a name: split at anything not alphanumeric and at case changes
/// (`prTitle`, `HTTPServer` → `pr Title`, `HTTP Server`).
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_ascii_uppercase()
            && prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit() || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase())));
        if boundary && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// `human-review` → `human_review`.
pub(crate) fn snake_case(name: &str) -> String {
    let joined = words(name).iter().map(|w| w.to_ascii_lowercase()).collect::<Vec<_>>().join("_");
    match joined.chars().next() {
        None => "step".to_string(),
        Some(c) if c.is_ascii_digit() => format!("_{joined}"),
        Some(_) => joined,
    }
}

/// `human-review` → `HumanReview`.
pub(crate) fn upper_camel_case(name: &str) -> String {
    let joined: String = words(name)
        .iter()
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect();
    match joined.chars().next() {
        None => "Step".to_string(),
        Some(c) if c.is_ascii_digit() => format!("Step{joined}"),
        Some(_) => joined,
    }
}

/// Keywords usable as raw identifiers (`r#type`).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for",
    "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "static", "struct", "trait",
    "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers; they get a trailing `_`.
const UNRAWABLE: &[&str] = &["self", "Self", "super", "crate", "_"];

/// An identifier for `name`, which is already snake or camel case.
pub(crate) fn ident(name: &str) -> Ident {
    if UNRAWABLE.contains(&name) {
        Ident::new(&format!("{name}_"), Span::call_site())
    } else if KEYWORDS.contains(&name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// Hands out names of one kind, never the same twice (`a-b` and `a_b`
/// become `a_b` and `a_b_2`).
#[derive(Default)]
pub(crate) struct Unique {
    taken: HashSet<String>,
}

impl Unique {
    /// `base`, or `base` with the first free numeric suffix.
    pub(crate) fn take(&mut self, base: String, separator: &str) -> Ident {
        let mut name = base.clone();
        let mut n = 2;
        loop {
            let candidate = ident(&name);
            let key = candidate.to_string();
            if self.taken.insert(key.trim_start_matches("r#").to_string()) {
                return candidate;
            }
            name = format!("{base}{separator}{n}");
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_convert_between_kebab_camel_and_snake_case() {
        assert_eq!(snake_case("human-review"), "human_review");
        assert_eq!(snake_case("prTitle"), "pr_title");
        assert_eq!(snake_case("HTTPServer2"), "http_server2");
        assert_eq!(snake_case("s7"), "s7");
        assert_eq!(snake_case("1st"), "_1st");
        assert_eq!(upper_camel_case("human-review"), "HumanReview");
        assert_eq!(upper_camel_case("s1"), "S1");
        assert_eq!(upper_camel_case("run_tests"), "RunTests");
        assert_eq!(upper_camel_case("1st"), "Step1st");
        assert_eq!(upper_camel_case("--"), "Step");
    }

    #[test]
    fn keywords_become_raw_or_suffixed_identifiers() {
        assert_eq!(ident("type").to_string(), "r#type");
        assert_eq!(ident("self").to_string(), "self_");
        assert_eq!(ident(&upper_camel_case("self")).to_string(), "Self_");
        assert_eq!(ident("title").to_string(), "title");
    }

    #[test]
    fn names_that_collide_after_conversion_are_made_distinct() {
        let mut fields = Unique::default();
        let names: Vec<String> = ["a-b", "a_b", "aB", "a_b_2", "self", "self_"].iter().map(|n| fields.take(snake_case(n), "_").to_string()).collect();
        assert_eq!(names, ["a_b", "a_b_2", "a_b_3", "a_b_2_2", "self_", "self_2"]);
    }
}
