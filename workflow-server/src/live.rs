//! Live updates: a browser (or any client) watching a run gets a
//! Server-Sent Event each time the run moves. However many watch one run,
//! one poller reads it from the store (every 250 ms, while anyone watches),
//! so a run driven by another process (`workflow run --wait`, a resume from
//! the command line) moves on the page too. Each event says where the run
//! stands; the page's script then fetches the parts of the page that changed.

use crate::auth::Person;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use workflow_runtime::store::Store;

/// How often a watched run is read.
const POLL: Duration = Duration::from_millis(250);

/// Where a watched run stands: every change of it is one event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Pulse {
    /// The run's status.
    pub status: String,
    /// Its last change (Unix milliseconds).
    pub updated_at_ms: u64,
    /// Step executions so far (the next free number).
    pub next_seq: u64,
    /// The step it is at, if any.
    pub step: Option<String>,
}

/// One Server-Sent Event as a client reads it: `event: run`, and a [`Pulse`] as JSON in `data`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LiveEvent {
    /// Always `run`.
    pub event: String,
    /// A Pulse, as JSON text.
    pub data: String,
}

type Senders = Arc<Mutex<HashMap<String, watch::Sender<Option<Pulse>>>>>;

/// The runs being watched, one poller each.
#[derive(Default)]
pub struct Watches {
    runs: Senders,
}

impl Watches {
    /// A receiver of `run`'s pulses, starting its poller when nobody watched it yet.
    pub fn subscribe<S: Store>(&self, store: Arc<S>, run: &str) -> watch::Receiver<Option<Pulse>> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = runs.get(run) {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(None);
        runs.insert(run.to_string(), sender.clone());
        tokio::spawn(poll(store, run.to_string(), sender, self.runs.clone()));
        receiver
    }

    /// How many runs have a poller now.
    pub fn watched(&self) -> usize {
        self.runs.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

async fn poll<S: Store>(store: Arc<S>, run: String, sender: watch::Sender<Option<Pulse>>, runs: Senders) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if sender.receiver_count() == 0 {
            // Checked again under the lock: a watcher subscribing now finds the sender or starts a new poller.
            let mut watched = runs.lock().unwrap_or_else(|p| p.into_inner());
            if sender.receiver_count() == 0 {
                watched.remove(&run);
                return;
            }
        }
        let (store, id) = (store.clone(), run.clone());
        let pulse = match tokio::task::spawn_blocking(move || store.load_run(&id)).await {
            Ok(Ok(Some(record))) => Pulse {
                status: record.status.as_str().to_string(),
                updated_at_ms: record.updated_at_ms,
                next_seq: record.next_seq,
                step: record.open.map(|o| o.step_id),
            },
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                tracing::warn!(run = %run, error = %e, "live: cannot read the run");
                continue;
            }
            Err(_) => return,
        };
        sender.send_if_modified(|current| {
            let changed = current.as_ref() != Some(&pulse);
            if changed {
                *current = Some(pulse);
            }
            changed
        });
    }
}

/// Server-Sent Events of one run: an `run` event (a [`Pulse`] as JSON) each time it moves.
#[utoipa::path(get, path = "/api/v1/runs/{id}/live", tag = "runs", params(("id" = String, Path, description = "The run's id")),
    responses((status = 200, description = "An event stream (text/event-stream); each `run` event's data is a Pulse", content_type = "text/event-stream", body = LiveEvent),
              (status = 401, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn live<S: Store>(
    State(state): State<AppState<S>>,
    _person: Person,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if state.store.load_run(&id)?.is_none() {
        return Err(ApiError::no_run(&id));
    }
    let receiver = state.watches.subscribe(state.store.clone(), &id);
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.changed().await.ok()?;
        let pulse = receiver.borrow_and_update().clone();
        let event = Event::default().event("run").json_data(&pulse).unwrap_or_else(|_| Event::default().event("run"));
        Some((Ok(event), receiver))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
