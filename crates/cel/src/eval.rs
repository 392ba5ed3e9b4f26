//! Evaluation: every node costs one unit of the evaluation's budget (and work proportional to the data
//! for comprehensions and string operations), so a hostile expression or input stops at its limit.
//!
//! Results are three-valued as in cel-spec's partial evaluation: a value, an error, or *unknown* (the
//! names of the variables the answer still depends on). `&&` and `||` are commutative over errors and
//! unknowns: `false && x` is `false` whatever `x` is, and unknowns win over errors.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::EvalError;
use crate::parse::{Expr, Macro};
use crate::value::{compare, equal, orderable, Key, Map, Value};
use crate::{convert, functions};

/// What a variable is in one evaluation.
#[derive(Clone, Debug)]
pub enum Binding {
    Value(Value),
    /// Declared but not supplied: the answer may depend on it.
    Unknown,
    /// Not declared at all.
    Undeclared,
}

/// The variables of an evaluation.
pub trait Variables {
    fn get(&self, name: &str) -> Binding;
}

/// An intermediate result.
#[derive(Clone, Debug)]
pub(crate) enum Res {
    Val(Value),
    Unknown(BTreeSet<String>),
    Err(EvalError),
}

impl Res {
    fn overload(what: impl Into<String>) -> Self {
        Self::Err(EvalError::NoMatchingOverload(what.into()))
    }
}

pub(crate) struct Evaluator<'v> {
    vars: &'v dyn Variables,
    /// Comprehension variables in scope, innermost last.
    scope: Vec<(String, Value)>,
    budget: u64,
    limit: u64,
    exhausted: bool,
}

impl<'v> Evaluator<'v> {
    pub(crate) fn new(vars: &'v dyn Variables, limit: u64) -> Self {
        Self {
            vars,
            scope: Vec::new(),
            budget: limit,
            limit,
            exhausted: false,
        }
    }

    pub(crate) fn exhausted(&self) -> bool {
        self.exhausted
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// What is left of the budget.
    pub(crate) fn remaining(&self) -> u64 {
        if self.exhausted {
            0
        } else {
            self.budget
        }
    }

    /// Spend `units` of the budget; `false` once it is gone (and from then on).
    pub(crate) fn spend(&mut self, units: u64) -> bool {
        if self.exhausted {
            return false;
        }
        match self.budget.checked_sub(units) {
            Some(rest) => {
                self.budget = rest;
                true
            }
            None => {
                self.exhausted = true;
                false
            }
        }
    }

    fn out_of_budget(&self) -> Res {
        Res::Err(EvalError::CostLimit(self.limit))
    }

    pub(crate) fn eval(&mut self, e: &Expr) -> Res {
        if !self.spend(1) {
            return self.out_of_budget();
        }
        match e {
            Expr::Literal(v) => Res::Val(v.clone()),
            Expr::Ident(name) => self.lookup(name),
            Expr::Select {
                operand,
                field,
                test,
            } => self.select(e, operand, field, *test),
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                match self.all_values(items.iter(), &mut out) {
                    Some(stop) => stop,
                    None => Res::Val(Value::list(out)),
                }
            }
            Expr::Map(entries) => self.map_literal(entries),
            Expr::Call {
                target,
                function,
                args,
            } => self.call(target.as_deref(), function, args),
            Expr::Comprehension {
                kind,
                range,
                var,
                predicate,
                transform,
            } => self.comprehension(
                *kind,
                range,
                var,
                predicate.as_deref(),
                transform.as_deref(),
            ),
        }
    }

    fn lookup(&self, name: &str) -> Res {
        if let Some((_, v)) = self.scope.iter().rev().find(|(n, _)| n == name) {
            return Res::Val(v.clone());
        }
        match self.vars.get(name) {
            Binding::Value(v) => Res::Val(v),
            Binding::Unknown => Res::Unknown(BTreeSet::from([name.to_owned()])),
            Binding::Undeclared => match type_named(name) {
                Some(t) => Res::Val(Value::Type(Arc::from(t))),
                None => Res::Err(EvalError::UndeclaredReference(name.to_owned())),
            },
        }
    }

    /// Evaluate `items` in order into `out`; `Some` with the merged unknowns, or the first error, if
    /// any item is not a value.
    fn all_values<'e>(
        &mut self,
        items: impl Iterator<Item = &'e Expr>,
        out: &mut Vec<Value>,
    ) -> Option<Res> {
        let mut unknown: Option<BTreeSet<String>> = None;
        let mut error = None;
        for item in items {
            match self.eval(item) {
                Res::Val(v) => out.push(v),
                Res::Unknown(names) => unknown.get_or_insert_with(BTreeSet::new).extend(names),
                Res::Err(e) => {
                    if self.exhausted {
                        return Some(Res::Err(e));
                    }
                    error.get_or_insert(e);
                }
            }
        }
        if let Some(names) = unknown {
            return Some(Res::Unknown(names));
        }
        error.map(Res::Err)
    }

    fn map_literal(&mut self, entries: &[(Expr, Expr)]) -> Res {
        let mut flat = Vec::with_capacity(entries.len() * 2);
        if let Some(stop) = self.all_values(entries.iter().flat_map(|(k, v)| [k, v]), &mut flat) {
            return stop;
        }
        let mut pairs = Vec::with_capacity(entries.len());
        let mut it = flat.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            let Some(key) = Key::from_value(&k) else {
                return Res::overload(format!("a map key of type {}", k.type_name()));
            };
            pairs.push((key, v));
        }
        match Map::new(pairs) {
            Ok(m) => Res::Val(Value::Map(Arc::new(m))),
            Err(k) => Res::Err(EvalError::InvalidArgument(format!(
                "failed with repeated key: {}",
                convert::display(&k.to_value())
            ))),
        }
    }

    fn select(&mut self, whole: &Expr, operand: &Expr, field: &str, test: bool) -> Res {
        // `a.b.c` may name a variable (or a type) in full.
        if !test {
            if let Some(name) = qualified_name(whole) {
                if self
                    .scope
                    .iter()
                    .all(|(n, _)| !name.starts_with(n.as_str()))
                {
                    match self.vars.get(&name) {
                        Binding::Value(v) => return Res::Val(v),
                        Binding::Unknown => return Res::Unknown(BTreeSet::from([name])),
                        Binding::Undeclared => {
                            if let Some(t) = type_named(&name) {
                                return Res::Val(Value::Type(Arc::from(t)));
                            }
                        }
                    }
                }
            }
        }
        let target = match self.eval(operand) {
            Res::Val(v) => v,
            other => return other,
        };
        match target {
            Value::Map(m) => {
                let key = Value::string(field);
                match (m.get(&key), test) {
                    (found, true) => Res::Val(Value::Bool(found.is_some())),
                    (Some(v), false) => Res::Val(v.clone()),
                    (None, false) => Res::Err(EvalError::NoSuchKey(format!("`{field}`"))),
                }
            }
            other => Res::overload(format!(
                "selecting field `{field}` of a {}",
                other.type_name()
            )),
        }
    }

    fn call(&mut self, target: Option<&Expr>, function: &str, args: &[Expr]) -> Res {
        match (function, args) {
            ("_&&_", [a, b]) => return self.logic(a, b, false),
            ("_||_", [a, b]) => return self.logic(a, b, true),
            ("_?_:_", [c, t, f]) => {
                return match self.eval(c) {
                    Res::Val(Value::Bool(true)) => self.eval(t),
                    Res::Val(Value::Bool(false)) => self.eval(f),
                    Res::Val(v) => Res::overload(format!("a condition of type {}", v.type_name())),
                    other => other,
                }
            }
            _ => {}
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        if let Some(stop) = self.all_values(target.into_iter().chain(args), &mut values) {
            return stop;
        }
        functions::call(self, function, target.is_some(), &values)
    }

    /// `a && b` (`or` false) or `a || b` (`or` true): the deciding value wins over unknowns, unknowns
    /// over errors.
    fn logic(&mut self, a: &Expr, b: &Expr, or: bool) -> Res {
        let left = self.eval(a);
        if matches!(left, Res::Val(Value::Bool(v)) if v == or) {
            return left;
        }
        if self.exhausted {
            return self.out_of_budget();
        }
        let right = self.eval(b);
        if self.exhausted {
            return self.out_of_budget();
        }
        combine(left, right, or)
    }

    fn comprehension(
        &mut self,
        kind: Macro,
        range: &Expr,
        var: &str,
        predicate: Option<&Expr>,
        transform: Option<&Expr>,
    ) -> Res {
        let items: Arc<[Value]> = match self.eval(range) {
            Res::Val(Value::List(l)) => l,
            Res::Val(Value::Map(m)) => {
                // Listing the keys is work in proportion to the map.
                if !self.spend(u64::try_from(m.len() / 64).unwrap_or(u64::MAX)) {
                    return self.out_of_budget();
                }
                m.iter().map(|(k, _)| k.to_value()).collect()
            }
            Res::Val(v) => {
                return Res::overload(format!("a comprehension over a {}", v.type_name()))
            }
            other => return other,
        };
        // The answer so far: `all` starts true, `exists` false.
        let mut folded = Res::Val(Value::Bool(kind == Macro::All));
        let mut count: u64 = 0;
        let mut mapped = Vec::new();
        let mut pending: Option<Res> = None;
        for item in items.iter() {
            if !self.spend(1) {
                return self.out_of_budget();
            }
            self.scope.push((var.to_owned(), item.clone()));
            let step = self.iteration(kind, predicate, transform);
            self.scope.pop();
            if self.exhausted {
                return self.out_of_budget();
            }
            match kind {
                Macro::All | Macro::Exists => {
                    let or = kind == Macro::Exists;
                    folded = combine(folded, step, or);
                    if matches!(folded, Res::Val(Value::Bool(v)) if v == or) {
                        return folded;
                    }
                }
                Macro::ExistsOne => match step {
                    Res::Val(Value::Bool(true)) => count += 1,
                    Res::Val(Value::Bool(false)) => {}
                    Res::Val(v) => {
                        return Res::overload(format!("a predicate of type {}", v.type_name()))
                    }
                    other => return other,
                },
                // A kept element comes as a one-element list; a filtered-out one as null.
                Macro::Map | Macro::Filter => match step {
                    Res::Val(Value::List(kept)) if pending.is_none() => {
                        mapped.extend(kept.iter().cloned());
                    }
                    Res::Val(_) => {}
                    Res::Unknown(names) => match &mut pending {
                        Some(Res::Unknown(all)) => all.extend(names),
                        _ => pending = Some(Res::Unknown(names)),
                    },
                    Res::Err(e) => {
                        if pending.is_none() {
                            pending = Some(Res::Err(e));
                        }
                    }
                },
            }
        }
        match kind {
            Macro::All | Macro::Exists => folded,
            Macro::ExistsOne => Res::Val(Value::Bool(count == 1)),
            Macro::Map | Macro::Filter => pending.unwrap_or_else(|| Res::Val(Value::list(mapped))),
        }
    }

    /// One element's contribution: the predicate's answer, or for `map`/`filter` the element's
    /// output (`null` for one filtered out).
    fn iteration(
        &mut self,
        kind: Macro,
        predicate: Option<&Expr>,
        transform: Option<&Expr>,
    ) -> Res {
        let keep = match predicate {
            Some(p) => self.eval(p),
            None => Res::Val(Value::Bool(true)),
        };
        match kind {
            Macro::All | Macro::Exists | Macro::ExistsOne => match keep {
                Res::Val(Value::Bool(_)) | Res::Unknown(_) | Res::Err(_) => keep,
                Res::Val(v) => Res::overload(format!("a predicate of type {}", v.type_name())),
            },
            Macro::Map | Macro::Filter => match keep {
                Res::Val(Value::Bool(false)) => Res::Val(Value::Null),
                Res::Val(Value::Bool(true)) => match (kind, transform) {
                    (Macro::Map, Some(t)) => match self.eval(t) {
                        Res::Val(v) => Res::Val(Value::list(vec![v])),
                        other => other,
                    },
                    _ => self
                        .scope
                        .last()
                        .map(|(_, v)| Res::Val(Value::list(vec![v.clone()])))
                        .unwrap_or(Res::Val(Value::Null)),
                },
                Res::Val(v) => Res::overload(format!("a predicate of type {}", v.type_name())),
                other => other,
            },
        }
    }
}

/// Fold two operands of `&&` (`or` false) or `||` (`or` true).
fn combine(left: Res, right: Res, or: bool) -> Res {
    let decides = |r: &Res| matches!(r, Res::Val(Value::Bool(v)) if *v == or);
    if decides(&left) {
        return left;
    }
    if decides(&right) {
        return right;
    }
    match (left, right) {
        (Res::Val(Value::Bool(_)), Res::Val(Value::Bool(b))) => Res::Val(Value::Bool(b)),
        (Res::Unknown(mut a), Res::Unknown(b)) => {
            a.extend(b);
            Res::Unknown(a)
        }
        (Res::Unknown(a), _) | (_, Res::Unknown(a)) => Res::Unknown(a),
        (Res::Err(e), _) | (_, Res::Err(e)) => Res::Err(e),
        (Res::Val(Value::Bool(_)), Res::Val(v)) | (Res::Val(v), _) => Res::overload(format!(
            "`{}` with an operand of type {}",
            if or { "||" } else { "&&" },
            v.type_name()
        )),
    }
}

/// At most this many dotted parts make a qualified name (`google.protobuf.Timestamp` has three).
const MAX_NAME_PARTS: usize = 8;

/// `a.b.c` as one dotted name, if `e` is only names and at most [`MAX_NAME_PARTS`] parts.
fn qualified_name(e: &Expr) -> Option<String> {
    let mut parts = Vec::new();
    let mut at = e;
    loop {
        if parts.len() == MAX_NAME_PARTS {
            return None;
        }
        match at {
            Expr::Ident(n) => {
                parts.push(n.as_str());
                break;
            }
            Expr::Select {
                operand,
                field,
                test: false,
            } => {
                parts.push(field.as_str());
                at = operand;
            }
            _ => return None,
        }
    }
    parts.reverse();
    Some(parts.join("."))
}

/// The type a bare name denotes, if any (`int`, `google.protobuf.Timestamp`, ...).
fn type_named(name: &str) -> Option<&'static str> {
    Some(match name {
        "bool" => "bool",
        "int" => "int",
        "uint" => "uint",
        "double" => "double",
        "string" => "string",
        "bytes" => "bytes",
        "list" => "list",
        "map" => "map",
        "null_type" => "null_type",
        "type" => "type",
        "google.protobuf.Timestamp" => "google.protobuf.Timestamp",
        "google.protobuf.Duration" => "google.protobuf.Duration",
        _ => return None,
    })
}

/// `==` and the orderings, for the function table.
pub(crate) fn relation(function: &str, a: &Value, b: &Value) -> Res {
    match function {
        "_==_" => Res::Val(Value::Bool(equal(a, b))),
        "_!=_" => Res::Val(Value::Bool(!equal(a, b))),
        _ if !orderable(a, b) => Res::overload(format!(
            "`{}` between {} and {}",
            function.trim_matches('_'),
            a.type_name(),
            b.type_name()
        )),
        _ => {
            let Some(ord) = compare(a, b) else {
                // NaN: every ordering is false.
                return Res::Val(Value::Bool(false));
            };
            Res::Val(Value::Bool(match function {
                "_<_" => ord.is_lt(),
                "_<=_" => ord.is_le(),
                "_>_" => ord.is_gt(),
                _ => ord.is_ge(),
            }))
        }
    }
}
