//! Group commit on PostgreSQL: the writer takes every write queued (up to
//! 1024) and applies them in one transaction, sent as one pipelined flight:
//! `BEGIN`, `txid_current()`, one call of a write function per write,
//! `COMMIT`, all written before the first answer is read. Many runs in
//! flight share a round trip and a WAL flush.
//!
//! A write the store refuses (lost lease, step not open) answers so without
//! an error, so the others still commit. A write that fails with an error
//! aborts the transaction: it gets its error, and the rest are sent again.
//! If the connection is lost mid-flight, the writer reconnects and asks the
//! server whether the transaction committed (`txid_status`): if it did, the
//! answers stand; if not, the flight is sent again. Sending again never
//! records anything twice: every write function checks that its write has
//! not happened yet (the step is still open, the run does not exist yet).
//! Writes are sorted by run id in each flight, so two stores' batches lock
//! runs in the same order and never deadlock each other.

use super::config::{error_text, is_connection_lost, is_transient};
use super::connection::Link;
use super::rows::{signed, write_answer};
use crate::store::{Control, Fence, LeaseOwner, RunStatus, StepStart, StoreError};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, Row, Statement};

/// The most writes one transaction carries; more wait for the next.
const MAX_BATCH: usize = 1024;

/// How often one batch is sent again after a deadlock or serialization failure before its writes fail.
/// (After a lost connection it is sent again for as long as the link keeps reconnecting.)
const MAX_ATTEMPTS: u32 = 5;

const CREATE_RUN: &str = "SELECT o_refusal FROM create_run($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";
const START_STEP: &str = "SELECT * FROM start_step($1, $2, $3, $4, $5, $6, $7)";
const END_STEP: &str = "SELECT * FROM end_step($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";
const SET_STATUS: &str = "SELECT * FROM set_status($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const XID: &str = "SELECT txid_current()";
const XID_STATUS: &str = "SELECT txid_status($1)";

/// A write, its JSON already serialized (and made storable) by the caller.
pub enum Write {
    /// `Store::create_run`.
    Create(Box<CreateRow>),
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
    End(Box<EndRow>),
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
        /// When it finished, for finished runs.
        finished_at_ms: Option<u64>,
        /// Whether the driver keeps its lease (`running`).
        keep_lease: bool,
        /// When.
        now: u64,
    },
}

impl Write {
    fn run(&self) -> &str {
        match self {
            Write::Create(row) => &row.id,
            Write::Start { run, .. } | Write::Status { run, .. } => run,
            Write::End(row) => &row.run,
        }
    }
}

/// A run to insert.
pub struct CreateRow {
    /// The run's id.
    pub id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The definition hash.
    pub definition_hash: String,
    /// The lowered definition (JSON), stored once per hash.
    pub definition: Arc<str>,
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
    /// How long the lease holds (from the server's clock).
    pub lease_ms: u64,
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
    /// How, as stored.
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

/// A write and where its answer goes.
pub struct Job {
    /// The write.
    pub write: Write,
    /// Its answer, once its transaction committed (or it failed).
    pub reply: oneshot::Sender<Result<Control, StoreError>>,
}

/// The writers: `links.len()` of them, each on its own connection, take
/// batches off the one queue until every sender is gone and the queue is
/// empty. While one batch waits for its commit, the next writer already
/// sends the writes queued meanwhile; the server flushes their commits
/// together when they meet.
pub async fn write_loop(links: Vec<Link>, jobs: mpsc::UnboundedReceiver<Job>) {
    let jobs = Arc::new(tokio::sync::Mutex::new(jobs));
    let writers: Vec<_> = links.into_iter().map(|link| tokio::spawn(writer(link, jobs.clone()))).collect();
    for writer in writers {
        if writer.await.is_err() {
            tracing::error!("a store writer panicked");
        }
    }
}

async fn writer(mut link: Link, jobs: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>) {
    loop {
        let mut batch = {
            let mut jobs = jobs.lock().await;
            let Some(first) = jobs.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        // One lock order for every store: by run (stable, so one run's writes keep their order).
        batch.sort_by(|a, b| a.write.run().cmp(b.write.run()));
        let writes: Vec<&Write> = batch.iter().map(|job| &job.write).collect();
        let answers = commit(&mut link, &writes).await;
        tracing::trace!(writes = answers.len(), "store batch committed");
        for (job, answer) in batch.into_iter().zip(answers) {
            // The caller may have stopped waiting; the write stands anyway.
            let _ = job.reply.send(answer);
        }
    }
}

/// What became of one flight.
enum Flight {
    /// Committed: one row per write.
    Committed(Vec<Row>),
    /// Write `index` (of those sent) failed with an error; the transaction rolled back.
    Failed(usize, tokio_postgres::Error),
    /// The transaction failed for the others' sake (deadlock, serialization): nothing stands, send it again.
    Transient(tokio_postgres::Error),
    /// The transaction as a whole failed (`BEGIN` or `COMMIT` refused): nothing stands.
    Refused(tokio_postgres::Error),
    /// The connection was lost: maybe the transaction `xid` committed; `rows` when every write had answered.
    Lost { xid: Option<i64>, rows: Option<Vec<Row>>, error: tokio_postgres::Error },
}

/// Applies `writes` in one transaction (as few as possible), returning each write's answer.
async fn commit(link: &mut Link, writes: &[&Write]) -> Vec<Result<Control, StoreError>> {
    let mut answers: Vec<Option<Result<Control, StoreError>>> = writes.iter().map(|_| None).collect();
    // Indexes of the writes still to apply.
    let mut pending: Vec<usize> = (0..writes.len()).collect();
    let (mut attempts, began) = (0, Instant::now());
    let retry_lost = |link: &Link| began.elapsed() < link.reconnect_for();
    while !pending.is_empty() {
        let sending: Vec<&Write> = pending.iter().map(|&i| writes[i]).collect();
        let flight = match prepared(link).await {
            Ok((client, statements)) => fly(&client, &statements, &sending).await,
            Err(e) => {
                fail_all(&mut answers, &pending, &e);
                break;
            }
        };
        match flight {
            Flight::Committed(rows) => {
                for (&i, row) in pending.iter().zip(&rows) {
                    answers[i] = Some(answer(writes[i], row));
                }
                pending.clear();
            }
            Flight::Failed(index, e) => {
                let i = pending.remove(index);
                tracing::warn!(error = %error_text(&e), run = writes[i].run(), "a store write failed; the rest of its batch is sent again");
                answers[i] = Some(Err(e.into()));
            }
            Flight::Refused(e) => {
                fail_all(&mut answers, &pending, &e.into());
                break;
            }
            Flight::Transient(e) if attempts < MAX_ATTEMPTS => {
                attempts += 1;
                tracing::debug!(error = %error_text(&e), attempts, "a store batch failed for others' sake; sending it again");
            }
            Flight::Lost { xid: None, error, .. } if retry_lost(link) => {
                link.lost();
                tracing::debug!(error = %error_text(&error), "the connection was lost before the batch began; sending it again");
            }
            Flight::Lost { xid: Some(xid), rows, error } => {
                link.lost();
                match outcome(link, xid).await {
                    Ok(true) => {
                        match rows {
                            Some(rows) => {
                                for (&i, row) in pending.iter().zip(&rows) {
                                    answers[i] = Some(answer(writes[i], row));
                                }
                            }
                            None => {
                                let unknown = StoreError::Postgres(format!(
                                    "the connection was lost while committing ({}); the batch committed but its answers were lost: load the run to see what was recorded",
                                    error_text(&error)
                                ));
                                fail_all(&mut answers, &pending, &unknown);
                            }
                        }
                        pending.clear();
                    }
                    Ok(false) if retry_lost(link) => {
                        tracing::debug!(error = %error_text(&error), "the connection was lost before the batch committed; sending it again");
                    }
                    Ok(false) => {
                        fail_all(&mut answers, &pending, &error.into());
                        break;
                    }
                    Err(e) => {
                        fail_all(&mut answers, &pending, &e);
                        break;
                    }
                }
            }
            Flight::Transient(e) | Flight::Lost { error: e, .. } => {
                fail_all(&mut answers, &pending, &e.into());
                break;
            }
        }
    }
    answers.into_iter().map(|answer| answer.unwrap_or(Err(StoreError::Closed))).collect()
}

/// The writer's statements, prepared on its current connection.
struct Statements {
    create: Statement,
    start: Statement,
    end: Statement,
    status: Statement,
    xid: Statement,
}

async fn prepared(link: &mut Link) -> Result<(Arc<Client>, Statements), StoreError> {
    let statements = Statements {
        create: link.statement(CREATE_RUN).await?,
        start: link.statement(START_STEP).await?,
        end: link.statement(END_STEP).await?,
        status: link.statement(SET_STATUS).await?,
        xid: link.statement(XID).await?,
    };
    Ok((link.client().await?, statements))
}

type Pending<'a> = Pin<Box<dyn Future<Output = Result<Option<Row>, tokio_postgres::Error>> + Send + 'a>>;

/// Sends one transaction in one flight and reads its answers.
async fn fly(client: &Client, statements: &Statements, writes: &[&Write]) -> Flight {
    let mut calls: Vec<Pending<'_>> = Vec::with_capacity(writes.len() + 3);
    calls.push(Box::pin(async { client.batch_execute("BEGIN").await.map(|()| None) }));
    calls.push(Box::pin(async { client.query_one(&statements.xid, &[]).await.map(Some) }));
    calls.extend(writes.iter().map(|write| call(client, statements, write)));
    calls.push(Box::pin(async { client.batch_execute("COMMIT").await.map(|()| None) }));
    let mut results = in_order(calls).await;
    if let Some(at) = results.iter().position(|r| matches!(r, Err(e) if is_connection_lost(e))) {
        let xid = match &results[1] {
            Ok(Some(row)) => row.try_get::<_, i64>(0).ok(),
            _ => None,
        };
        let written = &results[2..results.len() - 1];
        let rows = written.iter().all(|r| matches!(r, Ok(Some(_)))).then(|| written.iter().filter_map(|r| r.as_ref().ok().cloned().flatten()).collect());
        let error = results.swap_remove(at).expect_err("the lost connection's error");
        return Flight::Lost { xid, rows, error };
    }
    let commit = results.pop().expect("the COMMIT's answer");
    let mut results = results.into_iter();
    let (begin, xid) = (results.next().expect("the BEGIN's answer"), results.next().expect("the txid's answer"));
    let rows: Vec<_> = results.collect();
    if let Err(e) = begin {
        return Flight::Refused(e);
    }
    if let Err(e) = xid {
        return if is_transient(&e) { Flight::Transient(e) } else { Flight::Refused(e) };
    }
    // The first write that failed is the cause; the ones after it only saw the aborted transaction.
    if let Some(index) = rows.iter().position(Result::is_err) {
        let e = rows.into_iter().nth(index).and_then(Result::err).expect("the failed write's error");
        return if is_transient(&e) { Flight::Transient(e) } else { Flight::Failed(index, e) };
    }
    if let Err(e) = commit {
        return if is_transient(&e) { Flight::Transient(e) } else { Flight::Refused(e) };
    }
    Flight::Committed(rows.into_iter().map(|r| r.ok().flatten().expect("every write answers with a row")).collect())
}

/// The call of a write's function, with its parameters as PostgreSQL types.
fn call<'a>(client: &'a Client, statements: &'a Statements, write: &'a Write) -> Pending<'a> {
    match write {
        Write::Create(row) => Box::pin(async move {
            let first = row.first.as_ref();
            client
                .query_one(
                    &statements.create,
                    &[
                        &row.id,
                        &row.workflow,
                        &row.definition_hash,
                        &&*row.definition,
                        &row.parent_run_id,
                        &row.cwd,
                        &row.source,
                        &row.input,
                        &row.state,
                        &row.target,
                        &first.map(|f| signed(f.seq)),
                        &first.map(|f| step_index(f.step)),
                        &first.map(|f| f.step_id.as_str()),
                        &row.owner.id,
                        &i64::from(row.owner.pid),
                        &row.owner.host,
                        &signed(row.lease_ms),
                        &signed(row.now),
                    ],
                )
                .await
                .map(Some)
        }),
        Write::Start { run, fence, start, now } => Box::pin(async move {
            client
                .query_one(
                    &statements.start,
                    &[run, &fence.owner, &signed(fence.epoch), &signed(start.seq), &step_index(start.step), &start.step_id, &signed(*now)],
                )
                .await
                .map(Some)
        }),
        Write::End(row) => Box::pin(async move {
            let next = row.next.as_ref();
            client
                .query_one(
                    &statements.end,
                    &[
                        &row.run,
                        &row.fence.owner,
                        &signed(row.fence.epoch),
                        &signed(row.seq),
                        &row.outcome,
                        &row.output,
                        &row.error,
                        &i32::try_from(row.attempts).unwrap_or(i32::MAX),
                        &signed(row.duration_ms),
                        &row.state,
                        &row.target,
                        &next.map(|n| signed(n.seq)),
                        &next.map(|n| step_index(n.step)),
                        &next.map(|n| n.step_id.as_str()),
                        &signed(row.now),
                    ],
                )
                .await
                .map(Some)
        }),
        Write::Status { run, fence, status, reason, output, finished_at_ms, keep_lease, now } => Box::pin(async move {
            client
                .query_one(
                    &statements.status,
                    &[run, &fence.owner, &signed(fence.epoch), &status.as_str(), reason, output, &finished_at_ms.map(signed), keep_lease, &signed(*now)],
                )
                .await
                .map(Some)
        }),
    }
}

fn step_index(step: usize) -> i32 {
    i32::try_from(step).unwrap_or(i32::MAX)
}

/// Runs every call to its end, polling them in order: each call's first poll
/// sends its request, so they reach the server in this order, one after the
/// other without waiting for answers (tokio-postgres pipelines them).
async fn in_order<'a>(mut calls: Vec<Pending<'a>>) -> Vec<Result<Option<Row>, tokio_postgres::Error>> {
    let mut results: Vec<Option<Result<Option<Row>, tokio_postgres::Error>>> = calls.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (call, result) in calls.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                match call.as_mut().poll(cx) {
                    Poll::Ready(done) => *result = Some(done),
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|result| result.expect("every call finished")).collect()
}

/// A write's answer from its function's row.
fn answer(write: &Write, row: &Row) -> Result<Control, StoreError> {
    match write {
        Write::Create(create) => match row.try_get::<_, Option<&str>>(0)? {
            None => Ok(Control::None),
            Some(_) => Err(StoreError::RunExists(create.id.clone())),
        },
        Write::Start { run, fence, start, .. } => write_answer(row, run, fence, start.seq, start.seq),
        Write::End(end) => write_answer(row, &end.run, &end.fence, end.seq, end.next.as_ref().map_or(0, |next| next.seq)),
        Write::Status { run, fence, .. } => write_answer(row, run, fence, 0, 0),
    }
}

/// Whether transaction `xid` committed, asked on a new connection after the
/// old one was lost mid-commit (and again if that one is lost too, while the link keeps reconnecting).
async fn outcome(link: &mut Link, xid: i64) -> Result<bool, StoreError> {
    let began = Instant::now();
    loop {
        let statement = link.statement(XID_STATUS).await?;
        let client = link.client().await?;
        let status: Option<String> = match client.query_one(&statement, &[&xid]).await {
            Ok(row) => row.try_get(0)?,
            Err(e) if is_connection_lost(&e) && began.elapsed() < link.reconnect_for() => {
                link.lost();
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        match status.as_deref() {
            Some("committed") => return Ok(true),
            // The old connection's server process has not noticed yet that it is gone.
            Some("in progress") if began.elapsed() < link.reconnect_for() => tokio::time::sleep(Duration::from_millis(50)).await,
            Some("in progress") => {
                return Err(StoreError::Postgres(format!(
                    "transaction {xid} was still in progress on a lost connection after {:?}; its outcome is unknown",
                    began.elapsed()
                )))
            }
            _ => return Ok(false),
        }
    }
}

fn fail_all(answers: &mut [Option<Result<Control, StoreError>>], pending: &[usize], e: &StoreError) {
    for &i in pending {
        answers[i] = Some(Err(copy_error(e)));
    }
}

/// `StoreError` is not `Clone`: one failure answers every write of its batch.
fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Connect { location, reason } => StoreError::Connect { location: location.clone(), reason: reason.clone() },
        StoreError::Closed => StoreError::Closed,
        other => StoreError::Postgres(other.to_string().trim_start_matches("store database error (PostgreSQL): ").to_owned()),
    }
}
