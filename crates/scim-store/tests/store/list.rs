//! Listing: filters (pushed down or evaluated), sorting, index and cursor pagination.

use scim_store::Pagination;
use serde_json::json;

use crate::support::{Fixture, USER_SCHEMA, actor, obj, status};

store_tests!(
    unindexed_work_beyond_the_scan_limit_is_too_many,
    value_path_with_not_keeps_resources_with_another_matching_element,
    sorting_in_sql_and_in_memory_agree,
    filters_select_exactly_the_matching_resources,
    sorting_and_index_pagination,
    cursor_pagination_visits_every_resource_once,
    member_filters_find_groups,
    total_results_is_exact_at_every_window
);

async fn seed(f: &Fixture) -> Vec<String> {
    let s = f.s();
    let mut ids = Vec::new();
    for (i, (name, title, active)) in [
        ("Alice", "Engineer", true),
        ("bob", "engineer", false),
        ("Carol", "Manager", true),
        ("dave", "Engineer", true),
        ("Eve", "Intern", false),
    ]
    .into_iter()
    .enumerate()
    {
        let data = obj(json!({
            "schemas": [USER_SCHEMA],
            "userName": name,
            "externalId": format!("ext-{i}"),
            "title": title,
            "active": active,
            "emails": [{"value": format!("{}@Example.com", name.to_lowercase()), "type": "work"}],
        }));
        ids.push(
            s.create(f.acme, "User", data, Vec::new(), &actor())
                .await
                .unwrap()
                .id,
        );
    }
    ids
}

async fn names(f: &Fixture, filter: &str) -> Vec<String> {
    f.user_names(f.acme, filter).await
}

async fn filters_select_exactly_the_matching_resources(f: Fixture) {
    seed(&f).await;
    assert_eq!(names(&f, "userName eq \"ALICE\"").await, ["Alice"]);
    assert_eq!(names(&f, "externalId eq \"ext-1\"").await, ["bob"]);
    // externalId is caseExact.
    assert!(names(&f, "externalId eq \"EXT-1\"").await.is_empty());
    assert_eq!(
        names(&f, "emails.value eq \"CAROL@example.COM\"").await,
        ["Carol"]
    );
    assert_eq!(
        names(
            &f,
            "emails[type eq \"work\" and value eq \"dave@example.com\"]"
        )
        .await,
        ["dave"]
    );
    assert_eq!(
        names(&f, "userName eq \"alice\" or userName eq \"eve\"").await,
        ["Alice", "Eve"]
    );
    assert_eq!(
        names(&f, "title eq \"engineer\" and active eq true").await,
        ["Alice", "dave"]
    );
    assert_eq!(
        names(&f, "userName sw \"d\" or title co \"ager\"").await,
        ["Carol", "dave"]
    );
    assert_eq!(names(&f, "not (active eq true)").await, ["bob", "Eve"]);
    assert_eq!(
        names(&f, "userName eq \"alice\" and not (title eq \"intern\")").await,
        ["Alice"]
    );
    assert_eq!(
        names(&f, "title pr and userName gt \"d\"").await,
        ["dave", "Eve"]
    );
    assert_eq!(
        names(&f, "meta.created gt \"2000-01-01T00:00:00Z\"")
            .await
            .len(),
        5
    );
    assert!(
        names(&f, "meta.lastModified lt \"2000-01-01T00:00:00Z\"")
            .await
            .is_empty()
    );
    let id = f
        .list(f.acme, "User", None, None, 1, 1)
        .await
        .unwrap()
        .resources[0]
        .id
        .clone();
    assert_eq!(names(&f, &format!("id eq \"{id}\"")).await, ["Alice"]);
    // Another tenant sees none of them.
    assert_eq!(
        f.list(f.globex, "User", Some("userName eq \"alice\""), None, 1, 10)
            .await
            .unwrap()
            .total_results,
        0
    );
    assert_eq!(
        f.list(f.acme, "Group", None, None, 1, 10)
            .await
            .unwrap()
            .total_results,
        0
    );
}

async fn sorting_and_index_pagination(f: Fixture) {
    let ids = seed(&f).await;
    let page = f.list(f.acme, "User", None, None, 2, 2).await.unwrap();
    assert_eq!(page.total_results, 5);
    let got: Vec<String> = page.resources.iter().map(|r| r.id.clone()).collect();
    assert_eq!(got, ids[1..3]);
    let page = f
        .list(f.acme, "User", None, Some(("userName", "descending")), 1, 3)
        .await
        .unwrap();
    let got: Vec<&str> = page
        .resources
        .iter()
        .map(|r| r.data["userName"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["Eve", "dave", "Carol"]);
    let page = f
        .list(f.acme, "User", None, Some(("id", "ascending")), 1, 10)
        .await
        .unwrap();
    let got: Vec<String> = page.resources.iter().map(|r| r.id.clone()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(got, sorted);
    let page = f
        .list(
            f.acme,
            "User",
            Some("title eq \"engineer\""),
            Some(("meta.created", "descending")),
            1,
            10,
        )
        .await
        .unwrap();
    assert_eq!(page.total_results, 3);
    let page = f.list(f.acme, "User", None, None, 1, 0).await.unwrap();
    assert_eq!((page.total_results, page.resources.len()), (5, 0));
    let page = f.list(f.acme, "User", None, None, 9, 10).await.unwrap();
    assert_eq!((page.total_results, page.resources.len()), (5, 0));
}

async fn cursor_pagination_visits_every_resource_once(f: Fixture) {
    let ids = seed(&f).await;
    for filter in [None, Some("title co \"e\"")] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let request = f.request(
                "User",
                filter,
                None,
                Pagination::Cursor {
                    cursor: cursor.clone(),
                    count: 2,
                },
            );
            let page = f.s().list(f.acme, request).await.unwrap();
            seen.extend(page.resources.iter().map(|r| r.id.clone()));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ids, "{filter:?}");
    }
    let bad = f.request(
        "User",
        None,
        None,
        Pagination::Cursor {
            cursor: Some("garbage".into()),
            count: 2,
        },
    );
    assert_eq!(status(&f.s().list(f.acme, bad).await.unwrap_err()), 400);
}

async fn member_filters_find_groups(f: Fixture) {
    let alice = f.user(f.acme, "alice").await;
    let bob = f.user(f.acme, "bob").await;
    let g1 = f.group(f.acme, "Admins", &[&alice.id]).await;
    f.group(f.acme, "Staff", &[&bob.id]).await;
    let filter = format!("members.value eq \"{}\"", alice.id);
    let page = f
        .list(f.acme, "Group", Some(&filter), None, 1, 10)
        .await
        .unwrap();
    assert_eq!(
        page.resources
            .iter()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>(),
        vec![g1.id.clone()]
    );
    let page = f
        .list(
            f.acme,
            "Group",
            Some("displayName eq \"admins\""),
            None,
            1,
            10,
        )
        .await
        .unwrap();
    assert_eq!(page.total_results, 1);
    let page = f
        .list(f.acme, "Group", Some("members pr"), None, 1, 10)
        .await
        .unwrap();
    assert_eq!(page.total_results, 2);
}

/// A filter or sort that no index serves examines at most `max_scan` resources; beyond that
/// the answer is 400 `tooMany`, while indexed filters on the same tenant still work.
async fn unindexed_work_beyond_the_scan_limit_is_too_many(f: Fixture) {
    seed(&f).await;
    let mut request = f.request(
        "User",
        Some("title co \"eng\""),
        None,
        Pagination::Index {
            start_index: 1,
            count: 10,
        },
    );
    request.max_scan = 4;
    let e = f.s().list(f.acme, request).await.unwrap_err().to_scim();
    assert_eq!(e.status, 400);
    assert_eq!(e.scim_type, Some(scim_core::ScimType::TooMany));
    let mut request = f.request(
        "User",
        Some("userName eq \"alice\""),
        None,
        Pagination::Index {
            start_index: 1,
            count: 10,
        },
    );
    request.max_scan = 4;
    assert_eq!(f.s().list(f.acme, request).await.unwrap().total_results, 1);
    let mut request = f.request(
        "User",
        Some("title co \"eng\""),
        None,
        Pagination::Index {
            start_index: 1,
            count: 10,
        },
    );
    request.max_scan = 5;
    assert_eq!(f.s().list(f.acme, request).await.unwrap().total_results, 3);
}

/// Inside brackets a filter holds per element: `emails[not (value eq "a")]` matches a user
/// who also has another email.
async fn value_path_with_not_keeps_resources_with_another_matching_element(f: Fixture) {
    let s = f.s();
    let data = obj(json!({
        "schemas": [USER_SCHEMA],
        "userName": "two-mails",
        "emails": [{"value": "a@x.com"}, {"value": "b@x.com"}],
    }));
    let id = s
        .create(f.acme, "User", data, Vec::new(), &actor())
        .await
        .unwrap()
        .id;
    let page = f
        .list(
            f.acme,
            "User",
            Some("emails[not (value eq \"a@x.com\")]"),
            None,
            1,
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        page.resources
            .iter()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>(),
        vec![id]
    );
}

/// Sorting by an indexed attribute (done by the database) gives exactly the order of the
/// core's comparison (done in memory when the filter is not indexed), both directions.
async fn sorting_in_sql_and_in_memory_agree(f: Fixture) {
    seed(&f).await;
    for order in ["ascending", "descending"] {
        let by_sql = f
            .list(f.acme, "User", None, Some(("userName", order)), 1, 10)
            .await
            .unwrap();
        // `title pr or not (title pr)` matches everyone but no index serves it.
        let in_memory = f
            .list(
                f.acme,
                "User",
                Some("title pr or not (title pr)"),
                Some(("userName", order)),
                1,
                10,
            )
            .await
            .unwrap();
        let names = |p: &scim_store::Page| {
            p.resources
                .iter()
                .map(|r| r.data["userName"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&by_sql), names(&in_memory), "{order}");
        assert_eq!(by_sql.total_results, 5);
    }
    let asc = f
        .list(f.acme, "User", None, Some(("userName", "ascending")), 1, 10)
        .await
        .unwrap();
    let first: Vec<_> = asc
        .resources
        .iter()
        .map(|r| r.data["userName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(first, ["Alice", "bob", "Carol", "dave", "Eve"]);
}

/// `totalResults` is the number of matches whatever the window: whether it is counted or
/// read off a page that is not full, at every start, count and filter, in both pagings.
async fn total_results_is_exact_at_every_window(f: Fixture) {
    seed(&f).await;
    for (filter, matches) in [
        (None, 5u64),
        (Some("title eq \"Engineer\""), 3),
        (Some("userName eq \"carol\""), 1),
        (Some("userName eq \"nobody\""), 0),
    ] {
        for count in [0u64, 1, 2, 3, 5, 10] {
            for start_index in 1..=7u64 {
                let page = f
                    .list(f.acme, "User", filter, None, start_index, count)
                    .await
                    .unwrap();
                assert_eq!(
                    page.total_results, matches,
                    "{filter:?} startIndex={start_index} count={count}"
                );
                let shown = matches.saturating_sub(start_index - 1).min(count);
                assert_eq!(page.resources.len() as u64, shown);
            }
            let mut cursor = None;
            loop {
                let request = f.request(
                    "User",
                    filter,
                    None,
                    Pagination::Cursor {
                        cursor: cursor.clone(),
                        count: count.max(1),
                    },
                );
                let page = f.s().list(f.acme, request).await.unwrap();
                assert_eq!(page.total_results, matches, "{filter:?} cursor={cursor:?}");
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
    }
}
