//! The transition function: `enter` (visit bounds) and one arm of `next`
//! per step, following the interpreter's rules exactly.

use super::Layout;
use crate::ir::{FlowIr, Target};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

/// Which edge a transition follows, for the reason a `Fail` target gives.
#[derive(Clone, Copy)]
enum Edge {
    Normal,
    Error,
    Exhausted,
}

/// The transition to `target`, taken from step `from` along `edge`.
fn transition(layout: &Layout<'_>, from: usize, target: Target, edge: Edge) -> TokenStream {
    let rt = &layout.rt;
    match target {
        Target::Step(to) => {
            let variant = &layout.variants[to];
            quote!(<Machine as #rt::Machine>::enter(state, Step::#variant))
        }
        Target::Complete => quote!(#rt::Transition::Complete),
        Target::Fail => {
            let id = &layout.ir.steps[from].id;
            let reason = match edge {
                Edge::Normal => quote!(Ended),
                Edge::Error => quote!(StepFailed),
                Edge::Exhausted => quote!(Exhausted),
            };
            quote!(#rt::Transition::Fail(#rt::FailReason::#reason { step: #id }))
        }
    }
}

/// `enter`: counts visits of steps with `max_visits`, following `on_exhausted`
/// from a used-up one (a chain longer than the workflow is a cycle and fails).
pub(super) fn enter_body(layout: &Layout<'_>) -> TokenStream {
    let rt = &layout.rt;
    let arms: Vec<TokenStream> = layout
        .ir
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let max = Literal::u32_unsuffixed(s.max_visits?);
            let variant = &layout.variants[i];
            let index = Literal::usize_unsuffixed(i);
            let exhausted = match s.on_exhausted {
                Target::Step(to) => {
                    let next = &layout.variants[to];
                    quote!(step = Step::#next; continue;)
                }
                other => {
                    let transition = transition(layout, i, other, Edge::Exhausted);
                    quote!(return #transition;)
                }
            };
            Some(quote! {
                Step::#variant => {
                    if state.counters[#index] >= #max {
                        #exhausted
                    }
                    state.counters[#index] += 1;
                }
            })
        })
        .collect();
    if arms.is_empty() {
        return quote! {
            let _ = state;
            #rt::Transition::Goto(step)
        };
    }
    quote! {
        let mut step = step;
        for _ in 0..=<Machine as #rt::Machine>::STEP_COUNT {
            match step {
                #(#arms)*
                _ => {}
            }
            return #rt::Transition::Goto(step);
        }
        #rt::Transition::Fail(#rt::FailReason::Exhausted { step: <Machine as #rt::Machine>::step_id(step) })
    }
}

/// The arm of `next` for step `i`: error route, `set:`, then its flow.
pub(super) fn next_arm(layout: &Layout<'_>, i: usize) -> TokenStream {
    let rt = &layout.rt;
    let step = &layout.ir.steps[i];
    let (variant, snake) = (&layout.variants[i], &layout.snake[i]);
    let index = Literal::usize_unsuffixed(i);
    let to = |target: Target, edge: Edge| transition(layout, i, target, edge);
    let on_error = match &step.flow {
        FlowIr::Goto { on_error, .. } | FlowIr::Branch { on_error, .. } | FlowIr::Loop { on_error, .. } => *on_error,
        FlowIr::End { .. } => Target::Fail,
    };
    let error = to(on_error, Edge::Error);
    let set = (!step.set.is_empty()).then(|| {
        let function = format_ident!("set_{}", snake);
        quote! {
            if #function(state).is_err() {
                return #error;
            }
        }
    });
    let check = format_ident!("check_{}", snake);
    let flow = match &step.flow {
        FlowIr::Goto { next, .. } => to(*next, Edge::Normal),
        FlowIr::Branch { on_true, on_false, .. } => {
            let (on_true, on_false) = (to(*on_true, Edge::Normal), to(*on_false, Edge::Normal));
            quote! {
                match #check(state) {
                    ::core::result::Result::Ok(true) => #on_true,
                    ::core::result::Result::Ok(false) => #on_false,
                    ::core::result::Result::Err(_) => #error,
                }
            }
        }
        FlowIr::Loop { to: jump, max, next, on_exhausted, .. } => {
            let max = Literal::u32_unsuffixed(*max);
            let (jump, next, exhausted) = (to(Target::Step(*jump), Edge::Normal), to(*next, Edge::Normal), to(*on_exhausted, Edge::Exhausted));
            quote! {
                match #check(state) {
                    ::core::result::Result::Ok(true) if state.counters[#index] < #max => {
                        state.counters[#index] += 1;
                        #jump
                    }
                    ::core::result::Result::Ok(true) => #exhausted,
                    ::core::result::Result::Ok(false) => #next,
                    ::core::result::Result::Err(_) => #error,
                }
            }
        }
        FlowIr::End { failed } => to(if *failed { Target::Fail } else { Target::Complete }, Edge::Normal),
    };
    quote! {
        Step::#variant => {
            if let #rt::Outcome::Error = outcome {
                return #error;
            }
            #set
            #flow
        }
    }
}
