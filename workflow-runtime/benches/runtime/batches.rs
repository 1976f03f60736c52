//! Group-commit batches, seen through the writers' `trace!` event (SQLite's and PostgreSQL's).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{span, Event, Metadata, Subscriber};

static RECORDING: AtomicBool = AtomicBool::new(false);
static SEEN: Mutex<Vec<(Instant, u64)>> = Mutex::new(Vec::new());
static NEXT_SPAN: AtomicU64 = AtomicU64::new(1);

/// Listens only to `store batch committed` (its `writes` field); every other callsite is off, as with no subscriber.
struct Batches;

fn wanted(meta: &Metadata<'_>) -> bool {
    let writer = meta.target().ends_with("store::sqlite::writer") || meta.target().ends_with("store::postgres::writer");
    meta.is_event() && writer && meta.fields().field("writes").is_some()
}

struct Writes(Option<u64>);

impl Visit for Writes {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "writes" {
            self.0 = Some(value);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "writes" {
            self.0 = u64::try_from(value).ok();
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl Subscriber for Batches {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if wanted(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        wanted(meta)
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(NEXT_SPAN.fetch_add(1, Ordering::Relaxed))
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &Event<'_>) {
        if !RECORDING.load(Ordering::Relaxed) {
            return;
        }
        let mut writes = Writes(None);
        event.record(&mut writes);
        if let Some(n) = writes.0 {
            SEEN.lock().unwrap_or_else(PoisonError::into_inner).push((Instant::now(), n));
        }
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

/// Installs the listener for the whole process.
pub fn install() {
    let _ = tracing::subscriber::set_global_default(Batches);
}

/// Starts recording batches (forgetting earlier ones).
pub fn start() {
    SEEN.lock().unwrap_or_else(PoisonError::into_inner).clear();
    RECORDING.store(true, Ordering::Relaxed);
}

/// Stops and returns the batches committed since `start`: (when, writes).
pub fn stop() -> Vec<(Instant, u64)> {
    RECORDING.store(false, Ordering::Relaxed);
    std::mem::take(&mut *SEEN.lock().unwrap_or_else(PoisonError::into_inner))
}
