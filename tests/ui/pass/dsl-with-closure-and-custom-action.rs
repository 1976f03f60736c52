use workflow::{workflow, ActionError, ActionInput, Machine, Outcome, State, Transition};

mod actions {
    use super::*;

    /// A custom action: bound by path, so a missing function is a compile error.
    pub async fn deploy(input: ActionInput) -> Result<serde_json::Value, ActionError> {
        Ok(serde_json::json!({ "target": input.params["target"] }))
    }
}

workflow! {
    name: "ship",
    variables: { tries: 0, title: "Add retries" },
    models: { glm: "openai:glm-4.6" },
    steps: [
        pr: create_pr { title: "${title}" },
        to_glm: switch_model { model: glm },
        review: review_pr { check: approved, on_approved: gate, on_rejected: fix },
        fix: make_changes { prompt: "Address: ${review.comments}", set: { tries: "tries + 1" } },
        again: loop { to: review, condition: |vars, _steps| vars.tries < 3, max_iterations: 3 },
        gate: approval_gate { message: "Ship ${title}?" },
        deploy: custom(actions::deploy) { target: "prod", requires: gate.approved },
        done: end,
    ],
}

fn main() {
    assert_eq!(<ship::Machine as Machine>::NAME, "ship");
    assert!(<ship::Machine as Machine>::custom_action(ship::Step::Deploy).is_some());
    let mut state = State::<ship::Machine>::new();
    let mut at = ship::Machine::begin(&mut state);
    let mut path = Vec::new();
    while let Transition::Goto(step) = at {
        path.push(ship::Machine::step_id(step));
        at = ship::Machine::next(&mut state, step, Outcome::Success);
    }
    // Every review rejects (the default output); the closure stops the loop after three fixes.
    assert_eq!(at, Transition::Complete);
    assert_eq!(state.variables.tries, 3);
    assert_eq!(path.iter().filter(|s| **s == "review").count(), 3);
    assert_eq!(path[path.len() - 3..], ["gate", "deploy", "done"]);
}
