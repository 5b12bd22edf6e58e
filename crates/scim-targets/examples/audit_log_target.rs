//! A custom target: every user change of a tenant appended to an audit file, one JSON line
//! per event, exactly once — the file's last line holds the position, so a restart goes on
//! after it and never writes an event twice.
//!
//! ```text
//! cargo run -p scim-targets --example audit_log_target -- DATA_DIR TENANT AUDIT_FILE
//! ```
//!
//! `DATA_DIR` is the `--data-dir` of a `scim serve` (its SQLite database); the example
//! applies every event so far, then waits for new ones until Ctrl-C.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use scim_core::schema::SchemaRegistry;
use scim_delivery::{Event, Feed};
use scim_store::sqlite::SqliteStore;
use scim_store::{Store, TargetStates};
use scim_targets::{Applied, Applier, RetryPolicy, RunMode, Target, TargetError};

/// Appends user events to a file.
struct AuditLog {
    path: PathBuf,
    lock: Mutex<()>,
}

impl AuditLog {
    /// The position of the file's last line.
    fn last_position(&self) -> Result<Option<i64>, TargetError> {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(TargetError::retry(format!("reading the audit file: {e}"))),
        };
        let mut last = None;
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|e| TargetError::retry(e.to_string()))?;
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                last = v["position"].as_i64().or(last);
            }
        }
        Ok(last)
    }
}

#[async_trait]
impl Target for AuditLog {
    fn name(&self) -> &str {
        "audit-log"
    }

    /// The position lives in the file itself, written with the event: exactly once.
    fn keeps_position(&self) -> bool {
        true
    }

    async fn position(&self, _tenant: &str) -> Result<Option<i64>, TargetError> {
        self.last_position()
    }

    async fn apply(&self, event: &Event) -> Result<Applied, TargetError> {
        let _guard = self
            .lock
            .lock()
            .map_err(|_| TargetError::retry("lock poisoned"))?;
        if event.position > 0 && self.last_position()?.is_some_and(|p| p >= event.position) {
            return Ok(Applied::AlreadyApplied);
        }
        let line = serde_json::json!({
            "position": event.position,
            "at": event.timestamp,
            "type": event.event_type,
            "user": event.data.id,
            "userName": event.data.resource.as_ref().and_then(|r| r.get("userName")),
            "changes": event.data.changes,
        });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| TargetError::retry(format!("opening the audit file: {e}")))?;
        // One write of one line: it is in the file whole, or not at all.
        f.write_all(format!("{line}\n").as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| TargetError::retry(format!("writing the audit file: {e}")))?;
        Ok(Applied::Done)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, data_dir, tenant, audit] = args.as_slice() else {
        return Err("usage: audit_log_target DATA_DIR TENANT AUDIT_FILE".into());
    };
    let registry = Arc::new(SchemaRegistry::builtin()?);
    let sqlite = SqliteStore::open(&PathBuf::from(data_dir).join("scim.db"), &registry)?;
    let states: Arc<dyn TargetStates> = Arc::new(sqlite.clone());
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let tenant = store
        .tenant(tenant)
        .await?
        .ok_or_else(|| format!("no tenant '{tenant}'"))?;
    let target = Arc::new(AuditLog {
        path: audit.into(),
        lock: Mutex::new(()),
    });
    let feed = Feed::new(store.clone(), registry, "http://localhost");
    let applier = Applier::new(target, states, feed, tenant, RetryPolicy::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(true);
    });
    let (why, progress) = applier.run(RunMode::Forever, stopped).await?;
    println!(
        "{why:?} at position {}: {} events written",
        progress.position, progress.applied
    );
    Ok(())
}
