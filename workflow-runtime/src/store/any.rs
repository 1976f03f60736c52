//! Either store, chosen by where it is: a `postgres://` (or `postgresql://`)
//! URL opens a [`PostgresStore`], anything else is a SQLite file path (the
//! default). Commands take an [`AnyStore`] and work against both alike.
//!
//! ```
//! use workflow_runtime::store::any::{AnyStore, StoreLocation};
//! use workflow_runtime::store::Store;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("runs.db");
//! let location = StoreLocation::parse(path.to_str().unwrap()).unwrap();
//! assert!(matches!(location, StoreLocation::Sqlite(_)));
//! let store = AnyStore::open(&location).unwrap();
//! assert!(store.load_run("no-such-run").unwrap().is_none());
//! assert!(matches!(StoreLocation::parse("postgres://ci@db:5432/runs?schema=team").unwrap(), StoreLocation::Postgres(_)));
//! ```

use super::postgres::{PgLocation, PostgresOptions, PostgresStore};
use super::sqlite::{SqliteOptions, SqliteStore};
use super::{
    Control, Fence, LeaseOwner, LeaseResult, NewRun, Question, RunFilter, RunId, RunPageQuery, RunRecord, RunStatus, RunSummary, StepDurations, StepEnd,
    StepEvent, StepProcess, StepStart, Store, StoreError, TokenRecord,
};
use crate::human::{Answer, Request, RequestKind};
use std::fmt;
use std::path::PathBuf;

/// Where a store is.
#[derive(Clone, Debug)]
pub enum StoreLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database and schema.
    Postgres(Box<PgLocation>),
}

impl StoreLocation {
    /// `postgres://...` or `postgresql://...` is PostgreSQL; any other text is a file path.
    pub fn parse(location: &str) -> Result<StoreLocation, StoreError> {
        if PgLocation::is_url(location) {
            return PgLocation::parse(location).map(|location| StoreLocation::Postgres(Box::new(location)));
        }
        if location.is_empty() {
            return Err(StoreError::Location { location: String::new(), reason: "the location is empty: give a file path or a postgres:// URL".to_owned() });
        }
        Ok(StoreLocation::Sqlite(PathBuf::from(location)))
    }
}

impl fmt::Display for StoreLocation {
    /// The path, or the URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(location) => write!(f, "{location}"),
        }
    }
}

/// A SQLite or a PostgreSQL store.
#[derive(Debug)]
pub enum AnyStore {
    /// One SQLite file.
    Sqlite(SqliteStore),
    /// A PostgreSQL schema.
    Postgres(PostgresStore),
}

impl AnyStore {
    /// Opens the store at `location` with default options.
    pub fn open(location: &StoreLocation) -> Result<AnyStore, StoreError> {
        Ok(match location {
            StoreLocation::Sqlite(path) => AnyStore::Sqlite(SqliteStore::open(path, SqliteOptions::default())?),
            StoreLocation::Postgres(location) => AnyStore::Postgres(PostgresStore::open(location, PostgresOptions::default())?),
        })
    }
}

impl From<SqliteStore> for AnyStore {
    fn from(store: SqliteStore) -> AnyStore {
        AnyStore::Sqlite(store)
    }
}

impl From<PostgresStore> for AnyStore {
    fn from(store: PostgresStore) -> AnyStore {
        AnyStore::Postgres(store)
    }
}

/// The same call on whichever store it is.
macro_rules! on_either {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($store) => $call,
            AnyStore::Postgres($store) => $call,
        }
    };
}

impl Store for AnyStore {
    fn is_durable(&self) -> bool {
        on_either!(self, store => store.is_durable())
    }

    async fn create_run(&self, run: NewRun) -> Result<Fence, StoreError> {
        on_either!(self, store => store.create_run(run).await)
    }

    async fn start_step(&self, run: &str, fence: &Fence, start: StepStart) -> Result<(), StoreError> {
        on_either!(self, store => store.start_step(run, fence, start).await)
    }

    async fn end_step(&self, run: &str, fence: &Fence, end: StepEnd) -> Result<Control, StoreError> {
        on_either!(self, store => store.end_step(run, fence, end).await)
    }

    async fn set_status(
        &self,
        run: &str,
        fence: &Fence,
        status: RunStatus,
        reason: Option<String>,
        output: Option<serde_json::Value>,
    ) -> Result<(), StoreError> {
        on_either!(self, store => store.set_status(run, fence, status, reason, output).await)
    }

    fn acquire_lease(&self, run: &str, owner: &LeaseOwner, ttl_ms: u64) -> Result<LeaseResult, StoreError> {
        on_either!(self, store => store.acquire_lease(run, owner, ttl_ms))
    }

    fn renew_lease(&self, run: &str, fence: &Fence, ttl_ms: u64) -> Result<bool, StoreError> {
        on_either!(self, store => store.renew_lease(run, fence, ttl_ms))
    }

    fn request(&self, run: &str, control: Control) -> Result<(), StoreError> {
        on_either!(self, store => store.request(run, control))
    }

    fn pending_control(&self, run: &str) -> Result<Control, StoreError> {
        on_either!(self, store => store.pending_control(run))
    }

    async fn record_process(&self, run: &str, fence: &Fence, process: StepProcess) -> Result<(), StoreError> {
        on_either!(self, store => store.record_process(run, fence, process).await)
    }

    fn open_process(&self, run: &str) -> Result<Option<StepProcess>, StoreError> {
        on_either!(self, store => store.open_process(run))
    }

    fn load_run(&self, run: &str) -> Result<Option<RunRecord>, StoreError> {
        on_either!(self, store => store.load_run(run))
    }

    fn find_ids(&self, prefix: &str) -> Result<Vec<RunId>, StoreError> {
        on_either!(self, store => store.find_ids(prefix))
    }

    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        on_either!(self, store => store.list_runs(filter))
    }

    fn latest_resumable(&self, workflow: &str) -> Result<Option<RunId>, StoreError> {
        on_either!(self, store => store.latest_resumable(workflow))
    }

    fn events(&self, run: &str) -> Result<Vec<StepEvent>, StoreError> {
        on_either!(self, store => store.events(run))
    }

    fn ask(&self, request: &Request) -> Result<bool, StoreError> {
        on_either!(self, store => store.ask(request))
    }

    fn answer(&self, run: &str, seq: u64, kind: RequestKind, answer: &Answer) -> Result<bool, StoreError> {
        on_either!(self, store => store.answer(run, seq, kind, answer))
    }

    fn questions(&self, run: &str) -> Result<Vec<Question>, StoreError> {
        on_either!(self, store => store.questions(run))
    }

    fn runs_page(&self, query: &RunPageQuery) -> Result<Vec<RunSummary>, StoreError> {
        on_either!(self, store => store.runs_page(query))
    }

    fn child_runs(&self, run: &str) -> Result<Vec<RunSummary>, StoreError> {
        on_either!(self, store => store.child_runs(run))
    }

    fn run_counts(&self) -> Result<Vec<(RunStatus, u64)>, StoreError> {
        on_either!(self, store => store.run_counts())
    }

    fn step_durations(&self, bounds_ms: &[u64]) -> Result<StepDurations, StoreError> {
        on_either!(self, store => store.step_durations(bounds_ms))
    }

    fn open_questions(&self) -> Result<Vec<Question>, StoreError> {
        on_either!(self, store => store.open_questions())
    }

    fn add_token(&self, token: &TokenRecord) -> Result<bool, StoreError> {
        on_either!(self, store => store.add_token(token))
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        on_either!(self, store => store.tokens())
    }

    fn revoke_token(&self, name: &str, at_ms: u64) -> Result<bool, StoreError> {
        on_either!(self, store => store.revoke_token(name, at_ms))
    }
}
