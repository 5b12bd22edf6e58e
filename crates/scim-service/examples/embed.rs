//! An application that embeds `scim`: its own routes (`/health`, `/app/users`), the SCIM
//! endpoints mounted under `/scim`, the management API under `/manage` behind the
//! application's own check, and a task that keeps the application's user table from the
//! tenant's events.
//!
//! ```text
//! cargo run -p scim-service --example embed                  # serves on 127.0.0.1:3000
//! cargo run -p scim-service --example embed -- --self-test   # one provisioning round trip
//! ```
//!
//! Options: `--database-url URL` (default `sqlite://embed-data/scim.db`; a temporary file
//! in `--self-test`), `--listen ADDR`. The behaviour tests of `scim-service`
//! (`tests/embed/`) run this same application on SQLite and PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use futures_util::StreamExt;
use scim_service::{Event, EventType, ScimService};
use serde_json::{Value, json};

/// The header the application's (toy) sessions travel in; a real application checks its
/// own session cookie or token here.
pub const SESSION_HEADER: &str = "x-app-session";
/// The session of the application's administrator.
pub const ADMIN_SESSION: &str = "admin-session";

/// The tenant this application provisions from.
pub const TENANT: &str = "acme";

/// A user as the application keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUser {
    /// SCIM `userName`.
    pub user_name: String,
    /// SCIM `active` (true when absent).
    pub active: bool,
}

/// The application's own copy of the directory, kept from events.
#[derive(Debug, Default)]
pub struct Directory {
    /// Users by SCIM id.
    pub users: BTreeMap<String, AppUser>,
    /// Group names by SCIM id.
    pub groups: BTreeMap<String, String>,
    /// Members (SCIM ids) of each group, by the group's SCIM id.
    pub members: BTreeMap<String, BTreeSet<String>>,
    /// Events applied.
    pub applied: u64,
}

impl Directory {
    /// Applies one event; returns a line saying what changed.
    pub fn apply(&mut self, event: &Event) -> String {
        self.applied += 1;
        let id = event.data.id.clone();
        // The resource's JSON (parsed on first use: `scim_delivery::event::Resource`).
        let resource = event.data.resource.as_ref().map(|r| r.value());
        match event.event_type {
            EventType::UserCreated
            | EventType::UserUpdated
            | EventType::UserDeactivated
            | EventType::UserReactivated
            | EventType::UserRestored => {
                let user = AppUser {
                    user_name: text(resource, "userName"),
                    active: resource
                        .and_then(|r| r.get("active"))
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                };
                let line = format!("user {} active={}", user.user_name, user.active);
                self.users.insert(id, user);
                line
            }
            EventType::UserDeleted => {
                for members in self.members.values_mut() {
                    members.remove(&id);
                }
                match self.users.remove(&id) {
                    Some(u) => format!("user {} deleted", u.user_name),
                    None => format!("user {id} deleted"),
                }
            }
            EventType::GroupCreated | EventType::GroupUpdated | EventType::GroupRestored => {
                let name = text(resource, "displayName");
                let line = format!("group {name}");
                self.groups.insert(id, name);
                line
            }
            EventType::GroupDeleted => {
                self.members.remove(&id);
                format!("group {} deleted", self.groups.remove(&id).unwrap_or(id))
            }
            EventType::GroupMembersAdded | EventType::GroupMembersRemoved => {
                let added = event.event_type == EventType::GroupMembersAdded;
                let members = self.members.entry(id.clone()).or_default();
                for m in &event.data.members {
                    if added {
                        members.insert(m.value.clone());
                    } else {
                        members.remove(&m.value);
                    }
                }
                format!(
                    "group {}: {} {} member(s)",
                    self.groups.get(&id).unwrap_or(&id),
                    if added { "added" } else { "removed" },
                    event.data.members.len()
                )
            }
            other => format!("{} {id}", other.as_str()),
        }
    }

    /// The names of the groups a user is a direct member of.
    pub fn groups_of(&self, user_id: &str) -> Vec<String> {
        self.members
            .iter()
            .filter(|(_, members)| members.contains(user_id))
            .filter_map(|(group, _)| self.groups.get(group).cloned())
            .collect()
    }

    /// The application's user list, as `/app/users` answers it.
    pub fn to_json(&self) -> Value {
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|(id, u)| {
                json!({"id": id, "userName": u.user_name, "active": u.active,
                       "groups": self.groups_of(id)})
            })
            .collect();
        json!({ "users": users })
    }
}

fn text(resource: Option<&Value>, attribute: &str) -> String {
    resource
        .and_then(|r| r.get(attribute))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The application, running.
pub struct Running {
    /// Where the application listens (`http://127.0.0.1:PORT`).
    pub url: String,
    /// The tenant's SCIM base URL, for its identity provider.
    pub scim_base_url: String,
    /// A SCIM bearer token of the tenant.
    pub token: String,
    /// The application's user table.
    pub directory: Arc<Mutex<Directory>>,
    /// The embedded `scim`.
    pub scim: ScimService,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting requests and ends the event subscription.
    pub async fn stop(self) {
        self.scim.shutdown();
        let _ = self.stop.send(());
        let _ = self.server.await;
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Starts the application on `listen` with its `scim` store at `database_url`: creates the
/// tenant (unless it exists) and a token for its identity provider, subscribes to the
/// tenant's events and serves.
pub async fn start(database_url: &str, listen: &str) -> Result<Running, Error> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let scim = ScimService::builder()
        .database_url(database_url)
        // Where `scim_router` is mounted below, as identity providers reach it.
        .public_url(&format!("{url}/scim"))
        .open()
        .await?;
    match scim.create_tenant(TENANT).await {
        Ok(_) => {}
        Err(scim_service::ServiceError::Admin(e)) if e.code == "tenant_exists" => {}
        Err(e) => return Err(e.into()),
    }
    let token = scim.create_token(TENANT, "idp").await?;

    // The application's user table, kept from the tenant's events (from the first one:
    // a real application stores the position of the last event it applied).
    let directory = Arc::new(Mutex::new(Directory::default()));
    let mut events = scim.subscribe(TENANT, 0).await?;
    let table = directory.clone();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => {
                    let line = match table.lock() {
                        Ok(mut d) => d.apply(&event),
                        Err(_) => return,
                    };
                    println!(
                        "event {} {}: {line}",
                        event.position,
                        event.event_type.as_str()
                    );
                }
                Err(e) => eprintln!("event stream: {e}"),
            }
        }
    });

    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/app/users", get(list_users))
        .with_state(directory.clone())
        // SCIM for identity providers: {url}/scim/{tenant}/Users, …
        .nest("/scim", scim.scim_router())
        // The management API for the application's administrators only.
        .nest(
            "/manage",
            scim.management_router(|headers: &HeaderMap| {
                let session = headers.get(SESSION_HEADER)?.to_str().ok()?;
                (session == ADMIN_SESSION).then(|| "app-admin".to_string())
            }),
        );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            eprintln!("server: {e}");
        }
    });
    Ok(Running {
        url,
        scim_base_url: token.scim_base_url.clone(),
        token: token.secret.unwrap_or_default(),
        directory,
        scim,
        stop,
        server,
    })
}

async fn list_users(State(directory): State<Arc<Mutex<Directory>>>) -> axum::Json<Value> {
    let body = match directory.lock() {
        Ok(d) => d.to_json(),
        Err(_) => json!({"users": []}),
    };
    axum::Json(body)
}

/// What an identity provider does, then what the application sees: creates a user and a
/// group with the user as member through SCIM, waits until the application's table shows
/// the membership, and checks that the management API refuses a request without the
/// application's session. Returns the new user's SCIM id.
pub async fn self_test(app: &Running) -> Result<String, Error> {
    let http = reqwest::Client::new();
    let user: Value = http
        .post(format!("{}/Users", app.scim_base_url))
        .bearer_auth(&app.token)
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice@example.com",
            "active": true
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let user_id = user["id"].as_str().ok_or("the created user has no id")?;
    http.post(format!("{}/Groups", app.scim_base_url))
        .bearer_auth(&app.token)
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Engineering",
            "members": [{"value": user_id}]
        }))
        .send()
        .await?
        .error_for_status()?;

    // The application's own route shows what its event handler applied.
    let mut seen = Value::Null;
    for _ in 0..200 {
        seen = http
            .get(format!("{}/app/users", app.url))
            .send()
            .await?
            .json()
            .await?;
        if seen["users"]
            .as_array()
            .is_some_and(|users| users.iter().any(|u| u["groups"] == json!(["Engineering"])))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let alice = &seen["users"][0];
    if alice["userName"] != "alice@example.com" || alice["groups"] != json!(["Engineering"]) {
        return Err(format!("the application's table does not show the membership: {seen}").into());
    }

    let refused = http
        .get(format!("{}/manage/admin/v1/tenants", app.url))
        .bearer_auth(&app.token)
        .send()
        .await?;
    if refused.status() != 401 {
        return Err(format!(
            "the management API let in a request without the application's session: {}",
            refused.status()
        )
        .into());
    }
    let tenants: Value = http
        .get(format!("{}/manage/admin/v1/tenants", app.url))
        .header(SESSION_HEADER, ADMIN_SESSION)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    if tenants["tenants"][0]["name"] != TENANT {
        return Err(format!("unexpected tenants: {tenants}").into());
    }
    Ok(user_id.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SCIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let self_test_mode = args.iter().any(|a| a == "--self-test");
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let dir = tempfile::tempdir()?;
    let database_url = option("--database-url").unwrap_or_else(|| {
        if self_test_mode {
            format!("sqlite://{}", dir.path().join("scim.db").display())
        } else {
            "sqlite://embed-data/scim.db".to_string()
        }
    });
    let listen = option("--listen").unwrap_or_else(|| {
        if self_test_mode {
            "127.0.0.1:0"
        } else {
            "127.0.0.1:3000"
        }
        .to_string()
    });
    let app = start(&database_url, &listen).await?;
    println!("application: {}/app/users", app.url);
    println!("SCIM base URL: {}", app.scim_base_url);
    println!("SCIM bearer token: {}", app.token);
    if self_test_mode {
        let user = self_test(&app).await?;
        println!("self-test passed: user {user} provisioned and seen by the application");
        app.stop().await;
        return Ok(());
    }
    let _ = tokio::signal::ctrl_c().await;
    app.stop().await;
    Ok(())
}
