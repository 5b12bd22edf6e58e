//! Large groups: a PATCH answer that does not grow with the group, reads of a group that
//! stream its members, and list pages whose size is bounded by a members budget (the
//! hostile case of "1,000 large-ish groups listed", at CI size; the full sizes run in
//! `scripts/bench --workloads large-groups`, see BENCHMARKS.md).

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::support::{TestServer, enc, values_of};

backend_tests!(
    patch_of_a_group_over_the_limit_is_204_with_its_etag,
    patch_asking_for_attributes_is_200_even_for_a_large_group,
    membership_patches_as_entra_and_okta_send_them,
    get_of_a_large_group_streams_every_member,
    list_pages_of_groups_stop_at_the_members_budget,
    a_group_over_the_members_budget_is_alone_on_its_page,
    search_across_types_stops_where_a_groups_page_was_cut,
);

/// The default `patch_response_max_members`.
const LIMIT: usize = 100;

/// A bare PATCH (no attributes/excludedAttributes) of a group with more than the limit of
/// members: 204 No Content with the new ETag, the change applied; at the limit: 200 with
/// the whole group.
async fn patch_of_a_group_over_the_limit_is_204_with_its_etag(s: TestServer) {
    let small = s.seed_group("small", "s", LIMIT - 1).await;
    let big = s.seed_group("big", "b", LIMIT + 1).await;
    let u = s.create_user("new.member@example.com").await;
    let add = json!([{"op": "add", "path": "members", "value": [{"value": u}]}]);

    let r = s.patch_ops(&format!("/Groups/{small}"), add.clone()).await;
    let r = r.expect(200);
    assert_eq!(r.body["members"].as_array().map(Vec::len), Some(LIMIT));

    let r = s
        .patch_ops(&format!("/Groups/{big}"), add)
        .await
        .expect(204);
    assert!(r.text.is_empty(), "204 has no body: {}", r.text);
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    let g = s.get(&format!("/Groups/{big}")).await.expect(200);
    assert_eq!(g.header("etag"), Some("W/\"2\""));
    assert!(values_of(&g.body, "members").contains(&u));
    assert_eq!(g.body["members"].as_array().map(Vec::len), Some(LIMIT + 2));

    // Removing brings it back to the limit: 200 with the group again.
    let remove = json!([{"op": "remove", "path": format!("members[value eq \"{u}\"]")}]);
    let r = s
        .patch_ops(&format!("/Groups/{big}"), remove)
        .await
        .expect(204);
    assert_eq!(r.header("etag"), Some("W/\"3\""));
    let remove = json!([{"op": "remove", "path": "members", "value": [{"value": "b-0000000"}]}]);
    let r = s
        .patch_ops(&format!("/Groups/{big}"), remove)
        .await
        .expect(200);
    assert_eq!(r.body["members"].as_array().map(Vec::len), Some(LIMIT));
    assert_eq!(r.header("etag"), Some("W/\"4\""));

    // A rename of a large group: the same rule.
    let rename = json!([{"op": "replace", "path": "displayName", "value": "bigger"}]);
    s.patch_ops(
        &format!("/Groups/{big}"),
        json!([{"op": "add", "path": "members", "value": [{"value": u}]}]),
    )
    .await
    .expect(204);
    s.patch_ops(&format!("/Groups/{big}"), rename)
        .await
        .expect(204);
    assert_eq!(
        s.get(&format!("/Groups/{big}?attributes=displayName"))
            .await
            .body["displayName"],
        "bigger"
    );
}

/// Membership PATCHes exactly as Entra ID and Okta send them (IDP-COMPAT.md), bare: 204
/// with the new ETag for a group over the limit, 200 with the group at or under it.
async fn membership_patches_as_entra_and_okta_send_them(s: TestServer) {
    let small = s.seed_group("small", "s", LIMIT - 5).await;
    let big = s.seed_group("big", "b", LIMIT + 1).await;
    let a = s.create_user("a.member@example.com").await;
    let b = s.create_user("b.member@example.com").await;
    // Entra: capitalised ops, `$ref: null`, removal by value list.
    let entra_add =
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": a}]}]);
    let entra_remove = json!([{"op": "Remove", "path": "members", "value": [{"value": a}]}]);
    // Okta: a removal by filter and an add with a display, in one PATCH.
    let okta = |out: &str, inn: &str| {
        json!([
            {"op": "remove", "path": format!("members[value eq \"{out}\"]")},
            {"op": "add", "path": "members", "value": [{"value": inn, "display": "B Member"}]},
        ])
    };
    for (group, answer) in [(&small, 200), (&big, 204)] {
        let path = format!("/Groups/{group}");
        let r = s.patch_ops(&path, entra_add.clone()).await.expect(answer);
        let etag = |r: &crate::support::Reply| r.header("etag").map(str::to_string);
        let current = || async { s.get(&path).await.expect(200) };
        let g = current().await;
        assert_eq!(etag(&r), etag(&g));
        assert!(values_of(&g.body, "members").contains(&a));
        if answer == 200 {
            assert_eq!(r.body, g.body, "a 200 carries the group as it is now");
        } else {
            assert!(r.text.is_empty(), "204 has no body: {}", r.text);
        }
        let r = s.patch_ops(&path, okta(&a, &b)).await.expect(answer);
        let g = current().await;
        assert_eq!(etag(&r), etag(&g));
        let members = values_of(&g.body, "members");
        assert!(members.contains(&b) && !members.contains(&a));
        s.patch_ops(&path, entra_remove.clone())
            .await
            .expect(answer);
    }
    // Okta's `replace` of the whole list: the answer follows the list's new size.
    let path = format!("/Groups/{big}");
    let r = s
        .patch_ops(
            &path,
            json!([{"op": "replace", "path": "members", "value": [{"value": a}, {"value": b}]}]),
        )
        .await
        .expect(200);
    let mut members = values_of(&r.body, "members");
    members.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(members, want);
}

/// RFC 7644 §3.5.2: with `attributes` (or `excludedAttributes`) the answer is 200 with the
/// resource, whatever its size: members are then streamed.
async fn patch_asking_for_attributes_is_200_even_for_a_large_group(s: TestServer) {
    let big = s.seed_group("big", "b", 2_500).await;
    let u = s.create_user("new.member@example.com").await;
    let add = json!([{"op": "add", "path": "members", "value": [{"value": u}]}]);
    let r = s
        .patch(
            &format!("/Groups/{big}?attributes=members.value"),
            crate::support::patch_body(add.clone()),
        )
        .await
        .expect(200);
    let members = r.body["members"].as_array().unwrap();
    assert_eq!(members.len(), 2_501);
    assert!(members.iter().all(|m| m.as_object().unwrap().len() == 1));
    assert_eq!(
        r.header("location"),
        Some(format!("{}/Groups/{big}", s.base("acme")).as_str())
    );
    let r = s
        .patch(
            &format!("/Groups/{big}?excludedAttributes=members"),
            crate::support::patch_body(
                json!([{"op": "replace", "path": "displayName", "value": "x"}]),
            ),
        )
        .await
        .expect(200);
    assert_eq!(r.body["displayName"], "x");
    assert!(r.body.get("members").is_none());
}

/// A GET of a group larger than a few chunks streams its members: the body is the same
/// JSON a small group gets (members in id order, `$ref`, `type`), with projections applied
/// to every member, and conditional GETs still work.
async fn get_of_a_large_group_streams_every_member(s: TestServer) {
    let n = 5_321;
    let g = s.seed_group("streamed", "m", n).await;
    let r = s
        .get(&format!("/Groups/{g}"))
        .await
        .expect(200)
        .expect_scim_json();
    let members = r.body["members"].as_array().unwrap();
    assert_eq!(members.len(), n);
    let ids: Vec<&str> = members
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "members are in id order");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), n);
    assert_eq!(members[7]["value"], "m-0000007");
    assert_eq!(members[7]["type"], "User");
    assert_eq!(
        members[7]["$ref"],
        format!("{}/Users/m-0000007", s.base("acme"))
    );
    // Key order is the small group's: schemas, id, displayName, members, meta.
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["schemas", "id", "displayName", "members", "meta"]);
    let etag = r.header("etag").unwrap().to_string();
    assert_eq!(r.body["meta"]["version"], etag.as_str());

    let r = s
        .get(&format!("/Groups/{g}?attributes=members.value"))
        .await
        .expect(200);
    let members = r.body["members"].as_array().unwrap();
    assert_eq!(members.len(), n);
    assert_eq!(members[0], json!({"value": "m-0000000"}));
    let r = s
        .get(&format!("/Groups/{g}?excludedAttributes=members"))
        .await
        .expect(200);
    assert!(r.body.get("members").is_none());

    let r = s
        .call_as(
            &s.token,
            "acme",
            reqwest::Method::GET,
            &format!("/Groups/{g}"),
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(r.status.as_u16(), 304);

    // Several readers at once each get the whole group.
    let path = format!("/Groups/{g}");
    let reads = (0..6).map(|_| s.get(&path));
    for r in futures_util::future::join_all(reads).await {
        assert_eq!(
            r.expect(200).body["members"].as_array().map(Vec::len),
            Some(n)
        );
    }
}

/// 1,000 groups of 20 members listed: no page carries more than the members budget
/// (10,000), `itemsPerPage` says how many groups a page holds, every group is complete,
/// and paging by `startIndex += itemsPerPage` or by cursor visits each group once.
async fn list_pages_of_groups_stop_at_the_members_budget(s: TestServer) {
    let (groups, per_group) = (1000usize, 20usize);
    let mut created = HashSet::new();
    for chunk in (0..groups).collect::<Vec<_>>().chunks(50) {
        let names: Vec<(String, String)> = chunk
            .iter()
            .map(|i| (format!("team-{i:04}"), format!("t{i:04}")))
            .collect();
        let seeds = names
            .iter()
            .map(|(name, prefix)| s.seed_group(name, prefix, per_group));
        created.extend(futures_util::future::join_all(seeds).await);
    }
    let budget = 10_000 / per_group;

    let mut seen = HashSet::new();
    let mut start = 1;
    loop {
        let r = s
            .get(&format!("/Groups?startIndex={start}&count=1000"))
            .await
            .expect(200);
        assert_eq!(r.body["totalResults"], groups);
        let items = r.resources();
        assert_eq!(r.body["itemsPerPage"], items.len());
        assert!(items.len() <= budget, "{} groups on a page", items.len());
        if start + budget <= groups {
            assert_eq!(items.len(), budget, "a page is cut only by the budget");
        }
        for g in &items {
            assert_eq!(g["members"].as_array().map(Vec::len), Some(per_group));
            assert!(seen.insert(g["id"].as_str().unwrap().to_string()));
        }
        if items.is_empty() {
            break;
        }
        start += items.len();
    }
    assert_eq!(seen, created);

    let mut seen = HashSet::new();
    let mut url = "/Groups?cursor=&count=1000".to_string();
    loop {
        let r = s.get(&url).await.expect(200);
        let items = r.resources();
        assert!(items.len() <= budget);
        for g in &items {
            assert_eq!(g["members"].as_array().map(Vec::len), Some(per_group));
            assert!(seen.insert(g["id"].as_str().unwrap().to_string()));
        }
        match r.body["nextCursor"].as_str() {
            Some(next) => url = format!("/Groups?cursor={}&count=1000", enc(next)),
            None => break,
        }
    }
    assert_eq!(seen, created);

    // Without members, a page is as long as asked.
    s.get("/Groups?count=1000&excludedAttributes=members")
        .await
        .expect_list(groups as u64, groups);
}

/// A group whose members alone exceed the budget is the only group on its page, with
/// every member (streamed); the page before it ends before it.
async fn a_group_over_the_members_budget_is_alone_on_its_page(s: TestServer) {
    let small = s.seed_group("a-small", "s", 10).await;
    let huge = s.seed_group("b-huge", "h", 12_345).await;
    let after = s.seed_group("c-after", "c", 10).await;

    let r = s.get("/Groups?count=10").await.expect(200);
    assert_eq!(r.body["totalResults"], 3);
    assert_eq!(r.resource_ids(), vec![small.clone()]);
    assert_eq!(r.body["itemsPerPage"], 1);

    let r = s.get("/Groups?count=10&startIndex=2").await.expect(200);
    assert_eq!(r.resource_ids(), vec![huge.clone()]);
    assert_eq!(r.body["itemsPerPage"], 1);
    assert_eq!(r.body["startIndex"], 2);
    let members = r.resources()[0]["members"].as_array().unwrap().len();
    assert_eq!(members, 12_345);

    let r = s.get("/Groups?count=10&startIndex=3").await.expect(200);
    assert_eq!(r.resource_ids(), vec![after.clone()]);

    let filter = enc("displayName eq \"b-huge\"");
    let r = s
        .get(&format!("/Groups?filter={filter}&attributes=members.value"))
        .await
        .expect_list(1, 1);
    let members = r.resources()[0]["members"].as_array().unwrap().clone();
    assert_eq!(members.len(), 12_345);
    assert_eq!(members[12_344], json!({"value": "h-0012344"}));

    // Cursor pages: the cursor after the huge group leads to the next one.
    let r = s.get("/Groups?cursor=&count=10").await.expect(200);
    assert_eq!(r.resource_ids(), vec![small]);
    let next = r.body["nextCursor"].as_str().unwrap().to_string();
    let r = s
        .get(&format!("/Groups?cursor={}&count=10", enc(&next)))
        .await
        .expect(200);
    assert_eq!(r.resource_ids(), vec![huge]);
    let next = r.body["nextCursor"].as_str().unwrap().to_string();
    let r = s
        .get(&format!("/Groups?cursor={}&count=10", enc(&next)))
        .await
        .expect(200);
    assert_eq!(r.resource_ids(), vec![after]);
    assert!(r.body.get("nextCursor").is_none());
}

/// `POST /.search` over every type: when the groups' part of a page is cut by the members
/// budget, the page ends there (itemsPerPage tells), and totalResults still counts all.
async fn search_across_types_stops_where_a_groups_page_was_cut(s: TestServer) {
    s.create_user("someone@example.com").await;
    let first = s.seed_group("first", "f", 10).await;
    s.seed_group("second", "g", 10_001).await;
    let body = json!({"schemas": [crate::support::SEARCH_REQUEST], "count": 10});
    let r = s.post("/.search", body).await.expect(200);
    assert_eq!(r.body["totalResults"], 3);
    let ids = r.resource_ids();
    assert_eq!(ids.len(), 2, "{}", r.body);
    assert_eq!(ids[1], first);
    assert_eq!(r.body["itemsPerPage"], 2);
    let body = json!({"schemas": [crate::support::SEARCH_REQUEST], "count": 10, "startIndex": 3});
    let r = s.post("/.search", body).await.expect(200);
    let items: Vec<Value> = r.resources();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["members"].as_array().map(Vec::len), Some(10_001));
}
