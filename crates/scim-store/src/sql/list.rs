//! Listing with filters, sorting and pagination.
//!
//! A filter is translated into an SQL condition where it can be ([`pushdown`]). If the
//! translation is exact, the database filters, counts, sorts and pages. Otherwise the
//! condition (always a superset of the answer) narrows the candidates and the core's
//! evaluator decides on each one, so any valid filter gets the right answer.

use base64::Engine;
use scim_core::ScimError;
use scim_core::filter::{CompValue, CompareOp, Comparison, ResolvedFilter, ResolvedPath};
use scim_core::schema::AttributeType;
use scim_core::sort::SortOrder;
use serde_json::{Map, Value};

use crate::StoreError;
use crate::index::IndexPlan;
use crate::model::{Page, StoredResource};
use crate::query::{ListRequest, Pagination};

use super::db::{Db, DbExt, SqlValue};
use super::members;
use super::resources::resource_from_row;

/// An SQL condition on `r` (the resources table) and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cond {
    pub sql: String,
    pub params: Vec<SqlValue>,
    /// The condition selects exactly the matching resources (not just a superset).
    pub exact: bool,
    /// The condition requires an equality that an index answers (`id`, an indexed
    /// attribute, `members.value`), so it reaches few rows whatever the tenant's size.
    pub indexed_eq: bool,
    /// The condition is exactly one equality on a single-valued indexed attribute (an
    /// identity provider's `userName eq "…"`): the parameters of the `attr_index` lookup
    /// (tenant, type, attribute, value), for a page that joins from the index to the
    /// resources instead of materialising `r.seq IN (SELECT …)` for one row.
    pub lookup: Option<Vec<SqlValue>>,
}

/// Translates what it can of a filter into SQL.
pub(crate) fn pushdown(
    f: &ResolvedFilter,
    plan: &IndexPlan,
    tenant_id: i64,
    rt: &str,
) -> Option<Cond> {
    match f {
        ResolvedFilter::And(a, b) => {
            match (
                pushdown(a, plan, tenant_id, rt),
                pushdown(b, plan, tenant_id, rt),
            ) {
                (Some(a), Some(b)) => Some(Cond {
                    sql: format!("({}) AND ({})", a.sql, b.sql),
                    exact: a.exact && b.exact,
                    indexed_eq: a.indexed_eq || b.indexed_eq,
                    params: [a.params, b.params].concat(),
                    lookup: None,
                }),
                (Some(c), None) | (None, Some(c)) => Some(Cond { exact: false, ..c }),
                (None, None) => None,
            }
        }
        ResolvedFilter::Or(a, b) => {
            let (a, b) = (
                pushdown(a, plan, tenant_id, rt)?,
                pushdown(b, plan, tenant_id, rt)?,
            );
            Some(Cond {
                sql: format!("({}) OR ({})", a.sql, b.sql),
                exact: a.exact && b.exact,
                indexed_eq: a.indexed_eq && b.indexed_eq,
                params: [a.params, b.params].concat(),
                lookup: None,
            })
        }
        ResolvedFilter::Not(a) => {
            let a = pushdown(a, plan, tenant_id, rt)?;
            a.exact.then(|| Cond {
                sql: format!("NOT ({})", a.sql),
                indexed_eq: false,
                lookup: None,
                ..a
            })
        }
        ResolvedFilter::Compare(c) => compare(c, plan, tenant_id, rt),
        ResolvedFilter::Present(_) => None,
        ResolvedFilter::ValuePath { filter, .. } => {
            // Inside brackets a filter holds per element; a `not` there cannot become a
            // per-resource SQL condition (it would drop resources with another element that
            // matches), so such filters are left to the evaluator.
            if contains_not(filter) {
                return None;
            }
            let inner = pushdown(filter, plan, tenant_id, rt)?;
            // A lone comparison inside brackets means the same as without them.
            let exact = inner.exact && matches!(filter.as_ref(), ResolvedFilter::Compare(_));
            Some(Cond {
                exact,
                lookup: None,
                ..inner
            })
        }
    }
}

fn contains_not(f: &ResolvedFilter) -> bool {
    match f {
        ResolvedFilter::Not(_) => true,
        ResolvedFilter::And(a, b) | ResolvedFilter::Or(a, b) => contains_not(a) || contains_not(b),
        ResolvedFilter::ValuePath { filter, .. } => contains_not(filter),
        ResolvedFilter::Compare(_) | ResolvedFilter::Present(_) => false,
    }
}

fn text_of(v: &CompValue) -> Option<String> {
    match v {
        CompValue::String(s) => Some(s.clone()),
        CompValue::Number(n) => Some(n.to_string()),
        CompValue::Bool(b) => Some(b.to_string()),
        CompValue::Null => None,
    }
}

fn compare(c: &Comparison, plan: &IndexPlan, tenant_id: i64, rt: &str) -> Option<Cond> {
    let path = &c.path;
    if path.common && path.attr == "id" && c.op == CompareOp::Eq {
        return Some(Cond {
            sql: "r.id = ?".into(),
            params: vec![SqlValue::Text(text_of(&c.value)?)],
            exact: true,
            indexed_eq: true,
            lookup: None,
        });
    }
    if path.common && path.attr == "meta" {
        return meta_range(c, path);
    }
    if path.attr == "members" && path.sub_attr.as_deref() == Some("value") && !path.extension {
        if c.op != CompareOp::Eq {
            return None;
        }
        return Some(Cond {
            sql: "r.id IN (SELECT group_id FROM members WHERE tenant_id = ? AND member_id = ?)"
                .into(),
            params: vec![SqlValue::Int(tenant_id), SqlValue::Text(text_of(&c.value)?)],
            exact: true,
            indexed_eq: true,
            lookup: None,
        });
    }
    if path.attr == "groups"
        && path.sub_attr.as_deref() == Some("value")
        && !path.extension
        && path.schema == scim_core::schema::USER_SCHEMA
    {
        // The computed `groups` of a user: direct and indirect memberships.
        if c.op != CompareOp::Eq {
            return None;
        }
        return Some(Cond {
            sql: "r.id IN (WITH RECURSIVE down(id, depth) AS (
                     SELECT member_id, 0 FROM members WHERE tenant_id = ? AND group_id = ?
                     UNION
                     SELECT m.member_id, down.depth + 1 FROM down CROSS JOIN members m
                     WHERE m.tenant_id = ? AND m.group_id = down.id AND down.depth < 32
                 ) SELECT id FROM down)"
                .into(),
            params: vec![
                SqlValue::Int(tenant_id),
                SqlValue::Text(text_of(&c.value)?),
                SqlValue::Int(tenant_id),
            ],
            exact: true,
            // Every member of the group, through nested groups: as many as the group has.
            indexed_eq: false,
            lookup: None,
        });
    }
    if c.op != CompareOp::Eq {
        return None;
    }
    let indexed = plan.find(rt, &path.canonical())?;
    // Only text compares as text: an integer, decimal, boolean or dateTime has many spellings
    // (42 and 42.0, +01:00 and Z), so a text condition would not even be a superset.
    if !matches!(path.kind, AttributeType::String | AttributeType::Reference) {
        return None;
    }
    let value = text_of(&c.value)?;
    let value = if indexed.fold_case {
        scim_core::value::fold_case(&value)
    } else {
        value
    };
    let mut params = vec![
        SqlValue::Int(tenant_id),
        SqlValue::Text(rt.to_string()),
        SqlValue::Text(indexed.path.clone()),
        SqlValue::Text(value),
    ];
    if path.multi_valued {
        // A resource with more values than are indexed one by one has the single entry
        // UNINDEXED instead: it is a candidate, and the evaluator decides.
        params.push(SqlValue::Text(crate::index::unindexed_entry(
            tenant_id,
            rt,
            &indexed.path,
        )));
        return Some(Cond {
            sql: "r.seq IN (SELECT resource_seq FROM attr_index
                     WHERE tenant_id = ? AND resource_type = ? AND attr = ? AND value IN (?, ?))"
                .into(),
            params,
            exact: false,
            // Every such resource of the tenant is a candidate: not "few rows".
            indexed_eq: false,
            // One value may be indexed twice for one resource: a join would return that
            // resource twice.
            lookup: None,
        });
    }
    Some(Cond {
        sql: "r.seq IN (SELECT resource_seq FROM attr_index
                 WHERE tenant_id = ? AND resource_type = ? AND attr = ? AND value = ?)"
            .into(),
        lookup: Some(params.clone()),
        params,
        exact: indexed.fold_case != path.case_exact,
        indexed_eq: true,
    })
}

/// `meta.created` / `meta.lastModified` comparisons as ranges on the indexed columns.
fn meta_range(c: &Comparison, path: &ResolvedPath) -> Option<Cond> {
    let column = match path.sub_attr.as_deref()? {
        "created" => "r.created",
        "lastModified" => "r.last_modified",
        _ => return None,
    };
    let CompValue::String(s) = &c.value else {
        return None;
    };
    let instant = scim_core::value::parse_datetime(s)?.checked_to_offset(time::UtcOffset::UTC)?;
    // Stored times have millisecond precision; a bound with finer precision is widened to
    // whole milliseconds and the evaluator settles the edge.
    let floor = super::format_time(instant);
    let sub_ms = instant.nanosecond() % 1_000_000 != 0;
    let ceil = if sub_ms {
        super::format_time(instant.checked_add(time::Duration::milliseconds(1))?)
    } else {
        floor.clone()
    };
    let (sql, bound) = match c.op {
        CompareOp::Gt if !sub_ms => (format!("{column} > ?"), floor),
        CompareOp::Gt | CompareOp::Ge => (format!("{column} >= ?"), floor),
        CompareOp::Lt if !sub_ms => (format!("{column} < ?"), floor),
        CompareOp::Lt | CompareOp::Le => (format!("{column} <= ?"), ceil),
        CompareOp::Eq if !sub_ms => (format!("{column} = ?"), floor),
        _ => return None,
    };
    Some(Cond {
        sql,
        params: vec![SqlValue::Text(bound)],
        exact: !sub_ms,
        indexed_eq: false,
        lookup: None,
    })
}

fn encode_cursor(seq: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
}

fn decode_cursor(cursor: &str) -> Result<i64, StoreError> {
    let invalid = || {
        StoreError::Scim(ScimError::new(
            400,
            Some(scim_core::ScimType::InvalidCursor),
            format!(
                "cursor '{}' is not a cursor this server issued (use nextCursor from the previous page)",
                scim_core::Sent(cursor)
            ),
        ))
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix("seq:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(invalid)
}

/// The resource as the filter evaluator and sorter see it: attributes plus `id` and `meta`.
fn view(r: &StoredResource) -> Map<String, Value> {
    r.to_json(&r.resource_type, None)
}

/// Whether a filter reads the core attribute `name` (`members`, `groups`): those are kept
/// outside the resource document and must be loaded before evaluating.
fn filter_refers_to(f: &ResolvedFilter, name: &str) -> bool {
    match f {
        ResolvedFilter::And(a, b) | ResolvedFilter::Or(a, b) => {
            filter_refers_to(a, name) || filter_refers_to(b, name)
        }
        ResolvedFilter::Not(a) => filter_refers_to(a, name),
        ResolvedFilter::Compare(c) => c.path.attr == name && !c.path.extension,
        ResolvedFilter::Present(p) => p.attr == name && !p.extension,
        ResolvedFilter::ValuePath { attr, .. } => attr.attr == name && !attr.extension,
    }
}

/// Adds the computed `groups` of users to their views (in chunks, one query each).
fn add_groups(
    db: &mut dyn Db,
    tenant_id: i64,
    views: &mut [(i64, StoredResource, Map<String, Value>)],
) -> Result<(), StoreError> {
    for chunk in views.chunks_mut(500) {
        let ids: Vec<String> = chunk.iter().map(|(_, r, _)| r.id.clone()).collect();
        let mut groups = members::groups_of(db, tenant_id, &ids)?;
        for (_, r, view) in chunk.iter_mut() {
            if view.contains_key("groups") {
                continue;
            }
            if let Some(list) = groups.remove(&r.id) {
                let list = list
                    .into_iter()
                    .map(|g| {
                        let mut el = Map::new();
                        el.insert("value".into(), Value::String(g.group_id));
                        if let Some(d) = g.display {
                            el.insert("display".into(), Value::String(d));
                        }
                        let kind = if g.direct { "direct" } else { "indirect" };
                        el.insert("type".into(), Value::String(kind.into()));
                        Value::Object(el)
                    })
                    .collect();
                view.insert("groups".into(), Value::Array(list));
            }
        }
    }
    Ok(())
}

/// The ORDER BY expression (and its parameters) for a sort the database does exactly like
/// [`scim_core::sort::SortSpec::compare`]: the store's order when there is no sort;
/// `meta.created`, `meta.lastModified`, `id`; and single-valued indexed text attributes
/// (`userName`, `externalId`, `displayName`), whose index holds the value folded exactly as
/// the comparison folds it. Absent values come last ascending and first descending; ties keep
/// the store's order.
fn sql_sort(request: &ListRequest, plan: &IndexPlan) -> Option<(String, Vec<SqlValue>)> {
    let Some(sort) = &request.sort else {
        return Some(("r.seq".into(), Vec::new()));
    };
    let a = &sort.attribute;
    let (expr, params) = match (
        a.attr.as_str(),
        a.sub_attr.as_deref(),
        a.extension.is_none(),
    ) {
        ("meta", Some("created"), true) => ("r.created".to_string(), Vec::new()),
        ("meta", Some("lastModified"), true) => ("r.last_modified".to_string(), Vec::new()),
        ("id", None, true) => ("r.id".to_string(), Vec::new()),
        _ => {
            let indexed = plan.find(&request.resource_type, &a.canonical_path())?;
            let text = matches!(a.kind, AttributeType::String | AttributeType::Reference);
            if a.multi_valued || !text || indexed.fold_case == a.case_exact {
                return None;
            }
            (
                "(SELECT ai.value FROM attr_index ai WHERE ai.resource_seq = r.seq AND ai.attr = ?)"
                    .to_string(),
                vec![SqlValue::Text(indexed.path.clone())],
            )
        }
    };
    let order = match sort.order {
        SortOrder::Ascending => {
            format!("CASE WHEN {expr} IS NULL THEN 1 ELSE 0 END, {expr} ASC, r.seq")
        }
        SortOrder::Descending => {
            format!("CASE WHEN {expr} IS NULL THEN 0 ELSE 1 END, {expr} DESC, r.seq")
        }
    };
    // The expression appears twice.
    let params = [params.clone(), params].concat();
    Some((order, params))
}

pub(crate) fn list(
    db: &mut dyn Db,
    plan: &IndexPlan,
    tenant_id: i64,
    request: &ListRequest,
) -> Result<Page, StoreError> {
    Ok(list_bounded(db, plan, tenant_id, request, None)?.0)
}

/// A page whose groups' members, when loaded, fit in `members_budget` members: the page
/// ends before the first group that would exceed it (RFC 7644 §3.4.2.4: a server may return
/// fewer results than `count`; `itemsPerPage` and the next cursor say where it ended). The
/// first group is always on the page; when it alone exceeds the budget, its members are not
/// loaded and its id is returned, for the caller to stream them in the same snapshot.
pub(crate) fn list_bounded(
    db: &mut dyn Db,
    plan: &IndexPlan,
    tenant_id: i64,
    request: &ListRequest,
    members_budget: Option<u64>,
) -> Result<(Page, Option<String>), StoreError> {
    let rt = request.resource_type.as_str();
    let cond = match &request.filter {
        Some(f) => pushdown(f, plan, tenant_id, rt),
        None => Some(Cond {
            sql: "1 = 1".into(),
            params: Vec::new(),
            exact: true,
            indexed_eq: false,
            lookup: None,
        }),
    };
    let exact = cond.as_ref().is_some_and(|c| c.exact);
    let (from, sql_where, params) = match cond {
        // One indexed equality: from the index entry to its resource.
        Some(Cond {
            lookup: Some(mut params),
            ..
        }) => {
            params.extend([SqlValue::Int(tenant_id), SqlValue::Text(rt.to_string())]);
            (
                "attr_index ai JOIN resources r ON r.seq = ai.resource_seq",
                "ai.tenant_id = ? AND ai.resource_type = ? AND ai.attr = ? AND ai.value = ? \
                 AND r.tenant_id = ? AND r.resource_type = ? AND r.deleted IS NULL"
                    .to_string(),
                params,
            )
        }
        cond => {
            let mut sql_where =
                String::from("r.tenant_id = ? AND r.resource_type = ? AND r.deleted IS NULL");
            let mut params = vec![SqlValue::Int(tenant_id), SqlValue::Text(rt.to_string())];
            if let Some(cond) = cond {
                sql_where.push_str(&format!(" AND ({})", cond.sql));
                params.extend(cond.params);
            }
            ("resources r", sql_where, params)
        }
    };
    let source = Source {
        from,
        sql_where: &sql_where,
        params: &params,
    };
    let after = match &request.pagination {
        Pagination::Cursor {
            cursor: Some(cur), ..
        } => Some(decode_cursor(cur)?),
        _ => None,
    };
    if request.sort.is_some() && matches!(request.pagination, Pagination::Cursor { .. }) {
        return Err(ScimError::invalid_value(
            "cursor pagination follows the server's stable order and cannot be combined with sortBy; use startIndex with sortBy",
        )
        .into());
    }
    let count = request.pagination.count();
    let mut rows = match (exact, sql_sort(request, plan)) {
        (true, Some(order)) => sql_page(db, &source, &order, &request.pagination, after, count)?,
        _ => memory_page(db, tenant_id, &source, request, after, count)?,
    };
    let mut oversized = None;
    if request.include.members {
        let mut used = 0u64;
        for (i, (_, r)) in rows.rows.iter_mut().enumerate() {
            let room = members_budget.map(|b| b.saturating_sub(used));
            let limit =
                room.map(|room| usize::try_from(room.saturating_add(1)).unwrap_or(usize::MAX));
            let loaded = members::load_chunk(db, tenant_id, &r.id, None, limit)?;
            let n = loaded.len() as u64;
            if room.is_some_and(|room| n > room) {
                if i == 0 {
                    oversized = Some(r.id.clone());
                    rows.rows.truncate(1);
                } else {
                    rows.rows.truncate(i);
                }
                rows.cut = true;
                break;
            }
            used += n;
            r.members = Some(loaded);
        }
    }
    if request.include.groups && !rows.rows.is_empty() {
        let ids: Vec<String> = rows.rows.iter().map(|(_, r)| r.id.clone()).collect();
        let mut groups = members::groups_of(db, tenant_id, &ids)?;
        for (_, r) in &mut rows.rows {
            r.groups = Some(groups.remove(&r.id).unwrap_or_default());
        }
    }
    let cursor_mode = matches!(request.pagination, Pagination::Cursor { .. });
    let next_cursor = if cursor_mode && (rows.more || rows.cut) {
        rows.rows.last().map(|(seq, _)| encode_cursor(*seq))
    } else {
        None
    };
    let page = Page {
        total_results: rows.total,
        resources: rows.rows.into_iter().map(|(_, r)| r).collect(),
        next_cursor,
    };
    Ok((page, oversized))
}

/// Where a page's rows come from: `FROM {from} WHERE {sql_where}` with `params`.
struct Source<'a> {
    from: &'static str,
    sql_where: &'a str,
    params: &'a [SqlValue],
}

/// A page before its cursor is encoded: the rows with their positions.
struct Rows {
    total: u64,
    rows: Vec<(i64, StoredResource)>,
    /// Cursor pagination: more results follow the last row.
    more: bool,
    /// The page was cut short of `count` (by the members budget).
    cut: bool,
}

/// Whether a list request reads few rows whatever the size of the tenant: its filter
/// requires an equality an index answers (an identity provider's matching query,
/// `userName eq "…"`), as [`pushdown`] translates it.
pub(crate) fn is_index_lookup(request: &ListRequest, plan: &IndexPlan, tenant_id: i64) -> bool {
    // Members of a page of groups are proportional to the groups: never "few rows".
    !request.include.members
        && request
            .filter
            .as_ref()
            .and_then(|f| pushdown(f, plan, tenant_id, &request.resource_type))
            .is_some_and(|c| c.indexed_eq)
}

/// [`super::resources::RESOURCE_COLUMNS`] qualified: a page may join `attr_index`, which has columns of the
/// same names.
const COLUMNS: &str = "r.seq, r.resource_type, r.id, r.version, r.created, r.last_modified, r.data";

fn query_rows(
    db: &mut dyn Db,
    sql: &str,
    params: &[SqlValue],
) -> Result<Vec<(i64, StoredResource)>, StoreError> {
    db.rows(sql, params, |r| {
        resource_from_row(r).map(|row| (row.seq, row.resource))
    })
}

fn sql_page(
    db: &mut dyn Db,
    source: &Source<'_>,
    order: &(String, Vec<SqlValue>),
    pagination: &Pagination,
    after: Option<i64>,
    count: u64,
) -> Result<Rows, StoreError> {
    let Source {
        from,
        sql_where,
        params,
    } = *source;
    let count_all = |db: &mut dyn Db| -> Result<u64, StoreError> {
        let total = db.one(
            &format!("SELECT COUNT(*) FROM {from} WHERE {sql_where}"),
            params,
            |r| r.int(0),
        )?;
        Ok(u64::try_from(total).unwrap_or(0))
    };
    if count == 0 {
        return Ok(Rows {
            total: count_all(db)?,
            rows: Vec::new(),
            more: false,
            cut: false,
        });
    }
    let limit = i64::try_from(count).unwrap_or(i64::MAX);
    let mut params = params.to_vec();
    let bound_limit = db.dialect().limit_param();
    let (sql, cursor_mode) = match pagination {
        Pagination::Index { start_index, .. } => {
            params.extend_from_slice(&order.1);
            params.push(SqlValue::Int(limit));
            params.push(SqlValue::Int(
                i64::try_from(start_index.saturating_sub(1)).unwrap_or(i64::MAX),
            ));
            (
                format!(
                    "SELECT {COLUMNS} FROM {from} WHERE {sql_where} ORDER BY {} LIMIT {bound_limit} OFFSET ?",
                    order.0
                ),
                false,
            )
        }
        Pagination::Cursor { .. } => {
            params.push(SqlValue::Int(after.unwrap_or(0)));
            params.push(SqlValue::Int(limit.saturating_add(1)));
            (
                format!(
                    "SELECT {COLUMNS} FROM {from} WHERE {sql_where} AND r.seq > ? ORDER BY r.seq LIMIT {bound_limit}"
                ),
                true,
            )
        }
    };
    let mut rows = query_rows(db, &sql, &params)?;
    // A page that is not full is the end of the results: when nothing before it was
    // skipped blindly, its rows give the total without counting (an identity provider's
    // `userName eq` check reads one row instead of two queries).
    let found = rows.len() as u64;
    let skipped = match pagination {
        Pagination::Index { start_index, .. } if found > 0 || *start_index <= 1 => {
            Some(start_index.saturating_sub(1))
        }
        Pagination::Cursor { .. } if after.is_none() => Some(0),
        _ => None,
    };
    // Cursor pages read one row more than they show.
    let complete = if cursor_mode {
        found <= count
    } else {
        found < count
    };
    let total = match skipped {
        Some(skipped) if complete => skipped + found,
        _ => count_all(db)?,
    };
    let more = cursor_mode && found > count;
    if more {
        rows.truncate(usize::try_from(count).unwrap_or(usize::MAX));
    }
    Ok(Rows {
        total,
        rows,
        more,
        cut: false,
    })
}

fn memory_page(
    db: &mut dyn Db,
    tenant_id: i64,
    source: &Source<'_>,
    request: &ListRequest,
    after: Option<i64>,
    count: u64,
) -> Result<Rows, StoreError> {
    let Source {
        from,
        sql_where,
        params,
    } = *source;
    let candidates = db.one(
        &format!("SELECT COUNT(*) FROM {from} WHERE {sql_where}"),
        params,
        |r| r.int(0),
    )?;
    let limit = i64::try_from(request.max_scan).unwrap_or(i64::MAX);
    if candidates > limit {
        return Err(ScimError::too_many(format!(
            "this filter or sortBy cannot use an index and would examine {candidates} resources \
             (the limit is {limit}); add an indexed condition with `and` (userName, externalId, \
             displayName, emails.value, id, meta.lastModified, meta.created), or sort by one of \
             userName, externalId, displayName, id, meta.created, meta.lastModified"
        ))
        .into());
    }
    let sql = format!("SELECT {COLUMNS} FROM {from} WHERE {sql_where} ORDER BY r.seq");
    let rows = query_rows(db, &sql, params)?;
    let refers_to = |name| {
        request
            .filter
            .as_ref()
            .is_some_and(|f| filter_refers_to(f, name))
    };
    let (needs_members, needs_groups) = (refers_to("members"), refers_to("groups"));
    let mut candidates = Vec::with_capacity(rows.len());
    for (seq, mut r) in rows {
        if needs_members {
            r.members = Some(members::load(db, tenant_id, &r.id)?);
        }
        let v = view(&r);
        r.members = None;
        candidates.push((seq, r, v));
    }
    if needs_groups {
        add_groups(db, tenant_id, &mut candidates)?;
    }
    let mut matched: Vec<(i64, StoredResource, Map<String, Value>)> = candidates
        .into_iter()
        .filter(|(_, _, v)| request.filter.as_ref().is_none_or(|f| f.matches(v)))
        .collect();
    if let Some(sort) = &request.sort {
        // Stable: equal keys keep the store's order.
        matched.sort_by(|a, b| sort.compare(&a.2, &b.2));
    }
    let total = matched.len() as u64;
    let count_usize = usize::try_from(count).unwrap_or(usize::MAX);
    let (rows, more) = match &request.pagination {
        Pagination::Index { start_index, .. } => {
            let skip = usize::try_from(start_index.saturating_sub(1)).unwrap_or(usize::MAX);
            (
                matched
                    .into_iter()
                    .skip(skip)
                    .take(count_usize)
                    .map(|(seq, r, _)| (seq, r))
                    .collect(),
                false,
            )
        }
        Pagination::Cursor { .. } => {
            let after = after.unwrap_or(0);
            let rest: Vec<_> = matched
                .into_iter()
                .filter(|(seq, _, _)| *seq > after)
                .collect();
            let more = rest.len() > count_usize;
            let page = rest
                .into_iter()
                .take(count_usize)
                .map(|(seq, r, _)| (seq, r))
                .collect();
            (page, more)
        }
    };
    Ok(Rows {
        total,
        rows,
        more,
        cut: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Include;
    use scim_core::filter::{parse_filter, resolve};
    use scim_core::schema::SchemaRegistry;

    fn index_lookup(filter: &str) -> bool {
        let reg = SchemaRegistry::builtin().unwrap();
        let rt = reg.resource_type("User").unwrap();
        let request = ListRequest {
            resource_type: "User".into(),
            filter: Some(resolve(&parse_filter(filter).unwrap(), &reg, rt).unwrap()),
            sort: None,
            pagination: Pagination::Index {
                start_index: 1,
                count: 100,
            },
            include: Include::NOTHING,
            max_scan: crate::DEFAULT_MAX_SCAN,
        };
        is_index_lookup(&request, &crate::indexed_attributes(&reg), 1)
    }

    #[test]
    fn qualified_columns_are_the_resource_columns() {
        let plain: Vec<String> = COLUMNS.split(", ").map(|c| c.replace("r.", "")).collect();
        assert_eq!(plain.join(", "), super::super::resources::RESOURCE_COLUMNS);
    }

    /// Only filters that require an index equality run as short reads.
    #[test]
    fn index_lookups_are_filters_that_require_an_indexed_equality() {
        assert!(index_lookup("userName eq \"a\""));
        assert!(index_lookup("userName eq \"a\" and title eq \"b\""));
        assert!(index_lookup("userName eq \"a\" or externalId eq \"b\""));
        assert!(index_lookup(
            "emails[type eq \"work\" and value eq \"a@b\"] and userName eq \"a\""
        ));
        // Every resource with too many emails to index is a candidate.
        assert!(!index_lookup("emails.value eq \"a@b\""));
        assert!(index_lookup("id eq \"x\""));
        assert!(!index_lookup("title eq \"b\""));
        assert!(!index_lookup("userName eq \"a\" or title eq \"b\""));
        assert!(!index_lookup("not (userName eq \"a\")"));
        assert!(!index_lookup("userName sw \"a\""));
        assert!(!index_lookup("groups.value eq \"g\""));
        assert!(!index_lookup(
            "meta.lastModified gt \"2026-01-01T00:00:00Z\""
        ));
    }
}
