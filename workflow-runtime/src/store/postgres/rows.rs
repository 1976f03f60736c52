//! Values to and from PostgreSQL: the columns each read selects and the
//! records built from them, the refusals the write functions answer with,
//! and text PostgreSQL can hold.

use crate::store::memory::lease_lost;
use crate::store::{parse_control, parse_outcome, parse_status};
use crate::store::{Control, Fence, Lease, LeaseOwner, Question, RunRecord, RunSummary, StepEvent, StepStart, StoreError};
use std::borrow::Cow;
use tokio_postgres::Row;

/// The columns [`run_record`] reads, in order (JSON as text: serde reads it).
pub const RUN_COLUMNS: &str = "r.id, r.workflow, r.status, r.reason, r.definition_hash, d.definition::text, r.parent_run_id, r.input::text,
     r.output::text, r.state::text, r.target::text, r.open_seq, e.step, e.step_id, r.next_seq, r.control,
     r.lease_owner, r.lease_pid, r.lease_host, r.lease_until_ms, r.created_at_ms, r.updated_at_ms, r.finished_at_ms,
     r.cwd, r.source, r.lease_epoch";

/// The join [`RUN_COLUMNS`] select from: a run, its definition and its open execution.
pub const RUN_FROM: &str =
    "runs AS r LEFT JOIN definitions AS d ON d.hash = r.definition_hash LEFT JOIN step_events AS e ON e.run_id = r.id AND e.seq = r.open_seq";

/// The columns [`run_summary`] reads, in order.
pub const SUMMARY_COLUMNS: &str = "id, workflow, status, parent_run_id, created_at_ms, finished_at_ms";

/// The columns [`step_event`] reads, in order.
pub const EVENT_COLUMNS: &str = "run_id, seq, step, step_id, outcome, output::text, error, attempts, started_at_ms, ended_at_ms, duration_ms";

/// A row of [`RUN_COLUMNS`] as a record.
pub fn run_record(row: &Row) -> Result<RunRecord, StoreError> {
    let open = match (row.try_get::<_, Option<i64>>(11)?, row.try_get::<_, Option<i32>>(12)?, row.try_get::<_, Option<String>>(13)?) {
        (Some(seq), Some(step), Some(step_id)) => Some(StepStart { seq: unsigned(seq), step: unsigned(step.into()) as usize, step_id }),
        _ => None,
    };
    let json = |index: usize| -> Result<Option<serde_json::Value>, StoreError> {
        row.try_get::<_, Option<String>>(index)?.as_deref().map(serde_json::from_str).transpose().map_err(StoreError::from)
    };
    Ok(RunRecord {
        id: row.try_get(0)?,
        workflow: row.try_get(1)?,
        status: parse_status(row.try_get(2)?)?,
        reason: row.try_get(3)?,
        definition_hash: row.try_get(4)?,
        // A run always has its definition stored with it; were it missing, the run is still shown.
        definition: json(5)?.unwrap_or_default(),
        parent_run_id: row.try_get(6)?,
        input: json(7)?.unwrap_or_default(),
        output: json(8)?,
        state: json(9)?.unwrap_or_default(),
        target: serde_json::from_value(json(10)?.unwrap_or_default())?,
        open,
        next_seq: unsigned(row.try_get(14)?),
        control: parse_control(row.try_get(15)?)?,
        lease: lease(row.try_get(16)?, row.try_get(17)?, row.try_get(18)?, row.try_get(19)?, row.try_get(25)?),
        created_at_ms: unsigned(row.try_get(20)?),
        updated_at_ms: unsigned(row.try_get(21)?),
        finished_at_ms: row.try_get::<_, Option<i64>>(22)?.map(unsigned),
        cwd: row.try_get(23)?,
        source: row.try_get(24)?,
    })
}

/// A row of [`SUMMARY_COLUMNS`].
pub fn run_summary(row: &Row) -> Result<RunSummary, StoreError> {
    Ok(RunSummary {
        id: row.try_get(0)?,
        workflow: row.try_get(1)?,
        status: parse_status(row.try_get(2)?)?,
        parent_run_id: row.try_get(3)?,
        created_at_ms: unsigned(row.try_get(4)?),
        finished_at_ms: row.try_get::<_, Option<i64>>(5)?.map(unsigned),
    })
}

/// A row of [`EVENT_COLUMNS`].
pub fn step_event(row: &Row) -> Result<StepEvent, StoreError> {
    Ok(StepEvent {
        run_id: row.try_get(0)?,
        seq: unsigned(row.try_get(1)?),
        step: unsigned(row.try_get::<_, i32>(2)?.into()) as usize,
        step_id: row.try_get(3)?,
        outcome: row.try_get::<_, Option<&str>>(4)?.map(parse_outcome).transpose()?,
        output: serde_json::from_str(row.try_get(5)?)?,
        error: row.try_get(6)?,
        attempts: u32::try_from(row.try_get::<_, i32>(7)?).unwrap_or_default(),
        started_at_ms: unsigned(row.try_get(8)?),
        ended_at_ms: row.try_get::<_, Option<i64>>(9)?.map(unsigned),
        duration_ms: row.try_get::<_, Option<i64>>(10)?.map(unsigned),
    })
}

/// A row of `request::text, asked_at_ms, answer::text`.
pub fn question(row: &Row) -> Result<Question, StoreError> {
    Ok(Question {
        request: serde_json::from_str(row.try_get(0)?)?,
        asked_at_ms: unsigned(row.try_get(1)?),
        answer: row.try_get::<_, Option<&str>>(2)?.map(serde_json::from_str).transpose()?,
    })
}

/// The lease held in the `lease_*` columns; `lease_owner` NULL means none.
pub fn lease(owner: Option<String>, pid: Option<i64>, host: Option<String>, until_ms: Option<i64>, epoch: i64) -> Option<Lease> {
    owner.map(|id| Lease {
        owner: LeaseOwner { id, pid: pid.and_then(|pid| u32::try_from(pid).ok()).unwrap_or_default(), host: host.unwrap_or_default() },
        until_ms: until_ms.map(unsigned).unwrap_or_default(),
        epoch: unsigned(epoch),
    })
}

/// What a write function answered: nothing refused (with the run's pending
/// request), or why the write was refused (nothing of it was written).
/// Its columns: `o_refusal, o_control, o_owner, o_pid, o_host, o_until, o_epoch, o_next_seq`.
/// `seq` is the execution that had to be open, `fresh` the new one that had to be unused.
pub fn write_answer(row: &Row, run: &str, fence: &Fence, seq: u64, fresh: u64) -> Result<Control, StoreError> {
    let refusal: Option<&str> = row.try_get(0)?;
    let Some(refusal) = refusal else { return parse_control(row.try_get::<_, Option<&str>>(1)?.unwrap_or("none")) };
    Err(match refusal {
        "not_found" => StoreError::RunNotFound(run.to_owned()),
        "lease_lost" => {
            let held = lease(row.try_get(2)?, row.try_get(3)?, row.try_get(4)?, row.try_get(5)?, row.try_get::<_, Option<i64>>(6)?.unwrap_or_default());
            lease_lost(run, held.as_ref(), fence)
        }
        "not_open" => StoreError::NotOpen { run: run.to_owned(), seq },
        "seq_used" => StoreError::SeqUsed { run: run.to_owned(), seq: fresh, next_seq: unsigned(row.try_get::<_, Option<i64>>(7)?.unwrap_or_default()) },
        "run_exists" => StoreError::RunExists(run.to_owned()),
        other => StoreError::Postgres(format!("the store answered an unknown refusal `{other}`")),
    })
}

/// JSON text PostgreSQL's `jsonb` accepts: it cannot hold the NUL character,
/// so a NUL inside a string or key is stored as U+FFFD. Everything else is
/// kept as it is.
pub fn json_text(value: &serde_json::Value) -> Result<String, StoreError> {
    let text = serde_json::to_string(value)?;
    // Serialized JSON spells NUL only as this escape; a literal backslash before `u0000` is also caught here and kept by the rewrite.
    if !text.contains("\\u0000") {
        return Ok(text);
    }
    let mut clean = value.clone();
    replace_nul(&mut clean);
    Ok(serde_json::to_string(&clean)?)
}

fn replace_nul(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        serde_json::Value::Array(items) => items.iter_mut().for_each(replace_nul),
        serde_json::Value::Object(map) => {
            if map.keys().any(|key| key.contains('\0')) {
                *map = std::mem::take(map).into_iter().map(|(key, value)| (key.replace('\0', "\u{FFFD}"), value)).collect();
            }
            map.values_mut().for_each(replace_nul);
        }
        _ => {}
    }
}

/// Text PostgreSQL's `text` accepts: a NUL becomes U+FFFD.
pub fn text(value: &str) -> Cow<'_, str> {
    if value.contains('\0') {
        Cow::Owned(value.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// A stored number as the unsigned value it stands for (never negative in a store we wrote).
pub fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

/// A count or time as PostgreSQL's `bigint`.
pub fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        StoreError::Postgres(super::config::error_text(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_characters_become_replacement_characters_and_nothing_else_changes() {
        let value = json!({ "out": "a\u{0}b", "k\u{0}": ["\u{0}", 1, "\\u0000 as text"] });
        let stored: serde_json::Value = serde_json::from_str(&json_text(&value).unwrap()).unwrap();
        assert_eq!(stored, json!({ "out": "a\u{FFFD}b", "k\u{FFFD}": ["\u{FFFD}", 1, "\\u0000 as text"] }));
        let plain = json!({ "out": "\\u0000 is how JSON writes NUL" });
        assert_eq!(json_text(&plain).unwrap(), serde_json::to_string(&plain).unwrap());
        assert_eq!(text("a\0b"), "a\u{FFFD}b");
    }
}
