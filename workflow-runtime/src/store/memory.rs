//! A store that keeps runs in memory only: nothing survives the process.
//!
//! It enforces the same rules as the SQLite store (a step ends once, only the
//! lease holder writes), so tests written against it hold for the durable
//! one. Ending a step is a map lookup and a few moves, no serialization: the
//! in-memory benchmark runs on it. The lease rules both stores share live at
//! the bottom of this file.

use super::{
    Control, Fence, Lease, LeaseOwner, LeaseResult, NewRun, Question, RunFilter, RunId, RunPageQuery, RunRecord, RunStatus, RunSummary, StepDurations, StepEnd,
    StepEvent, StepOutcome, StepProcess, StepStart, Store, StoreError, TokenRecord,
};
use crate::human::{Answer, Request, RequestKind};
use std::collections::HashMap;
use std::future::{ready, Future};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Runs kept in a map; for tests, benchmarks and `persistent: false`.
#[derive(Debug, Default)]
pub struct MemoryStore {
    runs: Mutex<HashMap<RunId, Run>>,
    questions: Mutex<Vec<Question>>,
    tokens: Mutex<Vec<TokenRecord>>,
}

/// One run as the SQLite store keeps it: the record's `open` is left `None`
/// and derived from `open_seq` on load, so ending a step never clones a step id.
#[derive(Debug)]
struct Run {
    /// The record, its `definition` left `null`: the shared text below is parsed on load.
    record: RunRecord,
    definition: std::sync::Arc<str>,
    open_seq: Option<u64>,
    /// The last lease acquisition's epoch (kept when the lease is released, so the next one is higher).
    epoch: u64,
    events: Vec<Event>,
    /// The process group recorded for an execution (only the open one's is ever asked for).
    process: Option<StepProcess>,
}

/// A step event without its run id (the map key already says it).
#[derive(Debug)]
struct Event {
    seq: u64,
    step: usize,
    step_id: String,
    outcome: Option<StepOutcome>,
    output: serde_json::Value,
    error: Option<String>,
    attempts: u32,
    started_at_ms: u64,
    ended_at_ms: Option<u64>,
    duration_ms: Option<u64>,
}

impl Event {
    fn started(start: StepStart, now: u64) -> Event {
        Event {
            seq: start.seq,
            step: start.step,
            step_id: start.step_id,
            outcome: None,
            output: serde_json::Value::Object(serde_json::Map::new()),
            error: None,
            attempts: 0,
            started_at_ms: now,
            ended_at_ms: None,
            duration_ms: None,
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<RunId, Run>> {
        // A panic elsewhere cannot leave a run half-written: every change below is made after its checks.
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The runs `keep` accepts, newest first (by creation time, then id).
    fn summaries(&self, keep: impl Fn(&RunRecord) -> bool) -> Vec<RunSummary> {
        let runs = self.lock();
        let mut found: Vec<RunSummary> = runs
            .values()
            .map(|r| &r.record)
            .filter(|r| keep(r))
            .map(|r| RunSummary {
                id: r.id.clone(),
                workflow: r.workflow.clone(),
                status: r.status,
                parent_run_id: r.parent_run_id.clone(),
                created_at_ms: r.created_at_ms,
                finished_at_ms: r.finished_at_ms,
            })
            .collect();
        found.sort_by(|a, b| (b.created_at_ms, &b.id).cmp(&(a.created_at_ms, &a.id)));
        found
    }

    fn create_now(&self, new: NewRun) -> Result<Fence, StoreError> {
        let now = now_ms();
        let mut runs = self.lock();
        if runs.contains_key(&new.id) {
            return Err(StoreError::RunExists(new.id));
        }
        let fence = Fence { owner: new.owner.id.clone(), epoch: 1 };
        let open_seq = new.first.as_ref().map(|first| first.seq);
        let record = RunRecord {
            id: new.id.clone(),
            workflow: new.workflow,
            status: RunStatus::Running,
            reason: None,
            definition_hash: new.definition_hash,
            definition: serde_json::Value::Null,
            parent_run_id: new.parent_run_id,
            cwd: new.cwd,
            source: new.source,
            input: new.input,
            output: None,
            state: new.state,
            target: new.target,
            open: None,
            next_seq: open_seq.map_or(1, |seq| seq + 1),
            control: Control::None,
            lease: Some(Lease { owner: new.owner, until_ms: now.saturating_add(new.lease_ms), epoch: 1 }),
            created_at_ms: now,
            updated_at_ms: now,
            finished_at_ms: None,
        };
        let events = new.first.into_iter().map(|first| Event::started(first, now)).collect();
        runs.insert(new.id, Run { record, definition: new.definition, open_seq, epoch: 1, events, process: None });
        Ok(fence)
    }

    fn start_now(&self, run: &str, fence: &Fence, start: StepStart) -> Result<(), StoreError> {
        let now = now_ms();
        let mut runs = self.lock();
        let r = runs.get_mut(run).ok_or_else(|| StoreError::RunNotFound(run.to_owned()))?;
        check_lease(run, r.record.lease.as_ref(), fence)?;
        if r.open_seq.is_some() {
            return Err(StoreError::NotOpen { run: run.to_owned(), seq: start.seq });
        }
        check_fresh_seq(run, start.seq, r.record.next_seq)?;
        r.open_seq = Some(start.seq);
        r.record.next_seq = r.record.next_seq.max(start.seq + 1);
        r.record.status = RunStatus::Running;
        r.record.reason = None;
        r.record.finished_at_ms = None;
        r.record.updated_at_ms = now;
        r.events.push(Event::started(start, now));
        Ok(())
    }

    fn end_now(&self, run: &str, fence: &Fence, end: StepEnd) -> Result<Control, StoreError> {
        let now = now_ms();
        let mut runs = self.lock();
        let r = runs.get_mut(run).ok_or_else(|| StoreError::RunNotFound(run.to_owned()))?;
        check_lease(run, r.record.lease.as_ref(), fence)?;
        let not_open = || StoreError::NotOpen { run: run.to_owned(), seq: end.seq };
        if r.open_seq != Some(end.seq) {
            return Err(not_open());
        }
        // With a pause or cancel pending the run stops here: the next step is only its target.
        let next = end.next.filter(|_| r.record.control == Control::None);
        if let Some(next) = &next {
            check_fresh_seq(run, next.seq, r.record.next_seq)?;
        }
        // The open execution is almost always the last one recorded.
        let event = r.events.iter_mut().rev().find(|e| e.seq == end.seq).filter(|e| e.outcome.is_none()).ok_or_else(not_open)?;
        event.outcome = Some(end.outcome);
        event.output = end.output;
        event.error = end.error;
        event.attempts = end.attempts;
        event.ended_at_ms = Some(now);
        event.duration_ms = Some(end.duration_ms);
        if let Some(state) = end.state {
            r.record.state = state;
        }
        r.record.target = end.target;
        r.open_seq = None;
        if let Some(next) = next {
            r.open_seq = Some(next.seq);
            r.record.next_seq = r.record.next_seq.max(next.seq + 1);
            r.events.push(Event::started(next, now));
        }
        r.record.updated_at_ms = now;
        Ok(r.record.control)
    }

    fn status_now(&self, run: &str, fence: &Fence, status: RunStatus, reason: Option<String>, output: Option<serde_json::Value>) -> Result<(), StoreError> {
        let now = now_ms();
        let mut runs = self.lock();
        let r = runs.get_mut(run).ok_or_else(|| StoreError::RunNotFound(run.to_owned()))?;
        check_lease(run, r.record.lease.as_ref(), fence)?;
        let record = &mut r.record;
        record.status = status;
        record.reason = reason;
        if output.is_some() {
            record.output = output;
        }
        record.finished_at_ms = is_finished(status).then_some(now);
        record.control = Control::None;
        if status != RunStatus::Running {
            record.lease = None;
        }
        record.updated_at_ms = now;
        Ok(())
    }
}

impl Store for MemoryStore {
    fn is_durable(&self) -> bool {
        false
    }

    fn create_run(&self, run: NewRun) -> impl Future<Output = Result<Fence, StoreError>> + Send {
        ready(self.create_now(run))
    }

    fn start_step(&self, run: &str, fence: &Fence, start: StepStart) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(self.start_now(run, fence, start))
    }

    fn end_step(&self, run: &str, fence: &Fence, end: StepEnd) -> impl Future<Output = Result<Control, StoreError>> + Send {
        ready(self.end_now(run, fence, end))
    }

    fn set_status(
        &self,
        run: &str,
        fence: &Fence,
        status: RunStatus,
        reason: Option<String>,
        output: Option<serde_json::Value>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(self.status_now(run, fence, status, reason, output))
    }

    fn acquire_lease(&self, run: &str, owner: &LeaseOwner, ttl_ms: u64) -> Result<LeaseResult, StoreError> {
        let now = now_ms();
        let mut runs = self.lock();
        let r = runs.get_mut(run).ok_or_else(|| StoreError::RunNotFound(run.to_owned()))?;
        if let Some(held) = &r.record.lease {
            if !lease_is_free(held, owner, now) {
                return Ok(LeaseResult::HeldBy(held.clone()));
            }
        }
        r.epoch += 1;
        r.record.lease = Some(Lease { owner: owner.clone(), until_ms: now.saturating_add(ttl_ms), epoch: r.epoch });
        r.record.updated_at_ms = now;
        Ok(LeaseResult::Acquired(Fence { owner: owner.id.clone(), epoch: r.epoch }))
    }

    fn renew_lease(&self, run: &str, fence: &Fence, ttl_ms: u64) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut runs = self.lock();
        let r = runs.get_mut(run).ok_or_else(|| StoreError::RunNotFound(run.to_owned()))?;
        match &mut r.record.lease {
            Some(lease) if holds(lease, fence) => {
                lease.until_ms = now.saturating_add(ttl_ms);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn request(&self, run: &str, control: Control) -> Result<(), StoreError> {
        let mut runs = self.lock();
        let r = runs.get_mut(run).ok_or_else(|| StoreError::RunNotFound(run.to_owned()))?;
        r.record.control = control;
        r.record.updated_at_ms = now_ms();
        Ok(())
    }

    fn record_process(&self, run: &str, fence: &Fence, process: StepProcess) -> impl Future<Output = Result<(), StoreError>> + Send {
        let mut runs = self.lock();
        let recorded = match runs.get_mut(run) {
            None => Err(StoreError::RunNotFound(run.to_owned())),
            Some(r) => check_lease(run, r.record.lease.as_ref(), fence).and_then(|()| {
                if r.open_seq != Some(process.seq) {
                    return Err(StoreError::NotOpen { run: run.to_owned(), seq: process.seq });
                }
                r.process = Some(process);
                Ok(())
            }),
        };
        ready(recorded)
    }

    fn open_process(&self, run: &str) -> Result<Option<StepProcess>, StoreError> {
        let runs = self.lock();
        let Some(r) = runs.get(run) else { return Ok(None) };
        Ok(r.process.clone().filter(|p| Some(p.seq) == r.open_seq))
    }

    fn load_run(&self, run: &str) -> Result<Option<RunRecord>, StoreError> {
        let runs = self.lock();
        Ok(runs.get(run).map(|r| {
            let mut record = r.record.clone();
            record.definition = serde_json::from_str(&r.definition).unwrap_or(serde_json::Value::Null);
            record.open = r.open_seq.and_then(|seq| r.events.iter().rev().find(|e| e.seq == seq)).map(|e| StepStart {
                seq: e.seq,
                step: e.step,
                step_id: e.step_id.clone(),
            });
            record
        }))
    }

    fn find_ids(&self, prefix: &str) -> Result<Vec<RunId>, StoreError> {
        let mut ids: Vec<RunId> = self.lock().keys().filter(|id| id.starts_with(prefix)).cloned().collect();
        ids.sort();
        Ok(ids)
    }

    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        let mut found = self.summaries(|r| {
            filter.workflow.as_ref().is_none_or(|w| *w == r.workflow)
                && filter.status.is_none_or(|s| s == r.status)
                && filter.since_ms.is_none_or(|since| r.created_at_ms >= since)
                && filter.until_ms.is_none_or(|until| r.created_at_ms < until)
        });
        found.truncate(filter.limit.unwrap_or(usize::MAX));
        Ok(found)
    }

    fn latest_resumable(&self, workflow: &str) -> Result<Option<RunId>, StoreError> {
        let runs = self.lock();
        let newest = runs
            .values()
            .map(|r| &r.record)
            .filter(|r| r.workflow == workflow && r.status.is_resumable())
            .max_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(newest.map(|r| r.id.clone()))
    }

    fn events(&self, run: &str) -> Result<Vec<StepEvent>, StoreError> {
        let runs = self.lock();
        let Some(r) = runs.get(run) else { return Ok(Vec::new()) };
        let mut events: Vec<StepEvent> = r
            .events
            .iter()
            .map(|e| StepEvent {
                run_id: run.to_owned(),
                seq: e.seq,
                step: e.step,
                step_id: e.step_id.clone(),
                outcome: e.outcome,
                output: e.output.clone(),
                error: e.error.clone(),
                attempts: e.attempts,
                started_at_ms: e.started_at_ms,
                ended_at_ms: e.ended_at_ms,
                duration_ms: e.duration_ms,
            })
            .collect();
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }

    fn ask(&self, request: &Request) -> Result<bool, StoreError> {
        let mut questions = self.questions.lock().unwrap_or_else(PoisonError::into_inner);
        let same = |q: &Question| q.request.run_id == request.run_id && q.request.seq == request.seq && q.request.kind == request.kind;
        if questions.iter().any(same) {
            return Ok(false);
        }
        questions.push(Question { request: request.clone(), asked_at_ms: now_ms(), answer: None });
        Ok(true)
    }

    fn answer(&self, run: &str, seq: u64, kind: RequestKind, answer: &Answer) -> Result<bool, StoreError> {
        let mut questions = self.questions.lock().unwrap_or_else(PoisonError::into_inner);
        match questions.iter_mut().find(|q| q.request.run_id == run && q.request.seq == seq && q.request.kind == kind && q.answer.is_none()) {
            Some(q) => {
                q.answer = Some(answer.clone());
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn questions(&self, run: &str) -> Result<Vec<Question>, StoreError> {
        let questions = self.questions.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(questions.iter().filter(|q| q.request.run_id == run).cloned().collect())
    }

    fn runs_page(&self, query: &RunPageQuery) -> Result<Vec<RunSummary>, StoreError> {
        let mut found = self.summaries(|r| {
            query.workflow.as_ref().is_none_or(|w| *w == r.workflow)
                && query.status.is_none_or(|s| s == r.status)
                && query.after.as_ref().is_none_or(|after| (r.created_at_ms, &r.id) < (after.created_at_ms, &after.id))
        });
        found.truncate(query.limit);
        Ok(found)
    }

    fn child_runs(&self, run: &str) -> Result<Vec<RunSummary>, StoreError> {
        let mut found = self.summaries(|r| r.parent_run_id.as_deref() == Some(run));
        found.reverse();
        Ok(found)
    }

    fn run_counts(&self) -> Result<Vec<(RunStatus, u64)>, StoreError> {
        let mut counts: HashMap<RunStatus, u64> = HashMap::new();
        for r in self.lock().values() {
            *counts.entry(r.record.status).or_default() += 1;
        }
        let mut counts: Vec<(RunStatus, u64)> = counts.into_iter().collect();
        counts.sort_by_key(|(status, _)| status.as_str());
        Ok(counts)
    }

    fn step_durations(&self, bounds_ms: &[u64]) -> Result<StepDurations, StoreError> {
        let mut durations = StepDurations { bounds_ms: bounds_ms.to_vec(), at_most: vec![0; bounds_ms.len()], ..StepDurations::default() };
        for took in self.lock().values().flat_map(|r| r.events.iter().filter_map(|e| e.duration_ms)) {
            durations.count += 1;
            durations.sum_ms += took;
            for (bound, n) in bounds_ms.iter().zip(durations.at_most.iter_mut()) {
                *n += u64::from(took <= *bound);
            }
        }
        Ok(durations)
    }

    fn open_questions(&self) -> Result<Vec<Question>, StoreError> {
        let runs = self.lock();
        let waits_on = |q: &Question| {
            runs.get(&q.request.run_id)
                .is_some_and(|r| r.open_seq == Some(q.request.seq) && !matches!(r.record.status, RunStatus::Completed | RunStatus::Cancelled))
        };
        let questions = self.questions.lock().unwrap_or_else(PoisonError::into_inner);
        let mut open: Vec<Question> = questions.iter().filter(|q| q.answer.is_none() && waits_on(q)).cloned().collect();
        open.sort_by(|a, b| (a.asked_at_ms, &a.request.run_id, a.request.seq).cmp(&(b.asked_at_ms, &b.request.run_id, b.request.seq)));
        Ok(open)
    }

    fn add_token(&self, token: &TokenRecord) -> Result<bool, StoreError> {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if tokens.iter().any(|t| t.revoked_at_ms.is_none() && (t.name == token.name || t.hash == token.hash)) {
            return Ok(false);
        }
        tokens.push(token.clone());
        Ok(true)
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(self.tokens.lock().unwrap_or_else(PoisonError::into_inner).clone())
    }

    fn revoke_token(&self, name: &str, at_ms: u64) -> Result<bool, StoreError> {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        match tokens.iter_mut().find(|t| t.name == name && t.revoked_at_ms.is_none()) {
            Some(token) => {
                token.revoked_at_ms = Some(at_ms);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

// Rules both stores share.

/// Now, in Unix milliseconds (the one clock of the crate).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// Completed, failed and cancelled runs get a finish time; a failed run can still be resumed.
pub(super) fn is_finished(status: RunStatus) -> bool {
    matches!(status, RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled)
}

/// A new execution takes a number never used in its run: `next_seq` or above.
pub(super) fn check_fresh_seq(run: &str, seq: u64, next_seq: u64) -> Result<(), StoreError> {
    if seq >= next_seq {
        return Ok(());
    }
    Err(StoreError::SeqUsed { run: run.to_owned(), seq, next_seq })
}

/// Whether `fence` is the lease's current acquisition.
pub(super) fn holds(lease: &Lease, fence: &Fence) -> bool {
    lease.owner.id == fence.owner && lease.epoch == fence.epoch
}

/// Only the holder of the run's current lease may write its steps and status.
pub(super) fn check_lease(run: &str, held: Option<&Lease>, fence: &Fence) -> Result<(), StoreError> {
    match held {
        Some(lease) if holds(lease, fence) => Ok(()),
        Some(lease) => Err(lease_lost(run, Some(lease), fence)),
        None => Err(lease_lost(run, None, fence)),
    }
}

/// Why `fence` may not write the run whose lease is `held`.
pub(super) fn lease_lost(run: &str, held: Option<&Lease>, fence: &Fence) -> StoreError {
    let detail = match held {
        Some(lease) if lease.owner.id == fence.owner => {
            format!("its lease was taken again (epoch {}; this write holds epoch {})", lease.epoch, fence.epoch)
        }
        Some(lease) => format!("executor {} (pid {} on {}) holds its lease (epoch {})", lease.owner.id, lease.owner.pid, lease.owner.host, lease.epoch),
        None => "nobody holds its lease (it was released)".to_owned(),
    };
    StoreError::LeaseLost { run: run.to_owned(), detail }
}

/// A held lease can be taken over by its own owner, once it has expired, or
/// at once when its process is gone from this host (a killed driver's run is
/// resumable without waiting for the lease to run out).
pub(super) fn lease_is_free(held: &Lease, owner: &LeaseOwner, now_ms: u64) -> bool {
    held.owner.id == owner.id || held.until_ms < now_ms || (held.owner.host == owner.host && !process_alive(held.owner.pid))
}

/// Whether a process with this pid exists on this machine. Where we cannot
/// tell, it is assumed alive, so the lease is only taken once it expires.
fn process_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        true
    }
}
