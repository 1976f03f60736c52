//! (d) Resuming a paused run: the workflow, its actions, and timing one resume.
use super::*;

/// A two-step workflow: `first` asks for its own run to pause, `second` notes when it was invoked.
pub(super) const PAUSE_RESUME: &str = r#"
name: pause-resume
steps:
  - id: first
    action: pause-self
  - id: second
    action: mark
"#;

/// Asks the store to pause the run it belongs to, so the run stops after this step.
pub(super) struct PauseSelf<S: Store>(Arc<S>);

impl<S: Store> Action for PauseSelf<S> {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> ActionResult<'a> {
        let asked = self.0.request(&ctx.run_id, Control::Pause);
        Box::pin(async move { asked.map(|()| empty()).map_err(|e| ActionFailure::new(e.to_string())) })
    }
}

/// Notes the moment the step's action is invoked.
pub(super) struct Mark(Arc<Mutex<Option<Instant>>>);

impl Action for Mark {
    fn run<'a>(&'a self, _: &'a StepContext) -> ActionResult<'a> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        Box::pin(async { Ok(empty()) })
    }
}

/// An executor over `store` for the pause-resume workflow, and the slot its `mark` step writes.
pub(super) fn resume_executor<S: Store>(store: Arc<S>) -> (Executor<S>, Arc<Mutex<Option<Instant>>>) {
    let marked = Arc::new(Mutex::new(None));
    let mut actions = actions();
    actions.register("pause-self", PauseSelf(store.clone()));
    actions.register("mark", Mark(marked.clone()));
    (Executor::new(store, actions, options()), marked)
}

/// Starts `count` runs together; each pauses after its first step. Returns their ids.
pub(super) fn paused_runs<S: Store>(rt: &Runtime, ex: &Arc<Executor<S>>, ir: &Arc<WorkflowIr>, count: usize) -> Vec<String> {
    rt.block_on(async {
        let tasks: Vec<_> = (0..count)
            .map(|_| {
                let (ex, ir) = (ex.clone(), ir.clone());
                tokio::spawn(async move { ex.start(Box::new(IrEngine::new(ir)), StartOptions::default()).await })
            })
            .collect();
        let mut ids = Vec::with_capacity(count);
        for task in tasks {
            let report = task.await.expect("the run's task finishes").expect("the run starts");
            assert_eq!(report.status, RunStatus::Paused, "{:?}", report.reason);
            assert_eq!(report.trace, ["first"]);
            ids.push(report.run_id);
        }
        ids
    })
}

/// One resume, timed: (call → the next step's action invoked, the whole call).
pub(super) fn timed_resume<S: Store>(rt: &Runtime, ex: &Executor<S>, marked: &Mutex<Option<Instant>>, ir: &Arc<WorkflowIr>, run: &str) -> (Duration, Duration) {
    let engine = Box::new(IrEngine::new(ir.clone()));
    *marked.lock().unwrap_or_else(PoisonError::into_inner) = None;
    let start = Instant::now();
    let report = rt.block_on(ex.resume(run, engine, ResumeOptions::default())).expect("the run resumes");
    let whole = start.elapsed();
    assert_eq!(report.status, RunStatus::Completed, "{:?}", report.reason);
    assert_eq!(report.trace, ["second"]);
    let at = marked.lock().unwrap_or_else(PoisonError::into_inner).take().expect("`second` ran");
    (at - start, whole)
}
