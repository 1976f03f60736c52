//! Before a step runs: its `requires:` gate, consent for a sensitive step,
//! and the steps that are a person's answer (`approval-gate`,
//! `interactive`). A question goes to the terminal when the run has one and
//! the workflow is interactive; otherwise it is stored and the run waits for
//! `workflow approve|reject|answer`. Every question and answer is stored, so
//! the audit record says who decided what, and when.

use super::{Executor, RunError, RunReport};
use crate::actions::{text_list, ActionFailure, ActionOutput};
use crate::engine::Engine;
use crate::human::{notify, Answer, Asked, InputSpec, InputType, Request, RequestKind};
use crate::interpolate::{render, step_params};
use crate::models::RunModels;
use crate::permissions::Decision;
use crate::store::Store;
use crate::store::{Control, Fence, RunStatus};
use serde_json::{json, Map, Value};
use tracing::Instrument;
use workflow_core::ir::StepIr;
use workflow_core::ir::WorkflowIr;

/// What happens to a step before its action runs.
pub(super) enum Before {
    /// Run the action.
    Proceed,
    /// The step is done: a gate's or a prompt's outputs.
    Done(ActionOutput),
    /// The step fails without running.
    Fail(ActionFailure),
    /// Nobody has answered yet: the run waits (the question, if a person is asked, and why).
    Wait(Option<Box<Request>>, String),
}

/// The people phase of a step: what happens to it, or the report of a run that stops there.
type BeforePhase<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Result<Before, RunReport>, RunError>> + Send + 'a>>;

/// How a question was answered.
enum Reply {
    Given(Answer),
    TimedOut,
    Unanswered,
}

impl<S: Store> Executor<S> {
    /// Decides what happens to step `step` (execution `seq`) before its action runs.
    pub(super) async fn before_step(&self, run_id: &str, engine: &dyn Engine, step: usize, seq: u64) -> Result<Before, crate::store::StoreError> {
        let ir = engine.ir();
        let ir_step = &ir.steps[step];
        // `requires: gate.approved`: without the approval the step does not run at all.
        if let Some(gate) = ir_step.requires {
            let gate_id = &ir.steps[gate].id;
            let approved = engine.lookup(step, &["step".to_string(), gate_id.clone(), "approved".to_string()]);
            if approved != Some(Value::Bool(true)) {
                return Ok(Before::Fail(ActionFailure::new(format!("not run: it requires `{gate_id}.approved`, and that gate has not approved"))));
            }
        }
        let builtin = self.actions.is_builtin(&ir_step.action);
        let asks = builtin && matches!(ir_step.action.as_str(), "approval-gate" | "interactive");
        // Under `--yes` with nothing denied, consent needs no permission worked out.
        let needs_consent = ir_step.sensitive && !self.options.consent.grants_all();
        // Most steps ask nobody: they go on without filling in their fields twice.
        if !needs_consent && !asks {
            return Ok(Before::Proceed);
        }
        let params = match step_params(engine, step) {
            Ok((params, _)) => params,
            Err(e) => return Ok(Before::Fail(ActionFailure::new(format!("cannot fill in the step's fields: {e}")))),
        };
        let request = |kind, message: String| Request {
            kind,
            run_id: run_id.to_string(),
            workflow: ir.name.clone(),
            step_id: ir_step.id.clone(),
            seq,
            message: crate::secrets::mask(&message).into_owned(),
            input: None,
            permission: None,
            approvers: Vec::new(),
            measured: None,
        };
        if needs_consent {
            let permission = permission(ir_step, &params, &self.options.cwd).await;
            match self.options.consent.decide(&permission) {
                Decision::Denied(why) => return Ok(Before::Fail(ActionFailure::new(format!("denied: {why}")))),
                Decision::Allowed(why) => tracing::info!(%permission, %why, "consent"),
                // Consent a person gave in this run covers the same permission later in it (a loop asks once).
                Decision::Ask if self.consented(run_id, &permission)? => tracing::info!(%permission, "consent given earlier in this run"),
                Decision::Ask => {
                    let what = describe(engine, step, ir_step, &params);
                    let question = Request { permission: Some(permission.clone()), ..request(RequestKind::Consent, what) };
                    match self.reply(&question, ir.interactive).await? {
                        Reply::Given(answer) if answer.approved == Some(true) => tracing::info!(%permission, operator = %answer.operator, "consent given"),
                        Reply::Given(answer) => {
                            let comment = answer.comment.map(|c| format!(": {c}")).unwrap_or_default();
                            return Ok(Before::Fail(ActionFailure::new(format!("{} refused consent for `{permission}`{comment}", answer.operator))));
                        }
                        Reply::TimedOut | Reply::Unanswered => {
                            let program = crate::human::program_name();
                            let reason = format!(
                                "step `{}` needs consent for `{permission}`: give it with `{program} approve {run_id}` (or refuse with `{program} reject {run_id}`)",
                                ir_step.id
                            );
                            return Ok(Before::Wait(Some(Box::new(question)), reason));
                        }
                    }
                }
            }
        }
        match ir_step.action.as_str() {
            "approval-gate" if builtin => {
                let message = params.get("message").and_then(Value::as_str).unwrap_or("approve?").to_string();
                let mut question = Request { approvers: text_list(params.get("approvers")), ..request(RequestKind::Gate, message) };
                // Asked for the first time: what the run changed so far goes with the question (and its notifications).
                let asked_before = self.store.questions(run_id)?.iter().any(|q| q.request.seq == seq && q.request.kind == RequestKind::Gate);
                if !asked_before && !ir.snapshot.is_empty() {
                    question.measured = Some(self.measure_so_far(run_id, ir).await?);
                }
                if self.store.ask(&question)? {
                    let targets = self.notify_targets(engine, step, &question).await;
                    let problems = notify::notify_all(&targets, &question, &self.options.cwd, self.options.public_url.as_deref()).await;
                    for problem in problems {
                        tracing::warn!(%problem, "notify");
                    }
                }
                match self.reply(&question, ir.interactive).await? {
                    Reply::Given(answer) => {
                        let approved = answer.approved == Some(true);
                        Ok(Before::Done(ActionOutput::new(json!({
                            "approved": approved,
                            "comment": answer.comment.clone().unwrap_or_default(),
                            "approver": answer.operator,
                            "answered_at_ms": answer.at_ms,
                        }))))
                    }
                    Reply::TimedOut | Reply::Unanswered => {
                        let program = crate::human::program_name();
                        let reason = format!(
                            "waiting for approval at step `{}`: {} — approve with `{program} approve {run_id}` or reject with `{program} reject {run_id}`",
                            ir_step.id, question.message
                        );
                        Ok(Before::Wait(Some(Box::new(question)), reason))
                    }
                }
            }
            "interactive" if builtin => {
                let spec = input_spec(&params, ir_step.timeout_ms);
                let prompt = params.get("prompt").and_then(Value::as_str).unwrap_or("value?").to_string();
                let question = Request { input: Some(spec.clone()), ..request(RequestKind::Input, prompt) };
                // Unattended workflows take the default without asking.
                let reply = match (&spec.default, ir.interactive) {
                    (Some(default), false) => {
                        self.store.ask(&question)?;
                        let answer = Answer {
                            approved: None,
                            value: Some(default.clone()),
                            comment: Some("default (unattended)".to_string()),
                            operator: "default".to_string(),
                            at_ms: crate::human::now_ms(),
                        };
                        self.store.answer(run_id, seq, RequestKind::Input, &answer)?;
                        Reply::Given(answer)
                    }
                    _ => self.reply(&question, ir.interactive).await?,
                };
                let value = match reply {
                    Reply::Given(answer) => answer.value.unwrap_or(Value::Null),
                    Reply::TimedOut => match &spec.default {
                        Some(default) => default.clone(),
                        None => return Ok(Before::Fail(ActionFailure::new("no answer in time, and the prompt has no default"))),
                    },
                    Reply::Unanswered => {
                        let program = crate::human::program_name();
                        let how = if spec.input_type == InputType::Password {
                            format!("`{program} answer {run_id}` (typed at the terminal, unseen, or read from standard input; never on the command line)")
                        } else {
                            format!("`{program} answer {run_id} VALUE`")
                        };
                        let reason = format!("waiting for an answer at step `{}`: {} — answer with {how}", ir_step.id, question.message);
                        return Ok(Before::Wait(Some(Box::new(question)), reason));
                    }
                };
                let mut done = ActionOutput::new(json!({ "value": value.clone() }));
                if let Some(var) = ir_step.writes.and_then(|i| ir.variables.get(i)) {
                    done.assign.push((var.name.clone(), value));
                }
                Ok(Before::Done(done))
            }
            _ => Ok(Before::Proceed),
        }
    }

    /// The answer to `question`: one already stored (from `workflow approve` or
    /// an earlier ask), else the terminal's (stored now) when the run may ask there.
    async fn reply(&self, question: &Request, interactive: bool) -> Result<Reply, crate::store::StoreError> {
        self.store.ask(question)?;
        // A password's answer lives in this process's memory only; its stored answer has no value.
        let password = question.asks_for_password();
        let known = if password { self.password(&question.run_id, question.seq) } else { self.stored_answer(question)? };
        if let Some(answer) = known {
            if password {
                self.store.answer(&question.run_id, question.seq, question.kind, &Answer { value: None, ..answer.clone() })?;
            }
            return Ok(Reply::Given(answer));
        }
        match self.ask_terminal(question, interactive).await {
            Asked::Answered(answer) => {
                if !question.approvers.is_empty() && !question.approvers.contains(&answer.operator) {
                    tracing::warn!(operator = %answer.operator, approvers = ?question.approvers, "not an approver of this gate; the run waits for one");
                    return Ok(Reply::Unanswered);
                }
                if password {
                    self.keep_password(&question.run_id, question.seq, answer.clone());
                    self.store.answer(&question.run_id, question.seq, question.kind, &Answer { value: None, ..answer.clone() })?;
                    return Ok(Reply::Given(answer));
                }
                if !self.store.answer(&question.run_id, question.seq, question.kind, &answer)? {
                    // Someone answered from another shell meanwhile: the first answer stands.
                    if let Some(first) = self.stored_answer(question)? {
                        return Ok(Reply::Given(first));
                    }
                }
                Ok(Reply::Given(answer))
            }
            Asked::TimedOut => Ok(Reply::TimedOut),
            Asked::Closed => Ok(Reply::Unanswered),
        }
    }

    /// `question` put to the person at the terminal, when the run may ask there
    /// (`Closed` when it may not, or the terminal went away).
    pub(super) async fn ask_terminal(&self, question: &Request, interactive: bool) -> Asked {
        // A terminal whose person went away (end of input) is not asked again by this process.
        let open = !self.terminal_closed.load(std::sync::atomic::Ordering::Relaxed);
        let Some(terminal) = self.options.terminal.clone().filter(|_| interactive && open) else { return Asked::Closed };
        // One question at a time on one terminal, whatever number of runs are in flight.
        let _turn = self.terminal_turn.lock().await;
        let asked = {
            let question = question.clone();
            tokio::task::spawn_blocking(move || terminal.ask(&question)).await.unwrap_or(Asked::Closed)
        };
        if asked == Asked::Closed {
            self.terminal_closed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        asked
    }

    /// The run's metrics measured now, against the before-snapshot and the expected work.
    async fn measure_so_far(&self, run_id: &str, ir: &WorkflowIr) -> Result<Value, crate::store::StoreError> {
        let record = self.store.load_run(run_id)?;
        let snapshot_of = |key: &str| record.as_ref().and_then(|r| r.input.get(key)).and_then(Value::as_object).cloned().unwrap_or_default();
        let (before, expected) = (snapshot_of("state_snapshot"), snapshot_of("expected_work"));
        // Metric commands go through consent here too, as before and after the run.
        let refused = self.snapshot_refusals(ir, run_id).await;
        let (now, errors) = crate::audit::take_snapshot_refusing(&ir.snapshot, &self.options.cwd, crate::audit::DEFAULT_METRIC_TIMEOUT, &refused).await;
        let delta = crate::audit::delta(&before, &now);
        let anomalies = crate::audit::anomalies(&expected, &delta, &errors);
        Ok(json!({ "state_now": now, "delta": delta, "anomalies": anomalies, "measured_at_ms": crate::human::now_ms() }))
    }

    /// Whether a person already consented to `permission` in this run.
    pub(super) fn consented(&self, run_id: &str, permission: &str) -> Result<bool, crate::store::StoreError> {
        Ok(self.store.questions(run_id)?.iter().any(|q| {
            q.request.kind == RequestKind::Consent
                && q.request.permission.as_deref() == Some(permission)
                && q.answer.as_ref().is_some_and(|a| a.approved == Some(true))
        }))
    }

    /// Keeps a password answer in memory for the steps of this run (and masks it from now on).
    pub(super) fn keep_password(&self, run_id: &str, seq: u64, answer: Answer) {
        if let Some(Value::String(value)) = &answer.value {
            crate::secrets::register_password(value);
        }
        self.passwords.lock().unwrap_or_else(|p| p.into_inner()).insert((run_id.to_string(), seq), answer);
    }

    /// The password answer this process holds for step execution `seq` of the run.
    fn password(&self, run_id: &str, seq: u64) -> Option<Answer> {
        self.passwords.lock().unwrap_or_else(|p| p.into_inner()).get(&(run_id.to_string(), seq)).cloned()
    }

    /// On resume: every password a completed prompt of the run was given is
    /// asked again (it was never stored) and put back where the run keeps it.
    /// `Some` with the report of a run that now waits for one.
    pub(super) async fn reask_passwords(&self, run_id: &str, fence: &Fence, engine: &mut dyn Engine) -> Result<Option<RunReport>, RunError> {
        let questions = self.store.questions(run_id)?;
        let asked: Vec<Request> = questions.into_iter().filter(|q| q.request.asks_for_password() && q.answer.is_some()).map(|q| q.request).collect();
        if asked.is_empty() {
            return Ok(None);
        }
        let events = self.store.events(run_id)?;
        let ir = engine.ir().clone();
        for question in asked {
            let completed = events.iter().any(|e| e.seq == question.seq && e.outcome == Some(crate::store::StepOutcome::Completed));
            let Some(step) = ir.steps.iter().position(|s| s.id == question.step_id).filter(|_| completed) else { continue };
            match self.reply(&question, ir.interactive).await? {
                Reply::Given(answer) => {
                    let value = answer.value.unwrap_or(Value::Null);
                    let mut state = engine.state();
                    if let Some(output) = state.pointer_mut(&format!("/outputs/{}", question.step_id)).filter(|o| o.is_object()) {
                        output["value"] = value.clone();
                        engine.restore(&state).map_err(|message| RunError::State { run: run_id.to_string(), message })?;
                    }
                    if let Some(var) = ir.steps[step].writes.and_then(|i| ir.variables.get(i)) {
                        engine
                            .assign(&var.name, super::step::from_text(value, var.ty))
                            .map_err(|message| RunError::State { run: run_id.to_string(), message })?;
                    }
                }
                Reply::TimedOut | Reply::Unanswered => {
                    let reason = format!(
                        "step `{}` asked for a password, which is never stored, so the resumed run asks for it again: answer with `{} answer {run_id} --step {}` (typed at the terminal, or read from standard input)",
                        question.step_id,
                        crate::human::program_name(),
                        question.step_id
                    );
                    self.record_status(run_id, fence, RunStatus::Waiting, Some(reason.clone()), None).await?;
                    return Ok(Some(RunReport {
                        run_id: run_id.to_string(),
                        status: RunStatus::Waiting,
                        reason: Some(reason),
                        trace: Vec::new(),
                        children: Vec::new(),
                    }));
                }
            }
        }
        Ok(None)
    }

    fn stored_answer(&self, question: &Request) -> Result<Option<Answer>, crate::store::StoreError> {
        Ok(self
            .store
            .questions(&question.run_id)?
            .into_iter()
            .find(|q| q.request.seq == question.seq && q.request.kind == question.kind)
            .and_then(|q| q.answer))
    }
}

impl<S: Store> Executor<S> {
    /// Which steps need the people phase: a `requires:` gate, consent that is not simply
    /// given (`--yes` with no deny pattern), a gate, a prompt or a child run. The others
    /// go straight to their action.
    pub(super) fn people_steps(&self, ir: &WorkflowIr) -> Vec<bool> {
        let consent_given = self.options.consent.grants_all();
        ir.steps
            .iter()
            .map(|s| {
                let asks = matches!(s.action.as_str(), "approval-gate" | "interactive" | "run-workflow") && self.actions.is_builtin(&s.action);
                s.requires.is_some() || (s.sensitive && !consent_given) || asks
            })
            .collect()
    }

    /// The people phase of a step (boxed: most steps skip it, and it keeps the
    /// drive loop's future small): `Ok` with what happens to the step, or
    /// `Err` with the report of a run that stops here (waiting, paused, cancelled).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn before_phase<'a>(
        &'a self,
        run_id: &'a str,
        fence: &'a Fence,
        engine: &'a dyn Engine,
        step: usize,
        seq: u64,
        run: &'a RunModels,
        trace: &'a [String],
        span: tracing::Span,
    ) -> BeforePhase<'a> {
        Box::pin(async move {
            let ir_step = &engine.ir().steps[step];
            loop {
                let before = match self.before_step(run_id, engine, step, seq).instrument(span.clone()).await? {
                    Before::Proceed if ir_step.action == "run-workflow" && self.actions.is_builtin("run-workflow") => {
                        self.child_run(run_id, engine, step, seq).await?
                    }
                    other => other,
                };
                match before {
                    Before::Wait(question, reason) => match self.options.answer_poll.filter(|_| question.is_some()) {
                        // A long-lived driver keeps the run (and its lease) and looks for an answer from another shell.
                        Some(every) => {
                            if let Some(stop) = self.stop_requested(run_id, fence, engine, run, trace).await? {
                                return Ok(Err(stop));
                            }
                            tracing::debug!(step = %ir_step.id, "waiting for an answer");
                            tokio::time::sleep(every).await;
                        }
                        None => {
                            self.record_status(run_id, fence, RunStatus::Waiting, Some(reason.clone()), None).await?;
                            let trace = trace.to_vec();
                            return Ok(Err(RunReport {
                                run_id: run_id.to_string(),
                                status: RunStatus::Waiting,
                                reason: Some(reason),
                                trace,
                                children: Vec::new(),
                            }));
                        }
                    },
                    other => return Ok(Ok(other)),
                }
            }
        })
    }

    /// While a driver waits for an answer: a pause or cancel asked from another process, honoured now.
    async fn stop_requested(&self, run_id: &str, fence: &Fence, engine: &dyn Engine, run: &RunModels, trace: &[String]) -> Result<Option<RunReport>, RunError> {
        let control = self.store.pending_control(run_id)?;
        Ok(match control {
            Control::None => None,
            Control::Pause | Control::PauseNow => {
                let reason = "paused on request".to_string();
                self.record_status(run_id, fence, RunStatus::Paused, Some(reason.clone()), None).await?;
                Some(RunReport { run_id: run_id.to_string(), status: RunStatus::Paused, reason: Some(reason), trace: trace.to_vec(), children: Vec::new() })
            }
            Control::Cancel | Control::CancelNow => {
                Some(self.finish(run_id, fence, engine, run, RunStatus::Cancelled, Some("cancelled on request".to_string()), trace.to_vec()).await?)
            }
        })
    }
}

/// The permission a sensitive step asks for, as allow and deny patterns see it:
/// `shell:` + the command as written (references unexpanded, so a pattern
/// judges the code that runs, not the data), `push:REMOTE/BRANCH`, `merge-pr:PR`, `make-changes:PATHS`.
pub async fn permission(ir_step: &StepIr, params: &Map<String, Value>, cwd: &std::path::Path) -> String {
    let text = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_string);
    match ir_step.action.as_str() {
        "shell" => format!("shell:{}", as_written(ir_step.params.get("command").and_then(Value::as_str).unwrap_or_default())),
        "push" | "commit-push" => {
            let (remote, branch) = (text("remote"), text("branch"));
            match crate::actions::git::push_target(cwd, remote.as_deref(), branch.as_deref()).await {
                Ok((remote, branch)) => format!("push:{remote}/{branch}"),
                Err(_) => format!("push:{}/{}", remote.unwrap_or_else(|| "origin".to_string()), branch.unwrap_or_else(|| "HEAD".to_string())),
            }
        }
        "merge-pr" => match params.get("pr") {
            Some(Value::Number(n)) => format!("merge-pr:{n}"),
            Some(Value::String(pr)) => format!("merge-pr:{pr}"),
            _ => format!("merge-pr:{}", crate::actions::git::current_branch(cwd).await.unwrap_or_else(|_| "HEAD".to_string())),
        },
        "make-changes" => {
            let paths = text_list(params.get("paths"));
            format!("make-changes:{}", if paths.is_empty() { ".".to_string() } else { paths.join(",") })
        }
        other => other.to_string(),
    }
}

/// A template as people write it: the IR's canonical `${var.x}` / `${step.id.f}` back to `${x}` / `${id.f}`.
pub(super) fn as_written(template: &str) -> String {
    template.replace("${var.", "${").replace("${step.", "${")
}

/// What a sensitive step will do, for the person asked.
fn describe(engine: &dyn Engine, step: usize, ir_step: &StepIr, params: &Map<String, Value>) -> String {
    match ir_step.action.as_str() {
        "shell" => {
            let written = ir_step.params.get("command").and_then(Value::as_str).unwrap_or_default();
            format!("run `{}`", render(engine, step, written).unwrap_or_else(|_| written.to_string()))
        }
        "push" | "commit-push" => "push to the remote".to_string(),
        "merge-pr" => "merge the pull request".to_string(),
        "make-changes" => {
            let paths = text_list(params.get("paths"));
            format!("let the model edit files{}", if paths.is_empty() { " of the repository".to_string() } else { format!(" under {}", paths.join(", ")) })
        }
        other => format!("run `{other}`"),
    }
}

/// An `interactive` step's input spec from its fields.
fn input_spec(params: &Map<String, Value>, timeout_ms: Option<u64>) -> InputSpec {
    InputSpec {
        input_type: params.get("input-type").and_then(Value::as_str).and_then(InputType::parse).unwrap_or_default(),
        choices: text_list(params.get("choices")),
        default: params.get("default").cloned(),
        pattern: params.get("validation-pattern").and_then(Value::as_str).map(str::to_string),
        timeout_ms,
    }
}
