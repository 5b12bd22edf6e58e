//! `scim audit` through the real binary: changes made over SCIM by a running server, then
//! the auditor's questions as a table, JSON and CSV; bad instants are clear errors.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Client, GROUP_SCHEMA, Server, run, scim, tenant_and_token};

fn instant() -> String {
    std::thread::sleep(std::time::Duration::from_millis(3));
    let at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3));
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_answers_as_table_json_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("scim.db").display());
    let token = tenant_and_token(&url);
    let server = Server::start(&["--database-url", &url]);
    let c = Client::new(&token);
    let alice = c
        .create_user(&server.url, "alice@example.com")
        .await
        .expect(201)
        .id();
    let bob = c
        .create_user(&server.url, "bob,the \"builder\"")
        .await
        .expect(201)
        .id();
    let group = c
        .call(
            &server.url,
            Method::POST,
            "/Groups",
            Some(
                json!({"schemas": [GROUP_SCHEMA], "displayName": "Payroll-Admins",
                "members": [{"value": alice}, {"value": bob}]}),
            ),
            &[],
        )
        .await
        .expect(201)
        .id();
    let t1 = instant();
    c.patch(
        &server.url,
        &format!("/Groups/{group}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}]),
        None,
    )
    .await;
    c.patch(
        &server.url,
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
        None,
    )
    .await
    .expect(200);
    server.terminate();
    let t2 = instant();

    let base = ["--tenant", "acme", "--database-url", &url];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(base.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run_with = |args: &[&str]| -> String {
        let a = with(args);
        run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    // JSON: the members at t1 and at t2.
    let j: Value = serde_json::from_str(&run_with(&[
        "audit", "members", "--group", &group, "--at", &t1, "--format", "json",
    ]))
    .unwrap();
    let mut got: Vec<&str> = j["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    got.sort();
    let mut want = vec![alice.as_str(), bob.as_str()];
    want.sort();
    assert_eq!(got, want);
    // CSV: a header and one line per member, quoted where needed.
    let csv = run_with(&[
        "audit", "members", "--group", &group, "--at", &t2, "--format", "csv",
    ]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        ["value,type,direct,via", &format!("{alice},User,true,")]
    );
    let csv = run_with(&["audit", "active", "--at", &t1, "--format", "csv"]);
    assert!(csv.contains("\"bob,the \"\"builder\"\"\""), "{csv}");
    // Neither user had `active` set at t1: RFC 7643 does not make that `false`. CSV keeps
    // the header and leaves the field empty, JSON says null, the table never a blank.
    assert!(csv.starts_with("id,user_name,active\n"), "{csv}");
    assert!(
        csv.contains(&format!("{alice},alice@example.com,\n")),
        "{csv}"
    );
    let j: Value = serde_json::from_str(&run_with(&[
        "audit", "active", "--at", &t1, "--format", "json",
    ]))
    .unwrap();
    let users = j["users"].as_array().unwrap();
    assert_eq!(users.len(), 2, "{j}");
    for u in users {
        assert!(u.as_object().unwrap().contains_key("active"), "{j}");
        assert_eq!(u["active"], Value::Null, "{j}");
    }
    let table = run_with(&["audit", "active", "--at", &t1]);
    let alice_line = table.lines().find(|l| l.contains(&alice)).unwrap();
    assert!(alice_line.trim_end().ends_with("(unset)"), "{table}");
    let csv = run_with(&["audit", "active", "--at", &t2, "--format", "csv"]);
    assert!(!csv.contains("alice"), "alice was deactivated: {csv}");
    // Table: the history names the token and the change.
    let table = run_with(&["audit", "history", "--id", &alice]);
    assert!(table.contains("POSITION"), "{table}");
    assert!(table.contains("active: null -> false"), "{table}");
    assert!(table.contains("idp"), "the token's name: {table}");
    let diff: Value = serde_json::from_str(&run_with(&[
        "audit", "diff", "--from", &t1, "--to", &t2, "--format", "json",
    ]))
    .unwrap();
    assert_eq!(diff["diff"]["membersRemoved"][0]["value"], bob.as_str());
    assert_eq!(diff["diff"]["updated"][0]["id"], alice.as_str());

    // Bad input: a clear message, a failing exit status.
    for (args, says) in [
        (vec!["audit", "active", "--at", "yesterday"], "--at"),
        (
            vec!["audit", "active", "--at", "2001-01-01T00:00:00Z"],
            "did not exist",
        ),
        (vec!["audit", "members", "--group", "nope"], "did not exist"),
        (
            vec!["audit", "changes", "--operation", "upsert"],
            "--operation",
        ),
    ] {
        let out = scim().args(with(&args)).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
