//! Where runs are kept, for the commands that run and inspect them: a
//! SQLite file or a PostgreSQL URL, opened as an `AnyStore`, so every
//! command works against either.

use std::path::PathBuf;
use workflow_runtime::store::any::{AnyStore, StoreLocation};
use workflow_runtime::store::{RunFilter, RunId, Store, StoreError};

/// `--store`: the run store to use.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// The run store: a SQLite file, or a PostgreSQL URL
    /// (postgres://USER@HOST:PORT/DB[?schema=NAME], shared by every host that uses it).
    /// Default: $WORKFLOW_STORE, else $XDG_DATA_HOME/workflow/runs.db, else ~/.local/share/workflow/runs.db
    #[arg(long = "store", value_name = "FILE|URL", env = "WORKFLOW_STORE", global = true)]
    pub location: Option<String>,
}

impl StoreArgs {
    /// Where the store is.
    pub fn location(&self) -> anyhow::Result<StoreLocation> {
        match &self.location {
            Some(location) => Ok(StoreLocation::parse(location)?),
            None => Ok(StoreLocation::Sqlite(default_store())),
        }
    }

    /// Opens (creating if needed) the store.
    pub fn open(&self) -> anyhow::Result<AnyStore> {
        let location = self.location()?;
        if let StoreLocation::Sqlite(file) = &location {
            if file.is_dir() {
                anyhow::bail!(
                    "the run store {} is a directory, not a file: point --store (or WORKFLOW_STORE) at a file, for example {}",
                    file.display(),
                    file.join("runs.db").display()
                );
            }
        }
        AnyStore::open(&location).map_err(|e| match e {
            // They name the store themselves.
            StoreError::Connect { .. } | StoreError::ForeignSchema { .. } => e.into(),
            other => anyhow::Error::new(other).context(format!("cannot open the run store {location}")),
        })
    }
}

/// `$XDG_DATA_HOME/workflow/runs.db`, else `~/.local/share/workflow/runs.db`.
pub fn default_store() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")));
    data.unwrap_or_else(|| PathBuf::from(".")).join("workflow").join("runs.db")
}

/// What a workflow name stands for when a command is given one instead of a run id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByName {
    /// Not accepted: a run id is needed.
    No,
    /// Its newest run, whatever its status (`status`).
    Newest,
    /// Its newest run that can be resumed (`resume`).
    Resumable,
}

/// The run `arg` names: a run id or a unique prefix of one, or a workflow name (see [`ByName`]).
pub fn find_run(store: &impl Store, arg: &str, by_name: ByName) -> anyhow::Result<RunId> {
    let ids = store.find_ids(arg)?;
    match ids.as_slice() {
        [one] => return Ok(one.clone()),
        [] => {}
        many => anyhow::bail!("`{arg}` matches {} runs ({}, ...): give more of the id", many.len(), many[..2.min(many.len())].join(", ")),
    }
    match by_name {
        ByName::No => anyhow::bail!("no run `{arg}` (see `{} runs`)", super::run::program()),
        ByName::Resumable => match store.latest_resumable(arg)? {
            Some(id) => Ok(id),
            None => anyhow::bail!("no run `{arg}`, and no resumable run of a workflow named `{arg}`"),
        },
        ByName::Newest => {
            let filter = RunFilter { workflow: Some(arg.to_string()), limit: Some(1), ..RunFilter::default() };
            match store.list_runs(&filter)?.into_iter().next() {
                Some(run) => Ok(run.id),
                None => anyhow::bail!("no run `{arg}`, and no run of a workflow named `{arg}`"),
            }
        }
    }
}
