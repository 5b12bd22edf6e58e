//! Loading a SQL target's mapping file, checked against the schema and the real database.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use scim_core::path::AttrPath;
use scim_core::schema::{AttributeType, SchemaRegistry};
use scim_mapping::{LoadError, ScimPath, Template};
use serde::Deserialize;
use toml::Spanned;

use super::conn::{Dialect, Stmt, Tx};
use super::{Category, Column, Pool, RolesTable, RowPolicy, SqlTarget, UsersTable};
use crate::config::{Common, line_of, secret};

/// A SQL target's mapping file (`kind = "sql"`). See the README for a complete example.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    /// The target's name.
    pub name: Spanned<String>,
    /// `sql`.
    pub kind: Spanned<String>,
    /// The tenant whose events it applies, or `*` for every tenant.
    pub tenant: Spanned<String>,
    /// `postgres://user@host:port/db` or `mysql://user@host:port/db`, without a password.
    pub database_url: Option<Spanned<String>>,
    /// The environment variable holding the URL (which may then hold a password).
    pub database_url_env: Option<Spanned<String>>,
    /// The environment variable holding the password.
    pub password_env: Option<Spanned<String>>,
    /// A file holding the password.
    pub password_file: Option<Spanned<String>>,
    /// `target` (default): the position lives in the target database, moved in the same
    /// transaction as each event's effect; `scim`: in scim's database.
    pub position: Option<Spanned<String>>,
    /// `[users]`: the users table and its columns.
    pub users: RawUsers,
    /// `[roles]`: a link table of group memberships, if any.
    pub roles: Option<RawRoles>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUsers {
    table: Spanned<String>,
    key: Spanned<String>,
    id: Option<Spanned<String>>,
    tenant_column: Option<Spanned<String>>,
    deactivate: Option<Spanned<String>>,
    delete: Option<Spanned<String>>,
    on_delete: Option<BTreeMap<String, Spanned<toml::Value>>>,
    columns: BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoles {
    table: Spanned<String>,
    user: Spanned<String>,
    value: Spanned<String>,
    from: Spanned<String>,
}

/// A column as the database describes it.
#[derive(Debug, Clone)]
pub(super) struct DbColumn {
    data_type: String,
    nullable: bool,
    has_default: bool,
}

fn valid_ident(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 64
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err<T>(&self, span: std::ops::Range<usize>, reason: impl Into<String>) -> LoadError {
        let _ = std::marker::PhantomData::<T>;
        LoadError {
            file: self.file.to_string(),
            line: line_of(self.text, span.start),
            reason: reason.into(),
        }
    }

    fn ident(&self, s: &Spanned<String>, what: &str) -> Result<String, LoadError> {
        if valid_ident(s.get_ref()) {
            Ok(s.get_ref().clone())
        } else {
            Err(self.err::<()>(
                s.span(),
                format!(
                    "{what} '{}' is not a plain SQL name (letters, digits, '_')",
                    s.get_ref()
                ),
            ))
        }
    }

    fn template(&self, v: &Spanned<toml::Value>, what: &str) -> Result<Template, LoadError> {
        let text = match v.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Boolean(b) => format!("{{{b}}}"),
            toml::Value::Integer(i) => format!("{{{i}}}"),
            other => {
                return Err(self.err::<()>(
                    v.span(),
                    format!(
                        "{what}: expected a template string, found a {}",
                        other.type_str()
                    ),
                ));
            }
        };
        Template::parse(&text).map_err(|e| {
            self.err::<()>(
                v.span(),
                format!(
                    "{what}: {} (at character {} of the template)",
                    e.reason,
                    e.offset + 1
                ),
            )
        })
    }
}

/// The SCIM type a template gives when it copies one attribute; `None` when unknown
/// (filters) or a string (several parts). Errors name an attribute the schema lacks.
fn template_type(
    t: &Template,
    registry: &SchemaRegistry,
    resource_type: &str,
) -> Result<Option<(AttributeType, bool)>, String> {
    let Some(rt) = registry.resource_type(resource_type) else {
        return Err(format!("the schema has no resource type {resource_type}"));
    };
    let mut n = 0;
    for field in t.fields() {
        n += 1;
        let p = ScimPath::parse(field).map_err(|e| format!("'{field}': {e}"))?;
        let path = AttrPath {
            schema: p.urn.clone(),
            attr: p.attr.clone(),
            sub_attr: p.sub.clone(),
        };
        if registry.resolve(rt, &path).is_none() {
            return Err(format!("'{field}' is not an attribute of {resource_type}"));
        }
    }
    if n > 1 {
        return Ok(Some((AttributeType::String, false)));
    }
    let Some(field) = t.single_field() else {
        return Ok(None);
    };
    let p = ScimPath::parse(field).map_err(|e| format!("'{field}': {e}"))?;
    let path = AttrPath {
        schema: p.urn.clone(),
        attr: p.attr.clone(),
        sub_attr: p.sub.clone(),
    };
    let r = registry
        .resolve(rt, &path)
        .ok_or_else(|| format!("'{field}' is not an attribute"))?;
    let target = r.target();
    // A multi-valued attribute read whole (no element selected and no sub-attribute).
    let whole_multi = r.attr.multi_valued && p.select.is_none() && p.sub.is_none();
    Ok(Some((target.kind, whole_multi)))
}

fn fits(kind: AttributeType, whole_multi: bool, col: Category, data_type: &str) -> bool {
    if whole_multi || kind == AttributeType::Complex {
        return col == Category::Text && !data_type.contains("char");
    }
    match kind {
        AttributeType::Boolean => matches!(col, Category::Bool | Category::Int | Category::Text),
        AttributeType::Integer => matches!(col, Category::Int | Category::Num | Category::Text),
        AttributeType::Decimal => matches!(col, Category::Num | Category::Text),
        AttributeType::DateTime => matches!(col, Category::Time | Category::Text),
        _ => col == Category::Text,
    }
}

pub(super) async fn columns_of(
    tx: &mut dyn Tx,
    d: Dialect,
    table: &str,
) -> Result<HashMap<String, DbColumn>, String> {
    let mut s = Stmt::default();
    let p = s.p(d, Some(table.to_string()), "text");
    s.sql = match d {
        Dialect::Postgres => format!(
            "SELECT column_name::text, CASE WHEN data_type = 'USER-DEFINED' THEN udt_name::text ELSE data_type::text END, \
             is_nullable::text, CASE WHEN column_default IS NOT NULL OR is_identity = 'YES' THEN 'YES' ELSE 'NO' END \
             FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = {p}"
        ),
        Dialect::MySql => format!(
            "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR), CAST(is_nullable AS CHAR), \
             CASE WHEN column_default IS NOT NULL OR extra LIKE '%auto_increment%' THEN 'YES' ELSE 'NO' END \
             FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = {p}"
        ),
    };
    let rows = tx.query(&s).await.map_err(|e| e.message)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let mut it = r.into_iter();
            let name = it.next().flatten()?;
            let data_type = it.next().flatten()?;
            let nullable = it.next().flatten()? == "YES";
            let has_default = it.next().flatten()? == "YES";
            Some((
                name.to_ascii_lowercase(),
                DbColumn {
                    data_type,
                    nullable,
                    has_default,
                },
            ))
        })
        .collect())
}

/// Loads a SQL target from its mapping file (already read as `text`): parses it, connects
/// to the database, and checks every table, column and type against the real schema.
/// Errors name the file, the line and the reason.
pub async fn load_sql_target(
    text: &str,
    path: &Path,
    common: &Common,
    registry: &SchemaRegistry,
) -> Result<SqlTarget, LoadError> {
    let file = path.display().to_string();
    let cx = Ctx { file: &file, text };
    let raw: SqlConfig = toml::from_str(text).map_err(|e| LoadError {
        file: file.clone(),
        line: e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
        reason: e.message().trim().to_string(),
    })?;
    // The connection: a URL without a password, or one from the environment.
    let url = match (&raw.database_url, &raw.database_url_env) {
        (Some(u), None) => {
            let s = u.get_ref();
            let userinfo = s
                .split("://")
                .nth(1)
                .and_then(|r| r.split('@').next().filter(|_| r.contains('@')));
            if userinfo.is_some_and(|ui| ui.contains(':')) {
                return Err(cx.err::<()>(
                    u.span(),
                    "database_url holds a password; secrets never go in a mapping file \
                     (use password_env, password_file or database_url_env)",
                ));
            }
            s.clone()
        }
        (None, Some(env)) => std::env::var(env.get_ref()).map_err(|_| {
            cx.err::<()>(
                env.span(),
                format!("the environment variable {} is not set", env.get_ref()),
            )
        })?,
        _ => {
            return Err(LoadError {
                file: file.clone(),
                line: 0,
                reason: "a SQL target needs exactly one of database_url and database_url_env"
                    .into(),
            });
        }
    };
    let password = match (&raw.password_env, &raw.password_file) {
        (None, None) => None,
        (Some(env), None) => Some(secret(&cx_file(&cx), text, env, true)?),
        (None, Some(f)) => Some(secret(&cx_file(&cx), text, f, false)?),
        (Some(_), Some(f)) => {
            return Err(cx.err::<()>(f.span(), "give password_env or password_file, not both"));
        }
    };
    let keeps_position = match raw
        .position
        .as_ref()
        .map(|p| (p.get_ref().as_str(), p.span()))
    {
        None | Some(("target", _)) => true,
        Some(("scim", _)) => false,
        Some((other, span)) => {
            return Err(cx.err::<()>(
                span,
                format!("position is \"target\" or \"scim\", not \"{other}\""),
            ));
        }
    };
    let (dialect, pool) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| LoadError {
            file: file.clone(),
            line: raw
                .database_url
                .as_ref()
                .map(|u| line_of(text, u.span().start))
                .unwrap_or(0),
            reason: format!("database URL: {e}"),
        })?;
        if let Some(p) = &password {
            config.password(p.as_bytes());
        }
        config.connect_timeout(std::time::Duration::from_secs(10));
        (
            Dialect::Postgres,
            Pool::Pg {
                config: Box::new(config),
                client: tokio::sync::Mutex::new(None),
            },
        )
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        let url = url.replacen("mariadb://", "mysql://", 1);
        let opts = mysql_async::Opts::from_url(&url).map_err(|e| LoadError {
            file: file.clone(),
            line: raw
                .database_url
                .as_ref()
                .map(|u| line_of(text, u.span().start))
                .unwrap_or(0),
            reason: format!("database URL: {e}"),
        })?;
        let mut b = mysql_async::OptsBuilder::from_opts(opts);
        if let Some(p) = &password {
            b = b.pass(Some(p.clone()));
        }
        (Dialect::MySql, Pool::My(mysql_async::Pool::new(b)))
    } else {
        return Err(LoadError {
            file: file.clone(),
            line: raw
                .database_url
                .as_ref()
                .map(|u| line_of(text, u.span().start))
                .unwrap_or(0),
            reason: "the database URL must start with postgres:// or mysql:// (mariadb://)".into(),
        });
    };

    let u = &raw.users;
    let table = cx.ident(&u.table, "users.table")?;
    let key = cx.ident(&u.key, "users.key")?;
    let id = match &u.id {
        Some(i) => cx.ident(i, "users.id")?,
        None => "id".to_string(),
    };
    let policy = |p: &Option<Spanned<String>>, what: &str| -> Result<RowPolicy, LoadError> {
        match p.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
            None | Some(("update", _)) => Ok(RowPolicy::Update),
            Some(("delete", _)) => Ok(RowPolicy::Delete),
            Some((other, span)) => Err(cx.err::<()>(
                span,
                format!("{what} is \"update\" or \"delete\", not \"{other}\""),
            )),
        }
    };
    let deactivate = policy(&u.deactivate, "users.deactivate")?;
    let delete = match &u.delete {
        None => RowPolicy::Delete,
        some => policy(some, "users.delete")?,
    };

    let mut target = SqlTarget {
        name: common.name.clone(),
        dialect,
        pool,
        keeps_position,
        users: UsersTable {
            table: table.clone(),
            key: key.clone(),
            key_type: String::new(),
            id: id.clone(),
            tenant_column: None,
            columns: Vec::new(),
            deactivate,
            delete,
            on_delete: Vec::new(),
        },
        roles: None,
    };

    // The real database's columns.
    let unreachable = |e: crate::TargetError| LoadError {
        file: file.clone(),
        line: 0,
        reason: format!("cannot reach the database: {}", e.message),
    };
    let mut tables: Vec<(String, std::ops::Range<usize>)> = vec![(table.clone(), u.table.span())];
    if let Some(r) = &raw.roles {
        tables.push((cx.ident(&r.table, "roles.table")?, r.table.span()));
    }
    let names: Vec<String> = tables.iter().map(|(t, _)| t.clone()).collect();
    let described = match target
        .run(super::Work::Describe(names), false)
        .await
        .map_err(unreachable)?
    {
        super::Output::Described(d) => d,
        _ => Vec::new(),
    };
    let mut schema: Vec<HashMap<String, DbColumn>> = Vec::new();
    for ((t, span), cols) in tables.iter().zip(described) {
        let cols = cols.map_err(|e| cx.err::<()>(span.clone(), e))?;
        if cols.is_empty() {
            return Err(cx.err::<()>(span.clone(), format!("the database has no table '{t}'")));
        }
        schema.push(cols);
    }
    let users_cols = &schema[0];
    let col = |name: &Spanned<String>, what: &str, cols: &HashMap<String, DbColumn>, t: &str| {
        let n = cx.ident(name, what)?;
        match cols.get(&n.to_ascii_lowercase()) {
            Some(c) => Ok((n, c.clone())),
            None => Err(cx.err::<()>(
                name.span(),
                format!("{what}: the table '{t}' has no column '{n}'"),
            )),
        }
    };
    let (_, key_col) = col(&u.key, "users.key", users_cols, &table)?;
    if Category::of(&key_col.data_type) != Category::Text {
        return Err(cx.err::<()>(
            u.key.span(),
            format!(
                "users.key: column '{key}' is {}, but it holds SCIM ids (text)",
                key_col.data_type
            ),
        ));
    }
    target.users.key_type = pg_type(&key_col.data_type);
    let id_spanned =
        u.id.clone()
            .unwrap_or_else(|| Spanned::new(u.table.span(), "id".to_string()));
    col(&id_spanned, "users.id", users_cols, &table)?;
    if let Some(tc) = &u.tenant_column {
        let (n, c) = col(tc, "users.tenant_column", users_cols, &table)?;
        target.users.tenant_column = Some((n, pg_type(&c.data_type)));
    }
    let mut mapped: Vec<String> = vec![key.to_ascii_lowercase()];
    if let Some((t, _)) = &target.users.tenant_column {
        mapped.push(t.to_ascii_lowercase());
    }
    let mut cols: Vec<_> = u.columns.iter().collect();
    cols.sort_by_key(|(_, v)| v.span().start);
    for (name, v) in cols {
        let spanned_name = Spanned::new(v.span(), name.clone());
        let (n, c) = col(&spanned_name, "users.columns", users_cols, &table)?;
        let template = cx.template(v, &format!("users.columns.{n}"))?;
        let category = Category::of(&c.data_type);
        match template_type(&template, registry, "User") {
            Err(e) => return Err(cx.err::<()>(v.span(), format!("users.columns.{n}: {e}"))),
            Ok(Some((kind, whole))) if !fits(kind, whole, category, &c.data_type) => {
                return Err(cx.err::<()>(
                    v.span(),
                    format!(
                        "users.columns.{n}: a {}{} attribute does not fit column '{n}' of type {}",
                        kind.as_str(),
                        if whole { " multi-valued" } else { "" },
                        c.data_type
                    ),
                ));
            }
            Ok(_) => {}
        }
        mapped.push(n.to_ascii_lowercase());
        target.users.columns.push(Column {
            name: n,
            template,
            category,
            sql_type: pg_type(&c.data_type),
        });
    }
    if let Some(on_delete) = &u.on_delete {
        if delete == RowPolicy::Delete
            && let Some((_, v)) = on_delete.iter().next()
        {
            return Err(cx.err::<()>(
                v.span(),
                "users.on_delete only applies with users.delete = \"update\"",
            ));
        }
        for (name, v) in on_delete {
            let spanned_name = Spanned::new(v.span(), name.clone());
            let (n, c) = col(&spanned_name, "users.on_delete", users_cols, &table)?;
            let template = cx.template(v, &format!("users.on_delete.{n}"))?;
            if template.fields().next().is_some() {
                return Err(cx.err::<()>(
                    v.span(),
                    format!("users.on_delete.{n}: the user is gone; give a literal such as \"{{false}}\""),
                ));
            }
            target.users.on_delete.push(Column {
                name: n,
                category: Category::of(&c.data_type),
                sql_type: pg_type(&c.data_type),
                template,
            });
        }
    } else if delete == RowPolicy::Update {
        return Err(LoadError {
            file: file.clone(),
            line: u.delete.as_ref().map(|d| line_of(text, d.span().start)).unwrap_or(0),
            reason: "users.delete = \"update\" needs [users.on_delete] columns (e.g. is_active = \"{0}\")".into(),
        });
    }
    // Columns the database requires that nothing fills.
    let mut required: Vec<&String> = users_cols
        .iter()
        .filter(|(n, c)| !c.nullable && !c.has_default && !mapped.contains(n))
        .map(|(n, _)| n)
        .collect();
    required.sort();
    if let Some(n) = required.first() {
        return Err(cx.err::<()>(
            u.table.span(),
            format!(
                "column '{n}' of '{table}' is NOT NULL without a default, and no mapping fills it"
            ),
        ));
    }
    if let Some(r) = &raw.roles {
        let roles_cols = &schema[1];
        let rt = cx.ident(&r.table, "roles.table")?;
        let (ru, ruc) = col(&r.user, "roles.user", roles_cols, &rt)?;
        let (rv, rvc) = col(&r.value, "roles.value", roles_cols, &rt)?;
        let from_v = Spanned::new(r.from.span(), toml::Value::String(r.from.get_ref().clone()));
        let from = cx.template(&from_v, "roles.from")?;
        if let Err(e) = template_type(&from, registry, "Group") {
            return Err(cx.err::<()>(r.from.span(), format!("roles.from: {e}")));
        }
        target.roles = Some(RolesTable {
            table: rt,
            user: ru,
            user_type: pg_type(&ruc.data_type),
            value: rv,
            value_type: pg_type(&rvc.data_type),
            from,
        });
    }
    target.ensure_tables().await.map_err(|e| LoadError {
        file: file.clone(),
        line: 0,
        reason: format!("cannot create the target's tables: {}", e.message),
    })?;
    Ok(target)
}

fn cx_file(cx: &Ctx<'_>) -> String {
    cx.file.to_string()
}

/// The type PostgreSQL parameters are cast to (MySQL ignores it).
fn pg_type(data_type: &str) -> String {
    match data_type {
        "ARRAY" => "text".to_string(),
        t if t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_') =>
        {
            t.to_string()
        }
        _ => "text".to_string(),
    }
}
