//! Rust code for a lowered workflow: one module holding a typed state
//! machine that implements the runtime's `Machine` trait.
//!
//! For a workflow named `pr-review-loop` the module `pr_review_loop` holds:
//! `enum Step` (a variant per step, serialized as the step's id),
//! `struct Variables` (a typed field per variable), `struct Outputs` (the
//! runtime's output struct of each step that produces any), `struct Machine`
//! and its `impl Machine` whose `next` is one `match` over the steps. Branch
//! and loop conditions and `set:` values are typed Rust where every value is
//! concretely typed (`codegen::expr`); otherwise they are evaluated from the
//! embedded IR by the same code the interpreter uses, so both agree.
//!
//! Generated code reaches the runtime only through
//! [`RustBindings::runtime_path`] (a hidden, versioned `__private` module)
//! and names std items by absolute paths, because the module imports the
//! caller's scope (`use super::*`) for the Rust code a `workflow!` embeds.

mod expr;
mod flow;
mod names;

use crate::catalog;
use crate::expr::Type;
use crate::ir::{FlowIr, WorkflowIr};
use crate::lower::RUST_CONDITION;
use expr::{Translator, Ty};
use flow::{enter_body, next_arm};
use names::{snake_case, upper_camel_case, Unique};
use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote, ToTokens};
use std::collections::HashMap;

/// The Rust a `workflow!` embeds, and where the runtime is.
#[derive(Clone, Debug)]
pub struct RustBindings {
    /// Step id → a closure `|vars, steps| -> bool` replacing its branch or loop condition.
    pub conditions: HashMap<String, TokenStream>,
    /// Step id → path of the `async fn(ActionInput) -> Result<Value, ActionError>` implementing it.
    pub custom_actions: HashMap<String, TokenStream>,
    /// The runtime's hidden module as generated code names it.
    pub runtime_path: TokenStream,
}

impl Default for RustBindings {
    fn default() -> RustBindings {
        RustBindings { conditions: HashMap::new(), custom_actions: HashMap::new(), runtime_path: quote!(::workflow::__private) }
    }
}

/// The runtime's output struct for a family of actions, and its typed fields.
pub(crate) struct Family {
    /// The struct's name in the runtime.
    name: &'static str,
    /// Fields typed code may read (others are read from JSON).
    fields: &'static [(&'static str, Type)],
}

const S: Type = Type::String;
const SHELL: Family = Family { name: "ShellOutput", fields: &[("stdout", S), ("stderr", S), ("exit_code", Type::Int)] };
const AI_PROMPT: Family = Family { name: "AiPromptOutput", fields: &[("response", S)] };
const REVIEW: Family = Family { name: "ReviewOutput", fields: &[("approved", Type::Bool), ("comments", S)] };
const INTERACTIVE: Family = Family { name: "InteractiveOutput", fields: &[] };
const GATE: Family = Family { name: "GateOutput", fields: &[("approved", Type::Bool), ("comment", S), ("approver", S)] };
const PR: Family = Family { name: "PrOutput", fields: &[("number", Type::Int), ("url", S)] };
const FILE_EXISTS: Family = Family { name: "FileExistsOutput", fields: &[("exists", Type::Bool)] };
const COMMIT: Family = Family { name: "CommitOutput", fields: &[("sha", S), ("committed", Type::Bool)] };
const COMMIT_PUSH: Family = Family { name: "CommitPushOutput", fields: &[("sha", S), ("committed", Type::Bool), ("remote", S), ("branch", S)] };
const PUSH: Family = Family { name: "PushOutput", fields: &[("remote", S), ("branch", S), ("sha", S)] };
const PULL: Family = Family { name: "PullOutput", fields: &[("sha", S), ("updated", Type::Bool)] };
const SYNC: Family = Family { name: "SyncOutput", fields: &[("branch", S), ("sha", S)] };
const MERGE: Family = Family { name: "MergeOutput", fields: &[("merged", Type::Bool), ("sha", S)] };
const MAKE_CHANGES: Family = Family { name: "MakeChangesOutput", fields: &[("summary", S)] };
const RUN_WORKFLOW: Family = Family { name: "RunWorkflowOutput", fields: &[("status", S), ("run_id", S)] };
const CUSTOM: Family = Family { name: "CustomOutput", fields: &[] };

/// The output struct of an action; `None` for a built-in without outputs.
fn family(action: &str) -> Option<&'static Family> {
    Some(match action {
        "shell" => &SHELL,
        "ai-prompt" => &AI_PROMPT,
        "review-pr" | "self-review" => &REVIEW,
        "interactive" => &INTERACTIVE,
        "approval-gate" => &GATE,
        "create-pr" => &PR,
        "check-file-exists" => &FILE_EXISTS,
        "commit" => &COMMIT,
        "commit-push" => &COMMIT_PUSH,
        "push" => &PUSH,
        "pull" => &PULL,
        "sync" => &SYNC,
        "merge-pr" => &MERGE,
        "make-changes" => &MAKE_CHANGES,
        "run-workflow" => &RUN_WORKFLOW,
        other if catalog::action(other).is_some_and(|a| a.outputs.is_empty()) => return None,
        // A custom action, or a built-in this table does not know yet: its JSON as it is.
        _ => &CUSTOM,
    })
}

/// A step's field of `Outputs`.
pub(crate) struct Slot {
    /// The field.
    field: Ident,
    /// Its runtime struct.
    family: &'static Family,
}

/// The names of the generated module, shared by the pieces that write it.
pub(crate) struct Layout<'a> {
    /// The workflow.
    ir: &'a WorkflowIr,
    /// The runtime as generated code names it: `__rt`, imported at the top of the module.
    rt: TokenStream,
    /// Per step: its `Step` variant.
    variants: Vec<Ident>,
    /// Per step: snake-case name, for its `Outputs` field and helper functions.
    snake: Vec<Ident>,
    /// Per variable: its `Variables` field.
    variables: Vec<Ident>,
    /// Per step: its `Outputs` field, if it produces outputs.
    outputs: Vec<Option<Slot>>,
}

impl<'a> Layout<'a> {
    fn new(ir: &'a WorkflowIr, rust: &RustBindings) -> Layout<'a> {
        let (mut variants, mut snakes, mut vars) = (Unique::default(), Unique::default(), Unique::default());
        let snake: Vec<Ident> = ir.steps.iter().map(|s| snakes.take(snake_case(&s.id), "_")).collect();
        let outputs = ir
            .steps
            .iter()
            .zip(&snake)
            .map(|(s, field)| {
                let family = if rust.custom_actions.contains_key(&s.id) { Some(&CUSTOM) } else { family(&s.action) };
                family.map(|family| Slot { field: field.clone(), family })
            })
            .collect();
        Layout {
            ir,
            rt: quote!(__rt),
            variants: ir.steps.iter().map(|s| variants.take(upper_camel_case(&s.id), "")).collect(),
            snake,
            variables: ir.variables.iter().map(|v| vars.take(snake_case(&v.name), "_")).collect(),
            outputs,
        }
    }

    /// `#[serde(crate = "...")]` so generated derives need no `serde` in the caller's dependencies.
    fn serde_crate(&self) -> TokenStream {
        let path = format!("{}::serde", self.rt);
        quote!(#[serde(crate = #path)])
    }
}

/// The Rust type of a variable of type `ty`.
fn rust_type(ty: Type, rt: &TokenStream) -> TokenStream {
    match ty {
        Type::Bool => quote!(bool),
        Type::Int => quote!(i64),
        Type::Float => quote!(f64),
        Type::String => quote!(::std::string::String),
        Type::List => quote!(::std::vec::Vec<#rt::serde_json::Value>),
        Type::Map => quote!(#rt::serde_json::Map<::std::string::String, #rt::serde_json::Value>),
        Type::Null | Type::Any => quote!(#rt::serde_json::Value),
    }
}

/// Lints the generated module must not trip in crates that deny warnings.
fn allow_lints() -> TokenStream {
    quote! {
        #[allow(
            unused, non_camel_case_types, non_snake_case, non_upper_case_globals, missing_docs,
            missing_debug_implementations, unreachable_pub, unused_qualifications, unreachable_code,
            unreachable_patterns, clippy::all, clippy::pedantic, clippy::nursery
        )]
    }
}

/// The name of the module generated for the workflow `name` (`pr-review-loop` → `pr_review_loop`).
pub fn module_name(name: &str) -> String {
    names::ident(&snake_case(name)).to_string()
}

/// The module for `ir`: its typed machine and everything it uses.
pub fn generate(ir: &WorkflowIr, rust: &RustBindings) -> TokenStream {
    if ir.steps.is_empty() {
        let mut out = stub(&ir.name, &rust.runtime_path);
        out.extend(quote!(::core::compile_error!("a workflow needs at least one step");));
        return out;
    }
    let layout = Layout::new(ir, rust);
    let module = names::ident(&snake_case(&ir.name));
    let doc = format!("The workflow `{}`, compiled to a typed state machine.", ir.name);
    let types = types(&layout);
    let machine = machine_impl(&layout, rust);
    let helpers = (0..ir.steps.len()).map(|i| step_helpers(&layout, rust, i));
    let ir_json = serde_json::to_string(ir).expect("the IR serializes to JSON");
    let allow = allow_lints();
    let runtime_path = &rust.runtime_path;
    quote! {
        #[doc = #doc]
        #allow
        pub mod #module {
            use super::*;
            use #runtime_path as __rt;

            #types

            /// The state machine; see the runtime's `Machine` trait.
            #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::default::Default)]
            pub struct Machine;

            /// The lowered definition, parsed once by `Machine::ir()`.
            const IR_JSON: &str = #ir_json;

            #machine

            #(#helpers)*
        }
    }
}

/// `Step`, `STEPS`, `Variables` and `Outputs`.
fn types(layout: &Layout<'_>) -> TokenStream {
    let (ir, rt) = (layout.ir, &layout.rt);
    let serde_crate = layout.serde_crate();
    let variants = &layout.variants;
    let count = Literal::usize_unsuffixed(ir.steps.len());
    let ids = ir.steps.iter().map(|s| &s.id);
    let step_docs = ir.steps.iter().map(|s| match &s.description {
        Some(d) => format!("`{}` ({}): {d}", s.id, s.action),
        None => format!("`{}` ({})", s.id, s.action),
    });
    let var_fields = &layout.variables;
    let var_names = ir.variables.iter().map(|v| &v.name);
    let var_docs = ir.variables.iter().map(|v| format!("`{}` ({})", v.name, v.ty));
    let var_types = ir.variables.iter().map(|v| rust_type(v.ty, rt));
    let slots: Vec<(&Slot, &str)> = layout.outputs.iter().zip(&ir.steps).filter_map(|(slot, s)| Some((slot.as_ref()?, s.id.as_str()))).collect();
    let out_fields = slots.iter().map(|(slot, _)| &slot.field);
    let out_ids = slots.iter().map(|(_, id)| id);
    let out_docs = slots.iter().map(|(_, id)| format!("Outputs of `{id}` (default until it has run)."));
    let out_types = slots.iter().map(|(slot, _)| format_ident!("{}", slot.family.name));
    let derive = quote!(::core::clone::Clone, ::core::fmt::Debug, ::core::cmp::PartialEq, #rt::serde::Serialize, #rt::serde::Deserialize);
    quote! {
        /// The steps, in definition order; serialized as their ids.
        #[derive(::core::marker::Copy, ::core::cmp::Eq, ::core::hash::Hash, #derive)]
        #serde_crate
        pub enum Step {
            #( #[doc = #step_docs] #[serde(rename = #ids)] #variants, )*
        }

        /// Every step, in definition order.
        const STEPS: [Step; #count] = [#(Step::#variants),*];

        /// The workflow's variables.
        #[derive(::core::default::Default, #derive)]
        #serde_crate
        pub struct Variables {
            #( #[doc = #var_docs] #[serde(rename = #var_names)] pub #var_fields: #var_types, )*
        }

        /// The outputs of the steps that produce any, by step.
        #[derive(::core::default::Default, #derive)]
        #serde_crate
        #[serde(default)]
        pub struct Outputs {
            #( #[doc = #out_docs] #[serde(rename = #out_ids)] pub #out_fields: #rt::#out_types, )*
        }
    }
}

/// `impl Machine for Machine`.
fn machine_impl(layout: &Layout<'_>, rust: &RustBindings) -> TokenStream {
    let (ir, rt) = (layout.ir, &layout.rt);
    let (name, hash) = (&ir.name, &ir.hash);
    let count = Literal::usize_unsuffixed(ir.steps.len());
    let variants = &layout.variants;
    let first = &variants[0];
    let ids = ir.steps.iter().map(|s| &s.id);
    let var_fields = &layout.variables;
    let inits = (0..ir.variables.len()).map(|i| initial_value(layout, i));
    let enter = enter_body(layout);
    let next_arms = (0..ir.steps.len()).map(|i| next_arm(layout, i));
    let store = layout.outputs.iter().zip(variants).filter_map(|(slot, variant)| {
        let field = &slot.as_ref()?.field;
        Some(quote!(Step::#variant => outputs.#field = #rt::serde_json::from_value(value)?,))
    });
    let custom: Vec<TokenStream> = ir
        .steps
        .iter()
        .zip(variants)
        .zip(&layout.snake)
        .filter(|((s, _), _)| rust.custom_actions.contains_key(&s.id))
        .map(|((_, variant), snake)| {
            let function = format_ident!("custom_{}", snake);
            quote!(Step::#variant => ::core::option::Option::Some(#function),)
        })
        .collect();
    let custom = (!custom.is_empty()).then(|| {
        quote! {
            fn custom_action(step: Step) -> ::core::option::Option<#rt::CustomAction> {
                match step {
                    #(#custom)*
                    _ => ::core::option::Option::None,
                }
            }
        }
    });
    quote! {
        impl #rt::Machine for Machine {
            type Step = Step;
            type Variables = Variables;
            type Outputs = Outputs;

            const NAME: &'static str = #name;
            const HASH: &'static str = #hash;
            const STEP_COUNT: usize = #count;

            fn start() -> Step {
                Step::#first
            }

            fn initial_variables() -> Variables {
                Variables { #(#var_fields: #inits,)* }
            }

            fn step_index(step: Step) -> usize {
                step as usize
            }

            fn step_at(index: usize) -> ::core::option::Option<Step> {
                STEPS.get(index).copied()
            }

            fn step_id(step: Step) -> &'static str {
                match step {
                    #(Step::#variants => #ids,)*
                }
            }

            fn ir() -> &'static #rt::WorkflowIr {
                static IR: ::std::sync::OnceLock<#rt::WorkflowIr> = ::std::sync::OnceLock::new();
                IR.get_or_init(|| #rt::parse_ir(IR_JSON))
            }

            fn enter(state: &mut #rt::State<Self>, step: Step) -> #rt::Transition<Step> {
                #enter
            }

            fn next(state: &mut #rt::State<Self>, step: Step, outcome: #rt::Outcome) -> #rt::Transition<Step> {
                match step {
                    #(#next_arms)*
                }
            }

            fn set_output(
                outputs: &mut Outputs,
                step: Step,
                value: #rt::serde_json::Value,
            ) -> ::core::result::Result<(), #rt::serde_json::Error> {
                match step {
                    #(#store)*
                    _ => {}
                }
                ::core::result::Result::Ok(())
            }

            #custom
        }
    }
}

/// A variable's initial value: a Rust literal when the default has the
/// variable's type, else converted at run time exactly as the interpreter does.
fn initial_value(layout: &Layout<'_>, index: usize) -> TokenStream {
    let rt = &layout.rt;
    let var = &layout.ir.variables[index];
    let literal = match (var.ty, &var.default) {
        (_, None) => Some(quote!(::core::default::Default::default())),
        (Type::Int, Some(v)) => v.as_i64().map(|i| Literal::i64_suffixed(i).into_token_stream()),
        (Type::Float, Some(v)) => v.as_f64().filter(|x| x.is_finite()).map(|x| Literal::f64_suffixed(x).into_token_stream()),
        (Type::Bool, Some(serde_json::Value::Bool(b))) => Some(quote!(#b)),
        (Type::String, Some(serde_json::Value::String(s))) => Some(quote!(::std::string::String::from(#s))),
        (Type::List, Some(serde_json::Value::Array(items))) if items.is_empty() => Some(quote!(::std::vec::Vec::new())),
        (Type::Map, Some(serde_json::Value::Object(map))) if map.is_empty() => Some(quote!(#rt::serde_json::Map::new())),
        _ => None,
    };
    let index = Literal::usize_unsuffixed(index);
    literal.unwrap_or_else(|| quote!(#rt::initial_variable(<Machine as #rt::Machine>::ir(), #index)))
}

/// The functions behind step `i`: its condition, its `set:`, its custom action.
fn step_helpers(layout: &Layout<'_>, rust: &RustBindings, i: usize) -> TokenStream {
    let rt = &layout.rt;
    let step = &layout.ir.steps[i];
    let snake = &layout.snake[i];
    let index = Literal::usize_unsuffixed(i);
    let translator = Translator { layout, step: i };
    let result = |ok: TokenStream| quote!(::core::result::Result<#ok, #rt::EvalError>);

    let condition = match &step.flow {
        FlowIr::Branch { check, .. } | FlowIr::Loop { condition: check, .. } => Some(check),
        FlowIr::Goto { .. } | FlowIr::End { .. } => None,
    };
    let check = condition.map(|expr| {
        let function = format_ident!("check_{}", snake);
        let body = if let Some(closure) = rust.conditions.get(&step.id) {
            // The user's tokens keep their spans: a type error is reported at their closure.
            quote! {
                let condition: fn(&Variables, &Outputs) -> bool = #closure;
                ::core::result::Result::Ok(condition(&state.variables, &state.outputs))
            }
        } else if matches!(&expr.kind, crate::expr::ExprKind::Path(p) if p.len() == 1 && p[0] == RUST_CONDITION) {
            let message = format!("step `{}` has a Rust closure condition, but none was given to the code generator", step.id);
            quote!(::core::compile_error!(#message))
        } else {
            match translator.typed(expr) {
                Some(typed) if typed.ty == Ty::Bool => {
                    let tokens = typed.tokens;
                    quote!(::core::result::Result::Ok(#tokens))
                }
                _ => quote!(#rt::eval_condition::<Machine>(state, #index)),
            }
        };
        let ret = result(quote!(bool));
        let doc = if rust.conditions.contains_key(&step.id) {
            format!("The condition of `{}`: a Rust closure.", step.id)
        } else {
            format!("The condition of `{}`: `{expr}`.", step.id)
        };
        quote! {
            #[doc = #doc]
            fn #function(state: &#rt::State<Machine>) -> #ret {
                #body
            }
        }
    });

    let set = (!step.set.is_empty()).then(|| {
        let function = format_ident!("set_{}", snake);
        let values: Vec<Ident> = (0..step.set.len()).map(|k| format_ident!("value_{}", k)).collect();
        let fields = step.set.iter().map(|(var, _)| &layout.variables[*var]);
        let types = step.set.iter().map(|(var, _)| rust_type(layout.ir.variables[*var].ty, rt));
        let exprs = step.set.iter().enumerate().map(|(k, (var, expr))| {
            let typed = translator.typed(expr).and_then(|t| {
                let x = t.tokens;
                match (Ty::of(layout.ir.variables[*var].ty)?, t.ty) {
                    (Ty::Str, Ty::Str) => Some(quote!(::std::string::String::from(#x))),
                    (Ty::Float, Ty::Int) => Some(quote!((#x as f64))),
                    (want, got) if want == got => Some(x),
                    _ => None,
                }
            });
            let ty = rust_type(layout.ir.variables[*var].ty, rt);
            let k = Literal::usize_unsuffixed(k);
            typed.unwrap_or_else(|| quote!(#rt::eval_set::<Machine, #ty>(state, #index, #k)?))
        });
        let ret = result(quote!(()));
        let doc = format!("The `set:` of `{}`: every value is computed before any is assigned.", step.id);
        quote! {
            #[doc = #doc]
            fn #function(state: &mut #rt::State<Machine>) -> #ret {
                #(let #values: #types = #exprs;)*
                #(state.variables.#fields = #values;)*
                ::core::result::Result::Ok(())
            }
        }
    });

    let custom = rust.custom_actions.get(&step.id).map(|path| {
        let function = format_ident!("custom_{}", snake);
        quote! {
            fn #function(input: #rt::ActionInput) -> #rt::ActionFuture {
                ::std::boxed::Box::pin(#path(input))
            }
        }
    });
    quote!(#check #set #custom)
}

/// A stand-in module for a workflow that did not compile, emitted next to the
/// errors so code naming `name::Machine` adds no errors of its own.
pub fn generate_stub(name: &str) -> TokenStream {
    generate_stub_in(name, &RustBindings::default().runtime_path)
}

/// [`generate_stub`] for a runtime reached through `runtime_path`.
pub fn generate_stub_in(name: &str, runtime_path: &TokenStream) -> TokenStream {
    stub(name, runtime_path)
}

fn stub(name: &str, runtime_path: &TokenStream) -> TokenStream {
    let module = names::ident(&snake_case(name));
    let rt = quote!(__rt);
    let serde_crate = "__rt::serde";
    let derive = quote!(::core::clone::Clone, ::core::fmt::Debug, ::core::cmp::PartialEq, #rt::serde::Serialize, #rt::serde::Deserialize);
    let allow = allow_lints();
    let failed = quote!(#rt::Transition::Fail(#rt::FailReason::StepFailed { step: "" }));
    let message = format!("workflow `{name}` did not compile");
    quote! {
        #allow
        pub mod #module {
            use #runtime_path as __rt;

            #[derive(::core::marker::Copy, ::core::cmp::Eq, ::core::hash::Hash, #derive)]
            #[serde(crate = #serde_crate)]
            pub enum Step { __Invalid }

            #[derive(::core::default::Default, #derive)]
            #[serde(crate = #serde_crate)]
            pub struct Variables {}

            #[derive(::core::default::Default, #derive)]
            #[serde(crate = #serde_crate)]
            pub struct Outputs {}

            #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::default::Default)]
            pub struct Machine;

            impl #rt::Machine for Machine {
                type Step = Step;
                type Variables = Variables;
                type Outputs = Outputs;
                const NAME: &'static str = #name;
                const HASH: &'static str = "";
                const STEP_COUNT: usize = 0;
                fn start() -> Step { Step::__Invalid }
                fn initial_variables() -> Variables { Variables {} }
                fn step_index(_: Step) -> usize { 0 }
                fn step_at(_: usize) -> ::core::option::Option<Step> { ::core::option::Option::None }
                fn step_id(_: Step) -> &'static str { "" }
                fn ir() -> &'static #rt::WorkflowIr { ::core::panic!(#message) }
                fn enter(_: &mut #rt::State<Self>, _: Step) -> #rt::Transition<Step> { #failed }
                fn next(_: &mut #rt::State<Self>, _: Step, _: #rt::Outcome) -> #rt::Transition<Step> { #failed }
                fn set_output(
                    _: &mut Outputs,
                    _: Step,
                    _: #rt::serde_json::Value,
                ) -> ::core::result::Result<(), #rt::serde_json::Error> {
                    ::core::result::Result::Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_typed_built_in_output_is_a_typed_field_of_its_struct() {
        for action in catalog::ACTIONS {
            let Some(family) = family(action.name) else {
                assert!(action.outputs.is_empty(), "`{}` has outputs but no struct", action.name);
                continue;
            };
            assert_ne!(family.name, CUSTOM.name, "`{}` is a built-in without its own output struct", action.name);
            for &(field, ty) in action.outputs {
                if Ty::of(ty).is_some() {
                    assert!(family.fields.contains(&(field, ty)), "`{}.{field}` ({ty}) is not typed in {}", action.name, family.name);
                }
            }
        }
        assert!(family("shell").is_some_and(|f| f.name == "ShellOutput"));
        assert!(family("switch-model").is_none());
        assert!(family("deploy-to-prod").is_some_and(|f| f.name == "CustomOutput"));
    }
}
