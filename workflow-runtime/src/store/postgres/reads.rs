//! The store's plain calls on PostgreSQL: reading runs, events and
//! questions, and the small writes outside the step path (leases, requests,
//! questions and answers), each one statement (or a read and a
//! compare-and-set), so each may be made again on a new connection.

use super::connection::CallError;
use super::rows::{self, signed, unsigned};
use crate::human::{Answer, Request, RequestKind};
use crate::store::memory::lease_is_free;
use crate::store::{Control, Fence, LeaseOwner, LeaseResult, Question, RunFilter, RunId, RunRecord, RunSummary, StepEvent, StepProcess, StoreError};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

/// One run.
pub async fn load_run(client: &Client, run: &str) -> Result<Option<RunRecord>, CallError> {
    let sql = format!("SELECT {} FROM {} WHERE r.id = $1", rows::RUN_COLUMNS, rows::RUN_FROM);
    let row = client.query_typed_opt(&sql, &[(&run, Type::TEXT)]).await?;
    Ok(row.as_ref().map(rows::run_record).transpose()?)
}

/// Ids starting with `prefix`, in order.
pub async fn find_ids(client: &Client, prefix: &str) -> Result<Vec<RunId>, CallError> {
    // Not LIKE: `_` and `%` in a prefix would be wildcards. Ids sort bytewise (COLLATE "C"), so the range reads the index.
    let rows = client.query_typed("SELECT id FROM runs WHERE id >= $1 AND starts_with(id, $1) ORDER BY id", &[(&prefix, Type::TEXT)]).await?;
    Ok(rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>()?)
}

/// Runs matching the filter, newest first.
pub async fn list_runs(client: &Client, filter: &RunFilter) -> Result<Vec<RunSummary>, CallError> {
    let mut sql = format!("SELECT {} FROM runs WHERE true", rows::SUMMARY_COLUMNS);
    let mut args: Vec<(Box<dyn ToSql + Sync + Send>, Type)> = Vec::new();
    let mut push = |sql: &mut String, clause: &str, value: Box<dyn ToSql + Sync + Send>, ty: Type| {
        args.push((value, ty));
        sql.push_str(&clause.replace('?', &format!("${}", args.len())));
    };
    if let Some(workflow) = &filter.workflow {
        push(&mut sql, " AND workflow = ?", Box::new(workflow.clone()), Type::TEXT);
    }
    if let Some(status) = filter.status {
        push(&mut sql, " AND status = ?", Box::new(status.as_str()), Type::TEXT);
    }
    if let Some(since) = filter.since_ms {
        push(&mut sql, " AND created_at_ms >= ?", Box::new(signed(since)), Type::INT8);
    }
    if let Some(until) = filter.until_ms {
        push(&mut sql, " AND created_at_ms < ?", Box::new(signed(until)), Type::INT8);
    }
    sql.push_str(" ORDER BY created_at_ms DESC, id DESC");
    if let Some(limit) = filter.limit {
        push(&mut sql, " LIMIT ?", Box::new(signed(limit as u64)), Type::INT8);
    }
    let params: Vec<(&(dyn ToSql + Sync), Type)> = args.iter().map(|(value, ty)| (&**value as &(dyn ToSql + Sync), ty.clone())).collect();
    let rows = client.query_typed(&sql, &params).await?;
    Ok(rows.iter().map(rows::run_summary).collect::<Result<_, _>>()?)
}

/// The newest resumable run of a workflow.
pub async fn latest_resumable(client: &Client, workflow: &str) -> Result<Option<RunId>, CallError> {
    let row = client
        .query_typed_opt(
            "SELECT id FROM runs WHERE workflow = $1 AND status NOT IN ('completed', 'cancelled') ORDER BY created_at_ms DESC, id DESC LIMIT 1",
            &[(&workflow, Type::TEXT)],
        )
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// A run's step executions, in order.
pub async fn events(client: &Client, run: &str) -> Result<Vec<StepEvent>, CallError> {
    let sql = format!("SELECT {} FROM step_events WHERE run_id = $1 ORDER BY seq", rows::EVENT_COLUMNS);
    let rows = client.query_typed(&sql, &[(&run, Type::TEXT)]).await?;
    Ok(rows.iter().map(rows::step_event).collect::<Result<_, _>>()?)
}

/// Takes the run's lease when it may be taken (the rules of `memory::lease_is_free`,
/// on the server's clock), under the next epoch. The lease is read, judged, then
/// taken only if it is still as read (compare-and-set), so two processes cannot both win.
pub async fn acquire_lease(client: &Client, run: &str, owner: &LeaseOwner, ttl_ms: u64) -> Result<LeaseResult, CallError> {
    for _ in 0..16 {
        let row = client
            .query_typed_opt(
                "SELECT lease_owner, lease_pid, lease_host, lease_until_ms, lease_epoch, clock_ms() FROM runs WHERE id = $1",
                &[(&run, Type::TEXT)],
            )
            .await?
            .ok_or_else(|| StoreError::RunNotFound(run.to_owned()))?;
        let (owner_id, pid, host, until): (Option<String>, Option<i64>, Option<String>, Option<i64>) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
        let (epoch, now): (i64, i64) = (row.try_get(4)?, row.try_get(5)?);
        let held = rows::lease(owner_id.clone(), pid, host, until, epoch);
        if let Some(held) = held.filter(|held| !lease_is_free(held, owner, unsigned(now))) {
            return Ok(LeaseResult::HeldBy(held));
        }
        let taken = client
            .query_typed_opt(
                "UPDATE runs SET lease_owner = $2, lease_pid = $3, lease_host = $4, lease_until_ms = clock_ms() + $5,
                                 lease_epoch = lease_epoch + 1, updated_at_ms = $6
                  WHERE id = $1 AND lease_epoch = $7 AND lease_owner IS NOT DISTINCT FROM $8 AND lease_until_ms IS NOT DISTINCT FROM $9
              RETURNING lease_epoch",
                &[
                    (&run, Type::TEXT),
                    (&owner.id, Type::TEXT),
                    (&i64::from(owner.pid), Type::INT8),
                    (&owner.host, Type::TEXT),
                    (&signed(ttl_ms), Type::INT8),
                    (&signed(crate::store::memory::now_ms()), Type::INT8),
                    (&epoch, Type::INT8),
                    (&owner_id, Type::TEXT),
                    (&until, Type::INT8),
                ],
            )
            .await?;
        if let Some(taken) = taken {
            return Ok(LeaseResult::Acquired(Fence { owner: owner.id.clone(), epoch: unsigned(taken.try_get(0)?) }));
        }
        // Another process changed the lease between the read and the update: judge it again.
    }
    Err(StoreError::Postgres(format!("the lease of run {run} kept changing while it was being taken; try again")).into())
}

/// Extends the lease; `false` when `fence` is no longer the run's current lease.
pub async fn renew_lease(client: &Client, run: &str, fence: &Fence, ttl_ms: u64) -> Result<bool, CallError> {
    let renewed = client
        .execute_typed(
            "UPDATE runs SET lease_until_ms = clock_ms() + $4 WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3",
            &[(&run, Type::TEXT), (&fence.owner, Type::TEXT), (&signed(fence.epoch), Type::INT8), (&signed(ttl_ms), Type::INT8)],
        )
        .await?;
    if renewed == 1 {
        return Ok(true);
    }
    match client.query_typed_opt("SELECT 1 FROM runs WHERE id = $1", &[(&run, Type::TEXT)]).await? {
        Some(_) => Ok(false),
        None => Err(StoreError::RunNotFound(run.to_owned()).into()),
    }
}

/// Leaves a request for the run's driver.
pub async fn request(client: &Client, run: &str, control: Control) -> Result<(), CallError> {
    let changed = client
        .execute_typed(
            "UPDATE runs SET control = $2, updated_at_ms = $3 WHERE id = $1",
            &[(&run, Type::TEXT), (&control.as_str(), Type::TEXT), (&signed(crate::store::memory::now_ms()), Type::INT8)],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::RunNotFound(run.to_owned()).into());
    }
    Ok(())
}

/// The request pending for the run's driver (`none` for a run that does not exist).
pub async fn pending_control(client: &Client, run: &str) -> Result<Control, CallError> {
    let row = client.query_typed_opt("SELECT control FROM runs WHERE id = $1", &[(&run, Type::TEXT)]).await?;
    match row {
        Some(row) => Ok(crate::store::parse_control(row.try_get(0)?)?),
        None => Ok(Control::None),
    }
}

/// The process group recorded for the run's open step execution.
pub async fn open_process(client: &Client, run: &str) -> Result<Option<StepProcess>, CallError> {
    let row = client
        .query_typed_opt(
            "SELECT e.seq, e.process_host, e.process_group FROM runs r JOIN step_events e ON e.run_id = r.id AND e.seq = r.open_seq
              WHERE r.id = $1 AND e.process_group IS NOT NULL",
            &[(&run, Type::TEXT)],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let group = u32::try_from(row.try_get::<_, i64>(2)?).map_err(|_| StoreError::Postgres(format!("run {run}: a process group out of range")))?;
    Ok(Some(StepProcess { seq: unsigned(row.try_get(0)?), host: row.try_get::<_, Option<String>>(1)?.unwrap_or_default(), group }))
}

/// Records a question; `true` when it is new.
pub async fn ask(client: &Client, request: &Request, text: &str) -> Result<bool, CallError> {
    let added = client
        .execute_typed(
            "INSERT INTO questions (run_id, seq, kind, step_id, request, asked_at_ms) VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT DO NOTHING",
            &[
                (&request.run_id, Type::TEXT),
                (&signed(request.seq), Type::INT8),
                (&request.kind.as_str(), Type::TEXT),
                (&rows::text(&request.step_id), Type::TEXT),
                (&text, Type::TEXT),
                (&signed(crate::store::memory::now_ms()), Type::INT8),
            ],
        )
        .await?;
    Ok(added == 1)
}

/// Records an answer; `false` when the question was already answered (or never asked).
pub async fn answer(client: &Client, run: &str, seq: u64, kind: RequestKind, answer: &Answer, text: &str) -> Result<bool, CallError> {
    let changed = client
        .execute_typed(
            "UPDATE questions SET answer = $4::jsonb, operator = $5, answered_at_ms = $6 WHERE run_id = $1 AND seq = $2 AND kind = $3 AND answer IS NULL",
            &[
                (&run, Type::TEXT),
                (&signed(seq), Type::INT8),
                (&kind.as_str(), Type::TEXT),
                (&text, Type::TEXT),
                (&rows::text(&answer.operator), Type::TEXT),
                (&signed(answer.at_ms), Type::INT8),
            ],
        )
        .await?;
    Ok(changed == 1)
}

/// A run's questions and their answers, oldest first.
pub async fn questions(client: &Client, run: &str) -> Result<Vec<Question>, CallError> {
    let rows = client
        .query_typed("SELECT request::text, asked_at_ms, answer::text FROM questions WHERE run_id = $1 ORDER BY asked_at_ms, seq", &[(&run, Type::TEXT)])
        .await?;
    Ok(rows.iter().map(rows::question).collect::<Result<_, _>>()?)
}
