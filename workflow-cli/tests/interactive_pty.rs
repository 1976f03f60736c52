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

/// A loop of 200 rounds, then one more step.
const COUNTER: &str = "name: counter
variables:
  i: 0
steps:
  - id: inc
    action: shell
    command: \"true\"
    set:
      i: \"i + 1\"
  - id: again
    action: loop
    to: inc
    condition: \"i < 200\"
    max-iterations: 250
  - id: done
    action: shell
    command: echo finished
";

/// `workflow run ARGS counter.yaml` in a pseudo-terminal: everything it wrote there, and its exit code.
fn counter_at_a_terminal(args: &[&str]) -> (String, i32) {
    let home = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(home.path().join("counter.yaml"), COUNTER).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_workflow"));
    cmd.arg("run")
        .args(args)
        .arg("counter.yaml")
        .current_dir(home.path())
        .env("WORKFLOW_STORE", home.path().join("runs.db"))
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("WORKFLOW_YES", "1")
        .env_remove("WORKFLOW_CONFIG")
        .env_remove("RUST_LOG");
    let mut session = rexpect::session::spawn_command(cmd, Some(60_000)).expect("cannot start `workflow run` in a pseudo-terminal");
    // rexpect hands the bytes over one char each: put the UTF-8 back together.
    let bytes: Vec<u8> = session.exp_eof().expect("the run did not end").chars().map(|c| c as u32 as u8).collect();
    let screen = String::from_utf8_lossy(&bytes).into_owned();
    match session.process().wait() {
        Ok(WaitStatus::Exited(_, code)) => (screen, code),
        other => panic!("the run did not exit: {other:?}; the screen:\n{screen}"),
    }
}

/// What a line looks like once the terminal has applied its `\r` and clear-line codes.
fn shown(line: &str) -> String {
    line.rsplit('\r').find(|part| !part.is_empty()).unwrap_or_default().replace("\u{1b}[K", "")
}

#[test]
fn a_loop_shows_one_updating_line_on_a_terminal_and_every_line_with_verbose_or_json() {
    let (screen, code) = counter_at_a_terminal(&[]);
    assert_eq!(code, 0, "{screen}");
    let lines: Vec<String> = screen.lines().map(shown).collect();
    let inc_lines = lines.iter().filter(|l| l.contains("inc")).count();
    assert!(inc_lines <= 2, "the loop's repeats were not collapsed ({inc_lines} lines name `inc`):\n{screen}");
    assert!(lines.iter().any(|l| l.contains("inc ×200 · again ×200")), "no collapsed line with the counts:\n{}", lines.join("\n"));
    let done = lines.iter().position(|l| l.contains("done") && l.contains("shell")).expect("the step after the loop has its own line");
    assert!(lines[done].trim_start().starts_with("ok"), "{}", lines[done]);
    assert!(lines.iter().any(|l| l.contains("| finished")));
    assert!(lines.last().is_some_and(|l| l.starts_with("run ") && l.ends_with("completed")), "{}", lines.join("\n"));

    let (screen, code) = counter_at_a_terminal(&["--verbose"]);
    assert_eq!(code, 0, "{screen}");
    assert_eq!(screen.lines().filter(|l| l.contains(" inc ")).count(), 200, "--verbose keeps every line");

    let (screen, code) = counter_at_a_terminal(&["--json"]);
    assert_eq!(code, 0, "{screen}");
    let events: Vec<serde_json::Value> = screen.lines().filter_map(|l| serde_json::from_str(l.trim()).ok()).collect();
    assert_eq!(events.iter().filter(|e| e["event"] == "step" && e["step_id"] == "inc").count(), 200);
    assert_eq!(events.len(), 200 + 200 + 1 + 1, "every step's end and the run's end, nothing else");
    assert_eq!(events.last().unwrap()["status"], "completed");
}
