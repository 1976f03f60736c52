use workflow::workflow;

workflow! {
    name: "max-iterations-zero",
    steps: [
        work: shell { command: "echo" },
        again: loop { to: work, condition: "true", max_iterations: 0 },
    ],
}

fn main() {}
