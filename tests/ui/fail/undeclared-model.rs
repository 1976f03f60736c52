use workflow::workflow;

workflow! {
    name: "undeclared-model",
    models: { glm: "openai:glm-4.6" },
    steps: [
        s1: switch_model { model: gml },
    ],
}

fn main() {}
