//! `workflow`: check, inspect, run and answer workflows from the terminal
//! (the command line itself is the `workflow_cli` library).

fn main() -> std::process::ExitCode {
    workflow_cli::main()
}
