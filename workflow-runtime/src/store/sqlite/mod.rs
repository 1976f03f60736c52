//! The embedded store: one SQLite file in WAL mode.
//!
//! Step writes go to a writer thread that commits whatever is queued in one
//! transaction (group commit), so many runs in flight share fsyncs. Reads,
//! leases and requests use a second connection; WAL lets them run beside the
//! writer, and leases are taken in `BEGIN IMMEDIATE` transactions so they
//! are correct across processes. See `docs/store.md` for the schema and the
//! audit queries it is built for.
//!
//! ```
//! use workflow_runtime::store::sqlite::{SqliteOptions, SqliteStore};
//! use workflow_runtime::store::Store;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::open(dir.path().join("runs.db"), SqliteOptions::default()).unwrap();
//! assert!(store.is_durable());
//! assert!(store.load_run("no-such-run").unwrap().is_none());
//! ```

mod overview;
mod rows;
mod schema;
mod writer;

use super::memory::{lease_is_free, now_ms};
use super::{
    Control, Fence, LeaseOwner, LeaseResult, NewRun, Question, RunFilter, RunId, RunPageQuery, RunRecord, RunStatus, RunSummary, StepDurations, StepEnd,
    StepEvent, StepProcess, StepStart, Store, StoreError, TokenRecord,
};
use crate::human::{Answer, Request, RequestKind};
use rows::RawRun;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use writer::{CreateRow, EndRow, Write, Writer};

pub use schema::APPLICATION_ID;

/// The schema version this program creates and reads (`PRAGMA user_version`).
pub fn schema_version() -> u32 {
    schema::current_version()
}

/// How hard SQLite works to make a commit survive a power cut (`PRAGMA synchronous`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Synchronous {
    /// Every commit is on disk before it is acknowledged.
    #[default]
    Full,
    /// In WAL mode, a power cut may lose the last commits, never corrupt the file.
    Normal,
    /// The OS decides when data reaches the disk (tests and benchmarks).
    Off,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
            Synchronous::Off => "OFF",
        }
    }
}

/// How to open a [`SqliteStore`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SqliteOptions {
    /// Durability of each commit.
    pub synchronous: Synchronous,
    /// How long to wait for another process's write lock before failing.
    pub busy_timeout_ms: u64,
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions { synchronous: Synchronous::Full, busy_timeout_ms: 5000 }
    }
}

/// Runs in a SQLite file, shared safely by every process that opens it.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    // Declared first so it is dropped first: queued writes commit before the store goes away.
    writer: Writer,
    direct: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens the store at `path`, creating it (and its directory) if missing
    /// and migrating an older schema. A file that is not a workflow store is
    /// refused with [`StoreError::Foreign`] and left byte for byte as it was.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        let busy_timeout = Duration::from_millis(options.busy_timeout_ms);
        schema::inspect(path, busy_timeout)?;
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut write = connect(path, &options)?;
        schema::migrate(&mut write, path)?;
        // After the migrations, whose transactions re-check the file is ours: switching to WAL writes the header.
        let mode: String = write.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(store = %path.display(), mode, "the store could not switch to WAL; readers will wait for writers");
        }
        let direct = connect(path, &options)?;
        Ok(SqliteStore { path: path.to_owned(), writer: Writer::spawn(write)?, direct: Mutex::new(direct) })
    }

    /// The file it was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn direct(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the connection leaves no transaction open: rusqlite rolls back on drop.
        self.direct.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn connect(path: &Path, options: &SqliteOptions) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_millis(options.busy_timeout_ms))?;
    conn.pragma_update(None, "synchronous", options.synchronous.pragma())?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

impl Store for SqliteStore {
    fn is_durable(&self) -> bool {
        true
    }

    async fn create_run(&self, run: NewRun) -> Result<Fence, StoreError> {
        let now = now_ms();
        let fence = Fence { owner: run.owner.id.clone(), epoch: 1 };
        // Serialized here, on the caller's thread, so the writer thread only talks to SQLite.
        let row = CreateRow {
            definition: run.definition.to_string(),
            input: serde_json::to_string(&run.input)?,
            state: serde_json::to_string(&run.state)?,
            target: serde_json::to_string(&run.target)?,
            id: run.id,
            workflow: run.workflow,
            definition_hash: run.definition_hash,
            parent_run_id: run.parent_run_id,
            cwd: run.cwd,
            source: run.source,
            first: run.first,
            owner: run.owner,
            lease_until_ms: now.saturating_add(run.lease_ms),
            now,
        };
        self.writer.submit(Write::Create(row)).await.map(|_| fence)
    }

    async fn start_step(&self, run: &str, fence: &Fence, start: StepStart) -> Result<(), StoreError> {
        let write = Write::Start { run: run.to_owned(), fence: fence.clone(), start, now: now_ms() };
        self.writer.submit(write).await.map(drop)
    }

    async fn end_step(&self, run: &str, fence: &Fence, end: StepEnd) -> Result<Control, StoreError> {
        let row = EndRow {
            run: run.to_owned(),
            fence: fence.clone(),
            seq: end.seq,
            outcome: rows::outcome_word(end.outcome),
            output: serde_json::to_string(&end.output)?,
            error: end.error,
            attempts: end.attempts,
            duration_ms: end.duration_ms,
            state: end.state.as_ref().map(serde_json::to_string).transpose()?,
            target: serde_json::to_string(&end.target)?,
            next: end.next,
            now: now_ms(),
        };
        self.writer.submit(Write::End(row)).await
    }

    async fn set_status(
        &self,
        run: &str,
        fence: &Fence,
        status: RunStatus,
        reason: Option<String>,
        output: Option<serde_json::Value>,
    ) -> Result<(), StoreError> {
        let output = output.as_ref().map(serde_json::to_string).transpose()?;
        let write = Write::Status { run: run.to_owned(), fence: fence.clone(), status, reason, output, now: now_ms() };
        self.writer.submit(write).await.map(drop)
    }

    fn acquire_lease(&self, run: &str, owner: &LeaseOwner, ttl_ms: u64) -> Result<LeaseResult, StoreError> {
        let mut conn = self.direct();
        // IMMEDIATE takes the write lock before reading, so two processes cannot both see the lease free.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = now_ms();
        let (held, epoch) = tx
            .query_row("SELECT lease_owner, lease_pid, lease_host, lease_until_ms, lease_epoch FROM runs WHERE id = ?1", [run], |row| {
                Ok((rows::lease(row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?), row.get::<_, u64>(4)?))
            })
            .optional()?
            .ok_or_else(|| StoreError::RunNotFound(run.to_owned()))?;
        if let Some(held) = held.filter(|held| !lease_is_free(held, owner, now)) {
            return Ok(LeaseResult::HeldBy(held));
        }
        let epoch = epoch + 1;
        tx.execute(
            "UPDATE runs SET lease_owner = ?2, lease_pid = ?3, lease_host = ?4, lease_until_ms = ?5, lease_epoch = ?6, updated_at_ms = ?7 WHERE id = ?1",
            params![run, owner.id, owner.pid, owner.host, now.saturating_add(ttl_ms), epoch, now],
        )?;
        tx.commit()?;
        Ok(LeaseResult::Acquired(Fence { owner: owner.id.clone(), epoch }))
    }

    fn renew_lease(&self, run: &str, fence: &Fence, ttl_ms: u64) -> Result<bool, StoreError> {
        let conn = self.direct();
        let until = now_ms().saturating_add(ttl_ms);
        let renewed = conn.execute(
            "UPDATE runs SET lease_until_ms = ?4 WHERE id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
            params![run, fence.owner, fence.epoch, until],
        )?;
        if renewed == 1 {
            return Ok(true);
        }
        match conn.query_row("SELECT 1 FROM runs WHERE id = ?1", [run], |_| Ok(())).optional()? {
            Some(()) => Ok(false),
            None => Err(StoreError::RunNotFound(run.to_owned())),
        }
    }

    fn request(&self, run: &str, control: Control) -> Result<(), StoreError> {
        let conn = self.direct();
        let changed = conn.execute("UPDATE runs SET control = ?2, updated_at_ms = ?3 WHERE id = ?1", params![run, rows::control_word(control), now_ms()])?;
        if changed == 0 {
            return Err(StoreError::RunNotFound(run.to_owned()));
        }
        Ok(())
    }

    fn pending_control(&self, run: &str) -> Result<Control, StoreError> {
        let word: Option<String> = self.direct().prepare_cached("SELECT control FROM runs WHERE id = ?1")?.query_row([run], |row| row.get(0)).optional()?;
        word.map_or(Ok(Control::None), |word| rows::parse_control(&word))
    }

    async fn record_process(&self, run: &str, fence: &Fence, process: StepProcess) -> Result<(), StoreError> {
        self.writer.submit(Write::Process { run: run.to_owned(), fence: fence.clone(), process }).await.map(drop)
    }

    fn open_process(&self, run: &str) -> Result<Option<StepProcess>, StoreError> {
        let conn = self.direct();
        let found = conn
            .prepare_cached(
                "SELECT e.seq, e.process_host, e.process_group FROM runs r JOIN step_events e ON e.run_id = r.id AND e.seq = r.open_seq
                 WHERE r.id = ?1 AND e.process_group IS NOT NULL",
            )?
            .query_row([run], |row| Ok(StepProcess { seq: row.get(0)?, host: row.get::<_, Option<String>>(1)?.unwrap_or_default(), group: row.get(2)? }))
            .optional()?;
        Ok(found)
    }

    fn load_run(&self, run: &str) -> Result<Option<RunRecord>, StoreError> {
        let sql = format!("SELECT {} FROM {} WHERE r.id = ?1", rows::RUN_COLUMNS, rows::RUN_FROM);
        let raw = self.direct().prepare_cached(&sql)?.query_row([run], rows::run_record).optional()?;
        raw.map(RawRun::parse).transpose()
    }

    fn find_ids(&self, prefix: &str) -> Result<Vec<RunId>, StoreError> {
        let conn = self.direct();
        // Not LIKE: `_` and `%` in a prefix would be wildcards.
        let mut query = conn.prepare_cached("SELECT id FROM runs WHERE id >= ?1 AND substr(id, 1, length(?1)) = ?1 ORDER BY id")?;
        let ids = query.query_map([prefix], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        let mut sql = format!("SELECT {} FROM runs WHERE 1 = 1", rows::SUMMARY_COLUMNS);
        let mut args = Vec::new();
        if let Some(workflow) = &filter.workflow {
            sql.push_str(" AND workflow = ?");
            args.push(Value::Text(workflow.clone()));
        }
        if let Some(status) = filter.status {
            sql.push_str(" AND status = ?");
            args.push(Value::Text(status.as_str().to_owned()));
        }
        if let Some(since) = filter.since_ms {
            sql.push_str(" AND created_at_ms >= ?");
            args.push(Value::Integer(i64::try_from(since).unwrap_or(i64::MAX)));
        }
        if let Some(until) = filter.until_ms {
            sql.push_str(" AND created_at_ms < ?");
            args.push(Value::Integer(i64::try_from(until).unwrap_or(i64::MAX)));
        }
        sql.push_str(" ORDER BY created_at_ms DESC, id DESC");
        if let Some(limit) = filter.limit {
            sql.push_str(" LIMIT ?");
            args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        }
        let raw: Vec<_> = self.direct().prepare_cached(&sql)?.query_map(params_from_iter(args), rows::run_summary)?.collect::<rusqlite::Result<_>>()?;
        raw.into_iter().map(rows::RawSummary::parse).collect()
    }

    fn latest_resumable(&self, workflow: &str) -> Result<Option<RunId>, StoreError> {
        let conn = self.direct();
        let id = conn
            .prepare_cached(
                "SELECT id FROM runs WHERE workflow = ?1 AND status NOT IN ('completed', 'cancelled') ORDER BY created_at_ms DESC, id DESC LIMIT 1",
            )?
            .query_row([workflow], |row| row.get(0))
            .optional()?;
        Ok(id)
    }

    fn events(&self, run: &str) -> Result<Vec<StepEvent>, StoreError> {
        let sql = format!("SELECT {} FROM step_events WHERE run_id = ?1 ORDER BY seq", rows::EVENT_COLUMNS);
        let raw: Vec<_> = self.direct().prepare_cached(&sql)?.query_map([run], rows::step_event)?.collect::<rusqlite::Result<_>>()?;
        raw.into_iter().map(rows::RawEvent::parse).collect()
    }

    fn ask(&self, request: &Request) -> Result<bool, StoreError> {
        let text = serde_json::to_string(request)?;
        let added = self.direct().execute(
            "INSERT OR IGNORE INTO questions (run_id, seq, kind, step_id, request, asked_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![request.run_id, request.seq as i64, request.kind.as_str(), request.step_id, text, now_ms() as i64],
        )?;
        Ok(added == 1)
    }

    fn answer(&self, run: &str, seq: u64, kind: RequestKind, answer: &Answer) -> Result<bool, StoreError> {
        let text = serde_json::to_string(answer)?;
        let changed = self.direct().execute(
            "UPDATE questions SET answer = ?4, operator = ?5, answered_at_ms = ?6 WHERE run_id = ?1 AND seq = ?2 AND kind = ?3 AND answer IS NULL",
            params![run, seq as i64, kind.as_str(), text, answer.operator, answer.at_ms as i64],
        )?;
        Ok(changed == 1)
    }

    fn questions(&self, run: &str) -> Result<Vec<Question>, StoreError> {
        let conn = self.direct();
        let mut query = conn.prepare_cached("SELECT request, asked_at_ms, answer FROM questions WHERE run_id = ?1 ORDER BY asked_at_ms, seq")?;
        let raw: Vec<(String, i64, Option<String>)> =
            query.query_map([run], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?.collect::<rusqlite::Result<_>>()?;
        raw.into_iter()
            .map(|(request, asked, answer)| {
                Ok(Question {
                    request: serde_json::from_str(&request)?,
                    asked_at_ms: asked.max(0) as u64,
                    answer: answer.map(|a| serde_json::from_str(&a)).transpose()?,
                })
            })
            .collect()
    }

    fn runs_page(&self, query: &RunPageQuery) -> Result<Vec<RunSummary>, StoreError> {
        overview::runs_page(&self.direct(), query)
    }

    fn child_runs(&self, run: &str) -> Result<Vec<RunSummary>, StoreError> {
        overview::child_runs(&self.direct(), run)
    }

    fn run_counts(&self) -> Result<Vec<(RunStatus, u64)>, StoreError> {
        overview::run_counts(&self.direct())
    }

    fn step_durations(&self, bounds_ms: &[u64]) -> Result<StepDurations, StoreError> {
        overview::step_durations(&self.direct(), bounds_ms)
    }

    fn open_questions(&self) -> Result<Vec<Question>, StoreError> {
        overview::open_questions(&self.direct())
    }

    fn add_token(&self, token: &TokenRecord) -> Result<bool, StoreError> {
        overview::add_token(&self.direct(), token)
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        overview::tokens(&self.direct())
    }

    fn revoke_token(&self, name: &str, at_ms: u64) -> Result<bool, StoreError> {
        overview::revoke_token(&self.direct(), name, at_ms)
    }
}
