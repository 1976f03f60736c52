use workflow::workflow;

workflow! {
    name: "unreachable-step",
    steps: [
        start: shell { command: "echo start", next: finish },
        orphan: shell { command: "echo never" },
        finish: end,
    ],
}

fn main() {}
