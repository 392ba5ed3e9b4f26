//! The expressions caveats are written with: OpenFGA's ABAC suite (../shared/vectors/openfga/
//! abac_tests.yaml, whose conditions these are) and SpiceDB's caveat documentation.

use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_cel::{Key, Map, Outcome, Program, Timestamp, Value, DEFAULT_COST_LIMIT};

fn eval(source: &str, values: &[(&str, Value)]) -> Value {
    let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
    let program = Program::compile(source, Some(&names)).unwrap();
    let vars: BTreeMap<String, Value> = values
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    match program.eval(&vars, DEFAULT_COST_LIMIT) {
        Ok(Outcome::Value(v)) => v,
        other => panic!("`{source}`: {other:?}"),
    }
}

fn yes(source: &str, values: &[(&str, Value)]) -> bool {
    match eval(source, values) {
        Value::Bool(b) => b,
        other => panic!("`{source}` gave {other:?}"),
    }
}

fn ip(s: &str) -> Value {
    Value::IpAddress(s.parse().unwrap())
}

#[test]
fn openfga_abac_conditions() {
    assert!(yes("x < 100", &[("x", Value::Int(10))]));
    assert!(!yes("x < 100", &[("x", Value::Int(101))]));
    assert!(yes("x > 0.0", &[("x", Value::Double(0.5))]));
    assert!(yes("s == \"hello\"", &[("s", Value::string("hello"))]));
    let ts = |s: &str| Value::Timestamp(Timestamp::parse(s).unwrap());
    assert!(yes(
        "ts < timestamp(\"2023-10-11T10:00:00.000Z\")",
        &[("ts", ts("2023-10-11T09:59:59Z"))]
    ));
    assert!(!yes(
        "ts < timestamp(\"2023-10-11T10:00:00.000Z\")",
        &[("ts", ts("2023-10-11T10:00:00Z"))]
    ));
    assert!(yes(
        "user_ip.in_cidr(cidr)",
        &[
            ("user_ip", ip("192.168.0.1")),
            ("cidr", Value::string("192.168.0.0/24"))
        ]
    ));
    assert!(!yes(
        "user_ip.in_cidr(cidr)",
        &[
            ("user_ip", ip("192.168.1.1")),
            ("cidr", Value::string("192.168.0.0/24"))
        ]
    ));
}

#[test]
fn spicedb_documentation_caveats() {
    // caveat has_valid_ip(user_ip ipaddress, allowed_range string)
    assert!(yes(
        "user_ip.in_cidr(allowed_range)",
        &[
            ("user_ip", ip("10.1.2.3")),
            ("allowed_range", Value::string("10.0.0.0/8"))
        ]
    ));
    assert!(yes("ipaddress('10.1.2.3') == ipaddress('10.1.2.3')", &[]));
    // caveat is_tuesday(today string)
    assert!(yes(
        "today == 'tuesday'",
        &[("today", Value::string("tuesday"))]
    ));
    // caveat within_time_window(now timestamp, granted timestamp, window duration)
    let now = Value::Timestamp(Timestamp::parse("2024-05-01T12:00:00Z").unwrap());
    let granted = Value::Timestamp(Timestamp::parse("2024-05-01T11:30:00Z").unwrap());
    assert!(yes(
        "now - granted < duration('1h')",
        &[("now", now.clone()), ("granted", granted.clone())]
    ));
    assert!(!yes(
        "now < granted + duration('10m')",
        &[("now", now), ("granted", granted)]
    ));
    // Attribute lists and maps.
    let attrs = Value::Map(Arc::new(
        Map::new(vec![
            (Key::String("department".into()), Value::string("eng")),
            (Key::String("level".into()), Value::Int(3)),
        ])
        .unwrap(),
    ));
    assert!(yes(
        "attrs.department in ['eng', 'ops'] && attrs.level >= 3 && has(attrs.level) && !has(attrs.team)",
        &[("attrs", attrs)]
    ));
    let tags = Value::list(vec![Value::string("beta"), Value::string("internal")]);
    assert!(yes(
        "tags.exists(t, t.startsWith('int'))",
        &[("tags", tags.clone())]
    ));
    assert!(yes(
        "tags.filter(t, t.size() == 4) == ['beta']",
        &[("tags", tags)]
    ));
    // uint and int compare by value, but never add silently.
    assert!(yes("count < 10u", &[("count", Value::Int(3))]));
    let p = Program::compile("count + 1u", Some(&["count"])).unwrap();
    let vars: BTreeMap<String, Value> = [("count".to_owned(), Value::Int(1))].into();
    let e = p.eval(&vars, DEFAULT_COST_LIMIT).unwrap_err();
    assert_eq!(e.code(), "no_matching_overload");
}
