use workflow::workflow;

workflow! {
    name: "duplicate-step-id",
    steps: [
        build: shell { command: "make" },
        build: shell { command: "make test" },
    ],
}

fn main() {}
