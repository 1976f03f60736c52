//! Where a PostgreSQL store is: its URL (`postgres://USER@HOST:PORT/DB`, or
//! `postgresql://`), the schema its tables live in (`?schema=NAME`, default
//! `workflow`), and the clear messages for a server that cannot be reached
//! or refuses us.

use crate::store::StoreError;
use std::fmt;
use std::time::Duration;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;

/// The schema a store uses when the URL names none.
pub const DEFAULT_SCHEMA: &str = "workflow";

/// How long connecting may take when the URL does not say (`connect_timeout=SECONDS`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL store's place: server, database, schema.
#[derive(Clone)]
pub struct PgLocation {
    config: tokio_postgres::Config,
    schema: String,
    connect_timeout: Duration,
}

impl fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Through Display: the password never shows.
        f.debug_tuple("PgLocation").field(&self.to_string()).finish()
    }
}

impl PgLocation {
    /// Whether `location` is a PostgreSQL URL (rather than a file path).
    pub fn is_url(location: &str) -> bool {
        let lower = location.get(..13).unwrap_or(location).to_ascii_lowercase();
        lower.starts_with("postgres://") || lower.starts_with("postgresql://")
    }

    /// Reads a URL: `postgres://[USER[:PASSWORD]@]HOST[:PORT]/DB[?schema=NAME&...]`.
    /// Any other query parameter tokio-postgres knows (`connect_timeout`,
    /// `application_name`, `sslmode=disable|prefer`, ...) is passed on. Without
    /// a password in the URL, `PGPASSWORD` is used when set; without a user,
    /// `PGUSER`, else the login name.
    pub fn parse(url: &str) -> Result<PgLocation, StoreError> {
        let invalid = |reason: String| StoreError::Location { location: redact(url), reason };
        if !PgLocation::is_url(url) {
            return Err(invalid("a PostgreSQL URL starts with postgres:// or postgresql://".to_owned()));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut schema = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            match pair.split_once('=') {
                Some(("schema", value)) => schema = Some(percent_decode(value).map_err(|e| invalid(format!("schema: {e}")))?),
                _ => kept.push(pair),
            }
        }
        let rebuilt = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        let mut config: tokio_postgres::Config = rebuilt.parse().map_err(|e: tokio_postgres::Error| invalid(error_text(&e)))?;
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_hosts().iter().any(|host| !matches!(host, Host::Tcp(_))) {
            return Err(invalid("only TCP hosts are supported (no Unix socket paths)".to_owned()));
        }
        if config.get_user().is_none() {
            let user = std::env::var("PGUSER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "postgres".to_owned());
            config.user(user);
        }
        if config.get_dbname().is_none() {
            return Err(invalid("the URL names no database: write postgres://USER@HOST:PORT/DATABASE".to_owned()));
        }
        if config.get_password().is_none() {
            if let Some(password) = std::env::var_os("PGPASSWORD") {
                config.password(password.to_string_lossy().as_bytes());
            }
        }
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(invalid("TLS is not supported by this build: use sslmode=disable or prefer, or a TLS tunnel".to_owned()));
        }
        let connect_timeout = config.get_connect_timeout().copied().unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        config.connect_timeout(connect_timeout);
        // A server that vanished is noticed on an idle connection too.
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("workflow");
        }
        let schema = schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_owned());
        check_schema_name(&schema).map_err(|reason| invalid(format!("schema `{schema}`: {reason}")))?;
        Ok(PgLocation { config, schema, connect_timeout })
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The schema as a quoted SQL identifier.
    pub fn quoted_schema(&self) -> String {
        quote_ident(&self.schema)
    }

    /// `HOST:PORT` of the (first) server, for messages.
    pub fn server(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            _ => "localhost".to_owned(),
        };
        format!("{host}:{}", self.config.get_ports().first().copied().unwrap_or(5432))
    }

    /// The database name.
    pub fn database(&self) -> &str {
        self.config.get_dbname().unwrap_or_default()
    }

    /// The user name.
    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or_default()
    }

    /// The same server and user, another database (tests and tools create databases through it).
    pub fn with_database(&self, database: &str) -> PgLocation {
        let mut other = self.clone();
        other.config.dbname(database);
        other
    }

    /// The same database, another schema.
    pub fn with_schema(&self, schema: &str) -> Result<PgLocation, StoreError> {
        check_schema_name(schema).map_err(|reason| StoreError::Location { location: self.to_string(), reason: format!("schema `{schema}`: {reason}") })?;
        Ok(PgLocation { schema: schema.to_owned(), ..self.clone() })
    }

    /// Opens one connection, within the connect timeout, and spawns its I/O
    /// on the current runtime. Failures name the server and say what to do.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, StoreError> {
        let attempt = self.config.connect(tokio_postgres::NoTls);
        let (client, connection) = match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(Ok(connected)) => connected,
            Ok(Err(e)) => return Err(self.connect_error(&e)),
            Err(_) => {
                let reason = format!(
                    "no answer from {} within {} s (is the host reachable and PostgreSQL running there?)",
                    self.server(),
                    seconds(self.connect_timeout)
                );
                return Err(StoreError::Connect { location: self.to_string(), reason });
            }
        };
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %error_text(&e), "a store connection ended");
            }
        });
        Ok(client)
    }

    /// What a failed connection attempt means, for a person.
    fn connect_error(&self, e: &tokio_postgres::Error) -> StoreError {
        let server = self.server();
        let reason = match e.code() {
            Some(code) if *code == SqlState::INVALID_CATALOG_NAME => format!(
                "database `{}` does not exist on {server}; create it (createdb -h {} -p {} -U {} {}) or name another in the URL",
                self.database(),
                server.rsplit_once(':').map_or(server.as_str(), |(host, _)| host),
                server.rsplit_once(':').map_or("5432", |(_, port)| port),
                self.user(),
                self.database()
            ),
            Some(code) if *code == SqlState::INVALID_PASSWORD => {
                format!("password authentication failed for user `{}` on {server}; check the password in the URL or PGPASSWORD", self.user())
            }
            Some(code) if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
                format!("{server} refused user `{}`: {}", self.user(), error_text(e))
            }
            Some(_) => format!("{server} refused the connection: {}", error_text(e)),
            None => match io_kind(e) {
                Some(std::io::ErrorKind::ConnectionRefused) => format!("connection refused at {server} (is PostgreSQL running there, on that port?)"),
                Some(std::io::ErrorKind::TimedOut) => {
                    format!("no answer from {server} within {} s (is the host reachable and PostgreSQL running there?)", seconds(self.connect_timeout))
                }
                _ if error_text(e).contains("timeout") => {
                    format!("no answer from {server} within {} s (is the host reachable and PostgreSQL running there?)", seconds(self.connect_timeout))
                }
                _ => format!("cannot connect to {server}: {}", error_text(e)),
            },
        };
        StoreError::Connect { location: self.to_string(), reason }
    }
}

impl fmt::Display for PgLocation {
    /// The URL without its password, with the schema.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "postgres://{}@{}/{}?schema={}", self.user(), self.server(), self.database(), self.schema)
    }
}

/// A URL with its password (if any) replaced by `***`, for messages about a URL that did not parse.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// `name` as a SQL identifier: quoted, inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A schema name PostgreSQL keeps as written: not empty, at most 63 bytes (longer names are cut silently), no NUL.
fn check_schema_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".to_owned());
    }
    if name.len() > 63 {
        return Err("PostgreSQL names are at most 63 bytes long".to_owned());
    }
    if name.contains('\0') {
        return Err("the name contains a NUL character".to_owned());
    }
    if name.starts_with("pg_") {
        return Err("names starting with pg_ are reserved for PostgreSQL's own schemas".to_owned());
    }
    Ok(())
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3).ok_or("a % is not followed by two hex digits")?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("`%{hex}` is not a percent escape"))?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once decoded".to_owned())
}

/// A tokio-postgres error with the server's message (its `Display` alone says only "db error").
pub fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{}: {} (SQLSTATE {})", db.severity(), db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; {detail}"));
            }
            text
        }
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// Whether an error means the connection is gone (closed, the server shut it
/// down, the network failed): the call may be made again on a new connection.
pub fn is_connection_lost(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() || io_kind(e).is_some() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let code = code.code();
            // 57P01 admin shutdown (pg_terminate_backend), 57P02 crash shutdown, 57P03 cannot connect now; class 08: connection exceptions.
            matches!(code, "57P01" | "57P02" | "57P03") || code.starts_with("08")
        }
        None => false,
    }
}

/// Whether the transaction failed only because of other transactions (deadlock, serialization): running it again may succeed.
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|code| *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE)
}

fn io_kind(e: &tokio_postgres::Error) -> Option<std::io::ErrorKind> {
    let mut source = std::error::Error::source(e);
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = error.source();
    }
    None
}

fn seconds(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0}")
    } else {
        format!("{secs:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_server_database_and_schema() {
        let at = PgLocation::parse("postgres://alice:secret@db.example:6543/runs?schema=team_a&application_name=x").unwrap();
        assert_eq!((at.server().as_str(), at.database(), at.user(), at.schema()), ("db.example:6543", "runs", "alice", "team_a"));
        assert_eq!(at.to_string(), "postgres://alice@db.example:6543/runs?schema=team_a");
        assert!(!format!("{at:?}").contains("secret"));
        let plain = PgLocation::parse("postgresql://bob@127.0.0.1/test").unwrap();
        assert_eq!((plain.server().as_str(), plain.schema()), ("127.0.0.1:5432", "workflow"));
        assert_eq!(PgLocation::parse("postgres://u@h/d?schema=my%20runs").unwrap().quoted_schema(), "\"my runs\"");
        assert_eq!(PgLocation::parse("postgres://u@h/d?schema=a%22b").unwrap().quoted_schema(), "\"a\"\"b\"");
    }

    #[test]
    fn bad_urls_say_what_is_wrong_without_the_password() {
        let error = |url: &str| PgLocation::parse(url).unwrap_err().to_string();
        assert!(error("postgres://u@h").contains("names no database"), "{}", error("postgres://u@h"));
        assert!(error("postgres://u@h/d?schema=").contains("the name is empty"));
        assert!(error("postgres://u@h/d?schema=pg_x").contains("reserved"));
        let long = format!("postgres://u@h/d?schema={}", "s".repeat(64));
        assert!(error(&long).contains("63 bytes"));
        let unknown = error("postgres://u:hunter2@h/d?colour=blue");
        assert!(unknown.contains("u:***@h") && !unknown.contains("hunter2"), "{unknown}");
        assert!(error("postgres://u@h/d?sslmode=require").contains("TLS"));
        assert!(PgLocation::is_url("PostgreSQL://x/y") && !PgLocation::is_url("runs.db") && !PgLocation::is_url("./postgres"));
    }
}
