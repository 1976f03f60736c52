//! What `run`, `resume` and `approve` print while a run goes: a line per step
//! that ends (with what a shell step printed, and a model step's model and
//! tokens), model answers as they stream, and for a step that takes long,
//! a line now and then saying what runs, on which model, for how long, and
//! the tokens the run has spent. All on stderr.
//!
//! On a terminal, repeats of steps that already showed a line (a loop's
//! body) collapse into one line that updates in place (`ok   inc ×2000 ·
//! again ×2000`); a failure, a person's step and every first run of a step
//! still get a line of their own. `--verbose`, or stderr that is not a
//! terminal (a log file, CI), keeps every line; `--json` prints every step's
//! end, and the run's, as JSON lines on stdout instead.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workflow_runtime::executor::{Progress, Started, StepReport, StepStarted, StreamPiece, StreamSink};
use workflow_runtime::human::{Asked, Request, Terminal};
use workflow_runtime::store::StepOutcome;

/// How many lines of a step's output are shown.
const SHOWN_LINES: usize = 20;
/// The first "still running" line comes after this long, then every [`EVERY`].
const FIRST: Duration = Duration::from_secs(5);
const EVERY: Duration = Duration::from_secs(15);
/// Actions whose every run is shown: a person took part in it.
const PEOPLE: &[&str] = &["approval-gate", "interactive"];

/// How progress is shown (`run`, `resume`, `approve`, `reject`, `answer`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ProgressArgs {
    /// Print a line for every step that ends, also on a terminal (where repeats of a step otherwise update one line)
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Print every step's end and the run's end as JSON lines on stdout (for scripts) instead of progress on stderr
    #[arg(long, conflicts_with = "verbose")]
    pub json: bool,
}

/// The step running now, for the heartbeat.
struct Running {
    step_id: String,
    action: String,
    model: Option<String>,
    tokens: u64,
    since: Instant,
    next: Duration,
}

/// The three hooks of the executor's options that print progress.
pub struct Printer {
    pub progress: Progress,
    pub started: Option<Started>,
    pub stream: Option<StreamSink>,
}

/// What stderr shows at its bottom: the collapsed line of repeats, left open
/// (no newline) so it can be rewritten; one per process, as stderr is.
#[derive(Default)]
struct Screen {
    /// The collapsed line is the last thing on the screen, without its newline.
    open: bool,
    /// How often each step ended, this run.
    seen: HashMap<String, u64>,
    /// The steps on the collapsed line, in the order they first repeated.
    group: Vec<String>,
}

static SCREEN: Mutex<Option<Screen>> = Mutex::new(None);

fn screen<T>(with: impl FnOnce(&mut Screen) -> T) -> T {
    let mut guard = SCREEN.lock().unwrap_or_else(|p| p.into_inner());
    with(guard.get_or_insert_with(Screen::default))
}

/// Ends the collapsed line, if one is open, so what follows starts on a line of its own.
pub fn end_line() {
    screen(|s| {
        if s.open {
            eprintln!();
            s.open = false;
            s.group.clear();
        }
    });
}

/// Progress printing as `args` ask, with a heartbeat thread for long steps (not in JSON).
pub fn printer(args: &ProgressArgs) -> Printer {
    if args.json {
        let progress: Progress = Arc::new(|step: &StepReport| {
            let line = serde_json::json!({
                "event": "step",
                "step_id": step.step_id,
                "action": step.action,
                "outcome": step.outcome,
                "attempts": step.attempts,
                "duration_ms": step.duration_ms,
                "error": step.error,
                "output": step.output,
            });
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        });
        return Printer { progress, started: None, stream: None };
    }
    let collapse = !args.verbose && std::io::stderr().is_terminal();
    // Whether a streamed answer left the line unfinished (the next line starts a new one).
    let mid_line = Arc::new(AtomicBool::new(false));
    let running: Arc<Mutex<Option<Running>>> = Arc::default();
    spawn_heartbeat(running.clone(), mid_line.clone());

    let streaming = mid_line.clone();
    let stream: StreamSink = Arc::new(move |piece: &StreamPiece<'_>| {
        end_line();
        let mut err = std::io::stderr().lock();
        if piece.first {
            if streaming.swap(false, Ordering::Relaxed) {
                let _ = writeln!(err);
            }
            let _ = writeln!(err, "  .... {} ({})", piece.step_id, piece.model);
        }
        if !piece.text.is_empty() {
            let _ = write!(err, "{}", piece.text);
            streaming.store(!piece.text.ends_with('\n'), Ordering::Relaxed);
        }
        let _ = err.flush();
    });

    let now_running = running.clone();
    let started: Started = Arc::new(move |step: &StepStarted<'_>| {
        let mut slot = now_running.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some(Running {
            step_id: step.step_id.to_string(),
            action: step.action.to_string(),
            model: step.model.clone(),
            tokens: step.tokens,
            since: Instant::now(),
            next: FIRST,
        });
    });

    let progress: Progress = Arc::new(move |step: &StepReport| {
        *running.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if mid_line.swap(false, Ordering::Relaxed) {
            end_line();
            eprintln!();
        }
        screen(|s| {
            let count = s.seen.entry(step.step_id.clone()).or_insert(0);
            *count += 1;
            let repeat = *count > 1 && step.outcome == StepOutcome::Completed && !PEOPLE.contains(&step.action.as_str());
            if !collapse || !repeat {
                if s.open {
                    eprintln!();
                    s.open = false;
                    s.group.clear();
                }
                eprint!("{}", step_line(step));
                return;
            }
            if !s.group.contains(&step.step_id) {
                s.group.push(step.step_id.clone());
            }
            let counts: Vec<String> = s.group.iter().map(|id| format!("{id} ×{}", s.seen.get(id).copied().unwrap_or(0))).collect();
            let line = format!("  ok   {}   (last: {} {} ms)", counts.join(" · "), step.step_id, step.duration_ms);
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K{}", fit(&line, terminal_width()));
            let _ = err.flush();
            s.open = true;
        });
    });
    Printer { progress, started: Some(started), stream: Some(stream) }
}

/// A terminal that ends the collapsed line before it asks, so the question starts on a line of its own.
pub struct AfterProgress(pub Arc<dyn Terminal>);

impl Terminal for AfterProgress {
    fn ask(&self, request: &Request) -> Asked {
        end_line();
        self.0.ask(request)
    }
}

/// At most `width - 1` characters of `line` (a line as wide as the terminal would wrap, and `\r` would not return to its start).
fn fit(line: &str, width: usize) -> String {
    line.chars().take(width.saturating_sub(1).max(20)).collect()
}

/// The width of the terminal on stderr (80 when it cannot be told).
fn terminal_width() -> usize {
    rustix::termios::tcgetwinsize(std::io::stderr()).ok().map(|size| usize::from(size.ws_col)).filter(|&w| w > 0).unwrap_or(80)
}

/// The lines printed for a step that ended.
pub fn step_line(step: &StepReport) -> String {
    let mark = match step.outcome {
        StepOutcome::Completed => "ok  ",
        StepOutcome::Failed => "FAIL",
        StepOutcome::Skipped => "skip",
    };
    let retries = if step.attempts > 1 { format!(", {} attempts", step.attempts) } else { String::new() };
    // A model step says which model answered and what it cost in tokens.
    let model = step.output.get("model").and_then(|m| m.as_str()).map(|m| format!("  [{m}")).unwrap_or_default();
    let tokens = step.output.get("usage").map(|u| u["input_tokens"].as_u64().unwrap_or(0) + u["output_tokens"].as_u64().unwrap_or(0));
    let model = match (model.is_empty(), tokens) {
        (false, Some(t)) => format!("{model}, {t} tokens]"),
        (false, None) => format!("{model}]"),
        _ => String::new(),
    };
    let error = step.error.as_deref().map(|e| format!("  {e}")).unwrap_or_default();
    let mut out = format!("  {mark} {:<20} {:<16} {:>6} ms{retries}{model}{error}\n", step.step_id, step.action, step.duration_ms);
    // What a shell step printed, indented under it (the end of it, when long).
    if let Some(stdout) = step.output.get("stdout").and_then(|s| s.as_str()).filter(|s| !s.trim().is_empty()) {
        let lines: Vec<&str> = stdout.trim_end().lines().collect();
        let shown = &lines[lines.len().saturating_sub(SHOWN_LINES)..];
        if shown.len() < lines.len() {
            out.push_str(&format!("         ... {} more lines\n", lines.len() - shown.len()));
        }
        for line in shown {
            out.push_str(&format!("         | {line}\n"));
        }
    }
    out
}

/// Prints a line about the running step after [`FIRST`], then every [`EVERY`], until it ends.
fn spawn_heartbeat(running: Arc<Mutex<Option<Running>>>, mid_line: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new().name("progress".to_string()).spawn(move || loop {
        std::thread::sleep(Duration::from_millis(250));
        let mut slot = running.lock().unwrap_or_else(|p| p.into_inner());
        let Some(step) = slot.as_mut() else { continue };
        let elapsed = step.since.elapsed();
        // Not while a model streams its answer: the answer is the progress.
        if elapsed < step.next || mid_line.load(Ordering::Relaxed) {
            continue;
        }
        step.next = elapsed + EVERY;
        end_line();
        let model = step.model.as_deref().map(|m| format!(" · {m}")).unwrap_or_default();
        let tokens = if step.tokens > 0 { format!(" · {} tokens so far", step.tokens) } else { String::new() };
        eprintln!("  ...  {:<20} {:<16} running for {}s{model}{tokens}", step.step_id, step.action, elapsed.as_secs());
    });
    if let Err(e) = spawned {
        eprintln!("warning: no progress thread ({e}): long steps will not report while they run");
    }
}
