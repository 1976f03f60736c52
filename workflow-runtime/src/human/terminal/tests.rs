//! The terminal prompts on a pseudo-terminal pair.

use super::*;
use serde_json::json;
use std::sync::Arc;

/// The person's side of a pseudo-terminal: a keyboard, and a screen showing
/// what the terminal side wrote and echoed.
struct Person {
    keyboard: File,
    screen: String,
    seen: usize,
}

/// A person and a [`TtyTerminal`] on the two sides of a new pseudo-terminal (echo on, line by line, as a terminal starts).
fn at_a_terminal() -> (Person, Arc<TtyTerminal>) {
    use rustix::fs::{open, Mode, OFlags};
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let keyboard = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
    grantpt(&keyboard).expect("grantpt");
    unlockpt(&keyboard).expect("unlockpt");
    let name = ptsname(&keyboard, Vec::new()).expect("ptsname");
    let tty = open(name.as_c_str(), OFlags::RDWR | OFlags::NOCTTY, Mode::empty()).expect("open the pty");
    (Person { keyboard: File::from(keyboard), screen: String::new(), seen: 0 }, Arc::new(TtyTerminal::on(File::from(tty))))
}

impl Person {
    /// Waits until `text` shows after what was seen so far; returns what showed up to it.
    #[track_caller]
    fn sees(&mut self, text: &str) -> String {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(at) = self.screen[self.seen..].find(text) {
                let shown = self.screen[self.seen..self.seen + at + text.len()].to_string();
                self.seen += at + text.len();
                return shown;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let mut fds = [PollFd::new(&self.keyboard, PollFlags::IN)];
            let ready = poll(&mut fds, Some(&Timespec::try_from(left).unwrap())).unwrap_or(0);
            assert!(ready > 0, "`{text}` never showed; the screen after what was seen:\n{}", &self.screen[self.seen..]);
            let mut buf = [0u8; 1024];
            let n = self.keyboard.read(&mut buf).expect("read the screen");
            self.screen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }

    fn types(&mut self, keys: &str) {
        self.keyboard.write_all(keys.as_bytes()).expect("type");
    }
}

/// Puts `request` to `terminal` on another thread, as the executor does.
fn ask(terminal: &Arc<TtyTerminal>, request: Request) -> std::thread::JoinHandle<Asked> {
    let terminal = terminal.clone();
    std::thread::spawn(move || terminal.ask(&request))
}

fn request(kind: RequestKind, message: &str, input: Option<InputSpec>) -> Request {
    Request {
        kind,
        run_id: "r1".into(),
        workflow: "release".into(),
        step_id: "review".into(),
        seq: 3,
        message: message.into(),
        input,
        permission: None,
        approvers: Vec::new(),
        measured: None,
    }
}

fn input(input_type: InputType) -> InputSpec {
    InputSpec { input_type, ..InputSpec::default() }
}

#[track_caller]
fn answer(asked: Asked) -> Answer {
    match asked {
        Asked::Answered(answer) => answer,
        other => panic!("not answered: {other:?}"),
    }
}

#[track_caller]
fn value(asked: Asked) -> Value {
    answer(asked).value.expect("an input answer has a value")
}

#[test]
fn a_gate_takes_no_with_a_comment_on_the_same_line() {
    let (mut person, terminal) = at_a_terminal();
    let asking = ask(&terminal, request(RequestKind::Gate, "Ship 1.2?", None));
    let shown = person.sees("Approve? [y/n] ");
    assert!(shown.contains("Ship 1.2?") && shown.contains("run r1 · step review"), "{shown}");
    person.types("n too risky\n");
    let answer = answer(asking.join().unwrap());
    assert_eq!((answer.approved, answer.comment.as_deref()), (Some(false), Some("too risky")));
    assert_eq!(answer.operator, crate::audit::operator());
    assert!(answer.at_ms > 0);
}

#[test]
fn a_gate_asks_for_a_comment_when_none_follows_the_answer_and_re_asks_a_wrong_one() {
    let (mut person, terminal) = at_a_terminal();
    let asking = ask(&terminal, request(RequestKind::Gate, "Ship 1.2?", None));
    person.sees("Approve? [y/n] ");
    person.types("maybe\n");
    person.sees("answer yes or no");
    person.sees("Approve? [y/n] ");
    person.types("Y\n");
    person.sees("Comment (optional): ");
    person.types("ship it\n");
    let answer = answer(asking.join().unwrap());
    assert_eq!((answer.approved, answer.comment.as_deref()), (Some(true), Some("ship it")));
}

#[test]
fn a_gate_for_other_approvers_is_left_to_them() {
    let (mut person, terminal) = at_a_terminal();
    let gate = Request { approvers: vec!["nobody-here-but-the-release-captain".into()], ..request(RequestKind::Gate, "Ship?", None) };
    let asking = ask(&terminal, gate);
    person.sees("waiting for one of: nobody-here-but-the-release-captain");
    assert_eq!(asking.join().unwrap(), Asked::Closed);
}

#[test]
fn consent_is_refused_by_an_empty_answer_and_given_by_yes() {
    let (mut person, terminal) = at_a_terminal();
    let consent = Request { permission: Some("shell:make deploy".into()), ..request(RequestKind::Consent, "run `make deploy`", None) };
    let asking = ask(&terminal, consent.clone());
    let shown = person.sees("Allow? [y/N] ");
    assert!(shown.contains("Step review wants to: run `make deploy`") && shown.contains("shell:make deploy"), "{shown}");
    person.types("\n");
    assert_eq!(answer(asking.join().unwrap()).approved, Some(false));

    let asking = ask(&terminal, consent);
    person.sees("Allow? [y/N] ");
    person.types("yes\n");
    assert_eq!(answer(asking.join().unwrap()).approved, Some(true));
}

#[test]
fn text_is_asked_again_with_the_reason_and_enter_takes_the_default() {
    let (mut person, terminal) = at_a_terminal();
    let spec = InputSpec { pattern: Some("[a-z-]+".into()), default: Some(json!("next")), ..input(InputType::Text) };
    let asking = ask(&terminal, request(RequestKind::Input, "Release name", Some(spec)));
    person.sees("Release name [next]: ");
    person.types("Bad Name\n");
    person.sees("the answer must match `[a-z-]+`");
    person.sees("Release name [next]: ");
    person.types("\n");
    assert_eq!(value(asking.join().unwrap()), json!("next"));
}

#[test]
fn a_password_is_never_echoed_and_the_echo_comes_back_after() {
    let (mut person, terminal) = at_a_terminal();
    let asking = ask(&terminal, request(RequestKind::Input, "Token", Some(input(InputType::Password))));
    person.sees("Token: ");
    person.types("hunter2\n");
    assert_eq!(value(asking.join().unwrap()), json!("hunter2"));

    // The next answer is echoed: the terminal echoes, and has its echo back.
    let asking = ask(&terminal, request(RequestKind::Input, "Name", Some(input(InputType::Text))));
    person.sees("Name: ");
    person.types("visible\n");
    assert_eq!(value(asking.join().unwrap()), json!("visible"));
    person.sees("visible");
    assert!(!person.screen.contains("hunter2"), "the password showed:\n{}", person.screen);
    let settings = termios::tcgetattr(&terminal.tty.lock().unwrap().file).unwrap();
    assert!(settings.local_modes.contains(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG));
}

#[test]
fn keys_erase_in_a_password_and_a_wrong_one_is_asked_again() {
    let (mut person, terminal) = at_a_terminal();
    let spec = InputSpec { pattern: Some("[0-9]{4}".into()), ..input(InputType::Password) };
    let asking = ask(&terminal, request(RequestKind::Input, "PIN", Some(spec)));
    person.sees("PIN: ");
    person.types("12x\n");
    person.sees("the answer must match `[0-9]{4}`");
    person.sees("PIN: ");
    // Backspace takes the last key, the line-kill key all of them.
    person.types("99\x1512é\x7f34\n");
    assert_eq!(value(asking.join().unwrap()), json!("1234"));
    assert!(!person.screen.contains("12x"), "{}", person.screen);
}

#[test]
fn confirm_shows_its_default_and_takes_yes_or_no() {
    let (mut person, terminal) = at_a_terminal();
    let spec = InputSpec { default: Some(json!(true)), ..input(InputType::Confirm) };
    let asking = ask(&terminal, request(RequestKind::Input, "Run migrations?", Some(spec.clone())));
    person.sees("Run migrations? [Y/n]: ");
    person.types("\n");
    assert_eq!(value(asking.join().unwrap()), json!(true));

    let asking = ask(&terminal, request(RequestKind::Input, "Run migrations?", Some(spec)));
    person.sees("[Y/n]: ");
    person.types("n\n");
    assert_eq!(value(asking.join().unwrap()), json!(false));
}

#[test]
fn a_choice_is_listed_and_taken_by_number_or_name() {
    let (mut person, terminal) = at_a_terminal();
    let spec = InputSpec { choices: vec!["staging".into(), "production".into()], ..input(InputType::Choice) };
    let asking = ask(&terminal, request(RequestKind::Input, "Where to?", Some(spec.clone())));
    let shown = person.sees("Number or name: ");
    assert!(shown.contains("Where to?") && shown.contains("1) staging") && shown.contains("2) production"), "{shown}");
    person.types("3\n");
    person.sees("choose one of: staging, production");
    person.types("2\n");
    assert_eq!(value(asking.join().unwrap()), json!("production"));

    let asking = ask(&terminal, request(RequestKind::Input, "Where to?", Some(spec)));
    person.sees("Number or name: ");
    person.types("staging\n");
    assert_eq!(value(asking.join().unwrap()), json!("staging"));
}

#[test]
fn multiline_ends_at_a_dot_or_at_end_of_input() {
    let (mut person, terminal) = at_a_terminal();
    let asking = ask(&terminal, request(RequestKind::Input, "Release notes", Some(input(InputType::Multiline))));
    person.sees("Release notes (end with a line holding only \".\")");
    person.types("Faster.\n  Fewer bugs.\n.\n");
    assert_eq!(value(asking.join().unwrap()), json!("Faster.\n  Fewer bugs."));

    let asking = ask(&terminal, request(RequestKind::Input, "Release notes", Some(input(InputType::Multiline))));
    person.sees("Release notes");
    person.types("Just one line\n\x04");
    assert_eq!(value(asking.join().unwrap()), json!("Just one line"));
}

#[test]
fn ctrl_d_on_an_empty_line_closes_every_kind_of_question() {
    let (mut person, terminal) = at_a_terminal();
    let questions = [
        request(RequestKind::Gate, "Ship?", None),
        request(RequestKind::Consent, "push", None),
        request(RequestKind::Input, "Name", Some(input(InputType::Text))),
        request(RequestKind::Input, "Token", Some(input(InputType::Password))),
        request(RequestKind::Input, "Notes", Some(input(InputType::Multiline))),
    ];
    for question in questions {
        let asking = ask(&terminal, question.clone());
        person.sees(if question.kind == RequestKind::Input { &question.message } else { "? [y/" });
        person.types("\x04");
        assert_eq!(asking.join().unwrap(), Asked::Closed, "{question:?}");
    }
}

#[test]
fn no_answer_in_time_times_out_and_a_half_typed_one_is_dropped() {
    let (mut person, terminal) = at_a_terminal();
    for input_type in [InputType::Text, InputType::Password] {
        // Long enough that "half" is typed in time on a busy machine.
        let spec = InputSpec { timeout_ms: Some(800), ..input(input_type) };
        let started = Instant::now();
        let asking = ask(&terminal, request(RequestKind::Input, "Name", Some(spec)));
        person.sees("Name: ");
        person.types("half");
        assert_eq!(asking.join().unwrap(), Asked::TimedOut, "{input_type:?}");
        assert!(started.elapsed() >= Duration::from_millis(800));
        person.sees("no answer within 0.8 s");

        let asking = ask(&terminal, request(RequestKind::Input, "Name", Some(input(input_type))));
        person.sees("Name: ");
        person.types("whole\n");
        assert_eq!(value(asking.join().unwrap()), json!("whole"), "{input_type:?}");
    }
}
