//! Conditions and `set:` values as typed Rust: `!state.outputs.s7.approved`,
//! `state.variables.attempts < 3i64`. An expression is translated only when
//! every value in it has a concrete type (bool, int, float, string); anything
//! else (`any`, lists, maps, `null`, keyword predicates) is evaluated from the
//! IR at run time instead, which is correct but slower.
//!
//! The translation keeps [`eval`](crate::expr::eval)'s semantics exactly:
//! checked integer arithmetic, division by zero and non-finite floats are
//! errors (through the runtime's helpers, with eval's messages), ints and
//! floats compare by value, strings compare by bytes, `&&` / `||` short-circuit.

use super::Layout;
use crate::expr::{BinaryOp, Expr, ExprKind, Function, Literal, Type, UnaryOp};
use proc_macro2::{Literal as Lit, TokenStream};
use quote::quote;
use std::ops::Range;

/// The Rust type of a translated expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    /// `bool`.
    Bool,
    /// `i64`.
    Int,
    /// `f64`.
    Float,
    /// `&str`.
    Str,
}

impl Ty {
    /// The Rust type a variable of IR type `ty` can be written by typed code, if any.
    pub(crate) fn of(ty: Type) -> Option<Ty> {
        match ty {
            Type::Bool => Some(Ty::Bool),
            Type::Int => Some(Ty::Int),
            Type::Float => Some(Ty::Float),
            Type::String => Some(Ty::Str),
            Type::List | Type::Map | Type::Null | Type::Any => None,
        }
    }

    fn is_number(self) -> bool {
        matches!(self, Ty::Int | Ty::Float)
    }
}

/// A translated expression: Rust tokens reading `state` (a `&State<Machine>`)
/// inside a function returning `Result<_, EvalError>`.
pub(crate) struct Typed {
    /// The type its tokens evaluate to.
    pub(crate) ty: Ty,
    /// The tokens.
    pub(crate) tokens: TokenStream,
}

/// Translates expressions of the step at `step`.
pub(crate) struct Translator<'a> {
    /// Names and types of the generated module.
    pub(crate) layout: &'a Layout<'a>,
    /// The step whose expressions these are (`iteration` is its counter).
    pub(crate) step: usize,
}

/// A number literal; a negative one in parentheses, so `-1i64` stays one operand.
fn number(lit: Lit, negative: bool) -> TokenStream {
    if negative {
        quote!((#lit))
    } else {
        quote!(#lit)
    }
}

fn span_tokens(span: &Range<usize>) -> TokenStream {
    let (start, end) = (Lit::usize_unsuffixed(span.start), Lit::usize_unsuffixed(span.end));
    quote!(#start..#end)
}

impl Translator<'_> {
    /// `e` as typed Rust, or `None` when some value in it is not concretely typed.
    pub(crate) fn typed(&self, e: &Expr) -> Option<Typed> {
        let rt = &self.layout.rt;
        let span = span_tokens(&e.span);
        let typed = |ty, tokens| Some(Typed { ty, tokens });
        match &e.kind {
            ExprKind::Literal(lit) => match lit {
                Literal::Bool(b) => typed(Ty::Bool, quote!(#b)),
                Literal::Int(i) => typed(Ty::Int, number(Lit::i64_suffixed(*i), *i < 0)),
                Literal::Float(x) if x.is_finite() => typed(Ty::Float, number(Lit::f64_suffixed(*x), *x < 0.0)),
                Literal::Str(s) => typed(Ty::Str, quote!(#s)),
                Literal::Float(_) | Literal::Null => None,
            },
            ExprKind::Path(path) => self.path(path),
            ExprKind::Predicate(_) => None,
            ExprKind::Unary(op, operand) => {
                let t = self.typed(operand)?;
                let x = &t.tokens;
                match (op, t.ty) {
                    (UnaryOp::Not, Ty::Bool) => typed(Ty::Bool, quote!((!#x))),
                    (UnaryOp::Neg, Ty::Int) => typed(Ty::Int, quote!(#rt::neg_int(#x, #span)?)),
                    (UnaryOp::Neg, Ty::Float) => typed(Ty::Float, quote!((-#x))),
                    _ => None,
                }
            }
            ExprKind::Binary(op, l, r) => self.binary(*op, self.typed(l)?, self.typed(r)?, span),
            ExprKind::Call(func, args) => self.call(*func, args),
        }
    }

    /// A resolved path: `var.NAME`, `step.ID.FIELD`, `iteration` or `run.FIELD`.
    fn path(&self, path: &[String]) -> Option<Typed> {
        let layout = self.layout;
        let (ty, tokens) = match path {
            [kind, name] if kind == "var" => {
                let index = layout.ir.variables.iter().position(|v| &v.name == name)?;
                let ty = Ty::of(layout.ir.variables[index].ty)?;
                let field = &layout.variables[index];
                (ty, quote!(state.variables.#field))
            }
            [kind, id, field] if kind == "step" => {
                let index = layout.ir.steps.iter().position(|s| &s.id == id)?;
                let declared = layout.ir.steps[index].outputs.iter().find(|(name, _)| name == field)?.1;
                let slot = layout.outputs[index].as_ref()?;
                // Typed only when the runtime's struct has this field with the declared type.
                slot.family.fields.iter().find(|(name, ty)| name == field && *ty == declared)?;
                let ty = Ty::of(declared)?;
                let (slot, field) = (&slot.field, super::names::ident(field));
                (ty, quote!(state.outputs.#slot.#field))
            }
            [name] if name == "iteration" => {
                let index = Lit::usize_unsuffixed(self.step);
                (Ty::Int, quote!(::core::primitive::i64::from(state.counters[#index])))
            }
            [kind, field] if kind == "run" && crate::resolve::RUN_FIELDS.contains(&field.as_str()) => {
                let field = super::names::ident(field);
                (Ty::Str, quote!(state.run.#field))
            }
            _ => return None,
        };
        let tokens = if ty == Ty::Str { quote!(#tokens.as_str()) } else { tokens };
        Some(Typed { ty, tokens })
    }

    fn binary(&self, op: BinaryOp, l: Typed, r: Typed, span: TokenStream) -> Option<Typed> {
        let rt = &self.layout.rt;
        let both = |ty: Ty| l.ty == ty && r.ty == ty;
        let numbers = l.ty.is_number() && r.ty.is_number();
        // Mixed int and float operands are compared and combined as floats, as `eval` does.
        let float = |t: &Typed| match t.ty {
            Ty::Int => {
                let x = &t.tokens;
                quote!((#x as f64))
            }
            _ => t.tokens.clone(),
        };
        let (a, b) = (&l.tokens, &r.tokens);
        let (fa, fb) = (float(&l), float(&r));
        let bool_of = |tokens| Some(Typed { ty: Ty::Bool, tokens });
        let compare = |symbol: TokenStream| match (l.ty, r.ty) {
            (Ty::Int, Ty::Int) | (Ty::Str, Ty::Str) => bool_of(quote!((#a #symbol #b))),
            _ if numbers => bool_of(quote!((#fa #symbol #fb))),
            _ => None,
        };
        match op {
            BinaryOp::And if both(Ty::Bool) => bool_of(quote!((#a && #b))),
            BinaryOp::Or if both(Ty::Bool) => bool_of(quote!((#a || #b))),
            BinaryOp::Eq if both(Ty::Bool) => bool_of(quote!((#a == #b))),
            BinaryOp::Ne if both(Ty::Bool) => bool_of(quote!((#a != #b))),
            BinaryOp::Eq => compare(quote!(==)),
            BinaryOp::Ne => compare(quote!(!=)),
            BinaryOp::Lt => compare(quote!(<)),
            BinaryOp::Le => compare(quote!(<=)),
            BinaryOp::Gt => compare(quote!(>)),
            BinaryOp::Ge => compare(quote!(>=)),
            BinaryOp::Add if both(Ty::Str) => Some(Typed { ty: Ty::Str, tokens: quote!(#rt::concat(#a, #b).as_str()) }),
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem if both(Ty::Int) => {
                let helper = match op {
                    BinaryOp::Add => quote!(add_int),
                    BinaryOp::Sub => quote!(sub_int),
                    BinaryOp::Mul => quote!(mul_int),
                    BinaryOp::Div => quote!(div_int),
                    _ => quote!(rem_int),
                };
                Some(Typed { ty: Ty::Int, tokens: quote!(#rt::#helper(#a, #b, #span)?) })
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem if numbers => {
                let tokens = match op {
                    BinaryOp::Add => quote!(#rt::finite(#fa + #fb, #span)?),
                    BinaryOp::Sub => quote!(#rt::finite(#fa - #fb, #span)?),
                    BinaryOp::Mul => quote!(#rt::finite(#fa * #fb, #span)?),
                    BinaryOp::Div => quote!(#rt::div_float(#fa, #fb, #span)?),
                    _ => quote!(#rt::rem_float(#fa, #fb, #span)?),
                };
                Some(Typed { ty: Ty::Float, tokens })
            }
            _ => None,
        }
    }

    fn call(&self, func: Function, args: &[Expr]) -> Option<Typed> {
        let rt = &self.layout.rt;
        let typed: Vec<Typed> = args.iter().map(|a| self.typed(a)).collect::<Option<_>>()?;
        let strings = typed.len() == func.arity() && typed.iter().all(|t| t.ty == Ty::Str);
        if !strings {
            return None;
        }
        let tokens = match func {
            Function::Contains => {
                let (text, needle) = (&typed[0].tokens, &typed[1].tokens);
                quote!(#text.contains(#needle))
            }
            Function::Matches => {
                let (text, pattern) = (&typed[0].tokens, &typed[1].tokens);
                // `eval` reports a bad pattern at the pattern.
                let span = span_tokens(&args[1].span);
                match &args[1].kind {
                    // A literal pattern is compiled once, on first use, for this call site only.
                    ExprKind::Literal(Literal::Str(_)) => quote!({
                        static PATTERN: ::std::sync::OnceLock<#rt::regex::Regex> = ::std::sync::OnceLock::new();
                        #rt::is_match_cached(&PATTERN, #pattern, #text, #span)?
                    }),
                    _ => quote!(#rt::is_match(#text, #pattern, #span)?),
                }
            }
            Function::FileExists => {
                let path = &typed[0].tokens;
                quote!(::std::path::Path::new(#path).exists())
            }
        };
        Some(Typed { ty: Ty::Bool, tokens })
    }
}
