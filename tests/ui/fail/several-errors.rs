use workflow::workflow;

// Every mistake is reported in one build.
workflow! {
    name: "several-errors",
    models: { glm: "openai:glm-4.6" },
    steps: [
        a: shell { commnd: "echo a", next: s404 },
        a: switch_model { model: gml },
        c: tweet,
    ],
}

fn main() {}
