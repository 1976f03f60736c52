//! Masking the secrets a run knows, as CI systems mask them in logs: provider
//! API keys (from the model config's `api-key-env` variables), `GITHUB_TOKEN`
//! and `GH_TOKEN`, and password answers. Their values are replaced by
//! [`MASK`] in everything the executor stores (step outputs and errors, run
//! state, reasons, questions, the audit record), in what it reports for
//! printing, in logs written through [`MaskedStderr`], and in cassettes.
//!
//! A value shorter than [`MIN_SECRET_LEN`] characters is not masked (masking
//! `t` would mangle every message); [`register`] says so, to be warned about.
//! A value is masked where it appears whole, and so is any stretch of at
//! least [`MIN_SECRET_LEN`] characters copied from it (a printed part of a key).

use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::RwLock;

/// The shortest value masked, in characters.
pub const MIN_SECRET_LEN: usize = 8;

/// What a secret is replaced with.
pub const MASK: &str = "[redacted]";

/// The secret values this process knows (masking is process-wide, like a CI runner's).
static KNOWN: RwLock<Vec<Secret>> = RwLock::new(Vec::new());

/// Password answers: a stored or reported value equal to one is masked, however short.
static PASSWORDS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Masks a password answer from now on: every value equal to it, and (when it
/// is [`MIN_SECRET_LEN`] characters or longer) every text holding it or a long part of it.
pub fn register_password(value: &str) {
    if value.is_empty() {
        return;
    }
    let _ = register(value);
    let mut passwords = PASSWORDS.write().unwrap_or_else(|p| p.into_inner());
    if !passwords.iter().any(|p| p == value) {
        passwords.push(value.to_string());
    }
}

fn is_password(text: &str) -> bool {
    PASSWORDS.read().unwrap_or_else(|p| p.into_inner()).iter().any(|p| p == text)
}

/// A registered value and its stretches of [`MIN_SECRET_LEN`] bytes, to find parts of it fast.
struct Secret {
    value: String,
    windows: HashSet<Vec<u8>>,
}

/// Masks `value` from now on. `Err` with the reason when it is too short to be
/// masked (the caller warns: such a value shows in outputs); an empty value is ignored.
pub fn register(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    if value.chars().count() < MIN_SECRET_LEN {
        return Err(format!("shorter than {MIN_SECRET_LEN} characters, so it is not masked in outputs and messages"));
    }
    let mut known = KNOWN.write().unwrap_or_else(|p| p.into_inner());
    if !known.iter().any(|s| s.value == value) {
        let windows = value.as_bytes().windows(MIN_SECRET_LEN).map(<[u8]>::to_vec).collect();
        known.push(Secret { value: value.to_string(), windows });
    }
    Ok(())
}

/// Registers the secrets of the environment: every provider's API key named by
/// `key_vars` (the model config's `api-key-env` variables) and the GitHub
/// tokens. The warnings for values too short to be masked, one a line.
pub fn register_environment<'a>(key_vars: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut seen = HashSet::new();
    for var in key_vars.into_iter().chain(crate::github::DEFAULT_TOKEN_ENV) {
        if !seen.insert(var.to_string()) {
            continue;
        }
        let Ok(value) = std::env::var(var) else { continue };
        if let Err(why) = register(value.trim()) {
            warnings.push(format!("the secret in ${var} is {why}"));
        }
    }
    warnings
}

/// `text` with every known secret, and every part of one at least [`MIN_SECRET_LEN`] long, masked.
pub fn mask(text: &str) -> Cow<'_, str> {
    if is_password(text) {
        return Cow::Borrowed(MASK);
    }
    let known = KNOWN.read().unwrap_or_else(|p| p.into_inner());
    mask_with(text, known.iter())
}

/// `text` with `values` (those long enough) and their parts masked: for one
/// key (a provider's, GitHub's) that is not registered process-wide.
pub fn mask_values<'a>(text: &'a str, values: &[&str]) -> Cow<'a, str> {
    let secrets: Vec<Secret> = values
        .iter()
        .filter(|v| v.chars().count() >= MIN_SECRET_LEN)
        .map(|v| Secret { value: v.to_string(), windows: v.as_bytes().windows(MIN_SECRET_LEN).map(<[u8]>::to_vec).collect() })
        .collect();
    mask_with(text, secrets.iter())
}

fn mask_with<'a, 'b>(text: &'a str, secrets: impl Iterator<Item = &'b Secret>) -> Cow<'a, str> {
    let bytes = text.as_bytes();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for secret in secrets {
        let mut at = 0;
        while at + MIN_SECRET_LEN <= bytes.len() {
            if !secret.windows.contains(&bytes[at..at + MIN_SECRET_LEN]) {
                at += 1;
                continue;
            }
            // The longest stretch from here that is part of the secret.
            let mut end = at + MIN_SECRET_LEN;
            while end < bytes.len() && contains(secret.value.as_bytes(), &bytes[at..=end]) {
                end += 1;
            }
            ranges.push((at, end));
            at = end;
        }
    }
    if ranges.is_empty() {
        return Cow::Borrowed(text);
    }
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for (start, end) in ranges {
        // Whole characters only: a secret is text, so its stretches start and end on character boundaries
        // unless they cut one; widen to the boundaries around.
        let start = (0..=start).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0).max(done);
        let end = (end..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
        if end <= done {
            continue;
        }
        out.push_str(&text[done..start]);
        if !out.ends_with(MASK) || start > done {
            out.push_str(MASK);
        }
        done = end;
    }
    out.push_str(&text[done..]);
    Cow::Owned(out)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `value` with the known secrets masked in every string (and key) in it.
pub fn mask_json(value: &Value) -> Value {
    if KNOWN.read().unwrap_or_else(|p| p.into_inner()).is_empty() && PASSWORDS.read().unwrap_or_else(|p| p.into_inner()).is_empty() {
        return value.clone();
    }
    match value {
        Value::String(s) => Value::String(mask(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(mask_json).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (mask(k).into_owned(), mask_json(v))).collect()),
        other => other.clone(),
    }
}

/// Standard error with the known secrets masked: the writer for log lines
/// (`tracing_subscriber::fmt().with_writer(|| MaskedStderr)`).
#[derive(Clone, Copy, Debug, Default)]
pub struct MaskedStderr;

impl std::io::Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(mask(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_refused_and_never_mangle_text() {
        assert!(register("t").unwrap_err().contains("shorter than 8 characters"));
        let message = "missing field `title` at line 1 column 115";
        assert_eq!(mask(message), message);
        assert_eq!(mask_values(message, &["t"]), message);
    }

    #[test]
    fn whole_values_and_long_parts_are_masked() {
        let key = "sk-unit-test-0123456789abcdef";
        register(key).unwrap();
        assert_eq!(mask(&format!("key={key}.")), "key=[redacted].");
        assert_eq!(mask(&format!("a {key} b {key}")), "a [redacted] b [redacted]");
        assert_eq!(mask("prefix 0123456789ab and"), "prefix [redacted] and", "a part of 8+ characters");
        assert_eq!(mask("only 0123456 here"), "only 0123456 here", "7 characters of it are not a secret");
        assert_eq!(mask_json(&serde_json::json!({"out": format!("{key}\n")})), serde_json::json!({"out": "[redacted]\n"}));
    }
}
