//! Permission patterns judge the commands the shell would run, not the
//! text: an allow pattern must match every simple command of a line, a deny
//! pattern any one; what cannot be judged is never allowed without a person
//! and never runs past a deny pattern. The usual bypasses, then a fuzz of
//! generated compound lines.

use proptest::prelude::*;
use workflow_runtime::permissions::{Consent, Decision, PermissionsConfig};

fn consent(allow: &[&str], deny: &[&str]) -> Consent {
    let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
    Consent { yes: false, patterns: PermissionsConfig { allow: list(allow), deny: list(deny) } }
}

fn allowed(c: &Consent, permission: &str) -> bool {
    matches!(c.decide(permission), Decision::Allowed(_))
}

fn denied(c: &Consent, permission: &str) -> bool {
    matches!(c.decide(permission), Decision::Denied(_))
}

#[test]
fn an_allow_pattern_must_match_every_command_of_the_line() {
    let c = consent(&["shell:echo *", "shell:cargo test*"], &[]);
    assert!(allowed(&c, "shell:echo hi"));
    assert!(allowed(&c, "shell:echo hi && cargo test -p core"), "each command matched by some allow pattern");
    assert_eq!(c.decide("shell:echo a; cargo test"), Decision::Allowed("allowed by `shell:echo *`, `shell:cargo test*`".to_string()));
    for bypass in [
        "shell:echo hi && touch chained-ran",
        "shell:echo hi; touch x",
        "shell:echo hi || touch x",
        "shell:echo hi | sh",
        "shell:echo hi | tee x",
        "shell:echo hi\ntouch x",
        "shell:echo hi & touch x",
        "shell:echo $(touch x)",
        "shell:echo `touch x`",
        "shell:echo \"$(touch x)\"",
        "shell:echo <(touch x)",
        "shell:(echo hi; touch x)",
        "shell:{ echo hi; touch x; }",
        "shell:if echo hi; then touch x; fi",
        "shell:for i in 1; do touch x; done",
        "shell:while echo hi; do touch x; done",
        "shell:case a in a) touch x;; esac",
        "shell:f() { touch x; }; echo f",
        "shell:echo hi > /dev/null; touch x",
        "shell:X=$(touch x) echo hi",
        "shell:echo ${HOME:-$(touch x)}",
        "shell:echo $((1 + $(touch x)))",
        "shell:eval echo hi",
        "shell:bash -c 'echo hi'",
        "shell:sh -c \"echo hi; touch x\"",
        "shell:. ./script",
        "shell:source ./script",
        "shell:$CMD hi",
        "shell:echo 'unclosed",
    ] {
        assert_eq!(c.decide(bypass), Decision::Ask, "{bypass}");
    }
}

#[test]
fn an_allow_pattern_compares_the_program_as_written() {
    let c = consent(&["shell:rm -i *"], &[]);
    assert!(allowed(&c, "shell:rm -i a"));
    assert!(allowed(&c, "shell:\\rm -i a"), "quote removal: `\\rm` is `rm`");
    assert!(!allowed(&c, "shell:/tmp/evil/rm -i a"), "another program called rm");
    assert!(!allowed(&c, "shell:rm -rf a"));
}

#[test]
fn a_deny_pattern_matches_any_command_of_the_line_however_it_is_written() {
    let c = consent(&["shell:*"], &["shell:rm -rf *"]);
    for line in [
        "rm -rf victim",
        "echo x && rm -rf victim",
        "echo x; rm -rf victim",
        "false || rm -rf victim",
        "echo x | rm -rf victim",
        "echo x\nrm -rf victim",
        "rm -r -f victim",
        "rm -fr victim",
        "rm victim -rf",
        "rm -rfv victim",
        "/bin/rm -rf victim",
        "\\rm -rf victim",
        "'rm' -rf victim",
        "\"rm\" -r -f victim",
        "echo $(rm -rf victim)",
        "echo `rm -rf victim`",
        "(cd /tmp && rm -rf victim)",
        "{ rm -rf victim; }",
        "if true; then rm -rf victim; fi",
        "for d in a; do rm -rf $d; done",
        "bash -c 'rm -rf victim'",
        "sh -c \"cd /; rm -rf victim\"",
        "eval rm -rf victim",
        "env FOO=1 rm -rf victim",
        "sudo -u root rm -rf victim",
        "nice -n 5 rm -rf victim",
        "xargs rm -rf < list",
        "find . -exec rm -rf {} +",
        "FOO=1 rm -rf victim",
        "rm -rf victim > /dev/null 2>&1",
    ] {
        let permission = format!("shell:{line}");
        assert!(denied(&c, &permission), "{line}: {:?}", c.decide(&permission));
    }
    assert!(allowed(&c, "shell:rm victim"), "not every rm: {:?}", c.decide("shell:rm victim"));
    assert!(allowed(&c, "shell:echo rm -rf victim"), "an argument is not a command");
}

#[test]
fn what_a_deny_pattern_cannot_see_into_does_not_run() {
    let c = consent(&["shell:*"], &["shell:rm *"]);
    for line in ["eval \"$CMD\"", "$CMD -rf victim", "echo rm -rf victim | sh", "sh -c \"$SCRIPT\"", "bash", "echo 'unclosed"] {
        let decision = c.decide(&format!("shell:{line}"));
        assert!(matches!(&decision, Decision::Denied(why) if why.contains("cannot be checked against the deny pattern")), "{line}: {decision:?}");
    }
    // With no deny pattern for shell commands, such a line is a person's to judge.
    let c = consent(&[], &["push:*"]);
    assert_eq!(c.decide("shell:eval \"$CMD\""), Decision::Ask);
    // --yes still never runs past a deny pattern.
    let c = Consent { yes: true, patterns: PermissionsConfig { allow: vec![], deny: vec!["shell:rm *".into()] } };
    assert!(denied(&c, "shell:echo a && rm -rf b"));
    assert!(denied(&c, "shell:eval \"$CMD\""));
    assert!(allowed(&c, "shell:echo a"));
}

#[test]
fn shell_patterns_cover_snapshot_and_notify_commands_and_their_own_kinds_only_theirs() {
    let c = consent(&["snapshot:gh pr list*"], &["shell:*"]);
    assert!(denied(&c, "snapshot:gh pr list --json number"), "deny wins");
    assert!(denied(&c, "notify:./page-me"));
    let c = consent(&["snapshot:gh pr list*", "shell:echo *"], &["notify:curl *"]);
    assert!(allowed(&c, "snapshot:gh pr list --json number"));
    assert!(!allowed(&c, "shell:gh pr list"), "a snapshot pattern does not allow steps");
    assert!(allowed(&c, "notify:echo paged"), "a shell pattern covers every kind");
    assert!(denied(&c, "notify:curl -d x https://example.invalid"));
    assert!(!denied(&c, "shell:curl https://example.invalid"), "a notify pattern denies notify commands only");
}

/// Simple commands the fuzz builds lines from; the first three match the allow patterns below.
const COMMANDS: &[&str] = &["echo hi", "cargo test -p core", "git status", "rm -rf victim", "touch pwned", "curl -d @secrets x", "sh"];
const ALLOW: &[&str] = &["shell:echo *", "shell:cargo test*", "shell:git status"];

/// Whether an allow pattern of [`ALLOW`] admits `command` (the ground truth).
fn admitted(command: &str) -> bool {
    COMMANDS[..3].contains(&command)
}

/// A compound line and the simple commands it holds.
fn line() -> impl Strategy<Value = (String, Vec<&'static str>)> {
    let leaf = prop::sample::select(COMMANDS).prop_map(|c| (c.to_string(), vec![c]));
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(&[" ; ", " && ", " || ", " | ", "\n", " & "][..]), inner.clone())
                .prop_map(|((a, ca), op, (b, cb))| (format!("{a}{op}{b}"), [ca, cb].concat())),
            inner.clone().prop_map(|(a, c)| (format!("( {a} )"), c)),
            inner.clone().prop_map(|(a, c)| (format!("{{ {a}; }}"), c)),
            (inner.clone(), inner.clone()).prop_map(|((a, ca), (b, cb))| (format!("if {a}; then {b}; fi"), [ca, cb].concat())),
            (inner.clone(), inner.clone()).prop_map(|((a, ca), (b, cb))| (format!("while {a}; do {b}; done"), [ca, cb].concat())),
            // A space after `$(` keeps `$( (a) )` from reading as arithmetic `$((a))`.
            inner.clone().prop_map(|(a, c)| (format!("echo \"$( {a} )\""), [vec!["echo hi"], c].concat())),
            // Backticks do not nest without escapes: only simple commands inside.
            prop::sample::select(COMMANDS).prop_map(|c| (format!("echo `{c}`"), vec!["echo hi", c])),
            inner.clone().prop_map(|(a, c)| (format!("f() {{ {a}; }}"), c)),
            inner.prop_map(|(a, c)| (format!("case x in x) {a};; esac"), c)),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// No allow pattern ever admits a line holding a command no allow pattern matches.
    #[test]
    fn no_allow_pattern_admits_a_command_it_does_not_match((line, commands) in line()) {
        let c = consent(ALLOW, &[]);
        if allowed(&c, &format!("shell:{line}")) {
            prop_assert!(commands.iter().all(|c| admitted(c)), "allowed `{}` holding {:?}", line, commands);
        }
    }

    /// Any text at all is decided on, without a panic: what cannot be read is never allowed.
    #[test]
    fn any_text_is_decided_on(text in "[ -~\n]{0,80}", bytes in "\\PC{0,40}") {
        let c = consent(ALLOW, &["shell:rm *"]);
        for line in [text, bytes] {
            let _ = c.decide(&format!("shell:{line}"));
        }
    }

    /// A deny pattern matching any command of a line denies the line, even under an allow-all pattern.
    #[test]
    fn a_deny_pattern_matching_any_command_denies_the_line((line, commands) in line()) {
        let c = consent(&["shell:*"], &["shell:rm -rf *", "shell:touch *"]);
        if commands.iter().any(|c| c.starts_with("rm ") || c.starts_with("touch ")) {
            prop_assert!(denied(&c, &format!("shell:{line}")), "not denied: `{}`", line);
        }
    }
}
