//! The control-flow facts the checks and lowering need: the edges of a
//! workflow, which steps are reachable, which cycles are unbounded,
//! dominance (has step X surely completed before step Y?) and definite
//! assignment of variables.
//!
//! Dominance runs on a split graph: each step is an `in` node (about to
//! run) and an `out` node (completed successfully). Success edges leave
//! `out`, error and exhaustion edges leave `in`, so a path through a failed
//! step does not count as the step having produced its outputs.

use crate::model::{ActionKind, Step, Workflow};
use crate::span::Span;
use std::collections::HashMap;

/// Why control moves along an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// After success (default next step, `next:`, `on-success:`).
    Next,
    /// `check` held.
    True,
    /// `check` did not hold.
    False,
    /// A `loop` jumping back.
    LoopJump,
    /// After an error.
    Error,
    /// `max-iterations` used up.
    Exhausted,
}

/// One possible transition.
#[derive(Clone, Copy, Debug)]
pub struct Edge {
    /// Target node: a step index, or [`Graph::end`] / [`Graph::fail`].
    pub to: usize,
    /// Why.
    pub kind: EdgeKind,
    /// The token that makes this edge (the step id when implicit).
    pub span: Span,
}

/// The steps of one workflow as a graph.
#[derive(Debug)]
pub struct Graph {
    /// Outgoing edges per step.
    pub edges: Vec<Vec<Edge>>,
    /// Steps that are an explicit `action: end` (completing or failing on purpose).
    ends: Vec<bool>,
    steps: usize,
}

impl Graph {
    /// The node every completing path ends in.
    pub fn end(&self) -> usize {
        self.steps
    }

    /// The node every failing path ends in.
    pub fn fail(&self) -> usize {
        self.steps + 1
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps
    }

    /// True for a workflow without steps.
    pub fn is_empty(&self) -> bool {
        self.steps == 0
    }

    /// Builds the graph. Jumps to unknown steps are left out (reported elsewhere).
    pub fn new(workflow: &Workflow, ids: &HashMap<&str, usize>) -> Graph {
        let n = workflow.steps.len();
        let (end, fail) = (n, n + 1);
        let target = |id: &Option<crate::span::Ident>| id.as_ref().and_then(|i| ids.get(i.value.as_str()).copied());
        let mut edges = Vec::with_capacity(n);
        let ends = workflow.steps.iter().map(|s| s.spec().map(|a| a.name) == Some("end")).collect();
        for (i, step) in workflow.steps.iter().enumerate() {
            let mut out = Vec::new();
            let id_span = step.id.span;
            let following = if i + 1 < n { i + 1 } else { end };
            let explicit_next = step.flow.next.as_ref().or(step.flow.on_success.as_ref());
            let (next, next_span) = match explicit_next {
                Some(ident) => match ids.get(ident.value.as_str()) {
                    Some(&t) => (Some(t), ident.span),
                    None => (None, ident.span),
                },
                None => (Some(following), id_span),
            };
            let action = step.spec().map(|s| s.name);
            if action == Some("end") {
                let failed = step.param("status").is_some_and(|p| matches!(&p.value, crate::model::ParamValue::Str(s) if s == "failed"));
                out.push(Edge { to: if failed { fail } else { end }, kind: EdgeKind::Next, span: id_span });
            } else if action == Some("loop") {
                if let Some(to) = target(&step.flow.loop_to) {
                    out.push(Edge { to, kind: EdgeKind::LoopJump, span: step.flow.loop_to.as_ref().map_or(id_span, |t| t.span) });
                }
                if let Some(next) = next {
                    out.push(Edge { to: next, kind: EdgeKind::Next, span: next_span });
                }
                out.push(exhausted_edge(step, &target, fail));
            } else if step.flow.check.is_some() {
                for (branch, kind) in [(&step.flow.on_true, EdgeKind::True), (&step.flow.on_false, EdgeKind::False)] {
                    match branch {
                        Some(ident) => {
                            if let Some(t) = target(branch) {
                                out.push(Edge { to: t, kind, span: ident.span });
                            }
                        }
                        None => {
                            if let Some(next) = next {
                                out.push(Edge { to: next, kind, span: next_span });
                            }
                        }
                    }
                }
            } else if let Some(next) = next {
                out.push(Edge { to: next, kind: EdgeKind::Next, span: next_span });
            }
            // `end` cannot fail, so it has no error edge.
            let on_error = step.flow.on_error.as_ref().map_or(Some(fail), |e| ids.get(e.value.as_str()).copied()).filter(|_| action != Some("end"));
            if let Some(to) = on_error {
                out.push(Edge { to, kind: EdgeKind::Error, span: step.flow.on_error.as_ref().map_or(id_span, |e| e.span) });
            }
            if action != Some("loop") && step.flow.max_iterations.is_some() {
                out.push(exhausted_edge(step, &target, fail));
            }
            edges.push(out);
        }
        Graph { edges, ends, steps: n }
    }

    /// Steps reachable from the first step.
    pub fn reachable(&self) -> Vec<bool> {
        let mut seen = vec![false; self.steps + 2];
        if self.steps == 0 {
            return seen;
        }
        let mut stack = vec![0];
        seen[0] = true;
        while let Some(node) = stack.pop() {
            if node >= self.steps {
                continue;
            }
            for e in &self.edges[node] {
                if !seen[e.to] {
                    seen[e.to] = true;
                    stack.push(e.to);
                }
            }
        }
        seen
    }

    /// Steps from which the end, or an explicit `action: end`, can be reached.
    pub fn can_finish(&self) -> Vec<bool> {
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); self.steps + 2];
        for (from, out) in self.edges.iter().enumerate() {
            for e in out {
                preds[e.to].push(from);
            }
        }
        let mut seen = vec![false; self.steps + 2];
        let mut stack = vec![self.end()];
        seen[self.end()] = true;
        for (i, _) in self.ends.iter().enumerate().filter(|(_, e)| **e) {
            seen[i] = true;
            stack.push(i);
        }
        while let Some(node) = stack.pop() {
            for &p in &preds[node] {
                if !seen[p] {
                    seen[p] = true;
                    stack.push(p);
                }
            }
        }
        seen
    }

    /// The traps of the graph: sets of reachable steps the run can never
    /// leave except by failing, each with the jumps inside it that lead
    /// back into it (what must change). Steps that can only *lead into* a
    /// trap are not part of it: a trap is a strongly connected set of stuck
    /// steps that no edge leaves for another stuck step.
    pub fn traps(&self) -> Vec<Trap> {
        let reachable = self.reachable();
        let finishes = self.can_finish();
        let stuck: Vec<bool> = (0..self.steps).map(|i| reachable[i] && !finishes[i]).collect();
        let inside: Vec<Vec<Edge>> = self
            .edges
            .iter()
            .enumerate()
            .map(|(i, out)| if stuck[i] { out.iter().filter(|e| e.to < self.steps && stuck[e.to]).copied().collect() } else { Vec::new() })
            .collect();
        let mut traps = Vec::new();
        for mut component in strongly_connected(&inside) {
            component.sort_unstable();
            let within = |e: &Edge| component.binary_search(&e.to).is_ok();
            let closed = component.iter().all(|&i| inside[i].iter().all(within));
            if !stuck[component[0]] || !closed {
                continue;
            }
            // The jumps back (or to the same step) inside the trap close it; a fall-through never jumps back.
            let jumps = component.iter().flat_map(|&from| inside[from].iter().filter(move |e| e.to <= from).map(move |e| (from, *e))).collect();
            traps.push(Trap { steps: component, jumps });
        }
        traps.sort_by_key(|t| t.steps[0]);
        traps
    }

    /// Cycles no step bounds: strongly connected components of the graph
    /// left after removing steps with `max-iterations` and loop jumps.
    /// Each is returned as its steps in order, with the edge that closes it.
    pub fn unbounded_cycles(&self, workflow: &Workflow) -> Vec<(Vec<usize>, Edge)> {
        let bounded = |i: usize| {
            let s = &workflow.steps[i];
            // A loop without max-iterations is reported on its own; do not report it twice.
            s.flow.max_iterations.is_some() && s.spec().map(|a| a.name) != Some("loop")
        };
        let keep: Vec<Vec<Edge>> = self
            .edges
            .iter()
            .enumerate()
            .map(|(i, out)| {
                if bounded(i) {
                    return Vec::new();
                }
                out.iter().filter(|e| e.to < self.steps && e.kind != EdgeKind::LoopJump && !bounded(e.to)).copied().collect()
            })
            .collect();
        let mut cycles = Vec::new();
        for component in strongly_connected(&keep) {
            let is_cycle = component.len() > 1 || keep[component[0]].iter().any(|e| e.to == component[0]);
            if !is_cycle {
                continue;
            }
            let mut steps = component.clone();
            steps.sort_unstable();
            // The closing edge: one that jumps backwards (or to itself) inside the component.
            let closing = steps
                .iter()
                .rev()
                .flat_map(|&from| keep[from].iter().filter(move |e| e.to <= from).map(move |e| (from, *e)))
                .find(|(_, e)| steps.contains(&e.to))
                .map(|(_, e)| e);
            if let Some(edge) = closing {
                cycles.push((steps, edge));
            }
        }
        cycles.sort_by_key(|(steps, _)| steps[0]);
        cycles
    }
}

/// Steps the run can never leave except by failing (see [`Graph::traps`]).
#[derive(Clone, Debug)]
pub struct Trap {
    /// Its steps, in definition order.
    pub steps: Vec<usize>,
    /// The jumps that lead back into it: the step they leave, and the edge.
    pub jumps: Vec<(usize, Edge)>,
}

fn exhausted_edge(step: &Step, target: &dyn Fn(&Option<crate::span::Ident>) -> Option<usize>, fail: usize) -> Edge {
    let to = if step.flow.on_exhausted.is_some() { target(&step.flow.on_exhausted).unwrap_or(fail) } else { fail };
    Edge { to, kind: EdgeKind::Exhausted, span: step.flow.on_exhausted.as_ref().map_or(step.id.span, |t| t.span) }
}

/// Tarjan's algorithm, iterative so deep workflows cannot overflow the stack.
fn strongly_connected(edges: &[Vec<Edge>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut counter = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(&mut (v, ref mut next_edge)) = work.last_mut() {
            if *next_edge == 0 && index[v] == usize::MAX {
                index[v] = counter;
                low[v] = counter;
                counter += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(e) = edges[v].get(*next_edge) {
                *next_edge += 1;
                let w = e.to;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(component);
            }
        }
    }
    out
}

/// Dominance on the split graph: node `2*i` = step `i` about to run, `2*i+1` = step `i` completed.
#[derive(Debug)]
pub struct Dominance {
    idom: Vec<usize>,
    order: Vec<usize>,
    preds: Vec<Vec<usize>>,
}

const NONE: usize = usize::MAX;

impl Dominance {
    /// Computes immediate dominators (Cooper, Harvey and Kennedy's iterative algorithm).
    pub fn new(graph: &Graph) -> Dominance {
        let n = graph.len();
        let nodes = 2 * n;
        let mut succs: Vec<Vec<usize>> = vec![Vec::new(); nodes];
        for i in 0..n {
            succs[2 * i].push(2 * i + 1);
            for e in &graph.edges[i] {
                if e.to >= n {
                    continue;
                }
                let from = match e.kind {
                    EdgeKind::Error | EdgeKind::Exhausted => 2 * i,
                    _ => 2 * i + 1,
                };
                succs[from].push(2 * e.to);
            }
        }
        // Reverse postorder from the start node.
        let mut order = Vec::with_capacity(nodes);
        let mut visited = vec![false; nodes];
        if nodes > 0 {
            let mut work = vec![(0usize, 0usize)];
            visited[0] = true;
            while let Some(&mut (v, ref mut k)) = work.last_mut() {
                if let Some(&w) = succs[v].get(*k) {
                    *k += 1;
                    if !visited[w] {
                        visited[w] = true;
                        work.push((w, 0));
                    }
                } else {
                    order.push(v);
                    work.pop();
                }
            }
        }
        order.reverse();
        let mut rank = vec![NONE; nodes];
        for (r, &v) in order.iter().enumerate() {
            rank[v] = r;
        }
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); nodes];
        for (v, out) in succs.iter().enumerate() {
            if rank[v] == NONE {
                continue;
            }
            for &w in out {
                preds[w].push(v);
            }
        }
        let mut idom = vec![NONE; nodes];
        if nodes > 0 {
            idom[0] = 0;
        }
        let mut changed = true;
        while changed {
            changed = false;
            for &v in order.iter().skip(1) {
                let mut new_idom = NONE;
                for &p in &preds[v] {
                    if idom[p] == NONE {
                        continue;
                    }
                    new_idom = if new_idom == NONE { p } else { intersect(&idom, &rank, p, new_idom) };
                }
                if new_idom != idom[v] {
                    idom[v] = new_idom;
                    changed = true;
                }
            }
        }
        Dominance { idom, order, preds }
    }

    /// Whether node `a` dominates node `b` (every path from the start to `b` passes `a`).
    pub fn dominates(&self, a: usize, b: usize) -> bool {
        let mut node = b;
        loop {
            if node == a {
                return true;
            }
            let up = self.idom.get(node).copied().unwrap_or(NONE);
            if up == NONE || up == node {
                return false;
            }
            node = up;
        }
    }

    /// The chain of dominators of `node`, nearest first (excluding `node`).
    pub fn dominators(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        let mut current = node;
        std::iter::from_fn(move || {
            let up = self.idom.get(current).copied().unwrap_or(NONE);
            if up == NONE || up == current {
                return None;
            }
            current = up;
            Some(up)
        })
    }

    /// Variables surely assigned on entry to each step (`in` node), as bitsets over `writes`' indices.
    ///
    /// `writes[i]` are the variables step `i` assigns when it succeeds;
    /// `initial` those assigned before the first step.
    pub fn definitely_assigned(&self, writes: &[Vec<usize>], initial: &[usize], vars: usize) -> Vec<Vec<bool>> {
        let nodes = self.idom.len();
        let full = vec![true; vars];
        let mut state: Vec<Vec<bool>> = vec![full; nodes];
        let mut start = vec![false; vars];
        for &v in initial {
            start[v] = true;
        }
        let mut changed = true;
        while changed {
            changed = false;
            for &node in &self.order {
                let mut acc = if node == 0 { start.clone() } else { vec![true; vars] };
                for &p in &self.preds[node] {
                    let mut from = state[p].clone();
                    if p % 2 == 1 {
                        for &v in &writes[p / 2] {
                            from[v] = true;
                        }
                    }
                    for (a, f) in acc.iter_mut().zip(&from) {
                        *a &= *f;
                    }
                }
                if node == 0 {
                    for (a, s) in acc.iter_mut().zip(&start) {
                        *a &= *s;
                    }
                }
                if acc != state[node] {
                    state[node] = acc;
                    changed = true;
                }
            }
        }
        (0..nodes / 2).map(|i| state[2 * i].clone()).collect()
    }
}

fn intersect(idom: &[usize], rank: &[usize], mut a: usize, mut b: usize) -> usize {
    while a != b {
        while rank[a] > rank[b] {
            a = idom[a];
        }
        while rank[b] > rank[a] {
            b = idom[b];
        }
    }
    a
}

/// Whether a step's outputs can be read by name: built-in outputs, or anything for custom and JSON steps.
pub fn output_type(step: &Step, field: &str) -> Option<crate::expr::Type> {
    use crate::expr::Type;
    match &step.kind {
        ActionKind::Custom { .. } | ActionKind::Unknown => Some(Type::Any),
        ActionKind::Builtin(spec) => {
            let json = spec.name == "ai-prompt" && step.param("format").is_some_and(|p| matches!(&p.value, crate::model::ParamValue::Str(s) if s == "json"));
            if let Some((_, ty)) = spec.outputs.iter().find(|(name, _)| *name == field) {
                if spec.name == "interactive" && field == "value" {
                    let confirm = step.param("input-type").is_some_and(|p| matches!(&p.value, crate::model::ParamValue::Str(s) if s == "confirm"));
                    return Some(if confirm { Type::Bool } else { Type::String });
                }
                return Some(*ty);
            }
            json.then_some(Type::Any)
        }
    }
}
