//! What `workflow run` prints while a run goes: a line per step (a model
//! step with its model and tokens), and for a step that takes long, a line
//! saying what runs, on which model, for how long, and the tokens so far.

mod support;

use support::{expect_code, workflow, write};

#[test]
fn a_long_step_reports_while_it_runs_with_the_model_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    write(
        dir.path(),
        ".workflow/config.yaml",
        "providers:\n  echo: { kind: command, command: [\"sh\", \"-c\", \"cat > /dev/null; echo noted\"] }\ndefault: \"echo:scribe\"\n",
    );
    write(
        dir.path(),
        "long.yaml",
        "name: long\nsteps:\n  - id: ask\n    action: ai-prompt\n    prompt: \"take a note\"\n  - id: nap\n    action: shell\n    command: \"sleep 6; echo awake\"\n",
    );
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["run", "long.yaml"]), 0);
    let ask = stderr.lines().find(|l| l.contains("ok   ask ")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(ask.contains("[echo:scribe, ") && ask.contains(" tokens]"), "a model step names its model and tokens: {ask}");
    let beat = stderr.lines().find(|l| l.contains("running for")).unwrap_or_else(|| panic!("no progress line for the long step:\n{stderr}"));
    assert!(beat.contains("nap") && beat.contains("shell") && beat.contains("running for 5s"), "{beat}");
    assert!(beat.contains("echo:scribe") && beat.contains("tokens so far"), "{beat}");
    let done = stderr.lines().position(|l| l.contains("ok   nap")).unwrap();
    let at = stderr.lines().position(|l| l.contains("running for")).unwrap();
    assert!(at < done, "the progress line comes while the step runs, before its end:\n{stderr}");
}
