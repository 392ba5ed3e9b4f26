//! A hostile expression or input stops at a bound with a clear error: nesting, size, cost.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tessera_cel::{parse, EvalError, Program, Value, DEFAULT_COST_LIMIT};

#[test]
fn deep_nesting_is_refused_at_compile_time() {
    let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
    let e = Program::compile(&deep, None).unwrap_err();
    assert!(e.message.contains("nests deeper"), "{e}");
    let nested_lists = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    assert!(Program::compile(&nested_lists, None).is_err());
    // cel-spec asks for at least 12 levels and 32 repeats: these are fine.
    let ok = format!(
        "{}1{}",
        "(".repeat(parse::MAX_DEPTH as usize / 2),
        ")".repeat(parse::MAX_DEPTH as usize / 2)
    );
    assert!(Program::compile(&ok, None).is_ok());
    let many = vec!["1"; 32].join(" + ");
    assert!(Program::compile(&many, None).is_ok());
}

#[test]
fn a_huge_expression_is_refused() {
    let wide = format!("[{}]", vec!["1"; parse::MAX_NODES + 1].join(", "));
    let e = Program::compile(&wide, None).unwrap_err();
    assert!(e.message.contains("parts"), "{e}");
}

/// Regression: chains of operators, selections and unary operators built trees thousands deep without
/// passing the nesting limit (which counted parentheses only); evaluating or dropping them recursed as
/// deep. Every way to grow the tree counts now.
#[test]
fn tall_trees_are_refused_however_they_are_built() {
    let n = parse::MAX_HEIGHT as usize + 1;
    for source in [
        vec!["1"; n].join(" + "),
        vec!["true"; n].join(" || "),
        format!("{}true", "!".repeat(n)),
        format!("{}1", "- ".repeat(n)),
        format!("m{}", ".f".repeat(n)),
        format!("l{}", "[0]".repeat(n)),
        format!("x{}", ".size()".repeat(n)),
    ] {
        let e = Program::compile(&source, None).unwrap_err();
        assert!(e.message.contains("nests deeper"), "{source:.40}: {e}");
    }
    // Within the bound they compile.
    let n = parse::MAX_HEIGHT as usize - 2;
    assert!(Program::compile(&vec!["1"; n].join(" + "), None).is_ok());
    assert!(Program::compile(&format!("m{}", ".f".repeat(n)), None).is_ok());
}

#[test]
fn the_cost_limit_stops_quadratic_comprehensions() {
    let xs = Value::list((0..2_000).map(Value::Int).collect());
    let vars: BTreeMap<String, Value> = [("xs".to_owned(), xs)].into();
    let p = Program::compile("xs.all(x, xs.all(y, x + y >= 0))", Some(&["xs"])).unwrap();
    let r = p.eval(&vars, DEFAULT_COST_LIMIT);
    assert!(
        matches!(r, Err(EvalError::CostLimit(DEFAULT_COST_LIMIT))),
        "{r:?}"
    );
    assert_eq!(r.unwrap_err().code(), "cost_limit_exceeded");
    // `|| true` does not absorb running out: the evaluation is over.
    let p = Program::compile("xs.all(x, xs.all(y, x + y >= 0)) || true", Some(&["xs"])).unwrap();
    assert!(matches!(
        p.eval(&vars, DEFAULT_COST_LIMIT),
        Err(EvalError::CostLimit(_))
    ));
    // A linear pass fits.
    let p = Program::compile("xs.all(x, x >= 0)", Some(&["xs"])).unwrap();
    assert!(p.eval(&vars, DEFAULT_COST_LIMIT).is_ok());
}

#[test]
fn doubling_strings_runs_out_of_budget_not_memory() {
    // Each step doubles a string: without per-size costs this would allocate 2^25 bytes and more.
    let mut source = "'ab'".to_owned();
    for _ in 0..24 {
        source = format!("[{source}].map(s, s + s)[0]");
    }
    let p = Program::compile(&source, None).unwrap();
    let r = p.eval(&BTreeMap::new(), DEFAULT_COST_LIMIT);
    assert!(matches!(r, Err(EvalError::CostLimit(_))), "{r:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Arbitrary text never panics the compiler or the evaluator.
    #[test]
    fn arbitrary_input_never_panics(source in "[ -~\\n\\u{e9}\\u{1f600}]{0,80}") {
        if let Ok(p) = Program::compile(&source, None) {
            let _ = p.eval(&BTreeMap::new(), 10_000);
        }
    }

    /// Expressions built from CEL's own pieces never panic either.
    #[test]
    fn arbitrary_cel_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("1"), Just("-9223372036854775808"), Just("18446744073709551615u"), Just("1.5"), Just("'s'"),
        Just("b'\\xff'"), Just("[1, 2]"), Just("{'a': 1}"), Just("null"), Just("true"),
        Just("timestamp('2023-01-01T00:00:00Z')"), Just("duration('1h')"), Just("+"), Just("-"), Just("*"),
        Just("/"), Just("%"), Just("=="), Just("<"), Just("&&"), Just("||"), Just("!"), Just("?"), Just(":"),
        Just("("), Just(")"), Just("["), Just("]"), Just("."), Just("size"), Just("in"), Just("int"),
        Just("uint"), Just("double"), Just("string"), Just(".all(x, x)"), Just(".map(x, x + x)"),
        Just(".exists_one(x, true)"), Just("x"), Just(","),
    ], 0..24)) {
        let source = parts.join(" ");
        if let Ok(p) = Program::compile(&source, None) {
            let _ = p.eval(&BTreeMap::new(), 10_000);
        }
    }
}
