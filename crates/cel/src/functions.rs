//! The functions and operators of CEL's standard definitions (cel-spec `langdef.md`, "List of Standard
//! Definitions") and SpiceDB's `ipaddress` extension. Regular expressions (`matches`) are not
//! implemented: [`KNOWN`] is what [`crate::Program::compile`] accepts.

use std::net::IpAddr;
use std::sync::Arc;

use crate::convert::{display, to_bool, to_double, to_int, to_string, to_uint};
use crate::error::EvalError;
use crate::eval::{relation, Evaluator, Res};
use crate::time::{offset_of, Duration, Timestamp};
use crate::value::{equal, Value};

/// Every function name a call may use (operators included).
pub const KNOWN: &[&str] = &[
    "_==_",
    "_!=_",
    "_<_",
    "_<=_",
    "_>_",
    "_>=_",
    "_+_",
    "_-_",
    "_*_",
    "_/_",
    "_%_",
    "-_",
    "!_",
    "_[_]",
    "@in",
    "_&&_",
    "_||_",
    "_?_:_",
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "dyn",
    "type",
    "timestamp",
    "duration",
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
    "ipaddress",
    "in_cidr",
];

pub(crate) fn overload(function: &str, args: &[Value]) -> Res {
    let types: Vec<&str> = args.iter().map(Value::type_name).collect();
    Res::Err(EvalError::NoMatchingOverload(format!(
        "`{}` with ({})",
        function,
        types.join(", ")
    )))
}

pub(crate) fn val(v: Value) -> Res {
    Res::Val(v)
}

pub(crate) fn overflow(what: &str) -> Res {
    Res::Err(EvalError::Overflow(what.into()))
}

pub(crate) fn invalid(what: impl Into<String>) -> Res {
    Res::Err(EvalError::InvalidArgument(what.into()))
}

/// Call `function` on `args` (the receiver first when `receiver`).
pub(crate) fn call(ev: &mut Evaluator<'_>, function: &str, receiver: bool, args: &[Value]) -> Res {
    // Work in proportion to the data: strings, bytes and lists cost a unit per 64 elements; comparisons
    // (which walk nested values whole) per 64 elements of everything they hold.
    let deep = matches!(function, "_==_" | "_!=_" | "@in");
    let weight: u64 = args
        .iter()
        .map(|a| if deep { deep_weight(a) } else { weight(a) } / 64)
        .fold(0, u64::saturating_add);
    if weight > 0 && !ev.spend(weight) {
        return Res::Err(EvalError::CostLimit(ev.limit()));
    }
    match (function, args) {
        ("_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_", [a, b]) => relation(function, a, b),
        ("_+_", [a, b]) => add(a, b),
        ("_-_", [a, b]) => subtract(a, b),
        ("_*_", [a, b]) => multiply(a, b),
        ("_/_", [a, b]) => divide(a, b),
        ("_%_", [a, b]) => remainder(a, b),
        ("-_", [a]) => negate(a),
        ("!_", [Value::Bool(b)]) => val(Value::Bool(!b)),
        ("_[_]", [a, b]) => index(a, b),
        ("@in", [a, b]) => contains_element(b, a),
        ("size", [a]) => size(a),
        ("contains", [Value::String(s), Value::String(t)]) if receiver => {
            val(Value::Bool(s.contains(&**t)))
        }
        ("startsWith", [Value::String(s), Value::String(t)]) if receiver => {
            val(Value::Bool(s.starts_with(&**t)))
        }
        ("endsWith", [Value::String(s), Value::String(t)]) if receiver => {
            val(Value::Bool(s.ends_with(&**t)))
        }
        ("int", [a]) if !receiver => to_int(a),
        ("uint", [a]) if !receiver => to_uint(a),
        ("double", [a]) if !receiver => to_double(a),
        ("string", [a]) if !receiver => to_string(a),
        ("bytes", [Value::Bytes(b)]) if !receiver => val(Value::Bytes(Arc::clone(b))),
        ("bytes", [Value::String(s)]) if !receiver => val(Value::Bytes(Arc::from(s.as_bytes()))),
        ("bool", [a]) if !receiver => to_bool(a),
        ("dyn", [a]) if !receiver => val(a.clone()),
        ("type", [a]) if !receiver => val(Value::Type(Arc::from(a.type_name()))),
        ("timestamp", [Value::String(s)]) if !receiver => match Timestamp::parse(s) {
            Ok(t) => val(Value::Timestamp(t)),
            Err(e) => invalid(e),
        },
        ("timestamp", [Value::Int(i)]) if !receiver => {
            match Timestamp::from_nanos(i128::from(*i) * 1_000_000_000) {
                Some(t) => val(Value::Timestamp(t)),
                None => invalid(format!("timestamp {i} is out of range")),
            }
        }
        ("timestamp", [Value::Timestamp(t)]) if !receiver => val(Value::Timestamp(*t)),
        ("duration", [Value::String(s)]) if !receiver => match Duration::parse(s) {
            Ok(d) => val(Value::Duration(d)),
            Err(e) => invalid(e),
        },
        ("duration", [Value::Duration(d)]) if !receiver => val(Value::Duration(*d)),
        (
            "getFullYear" | "getMonth" | "getDayOfYear" | "getDayOfMonth" | "getDate"
            | "getDayOfWeek" | "getHours" | "getMinutes" | "getSeconds" | "getMilliseconds",
            [Value::Timestamp(t), rest @ ..],
        ) if receiver && rest.len() <= 1 => timestamp_field(function, *t, rest.first()),
        ("getHours" | "getMinutes" | "getSeconds" | "getMilliseconds", [Value::Duration(d)])
            if receiver =>
        {
            duration_field(function, *d)
        }
        ("ipaddress", [Value::String(s)]) if !receiver => match s.parse::<IpAddr>() {
            Ok(ip) => val(Value::IpAddress(ip)),
            Err(_) => invalid(format!("`{s}` is not an IP address")),
        },
        ("in_cidr", [Value::IpAddress(ip), Value::String(cidr)]) if receiver => {
            match in_cidr(*ip, cidr) {
                Ok(b) => val(Value::Bool(b)),
                Err(e) => invalid(e),
            }
        }
        _ => overload(function, args),
    }
}

/// A value's size for the cost of work on it.
fn weight(v: &Value) -> u64 {
    let n = match v {
        Value::String(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        _ => 0,
    };
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A value's whole size, nested elements included.
fn deep_weight(v: &Value) -> u64 {
    match v {
        Value::List(l) => l
            .iter()
            .map(deep_weight)
            .fold(weight(v), u64::saturating_add),
        Value::Map(m) => m
            .iter()
            .map(|(_, x)| deep_weight(x))
            .fold(weight(v), u64::saturating_add),
        _ => weight(v),
    }
}

fn add(a: &Value, b: &Value) -> Res {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x
            .checked_add(*y)
            .map_or_else(|| overflow("int addition"), |v| val(Value::Int(v))),
        (Value::Uint(x), Value::Uint(y)) => x
            .checked_add(*y)
            .map_or_else(|| overflow("uint addition"), |v| val(Value::Uint(v))),
        (Value::Double(x), Value::Double(y)) => val(Value::Double(x + y)),
        (Value::String(x), Value::String(y)) => {
            let mut s = String::with_capacity(x.len() + y.len());
            s.push_str(x);
            s.push_str(y);
            val(Value::String(Arc::from(s)))
        }
        (Value::Bytes(x), Value::Bytes(y)) => {
            val(Value::Bytes(x.iter().chain(y.iter()).copied().collect()))
        }
        (Value::List(x), Value::List(y)) => {
            val(Value::List(x.iter().chain(y.iter()).cloned().collect()))
        }
        (Value::Timestamp(t), Value::Duration(d)) | (Value::Duration(d), Value::Timestamp(t)) => {
            t.plus(*d).map_or_else(
                || overflow("timestamp arithmetic (range)"),
                |v| val(Value::Timestamp(v)),
            )
        }
        (Value::Duration(x), Value::Duration(y)) => x.checked_add(*y).map_or_else(
            || overflow("duration arithmetic (range)"),
            |v| val(Value::Duration(v)),
        ),
        _ => overload("_+_", &[a.clone(), b.clone()]),
    }
}

fn subtract(a: &Value, b: &Value) -> Res {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x
            .checked_sub(*y)
            .map_or_else(|| overflow("int subtraction"), |v| val(Value::Int(v))),
        (Value::Uint(x), Value::Uint(y)) => x
            .checked_sub(*y)
            .map_or_else(|| overflow("uint subtraction"), |v| val(Value::Uint(v))),
        (Value::Double(x), Value::Double(y)) => val(Value::Double(x - y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => x.since(*y).map_or_else(
            || overflow("timestamp subtraction (range)"),
            |v| val(Value::Duration(v)),
        ),
        (Value::Timestamp(t), Value::Duration(d)) => {
            d.checked_neg().and_then(|d| t.plus(d)).map_or_else(
                || overflow("timestamp arithmetic (range)"),
                |v| val(Value::Timestamp(v)),
            )
        }
        (Value::Duration(x), Value::Duration(y)) => x.checked_sub(*y).map_or_else(
            || overflow("duration arithmetic (range)"),
            |v| val(Value::Duration(v)),
        ),
        _ => overload("_-_", &[a.clone(), b.clone()]),
    }
}

fn multiply(a: &Value, b: &Value) -> Res {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x
            .checked_mul(*y)
            .map_or_else(|| overflow("int multiplication"), |v| val(Value::Int(v))),
        (Value::Uint(x), Value::Uint(y)) => x
            .checked_mul(*y)
            .map_or_else(|| overflow("uint multiplication"), |v| val(Value::Uint(v))),
        (Value::Double(x), Value::Double(y)) => val(Value::Double(x * y)),
        _ => overload("_*_", &[a.clone(), b.clone()]),
    }
}

fn divide(a: &Value, b: &Value) -> Res {
    match (a, b) {
        (Value::Int(_) | Value::Uint(_), Value::Int(0) | Value::Uint(0)) => {
            Res::Err(EvalError::DivideByZero)
        }
        (Value::Int(x), Value::Int(y)) => x
            .checked_div(*y)
            .map_or_else(|| overflow("int division"), |v| val(Value::Int(v))),
        (Value::Uint(x), Value::Uint(y)) => x
            .checked_div(*y)
            .map_or_else(|| overflow("uint division"), |v| val(Value::Uint(v))),
        (Value::Double(x), Value::Double(y)) => val(Value::Double(x / y)),
        _ => overload("_/_", &[a.clone(), b.clone()]),
    }
}

fn remainder(a: &Value, b: &Value) -> Res {
    match (a, b) {
        (Value::Int(_) | Value::Uint(_), Value::Int(0) | Value::Uint(0)) => {
            Res::Err(EvalError::InvalidArgument("modulus by zero".into()))
        }
        (Value::Int(x), Value::Int(y)) => x
            .checked_rem(*y)
            .map_or_else(|| overflow("int modulus"), |v| val(Value::Int(v))),
        (Value::Uint(x), Value::Uint(y)) => x
            .checked_rem(*y)
            .map_or_else(|| overflow("uint modulus"), |v| val(Value::Uint(v))),
        _ => overload("_%_", &[a.clone(), b.clone()]),
    }
}

fn negate(a: &Value) -> Res {
    match a {
        Value::Int(x) => x
            .checked_neg()
            .map_or_else(|| overflow("int negation"), |v| val(Value::Int(v))),
        Value::Double(x) => val(Value::Double(-x)),
        Value::Duration(d) => d.checked_neg().map_or_else(
            || overflow("duration negation"),
            |v| val(Value::Duration(v)),
        ),
        _ => overload("-_", core::slice::from_ref(a)),
    }
}

/// A list index from an `int`, `uint` or integral `double`.
fn list_index(i: &Value, len: usize) -> Result<usize, Res> {
    let wanted: Option<i128> = match i {
        Value::Int(x) => Some(i128::from(*x)),
        Value::Uint(x) => Some(i128::from(*x)),
        Value::Double(d) if d.fract() == 0.0 && d.abs() < 1e19 =>
        {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "an integral double below 1e19 is exact in i128"
            )]
            Some(*d as i128)
        }
        Value::Double(_) => None,
        _ => return Err(overload("_[_]", &[Value::list(Vec::new()), i.clone()])),
    };
    wanted
        .and_then(|w| usize::try_from(w).ok())
        .filter(|w| *w < len)
        .ok_or_else(|| {
            Res::Err(EvalError::IndexOutOfRange(format!(
                "{} of a list of {len}",
                display(i)
            )))
        })
}

fn index(a: &Value, i: &Value) -> Res {
    match a {
        Value::List(l) => match list_index(i, l.len()) {
            Ok(n) => l.get(n).cloned().map_or_else(|| overflow("index"), val),
            Err(e) => e,
        },
        Value::Map(m) => {
            if !matches!(
                i,
                Value::Bool(_)
                    | Value::Int(_)
                    | Value::Uint(_)
                    | Value::String(_)
                    | Value::Double(_)
            ) {
                return overload("_[_]", &[a.clone(), i.clone()]);
            }
            m.get(i)
                .cloned()
                .map_or_else(|| Res::Err(EvalError::NoSuchKey(display(i))), val)
        }
        _ => overload("_[_]", &[a.clone(), i.clone()]),
    }
}

fn contains_element(container: &Value, item: &Value) -> Res {
    match container {
        Value::List(l) => val(Value::Bool(l.iter().any(|x| equal(x, item)))),
        Value::Map(m) => val(Value::Bool(m.get(item).is_some())),
        _ => overload("@in", &[item.clone(), container.clone()]),
    }
}

fn size(a: &Value) -> Res {
    let n = match a {
        Value::String(s) => s.chars().count(),
        Value::Bytes(b) => b.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        _ => return overload("size", core::slice::from_ref(a)),
    };
    i64::try_from(n).map_or_else(|_| overflow("size"), |n| val(Value::Int(n)))
}

fn timestamp_field(function: &str, t: Timestamp, zone: Option<&Value>) -> Res {
    let offset = match zone {
        None => 0,
        Some(Value::String(z)) => match offset_of(z) {
            Ok(o) => o,
            Err(e) => return invalid(e),
        },
        Some(other) => return overload(function, &[Value::Timestamp(t), other.clone()]),
    };
    let c = t.civil(offset);
    val(Value::Int(match function {
        "getFullYear" => c.year,
        "getMonth" => c.month - 1,
        "getDayOfYear" => c.day_of_year,
        "getDayOfMonth" => c.day - 1,
        "getDate" => c.day,
        "getDayOfWeek" => c.day_of_week,
        "getHours" => c.hour,
        "getMinutes" => c.minute,
        "getSeconds" => c.second,
        _ => c.millisecond,
    }))
}

fn duration_field(function: &str, d: Duration) -> Res {
    let nanos = d.nanos();
    let v = match function {
        "getHours" => nanos / 3_600_000_000_000,
        "getMinutes" => nanos / 60_000_000_000,
        "getSeconds" => nanos / 1_000_000_000,
        _ => nanos % 1_000_000_000 / 1_000_000,
    };
    i64::try_from(v).map_or_else(|_| overflow(function), |v| val(Value::Int(v)))
}

/// Whether `ip` is inside `cidr` (`10.0.0.0/8`, `2001:db8::/32`); addresses of different families never
/// are.
fn in_cidr(ip: IpAddr, cidr: &str) -> Result<bool, String> {
    let bad = || format!("`{cidr}` is not a CIDR block such as `10.0.0.0/8`");
    let (net, bits) = cidr.split_once('/').ok_or_else(bad)?;
    let net: IpAddr = net.parse().map_err(|_| bad())?;
    let bits: u32 = bits.parse().map_err(|_| bad())?;
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            Ok(u32::from(a) & mask == u32::from(n) & mask)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            Ok(u128::from(a) & mask == u128::from(n) & mask)
        }
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => Err(bad()),
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_membership_by_family_and_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(in_cidr(ip("192.168.0.1"), "192.168.0.0/16"), Ok(true));
        assert_eq!(in_cidr(ip("192.169.0.1"), "192.168.0.0/16"), Ok(false));
        assert_eq!(in_cidr(ip("10.1.2.3"), "0.0.0.0/0"), Ok(true));
        assert_eq!(in_cidr(ip("10.1.2.3"), "10.1.2.3/32"), Ok(true));
        assert_eq!(in_cidr(ip("2001:db8::1"), "2001:db8::/32"), Ok(true));
        assert_eq!(in_cidr(ip("2001:db8::1"), "10.0.0.0/8"), Ok(false));
        assert!(in_cidr(ip("10.0.0.1"), "10.0.0.0/33").is_err());
        assert!(in_cidr(ip("10.0.0.1"), "10.0.0.0").is_err());
    }
}
