use workflow::{workflow, Machine};

workflow! {
    name: "no-cascade",
    steps: [
        s1: shell { command: "echo", next: s2 },
    ],
}

// The workflow has one mistake; code that uses its machine must not add more errors.
fn main() {
    let _ = <no_cascade::Machine as Machine>::NAME;
    let _state = workflow::State::<no_cascade::Machine>::new();
}
