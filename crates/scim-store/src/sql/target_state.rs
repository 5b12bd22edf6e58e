//! Connector target state (`crate::targets`).

use async_trait::async_trait;

use super::db::{Db, DbExt, SqlRow, params};
use super::resources::{RESOURCE_COLUMNS, resource_from_row};
use super::{Engine, SqlStore, now};
use crate::targets::{ParkedEvent, TargetStates, TargetStatus};
use crate::{StoreError, StoredResource};

const STATUS_COLUMNS: &str =
    "target, tenant_id, position, failures, last_error, last_error_at, paused, updated";
const PARKED_COLUMNS: &str = "target, tenant_id, position, resource_id, event, error, parked_at";

fn status_from_row(r: &dyn SqlRow) -> Result<TargetStatus, StoreError> {
    Ok(TargetStatus {
        target: r.text(0)?,
        tenant_id: r.int(1)?,
        position: r.int(2)?,
        failures: r.int(3)?,
        last_error: r.opt_text(4)?,
        last_error_at: r.opt_text(5)?,
        paused: r.opt_text(6)?,
        updated: r.text(7)?,
    })
}

fn parked_from_row(r: &dyn SqlRow) -> Result<ParkedEvent, StoreError> {
    Ok(ParkedEvent {
        target: r.text(0)?,
        tenant_id: r.int(1)?,
        position: r.int(2)?,
        resource_id: r.text(3)?,
        event: r.text(4)?,
        error: r.text(5)?,
        parked_at: r.text(6)?,
    })
}

fn save(db: &mut dyn Db, s: &TargetStatus) -> Result<(), StoreError> {
    db.exec(
        &format!(
            "INSERT INTO target_positions ({STATUS_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (target, tenant_id) DO UPDATE SET position = excluded.position,
               failures = excluded.failures, last_error = excluded.last_error,
               last_error_at = excluded.last_error_at, paused = excluded.paused,
               updated = excluded.updated"
        ),
        params![
            s.target.as_str(),
            s.tenant_id,
            s.position,
            s.failures,
            s.last_error.clone(),
            s.last_error_at.clone(),
            s.paused.clone(),
            now()
        ],
    )?;
    Ok(())
}

#[async_trait]
impl<E: Engine> TargetStates for SqlStore<E> {
    async fn target_status(
        &self,
        target: &str,
        tenant_id: i64,
    ) -> Result<Option<TargetStatus>, StoreError> {
        let target = target.to_string();
        self.engine
            .read(move |db| {
                db.row(
                    &format!(
                        "SELECT {STATUS_COLUMNS} FROM target_positions
                         WHERE target = ? AND tenant_id = ?"
                    ),
                    params![target, tenant_id],
                    status_from_row,
                )
            })
            .await
    }

    async fn target_statuses(&self, target: Option<&str>) -> Result<Vec<TargetStatus>, StoreError> {
        let target = target.map(str::to_string);
        self.engine
            .read(move |db| match target {
                Some(t) => db.rows(
                    &format!(
                        "SELECT {STATUS_COLUMNS} FROM target_positions WHERE target = ?
                         ORDER BY target, tenant_id"
                    ),
                    params![t],
                    status_from_row,
                ),
                None => db.rows(
                    &format!(
                        "SELECT {STATUS_COLUMNS} FROM target_positions ORDER BY target, tenant_id"
                    ),
                    &[],
                    status_from_row,
                ),
            })
            .await
    }

    async fn save_target_status(&self, status: &TargetStatus) -> Result<(), StoreError> {
        let status = status.clone();
        self.engine.write(move |db| save(db, &status)).await
    }

    async fn park_event(&self, parked: &ParkedEvent, advance: bool) -> Result<(), StoreError> {
        let p = parked.clone();
        self.engine
            .write(move |db| {
                db.exec(
                    &format!(
                        "INSERT INTO target_parked ({PARKED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
                         ON CONFLICT (target, tenant_id, position) DO UPDATE SET
                           error = excluded.error"
                    ),
                    params![
                        p.target.as_str(),
                        p.tenant_id,
                        p.position,
                        p.resource_id.as_str(),
                        p.event.as_str(),
                        p.error.as_str(),
                        p.parked_at.as_str()
                    ],
                )?;
                if advance {
                    let mut status = db
                        .row(
                            &format!(
                                "SELECT {STATUS_COLUMNS} FROM target_positions
                                 WHERE target = ? AND tenant_id = ?"
                            ),
                            params![p.target.as_str(), p.tenant_id],
                            status_from_row,
                        )?
                        .unwrap_or_else(|| TargetStatus::new(&p.target, p.tenant_id));
                    if status.position < p.position {
                        status.position = p.position;
                        status.failures = 0;
                        save(db, &status)?;
                    }
                }
                Ok(())
            })
            .await
    }

    async fn parked_events(
        &self,
        target: &str,
        tenant_id: i64,
    ) -> Result<Vec<ParkedEvent>, StoreError> {
        let target = target.to_string();
        self.engine
            .read(move |db| {
                db.rows(
                    &format!(
                        "SELECT {PARKED_COLUMNS} FROM target_parked
                         WHERE target = ? AND tenant_id = ? ORDER BY position"
                    ),
                    params![target, tenant_id],
                    parked_from_row,
                )
            })
            .await
    }

    async fn unpark_event(
        &self,
        target: &str,
        tenant_id: i64,
        position: i64,
    ) -> Result<bool, StoreError> {
        let target = target.to_string();
        self.engine
            .write(move |db| {
                let n = db.exec(
                    "DELETE FROM target_parked WHERE target = ? AND tenant_id = ? AND position = ?",
                    params![target, tenant_id, position],
                )?;
                Ok(n > 0)
            })
            .await
    }

    async fn resources_after_id(
        &self,
        tenant_id: i64,
        resource_type: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<StoredResource>, StoreError> {
        let (resource_type, after) = (resource_type.to_string(), after.to_string());
        self.engine
            .read(move |db| {
                let rows = db.rows(
                    &format!(
                        "SELECT {RESOURCE_COLUMNS} FROM resources
                         WHERE tenant_id = ? AND id > ? AND resource_type = ? AND deleted IS NULL
                         ORDER BY id LIMIT {limit}"
                    ),
                    params![tenant_id, after, resource_type],
                    resource_from_row,
                )?;
                Ok(rows.into_iter().map(|r| r.resource).collect())
            })
            .await
    }
}
