//! The workflow drawn as SVG, on the server, from the IR the run runs
//! under: one box per step in step order (start at the top, end and fail at
//! the bottom), the fall-through to the next step as a short arrow, every
//! other jump (branches, loops going back, `on-error`, exhaustion) as an arc
//! in its own lane to the right, labelled. Steps that ran are marked with how
//! many times, a failed one in red, and the step the run is at stands out.
//! (Workflows have no parallel branches yet: when they do, each branch gets
//! its own column here.)

use maud::{html, Markup};
use std::collections::HashMap;
use workflow_core::ir::{FlowIr, Target, WorkflowIr};

const ROW: i64 = 46;
const BOX_H: i64 = 30;
const BOX_W: i64 = 230;
const LEFT: i64 = 8;
const LANE: i64 = 14;

/// What the run did at each step, for marking the boxes.
#[derive(Clone, Debug, Default)]
pub struct Marks {
    /// Executions per step index.
    pub runs: HashMap<usize, usize>,
    /// Steps whose last execution failed.
    pub failed: Vec<usize>,
    /// The step the run is at.
    pub current: Option<usize>,
    /// Whether the run ended (completed) or failed, to mark the terminal it reached.
    pub ended: Option<bool>,
}

struct Edge {
    from: usize,
    to: usize,
    label: Option<String>,
    dashed: bool,
}

/// The graph of `ir` as an `<svg>` element.
pub fn svg(ir: &WorkflowIr, marks: &Marks) -> Markup {
    let n = ir.steps.len();
    let end_row = n + 1;
    let row_of = |target: Target, fail_row: usize| match target {
        Target::Step(i) => i + 1,
        Target::Complete => end_row,
        Target::Fail => fail_row,
    };
    let fail_row = n + 2;
    let mut edges = vec![Edge { from: 0, to: if n == 0 { end_row } else { 1 }, label: None, dashed: false }];
    for (i, step) in ir.steps.iter().enumerate() {
        let from = i + 1;
        let mut edge = |to: Target, label: Option<String>, dashed: bool| edges.push(Edge { from, to: row_of(to, fail_row), label, dashed });
        let on_error = match &step.flow {
            FlowIr::Goto { next, on_error } => {
                edge(*next, None, false);
                Some(*on_error)
            }
            FlowIr::Branch { on_true, on_false, on_error, .. } => {
                edge(*on_true, Some("true".to_string()), false);
                edge(*on_false, Some("false".to_string()), false);
                Some(*on_error)
            }
            FlowIr::Loop { to, max, next, on_exhausted, on_error, .. } => {
                edge(Target::Step(*to), Some(format!("loop ≤{max}")), false);
                edge(*next, None, false);
                edge(*on_exhausted, Some("exhausted".to_string()), false);
                Some(*on_error)
            }
            FlowIr::End { failed } => {
                edge(if *failed { Target::Fail } else { Target::Complete }, None, false);
                None
            }
        };
        if let Some(max) = step.max_visits {
            edge(step.on_exhausted, Some(format!("after {max} runs")), false);
        }
        // Failing on error is every step's default: drawn, it would hide the real jumps.
        if let Some(target) = on_error.filter(|t| *t != Target::Fail) {
            edge(target, Some("error".to_string()), true);
        }
    }
    let has_fail = edges.iter().any(|e| e.to == fail_row);
    let has_end = edges.iter().any(|e| e.to == end_row);
    let rows = if has_fail { fail_row + 1 } else { end_row + 1 };
    // Each arc gets the first lane free over its rows.
    let mut lanes: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut placed = Vec::new();
    for (k, e) in edges.iter().enumerate() {
        if e.to == e.from + 1 && e.label.is_none() {
            continue;
        }
        let span = (e.from.min(e.to), e.from.max(e.to));
        let lane = lanes.iter().position(|taken| taken.iter().all(|&(a, b)| span.1 < a || b < span.0)).unwrap_or_else(|| {
            lanes.push(Vec::new());
            lanes.len() - 1
        });
        lanes[lane].push(span);
        placed.push((k, lane));
    }
    let width = LEFT + BOX_W + 20 + LANE * lanes.len() as i64 + 90;
    let height = ROW * rows as i64;
    let y_of = |row: usize| row as i64 * ROW + 8;
    let current_id = marks.current.and_then(|i| ir.steps.get(i)).map(|s| s.id.as_str());
    let title = format!("Workflow {}: {} steps", ir.name, n);
    let desc = match current_id {
        Some(id) => format!("The run is at step {id}. The steps table below lists every execution."),
        None => "The steps table below lists every execution.".to_string(),
    };
    html! {
        svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {width} {height}")) width=(width) role="img" aria-labelledby="graph-title graph-desc" {
            title id="graph-title" { (title) }
            desc id="graph-desc" { (desc) }
            defs {
                marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                    path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" {}
                }
            }
            // Fall-through arrows first, so boxes cover their ends.
            @for e in edges.iter().filter(|e| e.to == e.from + 1 && e.label.is_none()) {
                line class="edge" x1=(LEFT + BOX_W / 2) y1=(y_of(e.from) + BOX_H) x2=(LEFT + BOX_W / 2) y2=(y_of(e.to) - 1) marker-end="url(#arrow)" {}
            }
            @for (k, lane) in &placed {
                @let e = &edges[*k];
                @let x = LEFT + BOX_W + 14 + LANE * *lane as i64;
                @let (y1, y2) = (y_of(e.from) + BOX_H / 2 - 4, y_of(e.to) + BOX_H / 2 + 4);
                // Terminals are narrower than steps: the arc ends at their edge.
                @let end_x = if e.to > n { LEFT + BOX_W / 2 + 41 } else { LEFT + BOX_W + 1 };
                path class=(if e.dashed { "edge jump dashed" } else if e.to <= e.from { "edge jump back" } else { "edge jump" })
                    d=(format!("M {} {y1} H {x} V {y2} H {end_x}", LEFT + BOX_W)) marker-end="url(#arrow)" {}
                @if let Some(label) = &e.label {
                    text class="edge-label" x=(x + 4) y=((y1 + y2) / 2 + 4) { (label) }
                }
            }
            (terminal(0, "start", y_of(0), false))
            @for (i, step) in ir.steps.iter().enumerate() {
                @let ran = marks.runs.get(&i).copied().unwrap_or(0);
                @let class = step_class(i, step.flow_is_decision(), ran, marks);
                @let label = format!("{}: {}", step.id, step.action);
                g class=(class) {
                    title { (label) @if ran > 0 { " (ran " (ran) "×)" } @if marks.current == Some(i) { " (current step)" } }
                    rect x=(LEFT) y=(y_of(i + 1)) width=(BOX_W) height=(BOX_H) rx=(if step.flow_is_decision() { 2 } else { 8 }) {}
                    text x=(LEFT + 10) y=(y_of(i + 1) + 20) { (shorten(&label, 30)) }
                    @if ran > 0 {
                        text class="count" x=(LEFT + BOX_W - 8) y=(y_of(i + 1) + 20) text-anchor="end" { "×" (ran) }
                    }
                }
            }
            @if has_end { (terminal(end_row, "end", y_of(end_row), marks.ended == Some(true))) }
            @if has_fail { (terminal(fail_row, "fail", y_of(fail_row), marks.ended == Some(false))) }
        }
    }
}

fn terminal(_row: usize, label: &str, y: i64, reached: bool) -> Markup {
    html! {
        g class=(if reached { format!("terminal reached {label}") } else { format!("terminal {label}") }) {
            rect x=(LEFT + BOX_W / 2 - 40) y=(y) width="80" height=(BOX_H) rx="15" {}
            text x=(LEFT + BOX_W / 2) y=(y + 20) text-anchor="middle" { (label) }
        }
    }
}

fn step_class(i: usize, decision: bool, ran: usize, marks: &Marks) -> String {
    let mut class = String::from("node");
    if decision {
        class.push_str(" decision");
    }
    if ran > 0 {
        class.push_str(" ran");
    }
    if marks.failed.contains(&i) {
        class.push_str(" failed");
    }
    if marks.current == Some(i) {
        class.push_str(" current");
    }
    class
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    text.chars().take(max - 1).collect::<String>() + "…"
}

trait Decision {
    fn flow_is_decision(&self) -> bool;
}

impl Decision for workflow_core::ir::StepIr {
    fn flow_is_decision(&self) -> bool {
        matches!(self.flow, FlowIr::Branch { .. } | FlowIr::Loop { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workflow_core::read::ReadOptions;
    use workflow_core::set::compile_sources;
    use workflow_core::Source;

    #[test]
    fn a_loop_is_an_arc_back_and_the_current_step_stands_out() {
        let yaml = "name: x\nsteps:\n  - id: a\n    action: shell\n    command: echo\n  - id: again\n    action: loop\n    to: a\n    condition: \"iteration < 2\"\n    max-iterations: 3\n  - id: b\n    action: shell\n    command: echo\n";
        let ir = compile_sources(&[Source::new("x.yaml", yaml)], &ReadOptions::default()).unwrap().remove(0).ir;
        let marks = Marks { runs: HashMap::from([(0, 3)]), current: Some(2), ..Marks::default() };
        let svg = svg(&ir, &marks).into_string();
        assert!(svg.contains("edge jump back"), "the loop back to `a` is drawn: {svg}");
        assert!(svg.contains("loop ≤3"));
        assert!(svg.contains("class=\"node current\""), "{svg}");
        assert!(svg.contains("×3"));
    }
}
