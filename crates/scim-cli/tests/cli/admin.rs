//! The admin commands and settings on PostgreSQL, and `scim store copy`.

use reqwest::Method;
use serde_json::json;

use crate::support::{
    Client, GROUP_SCHEMA, Server, run, scim, tenant_and_token, test_database, token_in,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_work_on_postgres_from_flag_env_and_config_file() {
    let Some(db) =
        test_database("admin_commands_work_on_postgres_from_flag_env_and_config_file").await
    else {
        return;
    };
    let out = run(&["migrate", "--database-url", &db.url]);
    assert!(out.contains("is up to date"), "{out}");
    assert!(out.contains(&db.name), "{out}");
    // The URL from the environment.
    let env_run = |args: &[&str]| {
        let out = scim()
            .args(args)
            .env("SCIM_DATABASE_URL", &db.url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    env_run(&["tenant", "create", "from-env", "--delete-mode", "soft"]);
    // The URL from the config file.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("scim.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{}\"\ndatabase_max_connections = 2\n",
            db.url
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    run(&["tenant", "create", "from-file", "--config", config]);
    let list = run(&["tenant", "list", "--config", config]);
    assert!(
        list.contains("from-env") && list.contains("from-file"),
        "{list}"
    );
    assert!(list.contains("soft"), "{list}");
    let created = env_run(&["token", "create", "--tenant", "from-file", "--name", "okta"]);
    let token_id = created
        .lines()
        .find_map(|l| l.strip_prefix("token id: "))
        .unwrap()
        .to_string();
    let tokens = run(&["token", "list", "--tenant", "from-file", "--config", config]);
    assert!(
        tokens.contains(&token_id) && tokens.contains("okta"),
        "{tokens}"
    );
    run(&[
        "token",
        "revoke",
        "--tenant",
        "from-file",
        &token_id,
        "--database-url",
        &db.url,
    ]);
    assert!(
        run(&["token", "list", "--tenant", "from-file", "--config", config]).contains("20"),
        "revoked time shown"
    );
    run(&[
        "tenant",
        "delete",
        "from-env",
        "--yes",
        "--database-url",
        &db.url,
    ]);
    let list = run(&["tenant", "list", "--database-url", &db.url]);
    assert!(
        !list.contains("from-env") && list.contains("from-file"),
        "{list}"
    );
    // An unreachable database is a clear error, not a hang.
    let out = scim()
        .args([
            "tenant",
            "list",
            "--database-url",
            "postgres://postgres@127.0.0.1:1/none",
            "--database-connect-timeout",
            "2",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_starting_on_a_new_database_bootstrap_one_tenant() {
    let Some(db) =
        test_database("two_servers_starting_on_a_new_database_bootstrap_one_tenant").await
    else {
        return;
    };
    let args = ["--database-url", db.url.as_str()];
    let mut servers = Server::start_together(2, &args);
    let (b, a) = (servers.pop().unwrap(), servers.pop().unwrap());
    let outputs = [
        a.output.lock().unwrap().clone(),
        b.output.lock().unwrap().clone(),
    ];
    let tokens: Vec<String> = outputs.iter().filter_map(|o| token_in(o)).collect();
    assert_eq!(
        tokens.len(),
        1,
        "exactly one server prints the bootstrap token: {outputs:?}"
    );
    let list = run(&["tenant", "list", "--database-url", &db.url]);
    assert_eq!(
        list.lines().filter(|l| l.starts_with("default ")).count(),
        1,
        "{list}"
    );
    // The token works on both.
    for s in [&a, &b] {
        let url = format!("{}/scim/v2/default/Users", s.url);
        let resp = reqwest::Client::new()
            .get(url)
            .bearer_auth(&tokens[0])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_copy_moves_a_deployment_to_postgres_and_back() {
    let Some(db) = test_database("store_copy_moves_a_deployment_to_postgres_and_back").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("old/scim.db").display());
    // A deployment on SQLite, with data put in over HTTP.
    let token = tenant_and_token(&sqlite);
    let client = Client::new(&token);
    let (user, group) = {
        let server = Server::start(&["--database-url", &sqlite]);
        let user = client
            .create_user(&server.url, "carried.over")
            .await
            .expect(201)
            .id();
        let group = client
            .call(&server.url, Method::POST, "/Groups", Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"value": user}]})), &[])
            .await
            .expect(201)
            .id();
        let user = client
            .get(&server.url, &format!("/Users/{user}"))
            .await
            .expect(200);
        let group = client
            .get(&server.url, &format!("/Groups/{group}"))
            .await
            .expect(200);
        (user, group)
    };
    let out = run(&["store", "copy", "--from", &sqlite, "--to", &db.url]);
    assert!(out.contains("copy complete"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["resources", "2", "2"]),
        "{out}"
    );
    // Running it again is harmless.
    let again = run(&["store", "copy", "--from", &sqlite, "--to", &db.url]);
    assert!(again.contains("copy complete"), "{again}");
    // The same token, ids, versions and memberships, now served from PostgreSQL.
    {
        let server = Server::start(&["--database-url", &db.url]);
        let read = client
            .get(&server.url, &format!("/Users/{}", user.id()))
            .await
            .expect(200);
        assert_eq!(portable(read.body), portable(user.body.clone()));
        let g = client
            .get(&server.url, &format!("/Groups/{}", group.id()))
            .await
            .expect(200);
        assert_eq!(portable(g.body), portable(group.body.clone()));
        client
            .create_user(&server.url, "new.on.postgres")
            .await
            .expect(201);
        client
            .create_user(&server.url, "CARRIED.OVER")
            .await
            .expect(409);
    }
    // And back to a new SQLite file.
    let back = format!("sqlite://{}", dir.path().join("back.db").display());
    let out = run(&["store", "copy", "--from", &db.url, "--to", &back]);
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["resources", "3", "3"]),
        "{out}"
    );
    let server = Server::start(&["--database-url", &back]);
    assert_eq!(client.count(&server.url, "Users", "userName pr").await, 2);
    // A source that does not exist is refused.
    let missing = format!("sqlite://{}", dir.path().join("missing.db").display());
    let out = scim()
        .args(["store", "copy", "--from", &missing, "--to", &back])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// A resource without the parts that name the server it was read from.
fn portable(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(meta) = v.get_mut("meta").and_then(|m| m.as_object_mut()) {
        meta.remove("location");
    }
    for attr in ["members", "groups"] {
        if let Some(items) = v.get_mut(attr).and_then(|m| m.as_array_mut()) {
            for item in items.iter_mut().filter_map(|m| m.as_object_mut()) {
                item.remove("$ref");
            }
        }
    }
    v
}
