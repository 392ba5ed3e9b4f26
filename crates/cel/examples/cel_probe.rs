//! The CEL evaluator driven from outside (tests/blackbox/cel_conformance.test.mjs): one JSON case per line
//! on stdin, one JSON answer per line on stdout. Values travel in the protocol buffers JSON form of
//! `cel.expr.Value`, as cel-spec's conformance suite writes them.
//!
//! - in: `{"expr":..,"bindings":{"x":{"value":{"int64Value":"1"}}},"declared":["y"],"cost_limit":..,
//!   "disable_check":false}`
//! - out: `{"value":{..}}`, `{"unknown":["y"]}`, `{"error":..,"code":..}` (evaluation) or
//!   `{"error":..,"code":"compile"}`
//! - with `"bench":n`: the expression is compiled once and evaluated `n` times; out:
//!   `{"value":{..},"ns_per_eval":..}` (for `scripts/bench cel`)

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value as Json};
use tessera_cel::{Key, Map, Outcome, Partial, Program, Value};

const TIMESTAMP: &str = "type.googleapis.com/google.protobuf.Timestamp";
const DURATION: &str = "type.googleapis.com/google.protobuf.Duration";

fn from_json(j: &Json) -> Result<Value, String> {
    let obj = j.as_object().ok_or("a value must be an object")?;
    let (kind, v) = obj.iter().next().ok_or("an empty value")?;
    let text = || v.as_str().ok_or(format!("{kind} must be a string"));
    Ok(match kind.as_str() {
        "nullValue" => Value::Null,
        "boolValue" => Value::Bool(v.as_bool().ok_or("boolValue")?),
        "int64Value" => Value::Int(match v {
            Json::String(s) => s.parse().map_err(|_| "int64Value")?,
            other => other.as_i64().ok_or("int64Value")?,
        }),
        "uint64Value" => Value::Uint(match v {
            Json::String(s) => s.parse().map_err(|_| "uint64Value")?,
            other => other.as_u64().ok_or("uint64Value")?,
        }),
        "doubleValue" => Value::Double(match v {
            Json::String(s) if s == "NaN" => f64::NAN,
            Json::String(s) if s == "Infinity" => f64::INFINITY,
            Json::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
            other => other.as_f64().ok_or("doubleValue")?,
        }),
        "stringValue" => Value::string(text()?),
        "bytesValue" => Value::Bytes(Arc::from(
            base64::engine::general_purpose::STANDARD
                .decode(text()?)
                .map_err(|e| e.to_string())?,
        )),
        "listValue" => Value::list(
            v.get("values")
                .and_then(Json::as_array)
                .map(|a| a.iter().map(from_json).collect::<Result<Vec<_>, _>>())
                .transpose()?
                .unwrap_or_default(),
        ),
        "mapValue" => {
            let mut entries = Vec::new();
            for e in v
                .get("entries")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let k = from_json(&e["key"])?;
                let key = Key::from_value(&k).ok_or("a map key of a type keys cannot have")?;
                entries.push((key, from_json(&e["value"])?));
            }
            Value::Map(Arc::new(Map::new(entries).map_err(|_| "a repeated key")?))
        }
        "typeValue" => Value::Type(Arc::from(text()?)),
        "objectValue" => match v["@type"].as_str() {
            Some(TIMESTAMP) => Value::Timestamp(tessera_cel::Timestamp::parse(
                v["value"].as_str().ok_or("timestamp")?,
            )?),
            Some(DURATION) => Value::Duration(tessera_cel::Duration::parse(
                v["value"].as_str().ok_or("duration")?,
            )?),
            other => return Err(format!("unsupported object type {other:?}")),
        },
        other => return Err(format!("unsupported value kind {other}")),
    })
}

fn to_json(v: &Value) -> Json {
    match v {
        Value::Null => json!({ "nullValue": null }),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Int(i) => json!({ "int64Value": i.to_string() }),
        Value::Uint(u) => json!({ "uint64Value": u.to_string() }),
        Value::Double(d) if d.is_nan() => json!({ "doubleValue": "NaN" }),
        Value::Double(d) if d.is_infinite() => {
            json!({ "doubleValue": if *d > 0.0 { "Infinity" } else { "-Infinity" } })
        }
        Value::Double(d) => json!({ "doubleValue": d }),
        Value::String(s) => json!({ "stringValue": &**s }),
        Value::Bytes(b) => {
            json!({ "bytesValue": base64::engine::general_purpose::STANDARD.encode(b) })
        }
        Value::List(l) => {
            json!({ "listValue": { "values": l.iter().map(to_json).collect::<Vec<_>>() } })
        }
        Value::Map(m) => json!({ "mapValue": { "entries": m.iter().map(|(k, v)| json!({
            "key": to_json(&k.to_value()), "value": to_json(v),
        })).collect::<Vec<_>>() } }),
        Value::Timestamp(t) => {
            json!({ "objectValue": { "@type": TIMESTAMP, "value": t.to_string() } })
        }
        Value::Duration(d) => {
            json!({ "objectValue": { "@type": DURATION, "value": d.to_string() } })
        }
        Value::IpAddress(ip) => json!({ "ipaddress": ip.to_string() }),
        Value::Type(t) => json!({ "typeValue": &**t }),
    }
}

fn answer(case: &Json) -> Json {
    let expr = case["expr"].as_str().unwrap_or_default();
    let declared: Vec<&str> = case["declared"]
        .as_array()
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    let compiled = if case["disable_check"].as_bool() == Some(true) {
        Program::parse_unchecked(expr)
    } else {
        Program::compile(expr, None)
    };
    let program = match compiled {
        Ok(p) => p,
        Err(e) => return json!({ "error": e.to_string(), "code": "compile" }),
    };
    let mut values = BTreeMap::new();
    for (name, b) in case["bindings"].as_object().into_iter().flatten() {
        match from_json(&b["value"]) {
            Ok(v) => {
                values.insert(name.clone(), v);
            }
            Err(e) => return json!({ "error": e, "code": "binding" }),
        }
    }
    let limit = case["cost_limit"]
        .as_u64()
        .unwrap_or(tessera_cel::DEFAULT_COST_LIMIT);
    let vars = Partial {
        values,
        declared: &declared,
    };
    if let Some(n) = case["bench"].as_u64().filter(|n| *n > 0) {
        #[allow(clippy::disallowed_methods, reason = "a benchmark reads the clock")]
        let start = std::time::Instant::now();
        for _ in 1..n {
            std::hint::black_box(program.eval(std::hint::black_box(&vars), limit).ok());
        }
        let last = program.eval(&vars, limit);
        let ns = start.elapsed().as_nanos() / u128::from(n);
        return match last {
            Ok(Outcome::Value(v)) => json!({ "value": to_json(&v), "ns_per_eval": ns }),
            other => json!({ "error": format!("{other:?}"), "code": "bench" }),
        };
    }
    match program.eval(&vars, limit) {
        Ok(Outcome::Value(v)) => json!({ "value": to_json(&v) }),
        Ok(Outcome::Unknown(names)) => json!({ "unknown": names }),
        Err(e) => json!({ "error": e.to_string(), "code": e.code() }),
    }
}

fn main() {
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let out = match serde_json::from_str::<Json>(&line) {
            Ok(case) => answer(&case),
            Err(e) => json!({ "error": e.to_string(), "code": "input" }),
        };
        println!("{out}");
    }
}
