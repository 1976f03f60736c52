//! One module per subcommand, and what they share: compile options, exit
//! codes, output.

pub mod answer;
pub mod build;
pub mod control;
pub mod diff;
pub mod estimate;
pub mod fmt;
pub mod list;
pub mod new;
pub mod progress;
pub mod resume;
pub mod run;
pub mod serve;
pub mod show;
pub mod status;
pub mod store;
pub mod token;
pub mod validate;

use anyhow::Context;
use std::io::Write;
use std::process::ExitCode;
use workflow_core::read::ReadOptions;
use workflow_core::Diagnostics;

/// Exit code for input that is not a valid workflow (or not there at all).
pub const EXIT_INVALID: u8 = 2;

/// Options that change what the compiler accepts.
#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// Accept NAME as an action implemented in Rust (repeatable)
    #[arg(long = "custom-action", value_name = "NAME")]
    pub custom_actions: Vec<String>,
}

impl CompileArgs {
    /// The reader options these arguments ask for.
    pub fn read_options(&self) -> ReadOptions {
        let mut options = ReadOptions::default();
        options.custom_actions.extend(self.custom_actions.iter().cloned());
        options
    }
}

/// Prints the diagnostics on stderr as a compiler would; the exit code for invalid input.
pub fn report_invalid(mut diags: Diagnostics) -> ExitCode {
    diags.sort();
    eprint!("{}", diags.render());
    ExitCode::from(EXIT_INVALID)
}

/// Writes `text` to stdout. A reader that went away (`| head`) is not a failure.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.context("cannot write to stdout"),
    }
}
