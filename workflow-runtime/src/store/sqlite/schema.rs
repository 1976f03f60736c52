//! The tables, their migrations, and the check that a file is a workflow
//! store before anything is written to it.

use crate::store::StoreError;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;
use std::time::Duration;

/// `PRAGMA application_id` of a workflow store: "WFLW".
pub const APPLICATION_ID: i32 = 0x5746_4C57;

/// Migration `n` (counting from 1) takes a store from schema version `n - 1`
/// to `n`; `PRAGMA user_version` says which ran. Append, never edit one that
/// shipped: stores in the field already ran it.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8];

/// The schema version this program writes.
pub fn current_version() -> u32 {
    MIGRATIONS.len() as u32
}

// JSON is stored as TEXT so people can query it with SQLite's JSON functions.
const V1: &str = "
CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    workflow        TEXT NOT NULL,
    status          TEXT NOT NULL,
    reason          TEXT,
    definition_hash TEXT NOT NULL,
    definition      TEXT NOT NULL,
    parent_run_id   TEXT,
    input           TEXT NOT NULL,
    output          TEXT,
    state           TEXT NOT NULL,
    target          TEXT NOT NULL,
    open_seq        INTEGER,
    next_seq        INTEGER NOT NULL,
    control         TEXT NOT NULL DEFAULT 'none',
    lease_owner     TEXT,
    lease_pid       INTEGER,
    lease_host      TEXT,
    lease_until_ms  INTEGER,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    finished_at_ms  INTEGER
);
CREATE INDEX runs_by_workflow ON runs (workflow, created_at_ms);
CREATE INDEX runs_by_status ON runs (status);
CREATE TABLE step_events (
    run_id        TEXT NOT NULL REFERENCES runs (id),
    seq           INTEGER NOT NULL,
    step          INTEGER NOT NULL,
    step_id       TEXT NOT NULL,
    outcome       TEXT,
    output        TEXT NOT NULL DEFAULT '{}',
    error         TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms   INTEGER,
    duration_ms   INTEGER,
    PRIMARY KEY (run_id, seq)
);
";

// The directory a run's steps work in, so `resume` goes on there.
const V2: &str = "ALTER TABLE runs ADD COLUMN cwd TEXT;";

// Questions runs put to people (gates, prompts, consent) and their answers:
// who answered and when is part of the audit record.
const V3: &str = "
CREATE TABLE questions (
    run_id         TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    step_id        TEXT NOT NULL,
    request        TEXT NOT NULL,
    asked_at_ms    INTEGER NOT NULL,
    answer         TEXT,
    operator       TEXT,
    answered_at_ms INTEGER,
    PRIMARY KEY (run_id, seq, kind)
);
";

// The workflow file a run was started from, so `resume` finds it (and its siblings) again.
const V4: &str = "ALTER TABLE runs ADD COLUMN source TEXT;";

// `workflow serve`: API tokens (only the SHA-256 of each; one active token per
// name), and the indexes its pages read through: the run listing pages by
// (created_at_ms, id) with or without a workflow or status filter, a run's
// children, and the questions still waiting for an answer.
const V5: &str = "
CREATE TABLE tokens (
    name          TEXT NOT NULL,
    hash          TEXT NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at_ms IS NULL;
CREATE INDEX runs_by_created ON runs (created_at_ms, id);
CREATE INDEX runs_by_status_created ON runs (status, created_at_ms, id);
CREATE INDEX runs_by_workflow_created ON runs (workflow, created_at_ms, id);
CREATE INDEX runs_by_parent ON runs (parent_run_id, created_at_ms) WHERE parent_run_id IS NOT NULL;
CREATE INDEX questions_open ON questions (asked_at_ms) WHERE answer IS NULL;
";

// Each definition once, keyed by its hash, instead of a copy in every run
// (half of a store of one-step runs was copies of one definition). Runs
// stored before keep theirs: the first run of each hash gives it its row.
// One text per hash is enough: the hash covers everything but formatting.
const V6: &str = "
CREATE TABLE definitions (
    hash          TEXT PRIMARY KEY,
    workflow      TEXT NOT NULL,
    definition    TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
INSERT INTO definitions (hash, workflow, definition, created_at_ms)
    SELECT definition_hash, workflow, definition, min(created_at_ms) FROM runs GROUP BY definition_hash;
ALTER TABLE runs DROP COLUMN definition;
";

// Fencing: every lease acquisition takes the next epoch, and every write
// names the epoch it holds. Runs stored before start at 0 (no lease taken
// under this rule yet).
const V7: &str = "ALTER TABLE runs ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;";

// The process group a step execution's commands run in, and on which host:
// a resume there ends what a killed driver left of the step before running it again.
const V8: &str = "
ALTER TABLE step_events ADD COLUMN process_group INTEGER;
ALTER TABLE step_events ADD COLUMN process_host TEXT;
";

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What a database file says about itself.
struct Identity {
    application_id: i32,
    version: i64,
    tables: Vec<String>,
}

/// Decides, reading only, whether `path` may be opened for writing: it is
/// missing, empty, or a workflow store no newer than this program. Anything
/// else is [`StoreError::Foreign`] (or [`StoreError::TooNew`]) and the file
/// is never opened for writing.
pub fn inspect(path: &Path, busy_timeout: Duration) -> Result<(), StoreError> {
    let len = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if len == 0 {
        return Ok(());
    }
    let mut header = [0u8; 100];
    let read = read_prefix(path, &mut header)?;
    if read < SQLITE_MAGIC.len() || &header[..SQLITE_MAGIC.len()] != SQLITE_MAGIC {
        return Err(foreign(path, "not a SQLite database".to_owned()));
    }
    check_header(&header[..read], len).map_err(|reason| foreign(path, format!("damaged: {reason}")))?;

    // First a look at the main file alone (`immutable`: no locks, no -wal or
    // -shm created beside someone else's database). The main file may lag
    // its WAL or be read mid-checkpoint, so only a clean read is trusted as
    // is; `migrate` checks again, inside its transaction, before any write.
    if let Some(found) = immutable_uri(path).and_then(|uri| identity_at(&uri, OpenFlags::SQLITE_OPEN_URI).ok()) {
        return judge(path, &found).map(drop);
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(|e| damaged(path, e))?;
    conn.busy_timeout(busy_timeout)?;
    let found = identity(&conn).map_err(|e| damaged(path, e))?;
    judge(path, &found).map(drop)
}

fn identity_at(uri: &str, flags: OpenFlags) -> rusqlite::Result<Identity> {
    identity(&Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?)
}

/// `file:<path>?immutable=1`, where the path can be written as a URI.
fn immutable_uri(path: &Path) -> Option<String> {
    if !cfg!(unix) {
        return None;
    }
    let mut uri = String::from("file:");
    for byte in path.to_str()?.bytes() {
        if byte.is_ascii_alphanumeric() || b"/._-~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    Some(uri)
}

/// Brings the schema up to date, one transaction per migration. Each
/// transaction checks the file's identity again, so two processes opening a
/// fresh store at once migrate it once, and a file that changed since
/// [`inspect`] is still never written.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = identity(&tx).map_err(|e| damaged(path, e))?;
        let version = judge(path, &found)?;
        let Some(migration) = MIGRATIONS.get(version as usize) else { return Ok(()) };
        tx.execute_batch(migration)?;
        if version == 0 {
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        }
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::info!(store = %path.display(), version = version + 1, "store schema migrated");
    }
}

fn identity(conn: &Connection) -> rusqlite::Result<Identity> {
    let application_id = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let version = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let mut tables = conn.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?;
    let tables = tables.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(Identity { application_id, version, tables })
}

/// The schema version of a file that is ours (0 for an empty database), or why it is not.
fn judge(path: &Path, found: &Identity) -> Result<u32, StoreError> {
    if found.application_id == APPLICATION_ID {
        let supported = current_version();
        return match u32::try_from(found.version) {
            Ok(version) if version <= supported => Ok(version),
            _ => Err(StoreError::TooNew { path: path.display().to_string(), found: found.version.clamp(0, u32::MAX.into()) as u32, supported }),
        };
    }
    if found.application_id == 0 && found.tables.is_empty() {
        return Ok(0);
    }
    let reason = if found.application_id == 0 {
        format!("a SQLite database of another program (no application_id; tables: {})", found.tables.join(", "))
    } else {
        format!("a SQLite database of another program (application_id {:#010x})", found.application_id)
    };
    Err(foreign(path, reason))
}

/// Sanity checks on the 100-byte header SQLite itself would trust: a file
/// cut short could otherwise read as an empty database and be initialized.
fn check_header(header: &[u8], file_len: u64) -> Result<(), String> {
    if header.len() < 100 {
        return Err(format!("the file is {file_len} bytes, shorter than a SQLite header"));
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536,
        size => u64::from(size),
    };
    if !page_size.is_power_of_two() || !(512..=65536).contains(&page_size) {
        return Err(format!("invalid page size {page_size}"));
    }
    if !file_len.is_multiple_of(page_size) {
        return Err(format!("the file is {file_len} bytes, not a whole number of {page_size}-byte pages"));
    }
    Ok(())
}

fn read_prefix(path: &Path, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut file = File::open(path)?;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn foreign(path: &Path, reason: String) -> StoreError {
    StoreError::Foreign { path: path.display().to_string(), reason }
}

/// Corruption is the file's fault (Foreign); a lock, a permission or an I/O
/// failure is the environment's and is reported as it is.
fn damaged(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => foreign(path, format!("damaged: {e}")),
        _ => StoreError::Sqlite(e),
    }
}
