//! The secrets a run knows are masked in everything stored and printed;
//! values too short to be secrets are not masked, and that is said.

mod support;

use support::*;

const KEY: &str = "sk-test-SECRET0123456789abcdef";

/// Every text of every table of the store, one string.
fn stored_text(store: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(store).unwrap();
    let mut all = String::new();
    for table in ["runs", "step_events", "questions"] {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                if let Ok(Some(text)) = row.get::<_, Option<String>>(i) {
                    all.push_str(&text);
                    all.push('\n');
                }
            }
        }
    }
    all
}

#[test]
fn a_step_printing_an_api_key_stores_and_prints_it_masked() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    std::fs::write(
        dir.path().join("leak.yaml"),
        r#"
name: leak
steps:
  - id: show
    action: shell
    command: |
      printf 'whole:%s\n' "$OPENAI_API_KEY"
      printf 'part:%s\n' "$(printf '%s' "$OPENAI_API_KEY" | cut -c4-20)"
  - id: fail
    action: shell
    command: "echo \"bad key $OPENAI_API_KEY\" >&2; exit 1"
"#,
    )
    .unwrap();
    let (stdout, stderr) = expect_code(workflow(dir.path(), &store, &["run", "leak.yaml"]).env("OPENAI_API_KEY", KEY), 1);
    let printed = format!("{stdout}{stderr}");
    assert!(printed.contains("[redacted]"), "the failure names the masked key:\n{printed}");
    let stored = stored_text(&store);
    for text in [&printed, &stored] {
        assert!(!text.contains(KEY), "the key shows:\n{text}");
        assert!(!text.contains(&KEY[3..20]), "a part of the key shows:\n{text}");
    }
    assert!(stored.contains("whole:[redacted]") && stored.contains("part:[redacted]"), "{stored}");
}

#[test]
fn a_secret_too_short_to_mask_is_said_and_leaves_messages_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    std::fs::write(
        dir.path().join("fails.yaml"),
        "name: fails\nsteps:\n  - id: parse\n    action: shell\n    command: \"echo 'missing field `title` at line 1 column 115' >&2; exit 1\"\n",
    )
    .unwrap();
    let (stdout, stderr) = expect_code(workflow(dir.path(), &store, &["run", "fails.yaml"]).env("GITHUB_TOKEN", "t"), 1);
    assert!(stderr.contains("warning: the secret in $GITHUB_TOKEN is shorter than 8 characters, so it is not masked"), "{stderr}");
    let printed = format!("{stdout}{stderr}");
    assert!(printed.contains("missing field `title` at line 1 column 115"), "{printed}");
    assert!(!printed.contains("[redacted]") && !stored_text(&store).contains("[redacted]"));
}
