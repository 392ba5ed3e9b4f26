//! CEL's values: the standard types, timestamps and durations, and SpiceDB's `ipaddress`; equality and
//! ordering across numeric types as cel-spec defines them ("heterogeneous equality").

use core::cmp::Ordering;
use std::net::IpAddr;
use std::sync::Arc;

use crate::time::{Duration, Timestamp};

/// A CEL value.
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    String(Arc<str>),
    Bytes(Arc<[u8]>),
    List(Arc<[Value]>),
    Map(Arc<Map>),
    Timestamp(Timestamp),
    Duration(Duration),
    /// SpiceDB's `ipaddress` type.
    IpAddress(IpAddr),
    /// A type, as a value (`type(1) == int`).
    Type(Arc<str>),
}

/// A map's key: CEL allows `bool`, `int`, `uint` and `string`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    Bool(bool),
    Int(i64),
    Uint(u64),
    String(Arc<str>),
}

impl Key {
    /// `value` as a key, if its type may be one.
    #[must_use]
    pub fn from_value(value: &Value) -> Option<Self> {
        Some(match value {
            Value::Bool(b) => Self::Bool(*b),
            Value::Int(i) => Self::Int(*i),
            Value::Uint(u) => Self::Uint(*u),
            Value::String(s) => Self::String(Arc::clone(s)),
            _ => return None,
        })
    }

    #[must_use]
    pub fn to_value(&self) -> Value {
        match self {
            Self::Bool(b) => Value::Bool(*b),
            Self::Int(i) => Value::Int(*i),
            Self::Uint(u) => Value::Uint(*u),
            Self::String(s) => Value::String(Arc::clone(s)),
        }
    }
}

/// A map in insertion order, each key once (numerically equal `int` and `uint` keys are the same key),
/// with an ordered index: lookups in O(log n).
#[derive(Clone, Debug, Default)]
pub struct Map {
    entries: Vec<(Key, Value)>,
    index: std::collections::BTreeMap<Lookup, usize>,
}

/// A key as lookups compare it: numbers by value across `int` and `uint`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Lookup {
    Bool(bool),
    Number(i128),
    String(Arc<str>),
}

impl Lookup {
    fn of_key(k: &Key) -> Self {
        match k {
            Key::Bool(b) => Self::Bool(*b),
            Key::Int(i) => Self::Number(i128::from(*i)),
            Key::Uint(u) => Self::Number(i128::from(*u)),
            Key::String(s) => Self::String(Arc::clone(s)),
        }
    }

    /// The lookup for a value used as a key: an integral `double` finds the equal integer key.
    fn of_value(v: &Value) -> Option<Self> {
        Some(match v {
            Value::Bool(b) => Self::Bool(*b),
            Value::Int(i) => Self::Number(i128::from(*i)),
            Value::Uint(u) => Self::Number(i128::from(*u)),
            Value::Double(d) if d.fract() == 0.0 && d.abs() < 1.9e19 => {
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "an integral double below 2^64 is exact in i128"
                )]
                let n = *d as i128;
                Self::Number(n)
            }
            Value::String(s) => Self::String(Arc::clone(s)),
            _ => return None,
        })
    }
}

impl Map {
    /// A map of `entries`; `Err` names the first key given twice.
    ///
    /// # Errors
    /// A repeated key.
    pub fn new(entries: Vec<(Key, Value)>) -> Result<Self, Key> {
        let mut map = Self {
            entries: Vec::with_capacity(entries.len()),
            index: std::collections::BTreeMap::new(),
        };
        for (k, v) in entries {
            let at = map.entries.len();
            if map.index.insert(Lookup::of_key(&k), at).is_some() {
                return Err(k);
            }
            map.entries.push((k, v));
        }
        Ok(map)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &(Key, Value)> {
        self.entries.iter()
    }

    /// The value under a key equal to `key` (an `int`, `uint` or integral `double` finds a numerically
    /// equal key).
    #[must_use]
    pub fn get(&self, key: &Value) -> Option<&Value> {
        let at = *self.index.get(&Lookup::of_value(key)?)?;
        self.entries.get(at).map(|(_, v)| v)
    }
}

impl Value {
    /// The name of this value's type, as `type()` gives it.
    #[must_use]
    pub fn type_name(&self) -> &str {
        match self {
            Self::Null => "null_type",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Uint(_) => "uint",
            Self::Double(_) => "double",
            Self::String(_) => "string",
            Self::Bytes(_) => "bytes",
            Self::List(_) => "list",
            Self::Map(_) => "map",
            Self::Timestamp(_) => "google.protobuf.Timestamp",
            Self::Duration(_) => "google.protobuf.Duration",
            Self::IpAddress(_) => "ipaddress",
            Self::Type(_) => "type",
        }
    }

    #[must_use]
    pub fn string(s: &str) -> Self {
        Self::String(Arc::from(s))
    }

    #[must_use]
    pub fn list(items: Vec<Self>) -> Self {
        Self::List(Arc::from(items))
    }
}

/// A number of any numeric type, for comparisons across them.
#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    Uint(u64),
    Double(f64),
}

fn number(v: &Value) -> Option<Number> {
    match v {
        Value::Int(i) => Some(Number::Int(*i)),
        Value::Uint(u) => Some(Number::Uint(*u)),
        Value::Double(d) => Some(Number::Double(*d)),
        _ => None,
    }
}

/// Compare two numbers exactly (no rounding of large integers through `f64`); `None` for NaN.
fn compare_numbers(a: Number, b: Number) -> Option<Ordering> {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => Some(x.cmp(&y)),
        (Number::Uint(x), Number::Uint(y)) => Some(x.cmp(&y)),
        (Number::Int(x), Number::Uint(y)) => Some(match u64::try_from(x) {
            Ok(x) => x.cmp(&y),
            Err(_) => Ordering::Less,
        }),
        (Number::Uint(_), Number::Int(_)) => compare_numbers(b, a).map(Ordering::reverse),
        (Number::Double(x), Number::Double(y)) => x.partial_cmp(&y),
        // As cel-go does (and the conformance suite expects): the integer as a double, rounding.
        (Number::Int(x), Number::Double(y)) => int_as_double(x).partial_cmp(&y),
        (Number::Uint(x), Number::Double(y)) => uint_as_double(x).partial_cmp(&y),
        (Number::Double(_), Number::Int(_) | Number::Uint(_)) => {
            compare_numbers(b, a).map(Ordering::reverse)
        }
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "CEL compares an int with a double as doubles"
)]
fn int_as_double(x: i64) -> f64 {
    x as f64
}

#[expect(
    clippy::cast_precision_loss,
    reason = "CEL compares a uint with a double as doubles"
)]
fn uint_as_double(x: u64) -> f64 {
    x as f64
}

/// CEL equality: numbers across types by value, lists element by element, maps by keys and values,
/// values of different types unequal.
#[must_use]
pub fn equal(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return compare_numbers(x, y) == Some(Ordering::Equal);
    }
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(&k.to_value()).is_some_and(|w| equal(v, w)))
        }
        (Value::Timestamp(x), Value::Timestamp(y)) => x == y,
        (Value::Duration(x), Value::Duration(y)) => x == y,
        (Value::IpAddress(x), Value::IpAddress(y)) => x == y,
        (Value::Type(x), Value::Type(y)) => x == y,
        _ => false,
    }
}

/// CEL ordering (`<`, `<=`, ...): numbers across types, strings by code point, bytes, bools,
/// timestamps, durations. `None` for types that have no order, or NaN.
#[must_use]
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return compare_numbers(x, y);
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        // UTF-8 byte order is code point order.
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Bytes(x), Value::Bytes(y)) => Some(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Whether `a` and `b` are of types `compare` orders against each other.
#[must_use]
pub fn orderable(a: &Value, b: &Value) -> bool {
    matches!(
        (a, b),
        (
            Value::Int(_) | Value::Uint(_) | Value::Double(_),
            Value::Int(_) | Value::Uint(_) | Value::Double(_)
        ) | (Value::Bool(_), Value::Bool(_))
            | (Value::String(_), Value::String(_))
            | (Value::Bytes(_), Value::Bytes(_))
            | (Value::Timestamp(_), Value::Timestamp(_))
            | (Value::Duration(_), Value::Duration(_))
    )
}
