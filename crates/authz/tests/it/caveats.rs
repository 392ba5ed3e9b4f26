//! Caveats: the schema language's `caveat` definitions and `with` on allowed subjects, and checks that
//! are three-valued through union, intersection, exclusion and arrows. Several cases are SpiceDB's own
//! published bugs (GHSA-cwwm-hr97-qfxm, GHSA-jhg6-6qrx-38mr, GHSA-4vrg-r928-h5vv), kept as regressions
//! for this engine.

use std::collections::BTreeSet;

use tessera_authz::schema::{CaveatType, SchemaErrorKind};
use tessera_authz::{
    parse_schema, CheckError, Context, Engine, ObjectRef, Permissionship, Schema, SubjectRef,
};

use crate::{ready, Memory};

fn context(json: &str) -> Context {
    serde_json::from_str(json).unwrap()
}

fn ask(schema: &Schema, store: &Memory, q: &str, ctx: &str) -> Result<Permissionship, CheckError> {
    let (resource_perm, subject) = q.split_once('@').unwrap();
    let (resource, perm) = resource_perm.split_once('#').unwrap();
    let engine = Engine::new(schema, store);
    ready(engine.check_with_context(
        &resource.parse::<ObjectRef>().unwrap(),
        perm,
        &subject.parse::<SubjectRef>().unwrap(),
        &context(ctx),
    ))
}

fn missing(names: &[&str]) -> Permissionship {
    Permissionship::Conditional(
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<BTreeSet<_>>(),
    )
}

const IP_SCHEMA: &str = r#"
caveat ip_allowed(user_ip ipaddress, allowed_range string) {
    user_ip.in_cidr(allowed_range)
}
definition user {}
definition doc {
    relation viewer: user | user with ip_allowed
    permission view = viewer
}"#;

#[test]
fn caveats_parse_with_typed_parameters() {
    let s = parse_schema(
        "caveat c(a int, b list<string>, m map<any>, t timestamp, d duration, u uint, x double, y bool, z bytes, w any) {
            a > 0 && b.size() > 0 && has(m.k) && t > timestamp('2020-01-01T00:00:00Z') && d > duration('1s')
        }
        definition user {}
        definition doc { relation viewer: user with c }",
    )
    .unwrap();
    let c = &s.caveats["c"];
    assert_eq!(
        c.params["b"],
        CaveatType::List(Box::new(CaveatType::String))
    );
    assert_eq!(c.params["m"], CaveatType::Map(Box::new(CaveatType::Any)));
    assert!(c.expression.starts_with("a > 0"));
    let viewer = &s.definitions["doc"].relations["viewer"];
    assert!(viewer.allowed.is_empty());
    assert_eq!(viewer.caveated.len(), 1);
}

#[test]
fn bad_caveats_are_refused_with_their_position() {
    let refused = |src: &str, kind: SchemaErrorKind, says: &str| {
        let e = parse_schema(src).unwrap_err();
        assert_eq!(e.kind, kind, "{src}: {e}");
        assert!(e.message.contains(says), "{src}: {e}");
    };
    refused(
        "definition user {} definition doc { relation viewer: user with nope }",
        SchemaErrorKind::Invalid,
        "caveat `nope` is not defined",
    );
    refused(
        "caveat c(x int) { y > 1 } definition user {}",
        SchemaErrorKind::Invalid,
        "undeclared reference to `y`",
    );
    refused(
        "caveat c(x int) { x > } definition user {}",
        SchemaErrorKind::Invalid,
        "the expression of caveat `c`",
    );
    refused(
        "caveat c(x float) { x > 1 } definition user {}",
        SchemaErrorKind::Invalid,
        "`float` is not a caveat parameter type",
    );
    refused(
        "caveat c(x int, x int) { x > 1 } definition user {}",
        SchemaErrorKind::Invalid,
        "declared twice",
    );
    refused(
        "caveat c(x int) { x > 1 } caveat c(x int) { x > 2 } definition user {}",
        SchemaErrorKind::Invalid,
        "caveat `c` is defined twice",
    );
    refused(
        "caveat c(x list) { true } definition user {}",
        SchemaErrorKind::Syntax,
        "takes a type parameter",
    );
    refused(
        "caveat c(x int) { x.matches('a') } definition user {}",
        SchemaErrorKind::Invalid,
        "regular expressions",
    );
    refused(
        "definition user {} definition doc { relation viewer: user with expiration }",
        SchemaErrorKind::Invalid,
        "begin the schema with `use expiration`",
    );
    let e = parse_schema("definition user {}\ncaveat c(x int) {\n  x >\n}").unwrap_err();
    assert_eq!((e.line, e.column), (2, 17), "{e}");
}

#[test]
fn a_caveated_relationship_counts_only_while_its_caveat_holds() {
    let s = parse_schema(IP_SCHEMA).unwrap();
    let m = Memory::with_caveats(&[
        r#"doc:1#viewer@user:ann[ip_allowed:{"allowed_range":"10.0.0.0/8"}]"#,
        "doc:1#viewer@user:bob",
    ]);
    let q = "doc:1#view@user:ann";
    assert_eq!(
        ask(&s, &m, q, r#"{"user_ip":"10.1.2.3"}"#),
        Ok(Permissionship::Has)
    );
    assert_eq!(
        ask(&s, &m, q, r#"{"user_ip":"192.168.0.1"}"#),
        Ok(Permissionship::No)
    );
    assert_eq!(ask(&s, &m, q, "{}"), Ok(missing(&["user_ip"])));
    // The relationship's context wins over the request's.
    assert_eq!(
        ask(
            &s,
            &m,
            q,
            r#"{"user_ip":"10.1.2.3","allowed_range":"0.0.0.0/0"}"#
        ),
        Ok(Permissionship::Has)
    );
    assert_eq!(
        ask(
            &s,
            &m,
            q,
            r#"{"user_ip":"11.1.2.3","allowed_range":"0.0.0.0/0"}"#
        ),
        Ok(Permissionship::No)
    );
    // An uncaveated relationship needs no context; a plain check of a conditional answer is a no.
    assert_eq!(
        ask(&s, &m, "doc:1#view@user:bob", "{}"),
        Ok(Permissionship::Has)
    );
    let engine = Engine::new(&s, &m);
    let plain = ready(engine.check(
        &"doc:1".parse().unwrap(),
        "view",
        &"user:ann".parse().unwrap(),
    ));
    assert_eq!(plain, Ok(false));
}

#[test]
fn context_of_the_wrong_type_and_failing_expressions_are_errors() {
    let s = parse_schema(
        "caveat c(n int, d int) { n / d > 1 }
         definition user {}
         definition doc { relation viewer: user with c }",
    )
    .unwrap();
    let m = Memory::with_caveats(&["doc:1#viewer@user:ann[c]"]);
    let q = "doc:1#viewer@user:ann";
    let e = ask(&s, &m, q, r#"{"n":"ten","d":1}"#).unwrap_err();
    assert_eq!(e.code().as_str(), "caveat_context_invalid", "{e}");
    assert!(e.to_string().contains("`n`"), "{e}");
    let e = ask(&s, &m, q, r#"{"n":10,"d":0}"#).unwrap_err();
    assert_eq!(e.code().as_str(), "caveat_failed", "{e}");
    // 64-bit integers may come as strings.
    assert_eq!(
        ask(&s, &m, q, r#"{"n":"9007199254740993","d":2}"#),
        Ok(Permissionship::Has)
    );
}

#[test]
fn three_valued_through_union_intersection_and_exclusion() {
    // GHSA-4vrg-r928-h5vv: a subject reaching an intersection/exclusion through a caveated branch must
    // get a conditional answer, never an unconditional one.
    let s = parse_schema(
        "caveat some_caveat(somecondition int) { somecondition == 42 }
         definition user {}
         definition document {
             relation reader: user | user with some_caveat
             relation writer: user
             relation banned: user | user with some_caveat
             permission has_permission = (reader & writer) - banned
             permission either = reader + writer
         }",
    )
    .unwrap();
    let m = Memory::with_caveats(&[
        "document:firstdoc#reader@user:caveatedreader[some_caveat]",
        "document:firstdoc#writer@user:caveatedreader",
        "document:firstdoc#reader@user:plain",
        "document:firstdoc#writer@user:plain",
        "document:firstdoc#banned@user:plain[some_caveat]",
    ]);
    let q = "document:firstdoc#has_permission@user:caveatedreader";
    assert_eq!(ask(&s, &m, q, "{}"), Ok(missing(&["somecondition"])));
    assert_eq!(
        ask(&s, &m, q, r#"{"somecondition":42}"#),
        Ok(Permissionship::Has)
    );
    assert_eq!(
        ask(&s, &m, q, r#"{"somecondition":41}"#),
        Ok(Permissionship::No)
    );
    // Banned under a caveat: conditional until known, then the caveat decides the other way round.
    let q = "document:firstdoc#has_permission@user:plain";
    assert_eq!(ask(&s, &m, q, "{}"), Ok(missing(&["somecondition"])));
    assert_eq!(
        ask(&s, &m, q, r#"{"somecondition":42}"#),
        Ok(Permissionship::No)
    );
    assert_eq!(
        ask(&s, &m, q, r#"{"somecondition":1}"#),
        Ok(Permissionship::Has)
    );
    // A union with an unconditional branch is unconditional.
    assert_eq!(
        ask(&s, &m, "document:firstdoc#either@user:caveatedreader", "{}"),
        Ok(Permissionship::Has)
    );
}

#[test]
fn caveats_on_arrows_and_on_subject_sets() {
    // GHSA-cwwm-hr97-qfxm: several caveated branches through arrows; maria reaches `read` through the
    // `admins` owner, whose caveat holds.
    let s = parse_schema(
        r#"definition user {}
        definition office {
            relation parent: office
            relation manager: user
            permission read = manager + parent->read
        }
        definition group {
            relation parent: office
            permission read = parent->read
        }
        definition document {
            relation owner: group with equals
            permission read = owner->read
        }
        caveat equals(actual string, required string) { actual == required }"#,
    )
    .unwrap();
    let m = Memory::with_caveats(&[
        "office:headoffice#manager@user:maria",
        "office:branch1#parent@office:headoffice",
        "group:admins#parent@office:branch1",
        "group:managers#parent@office:headoffice",
        r#"document:budget#owner@group:admins[equals:{"required":"admin"}]"#,
        r#"document:budget#owner@group:managers[equals:{"required":"manager"}]"#,
    ]);
    let q = "document:budget#read@user:maria";
    assert_eq!(
        ask(&s, &m, q, r#"{"actual":"admin"}"#),
        Ok(Permissionship::Has)
    );
    assert_eq!(
        ask(&s, &m, q, r#"{"actual":"manager"}"#),
        Ok(Permissionship::Has)
    );
    assert_eq!(
        ask(&s, &m, q, r#"{"actual":"intern"}"#),
        Ok(Permissionship::No)
    );
    assert_eq!(ask(&s, &m, q, "{}"), Ok(missing(&["actual"])));

    // GHSA-jhg6-6qrx-38mr: several caveated subject sets of one type on one relation.
    let s = parse_schema(
        "caveat somecaveat(somefield int) { somefield == 42 }
         definition user {}
         definition group { relation member: user }
         definition resource { relation viewer: group#member with somecaveat }",
    )
    .unwrap();
    let m = Memory::with_caveats(&[
        r#"resource:r#viewer@group:one#member[somecaveat:{"somefield":1}]"#,
        "resource:r#viewer@group:two#member[somecaveat]",
        "group:one#member@user:ann",
        "group:two#member@user:ann",
    ]);
    let q = "resource:r#viewer@user:ann";
    assert_eq!(
        ask(&s, &m, q, r#"{"somefield":42}"#),
        Ok(Permissionship::Has)
    );
    assert_eq!(ask(&s, &m, q, r#"{"somefield":7}"#), Ok(Permissionship::No));
    assert_eq!(ask(&s, &m, q, "{}"), Ok(missing(&["somefield"])));
}

#[test]
fn all_arrows_need_every_caveated_edge() {
    let s = parse_schema(
        "caveat on(flag bool) { flag }
         definition user {}
         definition folder { relation viewer: user }
         definition doc {
             relation parent: folder | folder with on
             permission view_all = parent.all(viewer)
         }",
    )
    .unwrap();
    let m = Memory::with_caveats(&[
        "doc:1#parent@folder:a",
        "doc:1#parent@folder:b[on]",
        "folder:a#viewer@user:ann",
        "folder:b#viewer@user:ann",
    ]);
    let q = "doc:1#view_all@user:ann";
    assert_eq!(ask(&s, &m, q, r#"{"flag":true}"#), Ok(Permissionship::Has));
    // The caveated edge does not exist when false: every remaining parent grants.
    assert_eq!(ask(&s, &m, q, r#"{"flag":false}"#), Ok(Permissionship::Has));
    // Present or not, folder:b grants: the answer does not hang on the caveat.
    assert_eq!(ask(&s, &m, q, "{}"), Ok(Permissionship::Has));
    let m = Memory::with_caveats(&[
        "doc:1#parent@folder:a",
        "doc:1#parent@folder:b[on]",
        "folder:a#viewer@user:ann",
    ]);
    // folder:b does not grant: only its caveat being false would let `all` through. Unknown, the
    // answer hangs on it (review finding: this was a plain no).
    assert_eq!(ask(&s, &m, q, r#"{"flag":true}"#), Ok(Permissionship::No));
    assert_eq!(ask(&s, &m, q, r#"{"flag":false}"#), Ok(Permissionship::Has));
    assert_eq!(ask(&s, &m, q, "{}"), Ok(missing(&["flag"])));
    // Only caveated parents, all granting: `all` needs at least one of them present.
    let m = Memory::with_caveats(&["doc:1#parent@folder:b[on]", "folder:b#viewer@user:ann"]);
    assert_eq!(ask(&s, &m, q, "{}"), Ok(missing(&["flag"])));
    assert_eq!(ask(&s, &m, q, r#"{"flag":true}"#), Ok(Permissionship::Has));
    assert_eq!(ask(&s, &m, q, r#"{"flag":false}"#), Ok(Permissionship::No));
    // Its only parent cannot grant: present, it denies; absent, there is no parent. No either way
    // (found by the SpiceDB differential: this was conditional).
    let m = Memory::with_caveats(&["doc:1#parent@folder:b[on]"]);
    assert_eq!(ask(&s, &m, q, "{}"), Ok(Permissionship::No));
}

/// Review finding: a failure recorded for the whole request failed checks it did not decide. In
/// `(a & c) + d` with a's caveat failing, c denying and d missing `x`, the answer is conditional on `x`.
#[test]
fn a_failure_counts_only_on_the_path_it_is_on() {
    let s = parse_schema(
        "caveat t(ts timestamp) { ts < timestamp('2030-01-01T00:00:00Z') }
         caveat x_ok(x int) { x > 0 }
         definition user {}
         definition doc {
             relation a: user with t
             relation c: user
             relation d: user with x_ok
             permission p = (a & c) + d
         }",
    )
    .unwrap();
    let m = Memory::with_caveats(&["doc:1#a@user:ann[t]", "doc:1#d@user:ann[x_ok]"]);
    let q = "doc:1#p@user:ann";
    assert_eq!(ask(&s, &m, q, r#"{"ts":"never"}"#), Ok(missing(&["x"])));
    assert_eq!(
        ask(&s, &m, q, r#"{"ts":"never","x":1}"#),
        Ok(Permissionship::Has)
    );
}

/// Review finding: caveat text is lexed with CEL's string forms, so braces and quotes inside raw and
/// triple-quoted strings neither end the caveat nor swallow the schema after it.
#[test]
fn caveat_bodies_keep_cel_strings_whole() {
    let s = parse_schema(
        r#"caveat c(p string) { p != r'C:' && p != '''it's }''' && p != "}" }
        definition user {}
        definition doc { relation viewer: user with c }"#,
    )
    .unwrap();
    assert_eq!(
        s.caveats["c"].expression,
        r#"p != r'C:' && p != '''it's }''' && p != "}""#
    );
    let m = Memory::with_caveats(&["doc:1#viewer@user:ann[c]"]);
    assert_eq!(
        ask(&s, &m, "doc:1#viewer@user:ann", r#"{"p":"D:"}"#),
        Ok(Permissionship::Has)
    );
}

/// The reader contract: `subjects` never returns caveated relationships, so the paths that read it
/// (here `expand`, and relations whose schema allows no caveat) cannot count one as unconditional.
#[test]
fn a_caveated_relationship_is_never_read_as_a_plain_one() {
    let with = parse_schema(
        "caveat on(flag bool) { flag }
         definition user {}
         definition doc { relation viewer: user | user with on }",
    )
    .unwrap();
    let without =
        parse_schema("definition user {}\ndefinition doc { relation viewer: user }").unwrap();
    let m = Memory::with_caveats(&["doc:1#viewer@user:ann[on]"]);
    assert_eq!(
        ask(&with, &m, "doc:1#viewer@user:ann", r#"{"flag":false}"#),
        Ok(Permissionship::No)
    );
    assert_eq!(
        ask(&without, &m, "doc:1#viewer@user:ann", "{}"),
        Ok(Permissionship::No)
    );
}

#[test]
fn strict_caveats_need_every_parameter_first() {
    // OpenFGA's conditions (imported as `strict` caveats) are not evaluated partially.
    let partial = parse_schema(
        "caveat c(x int, y int) { x < 100 || y < 50 }
         definition user {}
         definition doc { relation viewer: user with c }",
    )
    .unwrap();
    let strict = parse_schema(
        "caveat c(x int, y int) strict { x < 100 || y < 50 }
         definition user {}
         definition doc { relation viewer: user with c }",
    )
    .unwrap();
    assert!(strict.caveats["c"].strict && !partial.caveats["c"].strict);
    let m = Memory::with_caveats(&["doc:1#viewer@user:ann[c]"]);
    let q = "doc:1#viewer@user:ann";
    assert_eq!(ask(&partial, &m, q, r#"{"x":10}"#), Ok(Permissionship::Has));
    assert_eq!(ask(&strict, &m, q, r#"{"x":10}"#), Ok(missing(&["y"])));
    assert_eq!(
        ask(&strict, &m, q, r#"{"x":101,"y":51}"#),
        Ok(Permissionship::No)
    );
    assert_eq!(
        ask(&strict, &m, q, r#"{"x":101,"y":5}"#),
        Ok(Permissionship::Has)
    );
}

#[test]
fn a_failing_caveat_fails_the_check_only_when_the_answer_depends_on_it() {
    let s = parse_schema(
        "caveat before(ts timestamp) { ts < timestamp('2030-01-01T00:00:00Z') }
         definition user {}
         definition doc {
             relation viewer: user | user with before
             relation editor: user
             permission view = viewer + editor
             permission both = viewer & editor
         }",
    )
    .unwrap();
    let m = Memory::with_caveats(&[
        "doc:1#viewer@user:ann[before]",
        "doc:1#editor@user:ann",
        "doc:1#viewer@user:bob[before]",
    ]);
    let bad = r#"{"ts":"not a time"}"#;
    // Another path grants: the broken context does not matter.
    assert_eq!(
        ask(&s, &m, "doc:1#view@user:ann", bad),
        Ok(Permissionship::Has)
    );
    // An intersection already denied by its other side does not need it either.
    assert_eq!(
        ask(&s, &m, "doc:1#both@user:bob", bad),
        Ok(Permissionship::No)
    );
    // Where the answer hangs on it, the check fails with the caveat's error.
    let e = ask(&s, &m, "doc:1#view@user:bob", bad).unwrap_err();
    assert_eq!(e.code().as_str(), "caveat_context_invalid", "{e}");
    let e = ask(&s, &m, "doc:1#both@user:ann", bad).unwrap_err();
    assert!(e.to_string().contains("`ts`"), "{e}");
}
