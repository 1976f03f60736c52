//! Measuring `snapshot:` metrics: a shell command's output, or the one value
//! a SQL query returns from SQLite or PostgreSQL. Measuring only reads: SQLite
//! files are opened read-only and PostgreSQL queries run in a read-only
//! transaction.

use super::{MetricError, Snapshot};
use rusqlite::types::ValueRef;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_postgres::types::{FromSql, Type};
use workflow_core::ir::MetricIr;

/// How long one metric may take when no other limit is given.
pub const DEFAULT_METRIC_TIMEOUT: Duration = Duration::from_secs(60);

/// Measures every metric, each within [`DEFAULT_METRIC_TIMEOUT`].
///
/// Shell metrics run `sh -c CMD` in `cwd`; the value is the trimmed stdout, as
/// a number when it reads as one (int or float), else as a string. A non-zero
/// exit or a timeout is an error for that metric. SQL metrics take `url`
/// `sqlite://PATH` (relative to `cwd`) or `postgres://...` /
/// `postgresql://...`; the query must return one row of one column (a number,
/// text or null). A metric that fails is `null` in the snapshot and has a
/// [`MetricError`]; the others are measured all the same.
pub async fn take_snapshot(metrics: &[MetricIr], cwd: &Path) -> (Snapshot, Vec<MetricError>) {
    take_snapshot_with_timeout(metrics, cwd, DEFAULT_METRIC_TIMEOUT).await
}

/// [`take_snapshot`] with another limit per metric.
///
/// Metrics are measured concurrently; the errors come in the order the
/// metrics are declared.
pub async fn take_snapshot_with_timeout(metrics: &[MetricIr], cwd: &Path, timeout: Duration) -> (Snapshot, Vec<MetricError>) {
    take_snapshot_refusing(metrics, cwd, timeout, &[]).await
}

/// [`take_snapshot_with_timeout`] that leaves out the metrics whose entry in
/// `refused` says why they may not be measured (no consent for their command):
/// those are `null` with that reason as their error.
pub async fn take_snapshot_refusing(metrics: &[MetricIr], cwd: &Path, timeout: Duration, refused: &[Option<String>]) -> (Snapshot, Vec<MetricError>) {
    let mut tasks = JoinSet::new();
    let mut results: Vec<Option<Result<Value, String>>> = vec![None; metrics.len()];
    for (index, metric) in metrics.iter().enumerate() {
        if let Some(Some(why)) = refused.get(index) {
            results[index] = Some(Err(why.clone()));
            continue;
        }
        let (metric, cwd) = (metric.clone(), cwd.to_path_buf());
        tasks.spawn(async move { (index, measure(&metric, &cwd, timeout).await) });
    }
    while let Some(joined) = tasks.join_next().await {
        // A measuring task only panics on a bug; its metric then stays unmeasured below.
        if let Ok((index, result)) = joined {
            results[index] = Some(result);
        }
    }
    let mut snapshot = Snapshot::new();
    let mut errors = Vec::new();
    for (metric, result) in metrics.iter().zip(results) {
        let value = match result.unwrap_or_else(|| Err("measuring it panicked".to_string())) {
            Ok(value) => value,
            Err(message) => {
                errors.push(MetricError::new(&metric.name, message));
                Value::Null
            }
        };
        snapshot.insert(metric.name.clone(), value);
    }
    (snapshot, errors)
}

async fn measure(metric: &MetricIr, cwd: &Path, timeout: Duration) -> Result<Value, String> {
    match (&metric.shell, &metric.sql, &metric.url) {
        (Some(command), _, _) => shell(command, cwd, timeout).await,
        (None, Some(query), Some(url)) => {
            if let Some(path) = url.strip_prefix("sqlite://") {
                sqlite(&cwd.join(path), query, timeout).await
            } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                match tokio::time::timeout(timeout, postgres(url, query, timeout)).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("the PostgreSQL query did not finish within {}", millis(timeout))),
                }
            } else {
                let scheme = url.split_once("://").map_or(url.as_str(), |(scheme, _)| scheme);
                Err(format!("unsupported database URL scheme `{scheme}` (use sqlite://PATH or postgres://...)"))
            }
        }
        (None, Some(_), None) => Err("`sql:` needs a `url:`".to_string()),
        (None, None, _) => Err("neither `shell:` nor `sql:` is given".to_string()),
    }
}

fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// The trimmed text as a number when it reads as one (`42`, `-3`, `0.5`), else as a string.
fn parse_value(text: &str) -> Value {
    let text = text.trim();
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    match text.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
        // `inf` and `nan` parse as f64 but are words to the user; from_f64 drops them.
        Some(n) => Value::Number(n),
        None => Value::String(text.to_string()),
    }
}

/// At most the last `limit` characters, so an error message stays one screen.
fn tail(text: &str, limit: usize) -> &str {
    let text = text.trim();
    match text.char_indices().rev().nth(limit) {
        Some((cut, c)) => &text[cut + c.len_utf8()..],
        None => text,
    }
}

async fn shell(command: &str, cwd: &Path, timeout: Duration) -> Result<Value, String> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(command).current_dir(cwd).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    // Its own process group, so a timeout can stop the command's children too.
    #[cfg(unix)]
    cmd.process_group(0);
    let child = cmd.spawn().map_err(|e| format!("cannot run `{command}` in {}: {e}", cwd.display()))?;
    let pid = child.id();
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) if out.status.success() => Ok(parse_value(&String::from_utf8_lossy(&out.stdout))),
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let how = out.status.code().map_or_else(|| "was killed by a signal".to_string(), |code| format!("exited with status {code}"));
            let detail = tail(&stderr, 500);
            Err(if detail.is_empty() { format!("`{command}` {how}") } else { format!("`{command}` {how}: {detail}") })
        }
        Ok(Err(e)) => Err(format!("`{command}` could not be waited for: {e}")),
        Err(_) => {
            // Dropping the child killed `sh`; whatever it started is still in the group.
            if let Some(pid) = pid {
                let _ = tokio::process::Command::new("kill")
                    .args(["-s", "KILL", "--", &format!("-{pid}")])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .await;
            }
            Err(format!("`{command}` did not finish within {}", millis(timeout)))
        }
    }
}

async fn sqlite(path: &Path, query: &str, timeout: Duration) -> Result<Value, String> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(|e| format!("cannot open SQLite database {}: {e}", path.display()))?;
    conn.busy_timeout(timeout).map_err(|e| e.to_string())?;
    let interrupt = conn.get_interrupt_handle();
    let query = query.to_string();
    let path = PathBuf::from(path);
    let task = tokio::task::spawn_blocking(move || sqlite_value(&conn, &query).map_err(|e| format!("SQLite query on {}: {e}", path.display())));
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(format!("the SQLite query panicked: {e}")),
        Err(_) => {
            interrupt.interrupt();
            Err(format!("the SQLite query did not finish within {}", millis(timeout)))
        }
    }
}

fn sqlite_value(conn: &rusqlite::Connection, query: &str) -> Result<Value, String> {
    let mut stmt = conn.prepare(query).map_err(|e| e.to_string())?;
    if stmt.column_count() != 1 {
        return Err(format!("the query must return one column, it returns {}", stmt.column_count()));
    }
    let mut rows = stmt.query([]).map_err(|e| e.to_string())?;
    let value = match rows.next().map_err(|e| e.to_string())? {
        None => return Err("the query returned no row".to_string()),
        Some(row) => match row.get_ref(0).map_err(|e| e.to_string())? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::from(i),
            ValueRef::Real(x) => serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
            ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(_) => return Err("the query returned a blob; return a number or text".to_string()),
        },
    };
    if rows.next().map_err(|e| e.to_string())?.is_some() {
        return Err("the query must return one row, it returns more".to_string());
    }
    Ok(value)
}

async fn postgres(url: &str, query: &str, timeout: Duration) -> Result<Value, String> {
    // Never echo the URL: it may hold a password.
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("invalid PostgreSQL URL: {e}"))?;
    config.connect_timeout(timeout);
    let (mut client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(|e| format!("cannot connect to PostgreSQL: {}", pg_error(&e)))?;
    // The connection ends when the client is dropped.
    tokio::spawn(connection);
    let tx = client.build_transaction().read_only(true).start().await.map_err(|e| pg_error(&e))?;
    // A prepared statement is one statement: `select 1; drop table t` is refused.
    let stmt = tx.prepare(query).await.map_err(|e| pg_error(&e))?;
    if stmt.columns().len() != 1 {
        return Err(format!("the query must return one column, it returns {}", stmt.columns().len()));
    }
    let rows = tx.query(&stmt, &[]).await.map_err(|e| pg_error(&e))?;
    let value = match rows.as_slice() {
        [row] => row.try_get::<_, PgValue>(0).map_err(|e| pg_error(&e))?.0,
        [] => return Err("the query returned no row".to_string()),
        _ => return Err(format!("the query must return one row, it returns {}", rows.len())),
    };
    tx.rollback().await.map_err(|e| pg_error(&e))?;
    Ok(value)
}

/// The server's own message when there is one (the error's Display is just "db error").
fn pg_error(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_string();
    }
    match std::error::Error::source(e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    }
}

/// One column of any type: numbers as numbers, text as text.
struct PgValue(Value);

impl<'a> FromSql<'a> for PgValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<PgValue, Box<dyn std::error::Error + Sync + Send>> {
        let value = if *ty == Type::INT2 {
            Value::from(i16::from_sql(ty, raw)?)
        } else if *ty == Type::INT4 {
            Value::from(i32::from_sql(ty, raw)?)
        } else if *ty == Type::INT8 {
            Value::from(i64::from_sql(ty, raw)?)
        } else if *ty == Type::OID {
            Value::from(u32::from_sql(ty, raw)?)
        } else if *ty == Type::FLOAT4 {
            serde_json::Number::from_f64(f32::from_sql(ty, raw)?.into()).map_or(Value::Null, Value::Number)
        } else if *ty == Type::FLOAT8 {
            serde_json::Number::from_f64(f64::from_sql(ty, raw)?).map_or(Value::Null, Value::Number)
        } else if *ty == Type::NUMERIC {
            numeric(raw)?
        } else if *ty == Type::BOOL {
            Value::Bool(bool::from_sql(ty, raw)?)
        } else if <&str as FromSql>::accepts(ty) {
            Value::String(<&str>::from_sql(ty, raw)?.to_string())
        } else {
            return Err(format!("a column of type `{ty}` is not a metric value; cast it to a number or text").into());
        };
        Ok(PgValue(value))
    }

    fn from_sql_null(_: &Type) -> Result<PgValue, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgValue(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A `numeric` in PostgreSQL's binary form (base-10000 digits, a weight and a
/// sign) as an int when it is whole and fits, else as a float. `sum(bigint)`
/// and `avg(..)` return this type.
fn numeric(raw: &[u8]) -> Result<Value, Box<dyn std::error::Error + Sync + Send>> {
    let word = |i: usize| raw.get(2 * i..2 * i + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or("truncated numeric value");
    let (ndigits, weight, sign) = (word(0)? as usize, word(1)? as i16 as i64, word(2)?);
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Ok(Value::String("NaN".to_string())),
        _ => return Ok(Value::String(if sign == 0xD000 { "Infinity" } else { "-Infinity" }.to_string())),
    }
    let digits = (0..ndigits).map(|i| word(4 + i)).collect::<Result<Vec<u16>, _>>()?;
    // Digit i is worth 10000^(weight - i).
    let group = |exponent: i64| usize::try_from(weight - exponent).ok().and_then(|i| digits.get(i)).copied().unwrap_or(0);
    let mut whole = String::new();
    for exponent in (0..=weight).rev() {
        whole.push_str(&format!("{:04}", group(exponent)));
    }
    let mut fraction = String::new();
    for exponent in (weight - ndigits as i64 + 1..0).rev() {
        fraction.push_str(&format!("{:04}", group(exponent)));
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let sign = if sign == 0x4000 { "-" } else { "" };
    let text = format!("{sign}{}{}{fraction}", if whole.is_empty() { "0" } else { whole }, if fraction.is_empty() { "" } else { "." });
    Ok(parse_value(&text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// PostgreSQL's binary `numeric`: ndigits, weight, sign, dscale, then base-10000 digits.
    fn encode(weight: i16, sign: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        for w in [digits.len() as u16, weight as u16, sign, 0].into_iter().chain(digits.iter().copied()) {
            out.extend(w.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_decode_to_ints_and_floats() {
        assert_eq!(numeric(&encode(0, 0, &[])).unwrap(), json!(0));
        assert_eq!(numeric(&encode(1, 0, &[12, 3456])).unwrap(), json!(123456));
        assert_eq!(numeric(&encode(2, 0x4000, &[1])).unwrap(), json!(-100000000));
        assert_eq!(numeric(&encode(0, 0, &[12, 5000])).unwrap(), json!(12.5));
        assert_eq!(numeric(&encode(-2, 0, &[25])).unwrap(), json!(0.00000025));
        assert_eq!(numeric(&encode(0, 0xC000, &[])).unwrap(), json!("NaN"));
        assert!(numeric(&[0, 1]).is_err());
    }

    #[test]
    fn values_read_as_numbers_when_they_can() {
        assert_eq!(parse_value(" 42\n"), json!(42));
        assert_eq!(parse_value("-0.5"), json!(-0.5));
        assert_eq!(parse_value("1e3"), json!(1000.0));
        assert_eq!(parse_value("inf"), json!("inf"));
        assert_eq!(parse_value("12 files"), json!("12 files"));
        assert_eq!(parse_value(""), json!(""));
    }

    #[test]
    fn tails_keep_the_end() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail(" ab ", 3), "ab");
        assert_eq!(tail("ééé", 2), "éé");
    }
}
