//! `workflow approve|reject|answer`: a person's answer to a waiting run,
//! from any shell. The answer is stored (who, when) in the audit record;
//! then the run goes on in this process, unless another process drives it
//! (`workflow run --wait`), which picks the answer up itself.

use super::resume::{continue_run, ContinueArgs};
use super::store::{find_run, ByName};
use std::process::ExitCode;
use std::sync::Arc;
use workflow_runtime::audit::operator;
use workflow_runtime::executor::{ResumeOptions, RunError};
use workflow_runtime::human::answering::{self, AnswerError, Given};
use workflow_runtime::human::{now_ms, InputType, RequestKind};
use workflow_runtime::store::Question;

/// Arguments of `workflow approve` and `workflow reject`.
#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    /// A run id (or a unique prefix), or a workflow name: its newest resumable run
    pub run: String,
    /// Why (recorded with the decision; a gate's `comment` output)
    #[arg(long, short = 'm', value_name = "TEXT")]
    pub comment: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Arguments of `workflow answer`.
#[derive(Debug, clap::Args)]
pub struct AnswerArgs {
    /// A run id (or a unique prefix), or a workflow name: its newest resumable run
    pub run: String,
    /// The answer (checked against the prompt's type, choices and validation pattern).
    /// Left out: asked at the terminal (a password is not shown), else read from standard input.
    /// A password is never taken here, where shell history would keep it
    pub value: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Which question, and what happens after the answer.
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// The step whose question this answers (default: the run's open question)
    #[arg(long, value_name = "ID")]
    pub step: Option<String>,
    /// Only record the answer; continue the run later with `workflow resume`
    #[arg(long)]
    pub no_resume: bool,
    /// Who answers, as recorded and checked against the step's `approvers:`
    /// (default: $WORKFLOW_OPERATOR, else $USER, $USERNAME, $LOGNAME, else the system account)
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    #[command(flatten)]
    pub continuing: ContinueArgs,
}

impl TargetArgs {
    /// The name the answer is recorded under: `--operator`, else the operator of this environment.
    fn operator_name(&self) -> anyhow::Result<String> {
        match self.operator.as_deref().map(str::trim) {
            Some("") => anyhow::bail!("--operator needs a name"),
            Some(name) => Ok(name.to_string()),
            None => Ok(operator()),
        }
    }
}

/// Runs `workflow approve` (`approved`: true) or `workflow reject`.
pub fn decide(args: &DecideArgs, approved: bool) -> anyhow::Result<ExitCode> {
    let verb = if approved { "approve" } else { "reject" };
    record(&args.run, &args.target, verb, |_| Ok(Given::Decision { approved, comment: args.comment.clone() }))
}

/// Runs `workflow answer`.
pub fn answer(args: &AnswerArgs) -> anyhow::Result<ExitCode> {
    // No value given: at a terminal the prompt is asked there (a password unseen); otherwise stdin is the value.
    let terminal = if args.value.is_none() { workflow_runtime::human::terminal::TtyTerminal::open() } else { None };
    let typed = match (&args.value, &terminal) {
        (Some(value), _) => Some(value.clone()),
        (None, Some(_)) => None,
        (None, None) => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
            Some(text.trim_end_matches(['\n', '\r']).to_string())
        }
    };
    record(&args.run, &args.target, "answer", |q| {
        if q.request.kind != RequestKind::Input {
            // Said here in the command line's words; the shared check would say the same in general terms.
            let program = super::run::program();
            return Err(format!("step `{}` asks for a decision: use `{program} approve` or `{program} reject`", q.request.step_id));
        }
        if q.request.asks_for_password() && args.value.is_some() {
            return Err(format!(
                "step `{}` asks for a password, which is never taken from the command line (shell history keeps it): run `{program} answer {}` and type it at the prompt, or give it on standard input (`{program} answer {} < secret-file`)",
                q.request.step_id,
                args.run,
                args.run,
                program = super::run::program()
            ));
        }
        let Some(typed) = typed else {
            use workflow_runtime::human::{Asked, Terminal};
            // The terminal asks until the answer fits (type, choices, pattern).
            return match terminal.as_ref().map(|t| t.ask(&q.request)) {
                Some(Asked::Answered(given)) => Ok(Given::Value(given.value.unwrap_or(serde_json::Value::Null))),
                _ => Err("no answer was given".to_string()),
            };
        };
        // On a command line a multiline answer may be written with `\n`.
        let multiline = q.request.input.as_ref().is_some_and(|i| i.input_type == InputType::Multiline);
        Ok(Given::Text(if multiline { typed.replace("\\n", "\n") } else { typed }))
    })
}

/// Finds the run's open question, has `give` say what is given (or why nothing can be), records
/// the answer through the runtime's one path (the checks `workflow serve` makes too), and
/// continues the run.
fn record(arg: &str, target: &TargetArgs, verb: &str, give: impl FnOnce(&Question) -> Result<Given, String>) -> anyhow::Result<ExitCode> {
    let store = Arc::new(target.continuing.store.open()?);
    let run_id = find_run(&*store, arg, ByName::Resumable)?;
    let question = match answering::open_question(&*store, &run_id, target.step.as_deref()) {
        Ok(question) => question,
        Err(AnswerError::NotWaiting { .. }) => {
            let which = target.step.as_ref().map(|s| format!(" at step `{s}`")).unwrap_or_default();
            return Ok(super::run::invalid(&format!("run {run_id} is not waiting for anyone{which} (see `{} status {run_id}`)", super::run::program())));
        }
        Err(e) => return Err(e.into()),
    };
    let given = match give(&question) {
        Ok(given) => given,
        Err(why) => return Ok(super::run::invalid(&format!("{why} (run {run_id}, step `{}`)", question.request.step_id))),
    };
    if let (RequestKind::Input, Given::Decision { .. }) = (question.request.kind, &given) {
        let why = format!("step `{}` asks for a value, not a decision: use `{} answer RUN VALUE`", question.request.step_id, super::run::program());
        return Ok(super::run::invalid(&format!("{why} (run {run_id}, step `{}`)", question.request.step_id)));
    }
    let answer = match answering::answer_for(&question, given, &target.operator_name()?, now_ms()) {
        Ok(answer) => answer,
        Err(e @ (AnswerError::Invalid { .. } | AnswerError::WrongKind { .. })) => return Ok(super::run::invalid(&e.to_string())),
        Err(AnswerError::NotApprover { step, operator, approvers, .. }) => {
            return Ok(super::run::invalid(&format!("`{operator}` may not {verb} step `{step}`: its approvers are {}", approvers.join(", "))));
        }
        Err(e) => return Err(e.into()),
    };
    let request = &question.request;
    let mut resume = ResumeOptions { cwd: target.continuing.cwd.clone(), ..ResumeOptions::default() };
    if request.asks_for_password() {
        // Kept in this process's memory for the run's steps: never written to the store.
        if target.no_resume {
            return Ok(super::run::invalid(&format!(
                "step `{}` asks for a password, which is never stored, so it cannot be recorded for later: leave out --no-resume (run {run_id})",
                request.step_id
            )));
        }
        eprintln!("answered step `{}` of run {run_id} (as {}; the password is kept in memory only)", request.step_id, answer.operator);
        resume.passwords.0.push((request.seq, answer));
        return continue_answered(store, &run_id, target, resume, true);
    }
    answering::record(&*store, &question, &answer)?;
    eprintln!("{} step `{}` of run {run_id} (as {})", answering::verdict(request.kind, &answer), request.step_id, answer.operator);
    if target.no_resume {
        eprintln!("  continue it with: {} resume {run_id}", super::run::program());
        return Ok(ExitCode::SUCCESS);
    }
    continue_answered(store, &run_id, target, resume, false)
}

/// Drives the answered run on in this process, unless a live driver holds it.
fn continue_answered(
    store: Arc<workflow_runtime::store::any::AnyStore>,
    run_id: &str,
    target: &TargetArgs,
    resume: ResumeOptions,
    password: bool,
) -> anyhow::Result<ExitCode> {
    match continue_run(store, run_id, &target.continuing, resume) {
        // A live driver (`workflow run --wait`) holds the run: it picks the answer up itself.
        // (A dead one's lease is taken over, and the run goes on here.)
        Err(e) => match e.downcast_ref::<RunError>() {
            Some(RunError::Busy { pid, host, .. }) if password => Ok(super::run::invalid(&format!(
                "run {run_id} is driven by process {pid} on {host}, and a password reaches only the process that runs the step: type it there, or stop that process and answer again"
            ))),
            Some(RunError::Busy { pid, host, .. }) => {
                eprintln!("  run {run_id} is driven by process {pid} on {host}: it goes on there");
                Ok(ExitCode::SUCCESS)
            }
            _ => Err(e),
        },
        done => done,
    }
}
