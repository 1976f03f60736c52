// Workflows compiled together (here: a YAML file) must name workflows of their set.
workflow::include_workflow!("trigger-unknown-workflow.yaml");

fn main() {}
