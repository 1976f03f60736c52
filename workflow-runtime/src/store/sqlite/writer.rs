//! The writer thread: it owns the write connection and commits whatever
//! writes are queued together, in one transaction (group commit).
//!
//! Each write runs inside its own SAVEPOINT, so a write that fails its checks
//! (a lost lease, a step already ended) is undone alone and the others in the
//! batch still commit. If the COMMIT fails, every write in the batch gets the
//! error: none of them happened.

use super::rows;
use crate::store::memory::{check_fresh_seq, check_lease, is_finished};
use crate::store::{Control, Fence, LeaseOwner, RunStatus, StepProcess, StepStart, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// The most writes one transaction carries; more wait for the next commit.
const MAX_BATCH: usize = 1024;

/// A write, with its JSON already serialized by the caller so the writer
/// thread only talks to SQLite.
pub enum Write {
    /// `Store::create_run`.
    Create(CreateRow),
    /// `Store::start_step`.
    Start {
        /// The run.
        run: String,
        /// The lease the writer must hold.
        fence: Fence,
        /// The execution.
        start: StepStart,
        /// When.
        now: u64,
    },
    /// `Store::end_step`.
    End(EndRow),
    /// `Store::set_status`.
    Status {
        /// The run.
        run: String,
        /// The lease the writer must hold.
        fence: Fence,
        /// The new status.
        status: RunStatus,
        /// Why.
        reason: Option<String>,
        /// The audit output (JSON), when given.
        output: Option<String>,
        /// When.
        now: u64,
    },
    /// `Store::record_process`.
    Process {
        /// The run.
        run: String,
        /// The lease the writer must hold.
        fence: Fence,
        /// The group and its execution.
        process: StepProcess,
    },
}

/// A run to insert.
pub struct CreateRow {
    /// The run's id.
    pub id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The definition hash.
    pub definition_hash: String,
    /// The lowered definition (JSON).
    pub definition: String,
    /// The run that started it.
    pub parent_run_id: Option<String>,
    /// The directory its steps work in.
    pub cwd: Option<String>,
    /// The workflow file it was started from.
    pub source: Option<String>,
    /// The audit input (JSON).
    pub input: String,
    /// The state before the first step (JSON).
    pub state: String,
    /// Where it goes first (JSON).
    pub target: String,
    /// The first execution, started with it.
    pub first: Option<StepStart>,
    /// Its driver, who gets the lease.
    pub owner: LeaseOwner,
    /// Until when the lease holds.
    pub lease_until_ms: u64,
    /// When.
    pub now: u64,
}

/// A step end to record.
pub struct EndRow {
    /// The run.
    pub run: String,
    /// The lease the writer must hold.
    pub fence: Fence,
    /// The execution that ended.
    pub seq: u64,
    /// How, as stored (`completed`, `failed`, `skipped`).
    pub outcome: &'static str,
    /// The action's outputs (JSON).
    pub output: String,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// Wall time of all attempts.
    pub duration_ms: u64,
    /// The new state (JSON), when the caller keeps one.
    pub state: Option<String>,
    /// Where the run goes (JSON).
    pub target: String,
    /// The next execution, started in the same transaction.
    pub next: Option<StepStart>,
    /// When.
    pub now: u64,
}

struct Job {
    write: Write,
    reply: oneshot::Sender<Result<Control, StoreError>>,
}

/// The handle to the writer thread. Dropping it lets the thread commit what
/// is queued, then waits for it to stop.
#[derive(Debug)]
pub struct Writer {
    queue: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the thread that owns `conn`.
    pub fn spawn(conn: Connection) -> std::io::Result<Writer> {
        let (queue, jobs) = mpsc::channel();
        let thread = std::thread::Builder::new().name("workflow-store-writer".to_owned()).spawn(move || write_loop(&conn, &jobs))?;
        Ok(Writer { queue: Some(queue), thread: Some(thread) })
    }

    /// Queues a write and waits for its commit. Ending a step answers with the run's pending request.
    pub async fn submit(&self, write: Write) -> Result<Control, StoreError> {
        let (reply, answer) = oneshot::channel();
        let queue = self.queue.as_ref().ok_or(StoreError::Closed)?;
        queue.send(Job { write, reply }).map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the store writer thread panicked");
            }
        }
    }
}

fn write_loop(conn: &Connection, jobs: &Receiver<Job>) {
    // `recv` fails once every sender is gone and the queue is empty: the store was dropped.
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match commit_batch(conn, &batch) {
            Ok(results) => {
                tracing::trace!(writes = results.len(), "store batch committed");
                for (job, result) in batch.into_iter().zip(results) {
                    // The caller may have stopped waiting; the write stands anyway.
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                tracing::warn!(error = %e, writes = batch.len(), "store commit failed");
                for job in batch {
                    let _ = job.reply.send(Err(copy_error(&e)));
                }
            }
        }
    }
}

/// Applies a batch in one transaction. The outer error fails the whole batch; the inner ones are per write.
fn commit_batch(conn: &Connection, batch: &[Job]) -> rusqlite::Result<Vec<Result<Control, StoreError>>> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        conn.prepare_cached("SAVEPOINT write")?.execute([])?;
        let result = apply(conn, &job.write);
        if let Err(e) = &result {
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back (disk full, I/O error): nothing in the batch stands.
                return Err(match e {
                    StoreError::Sqlite(e) => copy_sqlite_error(e),
                    other => rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT), Some(other.to_string())),
                });
            }
            conn.prepare_cached("ROLLBACK TO write")?.execute([])?;
        }
        conn.prepare_cached("RELEASE write")?.execute([])?;
        results.push(result);
    }
    conn.prepare_cached("COMMIT")?.execute([])?;
    Ok(results)
}

fn apply(conn: &Connection, write: &Write) -> Result<Control, StoreError> {
    match write {
        Write::Create(row) => create(conn, row).map(|()| Control::None),
        Write::Start { run, fence, start, now } => start_step(conn, run, fence, start, *now).map(|()| Control::None),
        Write::End(row) => end_step(conn, row),
        Write::Status { run, fence, status, reason, output, now } => {
            set_status(conn, run, fence, *status, reason.as_deref(), output.as_deref(), *now).map(|()| Control::None)
        }
        Write::Process { run, fence, process } => record_process(conn, run, fence, process).map(|()| Control::None),
    }
}

fn record_process(conn: &Connection, run: &str, fence: &Fence, process: &StepProcess) -> Result<(), StoreError> {
    let guard = guard(conn, run, fence)?;
    if guard.open_seq != Some(process.seq) {
        return Err(StoreError::NotOpen { run: run.to_owned(), seq: process.seq });
    }
    conn.prepare_cached("UPDATE step_events SET process_group = ?3, process_host = ?4 WHERE run_id = ?1 AND seq = ?2")?.execute(params![
        run,
        process.seq,
        process.group,
        process.host
    ])?;
    Ok(())
}

fn create(conn: &Connection, row: &CreateRow) -> Result<(), StoreError> {
    let open_seq = row.first.as_ref().map(|first| first.seq);
    // The definition is stored once per hash; the text is only bound when it is new.
    if conn.prepare_cached("SELECT 1 FROM definitions WHERE hash = ?1")?.query_row([&row.definition_hash], |_| Ok(())).optional()?.is_none() {
        conn.prepare_cached("INSERT INTO definitions (hash, workflow, definition, created_at_ms) VALUES (?1, ?2, ?3, ?4)")?.execute(params![
            row.definition_hash,
            row.workflow,
            row.definition,
            row.now
        ])?;
    }
    let exists = conn.prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?.query_row([&row.id], |_| Ok(())).optional()?;
    if exists.is_some() {
        return Err(StoreError::RunExists(row.id.clone()));
    }
    conn.prepare_cached(
        "INSERT INTO runs (id, workflow, status, definition_hash, parent_run_id, input, state, target, open_seq, next_seq,
                           lease_owner, lease_pid, lease_host, lease_until_ms, lease_epoch, created_at_ms, updated_at_ms, cwd, source)
         VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 1, ?14, ?14, ?15, ?16)",
    )?
    .execute(params![
        row.id,
        row.workflow,
        row.definition_hash,
        row.parent_run_id,
        row.input,
        row.state,
        row.target,
        open_seq,
        open_seq.map_or(1, |seq| seq + 1),
        row.owner.id,
        row.owner.pid,
        row.owner.host,
        row.lease_until_ms,
        row.now,
        row.cwd,
        row.source,
    ])?;
    if let Some(first) = &row.first {
        insert_started(conn, &row.id, first, row.now)?;
    }
    Ok(())
}

fn start_step(conn: &Connection, run: &str, fence: &Fence, start: &StepStart, now: u64) -> Result<(), StoreError> {
    let guard = guard(conn, run, fence)?;
    if guard.open_seq.is_some() {
        return Err(StoreError::NotOpen { run: run.to_owned(), seq: start.seq });
    }
    check_fresh_seq(run, start.seq, guard.next_seq)?;
    insert_started(conn, run, start, now)?;
    conn.prepare_cached(
        "UPDATE runs SET open_seq = ?2, next_seq = MAX(next_seq, ?3), status = 'running', reason = NULL, finished_at_ms = NULL, updated_at_ms = ?4
         WHERE id = ?1",
    )?
    .execute(params![run, start.seq, start.seq + 1, now])?;
    Ok(())
}

fn end_step(conn: &Connection, row: &EndRow) -> Result<Control, StoreError> {
    let guard = guard(conn, &row.run, &row.fence)?;
    let not_open = || StoreError::NotOpen { run: row.run.clone(), seq: row.seq };
    if guard.open_seq != Some(row.seq) {
        return Err(not_open());
    }
    // With a pause or cancel pending the run stops here: the next step is
    // only its target, not started, so resume does not take it for interrupted.
    let next = row.next.as_ref().filter(|_| guard.control == Control::None);
    if let Some(next) = next {
        check_fresh_seq(&row.run, next.seq, guard.next_seq)?;
    }
    let ended = conn
        .prepare_cached(
            "UPDATE step_events SET outcome = ?3, output = ?4, error = ?5, attempts = ?6, ended_at_ms = ?7, duration_ms = ?8
             WHERE run_id = ?1 AND seq = ?2 AND outcome IS NULL",
        )?
        .execute(params![row.run, row.seq, row.outcome, row.output, row.error, row.attempts, row.now, row.duration_ms])?;
    if ended != 1 {
        return Err(not_open());
    }
    if let Some(next) = next {
        insert_started(conn, &row.run, next, row.now)?;
    }
    let next_seq = next.map(|next| next.seq);
    conn.prepare_cached(
        "UPDATE runs SET state = COALESCE(?2, state), target = ?3, open_seq = ?4, next_seq = MAX(next_seq, COALESCE(?4 + 1, 0)), updated_at_ms = ?5
         WHERE id = ?1",
    )?
    .execute(params![row.run, row.state, row.target, next_seq, row.now])?;
    Ok(guard.control)
}

fn set_status(conn: &Connection, run: &str, fence: &Fence, status: RunStatus, reason: Option<&str>, output: Option<&str>, now: u64) -> Result<(), StoreError> {
    guard(conn, run, fence)?;
    let finished_at = is_finished(status).then_some(now);
    let keep_lease = status == RunStatus::Running;
    conn.prepare_cached(
        "UPDATE runs SET status = ?2, reason = ?3, output = COALESCE(?4, output), finished_at_ms = ?5, control = 'none',
                         lease_owner = CASE WHEN ?6 THEN lease_owner END, lease_pid = CASE WHEN ?6 THEN lease_pid END,
                         lease_host = CASE WHEN ?6 THEN lease_host END, lease_until_ms = CASE WHEN ?6 THEN lease_until_ms END,
                         updated_at_ms = ?7
         WHERE id = ?1",
    )?
    .execute(params![run, status.as_str(), reason, output, finished_at, keep_lease, now])?;
    Ok(())
}

fn insert_started(conn: &Connection, run: &str, start: &StepStart, now: u64) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO step_events (run_id, seq, step, step_id, started_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(params![
        run,
        start.seq,
        start.step,
        start.step_id,
        now
    ])?;
    Ok(())
}

/// What a write needs to know before it may touch a run.
struct Guard {
    open_seq: Option<u64>,
    next_seq: u64,
    control: Control,
}

/// The run exists and `fence` is its current lease.
fn guard(conn: &Connection, run: &str, fence: &Fence) -> Result<Guard, StoreError> {
    let row = conn
        .prepare_cached("SELECT lease_owner, lease_pid, lease_host, lease_until_ms, lease_epoch, open_seq, next_seq, control FROM runs WHERE id = ?1")?
        .query_row([run], |row| {
            Ok((
                rows::lease(row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?),
                row.get::<_, Option<u64>>(5)?,
                row.get::<_, u64>(6)?,
                row.get::<_, String>(7)?,
            ))
        })
        .optional()?;
    let Some((lease, open_seq, next_seq, control)) = row else { return Err(StoreError::RunNotFound(run.to_owned())) };
    check_lease(run, lease.as_ref(), fence)?;
    Ok(Guard { open_seq, next_seq, control: rows::parse_control(&control)? })
}

fn copy_error(e: &rusqlite::Error) -> StoreError {
    StoreError::Sqlite(copy_sqlite_error(e))
}

/// `rusqlite::Error` is not `Clone`; a failed commit is reported to every write in the batch.
fn copy_sqlite_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => rusqlite::Error::SqliteFailure(*code, message.clone()),
        other => rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR), Some(other.to_string())),
    }
}
