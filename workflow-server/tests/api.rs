//! The JSON API against a real server and store: listing by keyset pages,
//! a run and its events and questions, approving (the run goes on in the
//! server and completes), answering each kind of prompt (a password never
//! shown back), the approvers check, pause / resume / cancel, metrics,
//! live events and the OpenAPI document.

mod support;

use serde_json::{json, Value};
use support::{gate, Fixture};
use workflow_runtime::store::{RunStatus, Store};

async fn get(fx: &Fixture, token: &str, path: &str) -> (u16, Value) {
    let response = fx.client.get(fx.url(path)).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(fx: &Fixture, token: &str, path: &str, body: Value) -> (u16, Value) {
    let response = fx.client.post(fx.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn runs_are_listed_newest_first_a_page_at_a_time() {
    let (fx, tokens) = Fixture::start(&["alice"]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(fx.run(&format!("w{i}"), &format!("name: w{}\nsteps:\n  - id: done\n    action: end\n", i % 2)).await);
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut path = "/api/v1/runs?limit=2".to_string();
    loop {
        let (status, page) = get(&fx, &tokens[0], &path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/runs?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every run once, newest first");
    let (_, odd) = get(&fx, &tokens[0], "/api/v1/runs?workflow=w1&status=completed").await;
    assert_eq!(odd["runs"].as_array().unwrap().len(), 2);
    let (status, error) = get(&fx, &tokens[0], "/api/v1/runs?status=sleeping").await;
    assert_eq!((status, error["error"].as_str().unwrap().contains("unknown status `sleeping`")), (400, true));
    let (status, _) = get(&fx, &tokens[0], "/api/v1/runs?after=not-a-cursor").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn approving_records_the_person_and_the_server_drives_the_run_to_its_end() {
    let (fx, tokens) = Fixture::start(&["alice"]).await;
    let run = fx.run("deploy", &gate("alice")).await;
    let (_, waiting) = get(&fx, &tokens[0], "/api/v1/questions").await;
    assert_eq!(waiting[0]["run_id"], json!(run));
    assert_eq!(waiting[0]["message"], json!("Deploy?"));

    let (status, done) = post(&fx, &tokens[0], &format!("/api/v1/runs/{run}/approve"), json!({ "comment": "looks right" })).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!((done["outcome"].as_str(), done["by"].as_str(), done["continuing"].as_str()), (Some("approved"), Some("alice"), Some("here")));
    fx.wait_for(&run, RunStatus::Completed).await;
    assert_eq!(std::fs::read_to_string(fx.file("shipped.txt")).unwrap(), "shipped\n", "the step after the gate ran");

    let (_, questions) = get(&fx, &tokens[0], &format!("/api/v1/runs/{run}/questions")).await;
    let answer = &questions[0]["answer"];
    assert_eq!((answer["operator"].as_str(), answer["approved"].as_bool(), answer["comment"].as_str()), (Some("alice"), Some(true), Some("looks right")));
    let (_, record) = get(&fx, &tokens[0], &format!("/api/v1/runs/{run}")).await;
    assert_eq!(record["status"], json!("completed"));
    assert_eq!(record["output"]["decisions"][0]["operator"], json!("alice"), "the audit record names who approved");
    let (_, events) = get(&fx, &tokens[0], &format!("/api/v1/runs/{run}/events")).await;
    let steps: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["build", "review", "ship"]);
    let (_, waiting) = get(&fx, &tokens[0], "/api/v1/questions").await;
    assert_eq!(waiting, json!([]), "nothing waits any more");
}

#[tokio::test]
async fn someone_not_among_the_approvers_is_refused_and_nothing_is_written() {
    let (fx, tokens) = Fixture::start(&["alice", "bob"]).await;
    let run = fx.run("deploy", &gate("alice")).await;
    let (_, bobs) = get(&fx, &tokens[1], "/api/v1/questions").await;
    assert_eq!(bobs, json!([]), "the gate is not bob's to answer");
    for verb in ["approve", "reject"] {
        let (status, error) = post(&fx, &tokens[1], &format!("/api/v1/runs/{run}/{verb}"), json!({ "comment": "me too" })).await;
        assert_eq!(status, 403, "{error}");
        assert!(error["error"].as_str().unwrap().contains("its approvers are alice"), "{error}");
    }
    assert!(fx.store.questions(&run).unwrap()[0].answer.is_none(), "nothing was written");
    assert_eq!(fx.store.load_run(&run).unwrap().unwrap().status, RunStatus::Waiting);
}

#[tokio::test]
async fn prompts_take_text_choice_confirm_and_multiline_and_a_password_is_never_shown_back() {
    let (fx, tokens) = Fixture::start(&["alice"]).await;
    let yaml = r#"
name: asks
interactive: true
steps:
  - { id: name, action: interactive, prompt: "Name?", input-type: text, validation-pattern: "[a-z]+" }
  - { id: env, action: interactive, prompt: "Where?", input-type: choice, choices: [staging, production] }
  - { id: sure, action: interactive, prompt: "Sure?", input-type: confirm }
  - { id: notes, action: interactive, prompt: "Notes?", input-type: multiline }
  - { id: secret, action: interactive, prompt: "Password?", input-type: password }
"#;
    let run = fx.run("asks", yaml).await;
    let answer = |value: &str| json!({ "value": value });
    let path = format!("/api/v1/runs/{run}/answer");
    let (status, error) = post(&fx, &tokens[0], &path, answer("NOT lower")).await;
    assert_eq!(status, 409, "{error}");
    assert!(error["error"].as_str().unwrap().contains("must match `[a-z]+`"), "{error}");
    let (status, error) = post(&fx, &tokens[0], &format!("/api/v1/runs/{run}/approve"), json!({})).await;
    assert_eq!(status, 409, "a decision for a prompt: {error}");
    for (value, step) in [("ada", "env"), ("production", "sure"), ("yes", "notes"), ("line one\r\nline two", "secret")] {
        assert_eq!(post(&fx, &tokens[0], &path, answer(value)).await.0, 200);
        // Each answer lets the run go on to the next prompt.
        for _ in 0..200 {
            let r = fx.store.load_run(&run).unwrap().unwrap();
            if r.status == RunStatus::Waiting && r.open.as_ref().is_some_and(|o| o.step_id == step) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
    assert_eq!(post(&fx, &tokens[0], &path, answer("hunter2")).await.0, 200);
    fx.wait_for(&run, RunStatus::Completed).await;
    let (_, questions) = get(&fx, &tokens[0], &format!("/api/v1/runs/{run}/questions")).await;
    let values: Vec<Value> = questions.as_array().unwrap().iter().map(|q| q["answer"]["value"].clone()).collect();
    assert_eq!(values, [json!("ada"), json!("production"), json!(true), json!("line one\nline two"), Value::Null]);
    assert_eq!(questions[4]["answer"]["hidden"], json!(true));
    let page = fx.client.get(fx.url(&format!("/runs/{run}"))).bearer_auth(&tokens[0]).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("hunter2"), "the password is on no page");
    let api = fx.client.get(fx.url(&format!("/api/v1/runs/{run}"))).bearer_auth(&tokens[0]).send().await.unwrap().text().await.unwrap();
    assert!(!api.contains("hunter2"), "nor in the API's run record");
}

#[tokio::test]
async fn pause_resume_and_cancel_do_what_the_command_line_does() {
    let (fx, tokens) = Fixture::start(&["alice"]).await;
    let run = fx.run("deploy", &gate("")).await;
    let (status, done) = post(&fx, &tokens[0], &format!("/api/v1/runs/{run}/pause"), json!({})).await;
    assert_eq!((status, done["outcome"].as_str()), (200, Some("paused")), "{done}");
    let record = fx.store.load_run(&run).unwrap().unwrap();
    assert_eq!((record.status, record.reason.as_deref()), (RunStatus::Paused, Some("paused by alice")));
    // Resumed, the run asks its gate again and waits for it.
    let (status, done) = post(&fx, &tokens[0], &format!("/api/v1/runs/{run}/resume"), json!({})).await;
    assert_eq!((status, done["continuing"].as_str()), (200, Some("here")), "{done}");
    fx.wait_for(&run, RunStatus::Waiting).await;
    let (status, done) = post(&fx, &tokens[0], &format!("/api/v1/runs/{run}/cancel"), json!({})).await;
    assert_eq!((status, done["outcome"].as_str()), (200, Some("cancelled")), "{done}");
    let record = fx.store.load_run(&run).unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Cancelled);
    assert!(record.output.is_some(), "a cancelled run gets its audit output");
    let (status, error) = post(&fx, &tokens[0], &format!("/api/v1/runs/{run}/resume"), json!({})).await;
    assert_eq!(status, 409, "{error}");
    assert!(!fx.file("shipped.txt").exists());
}

/// A step that sleeps in a grandchild of its driver (`sleep` under the step's `sh`), its pid written to `pid`.
#[cfg(target_os = "linux")]
const SLOW: &str = "name: slow\nsteps:\n  - id: wait\n    action: shell\n    command: \"sleep 30 & echo $! > pid; wait\"\n  - id: after\n    action: shell\n    command: touch after\n";

/// Whether process `pid` is alive (not gone, not a zombie).
#[cfg(target_os = "linux")]
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_now_interrupts_the_step_a_live_driver_runs_and_kills_its_processes() {
    let (fx, tokens) = Fixture::start(&["alice"]).await;
    let driving = fx.spawn_run("slow", SLOW);
    let mut pid = String::new();
    for _ in 0..400 {
        pid = std::fs::read_to_string(fx.file("pid")).unwrap_or_default().trim().to_string();
        if !pid.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(alive(&pid), "the step's sleep runs");
    let run = fx.store.list_runs(&Default::default()).unwrap()[0].id.clone();

    // The page offers to interrupt what a live process drives, beside the cancel that waits for the step.
    let page = fx.client.get(fx.url(&format!("/runs/{run}"))).bearer_auth(&tokens[0]).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Cancel now") && page.contains(r#"name="now" value="true""#), "{page}");
    let (status, error) = post(&fx, &tokens[0], &format!("/api/v1/runs/{run}/cancel?now=maybe"), json!({})).await;
    assert_eq!((status, error["error"].as_str()), (400, Some("`now` is `true` or `false`, not `maybe`")));

    let (status, done) = post(&fx, &tokens[0], &format!("/api/v1/runs/{run}/cancel?now=true"), json!({})).await;
    assert_eq!((status, done["outcome"].as_str(), done["continuing"].as_str()), (200, Some("cancel now requested"), Some("elsewhere")), "{done}");
    let report = tokio::time::timeout(std::time::Duration::from_secs(10), driving).await.expect("the driver interrupted its 30 s step").unwrap();
    assert_eq!((report.status, report.reason.as_deref()), (RunStatus::Cancelled, Some("cancelled on request, interrupting step `wait`")));
    let events = fx.store.events(&run).unwrap();
    assert!(events.len() == 1 && events[0].error.as_deref().is_some_and(|e| e.contains("interrupted")), "{events:?}");
    for _ in 0..100 {
        if !alive(&pid) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!alive(&pid), "the step's sleep (pid {pid}) outlived the interrupted step");
    assert!(!fx.file("after").exists(), "the step after it never ran");
    let page = fx.client.get(fx.url(&format!("/runs/{run}"))).bearer_auth(&tokens[0]).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("Cancel now"), "a finished run offers nothing to interrupt");
}

#[tokio::test]
async fn metrics_count_runs_steps_and_waiting_questions() {
    let (fx, tokens) = Fixture::start(&["alice"]).await;
    fx.run("deploy", &gate("")).await;
    fx.run("done", "name: done\nsteps:\n  - id: done\n    action: end\n").await;
    let text = fx.client.get(fx.url("/metrics")).bearer_auth(&tokens[0]).send().await.unwrap().text().await.unwrap();
    for line in [
        "workflow_runs{status=\"waiting\"} 1",
        "workflow_runs{status=\"completed\"} 1",
        "workflow_questions_waiting 1",
        "workflow_step_duration_seconds_count 2",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    assert!(text.contains("# TYPE workflow_step_duration_seconds histogram"));
    assert_eq!(fx.client.get(fx.url("/metrics")).send().await.unwrap().status(), 401, "metrics need a token once tokens exist");
    assert_eq!(fx.client.get(fx.url("/healthz")).send().await.unwrap().text().await.unwrap(), "ok\n");
}

#[tokio::test]
async fn live_events_tell_a_watcher_when_the_run_moves() {
    let (fx, tokens) = Fixture::start(&["alice"]).await;
    let run = fx.run("deploy", &gate("")).await;
    let mut stream = fx.client.get(fx.url(&format!("/api/v1/runs/{run}/live"))).bearer_auth(&tokens[0]).send().await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut seen = String::new();
    let mut approved = false;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !seen.contains("\"status\":\"completed\"") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("an event before the deadline").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if !approved && seen.contains("\"status\":\"waiting\"") {
            approved = true;
            assert_eq!(post(&fx, &tokens[0], &format!("/api/v1/runs/{run}/approve"), json!({})).await.0, 200);
        }
    }
    assert!(seen.contains("event: run"), "{seen}");
}

#[tokio::test]
async fn the_openapi_document_describes_every_call() {
    let (fx, _) = Fixture::start(&[]).await;
    let doc: Value = fx.client.get(fx.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/runs",
        "/api/v1/runs/{id}",
        "/api/v1/runs/{id}/events",
        "/api/v1/runs/{id}/questions",
        "/api/v1/runs/{id}/approve",
        "/api/v1/runs/{id}/answer",
        "/api/v1/runs/{id}/cancel",
        "/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
