//! Issue 12: tenants created before names became case-insensitive, on a real SQLite file
//! migrated from the schema before migration `*_operator`.

use scim_core::schema::SchemaRegistry;
use scim_store::sqlite::SqliteStore;
use scim_store::{DeleteMode, Store};

/// Builds a SQLite file at the schema just before the operator migration, with two tenants
/// whose names differ only by case (possible then).
fn database_with_case_twins(path: &std::path::Path) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let before: Vec<_> = files
        .iter()
        .take_while(|p| !p.to_string_lossy().ends_with("_operator.sql"))
        .collect();
    assert!(before.len() < files.len(), "the operator migration exists");
    let conn = rusqlite::Connection::open(path).unwrap();
    for f in &before {
        conn.execute_batch(&std::fs::read_to_string(f).unwrap())
            .unwrap();
    }
    conn.execute_batch(&format!("PRAGMA user_version = {}", before.len()))
        .unwrap();
    for (name, uid) in [("acme", "00000000000000a1"), ("Acme", "00000000000000a2")] {
        conn.execute(
            "INSERT INTO tenants (name, created, delete_mode, retention_days, change_seq, uid)
             VALUES (?1, '2026-01-01T00:00:00.000Z', 'hard', 30, 0, ?2)",
            rusqlite::params![name, uid],
        )
        .unwrap();
    }
}

#[tokio::test]
async fn tenants_that_differ_only_by_case_keep_working_by_their_exact_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scim.db");
    database_with_case_twins(&path);
    let registry = SchemaRegistry::builtin().unwrap();
    let s = SqliteStore::open(&path, &registry).expect("the migration keeps both");
    let lower = s.tenant("acme").await.unwrap().unwrap();
    let upper = s.tenant("Acme").await.unwrap().unwrap();
    assert_eq!((lower.name.as_str(), upper.name.as_str()), ("acme", "Acme"));
    assert_ne!(lower.id, upper.id);
    // A third spelling would be ambiguous: it names neither.
    assert!(s.tenant("ACME").await.unwrap().is_none());
    // No new name may join them, and new tenants are case-insensitive as usual.
    let e = s
        .create_tenant("aCmE", DeleteMode::Hard, 30)
        .await
        .unwrap_err();
    assert_eq!(e.to_scim().status, 409);
    s.create_tenant("Globex", DeleteMode::Hard, 30)
        .await
        .unwrap();
    assert_eq!(s.tenant("GLOBEX").await.unwrap().unwrap().name, "Globex");
    // Once one is deleted, the other is an ordinary tenant again, found in any spelling.
    assert!(s.delete_tenant("Acme").await.unwrap());
    assert_eq!(s.tenant("acme").await.unwrap().unwrap().id, lower.id);
    assert_eq!(s.tenant("ACME").await.unwrap().unwrap().id, lower.id);
}
