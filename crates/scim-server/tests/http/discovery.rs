//! Discovery (RFC 7644 §4, RFC 7643 §5-§7): what `/ServiceProviderConfig`, `/ResourceTypes`
//! and `/Schemas` say, and that every advertised feature really works.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    BULK_REQUEST, ENTERPRISE, GROUP_SCHEMA, LIST_RESPONSE, TestServer, USER_SCHEMA, enc, patch_body,
};

backend_tests!(
    discovery_service_provider_config_advertises_every_feature,
    discovery_feature_patch_works,
    discovery_feature_bulk_works_up_to_max_operations,
    discovery_feature_filter_works_up_to_max_results,
    discovery_feature_sort_works,
    discovery_feature_etag_works,
    discovery_feature_pagination_works,
    discovery_feature_authentication_scheme_works,
    discovery_resource_types,
    discovery_schemas_and_each_schema_by_urn,
    discovery_schema_attributes_carry_their_characteristics,
    discovery_filter_on_discovery_endpoints_is_403,
);

const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

async fn spc(s: &TestServer) -> Value {
    s.get("/ServiceProviderConfig")
        .await
        .expect(200)
        .expect_scim_json()
        .body
}

/// `/ServiceProviderConfig` advertises PATCH, Bulk (1000 operations, 4 MiB), filter (1000
/// results), sort, ETags, index and cursor pagination and the bearer-token scheme.
async fn discovery_service_provider_config_advertises_every_feature(s: TestServer) {
    let c = spc(&s).await;
    assert_eq!(c["schemas"], json!([SPC_SCHEMA]));
    assert_eq!(c["patch"]["supported"], true);
    assert_eq!(c["bulk"]["supported"], true);
    assert_eq!(c["bulk"]["maxOperations"], 1000);
    assert_eq!(c["bulk"]["maxPayloadSize"], 4 * 1024 * 1024);
    assert_eq!(c["filter"]["supported"], true);
    assert_eq!(c["filter"]["maxResults"], 1000);
    assert!(c["changePassword"]["supported"].is_boolean(), "{c}");
    assert_eq!(c["sort"]["supported"], true);
    assert_eq!(c["etag"]["supported"], true);
    assert_eq!(c["pagination"]["index"], true);
    assert_eq!(c["pagination"]["cursor"], true);
    assert_eq!(c["pagination"]["maxPageSize"], 1000);
    assert!(c["pagination"]["defaultPageSize"].is_u64());
    let schemes = c["authenticationSchemes"]
        .as_array()
        .expect("authenticationSchemes");
    assert!(!schemes.is_empty());
    for scheme in schemes {
        for key in ["type", "name", "description"] {
            assert!(
                scheme[key].as_str().is_some_and(|v| !v.is_empty()),
                "{key} of {scheme}"
            );
        }
    }
    assert!(
        schemes.iter().any(|x| x["type"] == "oauthbearertoken"),
        "{c}"
    );
    assert_eq!(c["meta"]["resourceType"], "ServiceProviderConfig");
    assert_eq!(
        c["meta"]["location"],
        format!("{}/ServiceProviderConfig", s.base("acme"))
    );
}

/// `patch.supported`: add, replace and remove on a user.
async fn discovery_feature_patch_works(s: TestServer) {
    let id = s.create_user("patch@example.com").await;
    let r = s
        .patch_ops(
            &format!("/Users/{id}"),
            json!([
                {"op": "add", "path": "emails", "value": [{"value": "patch@example.com", "type": "work"}]},
                {"op": "replace", "path": "displayName", "value": "P"},
                {"op": "add", "path": "title", "value": "T"},
                {"op": "remove", "path": "title"},
            ]),
        )
        .await
        .expect(200);
    assert_eq!(r.body["displayName"], "P");
    assert_eq!(r.body["emails"][0]["value"], "patch@example.com");
    assert!(r.body.get("title").is_none());
}

/// `bulk.maxOperations`: a request with exactly 1000 operations runs all of them.
async fn discovery_feature_bulk_works_up_to_max_operations(s: TestServer) {
    let max = spc(&s).await["bulk"]["maxOperations"].as_u64().unwrap() as usize;
    let ops: Vec<Value> = (0..max)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"),
                        "data": {"schemas": [USER_SCHEMA], "userName": format!("bulk{i:04}")}})
        })
        .collect();
    let r = s
        .post(
            "/Bulk",
            json!({"schemas": [BULK_REQUEST], "Operations": ops}),
        )
        .await
        .expect(200);
    let results = r.body["Operations"].as_array().unwrap();
    assert_eq!(results.len(), max);
    assert!(
        results.iter().all(|o| o["status"] == "201"),
        "every operation succeeds"
    );
    assert_eq!(
        s.get("/Users?count=0").await.body["totalResults"].as_u64(),
        Some(max as u64)
    );
}

/// `filter.maxResults`: a filter matching more than 1000 returns at most 1000, with the true
/// `totalResults`.
async fn discovery_feature_filter_works_up_to_max_results(s: TestServer) {
    let max = spc(&s).await["filter"]["maxResults"].as_u64().unwrap();
    s.seed_users("f", (max + 2) as usize).await;
    s.create_user("other").await;
    let r = s
        .filter("Users", "userName sw \"f\"", &format!("&count={}", max * 2))
        .await
        .expect(200);
    assert_eq!(r.body["totalResults"].as_u64(), Some(max + 2));
    assert_eq!(r.resources().len() as u64, max);
}

/// `sort.supported`: `sortBy` and `sortOrder` order the results.
async fn discovery_feature_sort_works(s: TestServer) {
    for n in ["b", "c", "a"] {
        s.create_user(n).await;
    }
    let r = s
        .get("/Users?sortBy=userName&sortOrder=descending")
        .await
        .expect(200);
    let names: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c", "b", "a"]);
}

/// `etag.supported`: resources carry an ETag that conditional requests honour.
async fn discovery_feature_etag_works(s: TestServer) {
    let id = s.create_user("etag@example.com").await;
    let tag = s
        .get(&format!("/Users/{id}"))
        .await
        .header("etag")
        .unwrap()
        .to_string();
    let r = s
        .call_as(
            &s.token,
            "acme",
            Method::GET,
            &format!("/Users/{id}"),
            None,
            &[("if-none-match", &tag)],
        )
        .await;
    assert_eq!(r.status.as_u16(), 304);
    let patch = patch_body(json!([{"op": "replace", "path": "title", "value": "x"}]));
    s.call_as(
        &s.token,
        "acme",
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(patch.clone()),
        &[("if-match", &tag)],
    )
    .await
    .expect(200);
    s.call_as(
        &s.token,
        "acme",
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(patch),
        &[("if-match", &tag)],
    )
    .await
    .expect_error(412, None);
}

/// `pagination`: index paging, cursor paging and the advertised default page size.
async fn discovery_feature_pagination_works(s: TestServer) {
    let c = spc(&s).await;
    let default = c["pagination"]["defaultPageSize"].as_u64().unwrap() as usize;
    s.seed_users("pg", default + 5).await;
    s.get("/Users")
        .await
        .expect_list((default + 5) as u64, default);
    let r = s
        .get("/Users?startIndex=3&count=4")
        .await
        .expect_list((default + 5) as u64, 4);
    assert_eq!(r.body["startIndex"], 3);
    let mut seen = 0;
    let mut cursor = Some(String::new());
    while let Some(c) = cursor.take() {
        let r = s
            .get(&format!("/Users?cursor={}&count=40", enc(&c)))
            .await
            .expect(200);
        seen += r.resources().len();
        cursor = r.body["nextCursor"].as_str().map(str::to_string);
    }
    assert_eq!(seen, default + 5);
}

/// The advertised bearer-token scheme: `Authorization: Bearer <token>` works (scheme name
/// in any case), anything else is a 401.
async fn discovery_feature_authentication_scheme_works(s: TestServer) {
    for header in [format!("Bearer {}", s.token), format!("bearer {}", s.token)] {
        s.raw(
            Method::GET,
            "/ServiceProviderConfig",
            &[("authorization", &header)],
            None,
        )
        .await
        .expect(200);
    }
    for header in [
        s.token.clone(),
        format!("Basic {}", s.token),
        "Bearer ".to_string(),
    ] {
        s.raw(
            Method::GET,
            "/ServiceProviderConfig",
            &[("authorization", &header)],
            None,
        )
        .await
        .expect_error(401, None);
    }
}

/// `/ResourceTypes` lists User and Group with endpoint, schema and extensions; each is also
/// served by id; an unknown id is a SCIM 404.
async fn discovery_resource_types(s: TestServer) {
    let list = s
        .get("/ResourceTypes")
        .await
        .expect_list(2, 2)
        .expect_scim_json();
    assert_eq!(list.body["schemas"], json!([LIST_RESPONSE]));
    let find = |id: &str| {
        list.resources()
            .into_iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no {id}"))
    };
    let user = find("User");
    assert_eq!(user["schemas"], json!([RESOURCE_TYPE_SCHEMA]));
    assert_eq!(user["name"], "User");
    assert_eq!(user["endpoint"], "/Users");
    assert_eq!(user["schema"], USER_SCHEMA);
    assert_eq!(
        user["schemaExtensions"],
        json!([{"schema": ENTERPRISE, "required": false}])
    );
    assert_eq!(user["meta"]["resourceType"], "ResourceType");
    assert_eq!(
        user["meta"]["location"],
        format!("{}/ResourceTypes/User", s.base("acme"))
    );
    let group = find("Group");
    assert_eq!(group["endpoint"], "/Groups");
    assert_eq!(group["schema"], GROUP_SCHEMA);
    for id in ["User", "Group"] {
        let one = s
            .get(&format!("/ResourceTypes/{id}"))
            .await
            .expect(200)
            .expect_scim_json();
        assert_eq!(one.body, find(id));
    }
    s.get("/ResourceTypes/Widget").await.expect_error(404, None);
}

/// `/Schemas` lists the User, EnterpriseUser and Group schemas; `/Schemas/{urn}` serves
/// each of them (the same document); an unknown URN is a SCIM 404.
async fn discovery_schemas_and_each_schema_by_urn(s: TestServer) {
    let list = s.get("/Schemas").await.expect(200).expect_scim_json();
    assert_eq!(list.body["schemas"], json!([LIST_RESPONSE]));
    let items = list.resources();
    assert_eq!(list.body["totalResults"].as_u64(), Some(items.len() as u64));
    let ids: Vec<&str> = items.iter().map(|x| x["id"].as_str().unwrap()).collect();
    for want in [USER_SCHEMA, ENTERPRISE, GROUP_SCHEMA] {
        assert!(ids.contains(&want), "{want} is listed: {ids:?}");
    }
    for item in &items {
        let id = item["id"].as_str().unwrap();
        assert!(
            item["name"].as_str().is_some_and(|n| !n.is_empty()),
            "{id} has a name"
        );
        assert!(
            item["attributes"].as_array().is_some_and(|a| !a.is_empty()),
            "{id} has attributes"
        );
        assert_eq!(item["meta"]["resourceType"], "Schema");
        assert_eq!(
            item["meta"]["location"],
            format!("{}/Schemas/{id}", s.base("acme"))
        );
        assert!(
            item["schemas"]
                .as_array()
                .is_some_and(|x| x.contains(&json!(SCHEMA_SCHEMA))),
            "{id}: {}",
            item["schemas"]
        );
        let one = s
            .get(&format!("/Schemas/{id}"))
            .await
            .expect(200)
            .expect_scim_json();
        assert_eq!(&one.body, item, "/Schemas/{id} is the listed document");
    }
    s.get("/Schemas/urn:example:nope")
        .await
        .expect_error(404, None);
}

/// Every attribute definition carries RFC 7643 §7's characteristics, and the key ones are
/// right: userName required and unique, password writeOnly/never, groups readOnly,
/// members multi-valued complex, manager complex with `value`.
async fn discovery_schema_attributes_carry_their_characteristics(s: TestServer) {
    fn check(attr: &Value, path: &str) {
        for key in [
            "name",
            "type",
            "multiValued",
            "required",
            "mutability",
            "returned",
        ] {
            assert!(attr.get(key).is_some(), "{path}: no {key} in {attr}");
        }
        let ty = attr["type"].as_str().unwrap();
        assert!(
            [
                "string",
                "boolean",
                "decimal",
                "integer",
                "dateTime",
                "binary",
                "reference",
                "complex"
            ]
            .contains(&ty),
            "{path}: type {ty}"
        );
        if ["string", "reference", "binary"].contains(&ty) {
            assert!(attr["caseExact"].is_boolean(), "{path}: caseExact");
        }
        if ty == "reference" {
            assert!(attr["referenceTypes"].is_array(), "{path}: referenceTypes");
        }
        if ty == "complex" {
            let subs = attr["subAttributes"]
                .as_array()
                .unwrap_or_else(|| panic!("{path}: subAttributes"));
            for sub in subs {
                check(
                    sub,
                    &format!("{path}.{}", sub["name"].as_str().unwrap_or("?")),
                );
            }
        }
    }
    let attr = |schema: &Value, name: &str| -> Value {
        schema["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}"))
    };
    for urn in [USER_SCHEMA, ENTERPRISE, GROUP_SCHEMA] {
        let schema = s.get(&format!("/Schemas/{urn}")).await.expect(200).body;
        for a in schema["attributes"].as_array().unwrap() {
            check(a, a["name"].as_str().unwrap_or("?"));
        }
    }
    let user = s.get(&format!("/Schemas/{USER_SCHEMA}")).await.body;
    let user_name = attr(&user, "userName");
    assert_eq!(user_name["required"], true);
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["caseExact"], false);
    let password = attr(&user, "password");
    assert_eq!(password["mutability"], "writeOnly");
    assert_eq!(password["returned"], "never");
    assert_eq!(attr(&user, "groups")["mutability"], "readOnly");
    assert_eq!(attr(&user, "emails")["multiValued"], true);
    let group = s.get(&format!("/Schemas/{GROUP_SCHEMA}")).await.body;
    let members = attr(&group, "members");
    assert_eq!(members["multiValued"], true);
    assert_eq!(members["type"], "complex");
    assert_eq!(attr(&group, "displayName")["required"], true);
    let enterprise = s.get(&format!("/Schemas/{ENTERPRISE}")).await.body;
    let manager = attr(&enterprise, "manager");
    assert_eq!(manager["type"], "complex");
    assert!(
        manager["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["name"] == "value")
    );
}

/// A `filter` on a discovery endpoint is refused with 403 (RFC 7644 §4: SHOULD), so that no
/// client believes the filter was applied.
async fn discovery_filter_on_discovery_endpoints_is_403(s: TestServer) {
    for endpoint in ["/ResourceTypes", "/Schemas"] {
        s.get(&format!("{endpoint}?filter={}", enc("name eq \"User\"")))
            .await
            .expect_error(403, None);
    }
}
