use workflow::workflow;

workflow! {
    name: "condition-type-error",
    variables: { attempts: 0 },
    steps: [
        run: shell { command: "make test" },
        decide: conditional { check: "attempts > 'three'", on_true: run, max_iterations: 3 },
    ],
}

fn main() {}
