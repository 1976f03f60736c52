//! `workflow run` with a person at its terminal: prompts of every input type
//! and an approval gate, answered by typing into a pseudo-terminal that is the
//! binary's controlling terminal, as it would be in a shell.

use rexpect::process::WaitStatus;
use rexpect::session::PtySession;
use std::path::Path;
use std::process::Command;

/// `workflow run --yes FIXTURE` on a terminal of its own, and what it showed.
struct AtTerminal {
    session: PtySession,
    screen: String,
    // Home, config and store of the run: removed when the test ends.
    _home: tempfile::TempDir,
}

/// Starts `workflow run --yes` on `fixture` (in tests/fixtures/interactive) in a
/// new pseudo-terminal, with home, config and store in a temporary folder.
fn run_at_a_terminal(fixture: &str) -> AtTerminal {
    let home = tempfile::tempdir().expect("a temporary folder");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/interactive").join(fixture);
    let mut cmd = Command::new("sh");
    // rexpect turns the echo off; a person's terminal has it on, and the
    // password's characters must not show even so.
    cmd.arg("-c")
        .arg(r#"stty echo && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_workflow"))
        .args(["run", "--yes"])
        .arg(&file)
        .current_dir(home.path())
        .env("WORKFLOW_STORE", home.path().join("runs.db"))
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("WORKFLOW_OPERATOR", "alice")
        .env_remove("WORKFLOW_CONFIG")
        .env_remove("RUST_LOG");
    let session = rexpect::session::spawn_command(cmd, Some(30_000)).expect("cannot start `workflow run` in a pseudo-terminal");
    AtTerminal { session, screen: String::new(), _home: home }
}

impl AtTerminal {
    /// Waits until `text` shows.
    #[track_caller]
    fn sees(&mut self, text: &str) {
        match self.session.exp_string(text) {
            Ok(before) => {
                self.screen.push_str(&before);
                self.screen.push_str(text);
            }
            Err(e) => panic!("`{text}` never showed ({e}); the screen until then:\n{}", self.screen),
        }
    }

    /// Types `line` and Enter.
    fn types(&mut self, line: &str) {
        self.session.send_line(line).expect("cannot type into the terminal");
    }

    /// Waits for the run to end: all it showed, and its exit code.
    #[track_caller]
    fn ends(mut self) -> (String, i32) {
        match self.session.exp_eof() {
            Ok(rest) => self.screen.push_str(&rest),
            Err(e) => panic!("the run did not end ({e}); the screen until then:\n{}", self.screen),
        }
        match self.session.process().wait() {
            Ok(WaitStatus::Exited(_, code)) => (self.screen, code),
            other => panic!("the run did not exit: {other:?}; the screen:\n{}", self.screen),
        }
    }
}

#[test]
fn every_input_type_is_asked_checked_and_reaches_the_shell_step() {
    let mut terminal = run_at_a_terminal("inputs.yaml");

    // Text: checked against the validation pattern; Enter takes the default.
    terminal.sees("Release name [next]: ");
    terminal.types("Bad Name");
    terminal.sees("the answer must match `[a-z][a-z0-9-]*`");
    terminal.sees("Release name [next]: ");
    terminal.types("");

    terminal.sees("Deploy token: ");
    terminal.types("s3cr3t-tok");

    terminal.sees("Run migrations? [y/n]: ");
    terminal.types("perhaps");
    terminal.sees("answer yes or no");
    terminal.sees("Run migrations? [y/n]: ");
    terminal.types("y");

    terminal.sees("1) staging");
    terminal.sees("2) production");
    terminal.sees("Number or name: ");
    terminal.types("3");
    terminal.sees("choose one of: staging, production");
    terminal.sees("Number or name: ");
    terminal.types("2");

    terminal.sees("Release notes (end with a line holding only \".\")");
    terminal.types("Faster builds.");
    terminal.types("Fewer bugs.");
    terminal.types(".");

    let (screen, code) = terminal.ends();
    assert_eq!(code, 0, "the run failed:\n{screen}");
    assert!(screen.contains("release=next token-length=10 migrate=true target=production"), "{screen}");
    assert!(screen.contains("notes=Faster builds."), "{screen}");
    assert!(screen.contains("Fewer bugs.|"), "{screen}");
    // The terminal echoes what is typed, but not the password.
    assert!(screen.contains("Bad Name"), "a typed answer was not echoed, so the next check proves nothing:\n{screen}");
    assert!(!screen.contains("s3cr3t"), "the password showed:\n{screen}");
}

#[test]
fn a_gate_answered_yes_lets_the_run_go_on() {
    let mut terminal = run_at_a_terminal("gate.yaml");
    terminal.sees("Ship release 1.2?");
    terminal.sees("· step ship");
    terminal.sees("Approve? [y/n] ");
    terminal.types("y");
    terminal.sees("Comment (optional): ");
    terminal.types("good to go");
    let (screen, code) = terminal.ends();
    assert_eq!(code, 0, "the run failed:\n{screen}");
    assert!(screen.contains("shipped: good to go"), "{screen}");
    assert!(!screen.contains("held back"), "{screen}");
}

#[test]
fn a_gate_answered_no_takes_its_rejected_branch() {
    let mut terminal = run_at_a_terminal("gate.yaml");
    terminal.sees("Approve? [y/n] ");
    terminal.types("n too risky");
    let (screen, code) = terminal.ends();
    assert_eq!(code, 0, "the run failed:\n{screen}");
    assert!(screen.contains("held back: too risky"), "{screen}");
    assert!(!screen.contains("shipped:"), "{screen}");
}

#[test]
fn a_prompt_nobody_answers_in_time_takes_its_default() {
    let mut terminal = run_at_a_terminal("timeout.yaml");
    terminal.sees("Region [eu-west]: ");
    terminal.sees("no answer within 0.5 s");
    let (screen, code) = terminal.ends();
    assert_eq!(code, 0, "the run failed:\n{screen}");
    assert!(screen.contains("region=eu-west"), "{screen}");
}
