use workflow::workflow;

// Closures are bound only as conditions; elsewhere they would never run.
workflow! {
    name: "closure-in-set",
    variables: { tries: 0 },
    steps: [
        s1: shell { command: "echo", set: { tries: |vars, _| vars.tries + 1 } },
    ],
}

fn main() {}
