// Compiles every workflow in `workflows/` into typed state machines.
// A mistake in any of them fails `cargo build` with `file:line:col`.
fn main() {
    workflow::build::compile_dir("workflows");
}
