//! `workflow runs` filtered by workflow, status and date, as a real process.

mod support;

use support::{expect_code, write};

fn today_utc() -> String {
    let out = std::process::Command::new("date").args(["-u", "+%F"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn runs_are_filtered_by_workflow_status_and_day() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs.db");
    write(dir.path(), "ok.yaml", "name: ok\nsteps:\n  - id: a\n    action: shell\n    command: \"true\"\n");
    write(dir.path(), "bad.yaml", "name: bad\nsteps:\n  - id: a\n    action: shell\n    command: \"exit 3\"\n");
    expect_code(&mut support::workflow(dir.path(), &store, &["run", "ok.yaml"]), 0);
    expect_code(&mut support::workflow(dir.path(), &store, &["run", "bad.yaml"]), 1);
    let runs = |args: &[&str]| {
        let mut all = vec!["runs"];
        all.extend_from_slice(args);
        expect_code(&mut support::workflow(dir.path(), &store, &all), 0).0
    };
    let today = today_utc();
    let listed = runs(&["--date", &today]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.lines().all(|l| l.contains(&today)), "each line shows when the run started: {listed}");
    assert_eq!(runs(&["--date", "2001-09-09"]).trim(), "no runs");
    assert_eq!(runs(&["--until", "2001-09-09"]).trim(), "no runs");
    assert_eq!(runs(&["--since", &today]).lines().count(), 2);
    let failed = runs(&["--status", "failed"]);
    assert!(failed.contains(" failed ") && failed.contains("bad") && !failed.contains(" ok "), "{failed}");
    let ok = runs(&["--workflow", "ok", "--json"]);
    let ok: serde_json::Value = serde_json::from_str(&ok).unwrap();
    assert_eq!(ok.as_array().unwrap().len(), 1);
    let (_, stderr) = expect_code(&mut support::workflow(dir.path(), &store, &["runs", "--date", "21/11/2026"]), 2);
    assert!(stderr.contains("write a day as YYYY-MM-DD"), "{stderr}");
}
