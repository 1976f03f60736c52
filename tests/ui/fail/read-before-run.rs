use workflow::workflow;

workflow! {
    name: "read-before-run",
    steps: [
        gate: conditional { check: "false", on_true: review },
        report: ai_prompt { prompt: "Summarize: ${review.comments}", next: done },
        review: review_pr,
        done: end,
    ],
}

fn main() {}
