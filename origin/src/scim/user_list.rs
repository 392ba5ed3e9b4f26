//! Listing users: `GET Users` and `POST Users/.search` (RFC 7644 §3.4.2–3.4.3) — filter, sort, page,
//! projection — over the candidates the store finds by index.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use serde_json::Value;
use tessera_scim::{
    compile_filter, list_response, BoundFilter, Page, Projection, Pushdown, ResourceType, ScimType,
    SortSpec,
};

use super::http::{base, ScimJson, ScimRefusal, ScimTenant, MAX_RESULTS};
use super::user_resource::{refusal, to_resource, USER_TYPE};
use super::user_store::{Candidates, ScimUsers};
use super::users::{store_failure, Query, ScimBody};
use crate::AppState;

/// The schema URI of a `.search` body.
const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// The parameters of a list or search (RFC 7644 §3.4.2).
#[derive(Default)]
pub(super) struct ListParams {
    pub(super) filter: Option<String>,
    pub(super) sort_by: Option<String>,
    pub(super) sort_order: Option<String>,
    pub(super) start_index: Option<String>,
    pub(super) count: Option<String>,
    pub(super) attributes: Option<String>,
    pub(super) excluded: Option<String>,
}

/// A list's parameters, checked against the resource type: what every SCIM list does before it reads.
pub(super) struct ListRequest {
    pub(super) filter: Option<BoundFilter>,
    pub(super) sort: Option<SortSpec>,
    pub(super) page: Page,
    pub(super) projection: Projection,
}

impl ListParams {
    /// The parameters checked against `rt` (each refusal is the stage's own `scimType`).
    pub(super) fn parse(&self, rt: &ResourceType) -> Result<ListRequest, ScimRefusal> {
        let filter = self
            .filter
            .as_deref()
            .map(|f| compile_filter(f, rt))
            .transpose()
            .map_err(|e| refusal(&e))?;
        let sort = self
            .sort_by
            .as_deref()
            .map(|by| SortSpec::parse(by, self.sort_order.as_deref(), rt))
            .transpose()
            .map_err(|e| refusal(&e))?;
        let page = Page::parse(
            self.start_index.as_deref(),
            self.count.as_deref(),
            MAX_RESULTS,
        )
        .map_err(|e| refusal(&e))?;
        let projection =
            Projection::parse(self.attributes.as_deref(), self.excluded.as_deref(), rt)
                .map_err(|e| refusal(&e))?;
        Ok(ListRequest {
            filter,
            sort,
            page,
            projection,
        })
    }

    /// From a list's query string.
    pub(super) fn from_query(q: &Query) -> Self {
        let own = |n: &str| q.get(n).map(str::to_owned);
        Self {
            filter: own("filter"),
            sort_by: own("sortBy"),
            sort_order: own("sortOrder"),
            start_index: own("startIndex"),
            count: own("count"),
            attributes: own("attributes"),
            excluded: own("excludedAttributes"),
        }
    }
}

pub(super) async fn list(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    uri: Uri,
) -> Result<ScimJson, ScimRefusal> {
    let params = ListParams::from_query(&Query::from_uri(&uri)?);
    run_list(&state, tenant.as_str(), &params).await
}

pub(super) async fn search(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    ScimBody(body): ScimBody,
) -> Result<ScimJson, ScimRefusal> {
    let params = search_params(&body)?;
    run_list(&state, tenant.as_str(), &params).await
}

/// A `SearchRequest` body as list parameters.
pub(super) fn search_params(body: &Value) -> Result<ListParams, ScimRefusal> {
    let bad = |scim_type, detail: &str| {
        ScimRefusal::new(StatusCode::BAD_REQUEST, Some(scim_type), detail.to_owned())
    };
    let map = body
        .as_object()
        .ok_or_else(|| bad(ScimType::InvalidSyntax, "a SearchRequest is a JSON object"))?;
    let member = |name: &str| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    };
    if let Some(schemas) = member("schemas") {
        let listed = schemas
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(SEARCH_REQUEST_SCHEMA)));
        if !listed {
            return Err(bad(
                ScimType::InvalidSyntax,
                "`schemas` must contain `urn:ietf:params:scim:api:messages:2.0:SearchRequest`",
            ));
        }
    }
    let text = |name: &str| -> Result<Option<String>, ScimRefusal> {
        match member(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(
                ScimType::InvalidValue,
                &format!("`{name}` is a string"),
            )),
        }
    };
    let int = |name: &str| -> Result<Option<String>, ScimRefusal> {
        match member(name) {
            None => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(Some(n.to_string())),
            Some(_) => Err(bad(
                ScimType::InvalidValue,
                &format!("`{name}` is an integer"),
            )),
        }
    };
    let names = |name: &str| -> Result<Option<String>, ScimRefusal> {
        match member(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str())
                .collect::<Option<Vec<_>>>()
                .map(|v| Some(v.join(",")))
                .ok_or_else(|| {
                    bad(
                        ScimType::InvalidValue,
                        &format!("`{name}` is a list of attribute names"),
                    )
                }),
            Some(_) => Err(bad(
                ScimType::InvalidValue,
                &format!("`{name}` is a list of attribute names"),
            )),
        }
    };
    Ok(ListParams {
        filter: text("filter")?,
        sort_by: text("sortBy")?,
        sort_order: text("sortOrder")?,
        start_index: int("startIndex")?,
        count: int("count")?,
        attributes: names("attributes")?,
        excluded: names("excludedAttributes")?,
    })
}

/// Where the store can find the candidates of a filter: an `id`, `externalId` or `userName` equality
/// answered by an index. `userName` is pushed down only for ASCII values (SQLite's `lower()` folds
/// ASCII alone; other values are matched in Rust over every user instead).
fn candidates(pushdown: &Pushdown) -> Candidates {
    if let Some(e) = pushdown.on("id") {
        return Candidates::Id(e.value.clone());
    }
    if let Some(e) = pushdown.on("externalId") {
        return Candidates::ExternalId(e.value.clone());
    }
    match pushdown.on("userName") {
        Some(e) => Candidates::UserNameKey(tessera_proto::ids::username_key(&e.value)),
        None => Candidates::All,
    }
}

async fn run_list(
    state: &AppState,
    tenant: &str,
    params: &ListParams,
) -> Result<ScimJson, ScimRefusal> {
    let rt = &*USER_TYPE;
    let ListRequest {
        filter,
        sort,
        page,
        projection,
    } = params.parse(rt)?;
    let from = filter
        .as_ref()
        .map_or(Candidates::All, |f| candidates(&f.pushdown()));
    // Without a pushed-down equality every user of the tenant is read, turned into its resource and
    // matched here: O(users of the tenant) rows, JSON parses and memory per request (about 1 KB per
    // user), whatever the page size; with one, just the index's candidates. Sorting happens here too
    // (stable, after the store's order by id), so it costs O(n log n) over the matches.
    let rows = ScimUsers::new(state.store.db().clone())
        .list(tenant, &from)
        .await
        .map_err(store_failure)?;
    let base = base(state, tenant);
    let mut matches: Vec<Value> = rows
        .iter()
        .map(|row| to_resource(row, &base))
        .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
        .collect();
    if let Some(sort) = &sort {
        matches.sort_by(|a, b| sort.compare(a, b));
    }
    let resources = page
        .window(&matches)
        .iter()
        .map(|r| projection.apply(r, rt))
        .collect();
    Ok(ScimJson(
        StatusCode::OK,
        list_response(matches.len() as u64, &page, resources),
    ))
}
