//! A real server on a loopback port over a real SQLite store, and runs made
//! by the real executor (waiting at gates and prompts), for the HTTP tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use workflow_core::read::ReadOptions;
use workflow_runtime::actions::Actions;
use workflow_runtime::engine::IrEngine;
use workflow_runtime::executor::{Executor, ExecutorOptions, RunReport, StartOptions};
use workflow_runtime::permissions::Consent;
use workflow_runtime::store::sqlite::{SqliteOptions, SqliteStore};
use workflow_runtime::store::{RunStatus, Store};

/// A server, its store and a folder for workflows.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Fixture {
    /// A server with these tokens (name → token), listening on 127.0.0.1.
    pub async fn start(tokens: &[&str]) -> (Fixture, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        // Shell steps after a gate run when the server drives the run on: the folder's config allows them.
        std::fs::create_dir_all(dir.path().join(".workflow")).unwrap();
        std::fs::write(dir.path().join(".workflow/config.yaml"), "permissions:\n  allow: [\"shell:*\"]\n").unwrap();
        let store = Arc::new(SqliteStore::open(dir.path().join("runs.db"), SqliteOptions::default()).unwrap());
        let made = tokens.iter().map(|name| workflow_server::auth::create_token(&*store, name).unwrap()).collect();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let options = workflow_server::ServeOptions { listen: "127.0.0.1:0".parse().unwrap(), public_url: None, operator: "local-operator".into() };
        let started = workflow_server::start(store.clone(), options, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let base = format!("http://{}", started.local_addr);
        (Fixture { dir, store, base, client, stop: Some(stop) }, made)
    }

    /// Writes `yaml` to the folder and starts a run of it (consent given), driven until it stops.
    pub async fn run(&self, name: &str, yaml: &str) -> String {
        let path = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        let ir = workflow_core::set::compile_file(&path, &ReadOptions::default()).unwrap_or_else(|d| panic!("{}", d.render())).remove(0).ir;
        let options =
            ExecutorOptions { cwd: self.dir.path().to_path_buf(), operator: "starter".into(), consent: Consent::granted(), ..ExecutorOptions::default() };
        let executor = Executor::new(self.store.clone(), Actions::builtin(), options);
        let report = executor.start(Box::new(IrEngine::new(Arc::new(ir))), StartOptions { source: Some(path), ..StartOptions::default() }).await.unwrap();
        report.run_id
    }

    /// Writes `yaml` to the folder and starts a run of it (consent given) on a task of its own, as a
    /// `workflow run` elsewhere would drive it; the task ends with the run's report.
    pub fn spawn_run(&self, name: &str, yaml: &str) -> tokio::task::JoinHandle<RunReport> {
        let path = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        let ir = workflow_core::set::compile_file(&path, &ReadOptions::default()).unwrap_or_else(|d| panic!("{}", d.render())).remove(0).ir;
        let options =
            ExecutorOptions { cwd: self.dir.path().to_path_buf(), operator: "starter".into(), consent: Consent::granted(), ..ExecutorOptions::default() };
        let executor = Executor::new(self.store.clone(), Actions::builtin(), options);
        tokio::spawn(async move {
            executor.start(Box::new(IrEngine::new(Arc::new(ir))), StartOptions { source: Some(path), ..StartOptions::default() }).await.unwrap()
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Waits (up to 20 s) for the run to reach `status`.
    pub async fn wait_for(&self, run: &str, status: RunStatus) {
        for _ in 0..400 {
            if self.store.load_run(run).unwrap().unwrap().status == status {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {run} never became {}: {:?}", status.as_str(), self.store.load_run(run).unwrap().map(|r| (r.status, r.reason)));
    }

    /// Signs in through the page with `token`; the session cookie and the CSRF token of its forms.
    pub async fn sign_in(&self, token: &str) -> (String, String) {
        let response = self.client.post(self.url("/signin")).form(&[("token", token), ("next", "/runs")]).send().await.unwrap();
        assert_eq!(response.status(), 303, "signing in redirects");
        let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
        let page = self.client.get(self.url("/runs")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        (cookie, csrf)
    }
}

/// A gate that only `approvers` may answer, then a step writing `shipped.txt`.
pub fn gate(approvers: &str) -> String {
    format!(
        r#"
name: deploy
steps:
  - id: build
    action: shell
    command: "echo built"
  - id: review
    action: approval-gate
    message: "Deploy?"
    approvers: [{approvers}]
  - id: ship
    action: shell
    command: "echo shipped > shipped.txt"
    requires: review.approved
"#
    )
}
