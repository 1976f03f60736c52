use workflow::{Machine, Outcome, State, Transition};

workflow::include_workflow!("include-yaml-workflow.yaml");

fn main() {
    let mut state = State::<counter::Machine>::new();
    let mut at = counter::Machine::begin(&mut state);
    let mut steps = 0;
    while let Transition::Goto(step) = at {
        steps += 1;
        at = counter::Machine::next(&mut state, step, Outcome::Success);
    }
    assert_eq!(at, Transition::Complete);
    assert_eq!(state.variables.i, 3);
    assert_eq!(steps, 6);
    // Variables are typed: `i` is an i64.
    let _: i64 = state.variables.i;
}
