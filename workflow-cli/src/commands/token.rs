//! `workflow token create|list|revoke`: who may sign in to `workflow serve`.
//! A token is printed once; the store keeps only its SHA-256.

use super::store::StoreArgs;
use std::process::ExitCode;
use workflow_runtime::store::Store;

/// Arguments of `workflow token`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: TokenCommand,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// What to do with tokens.
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Make a token for NAME (a person: answers given with it are recorded as NAME); printed once
    Create {
        /// Whom it is for, e.g. their login (letters, digits, `.`, `_`, `-`, `@`)
        name: String,
    },
    /// The tokens, active and revoked (names and dates; a token itself is never shown again)
    List,
    /// Revoke NAME's token: it signs in no more, and its open sessions end
    Revoke {
        /// Whose
        name: String,
    },
}

/// Runs `workflow token`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    match &args.command {
        TokenCommand::Create { name } => {
            let token = workflow_server::auth::create_token(&store, name)?;
            eprintln!("token for {name} (shown this once; only its hash is stored):");
            println!("{token}");
        }
        TokenCommand::List => {
            let tokens = store.tokens()?;
            if tokens.is_empty() {
                println!("no tokens (make one with `workflow token create NAME`)");
            }
            for t in tokens {
                let state = match t.revoked_at_ms {
                    Some(at) => format!("revoked {}", workflow_server::pages::utc(at)),
                    None => "active".to_string(),
                };
                println!("{:<24} created {}  {state}", t.name, workflow_server::pages::utc(t.created_at_ms));
            }
        }
        TokenCommand::Revoke { name } => {
            if !store.revoke_token(name, workflow_runtime::human::now_ms())? {
                return Ok(super::run::invalid(&format!("`{name}` has no active token (see `workflow token list`)")));
            }
            println!("revoked the token of {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
