//! Prompts at the controlling terminal: gates, consent and `interactive`
//! inputs, asked line by line on `/dev/tty` so that they reach the person even
//! while stdout is piped. Every typed value goes through [`InputSpec::accept`],
//! the same check as `workflow answer`; a rejected value is asked again with
//! the reason.

use super::{now_ms, Answer, Asked, InputSpec, InputType, Request, RequestKind, Terminal};
use rustix::termios::{self, LocalModes, OptionalActions, QueueSelector, SpecialCodeIndex, Termios};
use serde_json::Value;
use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The controlling terminal.
#[derive(Debug)]
pub struct TtyTerminal {
    // One question at a time: steps running side by side wait their turn.
    tty: Mutex<Tty>,
}

impl TtyTerminal {
    /// The terminal of this process, if it has one and standard input is that
    /// terminal: a run whose input is redirected (a script, a test) asks nobody.
    pub fn open() -> Option<TtyTerminal> {
        if !termios::isatty(io::stdin()) {
            return None;
        }
        let file = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").ok()?;
        termios::isatty(&file).then(|| TtyTerminal::on(file))
    }

    /// Asks on `file`, which must be a terminal.
    fn on(file: File) -> TtyTerminal {
        TtyTerminal { tty: Mutex::new(Tty { file, pending: Vec::new() }) }
    }
}

impl Terminal for TtyTerminal {
    fn ask(&self, request: &Request) -> Asked {
        let mut tty = self.tty.lock().unwrap_or_else(PoisonError::into_inner);
        let asked = match request.kind {
            RequestKind::Gate => ask_gate(&mut tty, request),
            RequestKind::Consent => ask_consent(&mut tty, request),
            RequestKind::Input => ask_input(&mut tty, request),
        };
        // A terminal that fails to read or write has gone away.
        asked.unwrap_or(Asked::Closed)
    }
}

/// `Approve? [y/n]`, with an optional comment on the same line (`n too risky`) or asked after.
fn ask_gate(tty: &mut Tty, request: &Request) -> io::Result<Asked> {
    tty.say(&format!("\n{}\n  run {} · step {}\n", request.message, request.run_id, request.step_id))?;
    if !request.approvers.is_empty() {
        let operator = crate::audit::operator();
        if !request.approvers.contains(&operator) {
            // Only an approver's answer counts: the run waits for one of them.
            tty.say(&format!("  waiting for one of: {} (you are {operator})\n", request.approvers.join(", ")))?;
            return Ok(Asked::Closed);
        }
    }
    let Some((approved, comment)) = yes_or_no(tty, "Approve? [y/n] ", None)? else {
        return Ok(Asked::Closed);
    };
    let comment = match comment {
        Some(comment) => Some(comment),
        None => {
            tty.say("Comment (optional): ")?;
            match tty.line(None)? {
                Line::Text(comment) => Some(comment.trim().to_string()).filter(|c| !c.is_empty()),
                Line::TimedOut | Line::Closed => None,
            }
        }
    };
    Ok(answered(Some(approved), None, comment))
}

/// `Step <id> wants to: <what>` and `Allow? [y/N]`: an empty answer does not allow it.
fn ask_consent(tty: &mut Tty, request: &Request) -> io::Result<Asked> {
    tty.say(&format!("\nStep {} wants to: {}\n", request.step_id, request.message))?;
    if let Some(permission) = &request.permission {
        tty.say(&format!("  permission: {permission}\n"))?;
    }
    let Some((approved, comment)) = yes_or_no(tty, "Allow? [y/N] ", Some(false))? else {
        return Ok(Asked::Closed);
    };
    Ok(answered(Some(approved), None, comment))
}

/// Asks `question` until the answer starts with yes or no (or is empty and there is a `default`):
/// that and the rest of the line as a comment, or `None` at end of input.
fn yes_or_no(tty: &mut Tty, question: &str, default: Option<bool>) -> io::Result<Option<(bool, Option<String>)>> {
    let words = InputSpec { input_type: InputType::Confirm, default: default.map(Value::Bool), ..InputSpec::default() };
    loop {
        tty.say(question)?;
        let Line::Text(line) = tty.line(None)? else {
            tty.say("\n")?;
            return Ok(None);
        };
        let line = line.trim();
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match words.accept(word) {
            Ok(yes) => return Ok(Some((yes == Value::Bool(true), Some(rest.trim().to_string()).filter(|c| !c.is_empty())))),
            Err(reason) => tty.say(&format!("  {reason} (a comment may follow: n too risky)\n"))?,
        }
    }
}

/// An `interactive` step's value, asked again until [`InputSpec::accept`] takes it.
fn ask_input(tty: &mut Tty, request: &Request) -> io::Result<Asked> {
    let spec = request.input.clone().unwrap_or_default();
    let deadline = spec.timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
    if spec.input_type == InputType::Choice {
        tty.say(&format!("\n{}\n", request.message))?;
        for (n, choice) in spec.choices.iter().enumerate() {
            tty.say(&format!("  {}) {choice}\n", n + 1))?;
        }
    }
    loop {
        let question = question(&request.message, &spec);
        let typed = match spec.input_type {
            InputType::Password => {
                let typed = tty.secret(&question, deadline)?;
                // The Enter that ended it was not echoed either.
                tty.say("\n")?;
                typed
            }
            InputType::Multiline => {
                tty.say(&question)?;
                tty.text_block(deadline)?
            }
            InputType::Text | InputType::Confirm | InputType::Choice => {
                tty.say(&question)?;
                tty.line(deadline)?
            }
        };
        let text = match typed {
            Line::Text(text) => text,
            Line::TimedOut => {
                let waited = spec.timeout_ms.unwrap_or_default() as f64 / 1000.0;
                // A half-typed answer must not become the answer to the next question.
                tty.discard_typed()?;
                tty.say(&format!("\n  no answer within {waited} s\n"))?;
                return Ok(Asked::TimedOut);
            }
            Line::Closed => {
                tty.say("\n")?;
                return Ok(Asked::Closed);
            }
        };
        match spec.accept(&text) {
            Ok(value) => return Ok(answered(None, Some(value), None)),
            Err(reason) => tty.say(&format!("  {reason}\n"))?,
        }
    }
}

/// The line that asks for an input: the prompt, how to answer, and the default.
fn question(prompt: &str, spec: &InputSpec) -> String {
    let default = spec.default.as_ref().map(|value| match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    });
    match spec.input_type {
        InputType::Text => match default {
            Some(default) => format!("{prompt} [{default}]: "),
            None => format!("{prompt}: "),
        },
        // A password's default is not shown either.
        InputType::Password => match default {
            Some(_) => format!("{prompt} (Enter keeps the default): "),
            None => format!("{prompt}: "),
        },
        InputType::Confirm => match spec.default {
            Some(Value::Bool(true)) => format!("{prompt} [Y/n]: "),
            Some(Value::Bool(false)) => format!("{prompt} [y/N]: "),
            _ => format!("{prompt} [y/n]: "),
        },
        InputType::Choice => match default {
            Some(default) => format!("Number or name [{default}]: "),
            None => "Number or name: ".to_string(),
        },
        InputType::Multiline => match default {
            Some(_) => format!("{prompt} (end with a line holding only \".\"; \".\" alone keeps the default)\n"),
            None => format!("{prompt} (end with a line holding only \".\")\n"),
        },
    }
}

/// An answer given now by the person at this terminal.
fn answered(approved: Option<bool>, value: Option<Value>, comment: Option<String>) -> Asked {
    Asked::Answered(Answer { approved, value, comment, operator: crate::audit::operator(), at_ms: now_ms() })
}

/// What reading from the terminal gave.
#[derive(Debug)]
enum Line {
    /// A line, without its end.
    Text(String),
    /// The deadline passed first.
    TimedOut,
    /// End of input: Ctrl-D on an empty line, or the terminal went away.
    Closed,
}

/// The terminal file and what was read from it past the last line taken.
#[derive(Debug)]
struct Tty {
    file: File,
    pending: Vec<u8>,
}

/// How one read went.
enum Fill {
    Read,
    TimedOut,
    End,
}

impl Tty {
    /// Shows `text` at once.
    fn say(&mut self, text: &str) -> io::Result<()> {
        self.file.write_all(text.as_bytes())?;
        self.file.flush()
    }

    /// The next line typed, waiting until `deadline` (forever without one).
    fn line(&mut self, deadline: Option<Instant>) -> io::Result<Line> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Ok(Line::Text(text_of(&line[..end])));
            }
            match self.fill(deadline)? {
                Fill::Read => {}
                Fill::TimedOut => return Ok(Line::TimedOut),
                Fill::End if self.pending.is_empty() => return Ok(Line::Closed),
                // Ctrl-D after some text ends that text as a last line.
                Fill::End => return Ok(Line::Text(text_of(&std::mem::take(&mut self.pending)))),
            }
        }
    }

    /// Lines up to one holding only `.` (or end of input), joined by newlines.
    fn text_block(&mut self, deadline: Option<Instant>) -> io::Result<Line> {
        let mut lines = Vec::new();
        loop {
            match self.line(deadline)? {
                Line::Text(line) if line == "." => break,
                Line::Text(line) => lines.push(line),
                Line::Closed if lines.is_empty() => return Ok(Line::Closed),
                Line::Closed => break,
                Line::TimedOut => return Ok(Line::TimedOut),
            }
        }
        Ok(Line::Text(lines.join("\n")))
    }

    /// A line typed unseen after `question`. The echo goes off before the
    /// question shows, so no key typed in answer is seen. The terminal reads key
    /// by key meanwhile, so that Ctrl-C gives the terminal its echo back before
    /// it stops the process.
    fn secret(&mut self, question: &str, deadline: Option<Instant>) -> io::Result<Line> {
        let keys = Unseen::set(&self.file)?;
        self.say(question)?;
        let code = |index| keys.saved.special_codes[index];
        let (interrupt, end, erase, kill) =
            (code(SpecialCodeIndex::VINTR), code(SpecialCodeIndex::VEOF), code(SpecialCodeIndex::VERASE), code(SpecialCodeIndex::VKILL));
        let mut typed: Vec<u8> = Vec::new();
        loop {
            if self.pending.is_empty() {
                match self.fill(deadline)? {
                    Fill::Read => continue,
                    Fill::TimedOut => return Ok(Line::TimedOut),
                    Fill::End if typed.is_empty() => return Ok(Line::Closed),
                    Fill::End => return Ok(Line::Text(text_of(&typed))),
                }
            }
            let key = self.pending.remove(0);
            match key {
                b'\n' | b'\r' => return Ok(Line::Text(text_of(&typed))),
                _ if key == interrupt => {
                    drop(keys);
                    interrupt_self();
                    return Ok(Line::Closed);
                }
                _ if key == end && typed.is_empty() => return Ok(Line::Closed),
                _ if key == erase || key == 0x08 => {
                    // Drop the last character, all of its UTF-8 bytes.
                    while typed.pop().is_some_and(|b| b & 0xC0 == 0x80) {}
                }
                _ if key == kill => typed.clear(),
                b'\t' => typed.push(key),
                _ if key < 0x20 || key == 0x7f => {}
                _ => typed.push(key),
            }
        }
    }

    /// Forgets what was typed and not yet taken, here and in the terminal's queue.
    fn discard_typed(&mut self) -> io::Result<()> {
        self.pending.clear();
        termios::tcflush(&self.file, QueueSelector::IFlush)?;
        Ok(())
    }

    /// Reads what is there into `pending`, once something is, or the deadline passes.
    fn fill(&mut self, deadline: Option<Instant>) -> io::Result<Fill> {
        if let Some(deadline) = deadline {
            if !self.ready_before(deadline)? {
                return Ok(Fill::TimedOut);
            }
        }
        let mut buf = [0u8; 1024];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => return Ok(Fill::End),
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    return Ok(Fill::Read);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether something can be read before `deadline`.
    fn ready_before(&self, deadline: Instant) -> io::Result<bool> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = Timespec::try_from(left).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let mut fds = [PollFd::new(&self.file, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => return Ok(false),
                Ok(_) => return Ok(true),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The text of typed bytes (a stray carriage return dropped).
fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim_end_matches('\r').to_string()
}

/// Sends this process the SIGINT that Ctrl-C would have, now that the terminal is itself again.
fn interrupt_self() {
    use rustix::process::{getpid, kill_process, Signal};
    let _ = kill_process(getpid(), Signal::INT);
}

/// The terminal without echo, read key by key, while this lives; its own
/// settings come back when it is dropped, also on an error or a panic.
struct Unseen {
    tty: File,
    saved: Termios,
}

impl Unseen {
    fn set(file: &File) -> io::Result<Unseen> {
        let tty = file.try_clone()?;
        let saved = termios::tcgetattr(&tty)?;
        let mut unseen = saved.clone();
        unseen.local_modes.remove(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG);
        unseen.special_codes[SpecialCodeIndex::VMIN] = 1;
        unseen.special_codes[SpecialCodeIndex::VTIME] = 0;
        restore_on_signal(Some((tty.try_clone()?, saved.clone())));
        let guard = Unseen { tty, saved };
        termios::tcsetattr(&guard.tty, OptionalActions::Now, &unseen)?;
        Ok(guard)
    }
}

impl Drop for Unseen {
    fn drop(&mut self) {
        restore_on_signal(None);
        let _ = termios::tcsetattr(&self.tty, OptionalActions::Now, &self.saved);
    }
}

/// The terminal settings to put back if a signal ends the process while they are changed.
static TO_RESTORE: Mutex<Option<(File, Termios)>> = Mutex::new(None);

/// Sets what a terminating signal (TERM, HUP, INT, QUIT) puts back before the
/// process ends as that signal's default would end it. The signals are watched
/// from the first password prompt on, by a thread that then does what the
/// default would (so a watched signal still ends the process). SIGKILL cannot
/// be watched: after it, `stty echo` gives the echo back.
fn restore_on_signal(settings: Option<(File, Termios)>) {
    static WATCHING: std::sync::Once = std::sync::Once::new();
    WATCHING.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT, SIGQUIT]) else { return };
        std::thread::spawn(move || {
            for signal in signals.forever() {
                if let Some((tty, saved)) = TO_RESTORE.lock().unwrap_or_else(PoisonError::into_inner).take() {
                    let _ = termios::tcsetattr(&tty, OptionalActions::Now, &saved);
                }
                let _ = signal_hook::low_level::emulate_default_handler(signal);
            }
        });
    });
    *TO_RESTORE.lock().unwrap_or_else(PoisonError::into_inner) = settings;
}

#[cfg(test)]
mod tests;
