//! The schema language: what parses, how it is read, and the errors for what does not.

use tessera_authz::schema::{AllowedSubject, ArrowKind, Expr};
use tessera_authz::{parse_schema, SchemaError};

const DOCS: &str = r"
/** the classic example */
definition user {}

definition group {
    relation member: user | group#member
}

// folders nest
definition folder {
    relation parent: folder
    relation viewer: user | user:* | group#member
    permission view = viewer + parent->view
}

definition document {
    relation parent: folder; relation owner: user
    relation viewer: user | group#member | user:*
    relation banned: user
    permission edit = owner
    permission view = viewer + edit + parent.any(view) - banned
    permission strict = parent.all(view) & nil
}
";

fn fails(src: &str) -> SchemaError {
    parse_schema(src).expect_err("schema should be refused")
}

#[test]
fn parses_the_documents_example() {
    let s = parse_schema(DOCS).unwrap();
    assert_eq!(s.definitions.len(), 4);
    let doc = s.definition("document").unwrap();
    assert_eq!(
        doc.relations["viewer"].allowed,
        [
            AllowedSubject::Object("user".into()),
            AllowedSubject::Set("group".into(), "member".into()),
            AllowedSubject::Wildcard("user".into())
        ]
    );
    assert!(
        matches!(&doc.permissions["strict"], Expr::Intersection(a, b)
        if matches!(**a, Expr::Arrow { kind: ArrowKind::All, .. }) && **b == Expr::Nil)
    );
}

#[test]
fn precedence_follows_spicedb() {
    let s = parse_schema("definition u {}\ndefinition d { relation a: u\n relation b: u\n relation c: u\n permission p = a - b + c\n permission q = a + b & c\n permission r = a - b - c }").unwrap();
    let d = s.definition("d").unwrap();
    let r = |n: &str| Box::new(Expr::Ref(n.into()));
    // `+` binds tighter than `&`, which binds tighter than `-`; all left-associative.
    assert_eq!(
        d.permissions["p"],
        Expr::Exclusion(r("a"), Box::new(Expr::Union(r("b"), r("c"))))
    );
    assert_eq!(
        d.permissions["q"],
        Expr::Intersection(Box::new(Expr::Union(r("a"), r("b"))), r("c"))
    );
    assert_eq!(
        d.permissions["r"],
        Expr::Exclusion(Box::new(Expr::Exclusion(r("a"), r("b"))), r("c"))
    );
}

#[test]
fn prefixed_types_and_ellipsis() {
    let s = parse_schema(
        "definition acme/user {}\ndefinition acme/doc { relation viewer: acme/user#... }",
    )
    .unwrap();
    assert_eq!(
        s.definition("acme/doc").unwrap().relations["viewer"].allowed,
        [AllowedSubject::Object("acme/user".into())]
    );
}

#[test]
fn syntax_errors_say_where() {
    let e = fails("definition user {}\ndefinition doc {\n  relation viewer user\n}");
    assert_eq!(
        (e.line, e.column, e.code().as_str()),
        (3, 19, "schema_syntax")
    );
    assert!(e.message.contains("expected `:`"), "{e}");
    let e = fails("definition doc { permission view = viewer + }");
    assert_eq!(e.code(), "schema_syntax");
    assert!(
        e.message.contains("expected a relation or permission name"),
        "{e}"
    );
    let e = fails("definition _doc {}");
    assert!(e.message.contains("must start with a letter"), "{e}");
    let e = fails("definition doc { relation r: user ^ }");
    assert!(e.message.contains("unexpected character `^`"), "{e}");
    let e = fails("definition doc {} /* open");
    assert!(e.message.contains("unterminated"), "{e}");
    let e = fails("relation x: y");
    assert!(e.message.contains("expected `definition`"), "{e}");
    let e = fails("definition doc {");
    assert!(e.message.contains("the end of the schema"), "{e}");
}

#[test]
fn unsupported_features_are_refused_not_ignored() {
    for (src, says) in [
        (
            "definition user {}\ndefinition f { relation p: f\n relation v: user\n permission x = p->p->v }",
            "not supported yet",
        ),
        (
            "use typechecking\ndefinition user {}",
            "`use typechecking` is not supported",
        ),
    ] {
        let e = fails(src);
        assert_eq!(e.code(), "schema_unsupported", "{src}: {e}");
        assert!(e.message.contains(says), "{e}");
    }
}

#[test]
fn validation_errors() {
    let cases = [
        ("definition doc { relation viewer: usr }", "unknown type `usr`"),
        ("definition user {}\ndefinition doc { relation viewer: user#friend }", "has no relation or permission `friend`"),
        ("definition user {}\ndefinition doc { relation viewer: user\n permission view = viewr }", "no relation or permission `viewr`"),
        ("definition user {}\ndefinition doc { relation viewer: user\n permission v = viewer\n permission w = v->x }", "is a permission"),
        ("definition user {}\ndefinition doc { relation parent: user\n permission w = parent->view }", "no type allowed"),
        ("definition user {}\ndefinition doc { relation parent: user:*\n permission w = parent->x }", "wildcard"),
        ("definition user {}\ndefinition user {}", "defined twice"),
        ("definition user {}\ndefinition doc { relation viewer: user\n permission viewer = viewer }", "defined twice"),
    ];
    for (src, want) in cases {
        let e = fails(src);
        assert_eq!(e.code(), "schema_invalid", "{src}: {e}");
        assert!(e.message.contains(want), "{src}: {e}");
    }
    // Validation errors point at the member that is wrong.
    let e = fails("definition user {}\ndefinition doc {\n  relation viewer: user\n  permission view = viewr\n}");
    assert_eq!((e.line, e.column), (4, 14));
}

#[test]
fn wildcards_through_subject_sets() {
    // Accepted (SpiceDB refuses these; the engine evaluates them exactly and OpenFGA models use them) ...
    tessera_authz::parse_schema("definition user {}\ndefinition group {\n relation member: user | user:*\n}\ndefinition doc {\n relation viewer: group#member\n}").unwrap();
    // ... but, as in SpiceDB, an arrow may not walk a relation that reaches a wildcard through a subject set
    let e = fails("definition user {}\ndefinition doc {\n relation any: doc:*\n relation viewer: user\n relation parent: doc | doc#any\n permission view = parent->viewer\n}");
    assert!(e.message.contains("walks over the wildcard `doc:*`"), "{e}");
}

/// Regression: a caveat whose expression uses `<`, `'` or `!` stopped the lexer (`schema_syntax`) and
/// `use expiration` read as "expected `definition`". Caveats are now compiled (their expression read
/// between its braces, even with a `}` in a string), and expiration is SpiceDB's.
#[test]
fn caveats_compile_and_expiration_is_read_as_spicedb_does() {
    for (src, name, expression) in [
        (
            "definition user {}\n\ncaveat ip_allowlist(user_ip ipaddress, cidrs list<string>) {\n  cidrs.exists(c, user_ip.in_cidr(c))\n}",
            "ip_allowlist",
            "cidrs.exists(c, user_ip.in_cidr(c))",
        ),
        (
            "caveat on_weekday(day string, allowed map<list<int>>) {\n  day != 'saturday' && day != \"sunday\" && !(day in ['x}'])\n}\ndefinition user {}",
            "on_weekday",
            "day != 'saturday' && day != \"sunday\" && !(day in ['x}'])",
        ),
        (
            "caveat max_amount(amount uint, limit uint) { amount < limit && limit >= 0u }",
            "max_amount",
            "amount < limit && limit >= 0u",
        ),
    ] {
        let schema = tessera_authz::parse_schema(src).unwrap();
        assert_eq!(schema.caveats[name].expression, expression, "{src}");
    }
    let s = tessera_authz::parse_schema(
        "use expiration\n\ncaveat on_weekday(day string) { day != 'sunday' }\ndefinition user {}\n\
         definition doc {\n  relation viewer: user | user with expiration | user:* with on_weekday and expiration\n}",
    )
    .unwrap();
    let viewer = &s.definitions["doc"].relations["viewer"];
    assert_eq!(viewer.allowed.len(), 1);
    assert!(viewer.caveated.is_empty());
    assert_eq!(
        viewer.expiring,
        vec![
            (
                tessera_authz::schema::AllowedSubject::Object("user".into()),
                None
            ),
            (
                tessera_authz::schema::AllowedSubject::Wildcard("user".into()),
                Some("on_weekday".into())
            ),
        ]
    );
    assert!(viewer.allows_caveats());
    let cases: [(&str, (u32, u32), &str, &str); 5] = [
        (
            "definition user {}\ndefinition doc {\n  relation viewer: user with expiration\n}",
            (3, 25),
            "schema_invalid",
            "begin the schema with `use expiration`",
        ),
        (
            "definition user {}\nuse expiration\ndefinition doc {}",
            (2, 1),
            "schema_syntax",
            "must come before every definition",
        ),
        (
            "use caveats\ndefinition user {}",
            (1, 1),
            "schema_unsupported",
            "`use caveats` is not supported",
        ),
        (
            "use expiration\ncaveat c(x int) { x == 1 }\ndefinition user {}\ndefinition doc {\n  relation viewer: user with expiration and c\n}",
            (5, 25),
            "schema_invalid",
            "`expiration` comes last",
        ),
        (
            "use expiration\ncaveat c(x int) { x == 1 }\ncaveat d(x int) { x == 1 }\ndefinition user {}\ndefinition doc {\n  relation viewer: user with c and d and expiration\n}",
            (6, 25),
            "schema_invalid",
            "takes one caveat",
        ),
    ];
    for (src, at, code, message) in cases {
        let e = fails(src);
        assert_eq!(e.code(), code, "{src}: {e}");
        assert_eq!((e.line, e.column), at, "{src}: {e}");
        assert!(e.message.contains(message), "{src}: {e}");
        assert!(
            e.to_string().starts_with(&format!("{}:{}: ", at.0, at.1)),
            "{e}"
        );
    }
    // A malformed caveat is still a syntax error, and stray characters outside caveats still say so.
    for (src, message) in [
        (
            "caveat c(x int { x }",
            "expected `,` between caveat parameters",
        ),
        ("caveat c(x list<int) { x }", "expected `>`"),
        ("caveat c(x int) { x == 1 ", "is not closed"),
        (
            "definition doc { relation r: user < }",
            "unexpected character `<`",
        ),
        (
            "definition doc { relation r: 'user' }",
            "unexpected string literal",
        ),
    ] {
        let e = fails(src);
        assert_eq!(e.code(), "schema_syntax", "{src}: {e}");
        assert!(e.message.contains(message), "{src}: {e}");
    }
}

/// Hostile input: a schema nesting a million `(`, or chaining thousands of operators, overflowed the
/// parser's (or later the engine's) stack and aborted the process; expressions are bounded in height.
#[test]
fn expressions_are_bounded_in_height() {
    use tessera_authz::schema::MAX_EXPR_HEIGHT;
    let head = "definition user {}\ndefinition doc {\n relation r: user\n permission p = ";
    let deep = format!(
        "{head}{}r{} }}",
        "(".repeat(1_000_000),
        ")".repeat(1_000_000)
    );
    let e = fails(&deep);
    assert_eq!(e.code(), "schema_invalid", "{e}");
    assert!(e.message.contains("parentheses nest more than"), "{e}");
    let long = format!("{head}r{} }}", " + r".repeat(100_000));
    let e = fails(&long);
    assert_eq!(e.code(), "schema_invalid", "{e}");
    assert!(e.message.contains("nests more than"), "{e}");
    // At the bound: accepted, and the schema reports its height.
    let n = usize::try_from(MAX_EXPR_HEIGHT).unwrap() - 1;
    let at_bound = format!("{head}r{} }}", " + r".repeat(n));
    let s = parse_schema(&at_bound).unwrap();
    assert_eq!(s.expr_height(), MAX_EXPR_HEIGHT);
    let nested = format!("{head}{}r{} }}", "(".repeat(n), ")".repeat(n));
    assert_eq!(parse_schema(&nested).unwrap().expr_height(), 1);
}
