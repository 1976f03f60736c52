//! The generated module for a small hand-built IR: it parses as Rust and
//! holds the items the runtime and user code name. (Compiling and running
//! generated code is covered by the facade crate's tests.)

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use serde_json::json;
use workflow_core::codegen::{generate, generate_stub, RustBindings};
use workflow_core::expr::{parse, Expr, Type};
use workflow_core::ir::{FlowIr, StepIr, Target, VariableIr, WorkflowIr};

/// Paths in canonical form (`var.x`, `step.id.field`) parse as the lowering pass resolves them.
fn expr(src: &str) -> Expr {
    parse(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn step(id: &str, action: &str, outputs: &[(&str, Type)], flow: FlowIr) -> StepIr {
    StepIr { outputs: outputs.iter().map(|(n, t)| (n.to_string(), *t)).collect(), ..StepIr::new(id, action, flow) }
}

fn goto(next: Target) -> FlowIr {
    FlowIr::Goto { next, on_error: Target::Fail }
}

/// review → (approved? merge : fix) ; fix (at most 3 visits) → again (loop to review) → merge → notify (custom).
fn pr_review_loop() -> WorkflowIr {
    let review_outputs = [("approved", Type::Bool), ("comments", Type::String)];
    let mut fix = step("fix", "make-changes", &[("summary", Type::String), ("files_changed", Type::List)], goto(Target::Step(2)));
    fix.max_visits = Some(3);
    fix.on_exhausted = Target::Step(4);
    fix.set = vec![(1, expr("var.attempts + 1")), (3, expr("step.fix.files_changed"))];
    let steps = vec![
        step(
            "review",
            "review-pr",
            &review_outputs,
            FlowIr::Branch { check: expr("step.review.approved"), on_true: Target::Step(3), on_false: Target::Step(1), on_error: Target::Fail },
        ),
        fix,
        step(
            "again",
            "loop",
            &[],
            FlowIr::Loop {
                condition: expr("iteration < 5 && var.title != '' && matches(var.title, '^fix')"),
                to: 0,
                max: 5,
                next: Target::Step(3),
                on_exhausted: Target::Step(4),
                on_error: Target::Fail,
            },
        ),
        step(
            "human-review",
            "approval-gate",
            &[("approved", Type::Bool), ("comment", Type::String), ("approver", Type::String)],
            FlowIr::Branch {
                check: expr("step.human-review.approved && var.extra.ok"),
                on_true: Target::Step(4),
                on_false: Target::Fail,
                on_error: Target::Fail,
            },
        ),
        step("notify", "notify-slack", &[("ts", Type::Any)], FlowIr::End { failed: false }),
    ];
    WorkflowIr {
        hash: "abc123".to_string(),
        variables: vec![
            VariableIr { name: "title".to_string(), ty: Type::String, default: Some(json!("fix: retries")) },
            VariableIr { name: "attempts".to_string(), ty: Type::Int, default: Some(json!(0)) },
            VariableIr { name: "extra".to_string(), ty: Type::Map, default: None },
            VariableIr { name: "changed".to_string(), ty: Type::List, default: Some(json!(["a"])) },
            VariableIr { name: "type".to_string(), ty: Type::Float, default: Some(json!(1)) },
        ],
        ..WorkflowIr::new("pr-review-loop", steps)
    }
}

fn parse_file(tokens: TokenStream) -> syn::File {
    syn::parse2(tokens.clone()).unwrap_or_else(|e| panic!("generated code does not parse: {e}\n{tokens}"))
}

/// The items of the one module the file holds, checking its name.
fn module_items(file: &syn::File, name: &str) -> Vec<syn::Item> {
    let modules: Vec<&syn::ItemMod> = file.items.iter().filter_map(|i| if let syn::Item::Mod(m) = i { Some(m) } else { None }).collect();
    assert_eq!(modules.len(), 1, "one module per workflow");
    assert_eq!(modules[0].ident, name);
    modules[0].content.as_ref().expect("an inline module").1.clone()
}

fn find<'a, T>(items: &'a [syn::Item], pick: impl Fn(&'a syn::Item) -> Option<&'a T>) -> &'a T {
    items.iter().find_map(pick).expect("item present")
}

fn text(t: &impl ToTokens) -> String {
    t.to_token_stream().to_string()
}

fn function<'a>(items: &'a [syn::Item], name: &str) -> &'a syn::ItemFn {
    find(items, |i| match i {
        syn::Item::Fn(f) if f.sig.ident == name => Some(f),
        _ => None,
    })
}

fn fields(items: &[syn::Item], name: &str) -> Vec<(String, String)> {
    let s = find(items, |i| match i {
        syn::Item::Struct(s) if s.ident == name => Some(s),
        _ => None,
    });
    s.fields.iter().map(|f| (text(f.ident.as_ref().unwrap()), text(&f.ty))).collect()
}

#[test]
fn the_module_holds_a_step_enum_typed_structs_and_the_machine_impl() {
    let file = parse_file(generate(&pr_review_loop(), &RustBindings::default()));
    let items = module_items(&file, "pr_review_loop");

    let steps = find(&items, |i| match i {
        syn::Item::Enum(e) if e.ident == "Step" => Some(e),
        _ => None,
    });
    let variants: Vec<String> = steps.variants.iter().map(|v| v.ident.to_string()).collect();
    assert_eq!(variants, ["Review", "Fix", "Again", "HumanReview", "Notify"]);
    let renamed = text(&steps.variants[3]);
    assert!(renamed.contains("rename = \"human-review\""), "{renamed}");

    assert_eq!(
        fields(&items, "Variables"),
        [
            ("title".into(), ":: std :: string :: String".into()),
            ("attempts".into(), "i64".into()),
            ("extra".into(), "__rt :: serde_json :: Map < :: std :: string :: String , __rt :: serde_json :: Value >".into()),
            ("changed".into(), ":: std :: vec :: Vec < __rt :: serde_json :: Value >".into()),
            ("r#type".into(), "f64".into()),
        ]
    );
    assert_eq!(
        fields(&items, "Outputs"),
        [
            ("review".into(), "__rt :: ReviewOutput".into()),
            ("fix".into(), "__rt :: MakeChangesOutput".into()),
            ("human_review".into(), "__rt :: GateOutput".into()),
            ("notify".into(), "__rt :: CustomOutput".into()),
        ],
        "no slot for the loop step, the custom action's outputs as JSON"
    );

    assert!(items.iter().any(|i| matches!(i, syn::Item::Use(u) if text(u) == "use :: workflow :: __private as __rt ;")), "the default runtime path");

    let machine = find(&items, |i| match i {
        syn::Item::Impl(m) if m.trait_.is_some() => Some(m),
        _ => None,
    });
    assert_eq!(text(&machine.trait_.as_ref().unwrap().1), "__rt :: Machine");
    let members: Vec<String> = machine
        .items
        .iter()
        .map(|i| match i {
            syn::ImplItem::Type(t) => t.ident.to_string(),
            syn::ImplItem::Const(c) => c.ident.to_string(),
            syn::ImplItem::Fn(f) => f.sig.ident.to_string(),
            other => panic!("unexpected {}", text(other)),
        })
        .collect();
    assert_eq!(
        members,
        [
            "Step",
            "Variables",
            "Outputs",
            "NAME",
            "HASH",
            "STEP_COUNT",
            "start",
            "initial_variables",
            "step_index",
            "step_at",
            "step_id",
            "ir",
            "enter",
            "next",
            "set_output"
        ]
    );
    let all = text(machine);
    assert!(all.contains("const NAME : & 'static str = \"pr-review-loop\""), "{all}");
    assert!(all.contains("const HASH : & 'static str = \"abc123\""));
    assert!(all.contains("title : :: std :: string :: String :: from (\"fix: retries\")"), "defaults are Rust literals");
    assert!(all.contains("r#type : 1f64"), "an int default of a float variable is a float literal");
    assert!(all.contains("changed : __rt :: initial_variable (< Machine as __rt :: Machine > :: ir () , 3)"), "other defaults convert at run time: {all}");
}

#[test]
fn typed_conditions_read_fields_and_untyped_ones_evaluate_the_ir() {
    let file = parse_file(generate(&pr_review_loop(), &RustBindings::default()));
    let items = module_items(&file, "pr_review_loop");

    let review = text(&function(&items, "check_review").block);
    assert!(review.contains("Ok (state . outputs . review . approved)"), "{review}");

    let again = text(&function(&items, "check_again").block);
    assert!(again.contains(":: core :: primitive :: i64 :: from (state . counters [2])"), "iteration is the loop's counter: {again}");
    assert!(again.contains("state . variables . title . as_str () != \"\""), "{again}");
    assert!(again.contains("static PATTERN : :: std :: sync :: OnceLock < __rt :: regex :: Regex >"), "a literal regex is cached per call site: {again}");

    // `var.extra.ok` reads into a map: evaluated from the IR at run time.
    let human = text(&function(&items, "check_human_review").block);
    assert_eq!(human, "{ __rt :: eval_condition :: < Machine > (state , 3) }");

    let set = text(&function(&items, "set_fix").block);
    assert!(set.contains("let value_0 : i64 = __rt :: add_int (state . variables . attempts , 1i64 , 0 .. 16) ?"), "{set}");
    assert!(set.contains("__rt :: eval_set :: < Machine , :: std :: vec :: Vec < __rt :: serde_json :: Value > > (state , 1 , 1) ?"), "{set}");
    let assign = set.find("state . variables . attempts = value_0").expect("assigned");
    assert!(set.find("let value_1").unwrap() < assign, "every value is computed before any is assigned");
}

#[test]
fn transitions_count_visits_and_loop_jumps() {
    let file = parse_file(generate(&pr_review_loop(), &RustBindings::default()));
    let items = module_items(&file, "pr_review_loop");
    let all = items.iter().map(text).collect::<String>();
    // `fix` may be entered 3 times, then its on-exhausted (`notify`) instead.
    assert!(all.contains("Step :: Fix => { if state . counters [1] >= 3 { step = Step :: Notify ; continue ; } state . counters [1] += 1 ; }"), "{all}");
    assert!(all.contains(":: core :: result :: Result :: Ok (true) if state . counters [2] < 5 => { state . counters [2] += 1 ;"), "{all}");
    assert!(all.contains("__rt :: FailReason :: StepFailed { step : \"review\" }"));
}

#[test]
fn rust_bindings_replace_conditions_and_bind_custom_actions() {
    let mut rust = RustBindings { runtime_path: quote!(::workflow_runtime::__private), ..RustBindings::default() };
    rust.conditions.insert("review".to_string(), quote!(|vars, steps| steps.review.approved || vars.attempts > 3));
    rust.custom_actions.insert("notify".to_string(), quote!(crate::actions::notify));
    let file = parse_file(generate(&pr_review_loop(), &rust));
    let items = module_items(&file, "pr_review_loop");
    assert!(items.iter().any(|i| matches!(i, syn::Item::Use(u) if text(u) == "use :: workflow_runtime :: __private as __rt ;")));
    let review = text(&function(&items, "check_review").block);
    assert!(
        review.contains("let condition : fn (& Variables , & Outputs) -> bool = | vars , steps | steps . review . approved || vars . attempts > 3 ;"),
        "{review}"
    );
    let custom = text(&function(&items, "custom_notify").block);
    assert_eq!(custom, "{ :: std :: boxed :: Box :: pin (crate :: actions :: notify (input)) }");
    let all = items.iter().map(text).collect::<String>();
    assert!(all.contains("fn custom_action (step : Step) -> :: core :: option :: Option < __rt :: CustomAction >"));
}

#[test]
fn a_stub_names_the_same_items_and_implements_the_trait() {
    let file = parse_file(generate_stub("pr-review-loop"));
    let items = module_items(&file, "pr_review_loop");
    for name in ["Variables", "Outputs", "Machine"] {
        assert!(items.iter().any(|i| matches!(i, syn::Item::Struct(s) if s.ident == name)), "{name}");
    }
    assert!(items.iter().any(|i| matches!(i, syn::Item::Enum(e) if e.ident == "Step")));
    assert!(items.iter().any(|i| matches!(i, syn::Item::Impl(m) if m.trait_.as_ref().is_some_and(|t| text(&t.1) == "__rt :: Machine"))));
}

#[test]
fn a_workflow_without_steps_is_a_stub_and_an_error() {
    let mut ir = pr_review_loop();
    ir.steps.clear();
    let out = generate(&ir, &RustBindings::default()).to_string();
    assert!(out.contains("compile_error"), "{out}");
}
