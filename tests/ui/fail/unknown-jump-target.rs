use workflow::workflow;

workflow! {
    name: "unknown-jump-target",
    steps: [
        s1: shell { command: "echo one" },
        s9: loop { to: s99, condition: "true", max_iterations: 3 },
    ],
}

fn main() {}
