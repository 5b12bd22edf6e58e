//! The harness: a fresh store per test, on each backend.

use std::sync::Arc;

use scim_core::filter::{parse_filter, resolve};
use scim_core::schema::SchemaRegistry;
use scim_core::sort::SortSpec;
use scim_store::postgres::PgStore;
use scim_store::postgres::testing::TestDatabase;
use scim_store::sqlite::SqliteStore;
use scim_store::{
    Actor, AnyStore, DeleteMode, ListRequest, MemberRef, Pagination, Store, StoredResource, Update,
};
use serde_json::{Map, Value, json};

/// Runs each listed test once per backend. The PostgreSQL variant returns early (after
/// printing SKIPPED) when no server is reachable, and fails in CI.
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Fixture::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(f) = $crate::support::Fixture::postgres(stringify!($name)).await else {
                        return;
                    };
                    super::$name(f).await
                }
            )*
        }
    };
}

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// A fresh store with one tenant, `acme` (hard deletes), and `globex` (soft deletes).
pub struct Fixture {
    pub store: AnyStore,
    pub registry: Arc<SchemaRegistry>,
    pub acme: i64,
    pub globex: i64,
    _dir: Option<tempfile::TempDir>,
    pub db: Option<TestDatabase>,
}

pub fn registry() -> Arc<SchemaRegistry> {
    Arc::new(SchemaRegistry::builtin().expect("schemas"))
}

/// A PostgreSQL database for a test, `None` when skipped.
pub async fn test_database(test: &str) -> Option<TestDatabase> {
    TestDatabase::create(test)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

impl Fixture {
    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry = registry();
        let store = SqliteStore::open(&dir.path().join("scim.db"), &registry).expect("open");
        Self::with(AnyStore::Sqlite(store), registry, Some(dir), None).await
    }

    pub async fn postgres(test: &str) -> Option<Fixture> {
        let db = test_database(test).await?;
        let registry = registry();
        let store = db.store(&registry).await.expect("connect");
        Some(Self::with(AnyStore::Postgres(store), registry, None, Some(db)).await)
    }

    async fn with(
        store: AnyStore,
        registry: Arc<SchemaRegistry>,
        dir: Option<tempfile::TempDir>,
        db: Option<TestDatabase>,
    ) -> Fixture {
        let s = store.shared();
        let acme = s
            .create_tenant("acme", DeleteMode::Hard, 30)
            .await
            .expect("tenant")
            .id;
        let globex = s
            .create_tenant("globex", DeleteMode::Soft, 30)
            .await
            .expect("tenant")
            .id;
        Fixture {
            store,
            registry,
            acme,
            globex,
            _dir: dir,
            db,
        }
    }

    pub fn s(&self) -> Arc<dyn Store> {
        self.store.shared()
    }

    /// A number that changes whenever an `attr_index` row of `attr` is written again
    /// (SQLite: the sum of their rowids, which a new row never reuses while a later one
    /// exists; PostgreSQL: of their `xmin`, the writing transaction), read below the store.
    pub async fn index_rows_version(&self, attr: &str) -> i64 {
        self.index_scalar(
            attr,
            "coalesce(sum(xmin::text::bigint), 0)::bigint",
            "coalesce(sum(rowid), 0)",
        )
        .await
    }

    /// The number of `attr_index` rows of `attr`, every tenant's, read below the store.
    pub async fn index_rows(&self, attr: &str) -> i64 {
        self.index_scalar(attr, "count(*)::bigint", "count(*)")
            .await
    }

    /// The number of distinct values in the `attr_index` rows of `attr`, every tenant's.
    pub async fn index_values(&self, attr: &str) -> i64 {
        self.index_scalar(
            attr,
            "count(DISTINCT value)::bigint",
            "count(DISTINCT value)",
        )
        .await
    }

    /// One aggregate over the `attr_index` rows of `attr` (PostgreSQL's and SQLite's
    /// spelling of it), read below the store.
    async fn index_scalar(&self, attr: &str, postgres: &str, sqlite: &str) -> i64 {
        let rows = format!("FROM attr_index WHERE attr = '{attr}'");
        self.scalar(
            &format!("SELECT {postgres} {rows}"),
            &format!("SELECT {sqlite} {rows}"),
        )
        .await
    }

    /// The largest size a value of `column` takes on disk among the rows of `table` that
    /// match `condition` (SQL both spell alike), read below the store: PostgreSQL's
    /// `pg_column_size` (after TOAST compression), SQLite's bytes (a packed document's BLOB).
    pub async fn stored_size(&self, table: &str, column: &str, condition: &str) -> i64 {
        let rows = format!("FROM {table} WHERE {condition}");
        self.scalar(
            &format!("SELECT max(pg_column_size({column}))::bigint {rows}"),
            &format!("SELECT max(length(CAST({column} AS BLOB))) {rows}"),
        )
        .await
    }

    /// One integer read below the store, with the query spelled for the fixture's backend.
    async fn scalar(&self, postgres: &str, sqlite: &str) -> i64 {
        match (&self.db, &self._dir) {
            (Some(db), _) => db.query_i64(postgres).await.expect("query"),
            (None, Some(dir)) => {
                let conn = rusqlite::Connection::open(dir.path().join("scim.db")).expect("open");
                conn.query_row(sqlite, [], |r| r.get(0)).expect("query")
            }
            (None, None) => unreachable!("a fixture has a database"),
        }
    }

    /// A second, independent store on the same database: another instance (PostgreSQL);
    /// the same store for SQLite (one process owns a SQLite file).
    pub async fn second_instance(&self) -> Arc<dyn Store> {
        match (&self.store, &self.db) {
            (AnyStore::Postgres(_), Some(db)) => {
                let other: PgStore = db.store(&self.registry).await.expect("connect");
                Arc::new(other)
            }
            _ => self.s(),
        }
    }

    pub async fn user(&self, tenant: i64, user_name: &str) -> StoredResource {
        self.s()
            .create(tenant, "User", user_data(user_name), Vec::new(), &actor())
            .await
            .expect("create user")
    }

    /// A PATCH (through the store) that sets one attribute of a user.
    pub async fn set_user(&self, tenant: i64, id: &str, attr: &'static str, value: Value) {
        self.s()
            .update(
                tenant,
                "User",
                id,
                None,
                "patch",
                set(attr, value),
                false,
                &actor(),
            )
            .await
            .expect("update user");
    }

    pub async fn group(&self, tenant: i64, name: &str, members: &[&str]) -> StoredResource {
        let refs = members.iter().map(|m| member(m)).collect();
        self.s()
            .create(tenant, "Group", group_data(name), refs, &actor())
            .await
            .expect("create group")
    }

    /// The `userName`s of the users `filter` selects (one page of up to 100; the page must
    /// hold them all).
    pub async fn user_names(&self, tenant: i64, filter: &str) -> Vec<String> {
        let page = self
            .list(tenant, "User", Some(filter), None, 1, 100)
            .await
            .unwrap();
        assert_eq!(
            page.total_results as usize,
            page.resources.len(),
            "{filter}"
        );
        page.resources
            .iter()
            .map(|r| r.data["userName"].as_str().unwrap().to_string())
            .collect()
    }

    /// Lists with a filter (and optional sortBy), index pagination.
    pub async fn list(
        &self,
        tenant: i64,
        rt: &str,
        filter: Option<&str>,
        sort: Option<(&str, &str)>,
        start_index: u64,
        count: u64,
    ) -> Result<scim_store::Page, scim_store::StoreError> {
        let request = self.request(rt, filter, sort, Pagination::Index { start_index, count });
        self.s().list(tenant, request).await
    }

    pub fn request(
        &self,
        rt: &str,
        filter: Option<&str>,
        sort: Option<(&str, &str)>,
        pagination: Pagination,
    ) -> ListRequest {
        let rtype = self.registry.resource_type(rt).expect("resource type");
        ListRequest {
            resource_type: rt.to_string(),
            filter: filter.map(|f| {
                resolve(&parse_filter(f).expect("filter"), &self.registry, rtype).expect("resolve")
            }),
            sort: sort.map(|(by, order)| {
                SortSpec::parse(&self.registry, rtype, by, Some(order)).expect("sort")
            }),
            pagination,
            include: scim_store::Include::NOTHING,
            max_scan: scim_store::DEFAULT_MAX_SCAN,
        }
    }
}

pub fn actor() -> Actor {
    Actor {
        token_id: Some("t1".into()),
        token_name: Some("okta".into()),
        request_id: Some("req-1".into()),
    }
}

pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

pub fn user_data(user_name: &str) -> Map<String, Value> {
    obj(json!({"schemas": [USER_SCHEMA], "userName": user_name}))
}

pub fn group_data(name: &str) -> Map<String, Value> {
    obj(json!({"schemas": [GROUP_SCHEMA], "displayName": name}))
}

pub fn member(id: &str) -> MemberRef {
    MemberRef {
        value: id.to_string(),
        kind: None,
        display: None,
    }
}

/// An update that sets one attribute.
pub fn set(attr: &'static str, value: Value) -> scim_store::UpdateFn {
    scim_store::UpdateFn::new(move |current: &StoredResource| {
        let mut data = current.data.clone();
        data.insert(attr.to_string(), value.clone());
        Ok(Update {
            data,
            changed: vec![attr.to_string()],
            ..Update::default()
        })
    })
}

/// An update that only changes members.
pub fn members_op(op: scim_store::MemberOp) -> scim_store::UpdateFn {
    scim_store::UpdateFn::new(move |current: &StoredResource| {
        Ok(Update {
            data: current.data.clone(),
            changed: vec!["members".into()],
            members: vec![op.clone()],
            members_only: true,
        })
    })
}

/// The sorted member ids of a group.
pub async fn member_ids(s: &Arc<dyn Store>, tenant: i64, group: &str) -> Vec<String> {
    let g = s
        .get(tenant, "Group", group, scim_store::Include::MEMBERS)
        .await
        .expect("get")
        .expect("group exists");
    let mut ids: Vec<String> = g
        .members
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.value)
        .collect();
    ids.sort();
    ids
}

/// The HTTP status of a store error.
pub fn status(e: &scim_store::StoreError) -> u16 {
    e.to_scim().status
}

/// The groups of one resource.
pub async fn groups(s: &Arc<dyn Store>, tenant: i64, id: &str) -> Vec<scim_store::GroupMembership> {
    let mut all = s
        .groups_of(tenant, vec![id.to_string()])
        .await
        .expect("groups_of");
    all.remove(id).unwrap_or_default()
}
