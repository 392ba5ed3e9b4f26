//! Caveats at check time: a caveated relationship counts only while its caveat's expression is true for
//! the context — the relationship's own (written with it) over the request's, the relationship's values
//! taking precedence, as in SpiceDB. Context arrives as JSON and is typed by the caveat's parameters.
//!
//! A caveat whose expression depends on a parameter nobody supplied answers [`CaveatAnswer::Missing`],
//! naming it: the check is then *conditional* rather than guessed either way.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value as Json;
use tessera_cel::{Key, Map, Outcome, Partial, Value, DEFAULT_COST_LIMIT};
use tessera_proto::Code;

use crate::schema::{Caveat, CaveatType};

/// Caveat context: parameter name → JSON value.
pub type Context = serde_json::Map<String, Json>;

/// A caveat named on a stored relationship, with the context written with it.
#[derive(Clone, Debug, PartialEq)]
pub struct RelationshipCaveat {
    pub name: String,
    pub context: Context,
}

/// What a caveat says of one relationship.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaveatAnswer {
    Satisfied,
    Unsatisfied,
    /// The expression needs these parameters, which neither context supplied.
    Missing(BTreeSet<String>),
}

/// Why a caveat could not be evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaveatError {
    /// A context value does not have its parameter's type.
    Context {
        caveat: String,
        param: String,
        message: String,
    },
    /// The expression failed (a division by zero, an overflow, its cost limit, ...).
    Eval { caveat: String, message: String },
    /// A relationship names a caveat the schema does not define.
    Unknown(String),
}

impl CaveatError {
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::Context { .. } => Code::CaveatContextInvalid,
            Self::Eval { .. } | Self::Unknown(_) => Code::CaveatFailed,
        }
    }
}

impl std::fmt::Display for CaveatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Context {
                caveat,
                param,
                message,
            } => write!(f, "context `{param}` of caveat `{caveat}`: {message}"),
            Self::Eval { caveat, message } => write!(f, "caveat `{caveat}` failed: {message}"),
            Self::Unknown(c) => write!(f, "caveat `{c}` is not defined in the schema"),
        }
    }
}

impl std::error::Error for CaveatError {}

/// One request's caveat evaluations: its context, typed once per parameter and type however many
/// relationships ask, and one cost budget they all spend from.
pub struct Evaluation<'c> {
    request: &'c Context,
    typed: RefCell<HashMap<(String, String), Result<Value, String>>>,
    budget: Cell<u64>,
}

impl<'c> Evaluation<'c> {
    /// Evaluations against `request`, at most `budget` units of CEL work in all.
    #[must_use]
    pub fn new(request: &'c Context, budget: u64) -> Self {
        Self {
            request,
            typed: RefCell::default(),
            budget: Cell::new(budget),
        }
    }

    /// The request's `param` as a `ty`, converted once.
    fn request_value(&self, param: &str, ty: &CaveatType) -> Option<Result<Value, String>> {
        let raw = self.request.get(param)?;
        let key = (param.to_owned(), ty.to_string());
        if let Some(v) = self.typed.borrow().get(&key) {
            return Some(v.clone());
        }
        let v = typed(ty, raw);
        self.typed.borrow_mut().insert(key, v.clone());
        Some(v)
    }
}

/// A check's budget for all its caveats together: a hundred evaluations at the default limit.
pub const REQUEST_COST_LIMIT: u64 = 100 * DEFAULT_COST_LIMIT;

impl Caveat {
    /// Evaluate for a relationship written with `stored` context, within `eval` (the request's context
    /// and budget).
    ///
    /// # Errors
    /// A context value of the wrong type, or an expression that fails (its cost included).
    pub fn evaluate(
        &self,
        name: &str,
        stored: &Context,
        eval: &Evaluation<'_>,
    ) -> Result<CaveatAnswer, CaveatError> {
        let mut values = BTreeMap::new();
        for (param, ty) in &self.params {
            let v = match stored.get(param) {
                Some(raw) => Some(typed(ty, raw)),
                None => eval.request_value(param, ty),
            };
            let Some(v) = v else { continue };
            let v = v.map_err(|message| CaveatError::Context {
                caveat: name.to_owned(),
                param: param.clone(),
                message,
            })?;
            values.insert(param.clone(), v);
        }
        if self.strict {
            let absent: BTreeSet<String> = self
                .params
                .keys()
                .filter(|p| !values.contains_key(*p))
                .cloned()
                .collect();
            if !absent.is_empty() {
                return Ok(CaveatAnswer::Missing(absent));
            }
        }
        let declared: Vec<&str> = self.params.keys().map(String::as_str).collect();
        let vars = Partial {
            values,
            declared: &declared,
        };
        let eval_error = |message: String| CaveatError::Eval {
            caveat: name.to_owned(),
            message,
        };
        // Each evaluation gets at most the default limit, and all of them the request's budget.
        let mut budget = eval.budget.get().min(DEFAULT_COST_LIMIT);
        let before = budget;
        let result = self.program.eval_metered(&vars, &mut budget);
        eval.budget.set(
            eval.budget
                .get()
                .saturating_sub(before.saturating_sub(budget)),
        );
        match result {
            Ok(Outcome::Value(Value::Bool(true))) => Ok(CaveatAnswer::Satisfied),
            Ok(Outcome::Value(Value::Bool(false))) => Ok(CaveatAnswer::Unsatisfied),
            Ok(Outcome::Value(other)) => Err(eval_error(format!(
                "the expression gave a {}, not a bool",
                other.type_name()
            ))),
            Ok(Outcome::Unknown(missing)) => Ok(CaveatAnswer::Missing(missing)),
            Err(e) => Err(eval_error(e.to_string())),
        }
    }
}

/// `raw` as a value of type `ty`. Integers may come as JSON numbers or, beyond 2^53, as strings (as
/// SpiceDB accepts them); durations, timestamps, IP addresses and base64 bytes come as strings.
///
/// # Errors
/// A value that is not of the type, with what was expected.
pub fn typed(ty: &CaveatType, raw: &Json) -> Result<Value, String> {
    let wrong = || format!("expected {ty}, found {}", json_kind(raw));
    Ok(match (ty, raw) {
        (CaveatType::Any, _) => untyped(raw)?,
        (CaveatType::Bool, Json::Bool(b)) => Value::Bool(*b),
        (CaveatType::Int, Json::Number(n)) => Value::Int(match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i,
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "an integral double below 2^53 converts exactly"
                )]
                let i = f as i64;
                i
            }
            _ => return Err(wrong()),
        }),
        (CaveatType::Int, Json::String(s)) => Value::Int(s.parse().map_err(|_| wrong())?),
        (CaveatType::Uint, Json::Number(n)) => Value::Uint(match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => u,
            (None, Some(f)) if f.fract() == 0.0 && (0.0..9.0e15).contains(&f) => {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "a non-negative integral double below 2^53 converts exactly"
                )]
                let u = f as u64;
                u
            }
            _ => return Err(wrong()),
        }),
        (CaveatType::Uint, Json::String(s)) => Value::Uint(s.parse().map_err(|_| wrong())?),
        (CaveatType::Double, Json::Number(n)) => Value::Double(n.as_f64().ok_or_else(wrong)?),
        (CaveatType::String, Json::String(s)) => Value::string(s),
        (CaveatType::Bytes, Json::String(s)) => Value::Bytes(Arc::from(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| "expected bytes in base64".to_owned())?,
        )),
        (CaveatType::Duration, Json::String(s)) => {
            Value::Duration(tessera_cel::Duration::parse(s)?)
        }
        (CaveatType::Timestamp, Json::String(s)) => {
            Value::Timestamp(tessera_cel::Timestamp::parse(s)?)
        }
        (CaveatType::IpAddress, Json::String(s)) => Value::IpAddress(
            s.parse()
                .map_err(|_| format!("`{s}` is not an IP address"))?,
        ),
        (CaveatType::List(inner), Json::Array(items)) => Value::list(
            items
                .iter()
                .map(|i| typed(inner, i))
                .collect::<Result<_, _>>()?,
        ),
        (CaveatType::Map(inner), Json::Object(entries)) => {
            let pairs = entries
                .iter()
                .map(|(k, v)| Ok((Key::String(Arc::from(k.as_str())), typed(inner, v)?)))
                .collect::<Result<Vec<_>, String>>()?;
            Value::Map(Arc::new(Map::new(pairs).map_err(|_| wrong())?))
        }
        _ => return Err(wrong()),
    })
}

/// A JSON value as the CEL value it reads as (`any`): integers as `int` (or `uint` beyond it).
fn untyped(raw: &Json) -> Result<Value, String> {
    Ok(match raw {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::Int(i),
            (None, Some(u), _) => Value::Uint(u),
            (None, None, Some(f)) => Value::Double(f),
            _ => return Err("a number out of range".into()),
        },
        Json::String(s) => Value::string(s),
        Json::Array(items) => Value::list(items.iter().map(untyped).collect::<Result<_, _>>()?),
        Json::Object(entries) => {
            let pairs = entries
                .iter()
                .map(|(k, v)| Ok((Key::String(Arc::from(k.as_str())), untyped(v)?)))
                .collect::<Result<Vec<_>, String>>()?;
            Value::Map(Arc::new(
                Map::new(pairs).map_err(|_| "a repeated key".to_owned())?,
            ))
        }
    })
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a bool",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}
