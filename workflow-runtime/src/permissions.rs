//! Consent for sensitive steps and shell commands (DESIGN §5): shell
//! commands, pushes, merges and file edits run only with consent. A
//! permission is a string `KIND:DETAIL` (`shell:cargo test`,
//! `snapshot:gh pr list`, `notify:./page-me`, `push:origin/feature`,
//! `merge-pr:12`, `make-changes:src/`); allow and deny patterns from the
//! config file match it with `*` as a wildcard. A deny pattern always wins;
//! then `--yes` or allow patterns give consent; otherwise a person is asked.
//!
//! A shell command is judged by the simple commands the shell would run
//! (see [`crate::shell_syntax`]), not by its text: an allow pattern must
//! match every one of them, a deny pattern any one. docs/actions.md says
//! exactly what a pattern means.

use crate::shell_syntax::{quote, read_commands, SimpleCommand};
use serde::Deserialize;

/// The `permissions:` section of the config file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PermissionsConfig {
    /// Permissions granted without asking (`shell:cargo *`).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Permissions never granted, whoever asks (`shell:*rm -rf*`).
    #[serde(default)]
    pub deny: Vec<String>,
}

impl PermissionsConfig {
    /// This config, then `later`'s patterns (a project adds to the user's lists).
    pub fn merge(&mut self, later: PermissionsConfig) {
        self.allow.extend(later.allow);
        self.deny.extend(later.deny);
    }
}

/// Which sensitive steps may run without asking.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consent {
    /// `--yes`: every permission not denied is granted.
    pub yes: bool,
    /// The configured patterns.
    pub patterns: PermissionsConfig,
}

impl Consent {
    /// Consent to everything not denied, as `--yes` gives (for embedders and tests that mean it).
    pub fn granted() -> Consent {
        Consent { yes: true, patterns: PermissionsConfig::default() }
    }

    /// Whether every permission is granted without working it out (`--yes`, nothing denied).
    pub fn grants_all(&self) -> bool {
        self.yes && self.patterns.deny.is_empty()
    }
}

/// What [`Consent::decide`] says about one permission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Run it; the reason (`--yes`, or the allow patterns that matched).
    Allowed(String),
    /// Never run it: why (the deny pattern that matched, and what it matched).
    Denied(String),
    /// Ask a person.
    Ask,
}

/// The kinds of permission that run a shell command: a `shell` step, a
/// `snapshot:` metric's command, a gate's `notify:` command. A pattern of
/// kind `shell:` applies to all three; `snapshot:` and `notify:` only to their own.
pub const COMMAND_KINDS: &[&str] = &["shell", "snapshot", "notify"];

impl Consent {
    /// Whether `permission` may run without asking.
    pub fn decide(&self, permission: &str) -> Decision {
        match permission.split_once(':') {
            Some((kind, command)) if COMMAND_KINDS.contains(&kind) => self.decide_command(permission, kind, command),
            _ => self.decide_plain(permission),
        }
    }

    /// Pushes, merges, edits and custom actions: patterns match the whole permission.
    fn decide_plain(&self, permission: &str) -> Decision {
        if let Some(pattern) = self.patterns.deny.iter().find(|p| matches(p, permission)) {
            return Decision::Denied(format!("`{permission}` matches the deny pattern `{pattern}` of the config"));
        }
        if self.yes {
            return Decision::Allowed("--yes".to_string());
        }
        match self.patterns.allow.iter().find(|p| matches(p, permission)) {
            Some(pattern) => Decision::Allowed(format!("allowed by `{pattern}`")),
            None => Decision::Ask,
        }
    }

    /// A shell command of kind `kind`: judged by the simple commands in it.
    fn decide_command(&self, permission: &str, kind: &str, command: &str) -> Decision {
        let reading = read_commands(command);
        let deny: Vec<(&String, Option<String>)> = self.patterns.deny.iter().map(|p| (p, command_pattern(p, kind))).collect();
        for (pattern, for_commands) in &deny {
            // The whole permission as written: `*`, or an older pattern such as `shell:*rm -rf*`.
            if matches(pattern, permission) || for_commands.as_deref().is_some_and(|c| matches(c, &normalize(command))) {
                return Decision::Denied(format!("`{permission}` matches the deny pattern `{pattern}` of the config"));
            }
            if let Some(c) = for_commands {
                if let Some(hit) = reading.commands.iter().find(|cmd| deny_matches(c, cmd)) {
                    return Decision::Denied(format!("`{permission}` runs `{}`, which matches the deny pattern `{pattern}` of the config", hit.text()));
                }
            }
        }
        // What no pattern can see into cannot be shown not to match one: it does not run.
        if let (Some((pattern, _)), Some(why)) = (deny.iter().find(|(_, c)| c.is_some()), reading.unknowable.first()) {
            return Decision::Denied(format!(
                "`{permission}` cannot be checked against the deny pattern `{pattern}` of the config: {why} (write the command out, without `eval`, `sh -c` of computed text, a computed command name or a pipe into a shell)"
            ));
        }
        if self.yes {
            return Decision::Allowed("--yes".to_string());
        }
        // An explicit allow-everything pattern (`*`) covers any line.
        if let Some(pattern) = self.patterns.allow.iter().find(|p| !p.contains(':') && matches(p, permission)) {
            return Decision::Allowed(format!("allowed by `{pattern}`"));
        }
        if !reading.unjudged.is_empty() || reading.commands.is_empty() {
            return Decision::Ask;
        }
        let allow: Vec<(&String, String)> = self.patterns.allow.iter().filter_map(|p| Some((p, command_pattern(p, kind)?))).collect();
        let mut used: Vec<&str> = Vec::new();
        for cmd in &reading.commands {
            let text = cmd.text();
            match allow.iter().find(|(_, c)| matches(c, &text)) {
                Some((pattern, _)) if !used.contains(&pattern.as_str()) => used.push(pattern),
                Some(_) => {}
                None => return Decision::Ask,
            }
        }
        Decision::Allowed(format!("allowed by `{}`", used.join("`, `")))
    }
}

/// The command part of `pattern` when it applies to commands of `kind`
/// (`shell:..` applies to every kind), whitespace made single.
fn command_pattern(pattern: &str, kind: &str) -> Option<String> {
    let (pattern_kind, command) = pattern.split_once(':')?;
    (pattern_kind == "shell" || matches(pattern_kind, kind)).then(|| normalize(command))
}

/// Runs of spaces and tabs as one space, none at the ends (a newline may be part of a quoted word).
fn normalize(text: &str) -> String {
    text.split([' ', '\t']).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ").trim().to_string()
}

/// Whether a deny pattern's command part matches a simple command: as
/// written, or with the program by its file name (`/bin/rm`, `\rm` are `rm`)
/// and its one-letter options split and taken as a set (`rm -r -f x`,
/// `rm -fr x` and `rm x -rf` are all `rm -rf x`).
fn deny_matches(pattern: &str, command: &SimpleCommand) -> bool {
    if matches(pattern, &command.text()) {
        return true;
    }
    let pattern_words: Vec<&str> = pattern.split(' ').collect();
    let command_words: Vec<String> = command.words.iter().map(|w| w.text.clone()).collect();
    let (p, c) = (Canonical::of(pattern_words.iter().copied(), false), Canonical::of(command_words.iter().map(String::as_str), true));
    let program_matches = if p.program.contains('/') { matches(&p.program, &c.full_program) } else { matches(&p.program, &c.program) };
    program_matches
        && p.options.iter().all(|o| c.options.iter().any(|co| matches(o, co)))
        && matches(&p.operands.join(" "), &c.operands.iter().map(|o| quote(o)).collect::<Vec<_>>().join(" "))
}

/// A command as program, set of options and operands.
struct Canonical {
    program: String,
    full_program: String,
    options: std::collections::BTreeSet<String>,
    operands: Vec<String>,
}

impl Canonical {
    fn of<'a>(mut words: impl Iterator<Item = &'a str>, command: bool) -> Canonical {
        let full_program = words.next().unwrap_or_default().to_string();
        let program = if command { full_program.rsplit('/').next().unwrap_or_default().to_string() } else { full_program.clone() };
        let mut options = std::collections::BTreeSet::new();
        let mut operands = Vec::new();
        let mut after_dashes = false;
        for word in words {
            if after_dashes || word == "-" || !word.starts_with('-') {
                operands.push(word.to_string());
            } else if word == "--" {
                after_dashes = true;
            } else if !word.starts_with("--") && word[1..].chars().all(|c| c.is_ascii_alphabetic()) {
                options.extend(word[1..].chars().map(|c| format!("-{c}")));
            } else {
                options.insert(word.to_string());
            }
        }
        Canonical { program, full_program, options, operands }
    }
}

/// Whether `pattern` (`*` matches any run of characters, everything else itself) matches all of `text`.
pub fn matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else { return pattern == text };
    if parts.len() == 1 {
        return pattern == text;
    }
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(allow: &[&str], deny: &[&str], yes: bool) -> Consent {
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Consent { yes, patterns: PermissionsConfig { allow: list(allow), deny: list(deny) } }
    }

    #[test]
    fn wildcards_match_the_whole_permission() {
        assert!(matches("shell:cargo *", "shell:cargo test --all"));
        assert!(matches("*", "push:origin/main"));
        assert!(matches("shell:*rm -rf*", "shell:cd x && rm -rf /"));
        assert!(!matches("shell:cargo *", "shell:make; cargo test"));
        assert!(!matches("push:origin/main", "push:origin/main2"));
        assert!(matches("a*b*b", "abb"));
        assert!(!matches("ab*ba", "aba"));
    }

    #[test]
    fn deny_wins_over_yes_and_allow() {
        let c = consent(&["shell:*"], &["shell:*rm -rf*"], true);
        assert_eq!(
            c.decide("shell:rm -rf build"),
            Decision::Denied("`shell:rm -rf build` matches the deny pattern `shell:*rm -rf*` of the config".to_string())
        );
        assert_eq!(c.decide("shell:ls"), Decision::Allowed("--yes".to_string()));
    }

    #[test]
    fn without_a_matching_allow_pattern_a_person_is_asked() {
        let c = consent(&["shell:cargo *"], &[], false);
        assert_eq!(c.decide("shell:cargo test"), Decision::Allowed("allowed by `shell:cargo *`".to_string()));
        assert_eq!(c.decide("push:origin/main"), Decision::Ask);
    }
}
