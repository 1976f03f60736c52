use workflow::workflow;

workflow! {
    name: "unbounded-cycle",
    steps: [
        poll: shell { command: "curl -s localhost:1/ready" },
        again: conditional { check: "poll.exit_code != 0", on_true: poll },
    ],
}

fn main() {}
