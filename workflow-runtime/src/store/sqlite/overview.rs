//! The reads of `workflow serve`'s pages (see `store/overview.rs`), in SQL:
//! each goes through an index of schema version 5, so a page of 100,000
//! runs costs what a page of ten does.

use super::rows;
use crate::store::{Question, RunPageQuery, RunStatus, RunSummary, StepDurations, StoreError, TokenRecord};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

pub(super) fn runs_page(conn: &Connection, query: &RunPageQuery) -> Result<Vec<RunSummary>, StoreError> {
    let mut sql = format!("SELECT {} FROM runs WHERE 1 = 1", rows::SUMMARY_COLUMNS);
    let mut args = Vec::new();
    if let Some(workflow) = &query.workflow {
        sql.push_str(" AND workflow = ?");
        args.push(Value::Text(workflow.clone()));
    }
    if let Some(status) = query.status {
        sql.push_str(" AND status = ?");
        args.push(Value::Text(status.as_str().to_owned()));
    }
    if let Some(after) = &query.after {
        // A row value: SQLite walks the (…, created_at_ms, id) index backwards from the cursor.
        sql.push_str(" AND (created_at_ms, id) < (?, ?)");
        args.push(Value::Integer(i64::try_from(after.created_at_ms).unwrap_or(i64::MAX)));
        args.push(Value::Text(after.id.clone()));
    }
    sql.push_str(" ORDER BY created_at_ms DESC, id DESC LIMIT ?");
    args.push(Value::Integer(i64::try_from(query.limit).unwrap_or(i64::MAX)));
    let raw: Vec<_> = conn.prepare_cached(&sql)?.query_map(params_from_iter(args), rows::run_summary)?.collect::<rusqlite::Result<_>>()?;
    raw.into_iter().map(rows::RawSummary::parse).collect()
}

pub(super) fn child_runs(conn: &Connection, run: &str) -> Result<Vec<RunSummary>, StoreError> {
    let sql = format!("SELECT {} FROM runs WHERE parent_run_id = ?1 ORDER BY created_at_ms, id", rows::SUMMARY_COLUMNS);
    let raw: Vec<_> = conn.prepare_cached(&sql)?.query_map([run], rows::run_summary)?.collect::<rusqlite::Result<_>>()?;
    raw.into_iter().map(rows::RawSummary::parse).collect()
}

pub(super) fn run_counts(conn: &Connection) -> Result<Vec<(RunStatus, u64)>, StoreError> {
    let mut query = conn.prepare_cached("SELECT status, COUNT(*) FROM runs GROUP BY status ORDER BY status")?;
    let raw: Vec<(String, u64)> = query.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    raw.into_iter().map(|(status, n)| Ok((rows::parse_status(&status)?, n))).collect()
}

pub(super) fn step_durations(conn: &Connection, bounds_ms: &[u64]) -> Result<StepDurations, StoreError> {
    // One scan: a SUM of a comparison per bucket.
    let mut sql = String::from("SELECT COUNT(*), COALESCE(SUM(duration_ms), 0)");
    for bound in bounds_ms {
        sql.push_str(&format!(", COALESCE(SUM(duration_ms <= {}), 0)", i64::try_from(*bound).unwrap_or(i64::MAX)));
    }
    sql.push_str(" FROM step_events WHERE duration_ms IS NOT NULL");
    let durations = conn.prepare_cached(&sql)?.query_row([], |row| {
        let at_most = (0..bounds_ms.len()).map(|i| row.get::<_, i64>(i + 2).map(|n| n.max(0) as u64)).collect::<rusqlite::Result<_>>()?;
        Ok(StepDurations { bounds_ms: bounds_ms.to_vec(), at_most, count: row.get::<_, i64>(0)?.max(0) as u64, sum_ms: row.get::<_, i64>(1)?.max(0) as u64 })
    })?;
    Ok(durations)
}

pub(super) fn open_questions(conn: &Connection) -> Result<Vec<Question>, StoreError> {
    // Open means the run still waits on it: its step execution is the run's open one, and the run is not over.
    let mut query = conn.prepare_cached(
        "SELECT q.request, q.asked_at_ms FROM questions AS q JOIN runs AS r ON r.id = q.run_id
         WHERE q.answer IS NULL AND r.open_seq = q.seq AND r.status NOT IN ('completed', 'cancelled')
         ORDER BY q.asked_at_ms, q.run_id, q.seq",
    )?;
    let raw: Vec<(String, i64)> = query.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    raw.into_iter().map(|(request, asked)| Ok(Question { request: serde_json::from_str(&request)?, asked_at_ms: asked.max(0) as u64, answer: None })).collect()
}

pub(super) fn add_token(conn: &Connection, token: &TokenRecord) -> Result<bool, StoreError> {
    let taken: Option<i64> = conn
        .query_row("SELECT 1 FROM tokens WHERE (name = ?1 AND revoked_at_ms IS NULL) OR hash = ?2", params![token.name, token.hash], |row| row.get(0))
        .optional()?;
    if taken.is_some() {
        return Ok(false);
    }
    let added = conn.execute(
        "INSERT OR IGNORE INTO tokens (name, hash, created_at_ms, revoked_at_ms) VALUES (?1, ?2, ?3, ?4)",
        params![token.name, token.hash, token.created_at_ms as i64, token.revoked_at_ms.map(|t| t as i64)],
    )?;
    Ok(added == 1)
}

pub(super) fn tokens(conn: &Connection) -> Result<Vec<TokenRecord>, StoreError> {
    let mut query = conn.prepare_cached("SELECT name, hash, created_at_ms, revoked_at_ms FROM tokens ORDER BY created_at_ms, rowid")?;
    let tokens = query
        .query_map([], |row| {
            Ok(TokenRecord {
                name: row.get(0)?,
                hash: row.get(1)?,
                created_at_ms: row.get::<_, i64>(2)?.max(0) as u64,
                revoked_at_ms: row.get::<_, Option<i64>>(3)?.map(|t| t.max(0) as u64),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(tokens)
}

pub(super) fn revoke_token(conn: &Connection, name: &str, at_ms: u64) -> Result<bool, StoreError> {
    let changed = conn.execute("UPDATE tokens SET revoked_at_ms = ?2 WHERE name = ?1 AND revoked_at_ms IS NULL", params![name, at_ms as i64])?;
    Ok(changed > 0)
}
