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
    /// Directory for the embedded database (created if missing), when no --database-url.
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
