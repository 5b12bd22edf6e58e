//! The checks, in the order a provider's cycle would run them. Each builds its request as
//! the provider sends it and judges the answer; a check that needs a resource an earlier
//! check failed to create is skipped with that reason.

use std::collections::BTreeSet;
use std::sync::Mutex;

use scim_client::{Client, ClientConfig, ClientError, Method, Response, ServiceProviderConfig};
use serde_json::{Value, json};

use crate::{CheckResult, Provider, Report, Status};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const AD_GROUP: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

enum Why {
    Fail(String),
    Skip(String),
}

impl From<String> for Why {
    fn from(s: String) -> Why {
        Why::Fail(s)
    }
}

impl From<ClientError> for Why {
    fn from(e: ClientError) -> Why {
        Why::Fail(e.to_string())
    }
}

type Step = Result<(), Why>;

macro_rules! ensure {
    ($cond:expr, $($t:tt)*) => {
        if !$cond {
            return Err(Why::Fail(format!($($t)*)));
        }
    };
}

struct Def {
    id: &'static str,
    title: &'static str,
    providers: &'static [Provider],
    rfc: &'static str,
    optional: bool,
}

const fn def(
    id: &'static str,
    title: &'static str,
    providers: &'static [Provider],
    rfc: &'static str,
) -> Def {
    Def {
        id,
        title,
        providers,
        rfc,
        optional: false,
    }
}

use Provider::{Entra, Google, JumpCloud, Okta, OneLogin, Rfc};

struct Ctx {
    c: Client,
    anon: Client,
    prefix: String,
    users: Mutex<Vec<String>>,
    groups: Mutex<Vec<String>>,
    results: Vec<CheckResult>,
}

fn snippet(r: &Response) -> String {
    let t: String = r.text.chars().take(200).collect();
    format!("HTTP {} {t}", r.status)
}

fn id_of(v: &Value) -> Option<String> {
    v.get("id").and_then(Value::as_str).map(str::to_string)
}

fn member_ids(group: &Value) -> BTreeSet<String> {
    group
        .get("members")
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .filter_map(|m| m.get("value").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn is_list(v: &Value) -> bool {
    v["schemas"]
        .as_array()
        .is_some_and(|s| s.iter().any(|u| u == LIST))
}

fn total(v: &Value) -> Option<u64> {
    v.get("totalResults").and_then(Value::as_u64)
}

fn resources(v: &Value) -> Vec<Value> {
    v.get("Resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// A SCIM Error body as Okta checks it: the schema, `status` as a string equal to the HTTP
/// status, a non-empty `detail`.
fn scim_error(r: &Response, status: u16) -> Result<(), String> {
    if r.status != status {
        return Err(format!("expected {status}, got {}", snippet(r)));
    }
    let b = &r.body;
    if !b["schemas"]
        .as_array()
        .is_some_and(|s| s.iter().any(|u| u == ERROR))
    {
        return Err(format!("not a SCIM Error body: {}", snippet(r)));
    }
    if b["status"] != Value::String(status.to_string()) {
        return Err(format!(
            "`status` must be the string \"{status}\", got {}",
            b["status"]
        ));
    }
    if b["detail"].as_str().is_none_or(|d| d.trim().is_empty()) {
        return Err("`detail` is missing or empty".into());
    }
    Ok(())
}

impl Ctx {
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Response, Why> {
        Ok(self.c.send(method, path, query, body, &[]).await?)
    }

    async fn get(&self, path: &str) -> Result<Response, Why> {
        self.send(Method::GET, path, &[], None).await
    }

    async fn filter(&self, endpoint: &str, filter: &str) -> Result<Response, Why> {
        self.send(
            Method::GET,
            endpoint,
            &[("filter", filter.to_string())],
            None,
        )
        .await
    }

    async fn patch(&self, path: &str, ops: Value) -> Result<Response, Why> {
        let body = json!({"schemas": [PATCH], "Operations": ops});
        let r = self.send(Method::PATCH, path, &[], Some(&body)).await?;
        ensure!(
            r.status == 200 || r.status == 204,
            "PATCH {} answered {}",
            body["Operations"],
            snippet(&r)
        );
        Ok(r)
    }

    async fn resource(&self, path: &str) -> Result<Value, Why> {
        let r = self.get(path).await?;
        ensure!(r.status == 200, "GET {path}: {}", snippet(&r));
        Ok(r.body)
    }

    fn track_user(&self, id: &str) {
        if let Ok(mut u) = self.users.lock() {
            u.push(id.to_string());
        }
    }

    fn track_group(&self, id: &str) {
        if let Ok(mut g) = self.groups.lock() {
            g.push(id.to_string());
        }
    }

    fn user_name(&self, n: &str) -> String {
        format!("{}-{n}@example.com", self.prefix)
    }

    fn record(&mut self, d: &Def, r: Step) {
        let (status, reason) = match r {
            Ok(()) => (Status::Pass, String::new()),
            Err(Why::Fail(m)) => (Status::Fail, m),
            Err(Why::Skip(m)) => (Status::Skip, m),
        };
        self.results.push(CheckResult {
            id: d.id,
            title: d.title,
            providers: d.providers.to_vec(),
            rfc: d.rfc,
            optional: d.optional,
            status,
            reason,
        });
    }
}

fn need<T: Clone>(v: &Option<T>, what: &str) -> Result<T, Why> {
    v.clone().ok_or_else(|| {
        Why::Skip(format!(
            "needs {what}, which an earlier check could not create"
        ))
    })
}

/// Runs every check against `base_url` with `token`, then deletes what it created.
pub async fn run(base_url: &str, token: &str) -> Result<Report, String> {
    let mut cfg = ClientConfig::new(base_url, Some(token.to_string()));
    cfg.max_retries = 4;
    let c = Client::new(cfg).map_err(|e| e.to_string())?;
    let anon = Client::new(ClientConfig::new(base_url, None)).map_err(|e| e.to_string())?;
    let prefix = format!("scimcheck-{:08x}", rand::random::<u32>());
    let mut x = Ctx {
        c,
        anon,
        prefix,
        users: Mutex::new(Vec::new()),
        groups: Mutex::new(Vec::new()),
        results: Vec::new(),
    };
    let spc = checks(&mut x).await;
    let _ = spc;
    let left_behind = cleanup(&x).await;
    Ok(Report {
        target: base_url.to_string(),
        results: x.results,
        left_behind,
    })
}

async fn cleanup(x: &Ctx) -> Vec<String> {
    let mut left = Vec::new();
    let groups: Vec<String> = x.groups.lock().map(|g| g.clone()).unwrap_or_default();
    let users: Vec<String> = x.users.lock().map(|u| u.clone()).unwrap_or_default();
    for (kind, ids) in [("Groups", groups), ("Users", users)] {
        let mut seen = BTreeSet::new();
        for id in ids {
            if !seen.insert(id.clone()) {
                continue;
            }
            let path = format!("/{kind}/{id}");
            match x.c.send(Method::DELETE, &path, &[], None, &[]).await {
                Ok(r) if r.status == 204 || r.status == 200 || r.status == 404 => {}
                Ok(r) => left.push(format!("{path} ({})", r.status)),
                Err(e) => left.push(format!("{path} ({e})")),
            }
        }
    }
    left
}

async fn checks(x: &mut Ctx) -> Option<ServiceProviderConfig> {
    // --- Discovery ---------------------------------------------------------------------
    let mut spc = None;
    let d = def(
        "discovery.service_provider_config",
        "GET /ServiceProviderConfig describes the features",
        &[Rfc],
        "RFC 7644 §4, RFC 7643 §5",
    );
    let r: Step = async {
        let r = x.get("/ServiceProviderConfig").await?;
        ensure!(r.status == 200, "{}", snippet(&r));
        for k in [
            "patch",
            "bulk",
            "filter",
            "changePassword",
            "sort",
            "etag",
            "authenticationSchemes",
        ] {
            ensure!(r.body.get(k).is_some(), "missing `{k}`");
        }
        spc = Some(ServiceProviderConfig::from_json(&r.body));
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "discovery.schemas",
        "GET /Schemas lists the User and Group schemas",
        &[Rfc, Entra],
        "RFC 7644 §4",
    );
    let r: Step = async {
        let r = x.get("/Schemas").await?;
        ensure!(r.status == 200, "{}", snippet(&r));
        let list = if r.body.is_array() {
            r.body.as_array().cloned().unwrap_or_default()
        } else {
            resources(&r.body)
        };
        let ids: Vec<&str> = list
            .iter()
            .filter_map(|s| s.get("id").and_then(Value::as_str))
            .collect();
        ensure!(
            ids.contains(&USER) && ids.contains(&GROUP),
            "schema ids: {ids:?}"
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "discovery.resource_types",
        "GET /ResourceTypes lists User and Group",
        &[Rfc],
        "RFC 7644 §4",
    );
    let r: Step = async {
        let r = x.get("/ResourceTypes").await?;
        ensure!(r.status == 200, "{}", snippet(&r));
        let list = if r.body.is_array() {
            r.body.as_array().cloned().unwrap_or_default()
        } else {
            resources(&r.body)
        };
        let names: Vec<&str> = list
            .iter()
            .filter_map(|s| s.get("name").and_then(Value::as_str))
            .collect();
        ensure!(
            names.contains(&"User") && names.contains(&"Group"),
            "resource types: {names:?}"
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    // --- Users ---------------------------------------------------------------------------
    let d = def(
        "entra.test_connection",
        "An empty filter result is 200 with totalResults 0 (Test Connection)",
        &[Entra],
        "RFC 7644 §3.4.2",
    );
    let r: Step = async {
        let r = x
            .filter(
                "/Users",
                &format!(
                    "userName eq \"{}-{:016x}\"",
                    x.prefix,
                    rand::random::<u64>()
                ),
            )
            .await?;
        ensure!(r.status == 200, "{}", snippet(&r));
        ensure!(is_list(&r.body), "not a ListResponse: {}", snippet(&r));
        ensure!(
            total(&r.body) == Some(0),
            "totalResults: {}",
            r.body["totalResults"]
        );
        ensure!(resources(&r.body).is_empty(), "Resources not empty");
        Ok(())
    }
    .await;
    x.record(&d, r);

    let mut user_a: Option<String> = None;
    let a_name = x.user_name("a");
    let a_ext = format!("{}-ext-a", x.prefix);
    let d = def(
        "entra.create_user",
        "POST /Users as Entra sends it: enterprise URN, meta, roles [], explicit nulls",
        &[Entra],
        "RFC 7644 §3.3",
    );
    let r: Step = async {
        let body = json!({
            "schemas": [USER, ENTERPRISE],
            "externalId": a_ext,
            "userName": a_name,
            "active": true,
            "displayName": "Check A",
            "title": null,
            "addresses": null,
            "roles": [],
            "meta": {"resourceType": "User"},
            "name": {"givenName": "Check", "familyName": "A", "formatted": null},
            "emails": [{"primary": true, "type": "work", "value": a_name}],
            ENTERPRISE: {"department": "QA", "manager": null}
        });
        let r = x.send(Method::POST, "/Users", &[], Some(&body)).await?;
        if let Some(id) = id_of(&r.body) {
            x.track_user(&id);
            user_a = Some(id);
        }
        ensure!(r.status == 201, "{}", snippet(&r));
        ensure!(user_a.is_some(), "the answer has no id");
        Ok(())
    }
    .await;
    x.record(&d, r);

    if user_a.is_none() {
        // So one deviation does not hide every later check: a plain user stands in.
        let body = json!({"schemas": [USER], "userName": a_name, "externalId": a_ext,
            "emails": [{"type": "work", "value": a_name, "primary": true}], "active": true});
        if let Ok(r) = x.send(Method::POST, "/Users", &[], Some(&body)).await
            && let Some(id) = id_of(&r.body)
        {
            x.track_user(&id);
            user_a = Some(id);
        }
    }

    let mut user_b: Option<String> = None;
    let b_name = x.user_name("b");
    let d = def(
        "okta.create_user_json",
        "POST /Users with Content-Type application/json, password, groups [], locale",
        &[Okta],
        "RFC 7644 §3.1, §3.3",
    );
    let r: Step = async {
        let body = json!({
            "schemas": [USER],
            "userName": b_name,
            "name": {"givenName": "Check", "familyName": "B"},
            "emails": [{"primary": true, "value": b_name, "type": "work"}],
            "displayName": "Check B",
            "locale": "en-US",
            "externalId": format!("{}-ext-b", x.prefix),
            "groups": [],
            "password": "Xy7!scimcheck-not-a-secret",
            "active": true
        });
        let r =
            x.c.send(
                Method::POST,
                "/Users",
                &[],
                Some(&body),
                &[("content-type", "application/json")],
            )
            .await?;
        if let Some(id) = id_of(&r.body) {
            x.track_user(&id);
            user_b = Some(id);
        }
        ensure!(r.status == 201, "{}", snippet(&r));
        ensure!(
            r.body.get("password").is_none(),
            "the created user's answer returns `password`"
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "okta.password_never_returned",
        "password is write-only: GET never returns it",
        &[Okta],
        "RFC 7643 §4.1.1",
    );
    let r: Step = async {
        let b = need(&user_b, "the Okta user")?;
        let u = x.resource(&format!("/Users/{b}")).await?;
        ensure!(u.get("password").is_none(), "GET returns `password`");
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "entra.match_filters",
        "userName, externalId and emails[type eq \"work\"].value eq filters find the user",
        &[Entra],
        "RFC 7644 §3.4.2.2",
    );
    let r: Step = async {
        let a = need(&user_a, "the Entra user")?;
        for f in [
            format!("userName eq \"{a_name}\""),
            format!("externalId eq \"{a_ext}\""),
            format!("emails[type eq \"work\"].value eq \"{a_name}\""),
        ] {
            let r = x.filter("/Users", &f).await?;
            ensure!(r.status == 200, "{f}: {}", snippet(&r));
            let ids: Vec<String> = resources(&r.body).iter().filter_map(id_of).collect();
            ensure!(ids == vec![a.clone()], "{f}: found {ids:?}");
        }
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "entra.and_filter",
        "`and` of two eq filters",
        &[Entra],
        "RFC 7644 §3.4.2.2",
    );
    let r: Step = async {
        let a = need(&user_a, "the Entra user")?;
        let f = format!("userName eq \"{a_name}\" and externalId eq \"{a_ext}\"");
        let r = x.filter("/Users", &f).await?;
        ensure!(r.status == 200, "{}", snippet(&r));
        let ids: Vec<String> = resources(&r.body).iter().filter_map(id_of).collect();
        ensure!(ids == vec![a], "found {ids:?}");
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "okta.filter_with_paging",
        "userName eq with startIndex=1&count=100 (Okta's existence check)",
        &[Okta],
        "RFC 7644 §3.4.2.4",
    );
    let r: Step = async {
        let a = need(&user_a, "the Entra user")?;
        let q = [
            ("filter", format!("userName eq \"{a_name}\"")),
            ("startIndex", "1".into()),
            ("count", "100".into()),
        ];
        let r = x.send(Method::GET, "/Users", &q, None).await?;
        ensure!(r.status == 200, "{}", snippet(&r));
        let ids: Vec<String> = resources(&r.body).iter().filter_map(id_of).collect();
        ensure!(ids == vec![a], "found {ids:?}");
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "okta.username_case_insensitive",
        "userName eq matches ignoring case",
        &[Okta, Entra],
        "RFC 7643 §4.1.1 (caseExact false)",
    );
    let r: Step = async {
        let a = need(&user_a, "the Entra user")?;
        let r = x
            .filter(
                "/Users",
                &format!("userName eq \"{}\"", a_name.to_uppercase()),
            )
            .await?;
        ensure!(r.status == 200, "{}", snippet(&r));
        let ids: Vec<String> = resources(&r.body).iter().filter_map(id_of).collect();
        ensure!(ids == vec![a], "an upper-case userName found {ids:?}");
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "okta.duplicate_is_409",
        "a create differing only in userName case is 409 uniqueness",
        &[Okta, Rfc],
        "RFC 7644 §3.3, §3.12",
    );
    let r: Step = async {
        need(&user_a, "the Entra user")?;
        let body = json!({"schemas": [USER], "userName": a_name.to_uppercase()});
        let r = x.send(Method::POST, "/Users", &[], Some(&body)).await?;
        if let Some(id) = id_of(&r.body) {
            x.track_user(&id);
        }
        scim_error(&r, 409)?;
        ensure!(
            r.body["scimType"] == "uniqueness",
            "scimType: {}",
            r.body["scimType"]
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "entra.patch_capitalised_ops",
        "PATCH op names Add/Replace/Remove in any case",
        &[Entra],
        "RFC 7644 §3.5.2",
    );
    let r: Step = async {
        let a = need(&user_a, "the Entra user")?;
        x.patch(&format!("/Users/{a}"), json!([{"op": "Replace", "path": "displayName", "value": "Check A2"}, {"op": "Add", "path": "nickName", "value": "ca"}])).await?;
        let u = x.resource(&format!("/Users/{a}")).await?;
        ensure!(u["displayName"] == "Check A2" && u["nickName"] == "ca", "after the PATCH: displayName {}, nickName {}", u["displayName"], u["nickName"]);
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "entra.patch_dotted_and_urn_keys",
        "PATCH without path: dotted and URN-qualified keys in the value",
        &[Entra],
        "RFC 7644 §3.5.2.3",
    );
    let r: Step = async {
        let a = need(&user_a, "the Entra user")?;
        x.patch(&format!("/Users/{a}"), json!([{"op": "replace", "value": {"name.givenName": "Kay", format!("{ENTERPRISE}:employeeNumber"): "7"}}])).await?;
        let u = x.resource(&format!("/Users/{a}")).await?;
        ensure!(u["name"]["givenName"] == "Kay", "name.givenName is {}", u["name"]["givenName"]);
        ensure!(u[ENTERPRISE]["employeeNumber"] == "7", "employeeNumber is {}", u[ENTERPRISE]["employeeNumber"]);
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "entra.enterprise_urn_path",
        "PATCH path with the enterprise URN (…:User:department)",
        &[Entra],
        "RFC 7644 §3.5.2, §3.10",
    );
    let r: Step = async {
        let a = need(&user_a, "the Entra user")?;
        x.patch(
            &format!("/Users/{a}"),
            json!([{"op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "Research"}]),
        )
        .await?;
        let u = x.resource(&format!("/Users/{a}")).await?;
        ensure!(
            u[ENTERPRISE]["department"] == "Research",
            "department is {}",
            u[ENTERPRISE]["department"]
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "entra.manager_forms",
        "manager set by a bare id, by {value}, and removed by replacing with empty",
        &[Entra],
        "RFC 7643 §4.3",
    );
    let r: Step = async {
        let a = need(&user_a, "the Entra user")?;
        let b = need(&user_b, "the Okta user")?;
        let path = format!("{ENTERPRISE}:manager");
        for value in [
            json!(b),
            json!({"value": b}),
            json!([{"$ref": null, "value": b}]),
        ] {
            x.patch(
                &format!("/Users/{a}"),
                json!([{"op": "Replace", "path": path, "value": value}]),
            )
            .await?;
            let u = x.resource(&format!("/Users/{a}")).await?;
            ensure!(
                u[ENTERPRISE]["manager"]["value"] == b.as_str(),
                "after replacing with {value}: manager is {}",
                u[ENTERPRISE]["manager"]
            );
        }
        x.patch(
            &format!("/Users/{a}"),
            json!([{"op": "Replace", "path": path, "value": ""}]),
        )
        .await?;
        let u = x.resource(&format!("/Users/{a}")).await?;
        ensure!(
            u[ENTERPRISE].get("manager").is_none_or(Value::is_null),
            "replace with \"\" left manager {}",
            u[ENTERPRISE]["manager"]
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "onelogin.unknown_sub_attributes",
        "manager with an extra displayName sub-attribute is accepted",
        &[OneLogin],
        "RFC 7643 §4.3",
    );
    let r: Step = async {
        let a = need(&user_a, "the Entra user")?;
        let b = need(&user_b, "the Okta user")?;
        x.patch(&format!("/Users/{a}"), json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": b, "displayName": "Check B"}}])).await?;
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "entra.clear_with_empty_or_null",
        "an optional attribute is cleared by \"\" and by null",
        &[Entra],
        "RFC 7644 §3.5.2.3",
    );
    let r: Step = async {
        let a = need(&user_a, "the Entra user")?;
        for clear in [json!(""), Value::Null] {
            x.patch(
                &format!("/Users/{a}"),
                json!([{"op": "Replace", "path": "title", "value": "Boss"}]),
            )
            .await?;
            x.patch(
                &format!("/Users/{a}"),
                json!([{"op": "Replace", "path": "title", "value": clear}]),
            )
            .await?;
            let u = x.resource(&format!("/Users/{a}")).await?;
            ensure!(
                u.get("title").is_none_or(|t| t.is_null() || t == ""),
                "title after replacing with {clear}: {}",
                u["title"]
            );
        }
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "entra.string_booleans",
        "\"active\": \"False\" (a string) deactivates",
        &[Entra],
        "RFC 7643 §2.3.2 (Entra deviation)",
    );
    let r: Step = async {
        let a = need(&user_a, "the Entra user")?;
        x.patch(
            &format!("/Users/{a}"),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await?;
        let u = x.resource(&format!("/Users/{a}")).await?;
        ensure!(u["active"] == false, "active is {}", u["active"]);
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "entra.deactivated_still_found",
        "a deactivated user is returned by GET and by the userName filter",
        &[Entra, Okta],
        "RFC 7643 §4.1.1",
    );
    let r: Step = async {
        let a = need(&user_a, "the Entra user")?;
        x.patch(
            &format!("/Users/{a}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await?;
        let u = x.resource(&format!("/Users/{a}")).await?;
        ensure!(u["active"] == false, "active is {}", u["active"]);
        let r = x
            .filter("/Users", &format!("userName eq \"{a_name}\""))
            .await?;
        ensure!(
            resources(&r.body).iter().filter_map(id_of).any(|i| i == a),
            "the filter does not find it: {}",
            snippet(&r)
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "okta.deactivate_without_path",
        "PATCH replace {\"active\": false} without a path, then reactivate",
        &[Okta],
        "RFC 7644 §3.5.2.3",
    );
    let r: Step = async {
        let b = need(&user_b, "the Okta user")?;
        for want in [false, true] {
            x.patch(
                &format!("/Users/{b}"),
                json!([{"op": "replace", "value": {"active": want}}]),
            )
            .await?;
            let u = x.resource(&format!("/Users/{b}")).await?;
            ensure!(
                u["active"] == want,
                "active is {} after setting {want}",
                u["active"]
            );
        }
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "okta.put_whole_user",
        "PUT with the whole user, id, meta and groups [] included",
        &[Okta],
        "RFC 7644 §3.5.1",
    );
    let r: Step = async {
        let b = need(&user_b, "the Okta user")?;
        let mut u = x.resource(&format!("/Users/{b}")).await?;
        if let Some(o) = u.as_object_mut() {
            o.insert("displayName".into(), json!("Check B2"));
            o.insert("groups".into(), json!([]));
        }
        let r =
            x.c.send(
                Method::PUT,
                &format!("/Users/{b}"),
                &[],
                Some(&u),
                &[("content-type", "application/json")],
            )
            .await?;
        ensure!(r.status == 200, "{}", snippet(&r));
        let u = x.resource(&format!("/Users/{b}")).await?;
        ensure!(
            u["displayName"] == "Check B2",
            "displayName is {}",
            u["displayName"]
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    // --- Groups --------------------------------------------------------------------------
    let mut group_1: Option<String> = None;
    let d = def(
        "entra.group_extra_schema",
        "POST /Groups listing Microsoft's ADSCIM group schema too",
        &[Entra],
        "RFC 7643 §3",
    );
    let r: Step = async {
        let body = json!({"schemas": [GROUP, AD_GROUP], "displayName": format!("{}-g1", x.prefix), "externalId": format!("{}-g1", x.prefix), "members": []});
        let r = x.send(Method::POST, "/Groups", &[], Some(&body)).await?;
        if let Some(id) = id_of(&r.body) {
            x.track_group(&id);
            group_1 = Some(id);
        }
        ensure!(r.status == 201, "{}", snippet(&r));
        Ok(())
    }
    .await;
    x.record(&d, r);

    if group_1.is_none() {
        let body = json!({"schemas": [GROUP], "displayName": format!("{}-g1", x.prefix), "externalId": format!("{}-g1", x.prefix)});
        if let Ok(r) = x.send(Method::POST, "/Groups", &[], Some(&body)).await
            && let Some(id) = id_of(&r.body)
        {
            x.track_group(&id);
            group_1 = Some(id);
        }
    }

    let mut group_2: Option<String> = None;
    let d = def(
        "okta.group_push",
        "POST /Groups {displayName, members: []} as Okta's group push sends it",
        &[Okta],
        "RFC 7644 §3.3",
    );
    let r: Step = async {
        let body =
            json!({"schemas": [GROUP], "displayName": format!("{}-g2", x.prefix), "members": []});
        let r =
            x.c.send(
                Method::POST,
                "/Groups",
                &[],
                Some(&body),
                &[("content-type", "application/json")],
            )
            .await?;
        if let Some(id) = id_of(&r.body) {
            x.track_group(&id);
            group_2 = Some(id);
        }
        ensure!(r.status == 201, "{}", snippet(&r));
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "entra.add_members",
        "Add members [{\"$ref\": null, \"value\": id}]",
        &[Entra],
        "RFC 7644 §3.5.2.1",
    );
    let r: Step = async {
        let g = need(&group_1, "the Entra group")?;
        let a = need(&user_a, "the Entra user")?;
        let b = need(&user_b, "the Okta user")?;
        x.patch(&format!("/Groups/{g}"), json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": a}, {"$ref": null, "value": b}]}])).await?;
        let got = member_ids(&x.resource(&format!("/Groups/{g}")).await?);
        ensure!(got == [a, b].into(), "members are {got:?}");
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "entra.excluded_members",
        "GET a group with excludedAttributes=members leaves members out",
        &[Entra],
        "RFC 7644 §3.4.2.5",
    );
    let r: Step = async {
        let g = need(&group_1, "the Entra group")?;
        let r = x
            .send(
                Method::GET,
                &format!("/Groups/{g}"),
                &[("excludedAttributes", "members".into())],
                None,
            )
            .await?;
        ensure!(r.status == 200, "{}", snippet(&r));
        ensure!(r.body.get("members").is_none(), "members returned anyway");
        ensure!(r.body.get("displayName").is_some(), "displayName missing");
        let r = x
            .send(
                Method::GET,
                "/Groups",
                &[
                    ("filter", format!("displayName eq \"{}-g1\"", x.prefix)),
                    ("excludedAttributes", "members".into()),
                ],
                None,
            )
            .await?;
        ensure!(r.status == 200, "filtered list: {}", snippet(&r));
        let found = resources(&r.body);
        ensure!(
            found.len() == 1,
            "the displayName filter found {} groups",
            found.len()
        );
        ensure!(
            found[0].get("members").is_none(),
            "the filtered list returns members anyway"
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "entra.remove_members_by_value",
        "Remove path members with a value list removes only those members",
        &[Entra],
        "RFC 7644 §3.5.2.2",
    );
    let r: Step = async {
        let g = need(&group_1, "the Entra group")?;
        let a = need(&user_a, "the Entra user")?;
        let b = need(&user_b, "the Okta user")?;
        x.patch(
            &format!("/Groups/{g}"),
            json!([{"op": "Remove", "path": "members", "value": [{"value": a}]}]),
        )
        .await?;
        let got = member_ids(&x.resource(&format!("/Groups/{g}")).await?);
        ensure!(got == [b].into(), "members after removing one: {got:?}");
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "entra.remove_member_by_filter",
        "Remove path members[value eq \"id\"]",
        &[Entra, Okta, Rfc],
        "RFC 7644 §3.5.2.2",
    );
    let r: Step = async {
        let g = need(&group_1, "the Entra group")?;
        let b = need(&user_b, "the Okta user")?;
        let mut before = member_ids(&x.resource(&format!("/Groups/{g}")).await?);
        if !before.contains(&b) {
            x.patch(
                &format!("/Groups/{g}"),
                json!([{"op": "add", "path": "members", "value": [{"value": b}]}]),
            )
            .await?;
            before.insert(b.clone());
        }
        x.patch(
            &format!("/Groups/{g}"),
            json!([{"op": "remove", "path": format!("members[value eq \"{b}\"]")}]),
        )
        .await?;
        let got = member_ids(&x.resource(&format!("/Groups/{g}")).await?);
        before.remove(&b);
        ensure!(
            got == before,
            "members after removing one: {got:?}, expected {before:?}"
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "okta.membership_in_one_patch",
        "one PATCH removing a member by filter and adding another with display",
        &[Okta],
        "RFC 7644 §3.5.2",
    );
    let r: Step = async {
        let g = need(&group_2, "the Okta group")?;
        let a = need(&user_a, "the Entra user")?;
        let b = need(&user_b, "the Okta user")?;
        x.patch(&format!("/Groups/{g}"), json!([{"op": "add", "path": "members", "value": [{"value": a, "display": "Check A"}]}])).await?;
        x.patch(&format!("/Groups/{g}"), json!([
            {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
            {"op": "add", "path": "members", "value": [{"value": b, "display": "Check B"}]}
        ])).await?;
        let got = member_ids(&x.resource(&format!("/Groups/{g}")).await?);
        ensure!(got == [b].into(), "members: {got:?}");
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "okta.replace_members",
        "replace members [...] sets the whole list",
        &[Okta],
        "RFC 7644 §3.5.2.3",
    );
    let r: Step = async {
        let g = need(&group_2, "the Okta group")?;
        let a = need(&user_a, "the Entra user")?;
        x.patch(
            &format!("/Groups/{g}"),
            json!([{"op": "replace", "path": "members", "value": [{"value": a}]}]),
        )
        .await?;
        let got = member_ids(&x.resource(&format!("/Groups/{g}")).await?);
        ensure!(got == [a].into(), "members: {got:?}");
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "okta.rename_with_id_in_value",
        "replace {id: <same id>, displayName} renames without an error",
        &[Okta],
        "RFC 7644 §3.5.2.3",
    );
    let r: Step = async {
        let g = need(&group_2, "the Okta group")?;
        let name = format!("{}-g2-renamed", x.prefix);
        x.patch(
            &format!("/Groups/{g}"),
            json!([{"op": "replace", "value": {"id": g, "displayName": name}}]),
        )
        .await?;
        let got = x.resource(&format!("/Groups/{g}")).await?;
        ensure!(
            got["displayName"] == name.as_str(),
            "displayName is {}",
            got["displayName"]
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    // --- Lists ---------------------------------------------------------------------------
    let d = def(
        "entra.pagination_echo",
        "startIndex/count paging echoes startIndex; counters are integers",
        &[Entra, Okta, Rfc],
        "RFC 7644 §3.4.2.4",
    );
    let r: Step = async {
        let r = x
            .send(
                Method::GET,
                "/Users",
                &[("startIndex", "1".into()), ("count", "1".into())],
                None,
            )
            .await?;
        ensure!(r.status == 200, "{}", snippet(&r));
        ensure!(
            r.body["startIndex"] == 1,
            "startIndex is {}",
            r.body["startIndex"]
        );
        for k in ["totalResults", "itemsPerPage", "startIndex"] {
            ensure!(r.body[k].is_u64(), "`{k}` is not an integer: {}", r.body[k]);
        }
        ensure!(
            resources(&r.body).len() <= 1,
            "count=1 returned {} resources",
            resources(&r.body).len()
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "okta.stable_pages",
        "consecutive index pages do not repeat a user",
        &[Okta],
        "RFC 7644 §3.4.2.4",
    );
    let r: Step = async {
        let mut seen = BTreeSet::new();
        for start in 1..=3 {
            let r = x
                .send(
                    Method::GET,
                    "/Users",
                    &[("startIndex", start.to_string()), ("count", "1".into())],
                    None,
                )
                .await?;
            ensure!(r.status == 200, "{}", snippet(&r));
            for id in resources(&r.body).iter().filter_map(id_of) {
                ensure!(seen.insert(id.clone()), "user {id} appears on two pages");
            }
        }
        ensure!(
            seen.len() >= 2,
            "pages of one returned {} distinct users (at least 2 exist)",
            seen.len()
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "google.count_one",
        "GET /Users?count=1 (Google's probe)",
        &[Google],
        "RFC 7644 §3.4.2.4",
    );
    let r: Step = async {
        let r = x
            .send(Method::GET, "/Users", &[("count", "1".into())], None)
            .await?;
        ensure!(r.status == 200 && is_list(&r.body), "{}", snippet(&r));
        ensure!(
            resources(&r.body).len() <= 1,
            "{} resources",
            resources(&r.body).len()
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    // --- Errors --------------------------------------------------------------------------
    let d = def(
        "errors.not_found",
        "an unknown id is 404 with a SCIM Error (status as a string, detail)",
        &[Okta, Rfc],
        "RFC 7644 §3.12",
    );
    let r: Step = async {
        let r = x.get(&format!("/Users/{}-missing", x.prefix)).await?;
        scim_error(&r, 404)?;
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "errors.bad_credentials",
        "Authorization: non-token is 401 with a SCIM Error",
        &[Okta],
        "RFC 7644 §3.12",
    );
    let r: Step = async {
        let r = x
            .anon
            .send(
                Method::GET,
                "/Users",
                &[],
                None,
                &[("authorization", "non-token")],
            )
            .await?;
        scim_error(&r, 401)?;
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "errors.invalid_filter",
        "a malformed filter is 400 invalidFilter",
        &[Rfc],
        "RFC 7644 §3.4.2.2, §3.12",
    );
    let r: Step = async {
        let r = x.filter("/Users", "userName eq").await?;
        scim_error(&r, 400)?;
        ensure!(
            r.body["scimType"] == "invalidFilter",
            "scimType: {}",
            r.body["scimType"]
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "entra.scim_content_type",
        "answers are application/scim+json",
        &[Entra, Rfc],
        "RFC 7644 §3.1, §8.1",
    );
    let r: Step = async {
        let r = x
            .send(Method::GET, "/Users", &[("count", "1".into())], None)
            .await?;
        ensure!(
            r.content_type().starts_with("application/scim+json"),
            "Content-Type is {:?}",
            r.content_type()
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    let d = def(
        "jumpcloud.create_then_delete",
        "a user and a group created, deleted (204), then 404",
        &[JumpCloud, Rfc],
        "RFC 7644 §3.6",
    );
    let r: Step = async {
        let u = x
            .send(
                Method::POST,
                "/Users",
                &[],
                Some(&json!({"schemas": [USER], "userName": x.user_name("jc")})),
            )
            .await?;
        let uid =
            id_of(&u.body).ok_or_else(|| Why::Fail(format!("user create: {}", snippet(&u))))?;
        x.track_user(&uid);
        let g = x
            .send(
                Method::POST,
                "/Groups",
                &[],
                Some(&json!({"schemas": [GROUP], "displayName": format!("{}-jc", x.prefix)})),
            )
            .await?;
        let gid =
            id_of(&g.body).ok_or_else(|| Why::Fail(format!("group create: {}", snippet(&g))))?;
        x.track_group(&gid);
        for path in [format!("/Groups/{gid}"), format!("/Users/{uid}")] {
            let r = x.send(Method::DELETE, &path, &[], None).await?;
            ensure!(r.status == 204, "DELETE {path}: {}", snippet(&r));
            let r = x.get(&path).await?;
            scim_error(&r, 404).map_err(|e| Why::Fail(format!("GET after DELETE {path}: {e}")))?;
        }
        Ok(())
    }
    .await;
    x.record(&d, r);

    // --- Optional features, checked when advertised ---------------------------------------
    let features = spc.clone().unwrap_or_default();
    let mut d = def(
        "optional.bulk",
        "Bulk: a POST with a bulkId answers 201 per operation",
        &[Rfc],
        "RFC 7644 §3.7",
    );
    d.optional = true;
    let r: Step = async {
        if features.bulk.is_none() {
            return Err(Why::Skip("Bulk is not advertised".into()));
        }
        let ops = vec![json!({"method": "POST", "path": "/Users", "bulkId": "c1", "data": {"schemas": [USER], "userName": x.user_name("bulk")}})];
        let body = x.c.bulk(ops, None).await?;
        let op = &body["Operations"][0];
        let loc = op["location"].as_str().unwrap_or("");
        if let Some(id) = loc.trim_end_matches('/').rsplit('/').next().filter(|s| !s.is_empty()) {
            x.track_user(id);
        }
        let status = match &op["status"] {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        ensure!(status == "201", "operation status {status}: {}", op);
        ensure!(op["bulkId"] == "c1", "bulkId not echoed");
        Ok(())
    }
    .await;
    x.record(&d, r);

    let mut d = def(
        "optional.sort",
        "sortBy=userName&sortOrder=descending orders the list",
        &[Rfc],
        "RFC 7644 §3.4.2.3",
    );
    d.optional = true;
    let r: Step = async {
        if !features.sort {
            return Err(Why::Skip("sorting is not advertised".into()));
        }
        let r = x
            .send(
                Method::GET,
                "/Users",
                &[
                    ("sortBy", "userName".into()),
                    ("sortOrder", "descending".into()),
                    ("count", "100".into()),
                ],
                None,
            )
            .await?;
        ensure!(r.status == 200, "{}", snippet(&r));
        let names: Vec<String> = resources(&r.body)
            .iter()
            .filter_map(|u| u["userName"].as_str().map(str::to_lowercase))
            .collect();
        ensure!(names.len() >= 2, "only {} users listed", names.len());
        ensure!(
            names.windows(2).all(|w| w[0] >= w[1]),
            "not in descending order: {names:?}"
        );
        Ok(())
    }
    .await;
    x.record(&d, r);

    let mut d = def(
        "optional.cursor",
        "cursor pagination: an empty cursor starts, nextCursor continues",
        &[Rfc],
        "RFC 9865",
    );
    d.optional = true;
    let r: Step = async {
        if !features.cursor {
            return Err(Why::Skip("cursor pagination is not advertised".into()));
        }
        let r = x
            .send(
                Method::GET,
                "/Users",
                &[("cursor", String::new()), ("count", "1".into())],
                None,
            )
            .await?;
        ensure!(r.status == 200, "{}", snippet(&r));
        let next = r.body["nextCursor"].as_str().map(str::to_string);
        ensure!(
            next.is_some(),
            "no nextCursor on the first page of a list of several users"
        );
        let r2 = x
            .send(
                Method::GET,
                "/Users",
                &[("cursor", next.unwrap_or_default()), ("count", "1".into())],
                None,
            )
            .await?;
        ensure!(r2.status == 200, "{}", snippet(&r2));
        let (p1, p2): (Vec<String>, Vec<String>) = (
            resources(&r.body).iter().filter_map(id_of).collect(),
            resources(&r2.body).iter().filter_map(id_of).collect(),
        );
        ensure!(p1 != p2, "the second page repeats the first");
        Ok(())
    }
    .await;
    x.record(&d, r);

    let mut d = def(
        "optional.etag",
        "ETags: GET carries one, a stale If-Match is 412",
        &[Rfc],
        "RFC 7644 §3.14",
    );
    d.optional = true;
    let r: Step = async {
        if !features.etag {
            return Err(Why::Skip("ETags are not advertised".into()));
        }
        let b = need(&user_b, "the Okta user")?;
        let r = x.get(&format!("/Users/{b}")).await?;
        ensure!(r.header("etag").is_some(), "GET has no ETag header");
        let body = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "nickName", "value": "x"}]});
        let r = x.c.send(Method::PATCH, &format!("/Users/{b}"), &[], Some(&body), &[("if-match", "W/\"scimcheck-stale\"")]).await?;
        scim_error(&r, 412)?;
        Ok(())
    }
    .await;
    x.record(&d, r);
    spc
}
