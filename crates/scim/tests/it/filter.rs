//! RFC 7644 §3.4.2.2: every filter example of the section, evaluated on sample users as the RFC
//! describes them; operators, case, `caseExact`, numbers, date-times, errors with positions, pushdown.

use serde_json::{json, Value};
use tessera_scim::filter::{FilterErrorKind, MAX_FILTER_DEPTH};
use tessera_scim::schema::{AttrType, Attribute, ResourceType, Schema};
use tessera_scim::{compile_filter, parse_filter, user_resource_type};

use super::{ENTERPRISE, USER};

fn people() -> Vec<(&'static str, Value)> {
    vec![
        (
            "a",
            json!({"schemas": [USER, ENTERPRISE], "id": "a", "userName": "bjensen",
                   "name": {"familyName": "Jensen"}, "title": "Tour Guide", "userType": "Employee",
                   "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                              {"value": "babs@jensen.org", "type": "home"}],
                   "meta": {"lastModified": "2011-05-13T04:42:34Z"},
                   ENTERPRISE: {"employeeNumber": "701984"}}),
        ),
        (
            "b",
            // Modified at the same instant as "a", written with another offset.
            json!({"schemas": [USER], "id": "b", "userName": "JSmith", "name": {"familyName": "O'Malley"},
                   "userType": "Intern", "emails": [{"value": "js@example.org", "type": "home"}],
                   "ims": [{"value": "js@foo.com", "type": "xmpp"}],
                   "meta": {"lastModified": "2011-05-13T06:42:34+02:00"}}),
        ),
        (
            "c",
            json!({"schemas": [USER], "id": "c", "userName": "carol", "title": "", "userType": "Contractor",
                   "emails": [{"value": "carol@example.net", "type": "work"}],
                   "meta": {"lastModified": "2012-01-01T00:00:00Z"}}),
        ),
    ]
}

fn matching(filter: &str) -> Vec<&'static str> {
    let rt = user_resource_type();
    let f = compile_filter(filter, &rt).unwrap_or_else(|e| panic!("{filter}: {e}"));
    people()
        .into_iter()
        .filter(|(_, r)| f.matches(r))
        .map(|(id, _)| id)
        .collect()
}

#[test]
fn rfc7644_section_3_4_2_2_examples() {
    let cases: &[(&str, &[&str])] = &[
        (r#"userName eq "bjensen""#, &["a"]),
        (r#"name.familyName co "O'Malley""#, &["b"]),
        (r#"userName sw "J""#, &["b"]),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            &["b"],
        ),
        ("title pr", &["a"]),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, &["c"]),
        (
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            &["a", "b", "c"],
        ),
        (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, &[]),
        (
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            &["a", "b"],
        ),
        (r#"title pr and userType eq "Employee""#, &["a"]),
        (r#"title pr or userType eq "Intern""#, &["a", "b"]),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            &["a"],
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            &["a"],
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            &["c"],
        ),
        (
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            &["a"],
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            &["a"],
        ),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            &["a", "b"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(matching(filter), *expected, "{filter}");
    }
}

#[test]
fn keywords_and_names_in_any_case_values_by_case_exact() {
    assert_eq!(matching(r#"USERNAME EQ "BJENSEN""#), ["a"]);
    assert_eq!(matching(r#"userName Sw "j" AND NOT(title Pr)"#), ["b"]);
    // `id` and `externalId` are caseExact.
    assert_eq!(matching(r#"id eq "A""#), Vec::<&str>::new());
    assert_eq!(matching(r#"id eq "a""#), ["a"]);
    // An extension attribute with and without its URN.
    assert_eq!(
        matching(&format!(r#"{ENTERPRISE}:employeeNumber eq "701984""#)),
        ["a"]
    );
    assert_eq!(matching(r#"employeeNumber eq "701984""#), ["a"]);
    // `ne` is the negation of `eq`, absent attributes included; `eq null` is "absent".
    assert_eq!(matching(r#"title ne "Tour Guide""#), ["b", "c"]);
    assert_eq!(matching("title eq null"), ["b", "c"]);
    assert_eq!(matching("title ne null"), ["a"]);
    // Any value of a multi-valued attribute may match.
    assert_eq!(matching(r#"emails.type eq "home""#), ["a", "b"]);
    // `and` binds tighter than `or`.
    assert_eq!(
        matching(r#"userName eq "carol" or userName eq "bjensen" and title eq "x""#),
        ["c"]
    );
}

fn gadget_type() -> ResourceType {
    let mut rt = user_resource_type();
    rt.schema = Schema {
        id: "urn:example:Gadget",
        name: "Gadget",
        description: "",
        attributes: vec![
            Attribute::new("weight", AttrType::Decimal, ""),
            Attribute::new("count", AttrType::Integer, ""),
            Attribute::new("blob", AttrType::Binary, ""),
        ],
    };
    rt.extensions.clear();
    rt
}

#[test]
fn numbers_compare_numerically() {
    let rt = gadget_type();
    let g = json!({"weight": 10.5, "count": 9});
    let yes = |f: &str| compile_filter(f, &rt).unwrap().matches(&g);
    assert!(
        yes("weight gt 9.75") && yes("weight lt 100") && yes("count ge 9") && yes("count lt 10")
    );
    assert!(yes("weight eq 10.5") && !yes("count gt 10"));
    assert!(!yes("count gt 9"));
    let err = |f: &str| compile_filter(f, &rt).unwrap_err().kind;
    assert_eq!(err(r#"count eq "9""#), FilterErrorKind::TypeMismatch);
    assert_eq!(err("count eq 9.5"), FilterErrorKind::TypeMismatch);
    assert_eq!(err("weight co 1"), FilterErrorKind::TypeMismatch);
    assert_eq!(err(r#"blob gt "x""#), FilterErrorKind::TypeMismatch);
}

#[test]
fn errors_say_where() {
    let rt = user_resource_type();
    let err = |f: &str| compile_filter(f, &rt).unwrap_err();
    let e = err(r#"userName eq"#);
    assert_eq!((e.kind, e.position), (FilterErrorKind::Syntax, 11));
    let e = err(r#"userName xx "a""#);
    assert_eq!((e.kind, e.position), (FilterErrorKind::Syntax, 9));
    let e = err(r#"title pr and shoeSize eq "9""#);
    assert_eq!(
        (e.kind, e.position),
        (FilterErrorKind::UnknownAttribute, 13)
    );
    assert_eq!(err(r#"active co "t""#).kind, FilterErrorKind::TypeMismatch);
    assert_eq!(
        err(r#"active eq "true""#).kind,
        FilterErrorKind::TypeMismatch
    );
    assert_eq!(err(r#"userName gt 3"#).kind, FilterErrorKind::TypeMismatch);
    assert_eq!(
        err(r#"meta.lastModified gt "yesterday""#).kind,
        FilterErrorKind::TypeMismatch
    );
    // A write-only attribute would be an oracle.
    assert_eq!(
        err(r#"password eq "hunter2""#).kind,
        FilterErrorKind::UnknownAttribute
    );
    for bad in [
        r#"emails[type eq "work""#,
        r#"emails[ims[type eq "x"]]"#,
        r#"not userName eq "x""#,
        r#"userName eq "x" and"#,
        r#"(userName eq "x""#,
        r#"userName eq "x")"#,
        r#"userName eq bjensen"#,
        r#"emails[type eq "work"].value eq "x""#,
        "",
    ] {
        assert_eq!(err(bad).kind, FilterErrorKind::Syntax, "{bad}");
    }
    let body = tessera_scim::error_body(&err("userName eq"));
    assert_eq!(body["scimType"], "invalidFilter");
    assert_eq!(body["status"], "400");
}

#[test]
fn depth_and_size_limits() {
    let nested = |n: usize| format!("{}userName pr{}", "(".repeat(n), ")".repeat(n));
    assert!(parse_filter(&nested(MAX_FILTER_DEPTH as usize)).is_ok());
    let e = parse_filter(&nested(MAX_FILTER_DEPTH as usize + 1)).unwrap_err();
    assert_eq!(e.kind, FilterErrorKind::TooComplex);
    let nots = format!("{}userName pr{}", "not (".repeat(2000), ")".repeat(2000));
    assert_eq!(
        parse_filter(&nots).unwrap_err().kind,
        FilterErrorKind::TooComplex
    );
    let long = format!(r#"userName eq "{}""#, "x".repeat(5000));
    assert_eq!(
        parse_filter(&long).unwrap_err().kind,
        FilterErrorKind::TooComplex
    );
    let many = vec!["title pr"; 65].join(" or ");
    assert_eq!(
        parse_filter(&many).unwrap_err().kind,
        FilterErrorKind::TooComplex
    );
    assert!(parse_filter(&vec!["title pr"; 64].join(" or ")).is_ok());
}

#[test]
fn escaped_strings() {
    let rt = user_resource_type();
    let f = compile_filter(r#"displayName eq "Babs \"B\" J\u00e9nsen""#, &rt).unwrap();
    assert!(f.matches(&json!({"displayName": "babs \"b\" jénsen"})));
}

#[test]
fn pushdown_takes_the_and_spine() {
    let rt = user_resource_type();
    let p = compile_filter(r#"userName eq "BJensen" and active eq true"#, &rt)
        .unwrap()
        .pushdown();
    let eq = p.on("userName").unwrap();
    assert_eq!((eq.value.as_str(), eq.case_exact), ("bjensen", false));
    assert!(!p.complete);
    let p = compile_filter(r#"externalId eq "X1" and id eq "abc""#, &rt)
        .unwrap()
        .pushdown();
    assert_eq!(p.equalities.len(), 2);
    assert!(p.complete && p.on("externalId").unwrap().case_exact);
    let p = compile_filter(r#"emails[type eq "work" and value eq "a@x.org"]"#, &rt)
        .unwrap()
        .pushdown();
    assert_eq!(p.on("emails.value").unwrap().value, "a@x.org");
    assert!(!p.complete);
    let p = compile_filter(r#"emails.value eq "a@x.org""#, &rt)
        .unwrap()
        .pushdown();
    assert_eq!(p.on("emails.value").unwrap().value, "a@x.org");
    let p = compile_filter(&format!(r#"{ENTERPRISE}:employeeNumber eq "7""#), &rt)
        .unwrap()
        .pushdown();
    assert_eq!(p.equalities[0].path, format!("{ENTERPRISE}:employeeNumber"));
    // Nothing under `or` or `not` is a necessary condition.
    let p = compile_filter(r#"userName eq "a" or userName eq "b""#, &rt)
        .unwrap()
        .pushdown();
    assert!(p.equalities.is_empty() && !p.complete);
    let p = compile_filter(r#"not (userName eq "a")"#, &rt)
        .unwrap()
        .pushdown();
    assert!(p.equalities.is_empty());
}
