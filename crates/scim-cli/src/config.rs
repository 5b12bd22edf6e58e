//! Settings shared by every command: flags, then environment variables, then a config file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use scim_core::schema::SchemaRegistry;
use scim_store::postgres::PgOptions;
use scim_store::{AnyStore, DatabaseUrl};
use serde::Deserialize;

/// Where the data lives and which schemas are served.
#[derive(Debug, Clone, Args)]
pub struct StoreOptions {
    /// The database: `postgres://user[:password]@host[:port]/database` (any number of
    /// instances may share it) or `sqlite://PATH`. Without it, the embedded SQLite database
    /// in --data-dir is used.
    #[arg(long, env = "SCIM_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Most PostgreSQL connections this process opens [default: 16].
    #[arg(long, env = "SCIM_DATABASE_MAX_CONNECTIONS")]
    pub database_max_connections: Option<usize>,
    /// Seconds to wait when connecting to PostgreSQL [default: 5].
    #[arg(long, env = "SCIM_DATABASE_CONNECT_TIMEOUT")]
    pub database_connect_timeout: Option<u64>,
    /// Seconds one PostgreSQL statement may run (lock waits included) before the request
    /// is answered 503 [default: 10].
    #[arg(long, env = "SCIM_DATABASE_STATEMENT_TIMEOUT")]
    pub database_statement_timeout: Option<u64>,
    /// Seconds a request may wait for a free PostgreSQL connection before it is answered
    /// 503 [default: 5].
    #[arg(long, env = "SCIM_DATABASE_ACQUIRE_TIMEOUT")]
    pub database_acquire_timeout: Option<u64>,
    /// Directory of the embedded database, when no --database-url (`scim serve` and `scim
    /// migrate` create it when missing; other commands need it to exist) [default: ./data].
    #[arg(long, env = "SCIM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Directory of extra schema and resource type JSON files (the format /Schemas and
    /// /ResourceTypes return), loaded at start.
    #[arg(long, env = "SCIM_SCHEMAS_DIR")]
    pub schemas_dir: Option<PathBuf>,
    /// A TOML config file; flags and environment variables override its values.
    #[arg(long, env = "SCIM_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The config file (every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub database_max_connections: Option<usize>,
    pub database_connect_timeout: Option<u64>,
    pub schemas_dir: Option<PathBuf>,
    pub log_format: Option<String>,
    pub rate_limit: Option<String>,
    pub rate_burst: Option<u32>,
    pub max_connections: Option<usize>,
    pub header_read_timeout: Option<u64>,
    pub tenant_max_writes: Option<usize>,
    pub tenant_writer_share: Option<u32>,
    pub database_statement_timeout: Option<u64>,
    pub database_acquire_timeout: Option<u64>,
    pub patch_response_max_members: Option<u64>,
    pub page_max_members: Option<u64>,
    pub metrics_listen: Option<String>,
    pub metrics_tenant_labels: Option<usize>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Administration commands: the running server to act on through its management API.
    pub server: Option<String>,
    /// Administration commands: the admin token for `server`.
    pub admin_token: Option<String>,
    /// Event delivery (webhooks, NATS): the `[delivery]` table.
    pub delivery: Option<crate::delivery::DeliveryFile>,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> Result<FileConfig> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }
}

impl StoreOptions {
    pub fn data_dir(&self, file: &FileConfig) -> PathBuf {
        self.data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("data"))
    }

    /// The schema registry: built-ins plus every `*.json` in the schemas directory.
    pub fn registry(&self, file: &FileConfig) -> Result<SchemaRegistry> {
        let mut registry = SchemaRegistry::builtin()?;
        if let Some(dir) = self
            .schemas_dir
            .clone()
            .or_else(|| file.schemas_dir.clone())
        {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .with_context(|| format!("cannot read schemas directory {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            files.sort();
            let mut texts = Vec::new();
            for f in &files {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read {}", f.display()))?;
                texts.push((f.display().to_string(), text));
            }
            let docs: Vec<(&str, &str)> = texts
                .iter()
                .map(|(n, t)| (n.as_str(), t.as_str()))
                .collect();
            registry.add_json_documents(&docs)?;
        }
        Ok(registry)
    }

    /// The database to use: --database-url (or its variable, or the config file), else
    /// the SQLite file in the data directory.
    pub fn database_url(&self, file: &FileConfig) -> Result<DatabaseUrl> {
        match self
            .database_url
            .clone()
            .or_else(|| file.database_url.clone())
        {
            Some(url) => Ok(DatabaseUrl::parse(&url)?),
            None => Ok(DatabaseUrl::Sqlite(self.data_dir(file).join("scim.db"))),
        }
    }

    /// The PostgreSQL pool settings.
    pub fn pg_options(&self, file: &FileConfig) -> PgOptions {
        let defaults = PgOptions::default();
        let max = self
            .database_max_connections
            .or(file.database_max_connections)
            .unwrap_or(defaults.max_connections);
        let connect = self
            .database_connect_timeout
            .or(file.database_connect_timeout)
            .map_or(defaults.connect_timeout, Duration::from_secs);
        let statement = self
            .database_statement_timeout
            .or(file.database_statement_timeout)
            .map_or(defaults.statement_timeout, |s| {
                Duration::from_secs(s.max(1))
            });
        let acquire = self
            .database_acquire_timeout
            .or(file.database_acquire_timeout)
            .map_or(defaults.acquire_timeout, |s| Duration::from_secs(s.max(1)));
        PgOptions {
            max_connections: max.max(1),
            connect_timeout: connect,
            statement_timeout: statement,
            acquire_timeout: acquire,
        }
    }

    /// Opens the store (creating the SQLite file and its directory if needed) and applies
    /// pending migrations.
    pub async fn open(&self, file: &FileConfig) -> Result<(Arc<SchemaRegistry>, AnyStore)> {
        let registry = Arc::new(self.registry(file)?);
        let url = self.database_url(file)?;
        let store = open_url(&url, &registry, &self.pg_options(file)).await?;
        Ok((registry, store))
    }
}

/// Opens the store at `url`.
pub async fn open_url(
    url: &DatabaseUrl,
    registry: &SchemaRegistry,
    pg: &PgOptions,
) -> Result<AnyStore> {
    // The SQLite store creates its directory itself, owner-only.
    let store = AnyStore::open(url, registry, pg)
        .await
        .with_context(|| match url {
            DatabaseUrl::Sqlite(path) => format!("cannot open the database {}", path.display()),
            DatabaseUrl::Postgres(_) => "cannot open the PostgreSQL database".to_string(),
        })?;
    Ok(store)
}

/// Which deployment an administration command acts on. Unlike `scim serve` and
/// `scim migrate`, administration never creates a database: a SQLite file that does not
/// exist is an error that says where it was looked for.
#[derive(Debug, Clone, Args)]
pub struct AdminTarget {
    /// The deployment's database: `postgres://user[:password]@host[:port]/database` or
    /// `sqlite://PATH` [default: the SQLite file in --data-dir].
    #[arg(long, env = "SCIM_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// The data directory the server was started with (it holds scim.db) [default: ./data,
    /// relative to the current directory].
    #[arg(long, env = "SCIM_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Seconds to wait when connecting to PostgreSQL [default: 5].
    #[arg(long, env = "SCIM_DATABASE_CONNECT_TIMEOUT", value_name = "SECONDS")]
    pub database_connect_timeout: Option<u64>,
    /// The server's TOML config file: its `database_url` or `data_dir` (and `schemas_dir`)
    /// are used unless given here.
    #[arg(long, env = "SCIM_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// `scim tenant` and `scim token`: act on a running server through its management API
    /// (e.g. `https://scim.example.com`) instead of on its database; needs --admin-token.
    #[arg(long, env = "SCIM_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// The admin token (`scimadm_…`, from `scim admin-token create`) for --server.
    #[arg(
        long,
        env = "SCIM_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<String>,
}

impl AdminTarget {
    fn store_options(&self) -> StoreOptions {
        StoreOptions {
            database_url: self.database_url.clone(),
            database_max_connections: Some(2),
            database_connect_timeout: self.database_connect_timeout,
            database_statement_timeout: None,
            database_acquire_timeout: None,
            data_dir: self.data_dir.clone(),
            schemas_dir: None,
            config: self.config.clone(),
        }
    }

    /// Opens the deployment's existing database (never creating one) and says on
    /// standard error which one it is.
    pub async fn open(&self) -> Result<AnyStore> {
        if let Some(server) = &self.server {
            anyhow::bail!(
                "this command acts on the database only, not through the management API: \
                 drop --server {server} (or SCIM_SERVER) and give --data-dir, --database-url \
                 or --config"
            );
        }
        let file = FileConfig::load(self.config.as_deref())?;
        let (_, store) = self.store_options().open_existing(&file).await?;
        Ok(store)
    }
}

impl StoreOptions {
    /// The database these options name, which must exist already if it is a SQLite file:
    /// a command that acts on a deployment never creates one.
    pub fn existing_url(&self, file: &FileConfig) -> Result<DatabaseUrl> {
        let url = self.database_url(file)?;
        if let DatabaseUrl::Sqlite(path) = &url
            && !path.exists()
        {
            let shown = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            let why = if self.database_url.is_some() || file.database_url.is_some() {
                "named by --database-url (or SCIM_DATABASE_URL, or the config file)".to_string()
            } else if self.data_dir.is_some() {
                "in the data directory given by --data-dir (or SCIM_DATA_DIR)".to_string()
            } else if file.data_dir.is_some() {
                "in the data directory of the config file".to_string()
            } else {
                "in ./data, the default data directory, relative to the current directory"
                    .to_string()
            };
            anyhow::bail!(
                "there is no scim database at {} ({why}). Administration commands act on an \
                 existing deployment and never create one: point at the server's data with \
                 --data-dir DIR (the one `scim serve` was started with), --database-url or \
                 --config, or create it by starting the server (`scim serve`) or with `scim migrate`",
                shown.display()
            );
        }
        Ok(url)
    }

    /// Opens the existing database (see [`StoreOptions::existing_url`]) with the schema
    /// registry, and says on standard error which database it is.
    pub async fn open_existing(
        &self,
        file: &FileConfig,
    ) -> Result<(Arc<SchemaRegistry>, AnyStore)> {
        let url = self.existing_url(file)?;
        let registry = Arc::new(self.registry(file)?);
        let store = open_url(&url, &registry, &self.pg_options(file)).await?;
        eprintln!("scim: acting on {}", describe_absolute(&url, &store));
        Ok((registry, store))
    }
}

impl AdminTarget {
    /// The deployment's schemas (the built-in ones and its config file's `schemas_dir`).
    pub fn registry(&self) -> Result<SchemaRegistry> {
        let file = FileConfig::load(self.config.as_deref())?;
        self.store_options().registry(&file)
    }

    /// A tenant's full SCIM base URL when the server's public URL is known here (the
    /// config file's `public_url`, or `SCIM_PUBLIC_URL`), else a sentence with its path.
    pub fn base_url_line(&self, tenant: &str) -> String {
        let public = FileConfig::load(self.config.as_deref())
            .ok()
            .and_then(|f| f.public_url)
            .or_else(|| std::env::var("SCIM_PUBLIC_URL").ok())
            .filter(|u| !u.trim().is_empty());
        match public {
            Some(url) => format!(
                "SCIM base URL: {}/scim/v2/{tenant}",
                url.trim_end_matches('/')
            ),
            None => format!(
                "SCIM base URL: the server's public URL + /scim/v2/{tenant} (e.g. \
                 http://127.0.0.1:8080/scim/v2/{tenant} for `scim serve` with its defaults)"
            ),
        }
    }
}

/// A store's description with a SQLite path made absolute (what an operator compares).
fn describe_absolute(url: &DatabaseUrl, store: &AnyStore) -> String {
    match url {
        DatabaseUrl::Sqlite(path) => format!(
            "sqlite://{}",
            std::path::absolute(path)
                .unwrap_or_else(|_| path.clone())
                .display()
        ),
        DatabaseUrl::Postgres(_) => store.describe(),
    }
}
