//! What a name in a condition or `${..}` refers to, and whether it can be
//! read where it is written: a variable (assigned on every path?), a step's
//! output (has that step surely completed?), a run fact (`iteration`,
//! `status`, `delta.*`), or the run itself (`run.id`, `run.workflow`,
//! `run.started_at`, `run.parent_id`).

use crate::analysis::{output_type, Dominance, Graph};
use crate::expr::Type;
use crate::model::Workflow;
use std::collections::HashMap;

/// The fields of the read-only `run` context, in steps' fields and conditions.
pub const RUN_FIELDS: [&str; 4] = ["id", "workflow", "started_at", "parent_id"];

/// Where an expression is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// A step's fields, interpolated before it runs.
    Before(usize),
    /// A step's `check`, `set` or loop `condition`, evaluated after it succeeds.
    After(usize),
    /// An `on-completion` condition, evaluated when the run ends.
    Trigger,
    /// An `expect` expression, over the before-snapshot.
    Expect,
}

/// What a name refers to.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved {
    /// A variable (index into [`Scope::vars`]); `field` for `map_var.key`.
    Var {
        /// Index into the scope's variables.
        index: usize,
        /// Remaining path segments (field access into a map variable).
        rest: Vec<String>,
    },
    /// An output of a step.
    Output {
        /// The step's index.
        step: usize,
        /// The output field, with any JSON sub-fields.
        field: Vec<String>,
        /// Its type.
        ty: Type,
    },
    /// Jumps made so far by the current loop.
    Iteration,
    /// The run's final status (`completed`, `failed`).
    Status,
    /// A fact of the run itself: `run.id`, `run.workflow`, `run.started_at`, `run.parent_id` (text).
    Run {
        /// One of [`RUN_FIELDS`].
        field: &'static str,
    },
    /// A snapshot metric: `before`, `after` or `delta`.
    Metric {
        /// `before`, `after` or `delta`.
        when: &'static str,
        /// The metric's name.
        name: String,
    },
}

/// Why a name cannot be read here.
#[derive(Clone, Debug, PartialEq)]
pub enum ResolveError {
    /// Nothing has this name; the closest names are offered.
    Undefined {
        /// Names that exist here.
        candidates: Vec<String>,
    },
    /// `X.field` where step X may not have completed before this point.
    NotYetRun {
        /// The step read from.
        step: String,
    },
    /// A variable without default that some path reaches unassigned.
    NotAssigned {
        /// The variable.
        var: String,
    },
    /// A step has no such output.
    UnknownField {
        /// The step.
        step: String,
        /// Its outputs.
        candidates: Vec<String>,
    },
}

/// A variable visible to expressions: declared, or created by a step that writes it.
#[derive(Clone, Debug)]
pub struct ScopeVar {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Whether it has a value before the first step.
    pub has_default: bool,
}

/// Everything needed to resolve names in one workflow.
#[derive(Debug)]
pub struct Scope<'w> {
    /// The workflow.
    pub workflow: &'w Workflow,
    /// Step id → index (first occurrence).
    pub ids: HashMap<&'w str, usize>,
    /// Variables, declared first, then those steps create.
    pub vars: Vec<ScopeVar>,
    /// The control-flow graph.
    pub graph: Graph,
    /// Dominance on the split graph.
    pub dominance: Dominance,
    /// Per step: variables surely assigned when it starts (only when some variable lacks a default).
    assigned: Option<Vec<Vec<bool>>>,
}

impl<'w> Scope<'w> {
    /// Analyses a workflow.
    pub fn new(workflow: &'w Workflow) -> Scope<'w> {
        let mut ids = HashMap::new();
        for (i, step) in workflow.steps.iter().enumerate() {
            ids.entry(step.id.value.as_str()).or_insert(i);
        }
        let mut vars: Vec<ScopeVar> =
            workflow.variables.iter().map(|v| ScopeVar { name: v.name.value.clone(), ty: v.ty, has_default: v.default.is_some() }).collect();
        let mut writes: Vec<Vec<usize>> = Vec::with_capacity(workflow.steps.len());
        for step in &workflow.steps {
            let mut written = Vec::new();
            let names = step.written_variable().into_iter().map(|n| n.value.as_str()).chain(step.set.iter().map(|(n, _)| n.value.as_str()));
            for name in names {
                let index = match vars.iter().position(|v| v.name == name) {
                    Some(i) => i,
                    None => {
                        vars.push(ScopeVar { name: name.to_string(), ty: Type::Any, has_default: false });
                        vars.len() - 1
                    }
                };
                written.push(index);
            }
            writes.push(written);
        }
        let graph = Graph::new(workflow, &ids);
        let dominance = Dominance::new(&graph);
        let assigned = vars.iter().any(|v| !v.has_default).then(|| {
            let initial: Vec<usize> = vars.iter().enumerate().filter(|(_, v)| v.has_default).map(|(i, _)| i).collect();
            dominance.definitely_assigned(&writes, &initial, vars.len())
        });
        Scope { workflow, ids, vars, graph, dominance, assigned }
    }

    /// Resolves `path` written at `site`.
    pub fn resolve(&self, path: &[String], site: Site) -> Result<Resolved, ResolveError> {
        let first = path.first().map(String::as_str).unwrap_or_default();
        match site {
            Site::Trigger | Site::Expect => self.resolve_run_fact(path, site),
            Site::Before(step) | Site::After(step) => {
                if first == "steps" && path.len() >= 3 {
                    return self.output(&path[1], &path[2..], site);
                }
                if path.len() == 1 {
                    return self.resolve_name(first, step, site);
                }
                // `run.FIELD`, unless a step or variable of this workflow is itself called `run`.
                if first == "run" && !self.ids.contains_key(first) && !self.vars.iter().any(|v| v.name == first) {
                    return match (RUN_FIELDS.iter().find(|f| **f == path[1]), path.len()) {
                        (Some(field), 2) => Ok(Resolved::Run { field }),
                        _ => Err(ResolveError::Undefined { candidates: RUN_FIELDS.iter().map(|f| format!("run.{f}")).collect() }),
                    };
                }
                if self.ids.contains_key(first) {
                    return self.output(first, &path[1..], site);
                }
                if let Some(index) = self.vars.iter().position(|v| v.name == first) {
                    return self.var(index, path[1..].to_vec(), step);
                }
                Err(ResolveError::Undefined { candidates: self.candidates(step, site) })
            }
        }
    }

    fn resolve_name(&self, name: &str, step: usize, site: Site) -> Result<Resolved, ResolveError> {
        let this = &self.workflow.steps[step];
        if name == "iteration" && this.spec().map(|s| s.name) == Some("loop") {
            return Ok(Resolved::Iteration);
        }
        if site == Site::After(step) {
            if let Some(ty) = output_type(this, name).filter(|_| this.spec().is_some()) {
                return Ok(Resolved::Output { step, field: vec![name.to_string()], ty });
            }
        }
        if let Some(index) = self.vars.iter().position(|v| v.name == name) {
            return self.var(index, Vec::new(), step);
        }
        // The output of the nearest step that always completes before this point.
        let node = site_node(step, site);
        for dominator in self.dominance.dominators(node).filter(|d| d % 2 == 1) {
            let candidate = &self.workflow.steps[dominator / 2];
            if candidate.spec().is_some() {
                if let Some(ty) = output_type(candidate, name) {
                    return Ok(Resolved::Output { step: dominator / 2, field: vec![name.to_string()], ty });
                }
            }
        }
        Err(ResolveError::Undefined { candidates: self.candidates(step, site) })
    }

    fn var(&self, index: usize, rest: Vec<String>, step: usize) -> Result<Resolved, ResolveError> {
        if let Some(assigned) = &self.assigned {
            if !assigned[step][index] {
                return Err(ResolveError::NotAssigned { var: self.vars[index].name.clone() });
            }
        }
        Ok(Resolved::Var { index, rest })
    }

    fn output(&self, step_id: &str, field: &[String], site: Site) -> Result<Resolved, ResolveError> {
        let Some(&source) = self.ids.get(step_id) else {
            return Err(ResolveError::Undefined { candidates: self.ids.keys().map(|k| k.to_string()).collect() });
        };
        let step = &self.workflow.steps[source];
        let name = field.first().map(String::as_str).unwrap_or_default();
        let Some(ty) = output_type(step, name) else {
            let candidates = step.spec().map(|s| s.outputs.iter().map(|(n, _)| n.to_string()).collect()).unwrap_or_default();
            return Err(ResolveError::UnknownField { step: step_id.to_string(), candidates });
        };
        let reader = match site {
            Site::Before(s) | Site::After(s) => s,
            _ => unreachable!("run facts are resolved elsewhere"),
        };
        let available = (site == Site::After(source)) || self.dominance.dominates(2 * source + 1, site_node(reader, site));
        if !available {
            return Err(ResolveError::NotYetRun { step: step_id.to_string() });
        }
        let ty = if field.len() > 1 { Type::Any } else { ty };
        Ok(Resolved::Output { step: source, field: field.to_vec(), ty })
    }

    fn resolve_run_fact(&self, path: &[String], site: Site) -> Result<Resolved, ResolveError> {
        let metric = |name: &str| self.workflow.snapshot.iter().any(|m| m.name.value == name);
        match path {
            [status] if status == "status" && site == Site::Trigger => Ok(Resolved::Status),
            [when, name] if matches!(when.as_str(), "before" | "after" | "delta") && metric(name) => {
                let when = match when.as_str() {
                    "before" => "before",
                    "after" => "after",
                    _ => "delta",
                };
                if site == Site::Expect && when != "before" {
                    return Err(ResolveError::Undefined { candidates: self.run_fact_candidates(site) });
                }
                Ok(Resolved::Metric { when, name: name.clone() })
            }
            [name] if site == Site::Expect && metric(name) => Ok(Resolved::Metric { when: "before", name: name.clone() }),
            [name, rest @ ..] => match self.vars.iter().position(|v| &v.name == name) {
                Some(index) => Ok(Resolved::Var { index, rest: rest.to_vec() }),
                None => Err(ResolveError::Undefined { candidates: self.run_fact_candidates(site) }),
            },
            [] => Err(ResolveError::Undefined { candidates: Vec::new() }),
        }
    }

    fn run_fact_candidates(&self, site: Site) -> Vec<String> {
        let mut out: Vec<String> = self.vars.iter().map(|v| v.name.clone()).collect();
        for m in &self.workflow.snapshot {
            if site == Site::Expect {
                out.push(m.name.value.clone());
            } else {
                out.extend(["before", "after", "delta"].map(|w| format!("{w}.{}", m.name.value)));
            }
        }
        if site == Site::Trigger {
            out.push("status".to_string());
        }
        out
    }

    /// Names that can be read at a site, for "did you mean".
    fn candidates(&self, step: usize, site: Site) -> Vec<String> {
        let mut out: Vec<String> = self.vars.iter().map(|v| v.name.clone()).collect();
        out.extend(RUN_FIELDS.iter().map(|f| format!("run.{f}")));
        let node = site_node(step, site);
        for dominator in self.dominance.dominators(node).filter(|d| d % 2 == 1) {
            let s = &self.workflow.steps[dominator / 2];
            if let Some(spec) = s.spec() {
                out.extend(spec.outputs.iter().map(|(n, _)| format!("{}.{n}", s.id.value)));
            }
        }
        out
    }

    /// The type of a resolved name.
    pub fn type_of(&self, resolved: &Resolved) -> Type {
        match resolved {
            Resolved::Var { index, rest } if rest.is_empty() => self.vars[*index].ty,
            Resolved::Var { .. } => Type::Any,
            Resolved::Output { ty, .. } => *ty,
            Resolved::Iteration => Type::Int,
            Resolved::Status | Resolved::Run { .. } => Type::String,
            Resolved::Metric { .. } => Type::Any,
        }
    }
}

/// The split-graph node where an expression at `site` of `step` is evaluated.
fn site_node(step: usize, site: Site) -> usize {
    match site {
        Site::After(_) => 2 * step + 1,
        _ => 2 * step,
    }
}
