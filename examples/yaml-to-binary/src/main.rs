//! Workflows written in YAML, compiled into this binary at build time.
//!
//! `yaml-to-binary` lists them; `yaml-to-binary trace NAME [REJECTIONS]`
//! drives one through its generated `next()` with scripted outcomes (every
//! review rejects REJECTIONS times, then approves; every test fails as often)
//! and prints the path taken. No model or network is involved: this shows
//! the typed state machine itself.

include!(concat!(env!("OUT_DIR"), "/workflows.rs"));

use workflow::{Machine, Outcome, State, Transition};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("list") => {
            for (name, hash, steps) in [info::<pr_review_loop::Machine>(), info::<test_fix_loop::Machine>()] {
                println!("{name:<16} {steps:>2} steps  {}", &hash[..12]);
            }
        }
        Some("trace") => {
            let name = args.get(1).map(String::as_str).unwrap_or("pr-review-loop");
            let rejections: u32 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(2);
            let result = match name {
                "pr-review-loop" => trace::<pr_review_loop::Machine>(rejections),
                "test-fix-loop" => trace::<test_fix_loop::Machine>(rejections),
                other => {
                    eprintln!("error: no workflow named `{other}` in this binary (try `list`)");
                    std::process::exit(2);
                }
            };
            println!("{result}");
        }
        Some(other) => {
            eprintln!("error: unknown command `{other}`\nusage: yaml-to-binary [list | trace NAME [REJECTIONS]]");
            std::process::exit(2);
        }
    }
}

fn info<M: Machine>() -> (&'static str, &'static str, usize) {
    (M::NAME, M::HASH, M::STEP_COUNT)
}

/// Drives machine `M` with scripted outcomes and returns the path it took.
fn trace<M: Machine>(rejections: u32) -> String {
    let mut state = State::<M>::new();
    let mut path = Vec::new();
    let mut reviews = 0;
    let mut tests = 0;
    let mut at = M::enter(&mut state, M::start());
    let end = loop {
        let step = match at {
            Transition::Goto(step) => step,
            Transition::Complete => break "completed".to_string(),
            Transition::Fail(reason) => break format!("failed at `{}` ({reason:?})", reason.step()),
        };
        path.push(M::step_id(step));
        let action = M::ir().steps[M::step_index(step)].action.as_str();
        let output = match action {
            "review-pr" => {
                reviews += 1;
                serde_json::json!({ "approved": reviews > rejections, "comments": "" })
            }
            "shell" => {
                tests += 1;
                serde_json::json!({ "stdout": "", "stderr": "", "exit_code": if tests > rejections { 0 } else { 1 } })
            }
            _ => serde_json::json!({}),
        };
        M::set_output(&mut state.outputs, step, output).expect("scripted outputs fit the step");
        at = M::next(&mut state, step, Outcome::Success);
    };
    format!("{}: {} -> {end}", M::NAME, path.join(" -> "))
}
