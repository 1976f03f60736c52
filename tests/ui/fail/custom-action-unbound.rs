use workflow::workflow;

// A custom action must be bound to a Rust function that exists.
workflow! {
    name: "custom-action-unbound",
    steps: [
        deploy: custom(actions::deploy) { target: "prod" },
    ],
}

mod actions {}

fn main() {}
