//! Partial evaluation: a declared variable that was not supplied is unknown, and the answer names it
//! unless the rest of the expression decides anyway.

use std::collections::BTreeMap;

use tessera_cel::{EvalError, Outcome, Partial, Program, Value, DEFAULT_COST_LIMIT};

fn eval(source: &str, declared: &[&str], values: &[(&str, Value)]) -> Result<Outcome, EvalError> {
    let program = Program::compile(source, Some(declared)).unwrap();
    let vars = Partial {
        values: values
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        declared,
    };
    program.eval(&vars, DEFAULT_COST_LIMIT)
}

fn unknown(o: &Result<Outcome, EvalError>) -> Vec<String> {
    match o {
        Ok(Outcome::Unknown(names)) => names.iter().cloned().collect(),
        other => panic!("expected unknown, got {other:?}"),
    }
}

fn boolean(o: &Result<Outcome, EvalError>) -> bool {
    match o {
        Ok(Outcome::Value(Value::Bool(b))) => *b,
        other => panic!("expected a bool, got {other:?}"),
    }
}

#[test]
fn a_missing_variable_is_named() {
    let o = eval("x < 100", &["x"], &[]);
    assert_eq!(unknown(&o), ["x"]);
    assert!(boolean(&eval("x < 100", &["x"], &[("x", Value::Int(10))])));
}

#[test]
fn a_decided_operand_absorbs_an_unknown_one() {
    let declared = ["x", "y"];
    // false && unknown = false; true || unknown = true, from either side.
    assert!(!boolean(&eval(
        "x < 100 && y < 50",
        &declared,
        &[("x", Value::Int(101))]
    )));
    assert!(!boolean(&eval(
        "y < 50 && x < 100",
        &declared,
        &[("x", Value::Int(101))]
    )));
    assert!(boolean(&eval(
        "x < 100 || y < 50",
        &declared,
        &[("x", Value::Int(1))]
    )));
    assert!(boolean(&eval(
        "y < 50 || x < 100",
        &declared,
        &[("x", Value::Int(1))]
    )));
    // Undecided: every missing name.
    assert_eq!(
        unknown(&eval("x < 100 || y < 50", &declared, &[])),
        ["x", "y"]
    );
    assert_eq!(
        unknown(&eval(
            "x < 100 && y < 50",
            &declared,
            &[("x", Value::Int(1))]
        )),
        ["y"]
    );
}

#[test]
fn unknowns_win_over_errors_and_lose_to_decisions() {
    let declared = ["x", "y"];
    // 1/0 errs, but the unknown operand could still make the whole true.
    assert_eq!(unknown(&eval("1 / 0 == 1 || y", &declared, &[])), ["y"]);
    assert!(boolean(&eval("1 / 0 == 1 || true", &declared, &[])));
    let err = eval("1 / 0 == 1 || false", &declared, &[]);
    assert!(matches!(err, Err(EvalError::DivideByZero)), "{err:?}");
}

#[test]
fn unknowns_flow_through_functions_conditionals_and_macros() {
    let declared = ["x", "ys", "flag"];
    assert_eq!(unknown(&eval("size(ys) > x", &declared, &[])), ["x", "ys"]);
    assert_eq!(unknown(&eval("flag ? 1 : 2", &declared, &[])), ["flag"]);
    let ys = Value::list(vec![Value::Int(1), Value::Int(5)]);
    assert_eq!(
        unknown(&eval(
            "ys.exists(y, y > x)",
            &declared,
            &[("ys", ys.clone())]
        )),
        ["x"]
    );
    assert!(boolean(&eval(
        "ys.exists(y, y == 5 || y > x)",
        &declared,
        &[("ys", ys)]
    )));
}

#[test]
fn names_are_checked_against_the_declaration() {
    let e = Program::compile("x < limit", Some(&["x"])).unwrap_err();
    assert!(e.message.contains("`limit`"), "{e}");
    let e = Program::compile("x.matches('a+')", Some(&["x"])).unwrap_err();
    assert!(e.message.contains("regular expressions"), "{e}");
    let e = Program::compile("nosuch(x)", Some(&["x"])).unwrap_err();
    assert!(e.message.contains("unknown function `nosuch`"), "{e}");
    // Comprehension variables are bound, not free.
    let p = Program::compile("xs.all(x, x > 0)", Some(&["xs"])).unwrap();
    assert_eq!(p.free_names().iter().collect::<Vec<_>>(), ["xs"]);
}
