use workflow::workflow;

workflow! {
    name: "undefined-variable",
    variables: { title: "Add retries" },
    steps: [
        pr: create_pr { title: "${titel}" },
    ],
}

fn main() {}
