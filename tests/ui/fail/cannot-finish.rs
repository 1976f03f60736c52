use workflow::workflow;

workflow! {
    name: "cannot-finish",
    steps: [
        spin: shell { command: "echo spinning", next: spin, max_iterations: 3 },
    ],
}

fn main() {}
