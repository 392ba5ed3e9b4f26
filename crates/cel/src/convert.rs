//! The conversions (`int()`, `uint()`, `double()`, `string()`, `bool()`) and how values print, as
//! cel-spec and cel-go define them.

use std::sync::Arc;

use crate::eval::Res;
use crate::functions::{invalid, overflow, overload, val};
use crate::value::Value;

pub(crate) fn to_int(a: &Value) -> Res {
    match a {
        Value::Int(i) => val(Value::Int(*i)),
        Value::Uint(u) => {
            i64::try_from(*u).map_or_else(|_| overflow("int(uint) (range)"), |v| val(Value::Int(v)))
        }
        Value::Double(d) => {
            // Strictly inside (-2^63, 2^63): the bounds themselves do not convert back.
            if d.is_finite() && *d > -9.223_372_036_854_776e18 && *d < 9.223_372_036_854_776e18 {
                #[expect(clippy::cast_possible_truncation, reason = "range checked just above")]
                val(Value::Int(d.trunc() as i64))
            } else {
                overflow("int(double) (range)")
            }
        }
        Value::String(s) => s.parse::<i64>().map_or_else(
            |_| invalid(format!("`{s}` is not an int")),
            |v| val(Value::Int(v)),
        ),
        Value::Timestamp(t) => val(Value::Int(t.seconds())),
        _ => overload("int", core::slice::from_ref(a)),
    }
}

pub(crate) fn to_uint(a: &Value) -> Res {
    match a {
        Value::Uint(u) => val(Value::Uint(*u)),
        Value::Int(i) => u64::try_from(*i)
            .map_or_else(|_| overflow("uint(int) (range)"), |v| val(Value::Uint(v))),
        Value::Double(d) => {
            if d.is_finite() && *d > -1.0 && *d < 1.844_674_407_370_955_2e19 {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "range checked just above"
                )]
                val(Value::Uint(d.trunc() as u64))
            } else {
                overflow("uint(double) (range)")
            }
        }
        Value::String(s) => s.parse::<u64>().map_or_else(
            |_| invalid(format!("`{s}` is not a uint")),
            |v| val(Value::Uint(v)),
        ),
        _ => overload("uint", core::slice::from_ref(a)),
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "CEL's int to double conversion rounds"
)]
pub(crate) fn to_double(a: &Value) -> Res {
    match a {
        Value::Double(d) => val(Value::Double(*d)),
        Value::Int(i) => val(Value::Double(*i as f64)),
        Value::Uint(u) => val(Value::Double(*u as f64)),
        Value::String(s) => match s.parse::<f64>() {
            Ok(d) => val(Value::Double(d)),
            Err(_) => invalid(format!("`{s}` is not a double")),
        },
        _ => overload("double", core::slice::from_ref(a)),
    }
}

pub(crate) fn to_string(a: &Value) -> Res {
    match a {
        Value::String(s) => val(Value::String(Arc::clone(s))),
        Value::Bytes(b) => match core::str::from_utf8(b) {
            Ok(s) => val(Value::string(s)),
            Err(_) => invalid("bytes are not valid UTF-8"),
        },
        Value::Int(_)
        | Value::Uint(_)
        | Value::Double(_)
        | Value::Bool(_)
        | Value::Timestamp(_)
        | Value::Duration(_)
        | Value::IpAddress(_) => val(Value::string(&display(a))),
        _ => overload("string", core::slice::from_ref(a)),
    }
}

pub(crate) fn to_bool(a: &Value) -> Res {
    match a {
        Value::Bool(b) => val(Value::Bool(*b)),
        Value::String(s) => match &**s {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => val(Value::Bool(true)),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => val(Value::Bool(false)),
            _ => invalid(format!("`{s}` is not a bool")),
        },
        _ => overload("bool", core::slice::from_ref(a)),
    }
}

/// A value as `string()` prints it (and as error messages name it).
pub(crate) fn display(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Uint(u) => u.to_string(),
        Value::Double(d) => format_double(*d),
        Value::String(s) => format!("{s:?}"),
        Value::Bytes(b) => format!("b{:?}", String::from_utf8_lossy(b)),
        Value::Timestamp(t) => t.to_string(),
        Value::Duration(d) => d.to_string(),
        Value::IpAddress(ip) => ip.to_string(),
        Value::Type(t) => t.to_string(),
        Value::List(l) => format!("[{}]", l.iter().map(display).collect::<Vec<_>>().join(", ")),
        Value::Map(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", display(&k.to_value()), display(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A double the way cel-go prints one (Go's shortest `%g`: exponent form below 1e-4 and from 1e6).
fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Shortest round-trip digits, as `d.ddddde±x`.
    let sci = format!("{d:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.unsigned_abs());
    }
    let s = d.to_string();
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_cel_go_does() {
        assert_eq!(format_double(123.456), "123.456");
        assert_eq!(format_double(-4.5e-3), "-0.0045");
        assert_eq!(format_double(1e6), "1e+06");
        assert_eq!(format_double(123_456.0), "123456");
        assert_eq!(format_double(1.5e-7), "1.5e-07");
        assert_eq!(format_double(1e100), "1e+100");
    }
}
