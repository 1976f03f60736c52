//! The store's connections and the thread they live on.
//!
//! The `Store` trait's writes are async and its reads are plain calls made
//! from async code. Both go to one thread of the store's own that runs a
//! single-threaded tokio runtime holding two connections: the writer's (group
//! commit, `writer.rs`) and one for everything else (`reads.rs`). A plain
//! call hands its work to that runtime and waits on a channel, so it never
//! starts a runtime inside another and works from any thread or runtime; on a
//! multi-thread tokio worker it waits inside `block_in_place`, so the
//! worker's other tasks move on meanwhile.
//!
//! A connection that is lost (the server restarted, `pg_terminate_backend`,
//! the network) is opened again on its next use, retrying for a while, so a
//! lost connection fails at most the call that was on it.

use super::config::{is_connection_lost, PgLocation};
use crate::store::StoreError;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, Statement};

/// One connection to the store's database, opened again when lost.
#[derive(Debug)]
pub struct Link {
    location: PgLocation,
    client: Option<Arc<Client>>,
    statements: HashMap<&'static str, Statement>,
    /// How long to keep trying to reconnect before a call fails.
    reconnect_for: Duration,
}

impl Link {
    /// A link that has not connected yet.
    pub fn new(location: PgLocation, reconnect_for: Duration) -> Link {
        Link { location, client: None, statements: HashMap::new(), reconnect_for }
    }

    /// Connects now (no retries: opening a store fails fast with the reason).
    pub async fn connect(&mut self) -> Result<(), StoreError> {
        let client = self.location.connect().await?;
        // Our tables, and nothing else but PostgreSQL's own, without naming the schema in every query.
        client.batch_execute(&format!("SET search_path TO {}", self.location.quoted_schema())).await?;
        self.client = Some(Arc::new(client));
        self.statements.clear();
        Ok(())
    }

    /// The connection, opened again if it was lost (retrying with backoff for `reconnect_for`).
    pub async fn client(&mut self) -> Result<Arc<Client>, StoreError> {
        if let Some(client) = self.client.as_ref().filter(|client| !client.is_closed()) {
            return Ok(client.clone());
        }
        self.client = None;
        let began = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            match self.connect().await {
                Ok(()) => {
                    tracing::info!(store = %self.location, "reconnected to the store");
                    return Ok(self.client.clone().expect("just connected"));
                }
                Err(e) if began.elapsed() + pause < self.reconnect_for => {
                    tracing::debug!(error = %e, "the store is unreachable; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The connection, and `sqls` prepared on it (once per connection). All
    /// belong to that one connection: if it is lost while preparing, the
    /// error says so ([`CallError::Postgres`]) and the next call starts over on a new one.
    pub async fn prepared<const N: usize>(&mut self, sqls: [&'static str; N]) -> Result<(Arc<Client>, [Statement; N]), CallError> {
        let client = self.client().await?;
        let mut statements = Vec::with_capacity(N);
        for sql in sqls {
            let statement = match self.statements.get(sql) {
                Some(statement) => statement.clone(),
                None => {
                    let statement = client.prepare(sql).await.map_err(|e| CallError::Postgres(noting_loss_only(self, e)))?;
                    self.statements.insert(sql, statement.clone());
                    statement
                }
            };
            statements.push(statement);
        }
        let statements = statements.try_into().unwrap_or_else(|_| unreachable!("one statement per SQL text"));
        Ok((client, statements))
    }

    /// How long a lost connection is retried before calls fail.
    pub fn reconnect_for(&self) -> Duration {
        self.reconnect_for
    }

    /// Forgets a connection found broken; the next use opens a new one.
    pub fn lost(&mut self) {
        self.client = None;
        self.statements.clear();
    }

    /// Runs `call` on the connection; when the connection was lost under it,
    /// once more on a new one. Only for calls that may run twice: reads, and
    /// writes whose second run finds the first one done (they are
    /// conditional updates, or `ON CONFLICT DO NOTHING`).
    pub async fn run<T, F, Fut>(&mut self, call: F) -> Result<T, StoreError>
    where
        F: Fn(Arc<Client>) -> Fut + Sync,
        Fut: Future<Output = Result<T, CallError>>,
    {
        match call(self.client().await?).await {
            Err(CallError::Postgres(e)) if is_connection_lost(&e) => {
                tracing::debug!(error = %super::config::error_text(&e), "the store connection was lost; calling again on a new one");
                self.lost();
                match call(self.client().await?).await {
                    Err(CallError::Postgres(e)) => Err(noting_loss(self, e)),
                    other => other.map_err(StoreError::from),
                }
            }
            other => other.map_err(StoreError::from),
        }
    }
}

/// Why a call on a connection failed: the database (maybe the connection
/// itself, which [`Link::run`] retries), or what came back.
#[derive(Debug)]
pub enum CallError {
    /// From tokio-postgres.
    Postgres(tokio_postgres::Error),
    /// Anything else (a row that did not parse, a refusal).
    Store(StoreError),
}

impl From<tokio_postgres::Error> for CallError {
    fn from(e: tokio_postgres::Error) -> CallError {
        CallError::Postgres(e)
    }
}

impl From<StoreError> for CallError {
    fn from(e: StoreError) -> CallError {
        CallError::Store(e)
    }
}

impl From<serde_json::Error> for CallError {
    fn from(e: serde_json::Error) -> CallError {
        CallError::Store(e.into())
    }
}

impl From<CallError> for StoreError {
    fn from(e: CallError) -> StoreError {
        match e {
            CallError::Postgres(e) => e.into(),
            CallError::Store(e) => e,
        }
    }
}

/// Maps a tokio-postgres error, noting on `link` when it means the connection is gone.
pub fn noting_loss(link: &mut Link, e: tokio_postgres::Error) -> StoreError {
    noting_loss_only(link, e).into()
}

/// Notes on `link` when `e` means the connection is gone; the error itself is kept.
fn noting_loss_only(link: &mut Link, e: tokio_postgres::Error) -> tokio_postgres::Error {
    if is_connection_lost(&e) {
        link.lost();
    }
    e
}

/// The thread the connections live on, and a handle to its runtime.
#[derive(Debug)]
pub struct ConnectionThread {
    handle: tokio::runtime::Handle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ConnectionThread {
    /// Starts the thread: it runs `setup` (connect, migrate), reports its
    /// result, then runs the future `setup` returned (the writer's loop) until it ends.
    pub fn start<S, Main>(setup: S) -> Result<ConnectionThread, StoreError>
    where
        S: Future<Output = Result<Main, StoreError>> + Send + 'static,
        Main: Future<Output = ()> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (ready, opened) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new().name("workflow-store-postgres".to_owned()).spawn(move || {
            runtime.block_on(async move {
                match setup.await {
                    Ok(main) => {
                        let _ = ready.send(Ok(()));
                        main.await;
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                }
            });
        })?;
        let started = ConnectionThread { handle, thread: Some(thread) };
        wait(opened).unwrap_or(Err(StoreError::Closed))?;
        Ok(started)
    }

    /// Runs `work` on the connection thread and waits for its answer (from any thread, inside a runtime or not).
    pub fn call<T, W>(&self, work: W) -> Result<T, StoreError>
    where
        T: Send + 'static,
        W: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = answer.send(work.await);
        });
        wait(answered).unwrap_or(Err(StoreError::Closed))
    }

    /// Waits for the thread to end (its main future returned).
    pub fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the store's connection thread panicked");
            }
        }
    }
}

/// Waits for a reply from the connection thread. On a tokio multi-thread
/// worker the wait goes through `block_in_place`, so the worker's other
/// tasks are handed to another thread meanwhile.
fn wait<T>(reply: std::sync::mpsc::Receiver<T>) -> Option<T> {
    let on_worker = tokio::runtime::Handle::try_current().is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if on_worker {
        tokio::task::block_in_place(|| reply.recv().ok())
    } else {
        reply.recv().ok()
    }
}
