//! `workflow serve` in a real browser (headless Chromium through
//! chromedriver), as a person uses it: the quick start's run and a release
//! waiting at gates; sign in with a token, see what waits, open a run, see
//! its graph and what it changed so far, approve with a comment and watch
//! the run complete without reloading; someone not among the approvers is
//! refused; step output with markup in it never runs as script. A screenshot
//! of the quick start's run page is saved under target/screenshots/.
//!
//! Without chromium and chromedriver the test is skipped with a reason,
//! except under `CI=true`, where that is a failure.

mod support;
mod webdriver;

use serde_json::json;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;
use support::{copy_dir, expect_code, run_id_in, status_json, workflow, write};
use webdriver::{find_browser, free_port, Driver, Session};

const RELEASE: &str = r#"
name: release
snapshot:
  tags: { shell: "cat tags.txt 2>/dev/null | wc -l" }
expect:
  tags: "1"
steps:
  - id: build
    action: shell
    command: "echo '<img src=x onerror=\"window.__xss = 1\">'; echo built"
  - id: approve
    action: approval-gate
    message: "Tag the release?"
    approvers: [alice]
  - id: settle
    action: shell
    command: "sleep 2"
  - id: tag
    action: shell
    command: "echo v1 >> tags.txt"
    requires: approve.approved
"#;

/// A `workflow serve` process, stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn token(dir: &Path, store: &Path, name: &str) -> String {
    let (stdout, _) = expect_code(&mut workflow(dir, store, &["token", "create", name]), 0);
    stdout.trim().to_string()
}

async fn sign_in(browser: &Session, base: &str, token: &str) {
    browser.goto(&format!("{base}/signin?next=/waiting")).await;
    browser.type_into("#token", token).await;
    browser.click("form.signin button[type=submit]").await;
    browser.wait_until("return location.pathname === '/waiting';", Duration::from_secs(10), "the waiting page after signing in").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_signs_in_reviews_a_waiting_run_and_approves_it_from_the_page() {
    let Some((chromedriver, chromium)) = find_browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    copy_dir(&root.join("examples/workflows"), &dir.path().join("examples/workflows"));
    copy_dir(&root.join(".workflow"), &dir.path().join(".workflow"));
    // The server drives runs on with the folder's permissions: the release's own commands are allowed there.
    let config = std::fs::read_to_string(dir.path().join(".workflow/config.yaml")).unwrap();
    std::fs::write(
        dir.path().join(".workflow/config.yaml"),
        config.replace("  allow:\n", "  allow:\n    - \"shell:sleep 2\"\n    - \"shell:echo v1\"\n    - \"snapshot:cat tags.txt\"\n    - \"snapshot:wc -l\"\n"),
    )
    .unwrap();
    write(dir.path(), "release.yaml", RELEASE);
    let store = dir.path().join("runs.db");

    // The quick start's run and a release, both waiting at their gates (no terminal: exit code 3).
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["run", "examples/workflows/hello.yaml"]), 3);
    let hello = run_id_in(&stderr);
    let (_, stderr) = expect_code(&mut workflow(dir.path(), &store, &["run", "release.yaml"]), 3);
    let release = run_id_in(&stderr);
    let alice = token(dir.path(), &store, "alice");
    let bob = token(dir.path(), &store, "bob");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = workflow(dir.path(), &store, &["serve", "--listen", &format!("127.0.0.1:{port}")]);
    let _server = Server(serve.env_remove("WORKFLOW_YES").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    support::wait_for(Duration::from_secs(20), "the server to answer", || {
        let healthy = std::process::Command::new("curl").args(["-sf", &format!("{base}/healthz")]).output().map(|o| o.status.success());
        healthy.unwrap_or(false).then_some(())
    });

    let driver = Driver::start(&chromedriver).await;

    // Bob may see the release but not approve it: the page says so, and the server refuses his form.
    let browser = driver.session(&chromium, 1000, 1400).await;
    sign_in(&browser, &base, &bob).await;
    let waiting = browser.text().await;
    assert!(waiting.contains("Approval: hello"), "the quick start's gate waits for anyone: {waiting}");
    assert!(!waiting.contains("Approval: release"), "the release waits for alice only: {waiting}");
    browser.goto(&format!("{base}/runs/{release}")).await;
    assert!(browser.text().await.contains("Only alice may answer this; you are signed in as bob"));
    let refused = browser
        .script_async(
            "const done = arguments[arguments.length - 1];
             const body = new URLSearchParams({ csrf: document.querySelector('input[name=csrf]').value, comment: 'me' });
             fetch(arguments[0], { method: 'POST', body }).then(r => done(r.status));",
            json!([format!("/runs/{release}/approve")]),
        )
        .await;
    assert_eq!(refused, json!(403), "bob's approval is refused");
    assert!(status_json(dir.path(), &store, &release)["questions"][0]["operator"].is_null(), "nothing was written");
    browser.close().await;

    // Alice signs in, sees both, and opens the release.
    let browser = driver.session(&chromium, 1000, 1400).await;
    sign_in(&browser, &base, &alice).await;
    let waiting = browser.text().await;
    assert!(waiting.contains("Approval: release") && waiting.contains("Approval: hello"), "{waiting}");
    browser.click(&format!("a.button[href='/runs/{release}']")).await;
    browser.wait_until(&format!("return location.pathname === '/runs/{release}';"), Duration::from_secs(10), "the run page").await;
    // The graph, with the gate as the current step, and what the run changed so far next to the decision.
    let current = browser.script("const n = document.querySelector('svg.graph .node.current'); return n ? n.textContent : null;", json!([])).await;
    assert!(current.as_str().unwrap_or_default().contains("approve: approval-gate"), "{current}");
    let measured = browser.script("return document.querySelector('.measured table').innerText;", json!([])).await;
    assert!(measured.as_str().unwrap().contains("tags"), "{measured}");
    // The step's output `<img src=x onerror=...>` is text on the page, not an image, and ran nothing.
    let xss = browser
        .script(
            "return [window.__xss === undefined, document.querySelectorAll('img').length, document.body.innerText.includes('<img src=x onerror')];",
            json!([]),
        )
        .await;
    assert_eq!(xss, json!([true, 0, true]));

    browser.type_into("#comment", "<script>window.__xss = 2</script> checked the build").await;
    browser.click("form.decision button.primary").await;
    browser.wait_until("return location.search === '?done=approved';", Duration::from_secs(10), "the page after approving").await;
    // From here the page is not reloaded: the run moves on the page by itself (live updates).
    browser.script("window.__same_page = true;", json!([])).await;
    browser
        .wait_until(
            "const b = document.querySelector('#live .badge'); return b !== null && b.textContent === 'completed';",
            Duration::from_secs(30),
            "the run to complete on the page",
        )
        .await;
    assert_eq!(
        browser.script("return window.__same_page === true && window.__xss === undefined;", json!([])).await,
        json!(true),
        "updated live, ran no script"
    );
    let page = browser.text().await;
    assert!(page.contains("approved by alice"), "{page}");
    assert!(page.contains("<script>window.__xss = 2</script> checked the build"), "the comment is shown as text: {page}");
    let delta = browser
        .script("return [...document.querySelectorAll('#live table.metrics tbody tr')].map(r => r.innerText.replace(/\\s+/g, ' ').trim());", json!([]))
        .await;
    assert_eq!(delta, json!(["tags 0 1 1 1"]), "before, expected change, after, delta");
    browser.close().await;

    // The quick start's run page, waiting, at a desktop width: the screenshot the README shows.
    let browser = driver.session(&chromium, 1100, 2400).await;
    sign_in(&browser, &base, &alice).await;
    browser.goto(&format!("{base}/runs/{hello}")).await;
    browser.wait_until("return document.querySelector('svg.graph') !== null;", Duration::from_secs(10), "the graph").await;
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(shots.join("run-page.png"), browser.screenshot().await).unwrap();
    // At 360 px nothing but the tables' own boxes scrolls sideways.
    browser.resize(360, 800).await;
    let overflow = browser.script("return document.documentElement.scrollWidth;", json!([])).await;
    assert!(overflow.as_u64().unwrap() <= 360, "the page is {overflow} px wide at 360 px");
    std::fs::write(shots.join("run-page-360.png"), browser.screenshot().await).unwrap();
    // Approve it from the page too: the quick start's run publishes its report and completes.
    browser.resize(1100, 2400).await;
    browser.type_into("#comment", "three lines, as expected").await;
    browser.click("form.decision button.primary").await;
    browser
        .wait_until(
            "const b = document.querySelector('#live .badge'); return b !== null && b.textContent === 'completed';",
            Duration::from_secs(30),
            "the quick start's run to complete",
        )
        .await;
    std::fs::write(shots.join("run-page-completed.png"), browser.screenshot().await).unwrap();
    browser.close().await;
    let status = status_json(dir.path(), &store, &hello);
    assert_eq!(status["run"]["status"], json!("completed"));
    assert_eq!(status["questions"][0]["operator"], json!("alice"));
}
