//! Listing resources (RFC 7644 §3.4.2): which attributes a response carries (`attributes`,
//! `excludedAttributes` and each attribute's `returned`; §3.9, RFC 7643 §7), the order (`sortBy`,
//! `sortOrder`; §3.4.2.3), the page (`startIndex`, `count`; §3.4.2.4) and the `ListResponse` body.
//!
//! Sorting by a multi-valued attribute uses its `primary` value, else its first (§3.4.2.3); resources
//! without a value come last when ascending and first when descending (§3.4.2.3: "they are ordered last
//! if ascending and first if descending"). Strings sort case-insensitively unless `caseExact`, numbers
//! numerically, `dateTime` values as instants.
//!
//! A projected resource's `schemas` lists only the schemas whose attributes it still carries (RFC 7643
//! §3: the namespaces "that define the attributes present in the current JSON structure"): an extension
//! whose attributes were all left out is not listed.

use core::cmp::Ordering;
use core::fmt;

use serde_json::{json, Map, Value};

use crate::error::{ScimError, ScimType};
use crate::filter::{get_ci, number_order};
use crate::schema::{split_attr_path, AttrRef, AttrType, Attribute, ResourceType, Returned};
use tessera_proto::rfc3339::parse_date_time;

/// The schema URI of a list response.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// A list parameter that cannot be honoured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListError {
    pub scim_type: ScimType,
    pub message: String,
}

impl ListError {
    fn new(scim_type: ScimType, message: impl Into<String>) -> Self {
        Self {
            scim_type,
            message: message.into(),
        }
    }

    /// A filter that would select more resources than the service computes (`tooMany`).
    #[must_use]
    pub fn too_many(limit: u64) -> Self {
        Self::new(
            ScimType::TooMany,
            format!("the filter selects more than {limit} resources"),
        )
    }
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ListError {}

impl ScimError for ListError {
    fn scim_type(&self) -> Option<ScimType> {
        Some(self.scim_type)
    }
}

/// A resolved `attr[.sub]`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Selected {
    extension: Option<&'static str>,
    attr: &'static str,
    sub: Option<&'static str>,
}

fn select<'a>(
    text: &str,
    rt: &'a ResourceType,
) -> Result<(Selected, AttrRef<'a>, Option<&'a Attribute>), ListError> {
    let unknown = || {
        ListError::new(
            ScimType::InvalidPath,
            format!("`{text}` is not an attribute of {}", rt.name),
        )
    };
    let (urn, name, sub) = split_attr_path(text.trim()).ok_or_else(unknown)?;
    let at = rt.resolve(urn, name).ok_or_else(unknown)?;
    let sub = match sub {
        Some(s) => Some(at.attribute.sub(s).ok_or_else(unknown)?),
        None => None,
    };
    let selected = Selected {
        extension: at.extension,
        attr: at.attribute.name,
        sub: sub.map(|s| s.name),
    };
    Ok((selected, at, sub))
}

/// Which attributes a response carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Projection {
    mode: Mode,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Mode {
    #[default]
    Default,
    Only(Vec<Selected>),
    Except(Vec<Selected>),
}

impl Projection {
    /// From the `attributes` and `excludedAttributes` parameters (comma-separated paths).
    ///
    /// # Errors
    /// `invalidPath` for an unknown attribute, `invalidSyntax` when both parameters are given.
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
        rt: &ResourceType,
    ) -> Result<Self, ListError> {
        let list = |text: &str| -> Result<Vec<Selected>, ListError> {
            text.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| select(s, rt).map(|(sel, _, _)| sel))
                .collect()
        };
        let mode = match (attributes, excluded) {
            (Some(_), Some(_)) => {
                return Err(ListError::new(
                    ScimType::InvalidSyntax,
                    "`attributes` and `excludedAttributes` cannot be combined",
                ))
            }
            (Some(a), None) => Mode::Only(list(a)?),
            (None, Some(e)) => Mode::Except(list(e)?),
            (None, None) => Mode::Default,
        };
        Ok(Self { mode })
    }

    /// `resource` with only the attributes the response carries.
    #[must_use]
    pub fn apply(&self, resource: &Value, rt: &ResourceType) -> Value {
        let mut out = Map::new();
        for at in rt.all_attributes() {
            let attr = at.attribute;
            let base = match at.extension {
                Some(ext) => get_ci(resource, ext),
                None => Some(resource),
            };
            let Some(value) = base.and_then(|b| get_ci(b, attr.name)) else {
                continue;
            };
            let named: Vec<&Selected> = match &self.mode {
                Mode::Default => Vec::new(),
                Mode::Only(s) | Mode::Except(s) => s
                    .iter()
                    .filter(|s| s.extension == at.extension && s.attr == attr.name)
                    .collect(),
            };
            let kept = match (&self.mode, attr.returned) {
                (_, Returned::Never) => None,
                (_, Returned::Always) => Some(subs(attr, value, |_| true)),
                (Mode::Default, Returned::Request) => None,
                (Mode::Default, _) => Some(subs(attr, value, |s| s.returned != Returned::Request)),
                (Mode::Only(_), _) if named.is_empty() => None,
                (Mode::Only(_), _) if named.iter().any(|s| s.sub.is_none()) => {
                    Some(subs(attr, value, |_| true))
                }
                (Mode::Only(_), _) => Some(subs(attr, value, |s| {
                    s.returned == Returned::Always || named.iter().any(|n| n.sub == Some(s.name))
                })),
                (Mode::Except(_), Returned::Request) => None,
                (Mode::Except(_), _) if named.iter().any(|s| s.sub.is_none()) => None,
                (Mode::Except(_), _) => Some(subs(attr, value, |s| {
                    s.returned == Returned::Always
                        || (s.returned != Returned::Request
                            && !named.iter().any(|n| n.sub == Some(s.name)))
                })),
            };
            let Some(kept) = kept.filter(|v| !v.is_null()) else {
                continue;
            };
            let target = match at.extension {
                None => &mut out,
                Some(ext) => match out
                    .entry(ext.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                {
                    Some(m) => m,
                    None => continue,
                },
            };
            target.insert(attr.name.to_owned(), kept);
        }
        // `schemas` names the extensions whose attributes are still here, and no others (RFC 7643 §3).
        let dropped: Vec<&str> = rt
            .extensions
            .iter()
            .map(|e| e.schema.id)
            .filter(|ext| !out.contains_key(*ext))
            .collect();
        if let Some(Value::Array(schemas)) = out.get_mut("schemas") {
            schemas.retain(|s| {
                s.as_str()
                    .is_none_or(|s| !dropped.iter().any(|d| d.eq_ignore_ascii_case(s)))
            });
        }
        Value::Object(out)
    }
}

/// `value` (of `attr`) keeping the sub-attributes `keep` accepts and never those returned `never`.
fn subs(attr: &Attribute, value: &Value, keep: impl Fn(&Attribute) -> bool) -> Value {
    if attr.ty != AttrType::Complex {
        return value.clone();
    }
    let one = |v: &Value| -> Value {
        let Some(map) = v.as_object() else {
            return v.clone();
        };
        let kept: Map<String, Value> = map
            .iter()
            .filter(|(k, _)| {
                attr.sub(k)
                    .is_some_and(|s| s.returned != Returned::Never && keep(s))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if kept.is_empty() {
            Value::Null
        } else {
            Value::Object(kept)
        }
    };
    match value {
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().map(one).filter(|v| !v.is_null()).collect();
            if kept.is_empty() {
                Value::Null
            } else {
                Value::Array(kept)
            }
        }
        other => one(other),
    }
}

/// `sortOrder`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

/// A resolved `sortBy` with its order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortSpec {
    by: Selected,
    ty: AttrType,
    case_exact: bool,
    pub order: SortOrder,
}

impl SortSpec {
    /// From `sortBy` and `sortOrder` (`ascending`, the default, or `descending`, in any case).
    ///
    /// # Errors
    /// `invalidPath` for an unknown or unsortable attribute, `invalidValue` for another `sortOrder`.
    pub fn parse(
        sort_by: &str,
        sort_order: Option<&str>,
        rt: &ResourceType,
    ) -> Result<Self, ListError> {
        let (mut by, at, sub) = select(sort_by, rt)?;
        let mut leaf = sub.unwrap_or(at.attribute);
        if leaf.ty == AttrType::Complex {
            leaf = leaf.sub("value").ok_or_else(|| {
                ListError::new(
                    ScimType::InvalidPath,
                    format!("cannot sort by complex `{sort_by}`"),
                )
            })?;
            by.sub = Some(leaf.name);
        }
        if leaf.returned == Returned::Never {
            return Err(ListError::new(
                ScimType::InvalidPath,
                format!("cannot sort by `{sort_by}`"),
            ));
        }
        let order = match sort_order.map(str::to_ascii_lowercase).as_deref() {
            None | Some("ascending") => SortOrder::Ascending,
            Some("descending") => SortOrder::Descending,
            Some(other) => {
                return Err(ListError::new(
                    ScimType::InvalidValue,
                    format!("unknown sortOrder `{other}`"),
                ))
            }
        };
        Ok(Self {
            by,
            ty: leaf.ty,
            case_exact: leaf.compares_exactly(),
            order,
        })
    }

    /// The order of two resources; those without a value come last when ascending and first when
    /// descending (RFC 7644 §3.4.2.3).
    #[must_use]
    pub fn compare(&self, a: &Value, b: &Value) -> Ordering {
        let ascending = match (self.key(a), self.key(b)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => self.compare_values(x, y),
        };
        match self.order {
            SortOrder::Ascending => ascending,
            SortOrder::Descending => ascending.reverse(),
        }
    }

    fn key<'a>(&self, resource: &'a Value) -> Option<&'a Value> {
        let base = match self.by.extension {
            Some(ext) => get_ci(resource, ext)?,
            None => resource,
        };
        let top = get_ci(base, self.by.attr)?;
        let chosen = match top {
            Value::Array(items) => items
                .iter()
                .find(|v| get_ci(v, "primary") == Some(&Value::Bool(true)))
                .or_else(|| items.first())?,
            other => other,
        };
        let leaf = match self.by.sub {
            Some(s) => get_ci(chosen, s)?,
            None => chosen,
        };
        (!leaf.is_null()).then_some(leaf)
    }

    fn compare_values(&self, x: &Value, y: &Value) -> Ordering {
        match (x, y) {
            (Value::Number(m), Value::Number(n)) => number_order(m, n).unwrap_or(Ordering::Equal),
            (Value::Bool(m), Value::Bool(n)) => m.cmp(n),
            (Value::String(m), Value::String(n)) => {
                if self.ty == AttrType::DateTime {
                    if let (Some(p), Some(q)) = (parse_date_time(m), parse_date_time(n)) {
                        return p.cmp(&q);
                    }
                }
                if self.case_exact {
                    m.cmp(n)
                } else {
                    m.to_lowercase().cmp(&n.to_lowercase())
                }
            }
            _ => Ordering::Equal,
        }
    }
}

/// A page of a list: 1-based `start_index` and a `count` within the service's maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub start_index: u64,
    pub count: u64,
}

impl Page {
    /// RFC 7644 §3.4.2.4: a `startIndex` below 1 is 1; a negative `count` is 0; a `count` above
    /// `max_count` is `max_count`; no `count` is `max_count`.
    #[must_use]
    pub fn new(start_index: Option<i64>, count: Option<i64>, max_count: u64) -> Self {
        let start_index = start_index.map_or(1, |s| u64::try_from(s).unwrap_or(0).max(1));
        let count = count.map_or(max_count, |c| u64::try_from(c).unwrap_or(0).min(max_count));
        Self { start_index, count }
    }

    /// From the query parameters' text.
    ///
    /// # Errors
    /// `invalidValue` when either is not an integer.
    pub fn parse(
        start_index: Option<&str>,
        count: Option<&str>,
        max_count: u64,
    ) -> Result<Self, ListError> {
        let int = |name: &str, t: Option<&str>| -> Result<Option<i64>, ListError> {
            t.map(|t| {
                t.trim().parse::<i64>().map_err(|_| {
                    ListError::new(
                        ScimType::InvalidValue,
                        format!("`{name}` must be an integer"),
                    )
                })
            })
            .transpose()
        };
        Ok(Self::new(
            int("startIndex", start_index)?,
            int("count", count)?,
            max_count,
        ))
    }

    /// How many results to skip (0-based offset).
    #[must_use]
    pub const fn offset(&self) -> u64 {
        self.start_index.saturating_sub(1)
    }

    /// This page of `all` (already filtered and sorted).
    #[must_use]
    pub fn window<'a, T>(&self, all: &'a [T]) -> &'a [T] {
        let from = usize::try_from(self.offset())
            .unwrap_or(usize::MAX)
            .min(all.len());
        let len = usize::try_from(self.count).unwrap_or(usize::MAX);
        let rest = all.get(from..).unwrap_or_default();
        rest.get(..len.min(rest.len())).unwrap_or_default()
    }
}

/// The `ListResponse` body (RFC 7644 §3.4.2): `total` results in all, this page's `resources`.
#[must_use]
pub fn list_response(total: u64, page: &Page, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": page.start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}
