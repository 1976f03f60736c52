use workflow::workflow;

workflow! {
    name: "variable-not-assigned",
    variables: { answer: { type: "string" } },
    steps: [
        decide: shell { command: "echo decide", check: "exit_code == 0", on_false: report },
        ask: set_variable { name: answer, value: "yes" },
        report: shell { command: "echo ${answer}" },
    ],
}

fn main() {}
