// A YAML mistake is reported as file:line:col with the source line.
workflow::include_workflow!("include-yaml-error.yaml");

fn main() {}
