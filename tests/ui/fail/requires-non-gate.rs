use workflow::workflow;

workflow! {
    name: "requires-non-gate",
    steps: [
        build: shell { command: "make" },
        deploy: shell { command: "make deploy", requires: build.approved },
    ],
}

fn main() {}
