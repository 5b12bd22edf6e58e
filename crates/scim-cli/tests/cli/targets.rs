//! Connector targets through the real binary, into real application databases (MariaDB
//! and PostgreSQL) with a legacy schema: auto-increment ids, an `is_active` tinyint, a
//! `department` column, a `user_roles` link table. Okta- and Entra-style provisioning
//! against `scim serve --targets-dir` must leave exactly the expected rows; a permanently
//! rejected event is parked (and its resource's later events behind it) while others go
//! on; `kill -9` during application loses nothing and applies nothing twice; a row edited
//! by hand is found and repaired by `scim reconcile`.
//!
//! Skipped (with a SKIPPED line) when a database server is absent, except with CI=true.

use std::path::Path;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use reqwest::Method;
use scim_store::postgres::testing::TestDatabase;
use serde_json::{Value, json};

use crate::support::{Client, Server, USER_SCHEMA, eventually, run, scim};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// An application database with the legacy schema.
#[allow(clippy::large_enum_variant)]
enum Legacy {
    My {
        pool: mysql_async::Pool,
        url: String,
    },
    Pg {
        client: tokio_postgres::Client,
        url: String,
        _db: TestDatabase,
    },
}

impl Legacy {
    async fn mariadb(test: &str) -> Option<Legacy> {
        let admin = std::env::var("SCIM_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
        let pool = mysql_async::Pool::new(mysql_async::Opts::from_url(&admin).unwrap());
        let conn = tokio::time::timeout(Duration::from_secs(5), pool.get_conn()).await;
        let mut conn = match conn {
            Ok(Ok(c)) => c,
            other => {
                let why = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".into(),
                };
                assert!(
                    !ci(),
                    "MariaDB is required in CI but unreachable at {admin}: {why}"
                );
                eprintln!("MariaDB: SKIPPED {test} (unreachable at {admin}: {why})");
                return None;
            }
        };
        let db = format!("scimt_{test}_{}", std::process::id());
        conn.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
            .await
            .unwrap();
        conn.query_drop(format!("CREATE DATABASE {db}"))
            .await
            .unwrap();
        drop(conn);
        pool.disconnect().await.unwrap();
        let base = admin.rsplit_once('/').unwrap().0;
        let url = format!("{base}/{db}");
        let pool = mysql_async::Pool::new(mysql_async::Opts::from_url(&url).unwrap());
        let l = Legacy::My { pool, url };
        l.exec(
            "CREATE TABLE users (
                id INT AUTO_INCREMENT PRIMARY KEY,
                scim_id VARCHAR(64),
                login VARCHAR(200) NOT NULL,
                email VARCHAR(200),
                first_name VARCHAR(100),
                last_name VARCHAR(100),
                department VARCHAR(100),
                is_active TINYINT(1) NOT NULL DEFAULT 1,
                created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                CONSTRAINT users_email UNIQUE (email)
            )",
        )
        .await;
        l.exec(
            "CREATE TABLE user_roles (
                user_id INT NOT NULL,
                role VARCHAR(100) NOT NULL,
                FOREIGN KEY (user_id) REFERENCES users(id)
            )",
        )
        .await;
        Some(l)
    }

    async fn postgres(test: &str) -> Option<Legacy> {
        let db = TestDatabase::create(test)
            .await
            .unwrap_or_else(|e| panic!("{e}"))?;
        let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let l = Legacy::Pg {
            client,
            url: db.url.clone(),
            _db: db,
        };
        l.exec(
            "CREATE TABLE users (
                id SERIAL PRIMARY KEY,
                scim_id VARCHAR(64),
                login VARCHAR(200) NOT NULL,
                email VARCHAR(200),
                first_name VARCHAR(100),
                last_name VARCHAR(100),
                department VARCHAR(100),
                is_active SMALLINT NOT NULL DEFAULT 1,
                created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                CONSTRAINT users_email UNIQUE (email)
            )",
        )
        .await;
        l.exec(
            "CREATE TABLE user_roles (
                user_id INT NOT NULL REFERENCES users(id),
                role VARCHAR(100) NOT NULL
            )",
        )
        .await;
        Some(l)
    }

    fn url(&self) -> &str {
        match self {
            Legacy::My { url, .. } | Legacy::Pg { url, .. } => url,
        }
    }

    fn is_mysql(&self) -> bool {
        matches!(self, Legacy::My { .. })
    }

    async fn exec(&self, sql: &str) {
        match self {
            Legacy::My { pool, .. } => {
                let mut c = pool.get_conn().await.unwrap();
                c.query_drop(sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            Legacy::Pg { client, .. } => {
                client
                    .batch_execute(sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
    }

    /// Rows as text (`NULL` for NULL).
    async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        match self {
            Legacy::My { pool, .. } => {
                let mut c = pool.get_conn().await.unwrap();
                let rows: Vec<mysql_async::Row> = c.query(sql).await.unwrap();
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| match r.as_ref(i).unwrap() {
                                mysql_async::Value::NULL => "NULL".to_string(),
                                mysql_async::Value::Bytes(b) => {
                                    String::from_utf8_lossy(b).into_owned()
                                }
                                other => other.as_sql(true),
                            })
                            .collect()
                    })
                    .collect()
            }
            Legacy::Pg { client, .. } => client
                .simple_query(sql)
                .await
                .unwrap()
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                        (0..r.len())
                            .map(|i| r.get(i).unwrap_or("NULL").to_string())
                            .collect(),
                    ),
                    _ => None,
                })
                .collect(),
        }
    }

    async fn users(&self) -> Vec<Vec<String>> {
        self.rows(
            "SELECT login, email, first_name, last_name, department, is_active FROM users ORDER BY login",
        )
        .await
    }

    async fn roles(&self) -> Vec<Vec<String>> {
        self.rows(
            "SELECT u.login, r.role FROM user_roles r JOIN users u ON u.id = r.user_id ORDER BY u.login, r.role",
        )
        .await
    }
}

fn mapping(url: &str) -> String {
    format!(
        r#"# The legacy application's schema, bound to tenant acme.
name = "legacy"
kind = "sql"
tenant = "acme"
database_url = "{url}"
position = "target"

[users]
table = "users"
key = "scim_id"
id = "id"
deactivate = "update"
delete = "delete"

[users.columns]
login = "{{userName}}"
email = '{{emails[type eq "work"].value}}'
first_name = "{{name.givenName}}"
last_name = "{{name.familyName}}"
department = "{{{ENTERPRISE}:department}}"
is_active = "{{active | default(true)}}"

[roles]
table = "user_roles"
user = "user_id"
value = "role"
from = "{{displayName | lower}}"
"#
    )
}

fn rows(expected: &[&[&str]]) -> Vec<Vec<String>> {
    expected
        .iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

fn user(user_name: &str, given: &str, family: &str, dept: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true,
        ENTERPRISE: {"department": dept}
    })
}

struct Setup {
    _dir: tempfile::TempDir,
    data: String,
    targets: String,
    token: String,
}

fn setup(legacy: &Legacy) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").to_str().unwrap().to_string();
    let targets = dir.path().join("targets");
    std::fs::create_dir_all(&targets).unwrap();
    std::fs::write(targets.join("legacy.toml"), mapping(legacy.url())).unwrap();
    // Administration never creates a database: `migrate` does.
    run(&["migrate", "--data-dir", &data]);
    run(&["tenant", "create", "acme", "--data-dir", &data]);
    let out = run(&[
        "token",
        "create",
        "--tenant",
        "acme",
        "--name",
        "idp",
        "--data-dir",
        &data,
    ]);
    let token = crate::support::token_in(&out).unwrap();
    Setup {
        targets: targets.to_str().unwrap().to_string(),
        _dir: dir,
        data,
        token,
    }
}

/// Runs `scim` with arguments; (exit code, stdout + stderr).
fn run_status(args: &[&str]) -> (i32, String) {
    let out = scim().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn wait_rows(legacy: &Legacy, what: &str, users: &[Vec<String>], roles: &[Vec<String>]) {
    eventually(what, Duration::from_secs(30), || async {
        legacy.users().await == users && legacy.roles().await == roles
    })
    .await;
}

async fn okta_and_entra(legacy: Legacy) {
    let s = setup(&legacy);
    let check = run(&[
        "target",
        "check",
        "--targets-dir",
        &s.targets,
        "--data-dir",
        &s.data,
    ]);
    assert!(check.contains("target 'legacy' (sql) is valid"), "{check}");
    let server = Server::start(&["--data-dir", &s.data, "--targets-dir", &s.targets]);
    let url = server.url.clone();
    let c = Client::new(&s.token);

    // Okta: create, push a group and its members, replace a user with PUT, deactivate
    // with a PATCH of `active`, remove a member.
    let alice = c
        .call(
            &url,
            Method::POST,
            "/Users",
            Some(user("alice@example.com", "Alice", "Archer", "Engineering")),
            &[],
        )
        .await
        .expect(201)
        .id();
    let bob = c
        .call(
            &url,
            Method::POST,
            "/Users",
            Some(user("bob@example.com", "Bob", "Baker", "Sales")),
            &[],
        )
        .await
        .expect(201)
        .id();
    let admins = c
        .call(
            &url,
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Admins", "members": []})),
            &[],
        )
        .await
        .expect(201)
        .id();
    c.patch(
        &url,
        &format!("/Groups/{admins}"),
        json!([{"op": "add", "path": "members", "value": [{"value": alice}, {"value": bob}]}]),
        None,
    )
    .await;
    let mut put = user("alice@example.com", "Alice", "Archer-Smith", "Research");
    put["id"] = json!(alice);
    c.call(
        &url,
        Method::PUT,
        &format!("/Users/{alice}"),
        Some(put),
        &[],
    )
    .await
    .expect(200);
    c.patch(
        &url,
        &format!("/Users/{bob}"),
        json!([{"op": "replace", "value": {"active": false}}]),
        None,
    )
    .await
    .expect(200);
    c.patch(
        &url,
        &format!("/Groups/{admins}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}]),
        None,
    )
    .await;

    // Entra ID: capitalised ops, string booleans, a group created empty then filled,
    // renamed, a user deactivated then deleted.
    let carol = c
        .call(
            &url,
            Method::POST,
            "/Users",
            Some(user("carol@example.com", "Carol", "Cole", "Support")),
            &[],
        )
        .await
        .expect(201)
        .id();
    let dave = c
        .call(
            &url,
            Method::POST,
            "/Users",
            Some(user("dave@example.com", "Dave", "Dunn", "Support")),
            &[],
        )
        .await
        .expect(201)
        .id();
    let eng = c
        .call(
            &url,
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering"})),
            &[],
        )
        .await
        .expect(201)
        .id();
    c.patch(
        &url,
        &format!("/Groups/{eng}"),
        json!([{"op": "Add", "path": "members", "value": [{"value": carol}, {"value": dave}]}]),
        None,
    )
    .await;
    c.patch(
        &url,
        &format!("/Users/{carol}"),
        json!([
            {"op": "Replace", "path": "name.familyName", "value": "Cole-Jones"},
            {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Platform"}
        ]),
        None,
    )
    .await
    .expect(200);
    c.patch(
        &url,
        &format!("/Users/{dave}"),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
        None,
    )
    .await
    .expect(200);
    c.call(&url, Method::DELETE, &format!("/Users/{dave}"), None, &[])
        .await
        .expect(204);
    c.patch(
        &url,
        &format!("/Groups/{eng}"),
        json!([{"op": "Replace", "path": "displayName", "value": "Platform Engineering"}]),
        None,
    )
    .await;

    let mut want_users = rows(&[
        &[
            "alice@example.com",
            "alice@example.com",
            "Alice",
            "Archer-Smith",
            "Research",
            "1",
        ],
        &[
            "bob@example.com",
            "bob@example.com",
            "Bob",
            "Baker",
            "Sales",
            "0",
        ],
        &[
            "carol@example.com",
            "carol@example.com",
            "Carol",
            "Cole-Jones",
            "Platform",
            "1",
        ],
    ]);
    let want_roles = rows(&[
        &["alice@example.com", "admins"],
        &["carol@example.com", "platform engineering"],
    ]);
    wait_rows(
        &legacy,
        "the Okta and Entra sequences applied",
        &want_users,
        &want_roles,
    )
    .await;
    let ids = legacy
        .rows("SELECT login, scim_id FROM users ORDER BY login")
        .await;
    assert_eq!(
        ids,
        rows(&[
            &["alice@example.com", &alice],
            &["bob@example.com", &bob],
            &["carol@example.com", &carol]
        ])
    );

    // A permanent rejection: erin's email is alice's (a unique column). Erin's create is
    // parked, her later change waits behind it, frank goes on.
    let mut erin_body = user("erin@example.com", "Erin", "Eve", "Legal");
    erin_body["emails"] = json!([{"value": "alice@example.com", "type": "work", "primary": true}]);
    let erin = c
        .call(&url, Method::POST, "/Users", Some(erin_body), &[])
        .await
        .expect(201)
        .id();
    c.patch(
        &url,
        &format!("/Users/{erin}"),
        json!([{"op": "replace", "path": "name.familyName", "value": "Evans"}]),
        None,
    )
    .await
    .expect(200);
    let frank = c
        .call(
            &url,
            Method::POST,
            "/Users",
            Some(user("frank@example.com", "Frank", "Fox", "Legal")),
            &[],
        )
        .await
        .expect(201)
        .id();
    want_users.push(
        rows(&[&[
            "frank@example.com",
            "frank@example.com",
            "Frank",
            "Fox",
            "Legal",
            "1",
        ]])
        .remove(0),
    );
    wait_rows(
        &legacy,
        "frank applied past erin's parked events",
        &want_users,
        &want_roles,
    )
    .await;
    let targets_args = [
        "--targets-dir",
        s.targets.as_str(),
        "--data-dir",
        s.data.as_str(),
    ];
    let parked = run(&[
        &["target", "parked", "legacy", "--tenant", "acme"][..],
        &targets_args,
    ]
    .concat());
    let erin_lines: Vec<&str> = parked.lines().filter(|l| l.contains(&erin)).collect();
    assert_eq!(
        erin_lines.len(),
        2,
        "erin's create and her change are parked: {parked}"
    );
    assert!(
        erin_lines[0].to_lowercase().contains("duplicate"),
        "the database's reason is kept: {parked}"
    );
    assert!(erin_lines[1].contains("waits behind"), "{parked}");
    let list = run(&[&["target", "list"][..], &targets_args].concat());
    assert!(
        list.lines()
            .any(|l| l.starts_with("legacy") && l.contains(" ok ")),
        "{list}"
    );

    // The fix (the application drops the unique constraint), then a retry applies erin's
    // events in order.
    legacy
        .exec(if legacy.is_mysql() {
            "ALTER TABLE users DROP INDEX users_email"
        } else {
            "ALTER TABLE users DROP CONSTRAINT users_email"
        })
        .await;
    let retried = run(&[
        &["target", "retry", "legacy", "--tenant", "acme"][..],
        &targets_args,
    ]
    .concat());
    assert!(
        retried.matches("applied parked event").count() == 2,
        "{retried}"
    );
    want_users.insert(
        3,
        rows(&[&[
            "erin@example.com",
            "alice@example.com",
            "Erin",
            "Evans",
            "Legal",
            "1",
        ]])
        .remove(0),
    );
    assert_eq!(legacy.users().await, want_users);

    // Drift: a department edited by hand, a row deleted, a row that scim never had.
    legacy
        .exec("UPDATE users SET department = 'Sales' WHERE login = 'alice@example.com'")
        .await;
    legacy
        .exec("DELETE FROM users WHERE login = 'frank@example.com'")
        .await;
    legacy
        .exec("INSERT INTO users (scim_id, login, is_active) VALUES ('zzz-stale', 'ghost', 1)")
        .await;
    let reconcile = [
        &["reconcile", "--tenant", "acme", "--target", "legacy"][..],
        &targets_args,
    ]
    .concat();
    let (code, out) = run_status(&reconcile);
    assert_eq!(code, 2, "drift is reported with exit code 2: {out}");
    assert!(
        out.contains(&format!(
            "different {alice} department: scim says 'Research', the target has 'Sales'"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("missing   {frank}")), "{out}");
    assert!(out.contains("extra     zzz-stale"), "{out}");
    assert!(out.contains("1 missing, 1 extra, 1 different"), "{out}");
    let repaired = run(&[&reconcile[..], &["--repair"]].concat());
    assert!(repaired.contains("3 repaired"), "{repaired}");
    let (code, out) = run_status(&reconcile);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 missing, 0 extra, 0 different"), "{out}");
    assert_eq!(legacy.users().await, want_users);
    assert_eq!(legacy.roles().await, want_roles);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_and_entra_into_mariadb() {
    if let Some(l) = Legacy::mariadb("okta_entra").await {
        okta_and_entra(l).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_and_entra_into_postgres() {
    if let Some(l) = Legacy::postgres("targets_okta_entra").await {
        okta_and_entra(l).await;
    }
}

/// The target's stored position for acme.
async fn position(legacy: &Legacy) -> i64 {
    legacy
        .rows("SELECT position FROM scim_target_positions WHERE target = 'legacy' AND tenant = 'acme'")
        .await
        .first()
        .and_then(|r| r[0].parse().ok())
        .unwrap_or(0)
}

async fn kill_during_application(legacy: Legacy) {
    const USERS: usize = 300;
    let s = setup(&legacy);
    let c = Client::new(&s.token);
    // The backlog, written while no target runs.
    let server = Server::start(&["--data-dir", &s.data]);
    let url = server.url.clone();
    let mut ids = Vec::new();
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(10) {
        let replies = futures_util::future::join_all(chunk.iter().map(|i| {
            let (c, url) = (c.clone(), url.clone());
            async move {
                c.call(
                    &url,
                    Method::POST,
                    "/Users",
                    Some(user(
                        &format!("u{i:04}@example.com"),
                        "U",
                        &format!("{i}"),
                        "Ops",
                    )),
                    &[],
                )
                .await
                .expect(201)
                .id()
            }
        }))
        .await;
        ids.extend(replies);
    }
    let staff = c
        .call(
            &url,
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Staff"})),
            &[],
        )
        .await
        .expect(201)
        .id();
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    c.patch(
        &url,
        &format!("/Groups/{staff}"),
        json!([{"op": "add", "path": "members", "value": members}]),
        None,
    )
    .await;
    drop(server);

    // The target starts on the backlog and is killed (SIGKILL) part-way. (Checking the
    // target first creates its position table.)
    run(&[
        "target",
        "check",
        "--targets-dir",
        &s.targets,
        "--data-dir",
        &s.data,
    ]);
    let mut server = Server::start(&["--data-dir", &s.data, "--targets-dir", &s.targets]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut at_kill = 0;
    while std::time::Instant::now() < deadline {
        at_kill = position(&legacy).await;
        if at_kill >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    server.wait_exit();
    let applied_at_kill = legacy.rows("SELECT COUNT(*) FROM users").await[0][0].clone();
    eprintln!("killed at position {at_kill} with {applied_at_kill} users applied");

    let _server = Server::start(&["--data-dir", &s.data, "--targets-dir", &s.targets]);
    eventually(
        "the backlog applied after the restart",
        Duration::from_secs(60),
        || async {
            legacy.rows("SELECT COUNT(*) FROM user_roles").await[0][0] == USERS.to_string()
        },
    )
    .await;
    let list = run(&[
        "target",
        "list",
        "--targets-dir",
        &s.targets,
        "--data-dir",
        &s.data,
    ]);
    let line = list
        .lines()
        .find(|l| l.starts_with("legacy"))
        .unwrap()
        .to_string();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[5], "0", "no lag: {list}");
    // Exactly one row per user, each exact, and one role row each: nothing twice.
    let got = legacy
        .rows("SELECT scim_id, login, last_name, is_active FROM users ORDER BY login")
        .await;
    let want: Vec<Vec<String>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            vec![
                id.clone(),
                format!("u{i:04}@example.com"),
                i.to_string(),
                "1".into(),
            ]
        })
        .collect();
    assert_eq!(got, want);
    let dup = legacy
        .rows("SELECT COUNT(*) FROM (SELECT user_id, role FROM user_roles GROUP BY user_id, role HAVING COUNT(*) > 1) d")
        .await;
    assert_eq!(dup[0][0], "0");
    assert_eq!(
        legacy
            .rows("SELECT COUNT(*) FROM user_roles WHERE role = 'staff'")
            .await[0][0],
        USERS.to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_application_into_mariadb() {
    if let Some(l) = Legacy::mariadb("kill9").await {
        kill_during_application(l).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_application_into_postgres() {
    if let Some(l) = Legacy::postgres("targets_kill9").await {
        kill_during_application(l).await;
    }
}

/// A mapping that names what does not exist is refused at load with file, line, reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_mappings_are_refused_with_file_line_and_reason() {
    let Some(legacy) = Legacy::mariadb("badmap").await else {
        return;
    };
    let s = setup(&legacy);
    let file = Path::new(&s.targets).join("legacy.toml");
    let good = mapping(legacy.url());
    let cases = [
        (
            "login = \"{userName}\"",
            "nickname = \"{userName}\"",
            "has no column 'nickname'",
        ),
        (
            "first_name = \"{name.givenName}\"",
            "first_name = \"{name.nickName}\"",
            "is not an attribute of User",
        ),
        (
            "is_active = \"{active | default(true)}\"",
            "is_active = \"{userName}\"",
            "does not fit column 'is_active'",
        ),
        (
            "last_name = \"{name.familyName}\"",
            "last_name = \"{name.familyName | lowr}\"",
            "unknown filter",
        ),
        (
            "table = \"user_roles\"",
            "table = \"user_role\"",
            "no table 'user_role'",
        ),
    ];
    for (from, to, reason) in cases {
        let text = good.replace(from, to);
        assert_ne!(text, good, "{from}");
        std::fs::write(&file, &text).unwrap();
        let line = text
            .lines()
            .position(|l| {
                l.contains(to.split(" =").next().unwrap())
                    && l.contains(to.split("= ").nth(1).unwrap())
            })
            .unwrap()
            + 1;
        let (code, out) = run_status(&[
            "target",
            "check",
            "--targets-dir",
            &s.targets,
            "--data-dir",
            &s.data,
        ]);
        assert_ne!(code, 0, "{to}: {out}");
        assert!(
            out.contains(&format!("{}:{line}:", file.display())),
            "{to}: line {line}: {out}"
        );
        assert!(out.contains(reason), "{to}: {out}");
    }
}
