use workflow::workflow;

workflow! {
    name: "unknown-action",
    steps: [
        m: merge_pull_request,
    ],
}

fn main() {}
