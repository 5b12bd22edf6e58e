//! Two `scim serve` processes on one PostgreSQL database: conflicting writes sent through
//! both at once are decided exactly as by one server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::join_all;
use reqwest::Method;
use scim_core::schema::SchemaRegistry;
use scim_store::Store;
use scim_store::postgres::testing::TestDatabase;
use serde_json::json;

use crate::support::{Client, GROUP_SCHEMA, Server, USER_SCHEMA, tenant_and_token, test_database};

/// Two servers on one fresh database, and a client with a token of tenant `acme`.
struct Cluster {
    servers: [Server; 2],
    client: Client,
    db: TestDatabase,
}

impl Cluster {
    async fn start(test: &str) -> Option<Cluster> {
        let db = test_database(test).await?;
        let token = tenant_and_token(&db.url);
        let args = [
            "--database-url",
            db.url.as_str(),
            "--database-max-connections",
            "4",
        ];
        let servers = [Server::start(&args), Server::start(&args)];
        Some(Cluster {
            servers,
            client: Client::new(&token),
            db,
        })
    }

    /// The URL of server `i % 2`.
    fn url(&self, i: usize) -> String {
        self.servers[i % 2].url.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_user_name_have_one_winner() {
    let Some(c) = Cluster::start("concurrent_creates_of_one_user_name_have_one_winner").await
    else {
        return;
    };
    for round in 0..5 {
        let attempts = (0..8).map(|i| {
            let (client, url) = (c.client.clone(), c.url(i));
            // Different spellings of one case-insensitive name.
            let name = match i % 4 {
                0 => format!("race.user{round}@example.com"),
                1 => format!("RACE.USER{round}@EXAMPLE.COM"),
                2 => format!("Race.User{round}@Example.com"),
                _ => format!("rAcE.uSeR{round}@example.COM"),
            };
            async move { client.create_user(&url, &name).await }
        });
        let replies = join_all(attempts).await;
        let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 409).count(),
            7,
            "round {round}: {statuses:?}"
        );
        for r in replies.iter().filter(|r| r.status == 409) {
            assert_eq!(r.body["scimType"], "uniqueness", "{}", r.body);
        }
        let filter = format!("userName eq \"race.user{round}@example.com\"");
        assert_eq!(c.client.count(&c.url(round), "Users", &filter).await, 1);
    }
    assert_eq!(
        c.client
            .count(&c.url(0), "Users", "userName sw \"race\"")
            .await,
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_with_one_etag_have_one_winner() {
    let Some(c) = Cluster::start("concurrent_writes_with_one_etag_have_one_winner").await else {
        return;
    };
    let id = c
        .client
        .create_user(&c.url(0), "etag.target")
        .await
        .expect(201)
        .id();
    let path = format!("/Users/{id}");
    for round in 0..3 {
        let etag = c
            .client
            .get(&c.url(round), &path)
            .await
            .expect(200)
            .header("etag")
            .unwrap()
            .to_string();
        let attempts = (0..10).map(|i| {
            let (client, url, path, etag) = (c.client.clone(), c.url(i), path.clone(), etag.clone());
            async move {
                if i % 3 == 0 {
                    // A full replace with the same precondition competes too.
                    let body = json!({"schemas": [USER_SCHEMA], "userName": "etag.target", "title": format!("put{round}.{i}")});
                    client.call(&url, Method::PUT, &path, Some(body), &[("if-match", &etag)]).await
                } else {
                    let ops = json!([{"op": "replace", "path": "title", "value": format!("patch{round}.{i}")}]);
                    client.patch(&url, &path, ops, Some(&etag)).await
                }
            }
        });
        let statuses: Vec<u16> = join_all(attempts)
            .await
            .iter()
            .map(|r| r.status.as_u16())
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| (200..300).contains(*s)).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 412).count(),
            9,
            "{statuses:?}"
        );
    }
    let now = c.client.get(&c.url(1), &path).await.expect(200);
    assert_eq!(now.body["meta"]["version"], "W/\"4\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_member_patches_through_both_instances_lose_nothing() {
    let Some(c) =
        Cluster::start("concurrent_member_patches_through_both_instances_lose_nothing").await
    else {
        return;
    };
    let mut users = Vec::new();
    for i in 0..40 {
        users.push(
            c.client
                .create_user(&c.url(i), &format!("member{i:02}"))
                .await
                .expect(201)
                .id(),
        );
    }
    let initial: Vec<_> = users[..15].iter().map(|id| json!({"value": id})).collect();
    let group = c
        .client
        .call(
            &c.url(0),
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "busy", "members": initial})),
            &[],
        )
        .await
        .expect(201)
        .id();
    let path = format!("/Groups/{group}");
    // Remove members 0..10 and add members 15..40, each in its own PATCH, all at once,
    // alternating between the instances.
    let removes = users[..10]
        .iter()
        .map(|id| json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]));
    let adds = users[15..]
        .iter()
        .map(|id| json!([{"op": "add", "path": "members", "value": [{"value": id}]}]));
    let patches = removes.chain(adds).enumerate().map(|(i, ops)| {
        let (client, url, path) = (c.client.clone(), c.url(i), path.clone());
        async move { client.patch(&url, &path, ops, None).await }
    });
    for r in join_all(patches).await {
        assert!(r.status.is_success(), "{} {}", r.status, r.body);
    }
    let mut expected: Vec<String> = users[10..].to_vec();
    expected.sort();
    for i in 0..2 {
        let g = c.client.get(&c.url(i), &path).await.expect(200);
        let mut got: Vec<String> = g.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_string())
            .collect();
        got.sort();
        assert_eq!(got, expected);
        assert_eq!(g.body["meta"]["version"], "W/\"36\"");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_log_is_gapless_for_a_concurrent_cursor_reader() {
    let Some(c) = Cluster::start("the_change_log_is_gapless_for_a_concurrent_cursor_reader").await
    else {
        return;
    };
    // The reader follows the log with a cursor through a store of its own (a third client
    // of the database), while the writers go through both servers.
    let registry = SchemaRegistry::builtin().unwrap();
    let reader_store = c.db.store(&registry).await.unwrap();
    let tenant = reader_store.tenant("acme").await.unwrap().unwrap().id;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen: Vec<i64> = Vec::new();
            let mut polls = 0u32;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let after = seen.last().copied().unwrap_or(0);
                let page = reader_store.changes(tenant, after, 50).await.unwrap();
                polls += 1;
                seen.extend(page.iter().map(|r| r.seq));
                if finished && page.is_empty() {
                    return (seen, polls);
                }
                if page.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
            }
        })
    };
    let group = c
        .client
        .call(
            &c.url(0),
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "log"})),
            &[],
        )
        .await
        .expect(201)
        .id();
    let writers = (0..60).map(|i| {
        let (client, url, other, group) = (c.client.clone(), c.url(i), c.url(i + 1), group.clone());
        async move {
            let id = client
                .create_user(&url, &format!("writer{i:02}"))
                .await
                .expect(201)
                .id();
            let ops = json!([{"op": "add", "path": "members", "value": [{"value": id}]}]);
            let r = client
                .patch(&other, &format!("/Groups/{group}"), ops, None)
                .await;
            assert!(r.status.is_success(), "{}", r.body);
        }
    });
    join_all(writers).await;
    done.store(true, Ordering::SeqCst);
    let (seen, polls) = reader.await.unwrap();
    let n = 1 + 60 * 2;
    assert_eq!(seen, (1..=n).collect::<Vec<i64>>(), "after {polls} polls");
    assert!(
        polls > 2,
        "the reader should have polled while the writers ran"
    );
}
