use workflow::workflow;

workflow! {
    name: "bad-validation-pattern",
    steps: [
        ask: interactive { prompt: "Name?", input_type: text, validation_pattern: "^[a-z+$" },
    ],
}

fn main() {}
