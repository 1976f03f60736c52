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
use workflow_runtime::human::{now_ms, Answer, InputType, RequestKind};
use workflow_runtime::store::{Question, Store};

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
    #[command(flatten)]
    pub continuing: ContinueArgs,
}

/// Runs `workflow approve` (`approved`: true) or `workflow reject`.
pub fn decide(args: &DecideArgs, approved: bool) -> anyhow::Result<ExitCode> {
    let verb = if approved { "approve" } else { "reject" };
    let answer = Answer { approved: Some(approved), value: None, comment: args.comment.clone(), operator: operator(), at_ms: now_ms() };
    record(&args.run, &args.target, answer, verb, |q| match q.request.kind {
        RequestKind::Gate | RequestKind::Consent => Ok(None),
        RequestKind::Input => Err(format!("step `{}` asks for a value, not a decision: use `workflow answer RUN VALUE`", q.request.step_id)),
    })
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
    let answer = Answer { approved: None, value: None, comment: None, operator: operator(), at_ms: now_ms() };
    record(&args.run, &args.target, answer, "answer", |q| {
        let Some(spec) = q.request.input.as_ref().filter(|_| q.request.kind == RequestKind::Input) else {
            return Err(format!("step `{}` asks for a decision: use `workflow approve` or `workflow reject`", q.request.step_id));
        };
        if spec.input_type == InputType::Password && args.value.is_some() {
            return Err(format!(
                "step `{}` asks for a password, which is never taken from the command line (shell history keeps it): run `workflow answer {}` and type it at the prompt, or give it on standard input (`workflow answer {} < secret-file`)",
                q.request.step_id, args.run, args.run
            ));
        }
        let Some(typed) = typed else {
            use workflow_runtime::human::{Asked, Terminal};
            // The terminal asks until the answer fits (type, choices, pattern).
            return match terminal.as_ref().map(|t| t.ask(&q.request)) {
                Some(Asked::Answered(given)) => Ok(given.value),
                _ => Err("no answer was given".to_string()),
            };
        };
        // On a command line a multiline answer may be written with `\n`.
        let text = if spec.input_type == InputType::Multiline { typed.replace("\\n", "\n") } else { typed };
        spec.accept(&text).map(Some)
    })
}

/// Finds the run's open question, checks it with `fits`, records `answer`, and continues the run.
/// `fits` says why the question cannot take this answer, or the value the answer carries.
fn record(
    arg: &str,
    target: &TargetArgs,
    mut answer: Answer,
    verb: &str,
    fits: impl FnOnce(&Question) -> Result<Option<serde_json::Value>, String>,
) -> anyhow::Result<ExitCode> {
    let store = Arc::new(target.continuing.store.open()?);
    let run_id = find_run(&store, arg, ByName::Resumable)?;
    let questions = store.questions(&run_id)?;
    // A password's answer is never stored: a resumed run asks for it again, so its question stays answerable.
    let open: Vec<&Question> = questions
        .iter()
        .filter(|q| q.answer.is_none() || q.request.asks_for_password())
        .filter(|q| target.step.as_ref().is_none_or(|s| &q.request.step_id == s))
        .collect();
    let Some(question) = open.last() else {
        let which = target.step.as_ref().map(|s| format!(" at step `{s}`")).unwrap_or_default();
        return Ok(super::run::invalid(&format!("run {run_id} is not waiting for anyone{which} (see `workflow status {run_id}`)")));
    };
    match fits(question) {
        Ok(value) => answer.value = value,
        Err(why) => return Ok(super::run::invalid(&format!("{why} (run {run_id}, step `{}`)", question.request.step_id))),
    }
    if !question.request.approvers.is_empty() && !question.request.approvers.contains(&answer.operator) {
        return Ok(super::run::invalid(&format!(
            "`{}` may not {verb} step `{}`: its approvers are {}",
            answer.operator,
            question.request.step_id,
            question.request.approvers.join(", ")
        )));
    }
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
    if !store.answer(&run_id, request.seq, request.kind, &answer)? {
        anyhow::bail!("step `{}` of run {run_id} was answered meanwhile by someone else", request.step_id);
    }
    let what = match (request.kind, answer.approved) {
        (RequestKind::Input, _) => "answered".to_string(),
        (_, Some(true)) => "approved".to_string(),
        _ => "rejected".to_string(),
    };
    eprintln!("{what} step `{}` of run {run_id} (as {})", request.step_id, answer.operator);
    if target.no_resume {
        eprintln!("  continue it with: workflow resume {run_id}");
        return Ok(ExitCode::SUCCESS);
    }
    continue_answered(store, &run_id, target, resume, false)
}

/// Drives the answered run on in this process, unless a live driver holds it.
fn continue_answered(
    store: Arc<workflow_runtime::store::sqlite::SqliteStore>,
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
