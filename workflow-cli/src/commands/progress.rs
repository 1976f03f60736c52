//! What `run`, `resume` and `approve` print while a run goes: a line per step
//! that ends (with what a shell step printed, and a model step's model and
//! tokens), model answers as they stream, and for a step that takes long,
//! a line now and then saying what runs, on which model, for how long, and
//! the tokens the run has spent. All on stderr, plain lines (no cursor
//! tricks), so it reads the same in a terminal, a log file and CI.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workflow_runtime::executor::{Progress, Started, StepReport, StepStarted, StreamPiece, StreamSink};
use workflow_runtime::store::StepOutcome;

/// How many lines of a step's output are shown.
const SHOWN_LINES: usize = 20;
/// The first "still running" line comes after this long, then every [`EVERY`].
const FIRST: Duration = Duration::from_secs(5);
const EVERY: Duration = Duration::from_secs(15);

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
    pub started: Started,
    pub stream: StreamSink,
}

/// Progress printing on stderr, with a heartbeat thread for long steps.
pub fn printer() -> Printer {
    // Whether a streamed answer left the line unfinished (the next line starts a new one).
    let mid_line = Arc::new(AtomicBool::new(false));
    let running: Arc<Mutex<Option<Running>>> = Arc::default();
    spawn_heartbeat(running.clone(), mid_line.clone());

    let streaming = mid_line.clone();
    let stream: StreamSink = Arc::new(move |piece: &StreamPiece<'_>| {
        use std::io::Write;
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
            eprintln!();
        }
        eprint!("{}", step_line(step));
    });
    Printer { progress, started, stream }
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
        let model = step.model.as_deref().map(|m| format!(" · {m}")).unwrap_or_default();
        let tokens = if step.tokens > 0 { format!(" · {} tokens so far", step.tokens) } else { String::new() };
        eprintln!("  ...  {:<20} {:<16} running for {}s{model}{tokens}", step.step_id, step.action, elapsed.as_secs());
    });
    if let Err(e) = spawned {
        eprintln!("warning: no progress thread ({e}): long steps will not report while they run");
    }
}
