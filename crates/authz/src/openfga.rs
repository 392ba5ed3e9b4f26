//! Import of OpenFGA authorization models (the JSON form of schema 1.1, as the OpenFGA API and
//! `fga model transform` produce it) into Tessera's schema language, so the same engine answers for them.
//!
//! The mapping:
//! - a type becomes a `definition`;
//! - a relation whose rewrite is just `this` becomes a `relation` with its directly related types
//!   (`user`, `group#member`, `user:*`);
//! - a relation without `this` becomes a `permission` (`computedUserset` → the name, `tupleToUserset` →
//!   `tupleset->relation`, `union`/`intersection`/`difference` → `+`/`&`/`-`);
//! - a relation that is both (`define viewer: [user] or editor`) becomes a relation with a rewrite,
//!   `relation viewer: user = (this + editor)`, where `this` is its stored relationships.
//!
//! - a condition (`condition c(x: int) { x < 100 }`) becomes a strict caveat with the same parameters
//!   and expression (`caveat c(x int) strict { x < 100 }`: like OpenFGA, it needs every parameter before
//!   it is evaluated), and `[user with c]` the allowed subject `user with c`: conditions are caveats,
//!   evaluated by the same engine.
//!
//! The result is returned as schema text and then parsed and validated like any schema, so every rule of
//! [`crate::parse_schema`] applies to imported models too.

use std::fmt::Write as _;
use tessera_proto::Code;

use serde_json::{Map, Value};

/// Why a model could not be imported. `path` locates the offending part (`type_definitions[2].relations.viewer`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    pub kind: ImportErrorKind,
    pub path: String,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportErrorKind {
    /// Not JSON, or not the shape of an authorization model.
    Malformed,
    /// A feature Tessera does not support yet (conditions, schema 1.0).
    Unsupported,
    /// The model maps, but the result is not a valid schema.
    Invalid,
}

impl ImportError {
    /// Stable machine-readable code.
    #[must_use]
    pub fn code(&self) -> Code {
        match self.kind {
            ImportErrorKind::Malformed => Code::ModelMalformed,
            ImportErrorKind::Unsupported => Code::ModelUnsupported,
            ImportErrorKind::Invalid => Code::ModelInvalid,
        }
    }
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "OpenFGA model: {}", self.message)
        } else {
            write!(f, "OpenFGA model at `{}`: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ImportError {}

fn fail<T>(
    kind: ImportErrorKind,
    path: &str,
    message: impl Into<String>,
) -> Result<T, ImportError> {
    Err(ImportError {
        kind,
        path: path.to_owned(),
        message: message.into(),
    })
}

fn malformed<T>(path: &str, message: impl Into<String>) -> Result<T, ImportError> {
    fail(ImportErrorKind::Malformed, path, message)
}

fn object<'v>(v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, ImportError> {
    v.as_object()
        .map_or_else(|| malformed(path, "expected an object"), Ok)
}

fn string<'v>(v: Option<&'v Value>, path: &str) -> Result<&'v str, ImportError> {
    match v.and_then(Value::as_str) {
        Some(s) => Ok(s),
        None => malformed(path, "expected a string"),
    }
}

/// A name as the schema language accepts it.
fn name<'v>(v: Option<&'v Value>, path: &str) -> Result<&'v str, ImportError> {
    let s = string(v, path)?;
    let ok = s.len() <= 64
        && s.bytes().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if ok {
        Ok(s)
    } else {
        fail(
            ImportErrorKind::Invalid,
            path,
            format!("`{s}`: names must be 1-64 of A-Z, a-z, 0-9, _ and start with a letter"),
        )
    }
}

/// Convert an OpenFGA model (JSON text; the model object itself, or `{"authorization_model": {...}}`) into
/// schema text, validated by parsing it.
///
/// # Errors
/// [`ImportError`] with the path of the first problem.
pub fn openfga_to_schema(json: &str) -> Result<String, ImportError> {
    let root: Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => return malformed("", format!("not JSON: {e}")),
    };
    let model = root.get("authorization_model").unwrap_or(&root);
    let model = object(model, "")?;
    match model.get("schema_version").and_then(Value::as_str) {
        Some("1.1") => {}
        Some(v) => {
            return fail(
                ImportErrorKind::Unsupported,
                "schema_version",
                format!("schema version {v} is not supported (only 1.1)"),
            )
        }
        None => return malformed("schema_version", "missing (expected \"1.1\")"),
    }
    let mut out = String::new();
    let mut expressions = Vec::new();
    match model.get("conditions") {
        None | Some(Value::Null) => {}
        Some(c) => {
            for (cname, condition) in object(c, "conditions")? {
                let (text, expression) = caveat_text(cname, condition)?;
                out.push_str(&text);
                expressions.push((cname.clone(), expression));
            }
        }
    }
    let Some(types) = model.get("type_definitions").and_then(Value::as_array) else {
        return malformed("type_definitions", "expected an array");
    };
    for (i, td) in types.iter().enumerate() {
        let path = format!("type_definitions[{i}]");
        let td = object(td, &path)?;
        let ty = name(td.get("type"), &format!("{path}.type"))?;
        let relations = match td.get("relations") {
            None | Some(Value::Null) => Map::new(),
            Some(v) => object(v, &format!("{path}.relations"))?.clone(),
        };
        let metadata = td
            .get("metadata")
            .and_then(|m| m.get("relations"))
            .and_then(Value::as_object);
        if relations.is_empty() {
            let _ = writeln!(out, "definition {ty} {{}}");
            continue;
        }
        let _ = writeln!(out, "definition {ty} {{");
        for (rel, userset) in &relations {
            let rpath = format!("{path}.relations.{rel}");
            name(Some(&Value::String(rel.clone())), &rpath)?;
            let direct = directly_related(metadata.and_then(|m| m.get(rel)), &path, rel)?;
            let mut has_this = false;
            let expr = userset_expr(userset, &rpath, &mut has_this)?;
            if is_this(userset) {
                if direct.is_empty() {
                    return fail(
                        ImportErrorKind::Invalid,
                        &rpath,
                        "a directly assignable relation needs at least one type",
                    );
                }
                let _ = writeln!(out, "    relation {rel}: {}", direct.join(" | "));
            } else if has_this {
                if direct.is_empty() {
                    return fail(
                        ImportErrorKind::Invalid,
                        &rpath,
                        "`this` without any directly related type",
                    );
                }
                let _ = writeln!(out, "    relation {rel}: {} = {expr}", direct.join(" | "));
            } else {
                if !direct.is_empty() {
                    return fail(
                        ImportErrorKind::Invalid,
                        &rpath,
                        "directly related types on a relation that cannot be assigned (no `this`)",
                    );
                }
                let _ = writeln!(out, "    permission {rel} = {expr}");
            }
        }
        out.push_str("}\n");
    }
    let schema = match crate::parse_schema(&out) {
        Ok(schema) => schema,
        Err(e) => return fail(ImportErrorKind::Invalid, "", e.to_string()),
    };
    // Each condition must come back as exactly its own caveat: an expression that closed its braces
    // early would otherwise end the caveat there and smuggle the rest in as schema.
    let intact = schema.caveats.len() == expressions.len()
        && expressions.iter().all(|(name, expression)| {
            schema
                .caveats
                .get(name)
                .is_some_and(|c| c.expression == expression.trim())
        });
    if !intact {
        return fail(
            ImportErrorKind::Invalid,
            "conditions",
            "a condition's expression does not stand on its own (unbalanced braces?)",
        );
    }
    Ok(out)
}

fn is_this(userset: &Value) -> bool {
    userset
        .as_object()
        .is_some_and(|o| o.len() == 1 && o.contains_key("this"))
}

/// `directly_related_user_types` as allowed-subject text: `user`, `group#member`, `user:*`.
fn directly_related(
    meta: Option<&Value>,
    path: &str,
    rel: &str,
) -> Result<Vec<String>, ImportError> {
    let path = format!("{path}.metadata.relations.{rel}.directly_related_user_types");
    let Some(list) = meta.and_then(|m| m.get("directly_related_user_types")) else {
        return Ok(Vec::new());
    };
    let Some(list) = list.as_array() else {
        return malformed(&path, "expected an array");
    };
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let tpath = format!("{path}[{i}]");
        let t = object(t, &tpath)?;
        let condition = match t.get("condition").and_then(Value::as_str) {
            Some(c) if !c.is_empty() => {
                Some(name(t.get("condition"), &format!("{tpath}.condition"))?)
            }
            _ => None,
        };
        let ty = name(t.get("type"), &format!("{tpath}.type"))?;
        let relation = t
            .get("relation")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty());
        let wildcard = t.get("wildcard").is_some_and(|w| !w.is_null());
        let subject = match (relation, wildcard) {
            (Some(_), true) => return malformed(&tpath, "both `relation` and `wildcard`"),
            (Some(r), false) => {
                name(
                    Some(&Value::String(r.to_owned())),
                    &format!("{tpath}.relation"),
                )?;
                format!("{ty}#{r}")
            }
            (None, true) => format!("{ty}:*"),
            (None, false) => ty.to_owned(),
        };
        out.push(match condition {
            Some(c) => format!("{subject} with {c}"),
            None => subject,
        });
    }
    Ok(out)
}

/// A condition as a caveat definition (`caveat name(param type, ...) strict { expression }`), and its
/// expression.
fn caveat_text(cname: &str, condition: &Value) -> Result<(String, String), ImportError> {
    let path = format!("conditions.{cname}");
    name(Some(&Value::String(cname.to_owned())), &path)?;
    let c = object(condition, &path)?;
    if let Some(inner) = c.get("name").and_then(Value::as_str) {
        if inner != cname {
            return fail(
                ImportErrorKind::Invalid,
                &format!("{path}.name"),
                format!("condition `{cname}` is named `{inner}` inside"),
            );
        }
    }
    let expression = string(c.get("expression"), &format!("{path}.expression"))?;
    let mut params = Vec::new();
    match c.get("parameters") {
        None | Some(Value::Null) => {}
        Some(p) => {
            for (pname, ty) in object(p, &format!("{path}.parameters"))? {
                let ppath = format!("{path}.parameters.{pname}");
                name(Some(&Value::String(pname.clone())), &ppath)?;
                params.push(format!("{pname} {}", condition_type(ty, &ppath)?));
            }
        }
    }
    Ok((
        format!(
            "caveat {cname}({}) strict {{\n    {expression}\n}}\n",
            params.join(", ")
        ),
        expression.to_owned(),
    ))
}

/// An OpenFGA condition parameter type (`TYPE_NAME_INT`, `TYPE_NAME_LIST` of `TYPE_NAME_STRING`, ...) in
/// the schema language (`int`, `list<string>`).
fn condition_type(ty: &Value, path: &str) -> Result<String, ImportError> {
    let t = object(ty, path)?;
    let type_name = string(t.get("type_name"), &format!("{path}.type_name"))?;
    let generic = |kind: &str| -> Result<String, ImportError> {
        let inner = t
            .get("generic_types")
            .and_then(Value::as_array)
            .and_then(|g| g.first());
        match inner {
            Some(inner) => Ok(format!(
                "{kind}<{}>",
                condition_type(inner, &format!("{path}.generic_types[0]"))?
            )),
            None => malformed(
                &format!("{path}.generic_types"),
                format!("a {kind} needs its element type"),
            ),
        }
    };
    Ok(match type_name {
        "TYPE_NAME_ANY" => "any".to_owned(),
        "TYPE_NAME_BOOL" => "bool".to_owned(),
        "TYPE_NAME_STRING" => "string".to_owned(),
        "TYPE_NAME_INT" => "int".to_owned(),
        "TYPE_NAME_UINT" => "uint".to_owned(),
        "TYPE_NAME_DOUBLE" => "double".to_owned(),
        "TYPE_NAME_DURATION" => "duration".to_owned(),
        "TYPE_NAME_TIMESTAMP" => "timestamp".to_owned(),
        "TYPE_NAME_IPADDRESS" => "ipaddress".to_owned(),
        "TYPE_NAME_LIST" => generic("list")?,
        "TYPE_NAME_MAP" => generic("map")?,
        other => {
            return fail(
                ImportErrorKind::Unsupported,
                &format!("{path}.type_name"),
                format!("condition parameter type `{other}` is not supported"),
            )
        }
    })
}

/// A userset rewrite as an expression; every compound is parenthesised, so precedence never matters.
fn userset_expr(v: &Value, path: &str, has_this: &mut bool) -> Result<String, ImportError> {
    let o = object(v, path)?;
    let mut keys = o.iter().filter(|(_, v)| !v.is_null());
    let (Some((key, body)), None) = (keys.next(), keys.next()) else {
        return malformed(path, "expected exactly one of this, computedUserset, tupleToUserset, union, intersection, difference");
    };
    let path = format!("{path}.{key}");
    match key.as_str() {
        "this" => {
            *has_this = true;
            Ok("this".to_owned())
        }
        "computedUserset" => {
            let b = object(body, &path)?;
            if b.get("object")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
            {
                return fail(
                    ImportErrorKind::Unsupported,
                    &path,
                    "`object` in a computed userset is not supported",
                );
            }
            Ok(name(b.get("relation"), &format!("{path}.relation"))?.to_owned())
        }
        "tupleToUserset" => {
            let b = object(body, &path)?;
            let ts = b.get("tupleset").and_then(|t| t.get("relation"));
            let cu = b.get("computedUserset").and_then(|t| t.get("relation"));
            let ts = name(ts, &format!("{path}.tupleset.relation"))?;
            let cu = name(cu, &format!("{path}.computedUserset.relation"))?;
            Ok(format!("{ts}->{cu}"))
        }
        "union" | "intersection" => {
            let Some(children) = body.get("child").and_then(Value::as_array) else {
                return malformed(&format!("{path}.child"), "expected an array");
            };
            if children.is_empty() {
                return malformed(&format!("{path}.child"), "expected at least one child");
            }
            let op = if key == "union" { " + " } else { " & " };
            let parts = children
                .iter()
                .enumerate()
                .map(|(i, c)| userset_expr(c, &format!("{path}.child[{i}]"), has_this))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(format!("({})", parts.join(op)))
        }
        "difference" => {
            let b = object(body, &path)?;
            let (Some(base), Some(sub)) = (b.get("base"), b.get("subtract")) else {
                return malformed(&path, "expected `base` and `subtract`");
            };
            let base = userset_expr(base, &format!("{path}.base"), has_this)?;
            let sub = userset_expr(sub, &format!("{path}.subtract"), has_this)?;
            Ok(format!("({base} - {sub})"))
        }
        other => malformed(&path, format!("unknown userset kind `{other}`")),
    }
}
