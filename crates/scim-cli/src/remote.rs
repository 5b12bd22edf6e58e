//! `scim tenant …` and `scim token …` on a running server, through its management API
//! (`--server URL` with `--admin-token`), printing what the commands print on a database.

use anyhow::{Result, anyhow, bail};
use reqwest::{Method, StatusCode};
use scim_admin::ops::{
    DeleteMode, TenantCreate, TenantDeleted, TenantList, TenantPatch, TenantView, TokenCreate,
    TokenCreated, TokenList, TokenRotate, TokenRotated, TokenStatus, TokenView,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::admin::{
    TenantCommand, TenantRow, TokenCommand, confirm_tenant_delete, deleted_sentence, jwt_given,
    merge_jwt, plural, print_already_revoked, print_revoked, print_tenant_created,
    print_tenant_updated, print_tenants, print_token_created, print_token_header,
    print_token_rotated, print_token_row, scope_name, tokens_phrase,
};
use crate::config::{AdminTarget, FileConfig};
use crate::limits::{parse_duration, parse_optional_count, parse_optional_rate, parse_rate};

/// A running server's management API.
pub struct Remote {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl TenantCommand {
    pub(crate) fn target(&self) -> &AdminTarget {
        match self {
            TenantCommand::Create { target, .. }
            | TenantCommand::List { target }
            | TenantCommand::Delete { target, .. } => target,
            TenantCommand::Update(a) => &a.target,
        }
    }
}

impl TokenCommand {
    pub(crate) fn target(&self) -> &AdminTarget {
        match self {
            TokenCommand::Create { target, .. }
            | TokenCommand::Rotate { target, .. }
            | TokenCommand::List { target, .. }
            | TokenCommand::Revoke { target, .. } => target,
        }
    }
}

impl Remote {
    /// The server the target names (--server, SCIM_SERVER or the config file's `server`),
    /// `None` when it names a database.
    pub fn of(target: &AdminTarget) -> Result<Option<Remote>> {
        let file = FileConfig::load(target.config.as_deref())?;
        let Some(url) = target.server.clone().or(file.server) else {
            return Ok(None);
        };
        if target.data_dir.is_some() || target.database_url.is_some() {
            bail!(
                "give either --server (act through the management API) or --data-dir / \
                 --database-url (act on the database), not both (SCIM_SERVER, SCIM_DATA_DIR \
                 and SCIM_DATABASE_URL count too)"
            );
        }
        let url = url.trim().trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("--server must be an http:// or https:// URL, not '{url}'");
        }
        let Some(token) = target
            .admin_token
            .clone()
            .or(file.admin_token)
            .filter(|t| !t.trim().is_empty())
        else {
            bail!(
                "--server {url} needs an admin token: --admin-token or SCIM_ADMIN_TOKEN (one \
                 from `scim admin-token create`)"
            );
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        eprintln!("scim: acting on {url} (management API)");
        Ok(Some(Remote { url, token, http }))
    }

    /// One call; the answer's JSON, or the API's error as one sentence.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T> {
        let url = format!("{}/admin/v1{path}", self.url);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(|e| {
            let mut cause: &dyn std::error::Error = &e;
            while let Some(next) = cause.source() {
                cause = next;
            }
            anyhow!("cannot reach the scim server at {} ({cause})", self.url)
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| {
            anyhow!(
                "the scim server at {} did not finish its answer ({e})",
                self.url
            )
        })?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|e| {
                anyhow!(
                    "the answer of {url} is not what the management API answers ({e}): is {} a \
                     scim server?",
                    self.url
                )
            });
        }
        Err(anyhow!(api_error(&self.url, status, &text)))
    }
}

/// The API's error (`{"error":{"code","message","field"}}`) as one sentence.
fn api_error(server: &str, status: StatusCode, body: &str) -> String {
    if status == StatusCode::UNAUTHORIZED {
        return format!(
            "the server at {server} refused the admin token (401): give a valid one with \
             --admin-token or SCIM_ADMIN_TOKEN (`scim admin-token create` makes one; a \
             tenant's SCIM token is not an admin token)"
        );
    }
    let error = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned());
    match error {
        Some(e) => {
            let message = e["message"].as_str().unwrap_or("no message");
            let code = e["code"].as_str().unwrap_or("error");
            match e["field"].as_str() {
                Some(field) => format!("{message} (field {field}; {code}, HTTP {status})"),
                None => format!("{message} ({code}, HTTP {status})"),
            }
        }
        None if status == StatusCode::NOT_FOUND => format!(
            "the server at {server} has no management API (HTTP 404): is it a scim server, \
             and its URL without a path?"
        ),
        None => format!(
            "the server at {server} answered HTTP {status}: {}",
            body.chars().take(200).collect::<String>()
        ),
    }
}

/// A JSON body.
fn json(value: &impl Serialize) -> Result<Option<Value>> {
    Ok(Some(serde_json::to_value(value)?))
}

fn seg(s: &str) -> String {
    // Tenant names and token ids are URL-safe; anything else is escaped.
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn row(t: TenantView) -> TenantRow {
    TenantRow {
        delete_mode: match t.delete_mode {
            DeleteMode::Hard => "hard",
            DeleteMode::Soft => "soft",
        },
        name: t.name,
        retention_days: t.retention_days,
        rate_per_minute: t.rate_limit_per_minute,
        burst: t.rate_burst,
        jwt: t.jwt.is_some(),
        created: t.created,
    }
}

pub async fn tenant(r: &Remote, cmd: TenantCommand) -> Result<()> {
    match cmd {
        TenantCommand::Create {
            name,
            delete_mode,
            retention_days,
            rate_limit,
            burst,
            ..
        } => {
            let delete_mode = match delete_mode.as_str() {
                "soft" => DeleteMode::Soft,
                _ => DeleteMode::Hard,
            };
            let req = TenantCreate {
                delete_mode: Some(delete_mode),
                retention_days: Some(retention_days),
                rate_limit_per_minute: rate_limit.as_deref().map(parse_rate).transpose()?,
                rate_burst: burst,
                ..TenantCreate::named(&name)
            };
            let t: TenantView = r.call(Method::POST, "/tenants", json(&req)?).await?;
            print_tenant_created(&t.name, &format!("SCIM base URL: {}", t.scim_base_url));
        }
        TenantCommand::List { .. } => {
            let list: TenantList = r.call(Method::GET, "/tenants", None).await?;
            let rows: Vec<TenantRow> = list.tenants.into_iter().map(row).collect();
            print_tenants(&rows);
        }
        TenantCommand::Update(a) => {
            let path = format!("/tenants/{}", seg(&a.name));
            let jwt = if a.no_jwt {
                Some(None)
            } else if jwt_given(&a) {
                // Start from the tenant's current JWT settings, as on the database.
                let t: TenantView = r.call(Method::GET, &path, None).await?;
                Some(Some(merge_jwt(&a, t.jwt.map(Into::into))?.into()))
            } else {
                None
            };
            let patch = TenantPatch {
                delete_mode: match a.delete_mode.as_deref() {
                    Some("soft") => Some(DeleteMode::Soft),
                    Some(_) => Some(DeleteMode::Hard),
                    None => None,
                },
                retention_days: a.retention_days,
                rate_limit_per_minute: a
                    .rate_limit
                    .as_deref()
                    .map(parse_optional_rate)
                    .transpose()?,
                rate_burst: a.burst.as_deref().map(parse_optional_count).transpose()?,
                jwt,
            };
            // Only what is given is sent: a JSON null would reset a setting.
            let mut body = Map::new();
            if let Some(m) = patch.delete_mode {
                body.insert("delete_mode".into(), serde_json::to_value(m)?);
            }
            if let Some(d) = patch.retention_days {
                body.insert("retention_days".into(), d.into());
            }
            if let Some(rate) = patch.rate_limit_per_minute {
                body.insert("rate_limit_per_minute".into(), rate.into());
            }
            if let Some(burst) = patch.rate_burst {
                body.insert("rate_burst".into(), burst.into());
            }
            if let Some(jwt) = &patch.jwt {
                body.insert("jwt".into(), serde_json::to_value(jwt)?);
            }
            let t: TenantView = r
                .call(Method::PATCH, &path, Some(Value::Object(body)))
                .await?;
            print_tenant_updated(&t);
        }
        TenantCommand::Delete { name, yes, .. } => {
            let path = format!("/tenants/{}", seg(&name));
            let t: TenantView = r.call(Method::GET, &path, None).await?;
            let tokens: TokenList = r.call(Method::GET, &format!("{path}/tokens"), None).await?;
            let active = tokens
                .tokens
                .iter()
                .filter(|t| t.status == TokenStatus::Active)
                .count();
            let what = format!(
                "{}, {}, {} (and its change history)",
                plural(count(t.users), "user", "users"),
                plural(count(t.groups), "group", "groups"),
                tokens_phrase(
                    i64::try_from(tokens.tokens.len()).unwrap_or(i64::MAX),
                    i64::try_from(active).unwrap_or(i64::MAX)
                )
            );
            confirm_tenant_delete(&t.name, &what, yes)?;
            let d: TenantDeleted = r.call(Method::DELETE, &path, None).await?;
            println!("{}", deleted_sentence(&d));
        }
    }
    Ok(())
}

pub async fn token(r: &Remote, cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create {
            tenant,
            name,
            expires,
            scope,
            ..
        } => {
            let req = TokenCreate {
                expires,
                scope: Some(if scope == "read" {
                    scim_admin::ops::Scope::Read
                } else {
                    scim_admin::ops::Scope::Write
                }),
                ..TokenCreate::named(&name)
            };
            let path = format!("/tenants/{}/tokens", seg(&tenant));
            let made: TokenCreated = r.call(Method::POST, &path, json(&req)?).await?;
            print_token_created(&format!("SCIM base URL: {}", made.scim_base_url), &made);
        }
        TokenCommand::Rotate {
            tenant,
            id,
            overlap,
            ..
        } => {
            let overlap = parse_duration(&overlap)?;
            let req = TokenRotate {
                overlap_seconds: Some(i64::try_from(overlap.as_secs()).unwrap_or(i64::MAX)),
                old_token_valid_until: None,
            };
            let path = format!("/tenants/{}/tokens/{}/rotate", seg(&tenant), seg(&id));
            let rotated: TokenRotated = r.call(Method::POST, &path, json(&req)?).await?;
            print_token_rotated(&rotated);
        }
        TokenCommand::List { tenant, .. } => {
            let path = format!("/tenants/{}/tokens", seg(&tenant));
            let list: TokenList = r.call(Method::GET, &path, None).await?;
            print_token_header();
            for t in &list.tokens {
                print_token_row(
                    &t.id,
                    &t.name,
                    scope_name(t.scope),
                    &t.created,
                    t.expires.as_deref(),
                    t.last_used.as_deref(),
                    t.revoked.as_deref(),
                );
            }
        }
        TokenCommand::Revoke { tenant, id, .. } => {
            let path = format!("/tenants/{}/tokens", seg(&tenant));
            let list: TokenList = r.call(Method::GET, &path, None).await?;
            let Some(t) = list.tokens.iter().find(|t| t.id == id) else {
                bail!(
                    "tenant '{tenant}' has no token with id '{id}' (see `scim token list \
                     --tenant {tenant}`)"
                );
            };
            if let Some(at) = &t.revoked {
                print_already_revoked(&id, &t.name, at);
                return Ok(());
            }
            let _: TokenView = r
                .call(Method::DELETE, &format!("{path}/{}", seg(&id)), None)
                .await?;
            print_revoked(&id, &t.name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;

    #[test]
    fn api_errors_read_as_one_sentence() {
        let body = r#"{"error":{"code":"invalid_request","message":"retention_days must be 0 to 36500","field":"retention_days"}}"#;
        assert_eq!(
            super::api_error("http://x", StatusCode::BAD_REQUEST, body),
            "retention_days must be 0 to 36500 (field retention_days; invalid_request, HTTP 400 Bad Request)"
        );
        assert!(
            super::api_error("http://x", StatusCode::UNAUTHORIZED, "")
                .contains("refused the admin token")
        );
    }
}
