use workflow::workflow;

workflow! {
    name: "dsl-syntax-error",
    steps: [
        s1 shell { command: "echo" },
    ],
}

fn main() {}
