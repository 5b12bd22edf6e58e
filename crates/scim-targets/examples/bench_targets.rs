//! Benchmark of the SQL target: events applied per second, and the time of a reconcile.
//!
//! ```text
//! cargo run --release -p scim-targets --example bench_targets -- URL USERS
//! # URL: mysql://root@127.0.0.1:3306/test or postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! Writes USERS users into a fresh SQLite store (one `user.created` event each), creates
//! the tables `bench_users` and `bench_user_roles` in the target database (dropping earlier
//! ones), applies the backlog with the target's position in the target database (one
//! transaction per event), then reconciles the tenant twice: with no drift, and after 1% of
//! the rows were edited by hand (repairing them).

use std::sync::Arc;
use std::time::Instant;

use mysql_async::prelude::Queryable;
use scim_core::schema::SchemaRegistry;
use scim_delivery::Feed;
use scim_store::sqlite::SqliteStore;
use scim_store::{Actor, DeleteMode, Store, TargetStates};
use scim_targets::reconcile::reconcile;
use scim_targets::{Applier, RetryPolicy, RunMode, load_target};
use serde_json::{Value, json};

const SCHEMA: [&str; 4] = [
    "DROP TABLE IF EXISTS bench_user_roles",
    "DROP TABLE IF EXISTS bench_users",
    "CREATE TABLE bench_users (id {serial} PRIMARY KEY, scim_id VARCHAR(64), login VARCHAR(200) NOT NULL, \
     email VARCHAR(200), first_name VARCHAR(100), last_name VARCHAR(100), department VARCHAR(100), \
     is_active SMALLINT NOT NULL DEFAULT 1)",
    "CREATE INDEX bench_users_scim_id ON bench_users (scim_id)",
];

async fn exec(url: &str, sql: &str) -> Result<(), Box<dyn std::error::Error>> {
    if url.starts_with("mysql://") {
        let pool = mysql_async::Pool::new(mysql_async::Opts::from_url(url)?);
        let mut c = pool.get_conn().await?;
        c.query_drop(sql).await?;
        drop(c);
        pool.disconnect().await?;
    } else {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        client.batch_execute(sql).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, users] = args.as_slice() else {
        return Err("usage: bench_targets URL USERS".into());
    };
    let users: usize = users.parse()?;
    let mysql = url.starts_with("mysql://");
    for sql in SCHEMA {
        let serial = if mysql {
            "INT AUTO_INCREMENT"
        } else {
            "SERIAL"
        };
        exec(url, &sql.replace("{serial}", serial)).await?;
    }
    let dir = tempfile::tempdir()?;
    let registry = Arc::new(SchemaRegistry::builtin()?);
    let sqlite = SqliteStore::open(&dir.path().join("scim.db"), &registry)?;
    let states: Arc<dyn TargetStates> = Arc::new(sqlite.clone());
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let tenant = store.create_tenant("bench", DeleteMode::Hard, 30).await?;
    let started = Instant::now();
    for i in 0..users {
        let Value::Object(data) = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("user{i}@example.com"),
            "name": {"givenName": "User", "familyName": format!("N{i}")},
            "emails": [{"value": format!("user{i}@example.com"), "type": "work", "primary": true}],
            "active": true,
        }) else {
            unreachable!()
        };
        store
            .create(tenant.id, "User", data, vec![], &Actor::default())
            .await?;
    }
    eprintln!("{users} users written to scim in {:.1?}", started.elapsed());

    let file = dir.path().join("bench.toml");
    std::fs::write(
        &file,
        format!(
            r#"name = "bench"
kind = "sql"
tenant = "bench"
database_url = "{url}"
[users]
table = "bench_users"
key = "scim_id"
[users.columns]
login = "{{userName}}"
email = '{{emails[type eq "work"].value}}'
first_name = "{{name.givenName}}"
last_name = "{{name.familyName}}"
is_active = "{{active | default(true)}}"
"#
        ),
    )?;
    // A fresh position for this run.
    exec(
        url,
        "DELETE FROM scim_target_positions WHERE target = 'bench'",
    )
    .await
    .ok();
    let configured = load_target(&file, &registry)
        .await
        .map_err(|e| e.to_string())?;
    exec(
        url,
        "DELETE FROM scim_target_positions WHERE target = 'bench'",
    )
    .await?;
    let feed = Feed::new(store.clone(), registry.clone(), "http://localhost");
    let applier = Applier::new(
        configured.target.clone(),
        states.clone(),
        feed,
        tenant.clone(),
        RetryPolicy::default(),
    );
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let (_, progress) = applier.run(RunMode::UntilCaughtUp, rx).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "applied {} events in {secs:.2} s: {:.0} events/s",
        progress.applied,
        progress.applied as f64 / secs
    );
    let started = Instant::now();
    let sum = reconcile(
        configured.target.as_ref(),
        states.as_ref(),
        &tenant,
        false,
        |_| {},
    )
    .await?;
    println!(
        "reconcile of {} users / {} rows (no drift): {:.2} s",
        sum.scim_users,
        sum.target_rows,
        started.elapsed().as_secs_f64()
    );
    let every = if mysql {
        "MOD(id, 100) = 0"
    } else {
        "id % 100 = 0"
    };
    exec(
        url,
        &format!("UPDATE bench_users SET last_name = 'edited' WHERE {every}"),
    )
    .await?;
    let started = Instant::now();
    let sum = reconcile(
        configured.target.as_ref(),
        states.as_ref(),
        &tenant,
        true,
        |_| {},
    )
    .await?;
    println!(
        "reconcile with repair of {} drifted rows: {:.2} s",
        sum.repaired,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
