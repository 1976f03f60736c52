use workflow::workflow;

workflow! {
    name: "loop-without-bound",
    steps: [
        work: shell { command: "echo work" },
        repeat: loop { to: work, condition: "true" },
    ],
}

fn main() {}
