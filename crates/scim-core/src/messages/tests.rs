use serde_json::json;

use super::*;
use crate::error::ScimType;

#[test]
fn list_response_serialises_with_integer_counters_in_order() {
    let r = ListResponse::page(3, 1, vec![json!({"id": "1"}), json!({"id": "2"})]);
    let text = serde_json::to_string(&r).unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"schemas":["{LIST_RESPONSE}"],"totalResults":3,"startIndex":1,"itemsPerPage":2,"Resources":[{{"id":"1"}},{{"id":"2"}}]}}"#
        )
    );
    assert_eq!(serde_json::to_value(&r).unwrap(), r.to_json());
}

#[test]
fn empty_list_response_for_entra_test_connection() {
    let v = ListResponse::page(0, 1, vec![]).to_json();
    assert_eq!(
        v,
        json!({"schemas": [LIST_RESPONSE], "totalResults": 0, "startIndex": 1,
               "itemsPerPage": 0, "Resources": []})
    );
}

#[test]
fn cursor_list_response_has_cursors_and_no_start_index() {
    let r = ListResponse {
        total_results: 10,
        start_index: None,
        items_per_page: 1,
        resources: vec![json!({})],
        next_cursor: Some("abc".into()),
        previous_cursor: Some("xyz".into()),
    };
    let v = serde_json::to_value(&r).unwrap();
    assert!(v.get("startIndex").is_none());
    assert_eq!(v["nextCursor"], "abc");
    assert_eq!(v["previousCursor"], "xyz");
    assert_eq!(ListResponse::from_json(v).unwrap(), r);
}

#[test]
fn list_response_parses_leniently() {
    let r =
        ListResponse::from_json(json!({"TOTALRESULTS": "2", "resources": [{"id": "1"}]})).unwrap();
    assert_eq!(r.total_results, 2);
    assert_eq!(r.items_per_page, 1);
    assert_eq!(r.start_index, None);
    assert_eq!(r.resources.len(), 1);
    let r = ListResponse::from_json(json!({"totalResults": 0})).unwrap();
    assert!(r.resources.is_empty());
    assert!(ListResponse::from_json(json!([])).is_err());
    assert!(ListResponse::from_json(json!({"totalResults": -1})).is_err());
    assert!(ListResponse::from_json(json!({"Resources": {}})).is_err());
}

#[test]
fn search_request_with_arrays_or_comma_strings() {
    let r = SearchRequest::parse(&json!({
        "schemas": [SEARCH_REQUEST],
        "attributes": ["displayName", "userName, emails"],
        "excludedAttributes": "members , meta",
        "filter": "displayName sw \"smith\"",
        "sortBy": "userName",
        "sortOrder": "descending",
        "startIndex": 1,
        "count": "10"
    }))
    .unwrap();
    assert_eq!(r.attributes, ["displayName", "userName", "emails"]);
    assert_eq!(r.excluded_attributes, ["members", "meta"]);
    assert_eq!(r.filter.as_deref(), Some("displayName sw \"smith\""));
    assert_eq!(r.start_index, Some(1));
    assert_eq!(r.count, Some(10));
    let q = r.into_query();
    assert_eq!(q.attributes.as_deref(), Some("displayName,userName,emails"));
    assert_eq!(q.excluded_attributes.as_deref(), Some("members,meta"));
    assert_eq!(q.sort_order.as_deref(), Some("descending"));
}

#[test]
fn search_request_nulls_and_empties_are_absent() {
    let r = SearchRequest::parse(&json!({"filter": null, "sortBy": "", "attributes": null,
                                         "count": null, "cursor": ""}))
    .unwrap();
    assert_eq!(
        r,
        SearchRequest {
            cursor: Some(String::new()),
            ..SearchRequest::default()
        }
    );
    assert_eq!(r.into_query().attributes, None);
}

#[test]
fn search_request_type_errors() {
    for (body, needle) in [
        (json!({"filter": 5}), "'filter'"),
        (json!({"count": "ten"}), "count"),
        (json!({"count": 1.5}), "count"),
        (json!({"startIndex": true}), "'startIndex'"),
        (json!({"attributes": [1]}), "'attributes'"),
        (json!({"cursor": 1}), "'cursor'"),
    ] {
        let e = SearchRequest::parse(&body).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{body}");
        assert!(e.detail.contains(needle), "{}", e.detail);
    }
    let e = SearchRequest::parse(&json!([])).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
}

#[test]
fn list_query_from_pairs() {
    let q = ListQuery::from_pairs([
        ("filter", "userName eq \"x\""),
        ("STARTINDEX", "101"),
        ("count", "100"),
        ("excludedAttributes", "members"),
        ("attributes", ""),
        ("unknown", "x"),
        ("sortBy", "userName"),
        ("sortOrder", "ascending"),
        ("cursor", ""),
    ])
    .unwrap();
    assert_eq!(q.filter.as_deref(), Some("userName eq \"x\""));
    assert_eq!(q.start_index, Some(101));
    assert_eq!(q.count, Some(100));
    assert_eq!(q.attributes, None);
    assert_eq!(q.excluded_attributes.as_deref(), Some("members"));
    assert_eq!(q.cursor.as_deref(), Some(""));
    assert_eq!(
        q.page(100, 1000),
        Page {
            start_index: 101,
            count: 100
        }
    );

    let e = ListQuery::from_pairs([("count", "many")]).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    let q = ListQuery::from_pairs([("startIndex", "99999999999999999999999")]).unwrap();
    assert_eq!(q.start_index, Some(i64::MAX));
}

#[test]
fn paging_normalisation() {
    assert_eq!(normalize_start_index(None), 1);
    assert_eq!(normalize_start_index(Some(0)), 1);
    assert_eq!(normalize_start_index(Some(-5)), 1);
    assert_eq!(normalize_start_index(Some(7)), 7);
    assert_eq!(normalize_count(None, 100, 1000), 100);
    assert_eq!(normalize_count(Some(-1), 100, 1000), 0);
    assert_eq!(normalize_count(Some(0), 100, 1000), 0);
    assert_eq!(normalize_count(Some(5000), 100, 1000), 1000);
    assert_eq!(normalize_count(None, 5000, 1000), 1000);
    // Google probes with count=1.
    let q = ListQuery::from_pairs([("count", "1")]).unwrap();
    assert_eq!(
        q.page(100, 1000),
        Page {
            start_index: 1,
            count: 1
        }
    );
}

fn bulk_body() -> serde_json::Value {
    json!({
        "schemas": [BULK_REQUEST],
        "failOnErrors": 1,
        "Operations": [
            {"method": "post", "path": "/Users", "bulkId": "qwerty",
             "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Alice"}},
            {"method": "PUT", "path": "/Users/b7c14771", "version": "W/\"3694e05e9dff591\"",
             "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Bob"}},
            {"method": "Patch", "path": "/Groups/bulkId:ytrewq",
             "data": {"schemas": [PATCH_OP], "Operations": []}},
            {"method": "DELETE", "path": "/Users/e9e30dba", "data": {"ignored": true}}
        ]
    })
}

#[test]
fn bulk_request_parses() {
    let r = BulkRequest::parse(bulk_body()).unwrap();
    assert_eq!(r.fail_on_errors, Some(1));
    let methods: Vec<BulkMethod> = r.operations.iter().map(|o| o.method).collect();
    assert_eq!(
        methods,
        [
            BulkMethod::Post,
            BulkMethod::Put,
            BulkMethod::Patch,
            BulkMethod::Delete
        ]
    );
    assert_eq!(r.operations[0].bulk_id.as_deref(), Some("qwerty"));
    assert_eq!(
        r.operations[1].version.as_deref(),
        Some("W/\"3694e05e9dff591\"")
    );
    assert_eq!(r.operations[2].path, "/Groups/bulkId:ytrewq");
    assert_eq!(r.operations[3].data, None);
    assert_eq!(r.operations[0].data.as_ref().unwrap()["userName"], "Alice");
}

#[test]
fn bulk_request_errors_name_the_operation() {
    let cases: Vec<(serde_json::Value, ScimType, &str)> = vec![
        (json!([]), ScimType::InvalidSyntax, "JSON object"),
        (json!({}), ScimType::InvalidSyntax, "'Operations'"),
        (json!({"Operations": {}}), ScimType::InvalidSyntax, "array"),
        (
            json!({"failOnErrors": -1, "Operations": []}),
            ScimType::InvalidValue,
            "failOnErrors",
        ),
        (
            json!({"failOnErrors": "1", "Operations": []}),
            ScimType::InvalidSyntax,
            "failOnErrors",
        ),
        (
            json!({"Operations": [5]}),
            ScimType::InvalidSyntax,
            "Operations[0]",
        ),
        (
            json!({"Operations": [{"path": "/Users"}]}),
            ScimType::InvalidSyntax,
            "'method'",
        ),
        (
            json!({"Operations": [{"method": "GET", "path": "/Users"}]}),
            ScimType::InvalidValue,
            "'GET'",
        ),
        (
            json!({"Operations": [{"method": "DELETE"}]}),
            ScimType::InvalidSyntax,
            "'path'",
        ),
        (
            json!({"Operations": [{"method": "DELETE", "path": "Users/1"}]}),
            ScimType::InvalidValue,
            "start with '/'",
        ),
        (
            json!({"Operations": [{"method": "POST", "path": "/Users", "data": {}}]}),
            ScimType::InvalidValue,
            "bulkId",
        ),
        (
            json!({"Operations": [{"method": "PUT", "path": "/Users/1"}]}),
            ScimType::InvalidValue,
            "'data'",
        ),
        (
            json!({"Operations": [{"method": "PATCH", "path": "/Users/1", "data": []}]}),
            ScimType::InvalidSyntax,
            "'data'",
        ),
        (
            json!({"Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {}},
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {}}]}),
            ScimType::InvalidValue,
            "Operations[1]: bulkId 'a' is already used by Operations[0]",
        ),
    ];
    for (body, scim_type, needle) in cases {
        let e = BulkRequest::parse(body.clone()).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.scim_type, Some(scim_type), "{body}: {e}");
        assert!(e.detail.contains(needle), "{body}: {}", e.detail);
    }
    let e =
        BulkRequest::parse(json!({"Operations": [{"method": "GET", "path": "/x"}]})).unwrap_err();
    assert!(e.detail.starts_with("Operations[0]: "), "{}", e.detail);
}

#[test]
fn bulk_response_serialises() {
    let r = BulkResponse {
        operations: vec![
            BulkOperationResponse {
                method: BulkMethod::Post,
                bulk_id: Some("qwerty".into()),
                version: Some("W/\"1\"".into()),
                location: Some("https://example.com/v2/Users/92b725cd".into()),
                status: "201".into(),
                response: None,
            },
            BulkOperationResponse {
                method: BulkMethod::Delete,
                bulk_id: None,
                version: None,
                location: None,
                status: "404".into(),
                response: Some(crate::ScimError::not_found("Resource x not found").to_json()),
            },
        ],
    };
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v,
        json!({"schemas": [BULK_RESPONSE], "Operations": [
            {"method": "POST", "bulkId": "qwerty", "version": "W/\"1\"",
             "location": "https://example.com/v2/Users/92b725cd", "status": "201"},
            {"method": "DELETE", "status": "404", "response": {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "404", "detail": "Resource x not found"}}
        ]})
    );
}

#[test]
fn bulk_method_parse() {
    assert_eq!(BulkMethod::parse(" delete "), Some(BulkMethod::Delete));
    assert_eq!(BulkMethod::parse("get"), None);
    assert_eq!(BulkMethod::Patch.as_str(), "PATCH");
}
