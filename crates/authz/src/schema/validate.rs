//! Validation of a parsed schema: names, types and relations that exist, arrows over relations, wildcards
//! reached through subject sets.

use super::parse::Spans;
use super::*;

pub(super) fn validate(schema: &Schema, spans: &Spans) -> Result<(), SchemaError> {
    for (caveat, line, column) in &spans.caveat_uses {
        if !schema.caveats.contains_key(caveat) {
            return Err(err(
                *line,
                *column,
                SchemaErrorKind::Invalid,
                if caveat == "expiration" {
                    "caveat `expiration` is not defined in the schema (for expiring relationships, \
                     begin the schema with `use expiration`)"
                        .to_owned()
                } else {
                    format!("caveat `{caveat}` is not defined in the schema")
                },
            ));
        }
    }
    for (def_name, def) in &schema.definitions {
        let at = |member: &str| {
            spans
                .members
                .get(&(def_name.clone(), member.to_owned()))
                .copied()
                .unwrap_or((1, 1))
        };
        for (rel_name, rel) in &def.relations {
            let (line, column) = at(rel_name);
            for allowed in rel.subject_types() {
                let (ty, member) = match allowed {
                    AllowedSubject::Object(t) | AllowedSubject::Wildcard(t) => (t, None),
                    AllowedSubject::Set(t, r) => (t, Some(r)),
                };
                let Some(target) = schema.definitions.get(ty) else {
                    return Err(err(
                        line,
                        column,
                        SchemaErrorKind::Invalid,
                        format!("`{def_name}#{rel_name}` allows unknown type `{ty}`"),
                    ));
                };
                if let Some(r) = member {
                    if !target.has(r) {
                        return Err(err(
                            line,
                            column,
                            SchemaErrorKind::Invalid,
                            format!("`{def_name}#{rel_name}` allows `{ty}#{r}`, but `{ty}` has no relation or permission `{r}`"),
                        ));
                    }
                    // Unlike SpiceDB, a subject set may reach a wildcard (`group#member` with
                    // `member: user:*`): the engine evaluates it exactly, and OpenFGA models rely on it.
                }
            }
        }
        for (perm_name, expr) in &def.permissions {
            let (line, column) = at(perm_name);
            validate_expr(schema, def_name, def, perm_name, expr, line, column)?;
        }
        for (rel_name, rel) in &def.relations {
            if let Some(expr) = &rel.rewrite {
                let (line, column) = at(rel_name);
                validate_expr(schema, def_name, def, rel_name, expr, line, column)?;
            }
        }
    }
    Ok(())
}

/// The wildcard type relation `ty#rel` admits, directly or through the relations of its subject sets, and
/// the relation that admits it.
fn wildcard_through(
    schema: &Schema,
    ty: &str,
    rel: &str,
    seen: &mut Vec<(String, String)>,
) -> Option<(String, String)> {
    let key = (ty.to_owned(), rel.to_owned());
    if seen.contains(&key) {
        return None;
    }
    seen.push(key);
    let relation = schema.definitions.get(ty)?.relations.get(rel)?;
    relation.subject_types().find_map(|a| match a {
        AllowedSubject::Wildcard(w) => Some((w.clone(), format!("{ty}#{rel}"))),
        AllowedSubject::Set(t, r) => wildcard_through(schema, t, r, seen),
        AllowedSubject::Object(_) => None,
    })
}

fn validate_expr(
    schema: &Schema,
    def_name: &str,
    def: &Definition,
    perm: &str,
    expr: &Expr,
    line: u32,
    column: u32,
) -> Result<(), SchemaError> {
    let invalid = |m: String| {
        err(
            line,
            column,
            SchemaErrorKind::Invalid,
            format!("in `{def_name}#{perm}`: {m}"),
        )
    };
    match expr {
        Expr::Nil | Expr::Direct(_) => Ok(()),
        Expr::Ref(name) => {
            if def.has(name) {
                Ok(())
            } else {
                Err(invalid(format!(
                    "`{def_name}` has no relation or permission `{name}`"
                )))
            }
        }
        Expr::Arrow {
            tupleset, target, ..
        } => {
            let Some(rel) = def.relations.get(tupleset) else {
                return Err(if def.permissions.contains_key(tupleset) {
                    invalid(format!(
                        "arrows must start from a relation, and `{tupleset}` is a permission"
                    ))
                } else {
                    invalid(format!("`{def_name}` has no relation `{tupleset}`"))
                });
            };
            if rel.rewrite.is_some() {
                return Err(invalid(format!(
                    "arrows must start from a relation without a rewrite, and `{tupleset}` has one"
                )));
            }
            if let Some((wild, via)) = wildcard_through(schema, def_name, tupleset, &mut Vec::new())
            {
                return Err(invalid(format!(
                    "arrow `{tupleset}->{target}` walks over the wildcard `{wild}:*` (via `{via}`)"
                )));
            }
            let mut found = false;
            for allowed in rel.subject_types() {
                match allowed {
                    AllowedSubject::Wildcard(t) => {
                        return Err(invalid(format!(
                            "arrow `{tupleset}->{target}` walks over the wildcard `{t}:*`"
                        )));
                    }
                    AllowedSubject::Object(t) | AllowedSubject::Set(t, _) => {
                        found |= schema.definitions.get(t).is_some_and(|d| d.has(target));
                    }
                }
            }
            if found {
                Ok(())
            } else {
                Err(invalid(format!("no type allowed in `{def_name}#{tupleset}` has a relation or permission `{target}`")))
            }
        }
        Expr::Union(a, b) | Expr::Intersection(a, b) | Expr::Exclusion(a, b) => {
            validate_expr(schema, def_name, def, perm, a, line, column)?;
            validate_expr(schema, def_name, def, perm, b, line, column)
        }
    }
}
