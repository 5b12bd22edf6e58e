//! The request log ([`crate::requests`]), table `request_log`.

use std::collections::HashMap;

use async_trait::async_trait;

use super::db::{Db, DbExt, Dialect, SqlRow, SqlValue};
use super::{Engine, SqlStore};
use crate::StoreError;
use crate::requests::{LoggedRequest, MAX_REQUESTS, NewRequest, RequestLog, RequestQuery};

const COLUMNS: &str = "id, at, method, path, status, scim_type, detail, duration_us, \
     request_id, token_name, user_agent, request_body, response_body";

fn from_row(r: &dyn SqlRow) -> Result<LoggedRequest, StoreError> {
    Ok(LoggedRequest {
        id: r.int(0)?,
        at: r.text(1)?,
        method: r.text(2)?,
        path: r.text(3)?,
        status: u16::try_from(r.int(4)?).unwrap_or(0),
        scim_type: r.opt_text(5)?,
        detail: r.opt_text(6)?,
        duration_us: u64::try_from(r.int(7)?).unwrap_or(0),
        request_id: r.opt_text(8)?,
        token_name: r.opt_text(9)?,
        user_agent: r.opt_text(10)?,
        request_body: r.opt_text(11)?,
        response_body: r.opt_text(12)?,
    })
}

/// Entries in one statement on PostgreSQL.
const ENTRIES_PER_STATEMENT: usize = 32;

pub(crate) fn append(db: &mut dyn Db, entries: &[NewRequest]) -> Result<u64, StoreError> {
    let mut ids: HashMap<String, Option<i64>> = HashMap::new();
    let mut rows: Vec<Vec<SqlValue>> = Vec::with_capacity(entries.len());
    for e in entries {
        let tenant = match e.tenant_id {
            Some(id) => Some(id),
            None => match ids.get(&e.tenant_name) {
                Some(id) => *id,
                None => {
                    let id = super::tenants::find_tenant(db, &e.tenant_name, "")?.map(|t| t.id);
                    ids.insert(e.tenant_name.clone(), id);
                    id
                }
            },
        };
        let Some(tenant) = tenant else { continue };
        rows.push(vec![
            e.at.as_str().into(),
            e.method.as_str().into(),
            e.path.as_str().into(),
            SqlValue::Int(i64::from(e.status)),
            e.scim_type.clone().into(),
            e.detail.clone().into(),
            SqlValue::Int(i64::try_from(e.duration_us).unwrap_or(i64::MAX)),
            e.request_id.clone().into(),
            e.token_name.clone().into(),
            e.user_agent.clone().into(),
            e.request_body.clone().into(),
            e.response_body.clone().into(),
            SqlValue::Int(tenant),
        ]);
    }
    let mut n = 0;
    if db.dialect() == Dialect::Postgres {
        // Many entries to a statement (one network round trip each), in their order. A
        // tenant deleted meanwhile: its entries go with it.
        for chunk in rows.chunks(ENTRIES_PER_STATEMENT) {
            let mut params = Vec::with_capacity(chunk.len() * 14);
            for (i, row) in chunk.iter().enumerate() {
                params.push(SqlValue::Int(i64::try_from(i).unwrap_or(i64::MAX)));
                params.extend(row.iter().cloned());
            }
            let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            n += db.exec(
                &format!(
                    "INSERT INTO request_log (tenant_id, at, method, path, status, scim_type, detail,
                         duration_us, request_id, token_name, user_agent, request_body, response_body)
                     SELECT t.id, v.at, v.method, v.path, v.status, v.scim_type, v.detail,
                         v.duration_us, v.request_id, v.token_name, v.user_agent, v.request_body,
                         v.response_body
                     FROM (VALUES {values}) AS v(ord, at, method, path, status, scim_type, detail,
                         duration_us, request_id, token_name, user_agent, request_body,
                         response_body, tenant)
                     JOIN tenants t ON t.id = v.tenant
                     ORDER BY v.ord"
                ),
                &params,
            )?;
        }
        return Ok(n);
    }
    for row in &rows {
        // A tenant deleted meanwhile: its entries go with it.
        n += db.exec(
            "INSERT INTO request_log (tenant_id, at, method, path, status, scim_type, detail,
                 duration_us, request_id, token_name, user_agent, request_body, response_body)
             SELECT id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM tenants WHERE id = ?",
            row,
        )?;
    }
    Ok(n)
}

pub(crate) fn list(
    db: &mut dyn Db,
    tenant_id: i64,
    q: &RequestQuery,
) -> Result<Vec<LoggedRequest>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM request_log WHERE tenant_id = ?");
    let mut values = vec![SqlValue::Int(tenant_id)];
    if q.failed {
        sql.push_str(" AND status >= 400");
    }
    if let Some(s) = q.status {
        sql.push_str(" AND status = ?");
        values.push(SqlValue::Int(i64::from(s)));
    }
    if let Some(since) = &q.since {
        sql.push_str(" AND at >= ?");
        values.push(since.as_str().into());
    }
    let limit = i64::from(q.limit.clamp(1, MAX_REQUESTS));
    let bound = db.dialect().limit_param();
    match q.after {
        Some(after) => {
            sql.push_str(&format!(" AND id > ? ORDER BY id LIMIT {bound}"));
            values.extend([SqlValue::Int(after), SqlValue::Int(limit)]);
            db.rows(&sql, &values, from_row)
        }
        None => {
            sql.push_str(&format!(" ORDER BY id DESC LIMIT {bound}"));
            values.push(SqlValue::Int(limit));
            let mut rows = db.rows(&sql, &values, from_row)?;
            rows.reverse();
            Ok(rows)
        }
    }
}

#[async_trait]
impl<E: Engine> RequestLog for SqlStore<E> {
    async fn append_requests(&self, entries: Vec<NewRequest>) -> Result<u64, StoreError> {
        if entries.is_empty() {
            return Ok(0);
        }
        self.engine.write(move |db| append(db, &entries)).await
    }

    async fn requests(
        &self,
        tenant_id: i64,
        query: &RequestQuery,
    ) -> Result<Vec<LoggedRequest>, StoreError> {
        let q = query.clone();
        self.engine.read(move |db| list(db, tenant_id, &q)).await
    }

    async fn trim_requests(&self, tenant_id: i64, now: &str) -> Result<u64, StoreError> {
        let now = now.to_string();
        self.engine
            .write(move |db| {
                let p = super::retention::policy(db, tenant_id)?;
                let since = super::retention::days_before(
                    super::retention::parse_now(&now)?,
                    p.requests_days,
                );
                super::retention::trim_requests(db, tenant_id, &since, p.requests_max)
            })
            .await
    }

    async fn cap_requests(&self, tenant_id: i64) -> Result<u64, StoreError> {
        self.engine
            .write(move |db| {
                let max = super::retention::policy(db, tenant_id)?.requests_max;
                super::retention::cap_requests(db, tenant_id, max)
            })
            .await
    }
}
