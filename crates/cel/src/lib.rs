//! A bounded evaluator of Google's Common Expression Language (CEL), for caveats: the conditions SpiceDB
//! writes as `caveat name(params) { expression }` and OpenFGA as `condition`.
//!
//! - [`Program::compile`] parses an expression (cel-spec `langdef.md`), expands the standard macros and
//!   refuses names that are neither declared nor known functions. Nesting, size and source length are
//!   bounded ([`parse::MAX_DEPTH`], [`parse::MAX_NODES`], [`parse::MAX_SOURCE_CHARS`]).
//! - [`Program::eval`] runs it against [`Variables`] within a cost limit. A variable that is declared
//!   but not supplied is *unknown*: the answer is then [`Outcome::Unknown`] naming what it still
//!   depends on, unless the rest of the expression decides it anyway (`false && x`). That is what a
//!   three-valued caveat answer (`conditional`, with the missing context named) is made of.
//! - Types: `null`, `bool`, `int`, `uint`, `double`, `string`, `bytes`, lists, maps, `timestamp`,
//!   `duration`, types as values, and SpiceDB's `ipaddress` (`ipaddress("10.0.0.1").in_cidr("10.0.0.0/8")`).
//!   Numbers compare and are equal across `int`, `uint` and `double` by value (cel-spec's heterogeneous
//!   equality); arithmetic never mixes them silently.
//! - Checked against cel-spec's conformance suite (tests/blackbox/cel_conformance.test.mjs runs it
//!   through `examples/cel_probe.rs`); the sections and cases left out are listed there with why.
//!
//! Not implemented: protocol buffer messages, regular expressions (`matches`), the optional and string
//! extensions, named time zones (offsets such as `+05:30` and `UTC` only), and a static type checker
//! (type errors surface when evaluated, as `no_matching_overload`).
//!
//! No I/O, no clock: the time a caveat compares against comes in as a variable. Calendar arithmetic is
//! `tessera-proto`'s (its RFC 3339 reader's day counts).

mod convert;
mod error;
mod eval;
mod functions;
mod lex;
pub mod parse;
mod time;
mod value;

use std::collections::{BTreeMap, BTreeSet, HashMap};

pub use error::{CompileError, EvalError};
pub use eval::{Binding, Variables};
pub use parse::Expr;
pub use time::{Duration, Timestamp};
pub use value::{equal, Key, Map, Value};

/// The default cost limit of an evaluation: enough for any reasonable caveat over a few thousand list
/// elements. Each unit is one step of the walk or about 64 elements of data handled at once.
pub const DEFAULT_COST_LIMIT: u64 = 100_000;

/// A compiled expression.
#[derive(Clone, Debug)]
pub struct Program {
    expr: Expr,
    free: BTreeSet<String>,
}

/// What an evaluation gives.
#[derive(Clone, Debug)]
pub enum Outcome {
    Value(Value),
    /// The answer depends on these variables, which were not supplied.
    Unknown(BTreeSet<String>),
}

impl Program {
    /// Compile `source`. With `declared`, every free name must be one of them (or a type name such as
    /// `int`); without, names are resolved when evaluated.
    ///
    /// # Errors
    /// A syntax error, an unknown function, an undeclared name, or an expression beyond the bounds.
    pub fn compile(source: &str, declared: Option<&[&str]>) -> Result<Self, CompileError> {
        let expr = parse::parse(source)?;
        let mut free = BTreeSet::new();
        check(&expr, &mut Vec::new(), &mut free)?;
        if let Some(declared) = declared {
            if let Some(name) = free
                .iter()
                .find(|n| !declared.contains(&n.as_str()) && !is_type_name(n))
            {
                return Err(CompileError::new(
                    1,
                    1,
                    format!("undeclared reference to `{name}`"),
                ));
            }
        }
        Ok(Self { expr, free })
    }

    /// Parse `source` without checking its names or functions: an unknown function or name is an
    /// evaluation error (which `||` and `&&` may absorb), as in cel-spec's unchecked evaluation.
    ///
    /// # Errors
    /// A syntax error or an expression beyond the bounds.
    pub fn parse_unchecked(source: &str) -> Result<Self, CompileError> {
        let expr = parse::parse(source)?;
        let mut free = BTreeSet::new();
        // Collect the free names; unknown functions are let through.
        let _ = check(&expr, &mut Vec::new(), &mut free);
        Ok(Self { expr, free })
    }

    /// The names the expression reads (besides its own comprehension variables).
    #[must_use]
    pub fn free_names(&self) -> &BTreeSet<String> {
        &self.free
    }

    #[must_use]
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Evaluate against `vars` within `cost_limit` units.
    ///
    /// # Errors
    /// An evaluation error the expression does not absorb, or [`EvalError::CostLimit`].
    pub fn eval(&self, vars: &dyn Variables, cost_limit: u64) -> Result<Outcome, EvalError> {
        let mut budget = cost_limit;
        self.eval_metered(vars, &mut budget)
    }

    /// [`eval`](Self::eval) spending from `budget` (what is left stays there), so that several
    /// evaluations (a check's caveats) can share one limit.
    ///
    /// # Errors
    /// As [`eval`](Self::eval), with [`EvalError::CostLimit`] naming what the budget was.
    pub fn eval_metered(
        &self,
        vars: &dyn Variables,
        budget: &mut u64,
    ) -> Result<Outcome, EvalError> {
        let limit = *budget;
        let mut ev = eval::Evaluator::new(vars, limit);
        let res = ev.eval(&self.expr);
        *budget = ev.remaining();
        if ev.exhausted() {
            return Err(EvalError::CostLimit(limit));
        }
        match res {
            eval::Res::Val(v) => Ok(Outcome::Value(v)),
            eval::Res::Unknown(names) => Ok(Outcome::Unknown(names)),
            eval::Res::Err(e) => Err(e),
        }
    }
}

fn is_type_name(n: &str) -> bool {
    matches!(
        n,
        "bool"
            | "int"
            | "uint"
            | "double"
            | "string"
            | "bytes"
            | "list"
            | "map"
            | "null_type"
            | "type"
    )
}

/// Walk `e`: every called function must be known; collect free names (`bound` are the comprehension
/// variables in scope).
fn check(
    e: &Expr,
    bound: &mut Vec<String>,
    free: &mut BTreeSet<String>,
) -> Result<(), CompileError> {
    match e {
        Expr::Literal(_) => Ok(()),
        Expr::Ident(n) => {
            if !bound.contains(n) {
                free.insert(n.clone());
            }
            Ok(())
        }
        Expr::Select { operand, .. } => check(operand, bound, free),
        Expr::List(items) => items.iter().try_for_each(|i| check(i, bound, free)),
        Expr::Map(entries) => entries.iter().try_for_each(|(k, v)| {
            check(k, bound, free)?;
            check(v, bound, free)
        }),
        Expr::Call {
            target,
            function,
            args,
        } => {
            if !functions::KNOWN.contains(&function.as_str()) {
                return Err(CompileError::new(
                    1,
                    1,
                    if function == "matches" {
                        "regular expressions (`matches`) are not supported".to_owned()
                    } else {
                        format!("unknown function `{function}`")
                    },
                ));
            }
            if let Some(t) = target {
                check(t, bound, free)?;
            }
            args.iter().try_for_each(|a| check(a, bound, free))
        }
        Expr::Comprehension {
            range,
            var,
            predicate,
            transform,
            ..
        } => {
            check(range, bound, free)?;
            bound.push(var.clone());
            let inner = predicate
                .iter()
                .chain(transform.iter())
                .try_for_each(|x| check(x, bound, free));
            bound.pop();
            inner
        }
    }
}

impl Variables for BTreeMap<String, Value> {
    fn get(&self, name: &str) -> Binding {
        BTreeMap::get(self, name).map_or(Binding::Undeclared, |v| Binding::Value(v.clone()))
    }
}

impl Variables for HashMap<String, Value> {
    fn get(&self, name: &str) -> Binding {
        HashMap::get(self, name).map_or(Binding::Undeclared, |v| Binding::Value(v.clone()))
    }
}

/// Supplied values, and the declared names that were not supplied (unknown).
#[derive(Clone, Debug, Default)]
pub struct Partial<'a> {
    pub values: BTreeMap<String, Value>,
    pub declared: &'a [&'a str],
}

impl Variables for Partial<'_> {
    fn get(&self, name: &str) -> Binding {
        match self.values.get(name) {
            Some(v) => Binding::Value(v.clone()),
            None if self.declared.contains(&name) => Binding::Unknown,
            None => Binding::Undeclared,
        }
    }
}
