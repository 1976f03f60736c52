//! The PostgreSQL test server (127.0.0.1:5432, user `postgres`, trust auth,
//! database `test`; `WORKFLOW_TEST_POSTGRES` names another URL). Each test
//! works in a schema or database of its own, dropped when it ends, so tests
//! run in parallel. Under `CI=true` a server that cannot be reached fails
//! the test; elsewhere the test is skipped with the reason printed.
//!
//! Shared by the runtime's and the command line's tests (the latter include
//! this file by path).

#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The server's URL (database `test`), without a schema.
pub fn server_url() -> String {
    std::env::var("WORKFLOW_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Runs `future` to its end on a runtime of its own, on a thread of its own
/// (so it works inside a test's runtime, and outlives none).
pub fn block_on<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(future))
        .join()
        .expect("the PostgreSQL helper thread panicked")
}

/// Runs `sql` (one or more statements, simple query protocol) at `url`; the rows they return, as text.
pub fn sql(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    block_on(async move {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
        tokio::spawn(connection);
        let messages = client.simple_query(&sql).await.unwrap_or_else(|e| panic!("{sql}\nfailed: {e:?}"));
        let mut rows = Vec::new();
        for message in messages {
            if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                rows.push((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect());
            }
        }
        rows
    })
}

/// Whether the server answers. Under `CI=true` it must: a missing server fails loudly.
/// Elsewhere `false` skips the test, with the reason printed.
pub fn available(test: &str) -> bool {
    static REACHED: OnceLock<Result<(), String>> = OnceLock::new();
    let reached = REACHED.get_or_init(|| {
        let url = server_url();
        block_on(async move {
            match tokio::time::timeout(std::time::Duration::from_secs(5), tokio_postgres::connect(&url, tokio_postgres::NoTls)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("{url}: {e} ({:?})", std::error::Error::source(&e).map(ToString::to_string))),
                Err(_) => Err(format!("{url}: no answer within 5 s")),
            }
        })
    });
    match reached {
        Ok(()) => true,
        Err(reason) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("the PostgreSQL test server is not reachable ({reason}); CI needs it for `{test}`: start it (see .ci/run)")
        }
        Err(reason) => {
            eprintln!("skipping `{test}`: the PostgreSQL test server is not reachable ({reason}); set WORKFLOW_TEST_POSTGRES or start it");
            false
        }
    }
}

/// A name no other test uses: `wft_<pid>_<n>_<tag>`.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let tag: String = tag.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).take(30).collect();
    format!("wft_{}_{}_{tag}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A schema of the test database for one test, dropped (with everything in it) when this is dropped.
pub struct TestSchema {
    /// Its name.
    pub name: String,
    /// The store URL: the server's with `?schema=NAME`.
    pub url: String,
}

impl TestSchema {
    /// A fresh schema name (the schema itself is created by whoever opens a store there, or by the test), or `None` to skip.
    pub fn new(test: &str) -> Option<TestSchema> {
        if !available(test) {
            return None;
        }
        let name = unique_name(test);
        let url = format!("{}?schema={name}", server_url());
        Some(TestSchema { name, url })
    }

    /// The URL with more query parameters (`&connect_timeout=1`).
    pub fn url_with(&self, params: &str) -> String {
        format!("{}&{params}", self.url)
    }

    /// Runs SQL in the test database.
    pub fn sql(&self, statements: &str) -> Vec<Vec<Option<String>>> {
        sql(&server_url(), statements)
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let url = server_url();
        let drop_it = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        // After a failed test as well; a failure to clean up must not hide the test's own.
        let _ = std::thread::spawn(move || std::panic::catch_unwind(|| sql(&url, &drop_it))).join();
    }
}

/// A database of its own for one test, dropped when this is dropped.
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    /// Its URL (no schema).
    pub url: String,
}

impl TestDatabase {
    /// Creates it, or `None` to skip.
    pub fn new(test: &str) -> Option<TestDatabase> {
        if !available(test) {
            return None;
        }
        let name = unique_name(test);
        sql(&server_url(), &format!("CREATE DATABASE \"{name}\""));
        let base = server_url();
        let url = format!("{}/{name}", base.rsplit_once('/').expect("a URL with a database").0);
        Some(TestDatabase { name, url })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let url = server_url();
        let drop_it = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let _ = std::thread::spawn(move || std::panic::catch_unwind(|| sql(&url, &drop_it))).join();
    }
}
