//! The state file: a journal of the resources a run created (key → id), appended and
//! flushed after each create. A run that was killed is simply run again: the plan is
//! recomputed from the target, and the journal finds the users and groups the last run
//! created even on a target that does not return the match key, so nothing is created
//! twice. A run that completes removes the file.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::SyncError;

/// The journal of a run: the resources it created, appended to the state file as they
/// are, so that a run killed midway resumes without creating them again.
#[derive(Debug, Default)]
pub struct Journal {
    path: Option<PathBuf>,
    file: Option<std::fs::File>,
    /// User key → id of users created by an earlier, unfinished run.
    pub users: HashMap<String, String>,
    /// Group name (lower case) → id.
    pub groups: HashMap<String, String>,
}

fn err(path: &Path, e: impl std::fmt::Display) -> SyncError {
    SyncError::State(format!("{}: {e}", path.display()))
}

impl Journal {
    /// No state file.
    pub fn none() -> Journal {
        Journal::default()
    }

    /// Opens (or creates) the state file and reads what an earlier run recorded. A torn
    /// last line (the process killed mid-write) is ignored.
    pub fn open(path: &Path) -> Result<Journal, SyncError> {
        let mut j = Journal {
            path: Some(path.to_path_buf()),
            ..Journal::default()
        };
        if path.exists() {
            let f = std::fs::File::open(path).map_err(|e| err(path, e))?;
            for line in std::io::BufReader::new(f).lines() {
                let line = line.map_err(|e| err(path, e))?;
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let id = v.get("id").and_then(Value::as_str).map(str::to_string);
                match (
                    v.get("user").and_then(Value::as_str),
                    v.get("group").and_then(Value::as_str),
                    id,
                ) {
                    (Some(k), _, Some(id)) => {
                        j.users.insert(k.to_string(), id);
                    }
                    (_, Some(g), Some(id)) => {
                        j.groups.insert(g.to_lowercase(), id);
                    }
                    _ => {}
                }
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| err(path, e))?;
        // A torn last line gets its own line end, so the next entry starts clean.
        let text = std::fs::read(path).map_err(|e| err(path, e))?;
        if text.last().is_some_and(|b| *b != b'\n') {
            file.write_all(b"\n").map_err(|e| err(path, e))?;
        }
        j.file = Some(file);
        Ok(j)
    }

    fn append(&mut self, v: Value) -> Result<(), SyncError> {
        if let (Some(f), Some(p)) = (self.file.as_mut(), self.path.as_ref()) {
            writeln!(f, "{v}").map_err(|e| err(p, e))?;
            f.flush().map_err(|e| err(p, e))?;
        }
        Ok(())
    }

    /// Records a created user (by its match key): appends it to the file (not to
    /// [`Journal::users`], which holds what an earlier run recorded).
    pub fn created_user(&mut self, key: &str, id: &str) -> Result<(), SyncError> {
        self.append(json!({"user": key, "id": id}))
    }

    /// Records a created group (by name): appends it to the file.
    pub fn created_group(&mut self, name: &str, id: &str) -> Result<(), SyncError> {
        self.append(json!({"group": name, "id": id}))
    }

    /// The run completed: the state file is no longer needed.
    pub fn finish(self) -> Result<(), SyncError> {
        drop(self.file);
        if let Some(p) = &self.path
            && p.exists()
        {
            std::fs::remove_file(p).map_err(|e| err(p, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_torn_line() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("scim-sync-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let p = dir.join("state");
        {
            let mut j = Journal::open(&p)?;
            j.created_user("k1", "id1")?;
            j.created_group("Eng", "g1")?;
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)?
            .write_all(b"{\"user\":\"k2\",\"i")?;
        let j = Journal::open(&p)?;
        assert_eq!(j.users.get("k1").map(String::as_str), Some("id1"));
        assert_eq!(j.groups.get("eng").map(String::as_str), Some("g1"));
        assert_eq!(j.users.len(), 1);
        let mut j = j;
        j.created_user("k3", "id3")?;
        drop(j);
        let j = Journal::open(&p)?;
        assert_eq!(j.users.get("k3").map(String::as_str), Some("id3"));
        j.finish()?;
        assert!(!p.exists());
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
