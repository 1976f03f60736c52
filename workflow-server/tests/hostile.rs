//! Hostile input, each refused with the right status and nothing written:
//! no token, a guessed one, a revoked one; a form without its CSRF token; a
//! write from another site; a body too large; an unknown run. And what runs,
//! steps and people wrote is shown as text, never as markup. An open server
//! (no tokens) answers on loopback only, and refuses to listen beyond it.

mod support;

use serde_json::{json, Value};
use support::{gate, Fixture};
use workflow_runtime::human::now_ms;
use workflow_runtime::store::{RunStatus, Store};

fn unanswered(fx: &Fixture, run: &str) -> bool {
    fx.store.questions(run).unwrap().iter().all(|q| q.answer.is_none()) && fx.store.load_run(run).unwrap().unwrap().status == RunStatus::Waiting
}

#[tokio::test]
async fn missing_guessed_and_revoked_tokens_are_refused_and_write_nothing() {
    let (fx, tokens) = Fixture::start(&["alice", "bob"]).await;
    let run = fx.run("deploy", &gate("")).await;
    let approve = fx.url(&format!("/api/v1/runs/{run}/approve"));
    let none = fx.client.post(&approve).json(&json!({})).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: Value = none.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("Authorization: Bearer"), "{body}");
    let guessed = format!("wft_{}", "0".repeat(64));
    assert_eq!(fx.client.post(&approve).bearer_auth(&guessed).json(&json!({})).send().await.unwrap().status(), 401);
    assert_eq!(fx.client.get(fx.url("/api/v1/runs")).bearer_auth(&tokens[0][..20]).send().await.unwrap().status(), 401, "a prefix is no token");
    assert!(fx.store.revoke_token("bob", now_ms()).unwrap());
    assert_eq!(fx.client.post(&approve).bearer_auth(&tokens[1]).json(&json!({})).send().await.unwrap().status(), 401);
    assert!(unanswered(&fx, &run));
    // A page without a session is sent to sign in; a wrong token there is refused.
    let page = fx.client.get(fx.url(&format!("/runs/{run}"))).send().await.unwrap();
    assert_eq!((page.status().as_u16(), page.headers()["location"].to_str().unwrap()), (303, format!("/signin?next=/runs/{run}").as_str()));
    let signin = fx.client.post(fx.url("/signin")).form(&[("token", guessed.as_str())]).send().await.unwrap();
    assert_eq!(signin.status(), 401);
    assert!(signin.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn a_revoked_token_ends_its_page_sessions() {
    let (fx, tokens) = Fixture::start(&["alice", "carol"]).await;
    let (cookie, _) = fx.sign_in(&tokens[0]).await;
    assert!(cookie.contains("workflow_session="));
    assert_eq!(fx.client.get(fx.url("/runs")).header("cookie", &cookie).send().await.unwrap().status(), 200);
    fx.store.revoke_token("alice", now_ms()).unwrap();
    assert_eq!(fx.client.get(fx.url("/runs")).header("cookie", &cookie).send().await.unwrap().status(), 303, "back to sign-in");
}

#[tokio::test]
async fn forms_need_their_csrf_token_and_writes_from_other_sites_are_refused() {
    let (fx, tokens) = Fixture::start(&["alice"]).await;
    let run = fx.run("deploy", &gate("")).await;
    let (cookie, csrf) = fx.sign_in(&tokens[0]).await;
    let form = fx.url(&format!("/runs/{run}/approve"));
    let without = fx.client.post(&form).header("cookie", &cookie).form(&[("comment", "ok")]).send().await.unwrap();
    assert_eq!(without.status(), 403);
    let wrong = fx.client.post(&form).header("cookie", &cookie).form(&[("comment", "ok"), ("csrf", "0000")]).send().await.unwrap();
    assert_eq!(wrong.status(), 403);
    let elsewhere =
        fx.client.post(&form).header("cookie", &cookie).header("origin", "https://evil.example").form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(elsewhere.status(), 403, "a write whose Origin is another site");
    for path in ["pause", "cancel"] {
        let response = fx.client.post(fx.url(&format!("/runs/{run}/{path}"))).header("cookie", &cookie).form(&[("x", "y")]).send().await.unwrap();
        assert_eq!(response.status(), 403, "{path} without the CSRF token");
    }
    assert!(unanswered(&fx, &run), "nothing was written");
    // With it, the same form works.
    let with = fx.client.post(&form).header("cookie", &cookie).form(&[("comment", "ok"), ("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!((with.status().as_u16(), with.headers()["location"].to_str().unwrap()), (303, format!("/runs/{run}?done=approved").as_str()));
    fx.wait_for(&run, RunStatus::Completed).await;
}

#[tokio::test]
async fn oversized_bodies_wrong_types_and_unknown_runs_are_refused() {
    let (fx, tokens) = Fixture::start(&["alice"]).await;
    let run = fx.run("deploy", &gate("")).await;
    let approve = fx.url(&format!("/api/v1/runs/{run}/approve"));
    let huge = json!({ "comment": "x".repeat(workflow_server::BODY_LIMIT + 1) });
    let response = fx.client.post(&approve).bearer_auth(&tokens[0]).json(&huge).send().await.unwrap();
    assert_eq!(response.status(), 413);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());
    let (cookie, csrf) = fx.sign_in(&tokens[0]).await;
    let big_form = fx
        .client
        .post(fx.url(&format!("/runs/{run}/approve")))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("comment", &"y".repeat(100_000))])
        .send()
        .await
        .unwrap();
    assert_eq!(big_form.status(), 413);
    let text = fx.client.post(&approve).bearer_auth(&tokens[0]).header("content-type", "text/plain").body("approve!").send().await.unwrap();
    assert_eq!(text.status(), 415);
    let broken = fx.client.post(&approve).bearer_auth(&tokens[0]).header("content-type", "application/json").body("{\"comment\":").send().await.unwrap();
    assert_eq!(broken.status(), 422);
    let unknown_field = fx.client.post(&approve).bearer_auth(&tokens[0]).json(&json!({ "approved": true })).send().await.unwrap();
    assert_eq!(unknown_field.status(), 422);
    assert!(unanswered(&fx, &run));
    for path in ["/api/v1/runs/no-such-run", "/api/v1/runs/no-such-run/events", "/api/v1/runs/no-such-run/questions", "/api/v1/runs/no-such-run/live"] {
        let response = fx.client.get(fx.url(path)).bearer_auth(&tokens[0]).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], json!("no run `no-such-run`"));
    }
    for verb in ["approve", "reject", "answer", "pause", "resume", "cancel"] {
        let body = if verb == "answer" { json!({ "value": "x" }) } else { json!({}) };
        let response = fx.client.post(fx.url(&format!("/api/v1/runs/no-such-run/{verb}"))).bearer_auth(&tokens[0]).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 404, "{verb}");
    }
    assert_eq!(fx.client.get(fx.url("/runs/no-such-run")).header("cookie", &cookie).send().await.unwrap().status(), 404);
    assert_eq!(fx.client.get(fx.url("/api/v1/nothing-here")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn what_runs_and_people_wrote_is_shown_as_text() {
    let (fx, tokens) = Fixture::start(&["alice"]).await;
    let yaml = r#"
name: hostile
steps:
  - id: say
    action: shell
    command: "echo '<img src=x onerror=alert(1)>'; echo '<script>alert(2)</script>'"
  - id: ask
    action: interactive
    prompt: "Name? <b>bold</b>"
  - id: review
    action: approval-gate
    message: "Ship </textarea><script>alert(3)</script>?"
"#;
    let run = fx.run("hostile", yaml).await;
    let answer = fx
        .client
        .post(fx.url(&format!("/api/v1/runs/{run}/answer")))
        .bearer_auth(&tokens[0])
        .json(&json!({ "value": "<svg onload=alert(4)>" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    for _ in 0..200 {
        if fx.store.load_run(&run).unwrap().unwrap().open.is_some_and(|o| o.step_id == "review") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let page = fx.client.get(fx.url(&format!("/runs/{run}"))).bearer_auth(&tokens[0]).send().await.unwrap().text().await.unwrap();
    for raw in ["<img src=x", "<script>alert", "<svg onload", "<b>bold", "</textarea><script>"] {
        assert!(!page.contains(raw), "`{raw}` is escaped on the page");
    }
    for shown in ["&lt;img src=x onerror=alert(1)&gt;", "&lt;script&gt;alert(2)&lt;/script&gt;", "&lt;svg onload=alert(4)&gt;", "Name? &lt;b&gt;bold&lt;/b&gt;"]
    {
        assert!(page.contains(shown), "`{shown}` is on the page as text");
    }
}

#[tokio::test]
async fn an_open_server_serves_loopback_names_only_and_never_listens_beyond_loopback() {
    let (fx, _) = Fixture::start(&[]).await;
    let run = fx.run("deploy", &gate("")).await;
    // Everyone who reaches it is the local operator.
    let response = fx.client.post(fx.url(&format!("/api/v1/runs/{run}/approve"))).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["by"], json!("local-operator"));
    // A name that resolves to this machine but is not a loopback name (DNS rebinding) is refused.
    let rebound = fx.client.get(fx.url("/api/v1/runs")).header("host", "attacker.example").send().await.unwrap();
    assert_eq!(rebound.status(), 403);
    let beyond = workflow_server::ServeOptions { listen: "0.0.0.0:0".parse().unwrap(), public_url: None, operator: "me".into() };
    match workflow_server::start(fx.store.clone(), beyond, async {}).await {
        Err(e) => assert!(e.to_string().contains("no API token exists"), "{e}"),
        Ok(_) => panic!("an open server listened beyond loopback"),
    }
}
