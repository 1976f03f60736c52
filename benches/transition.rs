//! The per-step engine cost: one call of a generated `Machine::next`.
//!
//! The machine below has one step of each kind of transition: a plain goto
//! (`go`, a shell step falling through), a branch on a typed condition over an
//! int variable (`branch`, `i < 1000`) and a loop step (`again`, jumping back
//! while `i < 1000`, its counter reset before every call so it never runs out).
//! Target: at most 5 ns per transition.
//!
//! Baseline, measured in the same run: a hand-written `match` over an
//! equivalent enum doing the same comparisons and counter updates, the floor
//! of what a transition can cost. The IR interpreter's `Interpreter::next` on
//! the same workflow is measured too, for comparison (no target). The figures
//! and ratios are printed after the criterion group.
//!
//! Run with `cargo bench --bench transition`.

use criterion::{black_box, Criterion};
use std::time::{Duration, Instant};
use workflow::{workflow, DynState, Interpreter, Machine, Outcome, State, Target, Transition};

workflow! {
    name: "bench-machine",
    variables: { i: 0 },
    steps: [
        go: shell { command: "echo ${i}" },
        branch: conditional { check: "i < 1000", on_false: done },
        again: loop { to: go, condition: "i < 1000", max_iterations: 1000000 },
        done: end,
    ],
}

use bench_machine::{Machine as M, Step};

/// Position of the loop step, whose counter each loop transition resets.
const AGAIN: usize = 2;

/// The hand-written floor: the same workflow as an enum and a `match`.
mod hand {
    use workflow::{FailReason, Outcome, Transition};

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Step {
        Go,
        Branch,
        Again,
        Done,
    }

    pub struct Variables {
        pub i: i64,
    }

    pub struct State {
        pub variables: Variables,
        pub counters: Vec<u32>,
    }

    #[inline(never)]
    pub fn next(state: &mut State, step: Step, outcome: Outcome) -> Transition<Step> {
        if let Outcome::Error = outcome {
            return Transition::Fail(FailReason::StepFailed { step: "" });
        }
        match step {
            Step::Go => Transition::Goto(Step::Branch),
            Step::Branch => {
                if state.variables.i < 1000 {
                    Transition::Goto(Step::Again)
                } else {
                    Transition::Goto(Step::Done)
                }
            }
            Step::Again => {
                if state.variables.i < 1000 {
                    if state.counters[2] < 1_000_000 {
                        state.counters[2] += 1;
                        Transition::Goto(Step::Go)
                    } else {
                        Transition::Fail(FailReason::Exhausted { step: "again" })
                    }
                } else {
                    Transition::Goto(Step::Done)
                }
            }
            Step::Done => Transition::Complete,
        }
    }
}

/// The generated `next`, behind a call boundary like the hand-written one.
#[inline(never)]
fn generated_next(state: &mut State<M>, step: Step, outcome: Outcome) -> Transition<Step> {
    M::next(state, step, outcome)
}

/// The three kinds of transition, with the generated and hand-written step for each.
const KINDS: [(&str, Step, hand::Step); 3] =
    [("goto", Step::Go, hand::Step::Go), ("branch", Step::Branch, hand::Step::Branch), ("loop", Step::Again, hand::Step::Again)];

fn states() -> (State<M>, hand::State, DynState) {
    let state = State::<M>::new();
    let hand = hand::State { variables: hand::Variables { i: 0 }, counters: vec![0; 4] };
    let dynamic = DynState::new(M::ir());
    (state, hand, dynamic)
}

/// Checks that all three agree on where each kind of step goes.
fn agree() {
    let (mut state, mut hand, mut dynamic) = states();
    let run = Interpreter::new(M::ir());
    for (name, step, hand_step) in KINDS {
        let generated = M::next(&mut state, step, Outcome::Success);
        let expected = hand::next(&mut hand, hand_step, Outcome::Success);
        let interpreted = run.next(&mut dynamic, M::step_index(step), Outcome::Success);
        let (Transition::Goto(g), Transition::Goto(h), Target::Step(d)) = (generated, expected, interpreted) else {
            panic!("{name}: expected a step, got {generated:?} / {expected:?} / {interpreted:?}")
        };
        assert_eq!(M::step_id(g).replace('-', "_"), format!("{h:?}").to_lowercase(), "{name}: generated vs hand-written");
        assert_eq!(M::step_index(g), d, "{name}: generated vs interpreted");
    }
}

fn criterion_benches(c: &mut Criterion) {
    let (mut state, mut hand, mut dynamic) = states();
    let ir = M::ir();
    let run = Interpreter::new(ir);
    let mut group = c.benchmark_group("transition");
    group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500)).sample_size(50);
    for (name, step, hand_step) in KINDS {
        let index = M::step_index(step);
        group.bench_function(format!("generated_{name}"), |b| {
            b.iter(|| {
                state.counters[AGAIN] = 0;
                generated_next(black_box(&mut state), black_box(step), black_box(Outcome::Success))
            })
        });
        group.bench_function(format!("baseline_match_{name}"), |b| {
            b.iter(|| {
                hand.counters[AGAIN] = 0;
                hand::next(black_box(&mut hand), black_box(hand_step), black_box(Outcome::Success))
            })
        });
        group.bench_function(format!("interpreter_{name}"), |b| {
            b.iter(|| {
                dynamic.counters[AGAIN] = 0;
                run.next(black_box(&mut dynamic), black_box(index), black_box(Outcome::Success))
            })
        });
    }
    group.finish();
}

/// Nanoseconds per call of `f`: the fastest of several timed batches (the
/// least disturbed by the rest of the machine), after a warm-up.
fn ns_per_op<R>(mut f: impl FnMut() -> R) -> f64 {
    const BATCH: u32 = 200_000;
    for _ in 0..BATCH {
        black_box(f());
    }
    let deadline = Instant::now() + Duration::from_millis(400);
    let mut best = f64::INFINITY;
    while Instant::now() < deadline {
        let start = Instant::now();
        for _ in 0..BATCH {
            black_box(f());
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e9 / f64::from(BATCH));
    }
    best
}

/// The figures against the target, each next to its same-run baseline.
fn summary() {
    let (mut state, mut hand, mut dynamic) = states();
    let run = Interpreter::new(M::ir());
    println!();
    println!("== transition figures (generated `next` vs hand-written `match`; both reset the loop counter every call) ==");
    for (name, step, hand_step) in KINDS {
        let index = M::step_index(step);
        let generated = ns_per_op(|| {
            state.counters[AGAIN] = 0;
            generated_next(black_box(&mut state), black_box(step), black_box(Outcome::Success))
        });
        let baseline = ns_per_op(|| {
            hand.counters[AGAIN] = 0;
            hand::next(black_box(&mut hand), black_box(hand_step), black_box(Outcome::Success))
        });
        let interpreted = ns_per_op(|| {
            dynamic.counters[AGAIN] = 0;
            run.next(black_box(&mut dynamic), black_box(index), black_box(Outcome::Success))
        });
        let verdict = if generated <= 5.0 { "ok" } else { "OVER TARGET" };
        println!(
            "{name:>6}: generated {generated:.2} ns/op, baseline {baseline:.2} ns/op, ratio {:.2}x, target <= 5 ns [{verdict}]; interpreter {interpreted:.2} ns/op ({:.1}x generated)",
            generated / baseline,
            interpreted / generated,
        );
    }
}

/// Whether this is `cargo bench` (not `cargo test --benches`, `--test`, `--list` or `--profile-time`).
fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list" || a.starts_with("--profile-time"))
}

fn main() {
    agree();
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
    if benchmarking() {
        summary();
    }
}
