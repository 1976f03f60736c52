//! `workflow serve`: the web page and HTTP API over the run store (the
//! `workflow-server` crate does the work; this only reads the command line).

use super::store::StoreArgs;
use anyhow::Context;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `workflow serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on. Beyond loopback only once a token exists (`workflow token create NAME`)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The address people open (https://runs.example.com): gate notifications link to run pages there,
    /// and cookies are marked Secure when it is https
    #[arg(long, value_name = "URL", env = "WORKFLOW_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs `workflow serve` until Ctrl-C (or SIGTERM).
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let store = Arc::new(args.store.open()?);
    let options = workflow_server::ServeOptions { listen: args.listen, public_url: args.public_url.clone(), operator: super::run::operator() };
    super::run::runtime()?.block_on(async {
        let started = workflow_server::start(store, options, shutdown()).await?;
        eprintln!("{}", started.banner);
        started.task.await.context("the server task stopped")??;
        eprintln!("workflow serve: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Resolves on Ctrl-C or SIGTERM: the server stops taking requests and finishes those in flight.
async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
