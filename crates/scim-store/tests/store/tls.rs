//! TLS to PostgreSQL: `sslmode` and `sslrootcert` in the database URL, against a throwaway
//! PostgreSQL cluster started by the test with a certificate from a test CA (rcgen) and a
//! `pg_hba.conf` that accepts TCP only over TLS. One cluster serves every case; it is
//! stopped when the test ends. Skipped with a notice where `initdb` or a `postgres` user
//! is missing, except under `CI=true`.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use scim_store::postgres::{PgOptions, PgStore};
use scim_store::{DeleteMode, Store};

use crate::support::registry;

/// A PostgreSQL cluster in a temporary directory, stopped on drop.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    socket: PathBuf,
    port: u16,
    /// Run the server's tools as this user (the test may run as root).
    run_as: Option<String>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn command(&self, tool: &str) -> Command {
        command(&self.bin, tool, self.run_as.as_deref())
    }

    /// An admin connection over the Unix socket (no TLS there).
    async fn admin(&self) -> tokio_postgres::Client {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(&self.socket)
            .port(self.port)
            .user("postgres")
            .dbname("postgres");
        let (client, conn) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn command(bin: &Path, tool: &str, run_as: Option<&str>) -> Command {
    match run_as {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(bin.join(tool));
            c
        }
        None => Command::new(bin.join(tool)),
    }
}

/// Why the cluster cannot be started here, or `None` when it can be tried.
fn find_initdb() -> Result<PathBuf, String> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no /usr/lib/postgresql: {e}"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    found.sort();
    found
        .pop()
        .ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin".to_string())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(mut c: Command, what: &str) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Certificates: a CA, a server certificate for localhost and 127.0.0.1 signed by it, and a
/// second CA that signed nothing. Returns (right CA file, wrong CA file).
fn certificates(dir: &Path, data: &Path) -> (PathBuf, PathBuf) {
    let ca = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), Issuer::new(params, key))
    };
    let (ca_pem, issuer) = ca("scim test CA");
    let (wrong_pem, _) = ca("some other CA");
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "scim test PostgreSQL");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(data.join("server.crt"), cert.pem()).unwrap();
    let key_file = data.join("server.key");
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (right, wrong) = (dir.join("ca.pem"), dir.join("wrong-ca.pem"));
    std::fs::write(&right, ca_pem).unwrap();
    std::fs::write(&wrong, wrong_pem).unwrap();
    (right, wrong)
}

/// Starts the cluster; `Err` when the machine has no PostgreSQL to start.
fn start() -> Result<(Cluster, PathBuf, PathBuf), String> {
    let bin = find_initdb()?;
    let run_as = if is_root() {
        let known = Command::new("id")
            .arg("postgres")
            .output()
            .is_ok_and(|o| o.status.success());
        if !known {
            return Err("running as root and there is no `postgres` user to run initdb".into());
        }
        Some("postgres".to_string())
    } else {
        None
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let socket = dir.path().join("socket");
    std::fs::create_dir(&socket).unwrap();
    if let Some(user) = &run_as {
        let mut c = Command::new("chown");
        c.args(["-R", user]).arg(dir.path());
        run(c, "chown")?;
    }
    let mut c = command(&bin, "initdb", run_as.as_deref());
    c.arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
    run(c, "initdb")?;
    let (right, wrong) = certificates(dir.path(), &data);
    if let Some(user) = &run_as {
        let mut c = Command::new("chown");
        c.args(["-R", user]).arg(dir.path());
        run(c, "chown")?;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
    )
    .unwrap();
    let conf = format!(
        "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
         ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nfsync = off\n",
        socket.display()
    );
    let mut postgresql_conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
    postgresql_conf.push_str(&conf);
    std::fs::write(data.join("postgresql.conf"), postgresql_conf).unwrap();
    let cluster = Cluster {
        bin,
        data,
        socket,
        port,
        run_as,
        _dir: dir,
    };
    let mut c = cluster.command("pg_ctl");
    c.arg("-D")
        .arg(&cluster.data)
        .arg("-l")
        .arg(cluster.data.join("server.log"))
        .args(["-w", "-t", "30", "start"]);
    if let Err(e) = run(c, "pg_ctl start") {
        let log = std::fs::read_to_string(cluster.data.join("server.log")).unwrap_or_default();
        panic!("{e}\n{log}");
    }
    Ok((cluster, right, wrong))
}

async fn connect(url: &str) -> Result<PgStore, scim_store::StoreError> {
    let options = PgOptions {
        connect_timeout: Duration::from_secs(10),
        ..PgOptions::default()
    };
    PgStore::connect(url, &registry(), &options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_in_the_url_is_honoured() {
    let (cluster, right_ca, wrong_ca) = match start() {
        Ok(started) => started,
        Err(reason) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "CI=true but no PostgreSQL cluster can be started: {reason}"
            );
            eprintln!("SKIPPED sslmode_in_the_url_is_honoured: {reason}");
            return;
        }
    };
    let port = cluster.port;
    let base = format!("postgres://postgres:hunter2@127.0.0.1:{port}/postgres");

    // verify-full with the CA that signed the server's certificate: the store works, and
    // every connection it opened is TLS.
    let url = format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        right_ca.display()
    );
    let store = connect(&url).await.unwrap();
    let tenant = store
        .create_tenant("over-tls", DeleteMode::Hard, 30)
        .await
        .unwrap();
    assert_eq!(
        store.tenant("over-tls").await.unwrap().map(|t| t.id),
        Some(tenant.id)
    );
    let admin = cluster.admin().await;
    let row = admin
        .query_one(
            "SELECT count(*), coalesce(bool_and(s.ssl), false) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'scim'",
            &[],
        )
        .await
        .unwrap();
    let (connections, all_tls): (i64, bool) = (row.get(0), row.get(1));
    assert!(connections > 0, "the store holds no connection");
    assert!(all_tls, "a store connection is not TLS");
    drop(store);

    // verify-ca with the right CA; require and prefer (encrypted, certificate unchecked).
    for query in [
        format!("sslmode=verify-ca&sslrootcert={}", right_ca.display()),
        "sslmode=require".to_string(),
        "sslmode=prefer".to_string(),
    ] {
        let store = connect(&format!("{base}?{query}")).await;
        assert!(store.is_ok(), "{query}: {:?}", store.err());
    }

    // verify-full with a CA that did not sign the certificate: refused, and the error says
    // why, names the settings, and does not show the password.
    let url = format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        wrong_ca.display()
    );
    let text = connect(&url)
        .await
        .err()
        .expect("a wrong CA is refused")
        .to_string();
    assert!(text.contains("sslmode=verify-full"), "{text}");
    assert!(text.contains("wrong-ca.pem"), "{text}");
    assert!(
        text.contains("certificate") || text.contains("UnknownIssuer"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");

    // The same CA file does not help verify-ca either: the chain is checked.
    let url = format!(
        "{base}?sslmode=verify-ca&sslrootcert={}",
        wrong_ca.display()
    );
    assert!(connect(&url).await.is_err(), "verify-ca with a wrong CA");

    // A missing root certificate file: a clear error before any connection.
    let url = format!("{base}?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
    let text = connect(&url).await.err().expect("missing file").to_string();
    assert!(text.contains("sslrootcert=/nonexistent/ca.pem"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");

    // Without TLS the server (hostssl only) refuses the connection.
    let text = connect(&format!("{base}?sslmode=disable"))
        .await
        .err()
        .expect("sslmode=disable is refused by a hostssl-only server")
        .to_string();
    assert!(text.contains("pg_hba.conf"), "{text}");
    assert!(text.contains("sslmode=disable"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");

    // A server without TLS (turned off and reloaded, TCP allowed in clear): `require`
    // refuses to talk to it in clear, `prefer` falls back to it.
    std::fs::write(
        cluster.data.join("pg_hba.conf"),
        "local all all trust\nhost all all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    for statement in ["ALTER SYSTEM SET ssl = off", "SELECT pg_reload_conf()"] {
        admin.batch_execute(statement).await.unwrap();
    }
    // The reload is asynchronous: wait until a new session (forked from the reloaded
    // postmaster) sees it.
    let mut reloaded = false;
    for _ in 0..100 {
        let fresh = cluster.admin().await;
        let ssl: String = fresh.query_one("SHOW ssl", &[]).await.unwrap().get(0);
        if ssl == "off" {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reloaded, "the server did not reload its configuration");
    let text = connect(&format!("{base}?sslmode=require"))
        .await
        .err()
        .expect("sslmode=require is refused by a server without TLS")
        .to_string();
    assert!(text.contains("TLS"), "{text}");
    assert!(text.contains("sslmode=require"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let store = connect(&format!("{base}?sslmode=prefer")).await;
    assert!(store.is_ok(), "prefer without TLS: {:?}", store.err());
}
