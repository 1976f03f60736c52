//! Inputs for fuzzing (shared by `workflow-core/tests/fuzz.rs` and
//! `workflow-cli/tests/fuzz_cli.rs`): the project's workflow files as
//! seeds, mutated with characters and pieces that break text handling, and
//! any text at all.

#![allow(dead_code)]

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The seeds: every workflow file of the project, and the shared conformance corpus when it is there.
pub fn seeds() -> &'static [String] {
    static SEEDS: OnceLock<Vec<String>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        // Both crates using this live one level below the workspace root.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for dir in ["examples", "tests/workflows", "workflow-core/tests/corpus", "../shared/conformance"] {
            yaml_files(&root.join(dir), &mut files);
        }
        files.sort();
        let texts: Vec<String> = files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect();
        assert!(texts.len() >= 30, "only {} seed files found under {}", texts.len(), root.display());
        texts
    })
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() && entry.file_name() != "target" {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// Characters and pieces that have broken text handling before, or could.
pub const INTERESTING: &[&str] = &[
    "é", "éid", "\u{202e}", "\u{202d}", "\u{200b}", "\u{feff}", "e\u{301}", "漢字", "🚀", "İ", "ß", "ǅ", "\u{fffd}", "\t", "\r\n", "\r", "\n", "\n  - ", ": ",
    ":", "- ", "\"", "'", "{", "}", "[", "]", "${", "${x}", "{{", "}}", "#", "&a ", "*a ", "!!str ", "---\n", "\\", "\0", " ",
];

/// One change to a text, at a position given in thousandths of its length.
#[derive(Clone, Debug)]
pub enum Mutation {
    Insert(usize, String),
    Delete(usize, usize),
    RepeatLine(usize),
    DropLine(usize),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    let piece = prop_oneof![prop::sample::select(INTERESTING).prop_map(str::to_string), any::<char>().prop_map(String::from)];
    prop_oneof![
        4 => (0usize..1000, piece).prop_map(|(at, s)| Mutation::Insert(at, s)),
        2 => (0usize..1000, 1usize..20).prop_map(|(at, n)| Mutation::Delete(at, n)),
        1 => (0usize..1000).prop_map(Mutation::RepeatLine),
        1 => (0usize..1000).prop_map(Mutation::DropLine),
    ]
}

/// The character boundary nearest `permille` thousandths into `text`.
fn boundary(text: &str, permille: usize) -> usize {
    let mut at = text.len() * permille / 1000;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

pub fn apply(text: &mut String, m: &Mutation) {
    match m {
        Mutation::Insert(at, piece) => text.insert_str(boundary(text, *at), piece),
        Mutation::Delete(at, n) => {
            let start = boundary(text, *at);
            let end = text[start..].char_indices().nth(*n).map_or(text.len(), |(i, _)| start + i);
            text.replace_range(start..end, "");
        }
        Mutation::RepeatLine(at) | Mutation::DropLine(at) => {
            let at = boundary(text, *at);
            let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
            let line = text[start..end].to_string();
            if matches!(m, Mutation::RepeatLine(_)) {
                text.insert_str(end, &line);
            } else {
                text.replace_range(start..end, "");
            }
        }
    }
}

pub fn mutated_seed() -> impl Strategy<Value = String> {
    (any::<prop::sample::Index>(), prop::collection::vec(mutation(), 1..8)).prop_map(|(seed, mutations)| {
        let seeds = seeds();
        let mut text = seeds[seed.index(seeds.len())].clone();
        for m in &mutations {
            apply(&mut text, m);
        }
        text
    })
}

/// Any characters at all, weighted towards the interesting ones and line breaks.
pub fn any_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![3 => any::<char>().prop_map(String::from), 2 => prop::sample::select(INTERESTING).prop_map(str::to_string)];
    prop::collection::vec(piece, 0..200).prop_map(|pieces| pieces.concat())
}
