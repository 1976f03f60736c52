//! Group commit on PostgreSQL: a writer takes every write queued (up to
//! 1024) and applies them in one transaction, sent as one pipelined flight:
//! `BEGIN`, one call of a write function per write, `COMMIT`, all written
//! before the first answer is read. Many runs in flight share a round trip
//! and a WAL flush. A write alone is sent as one statement, its own
//! transaction.
//!
//! A write the store refuses (lost lease, step not open) answers so without
//! an error, so the others still commit. A write that fails with an error
//! aborts the transaction: it gets its error, and the rest are sent again.
//! If the connection is lost mid-flight, the writer reconnects and checks
//! each write against the store, under its run's row lock (so after any
//! transaction still holding it): a write that took effect gets its answer
//! from what is stored, the others are sent again. So nothing is recorded
//! twice, and nothing is lost. Writes are sorted by run id in each flight,
//! so two stores' batches lock runs in the same order and never deadlock
//! each other.

use super::config::{error_text, is_connection_lost, is_transient};
use super::connection::{CallError, Link};
use super::rows::{signed, unsigned, write_answer};
use crate::store::{Control, Fence, LeaseOwner, RunStatus, StepProcess, StepStart, StoreError};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;
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
const RECORD_PROCESS: &str = "SELECT * FROM record_process($1, $2, $3, $4, $5, $6)";
// After a lost connection: what a run holds now, once no transaction holds it any more.
const RUN_NOW: &str = "SELECT lease_owner, lease_epoch, open_seq, control, status FROM runs WHERE id = $1 FOR UPDATE";
const EVENT_ENDED: &str = "SELECT outcome IS NOT NULL FROM step_events WHERE run_id = $1 AND seq = $2";

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

impl Write {
    fn run(&self) -> &str {
        match self {
            Write::Create(row) => &row.id,
            Write::Start { run, .. } | Write::Status { run, .. } | Write::Process { run, .. } => run,
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
    /// The connection was lost: the transaction may or may not have committed.
    Lost(tokio_postgres::Error),
}

/// Applies `writes` in one transaction (as few as possible), returning each write's answer.
async fn commit(link: &mut Link, writes: &[&Write]) -> Vec<Result<Control, StoreError>> {
    let mut answers: Vec<Option<Result<Control, StoreError>>> = writes.iter().map(|_| None).collect();
    // Indexes of the writes still to apply.
    let mut pending: Vec<usize> = (0..writes.len()).collect();
    let (mut attempts, began) = (0, Instant::now());
    while !pending.is_empty() {
        let sending: Vec<&Write> = pending.iter().map(|&i| writes[i]).collect();
        let flight = match link.prepared([CREATE_RUN, START_STEP, END_STEP, SET_STATUS, RECORD_PROCESS]).await {
            Ok((client, [create, start, end, status, process])) => fly(&client, &Statements { create, start, end, status, process }, &sending).await,
            // Lost while preparing: nothing was sent.
            Err(CallError::Postgres(e)) if is_connection_lost(&e) && began.elapsed() < link.reconnect_for() => continue,
            Err(e) => {
                fail_all(&mut answers, &pending, &e.into());
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
            Flight::Transient(e) if attempts < MAX_ATTEMPTS => {
                attempts += 1;
                tracing::debug!(error = %error_text(&e), attempts, "a store batch failed for others' sake; sending it again");
            }
            Flight::Lost(e) if began.elapsed() < link.reconnect_for() => {
                tracing::debug!(error = %error_text(&e), "the store connection was lost mid-batch; checking which writes took effect");
                let mut unknown = std::mem::take(&mut pending);
                while !unknown.is_empty() {
                    link.lost();
                    let mut again = Vec::new();
                    for i in unknown {
                        match took_effect(link, writes[i]).await {
                            Ok(Some(answer)) => answers[i] = Some(Ok(answer)),
                            Ok(None) => pending.push(i),
                            // Lost again while checking: check again, for as long as the link reconnects.
                            Err(_) if began.elapsed() < link.reconnect_for() => again.push(i),
                            Err(e) => answers[i] = Some(Err(e)),
                        }
                    }
                    unknown = again;
                }
            }
            Flight::Refused(e) | Flight::Transient(e) | Flight::Lost(e) => {
                fail_all(&mut answers, &pending, &e.into());
                break;
            }
        }
    }
    answers.into_iter().map(|answer| answer.unwrap_or(Err(StoreError::Closed))).collect()
}

/// After a lost connection: whether `write` took effect, and its answer if
/// it did (read from the store), or `None` to send it again. Reading the run
/// `FOR UPDATE` waits for a transaction of the old connection that still
/// holds it. A write could only have taken effect under its own fence, and
/// its driver waits for its answer before writing the run again, so what
/// the run holds now says whether it did.
async fn took_effect(link: &mut Link, write: &Write) -> Result<Option<Control>, StoreError> {
    let (client, [run_now, event_ended]) = link.prepared([RUN_NOW, EVENT_ENDED]).await?;
    let Some(row) = client.query_opt(&run_now, &[&write.run()]).await? else { return Ok(None) };
    let (owner, epoch): (Option<String>, i64) = (row.try_get(0)?, row.try_get(1)?);
    let (open_seq, control, status): (Option<i64>, String, String) = (row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
    let holds = |fence: &Fence| owner.as_deref() == Some(fence.owner.as_str()) && unsigned(epoch) == fence.epoch;
    let control = crate::store::parse_control(&control)?;
    Ok(match write {
        // Run ids are fresh: a run that exists was created by this write.
        Write::Create(_) => Some(Control::None),
        Write::Start { fence, start, .. } => (holds(fence) && open_seq == Some(signed(start.seq))).then_some(control),
        Write::End(end) if holds(&end.fence) => {
            let ended: Option<bool> = client.query_opt(&event_ended, &[&end.run, &signed(end.seq)]).await?.map(|row| row.try_get(0)).transpose()?;
            ended.unwrap_or(false).then_some(control)
        }
        Write::End(_) => None,
        // Setting a status that keeps the lease is the same when done twice; one that releases it is done once.
        Write::Status { fence, status: wanted, keep_lease: false, .. } => {
            (owner.is_none() && unsigned(epoch) == fence.epoch && status == wanted.as_str()).then_some(Control::None)
        }
        Write::Status { .. } => None,
        // Recording a group again writes the same columns: it is simply sent again.
        Write::Process { .. } => None,
    })
}

/// The writer's statements, prepared on its current connection.
struct Statements {
    create: Statement,
    start: Statement,
    end: Statement,
    status: Statement,
    process: Statement,
}

type Pending<'a> = Pin<Box<dyn Future<Output = Result<Option<Row>, tokio_postgres::Error>> + Send + 'a>>;

/// Sends one transaction in one flight and reads its answers. A write alone is one statement, its own transaction.
async fn fly(client: &Client, statements: &Statements, writes: &[&Write]) -> Flight {
    if let [write] = writes {
        return match call(client, statements, write).await {
            Ok(row) => Flight::Committed(vec![row.expect("every write answers with a row")]),
            Err(e) if is_connection_lost(&e) => Flight::Lost(e),
            Err(e) if is_transient(&e) => Flight::Transient(e),
            Err(e) => Flight::Failed(0, e),
        };
    }
    let mut calls: Vec<Pending<'_>> = Vec::with_capacity(writes.len() + 2);
    calls.push(Box::pin(async { client.batch_execute("BEGIN").await.map(|()| None) }));
    calls.extend(writes.iter().map(|write| call(client, statements, write)));
    calls.push(Box::pin(async { client.batch_execute("COMMIT").await.map(|()| None) }));
    let mut results = in_order(calls).await;
    if let Some(at) = results.iter().position(|r| matches!(r, Err(e) if is_connection_lost(e))) {
        return Flight::Lost(results.swap_remove(at).expect_err("the lost connection's error"));
    }
    let commit = results.pop().expect("the COMMIT's answer");
    let mut results = results.into_iter();
    let begin = results.next().expect("the BEGIN's answer");
    let rows: Vec<_> = results.collect();
    if let Err(e) = begin {
        return Flight::Refused(e);
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
        Write::Process { run, fence, process } => Box::pin(async move {
            client
                .query_one(&statements.process, &[run, &fence.owner, &signed(fence.epoch), &signed(process.seq), &i64::from(process.group), &process.host])
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
        Write::Process { run, fence, process } => write_answer(row, run, fence, process.seq, process.seq),
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
