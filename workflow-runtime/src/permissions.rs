//! Consent for sensitive steps (DESIGN §5): shell commands, pushes, merges
//! and file edits run only with consent. A step's permission is a string
//! `ACTION:DETAIL` (`shell:cargo test`, `push:origin/feature`,
//! `merge-pr:12`, `make-changes:src/`); allow and deny patterns from the
//! config file match it with `*` as a wildcard. A deny pattern always wins;
//! then `--yes` or an allow pattern give consent; otherwise a person is asked.

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
    /// Run it; the reason (`--yes`, or the allow pattern that matched).
    Allowed(String),
    /// Never run it: the deny pattern that matched.
    Denied(String),
    /// Ask a person.
    Ask,
}

impl Consent {
    /// Whether `permission` may run without asking.
    pub fn decide(&self, permission: &str) -> Decision {
        if let Some(pattern) = self.patterns.deny.iter().find(|p| matches(p, permission)) {
            return Decision::Denied(pattern.clone());
        }
        if self.yes {
            return Decision::Allowed("--yes".to_string());
        }
        match self.patterns.allow.iter().find(|p| matches(p, permission)) {
            Some(pattern) => Decision::Allowed(format!("allowed by `{pattern}`")),
            None => Decision::Ask,
        }
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
        assert_eq!(c.decide("shell:rm -rf build"), Decision::Denied("shell:*rm -rf*".to_string()));
        assert_eq!(c.decide("shell:ls"), Decision::Allowed("--yes".to_string()));
    }

    #[test]
    fn without_a_matching_allow_pattern_a_person_is_asked() {
        let c = consent(&["shell:cargo *"], &[], false);
        assert_eq!(c.decide("shell:cargo test"), Decision::Allowed("allowed by `shell:cargo *`".to_string()));
        assert_eq!(c.decide("push:origin/main"), Decision::Ask);
    }
}
