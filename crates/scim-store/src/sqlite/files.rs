//! Owner-only database files: the directory 0700, the database and its `-wal` and `-shm`
//! files 0600, whatever the process's umask.
//!
//! SQLite creates the `-wal` and `-shm` files with the permissions of the database file,
//! so making the database file owner-only before SQLite first opens it is enough for the
//! files it creates later; files left by an earlier version are tightened at each open.

use std::path::Path;

use crate::StoreError;

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Database(format!("cannot {what} {}: {e}", path.display()))
}

/// Creates the database's directory (0700) and file (0600) if missing, and makes the
/// database files that exist owner-only.
#[cfg(unix)]
pub(crate) fn owner_only(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io("create the directory", dir, e))?;
        // The umask may have removed bits from 0700, never added any; set it exactly.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io("set the permissions of", dir, e))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("create", path, e))?;
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::metadata(&file) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| io("set the permissions of", &file, e))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Elsewhere the operating system's defaults apply.
#[cfg(not(unix))]
pub(crate) fn owner_only(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}
