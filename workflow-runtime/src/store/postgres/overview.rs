//! The reads of `workflow serve`'s pages (see `store/overview.rs`) on
//! PostgreSQL, and its API tokens: each read goes through an index of schema
//! version 2, so a page of 100,000 runs costs what a page of ten does. Like
//! every plain call (`reads.rs`), each is one statement that may be made
//! again on a new connection.

use super::connection::CallError;
use super::rows::{self, signed, unsigned};
use crate::store::{parse_status, Question, RunPageQuery, RunStatus, RunSummary, StepDurations, StoreError, TokenRecord};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

/// A page of the run listing, newest first, after the cursor.
pub async fn runs_page(client: &Client, query: &RunPageQuery) -> Result<Vec<RunSummary>, CallError> {
    let mut sql = format!("SELECT {} FROM runs WHERE true", rows::SUMMARY_COLUMNS);
    let mut args: Vec<(Box<dyn ToSql + Sync + Send>, Type)> = Vec::new();
    let mut push = |sql: &mut String, clause: &str, values: Vec<(Box<dyn ToSql + Sync + Send>, Type)>| {
        let mut clause = clause.to_owned();
        for value in values {
            args.push(value);
            clause = clause.replacen('?', &format!("${}", args.len()), 1);
        }
        sql.push_str(&clause);
    };
    if let Some(workflow) = &query.workflow {
        push(&mut sql, " AND workflow = ?", vec![(Box::new(workflow.clone()), Type::TEXT)]);
    }
    if let Some(status) = query.status {
        push(&mut sql, " AND status = ?", vec![(Box::new(status.as_str()), Type::TEXT)]);
    }
    if let Some(after) = &query.after {
        // A row comparison: the (…, created_at_ms, id) index is read backwards from the cursor.
        let values: Vec<(Box<dyn ToSql + Sync + Send>, Type)> =
            vec![(Box::new(signed(after.created_at_ms)), Type::INT8), (Box::new(rows::text(&after.id).into_owned()), Type::TEXT)];
        push(&mut sql, " AND (created_at_ms, id) < (?, ?)", values);
    }
    push(&mut sql, " ORDER BY created_at_ms DESC, id DESC LIMIT ?", vec![(Box::new(signed(query.limit as u64)), Type::INT8)]);
    let params: Vec<(&(dyn ToSql + Sync), Type)> = args.iter().map(|(value, ty)| (&**value as &(dyn ToSql + Sync), ty.clone())).collect();
    let rows = client.query_typed(&sql, &params).await?;
    Ok(rows.iter().map(rows::run_summary).collect::<Result<_, _>>()?)
}

/// The runs `run` started, oldest first.
pub async fn child_runs(client: &Client, run: &str) -> Result<Vec<RunSummary>, CallError> {
    let sql = format!("SELECT {} FROM runs WHERE parent_run_id = $1 ORDER BY created_at_ms, id", rows::SUMMARY_COLUMNS);
    let rows = client.query_typed(&sql, &[(&run, Type::TEXT)]).await?;
    Ok(rows.iter().map(rows::run_summary).collect::<Result<_, _>>()?)
}

/// How many runs are in each status, by the status's word (as SQLite orders them).
pub async fn run_counts(client: &Client) -> Result<Vec<(RunStatus, u64)>, CallError> {
    let rows = client.query_typed("SELECT status, count(*) FROM runs GROUP BY status ORDER BY status COLLATE \"C\"", &[]).await?;
    let counts = rows.iter().map(|row| Ok((parse_status(row.try_get(0)?)?, unsigned(row.try_get(1)?)))).collect::<Result<_, StoreError>>()?;
    Ok(counts)
}

/// Ended step executions counted against `bounds_ms`, in one scan.
pub async fn step_durations(client: &Client, bounds_ms: &[u64]) -> Result<StepDurations, CallError> {
    let mut sql = String::from("SELECT count(*), COALESCE(sum(duration_ms), 0)::bigint");
    for bound in bounds_ms {
        // Whole numbers written by us, not text from anyone: safe to put in the statement.
        sql.push_str(&format!(", count(*) FILTER (WHERE duration_ms <= {})", signed(*bound)));
    }
    sql.push_str(" FROM step_events WHERE duration_ms IS NOT NULL");
    let row = client.query_typed_one(&sql, &[]).await?;
    let at_most = (0..bounds_ms.len()).map(|i| row.try_get::<_, i64>(i + 2).map(unsigned)).collect::<Result<_, _>>()?;
    Ok(StepDurations { bounds_ms: bounds_ms.to_vec(), at_most, count: unsigned(row.try_get(0)?), sum_ms: unsigned(row.try_get(1)?) })
}

/// Every question a run waits on now, oldest first.
pub async fn open_questions(client: &Client) -> Result<Vec<Question>, CallError> {
    // Open means the run still waits on it: its step execution is the run's open one, and the run is not over.
    let rows = client
        .query_typed(
            "SELECT q.request::text, q.asked_at_ms, NULL::text FROM questions AS q JOIN runs AS r ON r.id = q.run_id
              WHERE q.answer IS NULL AND r.open_seq = q.seq AND r.status NOT IN ('completed', 'cancelled')
              ORDER BY q.asked_at_ms, q.run_id, q.seq",
            &[],
        )
        .await?;
    Ok(rows.iter().map(rows::question).collect::<Result<_, _>>()?)
}

/// Stores a token; `false` when its name has an active one or its hash is taken.
pub async fn add_token(client: &Client, token: &TokenRecord) -> Result<bool, CallError> {
    // One statement: the unique indexes decide, so two processes adding at once cannot both win. Made
    // again after a lost connection, it finds its own row (the same hash, name and time) and says so.
    let row = client
        .query_typed_one(
            "WITH added AS (
                 INSERT INTO tokens (name, hash, created_at_ms, revoked_at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1
             )
             SELECT EXISTS (SELECT 1 FROM added)
                 OR EXISTS (SELECT 1 FROM tokens WHERE hash = $2 AND name = $1 AND created_at_ms = $3 AND revoked_at_ms IS NOT DISTINCT FROM $4)",
            &[
                (&rows::text(&token.name), Type::TEXT),
                (&rows::text(&token.hash), Type::TEXT),
                (&signed(token.created_at_ms), Type::INT8),
                (&token.revoked_at_ms.map(signed), Type::INT8),
            ],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Every token, active and revoked, in the order they were made.
pub async fn tokens(client: &Client) -> Result<Vec<TokenRecord>, CallError> {
    let rows = client.query_typed("SELECT name, hash, created_at_ms, revoked_at_ms FROM tokens ORDER BY created_at_ms, id", &[]).await?;
    let tokens = rows
        .iter()
        .map(|row| {
            Ok(TokenRecord {
                name: row.try_get(0)?,
                hash: row.try_get(1)?,
                created_at_ms: unsigned(row.try_get(2)?),
                revoked_at_ms: row.try_get::<_, Option<i64>>(3)?.map(unsigned),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(tokens)
}

/// Revokes `name`'s active token; `false` when it has none.
pub async fn revoke_token(client: &Client, name: &str, at_ms: u64) -> Result<bool, CallError> {
    let changed = client
        .execute_typed(
            "UPDATE tokens SET revoked_at_ms = $2 WHERE name = $1 AND revoked_at_ms IS NULL",
            &[(&rows::text(name), Type::TEXT), (&signed(at_ms), Type::INT8)],
        )
        .await?;
    Ok(changed > 0)
}
