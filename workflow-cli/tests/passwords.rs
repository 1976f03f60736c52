//! A `password` prompt's answer is never written anywhere: not to the store
//! (run state, questions, step events), not to the audit record, not to what
//! is printed; it lives in memory for the steps that use it, and a resumed
//! run asks for it again. `answer` refuses it on the command line. A signal
//! during the prompt gives the terminal its echo back.

mod support;

use std::io::Write;
use std::process::Stdio;
use support::*;

const PASSWORD: &str = "hunter2-SECRETPW";

const WORKFLOW: &str = r#"
name: pw
variables:
  pw: ""
steps:
  - id: ask
    action: interactive
    prompt: "Password"
    input-type: password
    output: pw
  - id: use
    action: shell
    command: "printf '%s' ${pw} > used.txt; echo \"got ${pw}\""
  - id: gate
    action: approval-gate
    message: "go on?"
  - id: again
    action: shell
    command: "printf '%s' \"$pw\" > again.txt"
"#;

/// Every text of the store, one string.
fn stored_text(store: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(store).unwrap();
    let mut all = String::new();
    for table in ["runs", "step_events", "questions"] {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                if let Ok(Some(text)) = row.get::<_, Option<String>>(i) {
                    all.push_str(&text);
                    all.push('\n');
                }
            }
        }
    }
    all
}

/// `workflow answer ARGS` with `input` on standard input.
fn answer_with_stdin(dir: &std::path::Path, store: &std::path::Path, args: &[&str], input: &str) -> (Option<i32>, String, String) {
    let mut child = workflow(dir, store, args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    parts(&out)
}

#[test]
fn a_password_is_never_stored_printed_or_taken_from_argv_and_a_resume_asks_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    std::fs::write(dir.path().join("pw.yaml"), WORKFLOW).unwrap();
    let mut printed = String::new();
    let (out, err) = expect_code(&mut workflow(dir.path(), &store, &["run", "pw.yaml"]), 3);
    printed.push_str(&(out + &err));
    let run = run_ids(dir.path(), &store)[0].clone();

    // On the command line: refused, nothing recorded.
    let (out, err) = expect_code(&mut workflow(dir.path(), &store, &["answer", &run, PASSWORD]), 2);
    assert!(err.contains("never taken from the command line") && err.contains("standard input"), "{err}");
    printed.push_str(&(out + &err));
    let (code, out, err) = answer_with_stdin(dir.path(), &store, &["answer", &run, "--no-resume"], PASSWORD);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("never stored, so it cannot be recorded for later"), "{err}");
    printed.push_str(&(out + &err));

    // On standard input: the steps get it; the run goes on to the gate.
    let (code, out, err) = answer_with_stdin(dir.path(), &store, &["answer", &run], PASSWORD);
    assert_eq!(code, Some(3), "waits at the gate: {err}");
    printed.push_str(&(out + &err));
    assert_eq!(std::fs::read_to_string(dir.path().join("used.txt")).unwrap(), PASSWORD, "the step used the password");

    // A new process: the password is asked again before the run goes on.
    let (out, err) = expect_code(&mut workflow(dir.path(), &store, &["approve", &run]), 3);
    assert!(err.contains("asked for a password, which is never stored, so the resumed run asks for it again"), "{err}");
    printed.push_str(&(out + &err));
    let (code, out, err) = answer_with_stdin(dir.path(), &store, &["answer", &run, "--step", "ask"], PASSWORD);
    assert_eq!(code, Some(0), "{out}{err}");
    printed.push_str(&(out + &err));
    assert_eq!(std::fs::read_to_string(dir.path().join("again.txt")).unwrap(), PASSWORD, "the resumed run has the password again");

    let (status, _) = expect_code(&mut workflow(dir.path(), &store, &["status", &run, "--json"]), 0);
    printed.push_str(&status);
    let stored = stored_text(&store);
    for (what, text) in [("the store", &stored), ("the output", &printed)] {
        assert!(!text.contains(PASSWORD) && !text.contains(&PASSWORD[..10]) && !text.contains(&PASSWORD[6..]), "the password is in {what}:\n{text}");
    }
    assert!(stored.contains("got [redacted]"), "what echoed it is masked:\n{stored}");
}

#[test]
fn a_signal_during_a_password_prompt_gives_the_terminal_its_echo_back() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("pw.yaml"), WORKFLOW).unwrap();
    let mut cmd = std::process::Command::new("sh");
    // The run in the background (reading the terminal), so the shell can show the terminal's settings after it dies.
    cmd.arg("-c")
        .arg(r#"stty echo; "$0" run --yes pw.yaml < /dev/tty & echo "PID=$!."; wait; echo "AFTER"; stty -a"#)
        .arg(env!("CARGO_BIN_EXE_workflow"))
        .current_dir(home.path())
        .env("WORKFLOW_STORE", home.path().join("runs.db"))
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env_remove("WORKFLOW_CONFIG")
        .env_remove("RUST_LOG");
    let mut session = rexpect::session::spawn_command(cmd, Some(30_000)).expect("a pseudo-terminal");
    let (_, pid) = session.exp_regex(r"PID=[0-9]+\.").expect("the pid");
    let pid = pid.trim_start_matches("PID=").trim_end_matches('.').to_string();
    session.exp_string("Password:").expect("the prompt");
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    session.exp_string("AFTER").expect("the run ended");
    let settings = session.exp_eof().expect("stty -a");
    let words: Vec<&str> = settings.split_whitespace().collect();
    assert!(words.contains(&"echo") && !words.contains(&"-echo"), "the echo is off after the signal:\n{settings}");
    assert!(words.contains(&"icanon") && !words.contains(&"-icanon"), "line editing is off after the signal:\n{settings}");
}
