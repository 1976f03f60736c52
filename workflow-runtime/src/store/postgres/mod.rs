//! The team store: runs in one PostgreSQL database, shared by every process
//! and host that opens it with the same URL.
//!
//! Same tables and meaning as the SQLite store (JSON as `jsonb`), in a
//! schema of its own (default `workflow`, `?schema=NAME` to choose), with
//! versioned migrations under an advisory lock and the same refusal of a
//! schema that is not ours. Step writes go through group commit (many runs'
//! writes in one pipelined transaction, `writer.rs`); every write is fenced
//! by the lease epoch it holds. Connections live on a thread of the store's
//! own (`connection.rs`) and are opened again when lost. See
//! `docs/store.md`.
//!
//! ```no_run
//! use workflow_runtime::store::postgres::{PgLocation, PostgresOptions, PostgresStore};
//! use workflow_runtime::store::Store;
//!
//! let location = PgLocation::parse("postgres://postgres@127.0.0.1:5432/test?schema=workflow").unwrap();
//! let store = PostgresStore::open(&location, PostgresOptions::default()).unwrap();
//! assert!(store.load_run("no-such-run").unwrap().is_none());
//! ```

mod config;
mod connection;
mod overview;
mod reads;
mod rows;
mod schema;
mod writer;

pub use config::{PgLocation, DEFAULT_CONNECT_TIMEOUT, DEFAULT_SCHEMA};
pub use schema::APPLICATION_ID;

use super::memory::{is_finished, now_ms};
use super::{
    Control, Fence, LeaseOwner, LeaseResult, NewRun, Question, RunFilter, RunId, RunPageQuery, RunRecord, RunStatus, RunSummary, StepDurations, StepEnd,
    StepEvent, StepProcess, StepStart, Store, StoreError, TokenRecord,
};
use crate::human::{Answer, Request, RequestKind};
use connection::{CallError, ConnectionThread, Link};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Client;
use writer::{CreateRow, EndRow, Job, Write};

/// The schema version this program creates and reads (`store_identity.version`).
pub fn schema_version() -> u32 {
    schema::current_version() as u32
}

/// How to open a [`PostgresStore`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PostgresOptions {
    /// How long a call keeps trying to reconnect after the connection was lost, before it fails.
    pub reconnect_for: Duration,
    /// Connections the writer commits batches on, one batch each at a time (at least 1; 2 by
    /// default: while one batch waits for its commit, the next is sent). Each is opened at its first batch.
    pub writer_connections: usize,
}

impl Default for PostgresOptions {
    fn default() -> PostgresOptions {
        PostgresOptions { reconnect_for: Duration::from_secs(30), writer_connections: 2 }
    }
}

/// Runs in a PostgreSQL schema, shared by every process that opens it.
#[derive(Debug)]
pub struct PostgresStore {
    location: PgLocation,
    // Dropped first: the writer commits what is queued, then its thread ends.
    writes: Option<mpsc::UnboundedSender<Job>>,
    direct: Arc<tokio::sync::Mutex<Link>>,
    thread: ConnectionThread,
}

impl PostgresStore {
    /// Connects, checks the schema is ours (creating it if missing or empty)
    /// and migrates it if older. A schema holding another application's
    /// tables is refused with [`StoreError::ForeignSchema`] and left as it
    /// was; an unreachable server, a wrong password or a missing database
    /// fail with [`StoreError::Connect`] saying which and what to do.
    pub fn open(location: &PgLocation, options: PostgresOptions) -> Result<PostgresStore, StoreError> {
        let (writes, queue) = mpsc::unbounded_channel();
        let direct = Arc::new(tokio::sync::Mutex::new(Link::new(location.clone(), options.reconnect_for)));
        let setup = {
            let (location, direct) = (location.clone(), direct.clone());
            async move {
                let mut client = location.connect().await?;
                schema::migrate(&mut client, &location).await?;
                drop(client);
                direct.lock().await.connect().await?;
                // The writer connects at its first write: commands that only read never open it.
                let links = (0..options.writer_connections.max(1)).map(|_| Link::new(location.clone(), options.reconnect_for)).collect();
                Ok(writer::write_loop(links, queue))
            }
        };
        let thread = ConnectionThread::start(setup)?;
        Ok(PostgresStore { location: location.clone(), writes: Some(writes), direct, thread })
    }

    /// Where it is (the URL without its password, and the schema).
    pub fn location(&self) -> &PgLocation {
        &self.location
    }

    async fn submit(&self, write: Write) -> Result<Control, StoreError> {
        let (reply, answer) = oneshot::channel();
        let queue = self.writes.as_ref().ok_or(StoreError::Closed)?;
        queue.send(Job { write, reply }).map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `call` with the direct connection on the store's thread and waits for it.
    fn direct<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(Arc<Client>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, CallError>> + Send + 'static,
    {
        let link = self.direct.clone();
        self.thread.call(async move { link.lock().await.run(call).await })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        drop(self.writes.take());
        self.thread.join();
    }
}

impl Store for PostgresStore {
    fn is_durable(&self) -> bool {
        true
    }

    async fn create_run(&self, run: NewRun) -> Result<Fence, StoreError> {
        let fence = Fence { owner: run.owner.id.clone(), epoch: 1 };
        // Serialized here, on the caller's thread, so the writer only talks to the database.
        let row = CreateRow {
            input: rows::json_text(&run.input)?,
            state: rows::json_text(&run.state)?,
            target: rows::json_text(&serde_json::to_value(run.target)?)?,
            definition: run.definition,
            id: run.id,
            workflow: run.workflow,
            definition_hash: run.definition_hash,
            parent_run_id: run.parent_run_id,
            cwd: run.cwd.map(|cwd| rows::text(&cwd).into_owned()),
            source: run.source.map(|source| rows::text(&source).into_owned()),
            first: run.first,
            owner: run.owner,
            lease_ms: run.lease_ms,
            now: now_ms(),
        };
        self.submit(Write::Create(Box::new(row))).await.map(|_| fence)
    }

    async fn start_step(&self, run: &str, fence: &Fence, start: StepStart) -> Result<(), StoreError> {
        let write = Write::Start { run: run.to_owned(), fence: fence.clone(), start, now: now_ms() };
        self.submit(write).await.map(drop)
    }

    async fn end_step(&self, run: &str, fence: &Fence, end: StepEnd) -> Result<Control, StoreError> {
        let row = EndRow {
            run: run.to_owned(),
            fence: fence.clone(),
            seq: end.seq,
            outcome: end.outcome.as_str(),
            output: rows::json_text(&end.output)?,
            error: end.error.map(|error| rows::text(&error).into_owned()),
            attempts: end.attempts,
            duration_ms: end.duration_ms,
            state: end.state.as_ref().map(rows::json_text).transpose()?,
            target: rows::json_text(&serde_json::to_value(end.target)?)?,
            next: end.next,
            now: now_ms(),
        };
        self.submit(Write::End(Box::new(row))).await
    }

    async fn set_status(
        &self,
        run: &str,
        fence: &Fence,
        status: RunStatus,
        reason: Option<String>,
        output: Option<serde_json::Value>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let write = Write::Status {
            run: run.to_owned(),
            fence: fence.clone(),
            status,
            reason: reason.map(|reason| rows::text(&reason).into_owned()),
            output: output.as_ref().map(rows::json_text).transpose()?,
            finished_at_ms: is_finished(status).then_some(now),
            keep_lease: status == RunStatus::Running,
            now,
        };
        self.submit(write).await.map(drop)
    }

    fn acquire_lease(&self, run: &str, owner: &LeaseOwner, ttl_ms: u64) -> Result<LeaseResult, StoreError> {
        let (run, owner) = (run.to_owned(), owner.clone());
        self.direct(move |client| {
            let (run, owner) = (run.clone(), owner.clone());
            async move { reads::acquire_lease(&client, &run, &owner, ttl_ms).await }
        })
    }

    fn renew_lease(&self, run: &str, fence: &Fence, ttl_ms: u64) -> Result<bool, StoreError> {
        let (run, fence) = (run.to_owned(), fence.clone());
        self.direct(move |client| {
            let (run, fence) = (run.clone(), fence.clone());
            async move { reads::renew_lease(&client, &run, &fence, ttl_ms).await }
        })
    }

    fn request(&self, run: &str, control: Control) -> Result<(), StoreError> {
        let run = run.to_owned();
        self.direct(move |client| {
            let run = run.clone();
            async move { reads::request(&client, &run, control).await }
        })
    }

    fn pending_control(&self, run: &str) -> Result<Control, StoreError> {
        let run = run.to_owned();
        self.direct(move |client| {
            let run = run.clone();
            async move { reads::pending_control(&client, &run).await }
        })
    }

    async fn record_process(&self, run: &str, fence: &Fence, process: StepProcess) -> Result<(), StoreError> {
        self.submit(Write::Process { run: run.to_owned(), fence: fence.clone(), process }).await.map(drop)
    }

    fn open_process(&self, run: &str) -> Result<Option<StepProcess>, StoreError> {
        let run = run.to_owned();
        self.direct(move |client| {
            let run = run.clone();
            async move { reads::open_process(&client, &run).await }
        })
    }

    fn load_run(&self, run: &str) -> Result<Option<RunRecord>, StoreError> {
        let run = run.to_owned();
        self.direct(move |client| {
            let run = run.clone();
            async move { reads::load_run(&client, &run).await }
        })
    }

    fn find_ids(&self, prefix: &str) -> Result<Vec<RunId>, StoreError> {
        let prefix = prefix.to_owned();
        self.direct(move |client| {
            let prefix = prefix.clone();
            async move { reads::find_ids(&client, &prefix).await }
        })
    }

    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        let filter = filter.clone();
        self.direct(move |client| {
            let filter = filter.clone();
            async move { reads::list_runs(&client, &filter).await }
        })
    }

    fn latest_resumable(&self, workflow: &str) -> Result<Option<RunId>, StoreError> {
        let workflow = workflow.to_owned();
        self.direct(move |client| {
            let workflow = workflow.clone();
            async move { reads::latest_resumable(&client, &workflow).await }
        })
    }

    fn events(&self, run: &str) -> Result<Vec<StepEvent>, StoreError> {
        let run = run.to_owned();
        self.direct(move |client| {
            let run = run.clone();
            async move { reads::events(&client, &run).await }
        })
    }

    fn ask(&self, request: &Request) -> Result<bool, StoreError> {
        let text = rows::json_text(&serde_json::to_value(request)?)?;
        let request = request.clone();
        self.direct(move |client| {
            let (request, text) = (request.clone(), text.clone());
            async move { reads::ask(&client, &request, &text).await }
        })
    }

    fn answer(&self, run: &str, seq: u64, kind: RequestKind, answer: &Answer) -> Result<bool, StoreError> {
        let text = rows::json_text(&serde_json::to_value(answer)?)?;
        let (run, answer) = (run.to_owned(), answer.clone());
        self.direct(move |client| {
            let (run, answer, text) = (run.clone(), answer.clone(), text.clone());
            async move { reads::answer(&client, &run, seq, kind, &answer, &text).await }
        })
    }

    fn questions(&self, run: &str) -> Result<Vec<Question>, StoreError> {
        let run = run.to_owned();
        self.direct(move |client| {
            let run = run.clone();
            async move { reads::questions(&client, &run).await }
        })
    }

    fn runs_page(&self, query: &RunPageQuery) -> Result<Vec<RunSummary>, StoreError> {
        let query = query.clone();
        self.direct(move |client| {
            let query = query.clone();
            async move { overview::runs_page(&client, &query).await }
        })
    }

    fn child_runs(&self, run: &str) -> Result<Vec<RunSummary>, StoreError> {
        let run = run.to_owned();
        self.direct(move |client| {
            let run = run.clone();
            async move { overview::child_runs(&client, &run).await }
        })
    }

    fn run_counts(&self) -> Result<Vec<(RunStatus, u64)>, StoreError> {
        self.direct(|client| async move { overview::run_counts(&client).await })
    }

    fn step_durations(&self, bounds_ms: &[u64]) -> Result<StepDurations, StoreError> {
        let bounds_ms = bounds_ms.to_vec();
        self.direct(move |client| {
            let bounds_ms = bounds_ms.clone();
            async move { overview::step_durations(&client, &bounds_ms).await }
        })
    }

    fn open_questions(&self) -> Result<Vec<Question>, StoreError> {
        self.direct(|client| async move { overview::open_questions(&client).await })
    }

    fn add_token(&self, token: &TokenRecord) -> Result<bool, StoreError> {
        let token = token.clone();
        self.direct(move |client| {
            let token = token.clone();
            async move { overview::add_token(&client, &token).await }
        })
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.direct(|client| async move { overview::tokens(&client).await })
    }

    fn revoke_token(&self, name: &str, at_ms: u64) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.direct(move |client| {
            let name = name.clone();
            async move { overview::revoke_token(&client, &name, at_ms).await }
        })
    }
}
