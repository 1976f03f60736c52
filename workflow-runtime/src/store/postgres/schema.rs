//! The tables and write functions of a PostgreSQL store, their versioned
//! migrations, and the check that the schema is ours before anything is
//! written to it.
//!
//! A store lives in one schema (default `workflow`). Its marker is the table
//! `store_identity`: one row with our application id and the schema
//! version. A schema that is missing or holds nothing becomes a store; a
//! schema with our marker is migrated if older; anything else (tables we did
//! not create, a marker of another application) is refused and never written.
//! Migrations run in one transaction under an advisory lock, so two
//! processes opening a fresh store at once create it once.

use super::config::{error_text, PgLocation};
use crate::store::StoreError;
use tokio_postgres::error::SqlState;
use tokio_postgres::GenericClient;

/// The application id in `store_identity` (the same "WFLW" as SQLite's `application_id`).
pub const APPLICATION_ID: i32 = crate::store::sqlite::APPLICATION_ID;

/// Migration `n` (counting from 1) takes a schema from version `n - 1` to
/// `n`. `{schema}` stands for the quoted schema name. Append, never edit one
/// that shipped: stores in the field already ran it.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3];

/// The schema version this program writes.
pub fn current_version() -> i32 {
    MIGRATIONS.len() as i32
}

/// The marker: created (with version 0) before the first migration.
const MARKER: &str = "
CREATE TABLE {schema}.store_identity (
    application_id integer NOT NULL,
    version        integer NOT NULL,
    single_row     boolean PRIMARY KEY DEFAULT true CHECK (single_row)
);
";

// The tables of docs/store.md, JSON as jsonb. Ids sort bytewise (COLLATE "C"),
// as in SQLite, so prefixes and time-ordered UUIDs order the same everywhere.
// Each write of the durability contract is one function: it locks the run
// with an UPDATE guarded by the writer's fence (lease owner and epoch), and
// either applies the whole write or refuses it, saying why (`o_refusal`),
// without raising an error, so a refused write does not abort the other
// writes of its batch.
// Lease times are the server's clock (`clock_ms`), so hosts with skewed
// clocks agree on when a lease expires.
const V1: &str = r#"
CREATE FUNCTION {schema}.clock_ms() RETURNS bigint LANGUAGE sql VOLATILE AS
$$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

CREATE TABLE {schema}.definitions (
    hash          text PRIMARY KEY,
    workflow      text NOT NULL,
    definition    jsonb NOT NULL,
    created_at_ms bigint NOT NULL
);

CREATE TABLE {schema}.runs (
    id              text COLLATE "C" PRIMARY KEY,
    workflow        text NOT NULL,
    status          text NOT NULL,
    reason          text,
    definition_hash text NOT NULL REFERENCES {schema}.definitions (hash),
    parent_run_id   text COLLATE "C",
    cwd             text,
    source          text,
    input           jsonb NOT NULL,
    output          jsonb,
    state           jsonb NOT NULL,
    target          jsonb NOT NULL,
    open_seq        bigint,
    next_seq        bigint NOT NULL,
    control         text NOT NULL DEFAULT 'none',
    lease_owner     text,
    lease_pid       bigint,
    lease_host      text,
    lease_until_ms  bigint,
    lease_epoch     bigint NOT NULL DEFAULT 0,
    created_at_ms   bigint NOT NULL,
    updated_at_ms   bigint NOT NULL,
    finished_at_ms  bigint
);
CREATE INDEX runs_by_workflow ON {schema}.runs (workflow, created_at_ms);
CREATE INDEX runs_by_status ON {schema}.runs (status);

CREATE TABLE {schema}.step_events (
    run_id        text COLLATE "C" NOT NULL REFERENCES {schema}.runs (id),
    seq           bigint NOT NULL,
    step          integer NOT NULL,
    step_id       text NOT NULL,
    outcome       text,
    output        jsonb NOT NULL DEFAULT '{}',
    error         text,
    attempts      integer NOT NULL DEFAULT 0,
    started_at_ms bigint NOT NULL,
    ended_at_ms   bigint,
    duration_ms   bigint,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE {schema}.questions (
    run_id         text COLLATE "C" NOT NULL,
    seq            bigint NOT NULL,
    kind           text NOT NULL,
    step_id        text NOT NULL,
    request        jsonb NOT NULL,
    asked_at_ms    bigint NOT NULL,
    answer         jsonb,
    operator       text,
    answered_at_ms bigint,
    PRIMARY KEY (run_id, seq, kind)
);

CREATE FUNCTION {schema}.create_run(
    p_id text, p_workflow text, p_hash text, p_definition text, p_parent text, p_cwd text, p_source text,
    p_input text, p_state text, p_target text, p_first_seq bigint, p_first_step integer, p_first_step_id text,
    p_owner text, p_pid bigint, p_host text, p_lease_ms bigint, p_now bigint,
    OUT o_refusal text)
LANGUAGE plpgsql AS $fn$
BEGIN
    -- The definition's text is parsed only when its hash is new.
    IF NOT EXISTS (SELECT 1 FROM {schema}.definitions WHERE hash = p_hash) THEN
        INSERT INTO {schema}.definitions (hash, workflow, definition, created_at_ms)
        VALUES (p_hash, p_workflow, p_definition::jsonb, p_now)
        ON CONFLICT (hash) DO NOTHING;
    END IF;
    INSERT INTO {schema}.runs (id, workflow, status, definition_hash, parent_run_id, cwd, source, input, state, target,
                               open_seq, next_seq, lease_owner, lease_pid, lease_host, lease_until_ms, lease_epoch,
                               created_at_ms, updated_at_ms)
    VALUES (p_id, p_workflow, 'running', p_hash, p_parent, p_cwd, p_source, p_input::jsonb, p_state::jsonb, p_target::jsonb,
            p_first_seq, COALESCE(p_first_seq + 1, 1), p_owner, p_pid, p_host, {schema}.clock_ms() + p_lease_ms, 1,
            p_now, p_now)
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        o_refusal := 'run_exists';
        RETURN;
    END IF;
    IF p_first_seq IS NOT NULL THEN
        INSERT INTO {schema}.step_events (run_id, seq, step, step_id, started_at_ms)
        VALUES (p_id, p_first_seq, p_first_step, p_first_step_id, p_now);
    END IF;
END
$fn$;

-- Why a guarded write matched no run: the run is missing, the fence is not
-- its current lease, the execution to end is not open (or one is open when
-- starting), or else the new execution number was used before.
CREATE FUNCTION {schema}.refusal(
    p_run text, p_owner text, p_epoch bigint, p_seq bigint, p_need text,
    OUT o_refusal text, OUT o_control text, OUT o_owner text, OUT o_pid bigint, OUT o_host text, OUT o_until bigint,
    OUT o_epoch bigint, OUT o_next_seq bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_open bigint;
BEGIN
    SELECT lease_owner, lease_pid, lease_host, lease_until_ms, lease_epoch, control, next_seq, open_seq
      INTO o_owner, o_pid, o_host, o_until, o_epoch, o_control, o_next_seq, v_open
      FROM {schema}.runs WHERE id = p_run;
    IF NOT FOUND THEN
        o_refusal := 'not_found';
    ELSIF o_owner IS DISTINCT FROM p_owner OR o_epoch IS DISTINCT FROM p_epoch THEN
        o_refusal := 'lease_lost';
    ELSIF (p_need = 'open' AND v_open IS DISTINCT FROM p_seq) OR (p_need = 'none_open' AND v_open IS NOT NULL) THEN
        o_refusal := 'not_open';
    ELSE
        o_refusal := 'seq_used';
    END IF;
END
$fn$;

-- Each write below is one UPDATE of the run guarded by the writer's fence
-- (and the step's state), which locks the run; when it matches nothing,
-- `refusal` says why and nothing was written.

CREATE FUNCTION {schema}.start_step(
    p_run text, p_owner text, p_epoch bigint, p_seq bigint, p_step integer, p_step_id text, p_now bigint,
    OUT o_refusal text, OUT o_control text, OUT o_owner text, OUT o_pid bigint, OUT o_host text, OUT o_until bigint,
    OUT o_epoch bigint, OUT o_next_seq bigint)
LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE {schema}.runs
       SET open_seq = p_seq, next_seq = GREATEST(next_seq, p_seq + 1), status = 'running', reason = NULL,
           finished_at_ms = NULL, updated_at_ms = p_now
     WHERE id = p_run AND lease_owner = p_owner AND lease_epoch = p_epoch AND open_seq IS NULL AND p_seq >= next_seq
    RETURNING control INTO o_control;
    IF NOT FOUND THEN
        SELECT * INTO o_refusal, o_control, o_owner, o_pid, o_host, o_until, o_epoch, o_next_seq
          FROM {schema}.refusal(p_run, p_owner, p_epoch, p_seq, 'none_open');
        RETURN;
    END IF;
    INSERT INTO {schema}.step_events (run_id, seq, step, step_id, started_at_ms) VALUES (p_run, p_seq, p_step, p_step_id, p_now);
END
$fn$;

CREATE FUNCTION {schema}.end_step(
    p_run text, p_owner text, p_epoch bigint, p_seq bigint, p_outcome text, p_output text, p_error text, p_attempts integer,
    p_duration_ms bigint, p_state text, p_target text, p_next_seq bigint, p_next_step integer, p_next_step_id text, p_now bigint,
    OUT o_refusal text, OUT o_control text, OUT o_owner text, OUT o_pid bigint, OUT o_host text, OUT o_until bigint,
    OUT o_epoch bigint, OUT o_next_seq bigint)
LANGUAGE plpgsql AS $fn$
BEGIN
    -- With a pause or cancel pending the run stops here: the next step is only its target, not started.
    UPDATE {schema}.runs
       SET state = COALESCE(p_state::jsonb, state), target = p_target::jsonb,
           open_seq = CASE WHEN control = 'none' THEN p_next_seq END,
           next_seq = GREATEST(next_seq, CASE WHEN control = 'none' THEN p_next_seq + 1 END),
           updated_at_ms = p_now
     WHERE id = p_run AND lease_owner = p_owner AND lease_epoch = p_epoch AND open_seq = p_seq
       AND (p_next_seq IS NULL OR control <> 'none' OR p_next_seq >= next_seq)
    RETURNING control INTO o_control;
    IF NOT FOUND THEN
        SELECT * INTO o_refusal, o_control, o_owner, o_pid, o_host, o_until, o_epoch, o_next_seq
          FROM {schema}.refusal(p_run, p_owner, p_epoch, p_seq, 'open');
        RETURN;
    END IF;
    UPDATE {schema}.step_events
       SET outcome = p_outcome, output = p_output::jsonb, error = p_error, attempts = p_attempts,
           ended_at_ms = p_now, duration_ms = p_duration_ms
     WHERE run_id = p_run AND seq = p_seq AND outcome IS NULL;
    IF NOT FOUND THEN
        -- Only these functions write a store, and they keep an open execution unended: the store was changed by hand.
        RAISE EXCEPTION 'step execution % of run % is open but has no unended event', p_seq, p_run;
    END IF;
    IF o_control = 'none' AND p_next_seq IS NOT NULL THEN
        INSERT INTO {schema}.step_events (run_id, seq, step, step_id, started_at_ms)
        VALUES (p_run, p_next_seq, p_next_step, p_next_step_id, p_now);
    END IF;
END
$fn$;

CREATE FUNCTION {schema}.set_status(
    p_run text, p_owner text, p_epoch bigint, p_status text, p_reason text, p_output text, p_finished_at_ms bigint,
    p_keep_lease boolean, p_now bigint,
    OUT o_refusal text, OUT o_control text, OUT o_owner text, OUT o_pid bigint, OUT o_host text, OUT o_until bigint,
    OUT o_epoch bigint, OUT o_next_seq bigint)
LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE {schema}.runs
       SET status = p_status, reason = p_reason, output = COALESCE(p_output::jsonb, output), finished_at_ms = p_finished_at_ms,
           control = 'none',
           lease_owner = CASE WHEN p_keep_lease THEN lease_owner END, lease_pid = CASE WHEN p_keep_lease THEN lease_pid END,
           lease_host = CASE WHEN p_keep_lease THEN lease_host END, lease_until_ms = CASE WHEN p_keep_lease THEN lease_until_ms END,
           updated_at_ms = p_now
     WHERE id = p_run AND lease_owner = p_owner AND lease_epoch = p_epoch
    RETURNING control INTO o_control;
    IF NOT FOUND THEN
        SELECT * INTO o_refusal, o_control, o_owner, o_pid, o_host, o_until, o_epoch, o_next_seq
          FROM {schema}.refusal(p_run, p_owner, p_epoch, NULL, 'lease');
    END IF;
END
$fn$;
"#;

// `workflow serve`: API tokens (only the SHA-256 of each; one active token per
// name; `id` keeps the order they were made in, as SQLite's rowid does), and
// the indexes its pages read through: the run listing by keyset on
// (created_at_ms, id), alone or after a workflow or status, a run's
// children, and the questions still waiting for an answer. The first two
// indexes begin with the same columns as the new ones, so they go: every
// run's insert and status change would only pay for them.
const V2: &str = r#"
CREATE TABLE {schema}.tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL,
    hash          text NOT NULL UNIQUE,
    created_at_ms bigint NOT NULL,
    revoked_at_ms bigint
);
CREATE UNIQUE INDEX tokens_active_name ON {schema}.tokens (name) WHERE revoked_at_ms IS NULL;
DROP INDEX {schema}.runs_by_workflow;
DROP INDEX {schema}.runs_by_status;
CREATE INDEX runs_by_created ON {schema}.runs (created_at_ms, id);
CREATE INDEX runs_by_status_created ON {schema}.runs (status, created_at_ms, id);
CREATE INDEX runs_by_workflow_created ON {schema}.runs (workflow, created_at_ms, id);
CREATE INDEX runs_by_parent ON {schema}.runs (parent_run_id, created_at_ms) WHERE parent_run_id IS NOT NULL;
CREATE INDEX questions_open ON {schema}.questions (asked_at_ms) WHERE answer IS NULL;
"#;

// The process group a step execution's commands run in, and on which host:
// a resume there ends what a killed driver left of the step before running it
// again. Recording it is a fenced write like the others: the run is locked
// (FOR SHARE, so a lease being taken meanwhile is waited for and the fence
// checked against it) and must hold the execution open.
const V3: &str = r#"
ALTER TABLE {schema}.step_events ADD COLUMN process_group bigint, ADD COLUMN process_host text;

CREATE FUNCTION {schema}.record_process(
    p_run text, p_owner text, p_epoch bigint, p_seq bigint, p_group bigint, p_host text,
    OUT o_refusal text, OUT o_control text, OUT o_owner text, OUT o_pid bigint, OUT o_host text, OUT o_until bigint,
    OUT o_epoch bigint, OUT o_next_seq bigint)
LANGUAGE plpgsql AS $fn$
BEGIN
    SELECT control INTO o_control FROM {schema}.runs
     WHERE id = p_run AND lease_owner = p_owner AND lease_epoch = p_epoch AND open_seq = p_seq
       FOR SHARE;
    IF NOT FOUND THEN
        SELECT * INTO o_refusal, o_control, o_owner, o_pid, o_host, o_until, o_epoch, o_next_seq
          FROM {schema}.refusal(p_run, p_owner, p_epoch, p_seq, 'open');
        RETURN;
    END IF;
    UPDATE {schema}.step_events SET process_group = p_group, process_host = p_host WHERE run_id = p_run AND seq = p_seq;
END
$fn$;
"#;

/// What the schema holds, read before anything is written.
enum Identity {
    /// Missing or empty: a store is created in it.
    Empty,
    /// Ours, at this version.
    Ours(i32),
}

/// Brings the schema up to date: one transaction under an advisory lock
/// (per database and schema), which first checks again whose schema it is.
/// A schema that is not ours is refused ([`StoreError::ForeignSchema`]) and
/// the transaction rolled back: nothing of it was changed.
pub async fn migrate(client: &mut tokio_postgres::Client, location: &PgLocation) -> Result<(), StoreError> {
    let sql_error = |e: tokio_postgres::Error| schema_error(location, &e);
    let tx = client.transaction().await.map_err(sql_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", &[&APPLICATION_ID, &location.schema()]).await.map_err(sql_error)?;
    let version = match identity(&tx, location).await? {
        Identity::Ours(version) if version > current_version() => {
            return Err(StoreError::TooNew { path: location.to_string(), found: version as u32, supported: current_version() as u32 });
        }
        Identity::Ours(version) if version == current_version() => return Ok(()),
        Identity::Ours(version) => version,
        Identity::Empty => {
            let schema = location.quoted_schema();
            tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await.map_err(sql_error)?;
            tx.batch_execute(&MARKER.replace("{schema}", &schema)).await.map_err(sql_error)?;
            tx.execute(&format!("INSERT INTO {schema}.store_identity (application_id, version) VALUES ($1, 0)"), &[&APPLICATION_ID])
                .await
                .map_err(sql_error)?;
            0
        }
    };
    for migration in &MIGRATIONS[version as usize..] {
        tx.batch_execute(&migration.replace("{schema}", &location.quoted_schema())).await.map_err(sql_error)?;
    }
    tx.execute(&format!("UPDATE {}.store_identity SET version = $1", location.quoted_schema()), &[&current_version()]).await.map_err(sql_error)?;
    tx.commit().await.map_err(sql_error)?;
    tracing::info!(store = %location, version = current_version(), "store schema migrated");
    Ok(())
}

/// Whose the schema is: missing or empty (ours to create), ours at some version, or someone else's.
async fn identity(tx: &impl GenericClient, location: &PgLocation) -> Result<Identity, StoreError> {
    let sql_error = |e: tokio_postgres::Error| schema_error(location, &e);
    let schema = location.schema();
    let objects: Vec<String> = tx
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
             UNION ALL
             SELECT p.proname::text || '()' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1
             ORDER BY 1",
            &[&schema],
        )
        .await
        .map_err(sql_error)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if objects.is_empty() {
        return Ok(Identity::Empty);
    }
    let foreign = |reason: String| StoreError::ForeignSchema { location: location.to_string(), reason };
    if !objects.iter().any(|name| name == "store_identity") {
        let mut names = objects.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
        if objects.len() > 8 {
            names.push_str(&format!(", and {} more", objects.len() - 8));
        }
        return Err(foreign(format!("schema `{schema}` holds tables we did not create: {names}")));
    }
    let marker = tx
        .query(&format!("SELECT application_id, version FROM {}.store_identity", location.quoted_schema()), &[])
        .await
        .map_err(|e| foreign(format!("schema `{schema}` has a table store_identity that is not a workflow store's ({})", error_text(&e))))?;
    let read = marker.first().map(|row| (row.try_get::<_, i32>(0), row.try_get::<_, i32>(1)));
    match (marker.len(), read) {
        (1, Some((Ok(application_id), Ok(version)))) if application_id == APPLICATION_ID => Ok(Identity::Ours(version)),
        (1, Some((Ok(application_id), Ok(_)))) => {
            Err(foreign(format!("schema `{schema}` belongs to another application (application_id {application_id:#010x} in store_identity)")))
        }
        _ => Err(foreign(format!("schema `{schema}` has a table store_identity that is not a workflow store's"))),
    }
}

/// A failure while checking or migrating the schema, with advice where the cause is known.
fn schema_error(location: &PgLocation, e: &tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        return StoreError::Connect {
            location: location.to_string(),
            reason: format!(
                "user `{}` may not create or change schema `{}` in database `{}` ({}); create the schema for it (CREATE SCHEMA {} AUTHORIZATION {}) or grant it CREATE",
                location.user(),
                location.schema(),
                location.database(),
                error_text(e),
                location.quoted_schema(),
                super::config::quote_ident(location.user()),
            ),
        };
    }
    StoreError::Postgres(error_text(e))
}
