//! `workflow token` and `workflow serve` as commands: a token is printed once
//! and only its hash stored; list and revoke; a server without tokens never
//! listens beyond loopback, and says so when it starts.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use support::{expect_code, workflow};

#[test]
fn a_token_is_printed_once_listed_by_name_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    let (token, stderr) = expect_code(&mut workflow(dir.path(), &store, &["token", "create", "alice"]), 0);
    let token = token.trim();
    assert!(token.starts_with("wft_") && token.len() == 68, "{token}");
    assert!(stderr.contains("shown this once"), "{stderr}");
    let stored =
        rusqlite::Connection::open(&store).unwrap().query_row("SELECT hash FROM tokens WHERE name = 'alice'", [], |row| row.get::<_, String>(0)).unwrap();
    assert_ne!(stored, token, "only the hash is stored");
    assert_eq!(stored.len(), 64);
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["token", "create", "alice"]), 1);
    assert!(stderr.contains("`alice` already has a token: revoke it first"), "{stderr}");
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["token", "create", "<b>"]), 1);
    assert!(stderr.contains("token name `<b>`"), "{stderr}");
    let (list, _) = expect_code(&mut workflow(dir.path(), &store, &["token", "list"]), 0);
    assert!(list.starts_with("alice") && list.contains("active") && !list.contains(token), "{list}");
    expect_code(&mut workflow(dir.path(), &store, &["token", "revoke", "alice"]), 0);
    let (list, _) = expect_code(&mut workflow(dir.path(), &store, &["token", "list"]), 0);
    assert!(list.contains("revoked"), "{list}");
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["token", "revoke", "alice"]), 2);
    assert!(stderr.contains("`alice` has no active token"), "{stderr}");
}

#[test]
fn without_tokens_serve_refuses_to_listen_beyond_loopback_and_says_it_is_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["serve", "--listen", "0.0.0.0:0"]), 1);
    assert!(stderr.contains("refusing to listen on 0.0.0.0:0: no API token exists"), "{stderr}");
    let mut server = workflow(dir.path(), &store, &["serve", "--listen", "127.0.0.1:0"]).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    let mut lines = BufReader::new(server.stderr.take().unwrap());
    lines.read_line(&mut first).unwrap();
    let mut second = String::new();
    lines.read_line(&mut second).unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(first.starts_with("workflow serve: listening on http://127.0.0.1:"), "{first}");
    assert!(second.contains("no API token exists, so it listens on loopback only"), "{second}");
}
