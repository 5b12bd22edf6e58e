//! Test support: a fresh PostgreSQL database per test, found the way a user expects.
//!
//! The server is `SCIM_TEST_DATABASE_URL` if set, else one on 127.0.0.1:5432 as user
//! `postgres` or the current user. Each [`TestDatabase`] is a new `scim_test_…` database on
//! it, dropped when the value is dropped, so tests run in parallel. Without a reachable
//! server the PostgreSQL variants of the tests are skipped with a `SKIPPED` line, except
//! when `CI=true` (or the URL was given explicitly): then it is an error.

use std::time::Duration;

use scim_core::schema::SchemaRegistry;
use tokio::sync::OnceCell;

use super::{PgOptions, PgStore, parse_config, parse_with_tls, redacted};

/// Where the admin connection of the tests goes, or why there is none.
#[derive(Debug, Clone)]
enum Server {
    /// A URL of an existing database on a server where the user may create databases.
    Found(String),
    /// Not reachable: the reason, and whether that is an error here.
    Missing { reason: String, fatal: bool },
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

/// A URL's driver configuration and TLS connector (its `sslmode` and `sslrootcert`).
fn tls_config(
    url: &str,
) -> Result<
    (
        tokio_postgres::Config,
        tokio_postgres_rustls::MakeRustlsConnect,
    ),
    String,
> {
    let (config, tls) = parse_with_tls(url).map_err(|e| e.to_string())?;
    let connector = tls.connector().map_err(|e| e.to_string())?;
    Ok((config, connector))
}

async fn reachable(url: &str) -> Result<(), String> {
    let (mut config, tls) = tls_config(url)?;
    config.connect_timeout(Duration::from_secs(3));
    let (client, conn) = config.connect(tls).await.map_err(|e| e.to_string())?;
    let task = tokio::spawn(conn);
    let result = client
        .simple_query("SELECT 1")
        .await
        .map(drop)
        .map_err(|e| e.to_string());
    drop(client);
    let _ = task.await;
    result
}

async fn find_server() -> Server {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if let Ok(url) = std::env::var("SCIM_TEST_DATABASE_URL")
        && !url.trim().is_empty()
    {
        return match reachable(&url).await {
            Ok(()) => Server::Found(url),
            Err(e) => Server::Missing {
                reason: format!("SCIM_TEST_DATABASE_URL is set but unreachable: {e}"),
                fatal: true,
            },
        };
    }
    let mut users = vec!["postgres".to_string()];
    if let Ok(me) = std::env::var("USER")
        && !me.is_empty()
        && me != "postgres"
    {
        users.push(me);
    }
    let mut errors = Vec::new();
    for user in &users {
        let url = format!("postgres://{user}@127.0.0.1:5432/postgres");
        match reachable(&url).await {
            Ok(()) => return Server::Found(url),
            Err(e) => errors.push(format!("{user}@127.0.0.1:5432: {e}")),
        }
    }
    Server::Missing {
        reason: format!(
            "no PostgreSQL server (set SCIM_TEST_DATABASE_URL; tried {})",
            errors.join("; ")
        ),
        fatal: ci,
    }
}

/// The URL of database `name` on the same server as `url` (a `postgres://` URL).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A fresh, empty database for one test; dropped (with its connections) on drop.
#[derive(Debug)]
pub struct TestDatabase {
    /// The database's URL.
    pub url: String,
    /// The database's name.
    pub name: String,
    admin: String,
}

impl TestDatabase {
    /// Creates a database, or returns `Ok(None)` after printing `SKIPPED` when no server
    /// is reachable and that is allowed. `Err` when it is not allowed (CI) or creating
    /// the database failed: a test should panic with it.
    pub async fn create(test: &str) -> Result<Option<TestDatabase>, String> {
        let server = SERVER.get_or_init(find_server).await.clone();
        let admin = match server {
            Server::Found(url) => url,
            Server::Missing { reason, fatal } => {
                if fatal {
                    return Err(format!("PostgreSQL is required here but: {reason}"));
                }
                eprintln!("PostgreSQL: SKIPPED {test} ({reason})");
                return Ok(None);
            }
        };
        let name = format!(
            "scim_test_{}_{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        admin_exec(&admin, &format!("CREATE DATABASE {name}")).await?;
        Ok(Some(TestDatabase {
            url: with_database(&admin, &name),
            name,
            admin,
        }))
    }

    /// The server's TCP address (host, port), when it is reached over TCP.
    pub fn tcp_address(&self) -> Option<(String, u16)> {
        let config = parse_config(&self.url).ok()?;
        let host = match config.get_hosts().first()? {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(_) => return None,
        };
        Some((host, config.get_ports().first().copied().unwrap_or(5432)))
    }

    /// The database's URL with the server reached at `host_port` instead (a proxy).
    pub fn url_via(&self, host_port: &str) -> String {
        let (base, query) = match self.url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (self.url.as_str(), None),
        };
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let rest = &base[scheme_end..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let userinfo = authority.rfind('@').map_or("", |i| &authority[..=i]);
        let mut out = format!(
            "{}{userinfo}{host_port}{}",
            &base[..scheme_end],
            &rest[authority_end..]
        );
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        out
    }

    /// The database URL without the password, as the store describes it.
    pub fn describe(&self) -> String {
        parse_config(&self.url).map_or_else(|_| String::new(), |c| redacted(&c))
    }

    /// Opens a store on the database with a small pool (tests run many at once).
    pub async fn store(&self, registry: &SchemaRegistry) -> Result<PgStore, String> {
        let options = PgOptions {
            max_connections: 6,
            ..PgOptions::default()
        };
        PgStore::connect(&self.url, registry, &options)
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs a query that returns one integer (a count) on this database, over a connection
    /// of its own: for tests that look at what the store wrote, below the store.
    pub async fn query_i64(&self, sql: &str) -> Result<i64, String> {
        let (mut config, tls) = tls_config(&self.url)?;
        config.connect_timeout(Duration::from_secs(5));
        let (client, conn) = config.connect(tls).await.map_err(|e| e.to_string())?;
        let task = tokio::spawn(conn);
        let n: i64 = client
            .query_one(sql, &[])
            .await
            .map_err(|e| format!("{sql}: {e}"))?
            .get(0);
        drop(client);
        let _ = task.await;
        Ok(n)
    }

    /// Ends every other session on this database, as an administrator's shutdown does
    /// (the sessions get SQLSTATE 57P01).
    pub async fn terminate_connections(&self) -> Result<u64, String> {
        let sql = format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.name
        );
        let (mut config, tls) = tls_config(&self.admin)?;
        config.connect_timeout(Duration::from_secs(5));
        let (client, conn) = config.connect(tls).await.map_err(|e| e.to_string())?;
        let task = tokio::spawn(conn);
        let n: i64 = client
            .query_one(&sql, &[])
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        drop(client);
        let _ = task.await;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

async fn admin_exec(admin: &str, sql: &str) -> Result<(), String> {
    let (mut config, tls) = tls_config(admin)?;
    config.connect_timeout(Duration::from_secs(5));
    let (client, conn) = config
        .connect(tls)
        .await
        .map_err(|e| format!("{sql}: {e}"))?;
    let task = tokio::spawn(conn);
    let result = client
        .batch_execute(sql)
        .await
        .map_err(|e| format!("{sql}: {e}"));
    drop(client);
    let _ = task.await;
    result
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop may run inside a runtime (at the end of an async test) or during a panic:
        // drop the database from a thread of its own with a runtime of its own.
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(admin_exec(&admin, &sql))
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

/// A store on a database of its own with the tenants `names` (their ids in that order),
/// and the database, dropped with it; `None` where no PostgreSQL server answers (the
/// store's own unit tests).
#[cfg(test)]
pub(crate) async fn store_with_tenants(
    test: &str,
    names: &[&str],
) -> Option<(TestDatabase, PgStore, Vec<i64>)> {
    use crate::{DeleteMode, Store};
    let db = TestDatabase::create(test)
        .await
        .unwrap_or_else(|e| panic!("{e}"))?;
    let store = db.store(&SchemaRegistry::builtin().unwrap()).await.unwrap();
    let mut ids = Vec::new();
    for name in names {
        let tenant = store.create_tenant(name, DeleteMode::Hard, 30).await;
        ids.push(tenant.unwrap().id);
    }
    Some((db, store, ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres", "x"),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
    }

    #[test]
    fn reroutes_a_url_through_another_address() {
        let db = TestDatabase {
            url: "postgres://u:p@db:5432/t?sslmode=disable".into(),
            name: String::new(),
            admin: String::new(),
        };
        assert_eq!(
            db.url_via("127.0.0.1:9"),
            "postgres://u:p@127.0.0.1:9/t?sslmode=disable"
        );
        assert_eq!(db.tcp_address(), Some(("db".into(), 5432)));
        // Dropping it must not touch any server: forget it.
        std::mem::forget(db);
    }
}
