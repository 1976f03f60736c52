//! Diagrams of a workflow's control flow: Mermaid ([`to_mermaid`]) for
//! Markdown and Graphviz DOT ([`to_dot`]) for `dot -Tsvg`.
//!
//! Both are drawn from the IR, so a diagram shows the jumps the run will
//! take (fall-throughs, defaults and aliases already resolved), not the
//! YAML as written. One node per step (`id: action`), plus START and the
//! END / FAIL terminals the steps lead to.

use crate::ir::{FlowIr, Target, WorkflowIr};

/// The workflow as a flowchart in Mermaid syntax (`flowchart TD`).
pub fn to_mermaid(ir: &WorkflowIr) -> String {
    let graph = Graph::of(ir);
    let mut out = String::from("flowchart TD\n");
    for node in &graph.nodes {
        let text = mermaid_text(&node.label);
        let shape = match node.shape {
            Shape::Terminal => format!("([\"{text}\"])"),
            Shape::Step => format!("[\"{text}\"]"),
            Shape::Decision => format!("{{\"{text}\"}}"),
        };
        out.push_str(&format!("    {}{shape}\n", node.id));
    }
    for edge in &graph.edges {
        let arrow = if edge.dashed { "-.->" } else { "-->" };
        match &edge.label {
            Some(label) => out.push_str(&format!("    {} {arrow}|\"{}\"| {}\n", edge.from, mermaid_text(label), edge.to)),
            None => out.push_str(&format!("    {} {arrow} {}\n", edge.from, edge.to)),
        }
    }
    out
}

/// The workflow as a Graphviz digraph (render with `dot -Tsvg`).
pub fn to_dot(ir: &WorkflowIr) -> String {
    let graph = Graph::of(ir);
    let mut out = format!("digraph \"{}\" {{\n", dot_text(&ir.name));
    out.push_str("    rankdir=TB;\n");
    out.push_str("    node [shape=box, style=rounded];\n");
    for node in &graph.nodes {
        let shape = match node.shape {
            Shape::Terminal => ", shape=oval",
            Shape::Step => "",
            Shape::Decision => ", shape=diamond",
        };
        out.push_str(&format!("    {} [label=\"{}\"{shape}];\n", node.id, dot_text(&node.label)));
    }
    for edge in &graph.edges {
        let mut attrs = Vec::new();
        if let Some(label) = &edge.label {
            attrs.push(format!("label=\"{}\"", dot_text(label)));
        }
        if edge.dashed {
            attrs.push("style=dashed".to_string());
        }
        let attrs = if attrs.is_empty() { String::new() } else { format!(" [{}]", attrs.join(", ")) };
        out.push_str(&format!("    {} -> {}{attrs};\n", edge.from, edge.to));
    }
    out.push_str("}\n");
    out
}

/// What both renderers draw: nodes in step order, then the edges.
#[derive(Debug)]
struct Graph {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

#[derive(Debug)]
struct Node {
    /// A name safe as an identifier in both syntaxes.
    id: String,
    label: String,
    shape: Shape,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    Terminal,
    Step,
    /// A step that chooses between jumps (branch or loop).
    Decision,
}

#[derive(Debug, PartialEq)]
struct Edge {
    from: String,
    to: String,
    label: Option<String>,
    dashed: bool,
}

const START: &str = "START";
const END: &str = "END";
const FAIL: &str = "FAIL";

impl Graph {
    fn of(ir: &WorkflowIr) -> Graph {
        let ids = node_ids(ir);
        let name = |target: Target| match target {
            Target::Step(i) => ids.get(i).cloned().unwrap_or_else(|| format!("step_{i}")),
            Target::Complete => END.to_string(),
            Target::Fail => FAIL.to_string(),
        };
        let mut edges = Vec::new();
        let mut edge = |from: &str, to: Target, label: Option<String>, dashed: bool| {
            edges.push(Edge { from: from.to_string(), to: name(to), label, dashed });
        };

        let first = if ir.steps.is_empty() { Target::Complete } else { Target::Step(0) };
        edge(START, first, None, false);
        for (step, from) in ir.steps.iter().zip(&ids) {
            let on_error = match &step.flow {
                FlowIr::Goto { next, on_error } => {
                    edge(from, *next, None, false);
                    Some(*on_error)
                }
                FlowIr::Branch { check, on_true, on_false, on_error } => {
                    edge(from, *on_true, Some(format!("true: {check}")), false);
                    edge(from, *on_false, Some("false".to_string()), false);
                    Some(*on_error)
                }
                FlowIr::Loop { condition, to, max, next, on_exhausted, on_error } => {
                    edge(from, Target::Step(*to), Some(format!("loop (max {max}): {condition}")), false);
                    edge(from, *next, None, false);
                    edge(from, *on_exhausted, Some("exhausted".to_string()), false);
                    Some(*on_error)
                }
                FlowIr::End { failed } => {
                    edge(from, if *failed { Target::Fail } else { Target::Complete }, None, false);
                    None
                }
            };
            if let Some(max) = step.max_visits {
                edge(from, step.on_exhausted, Some(format!("exhausted (max {max})")), false);
            }
            // Failing on error is the default; drawing it for every step would hide the real jumps.
            if let Some(target) = on_error.filter(|t| *t != Target::Fail) {
                edge(from, target, Some("error".to_string()), true);
            }
        }

        let mut nodes = vec![Node { id: START.to_string(), label: "start".to_string(), shape: Shape::Terminal }];
        for (step, id) in ir.steps.iter().zip(ids) {
            let shape = match step.flow {
                FlowIr::Branch { .. } | FlowIr::Loop { .. } => Shape::Decision,
                FlowIr::Goto { .. } | FlowIr::End { .. } => Shape::Step,
            };
            nodes.push(Node { id, label: format!("{}: {}", step.id, step.action), shape });
        }
        for (id, label) in [(END, "end"), (FAIL, "fail")] {
            if edges.iter().any(|e| e.to == id) {
                nodes.push(Node { id: id.to_string(), label: label.to_string(), shape: Shape::Terminal });
            }
        }
        Graph { nodes, edges }
    }
}

/// One identifier per step: `step_` and the id with anything but ASCII
/// letters, digits and `_` replaced by `_` (Mermaid reads `-` and a bare `end`
/// as syntax), made unique should two ids sanitize alike (`a-b`, `a_b`).
fn node_ids(ir: &WorkflowIr) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    ir.steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let base: String = step.id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            let mut id = format!("step_{base}");
            if taken.contains(&id) {
                id = format!("{id}_{i}");
            }
            while taken.contains(&id) {
                id.push('_');
            }
            taken.insert(id.clone());
            id
        })
        .collect()
}

/// Text inside a quoted Mermaid label: characters Mermaid would read as
/// syntax or HTML become entity codes (`#quot;`), which it decodes on display.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text inside a quoted DOT string.
fn dot_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::parse;
    use crate::ir::StepIr;

    fn step(id: &str, action: &str, flow: FlowIr) -> StepIr {
        StepIr::new(id, action, flow)
    }

    fn goto(next: Target) -> FlowIr {
        FlowIr::Goto { next, on_error: Target::Fail }
    }

    fn workflow(steps: Vec<StepIr>) -> WorkflowIr {
        WorkflowIr { hash: "0".repeat(64), ..WorkflowIr::new("demo", steps) }
    }

    /// build → check (branch) → fix (at most 3 runs; on error or exhaustion: notify) → review-loop → done.
    fn demo() -> WorkflowIr {
        let mut fix = step("fix", "shell", FlowIr::Goto { next: Target::Step(3), on_error: Target::Step(5) });
        fix.max_visits = Some(3);
        fix.on_exhausted = Target::Step(5);
        workflow(vec![
            step("build", "shell", goto(Target::Step(1))),
            step(
                "check",
                "conditional",
                FlowIr::Branch { check: parse("build.exit_code == 0").unwrap(), on_true: Target::Step(4), on_false: Target::Step(2), on_error: Target::Fail },
            ),
            fix,
            step(
                "review-loop",
                "loop",
                FlowIr::Loop {
                    condition: parse("!approved").unwrap(),
                    to: 0,
                    max: 5,
                    next: Target::Step(4),
                    on_exhausted: Target::Fail,
                    on_error: Target::Fail,
                },
            ),
            step("done", "end", FlowIr::End { failed: false }),
            step("notify", "shell", goto(Target::Complete)),
        ])
    }

    fn edge(from: &str, to: &str, label: Option<&str>, dashed: bool) -> Edge {
        Edge { from: from.to_string(), to: to.to_string(), label: label.map(str::to_string), dashed }
    }

    #[test]
    fn every_transition_becomes_one_edge() {
        let graph = Graph::of(&demo());
        assert_eq!(
            graph.edges,
            vec![
                edge("START", "step_build", None, false),
                edge("step_build", "step_check", None, false),
                edge("step_check", "step_done", Some("true: build.exit_code == 0"), false),
                edge("step_check", "step_fix", Some("false"), false),
                edge("step_fix", "step_review_loop", None, false),
                edge("step_fix", "step_notify", Some("exhausted (max 3)"), false),
                edge("step_fix", "step_notify", Some("error"), true),
                edge("step_review_loop", "step_build", Some("loop (max 5): !approved"), false),
                edge("step_review_loop", "step_done", None, false),
                edge("step_review_loop", "FAIL", Some("exhausted"), false),
                edge("step_done", "END", None, false),
                edge("step_notify", "END", None, false),
            ]
        );
    }

    #[test]
    fn mermaid_draws_nodes_and_labelled_edges() {
        let text = to_mermaid(&demo());
        assert!(text.starts_with("flowchart TD\n"), "{text}");
        for line in [
            "START([\"start\"])",
            "step_build[\"build: shell\"]",
            "step_check{\"check: conditional\"}",
            "step_review_loop{\"review-loop: loop\"}",
            "END([\"end\"])",
            "FAIL([\"fail\"])",
            "START --> step_build",
            "step_check -->|\"true: build.exit_code == 0\"| step_done",
            "step_check -->|\"false\"| step_fix",
            "step_review_loop -->|\"loop (max 5): !approved\"| step_build",
            "step_review_loop -->|\"exhausted\"| FAIL",
            "step_fix -.->|\"error\"| step_notify",
            "step_done --> END",
        ] {
            assert!(text.lines().any(|l| l.trim() == line), "missing `{line}` in\n{text}");
        }
    }

    #[test]
    fn dot_draws_the_same_graph() {
        let text = to_dot(&demo());
        assert!(text.starts_with("digraph \"demo\" {\n") && text.ends_with("}\n"), "{text}");
        for line in [
            "step_build [label=\"build: shell\"];",
            "step_check [label=\"check: conditional\", shape=diamond];",
            "FAIL [label=\"fail\", shape=oval];",
            "START -> step_build;",
            "step_check -> step_done [label=\"true: build.exit_code == 0\"];",
            "step_review_loop -> step_build [label=\"loop (max 5): !approved\"];",
            "step_fix -> step_notify [label=\"error\", style=dashed];",
            "step_notify -> END;",
        ] {
            assert!(text.lines().any(|l| l.trim() == line), "missing `{line}` in\n{text}");
        }
        assert_eq!(text.matches(" -> ").count(), Graph::of(&demo()).edges.len());
    }

    #[test]
    fn default_error_jumps_and_unused_terminals_are_not_drawn() {
        let ir = workflow(vec![step("only", "shell", goto(Target::Complete))]);
        let text = to_mermaid(&ir);
        assert!(!text.contains("FAIL") && !text.contains("error"), "{text}");
        assert!(text.contains("step_only --> END"), "{text}");
    }

    #[test]
    fn quotes_and_syntax_in_labels_are_escaped() {
        let check = parse("status == 'a\"b' || x > 1").unwrap();
        let flow = FlowIr::Branch { check, on_true: Target::Complete, on_false: Target::Complete, on_error: Target::Fail };
        let mut ir = workflow(vec![step("say \"hi\"", "shell", flow)]);
        ir.name = "a \"quoted\" name".to_string();

        let mermaid = to_mermaid(&ir);
        let line = mermaid.lines().find(|l| l.contains("true: ")).unwrap();
        let label = line.split_once("|\"").and_then(|(_, rest)| rest.rsplit_once("\"|")).unwrap().0;
        assert_eq!(label, "true: status == 'a#quot;b' #124;#124; x #gt; 1", "{line}");

        let dot = to_dot(&ir);
        assert!(dot.starts_with("digraph \"a \\\"quoted\\\" name\" {"), "{dot}");
        assert!(dot.contains("[label=\"say \\\"hi\\\": shell\", shape=diamond]"), "{dot}");
    }

    #[test]
    fn ids_that_sanitize_alike_stay_distinct() {
        let ir = workflow(vec![
            step("a-b", "shell", goto(Target::Step(1))),
            step("a_b", "shell", goto(Target::Step(2))),
            step("end", "end", FlowIr::End { failed: true }),
        ]);
        assert_eq!(node_ids(&ir), ["step_a_b", "step_a_b_1", "step_end"]);
        let text = to_mermaid(&ir);
        assert!(text.contains("step_a_b --> step_a_b_1"), "{text}");
        assert!(text.contains("step_end --> FAIL"), "{text}");
    }
}
