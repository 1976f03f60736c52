use workflow::workflow;

workflow! {
    name: "rust-condition-type-error",
    variables: { attempts: 0 },
    steps: [
        run: shell { command: "make test" },
        decide: conditional { check: |vars, _steps| vars.attempts > "three", on_true: run, max_iterations: 3 },
    ],
}

fn main() {}
