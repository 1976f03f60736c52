//! Build-time cost of the language on a generated 1,000-step workflow.
//!
//! * `validate_yaml_1000`: `set::compile_sources` on one YAML source (parse,
//!   read, the checks, lower). Target: at most 20 ms.
//! * `expand_dsl_1000`: `expand::expand_workflow` on the `workflow!` tokens of
//!   the same workflow (parse, read, check, lower, codegen). Target: at most 100 ms.
//! * `codegen_yaml_1000`: `compile_sources` then `codegen::generate`, what
//!   `include_workflow!` and build scripts do. Target: at most 100 ms.
//!
//! Each is compared with a baseline measured in the same run: parsing the
//! same text to a generic tree (`node::parse_yaml`, `dsl::parse_dsl`). The
//! figures and ratios are printed after the criterion groups.
//!
//! Run with `cargo bench -p workflow-core --bench compile`.

use criterion::{black_box, BatchSize, Criterion};
use proc_macro2::TokenStream;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workflow_core::check::check_workflow;
use workflow_core::codegen::{self, RustBindings};
use workflow_core::lower::lower;
use workflow_core::read::read_workflow;
use workflow_core::read::ReadOptions;
use workflow_core::set::compile_sources;
use workflow_core::Source;

/// Steps in the generated workflow.
const STEPS: usize = 1_000;

/// One field value of a generated step.
enum Val {
    /// A string (a command, a condition).
    Str(String),
    /// A step id or a variable name, written bare.
    Name(String),
    /// An integer.
    Int(i64),
    /// A mapping of names to strings (`set:`).
    Map(Vec<(&'static str, String)>),
}

/// One generated step: id, action (kebab case) and fields (kebab-case keys).
struct StepSpec {
    id: String,
    action: &'static str,
    fields: Vec<(&'static str, Val)>,
}

fn s(text: impl Into<String>) -> Val {
    Val::Str(text.into())
}

fn id(n: usize) -> String {
    format!("s{n}")
}

/// The steps of a realistic workflow, in blocks of ten: shell steps reading
/// variables and earlier steps' outputs, a `conditional` and a shell `check`
/// jumping forward, `set:` updates, and every fifth block a bounded loop back
/// to the block's start.
fn steps(count: usize) -> Vec<StepSpec> {
    assert_eq!(count % 10, 0, "whole blocks of ten steps");
    let mut out = Vec::with_capacity(count);
    for k in 0..count / 10 {
        let b = k * 10;
        let mut step = |n: usize, action: &'static str, fields: Vec<(&'static str, Val)>| out.push(StepSpec { id: id(b + n), action, fields });
        step(0, "shell", vec![("command", s(format!("echo ${{name}} block {k} ${{i}}")))]);
        step(1, "shell", vec![("command", s(format!("printf '%s' '${{{}.stdout}}' | wc -c", id(b)))), ("set", Val::Map(vec![("count", "count + 1".into())]))]);
        step(2, "conditional", vec![("check", s(format!("{}.exit_code == 0 && count < 100000", id(b + 1)))), ("on-true", Val::Name(id(b + 5)))]);
        step(3, "shell", vec![("command", s(format!("echo fallback ${{{}.stdout}} ${{count}}", id(b))))]);
        step(4, "shell", vec![("command", s(format!("echo retry ${{{}.exit_code}}", id(b + 3)))), ("set", Val::Map(vec![("i", "i + 1".into())]))]);
        step(
            5,
            "shell",
            vec![
                ("command", s(format!("echo ${{{}.stdout}} ${{count}}", id(b + 1)))),
                ("check", s("exit_code == 0 && i < 1000")),
                ("on-true", Val::Name(id(b + 7))),
            ],
        );
        step(6, "shell", vec![("command", s(format!("echo ${{i}} > /tmp/bench-{k}.txt")))]);
        step(7, "conditional", vec![("check", s("verbose")), ("on-false", Val::Name(id(b + 9)))]);
        step(8, "shell", vec![("command", s(format!("echo verbose ${{{}.stdout}}", id(b + 5))))]);
        if k % 5 == 4 {
            step(
                9,
                "loop",
                vec![("to", Val::Name(id(b))), ("condition", s(format!("iteration < 2 && {}.exit_code == 0", id(b + 5)))), ("max-iterations", Val::Int(2))],
            );
        } else {
            step(9, "shell", vec![("command", s(format!("echo done {k} ${{name}}")))]);
        }
    }
    out
}

/// The workflow as YAML text.
fn yaml(steps: &[StepSpec]) -> String {
    let mut y = String::from(
        "name: big\ndescription: A generated workflow for benchmarks\nvariables:\n  i: 0\n  count: 0\n  name: \"bench\"\n  verbose: false\nsteps:\n",
    );
    for step in steps {
        writeln!(y, "  - id: {}\n    action: {}", step.id, step.action).unwrap();
        for (key, value) in &step.fields {
            match value {
                Val::Str(t) => writeln!(y, "    {key}: \"{t}\"").unwrap(),
                Val::Name(n) => writeln!(y, "    {key}: {n}").unwrap(),
                Val::Int(i) => writeln!(y, "    {key}: {i}").unwrap(),
                Val::Map(entries) => {
                    let entries: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: \"{v}\"")).collect();
                    writeln!(y, "    {key}: {{ {} }}", entries.join(", ")).unwrap();
                }
            }
        }
    }
    y
}

/// The same workflow as the text inside `workflow! { .. }`.
fn dsl(steps: &[StepSpec]) -> String {
    let mut d = String::from(
        "name: \"big\", description: \"A generated workflow for benchmarks\", variables: { i: 0, count: 0, name: \"bench\", verbose: false }, steps: [\n",
    );
    for step in steps {
        let fields: Vec<String> = step
            .fields
            .iter()
            .map(|(key, value)| {
                let key = key.replace('-', "_");
                match value {
                    Val::Str(t) => format!("{key}: \"{t}\""),
                    Val::Name(n) => format!("{key}: {n}"),
                    Val::Int(i) => format!("{key}: {i}"),
                    Val::Map(entries) => {
                        let entries: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: \"{v}\"")).collect();
                        format!("{key}: {{ {} }}", entries.join(", "))
                    }
                }
            })
            .collect();
        writeln!(d, "    {}: {} {{ {} }},", step.id, step.action.replace('-', "_"), fields.join(", ")).unwrap();
    }
    d.push(']');
    d
}

/// Mean time of one call of `f` (its argument made by `setup`, outside the
/// timing), after a warm-up, over at least `min_iters` calls and `min_time`.
fn mean<I, O>(mut setup: impl FnMut() -> I, mut f: impl FnMut(I) -> O, min_iters: u32, min_time: Duration) -> Duration {
    for _ in 0..3 {
        black_box(f(setup()));
    }
    let (mut total, mut n) = (Duration::ZERO, 0u32);
    while n < min_iters || total < min_time {
        let input = setup();
        let start = Instant::now();
        black_box(f(input));
        total += start.elapsed();
        n += 1;
    }
    total / n
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Prints one figure, its same-run baseline, their ratio and the target.
fn report(what: &str, measured: Duration, baseline_name: &str, baseline: Duration, target_ms: f64) {
    let verdict = if ms(measured) <= target_ms { "ok" } else { "OVER TARGET" };
    println!(
        "{what}: {:.2} ms/op, baseline ({baseline_name}) {:.2} ms/op, ratio {:.2}x, target <= {target_ms} ms [{verdict}]",
        ms(measured),
        ms(baseline),
        measured.as_secs_f64() / baseline.as_secs_f64(),
    );
}

struct Inputs {
    source: Arc<Source>,
    tokens: TokenStream,
}

fn inputs() -> Inputs {
    let spec = steps(STEPS);
    let source = Source::new("big.yaml", yaml(&spec));
    let tokens: TokenStream = dsl(&spec).parse().expect("the generated `workflow!` input tokenizes");
    // The benchmarks are only meaningful on a valid workflow: compile each front end once.
    let compiled =
        compile_sources(std::slice::from_ref(&source), &ReadOptions::default()).unwrap_or_else(|d| panic!("generated YAML does not compile:\n{}", d.render()));
    assert_eq!(compiled[0].ir.steps.len(), STEPS);
    let expanded = workflow_core::expand::expand_workflow(tokens.clone()).to_string();
    assert!(!expanded.contains("compile_error"), "generated `workflow!` input does not compile: {}", &expanded[..expanded.len().min(2000)]);
    Inputs { source, tokens }
}

fn validate(c: &mut Criterion, inputs: &Inputs) {
    let sources = std::slice::from_ref(&inputs.source);
    let options = ReadOptions::default();
    let mut group = c.benchmark_group("validate_yaml_1000");
    group.sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    group.bench_function("compile_sources", |b| b.iter(|| compile_sources(black_box(sources), &options).unwrap()));
    group.bench_function("baseline_parse_yaml", |b| b.iter(|| workflow_core::node::parse_yaml(black_box(&inputs.source)).unwrap()));
    group.finish();
}

fn expand(c: &mut Criterion, inputs: &Inputs) {
    let mut group = c.benchmark_group("expand_dsl_1000");
    group.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    group.bench_function("expand_workflow", |b| b.iter_batched(|| inputs.tokens.clone(), workflow_core::expand::expand_workflow, BatchSize::SmallInput));
    group.bench_function("baseline_parse_dsl", |b| {
        b.iter_batched(|| inputs.tokens.clone(), |t| workflow_core::dsl::parse_dsl(t).unwrap(), BatchSize::SmallInput)
    });
    group.finish();
}

fn codegen_yaml(c: &mut Criterion, inputs: &Inputs) {
    let sources = std::slice::from_ref(&inputs.source);
    let options = ReadOptions::default();
    let bindings = RustBindings::default();
    let mut group = c.benchmark_group("codegen_yaml_1000");
    group.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    group.bench_function("compile_sources_and_generate", |b| {
        b.iter(|| {
            let compiled = compile_sources(black_box(sources), &options).unwrap();
            codegen::generate(&compiled[0].ir, &bindings)
        })
    });
    group.finish();
}

/// The figures against their targets, each measured next to its baseline.
fn summary(inputs: &Inputs) {
    let sources = std::slice::from_ref(&inputs.source);
    let options = ReadOptions::default();
    let bindings = RustBindings::default();
    let time = Duration::from_secs(2);
    let parse_yaml = mean(|| (), |()| workflow_core::node::parse_yaml(&inputs.source).unwrap(), 10, time);
    let validate = mean(|| (), |()| compile_sources(sources, &options).unwrap(), 10, time);
    let parse_dsl = mean(|| inputs.tokens.clone(), |t| workflow_core::dsl::parse_dsl(t).unwrap(), 20, time);
    let expand = mean(|| inputs.tokens.clone(), workflow_core::expand::expand_workflow, 10, time);
    let generate = mean(|| (), |()| codegen::generate(&compile_sources(sources, &options).unwrap()[0].ir, &bindings), 10, time);
    println!();
    println!("== compile figures ({STEPS} steps, {} bytes of YAML) ==", inputs.source.text.len());
    report("validate YAML (compile_sources)", validate, "parse_yaml", parse_yaml, 20.0);
    report("expand workflow! (expand_workflow)", expand, "parse_dsl", parse_dsl, 100.0);
    report("codegen from YAML (compile_sources + generate)", generate, "parse_yaml", parse_yaml, 100.0);
    stages(inputs);
    scaling();
}

/// Where the time of `compile_sources` goes, stage by stage (no target; for whoever optimizes).
fn stages(inputs: &Inputs) {
    let options = ReadOptions::default();
    let time = Duration::from_secs(1);
    let text = inputs.source.text.as_str();
    let raw = mean(|| (), |()| serde_saphyr::from_str::<serde_json::Value>(text).unwrap(), 10, time);
    let root = workflow_core::node::parse_yaml(&inputs.source).unwrap();
    let parse = mean(|| (), |()| workflow_core::node::parse_yaml(&inputs.source).unwrap(), 10, time);
    let read = mean(|| (), |()| read_workflow(&root, Some(inputs.source.clone()), &options), 10, time);
    let model = read_workflow(&root, Some(inputs.source.clone()), &options).0.unwrap();
    let check = mean(|| (), |()| check_workflow(&model), 10, time);
    let lowered = mean(|| (), |()| lower(&model), 10, time);
    let ir = lower(&model);
    let generate = mean(|| (), |()| codegen::generate(&ir, &RustBindings::default()), 10, time);
    println!("stages: serde-saphyr to serde_json::Value (no spans, reference) {:.2} ms | parse_yaml {:.2} ms | read {:.2} ms | check {:.2} ms | lower {:.2} ms | codegen::generate {:.2} ms",
        ms(raw), ms(parse), ms(read), ms(check), ms(lowered), ms(generate));
}

/// How parsing and the rest of `compile_sources` grow with the workflow's size.
fn scaling() {
    let options = ReadOptions::default();
    let time = Duration::from_millis(500);
    let mut line = String::from("scaling (parse_yaml / read+check+lower):");
    for n in [250, 500, 1_000, 2_000] {
        let source = Source::new("big.yaml", yaml(&steps(n)));
        let root = workflow_core::node::parse_yaml(&source).unwrap();
        let parse = mean(|| (), |()| workflow_core::node::parse_yaml(&source).unwrap(), 3, time);
        let rest = mean(
            || (),
            |()| {
                let model = read_workflow(&root, Some(source.clone()), &options).0.unwrap();
                assert!(check_workflow(&model).is_empty());
                lower(&model)
            },
            3,
            time,
        );
        write!(line, "  {n} steps {:.2} / {:.2} ms;", ms(parse), ms(rest)).unwrap();
    }
    println!("{}", line.trim_end_matches(';'));
}

fn benches(c: &mut Criterion) {
    let inputs = inputs();
    validate(c, &inputs);
    expand(c, &inputs);
    codegen_yaml(c, &inputs);
    if benchmarking() {
        summary(&inputs);
    }
}

/// Whether this is `cargo bench` (not `cargo test --benches`, `--test`, `--list` or `--profile-time`).
fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list" || a.starts_with("--profile-time"))
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
