use workflow::workflow;

// `prepare` only leads into the trap: the error points at `spin` and its jumps.
workflow! {
    name: "cannot-finish",
    steps: [
        prepare: shell { command: "echo ready" },
        spin: shell { command: "echo spinning", next: spin, max_iterations: 3, on_exhausted: spin },
    ],
}

fn main() {}
