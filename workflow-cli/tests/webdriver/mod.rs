//! A few WebDriver calls (W3C protocol) over reqwest, enough to drive
//! Debian's headless Chromium through `chromedriver`: open a page, find,
//! click and type, run a script, take a screenshot. Written here rather than
//! taken from a crate (fantoccini) because these eight calls are all the
//! tests need, and reqwest is already in the build.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key W3C WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A `chromedriver` process, ended when dropped.
pub struct Driver {
    child: Child,
    pub base: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `chromedriver` and `chromium`, or why they cannot be used here. Under `CI=true` their absence is a failure.
pub fn find_browser() -> Option<(String, String)> {
    let found = |name: &str| ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"].iter().map(|d| Path::new(d).join(name)).find(|p| p.is_file());
    match (found("chromedriver"), found("chromium")) {
        (Some(driver), Some(browser)) => Some((driver.display().to_string(), browser.display().to_string())),
        _ => {
            let why = "chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "under CI the browser tests must run: {why}");
            eprintln!("skipping the browser test: {why}");
            None
        }
    }
}

/// A free loopback port (bound, then released for the process that will listen on it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Driver {
    /// Starts `chromedriver` on a free port and waits until it answers.
    pub async fn start(driver: &str) -> Driver {
        let port = free_port();
        let child = Command::new(driver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("cannot start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let began = Instant::now();
        while client.get(format!("{base}/status")).send().await.is_err() {
            assert!(began.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Driver { child, base, _profile: tempfile::tempdir().unwrap() }
    }

    /// A new headless browser window (a fresh profile each time).
    pub async fn session(&self, browser: &str, width: u32, height: u32) -> Session {
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            &format!("--window-size={width},{height}"),
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": { "binary": browser, "args": args } } } });
        let client = reqwest::Client::new();
        let created: Value = client.post(format!("{}/session", self.base)).json(&caps).send().await.unwrap().json().await.unwrap();
        let id = created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_string();
        Session { client, url: format!("{}/session/{id}", self.base), _profile: profile }
    }
}

/// One browser window.
pub struct Session {
    client: reqwest::Client,
    url: String,
    _profile: tempfile::TempDir,
}

impl Session {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request.send().await.unwrap().json().await.unwrap();
        if let Some(error) = reply["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", reply["value"]["message"]);
        }
        reply["value"].clone()
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    /// The page's address now.
    pub async fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_string()
    }

    /// The first element `css` selects (panics when there is none).
    pub async fn find(&self, css: &str) -> String {
        let found = self.call(reqwest::Method::POST, "/element", Some(json!({ "using": "css selector", "value": css }))).await;
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element `{css}`")).to_string()
    }

    /// Clicks an element (as a person would: it must be visible and not covered).
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    /// Types `text` into an element.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{element}/value"), Some(json!({ "text": text }))).await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its value.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": args }))).await
    }

    /// Runs an async `script` whose last argument is the callback to call with the result.
    pub async fn script_async(&self, script: &str, args: Value) -> Value {
        self.call(reqwest::Method::POST, "/execute/async", Some(json!({ "script": script, "args": args }))).await
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.script("return document.body.innerText;", json!([])).await.as_str().unwrap_or_default().to_string()
    }

    /// Polls `script` until it returns `true` (or panics after `limit`).
    pub async fn wait_until(&self, script: &str, limit: Duration, what: &str) {
        let began = Instant::now();
        loop {
            if self.script(script, json!([])).await == Value::Bool(true) {
                return;
            }
            assert!(began.elapsed() < limit, "gave up after {limit:?} waiting for {what}; the page says:\n{}", self.text().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Resizes the window.
    pub async fn resize(&self, width: u32, height: u32) {
        self.call(reqwest::Method::POST, "/window/rect", Some(json!({ "width": width, "height": height }))).await;
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap()).unwrap()
    }

    /// Closes the window.
    pub async fn close(self) {
        let _ = self.client.delete(&self.url).send().await;
    }
}
