use workflow::workflow;

workflow! {
    name: "misspelled-field",
    steps: [
        s1: shell { commnd: "echo hi" },
    ],
}

fn main() {}
