//! Reconcile: compares `scim`'s users of a tenant with what a target holds, read back
//! through the same mapping, and (with repair) fixes every difference through the
//! target's normal write path.
//!
//! Both sides are read in pages sorted by the SCIM id (the target's key column, byte
//! order) and merged like a merge-join: memory stays at two pages whatever the size.

use std::collections::VecDeque;

use scim_delivery::event::{EventActor, EventData, Resource, VERSION};
use scim_delivery::{Event, EventType};
use scim_store::{TargetStates, Tenant};
use serde_json::Value;

use crate::target::{Readback, Row, Target};
use crate::{RunError, TargetError};

/// Rows read per page on each side.
const PAGE: u32 = 1000;

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// `scim` has the user; the target has no row.
    Missing {
        /// The user's SCIM id.
        id: String,
    },
    /// The target has a row for a user `scim` does not have (or that it should not hold).
    Extra {
        /// The row's SCIM id.
        id: String,
    },
    /// Both have it, with different columns: (column, expected, found).
    Different {
        /// The user's SCIM id.
        id: String,
        /// The columns that differ: (column, expected, found).
        columns: Vec<(String, Option<String>, Option<String>)>,
    },
}

/// What a reconcile found (and repaired).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileSummary {
    /// Users in `scim` (of the target's tenant).
    pub scim_users: u64,
    /// Rows in the target's users table.
    pub target_rows: u64,
    /// Users without a row.
    pub missing: u64,
    /// Rows without a user.
    pub extra: u64,
    /// Users whose row's mapped columns differ.
    pub different: u64,
    /// Differences repaired (with `--repair`).
    pub repaired: u64,
}

impl ReconcileSummary {
    /// How many users and rows differ.
    pub fn drifted(&self) -> u64 {
        self.missing + self.extra + self.different
    }
}

struct Side<T> {
    buf: VecDeque<T>,
    after: String,
    done: bool,
}

impl<T> Side<T> {
    fn new() -> Side<T> {
        Side {
            buf: VecDeque::new(),
            after: String::new(),
            done: false,
        }
    }
}

fn resource_json(r: &scim_store::StoredResource) -> Value {
    let mut m = r.data.clone();
    m.insert("id".into(), Value::String(r.id.clone()));
    Value::Object(m)
}

fn repair_event(tenant: &Tenant, kind: EventType, id: &str, resource: Option<Value>) -> Event {
    Event {
        id: format!("repair_{}_{id}", tenant.uid),
        event_type: kind,
        version: VERSION,
        tenant: tenant.name.clone(),
        // Position 0: a repair, which does not move the target's position.
        position: 0,
        timestamp: String::new(),
        actor: EventActor::default(),
        data: EventData {
            resource_type: "User".into(),
            id: id.to_string(),
            resource: resource.map(Resource::from_value),
            changes: Vec::new(),
            members: Vec::new(),
            delete_mode: None,
            roles: None,
        },
    }
}

fn compare(expected: &Row, found: &Row) -> Vec<(String, Option<String>, Option<String>)> {
    expected
        .iter()
        .filter_map(|(col, want)| {
            let got = found.get(col).cloned().flatten();
            (got != *want).then(|| (col.clone(), want.clone(), got))
        })
        .collect()
}

/// Compares (and with `repair`, repairs) a tenant's users in a target. `report` is told
/// every difference as it is found.
pub async fn reconcile(
    target: &dyn Target,
    states: &dyn TargetStates,
    tenant: &Tenant,
    repair: bool,
    mut report: impl FnMut(&Drift),
) -> Result<ReconcileSummary, RunError> {
    let Some(rb) = target.readback() else {
        return Err(RunError::Invalid(format!(
            "the target '{}' cannot be read back, so it cannot be reconciled",
            target.name()
        )));
    };
    let mut sum = ReconcileSummary::default();
    let mut scim: Side<scim_store::StoredResource> = Side::new();
    let mut tgt: Side<(String, Row)> = Side::new();
    let deleted_row = rb.expected_for_deleted(&tenant.name);
    loop {
        if scim.buf.is_empty() && !scim.done {
            let page = states
                .resources_after_id(tenant.id, "User", &scim.after, PAGE)
                .await?;
            scim.done = page.len() < PAGE as usize;
            if let Some(last) = page.last() {
                scim.after = last.id.clone();
            }
            scim.buf.extend(page);
        }
        if tgt.buf.is_empty() && !tgt.done {
            let page = rb.rows_after(&tenant.name, &tgt.after, PAGE).await?;
            tgt.done = page.len() < PAGE as usize;
            if let Some((last, _)) = page.last() {
                tgt.after = last.clone();
            }
            tgt.buf.extend(page);
        }
        let order = match (scim.buf.front(), tgt.buf.front()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(u), Some((k, _))) => u.id.as_bytes().cmp(k.as_bytes()),
        };
        match order {
            std::cmp::Ordering::Less => {
                let Some(user) = scim.buf.pop_front() else {
                    break;
                };
                sum.scim_users += 1;
                let json = resource_json(&user);
                if expected(rb, tenant, &json)?.is_some() {
                    sum.missing += 1;
                    report(&Drift::Missing {
                        id: user.id.clone(),
                    });
                    if repair {
                        let e = repair_event(tenant, EventType::UserUpdated, &user.id, Some(json));
                        target.apply(&e).await?;
                        sum.repaired += 1;
                    }
                }
            }
            std::cmp::Ordering::Greater => {
                let Some((key, row)) = tgt.buf.pop_front() else {
                    break;
                };
                sum.target_rows += 1;
                match &deleted_row {
                    None => {
                        sum.extra += 1;
                        report(&Drift::Extra { id: key.clone() });
                        if repair {
                            let e = repair_event(tenant, EventType::UserDeleted, &key, None);
                            target.apply(&e).await?;
                            sum.repaired += 1;
                        }
                    }
                    Some(want) => {
                        let diff = compare(want, &row);
                        if !diff.is_empty() {
                            sum.different += 1;
                            report(&Drift::Different {
                                id: key.clone(),
                                columns: diff,
                            });
                            if repair {
                                let e = repair_event(tenant, EventType::UserDeleted, &key, None);
                                target.apply(&e).await?;
                                sum.repaired += 1;
                            }
                        }
                    }
                }
            }
            std::cmp::Ordering::Equal => {
                let (Some(user), Some((key, row))) = (scim.buf.pop_front(), tgt.buf.pop_front())
                else {
                    break;
                };
                sum.scim_users += 1;
                sum.target_rows += 1;
                let json = resource_json(&user);
                match expected(rb, tenant, &json)? {
                    Some(want) => {
                        let diff = compare(&want, &row);
                        if !diff.is_empty() {
                            sum.different += 1;
                            report(&Drift::Different {
                                id: key.clone(),
                                columns: diff,
                            });
                            if repair {
                                let e = repair_event(
                                    tenant,
                                    EventType::UserUpdated,
                                    &user.id,
                                    Some(json),
                                );
                                target.apply(&e).await?;
                                sum.repaired += 1;
                            }
                        }
                    }
                    None => {
                        // The row should not exist (an inactive user, deleted on
                        // deactivation).
                        sum.extra += 1;
                        report(&Drift::Extra { id: key.clone() });
                        if repair {
                            let e = repair_event(
                                tenant,
                                EventType::UserDeactivated,
                                &user.id,
                                Some(json),
                            );
                            target.apply(&e).await?;
                            sum.repaired += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(sum)
}

fn expected(rb: &dyn Readback, tenant: &Tenant, user: &Value) -> Result<Option<Row>, TargetError> {
    rb.expected(&tenant.name, user)
}
