//! `scim serve --tls-cert --tls-key`: HTTPS with certificates made by `rcgen` under a test
//! CA, checked by real clients (reqwest with the CA as its only trust anchor added, curl for
//! HTTP/2); the certificate replaced on SIGHUP and again by only rewriting the files, new
//! connections getting the new one while a connection opened before keeps working.

use std::path::Path;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::support::{Server, eventually};

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca() -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "scim test CA");
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// Writes a leaf certificate for 127.0.0.1 and localhost (named `name`) and its key;
/// returns the certificate's DER.
fn leaf(ca: &Ca, name: &str, cert: &Path, key: &Path) -> Vec<u8> {
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    let pair = KeyPair::generate().unwrap();
    let c = params.signed_by(&pair, &ca.issuer).unwrap();
    // Written beside and renamed, as certificate tools do: never a half-written file.
    let (cert_tmp, key_tmp) = (cert.with_extension("tmp"), key.with_extension("tmp"));
    std::fs::write(&key_tmp, pair.serialize_pem()).unwrap();
    std::fs::write(&cert_tmp, c.pem()).unwrap();
    std::fs::rename(&key_tmp, key).unwrap();
    std::fs::rename(&cert_tmp, cert).unwrap();
    c.der().to_vec()
}

fn client(ca: &Ca) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
        .tls_info(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The certificate the server presented for `/health` through `client`.
async fn served(client: &reqwest::Client, url: &str) -> Vec<u8> {
    let r = client.get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("a TLS connection")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_and_reloads_the_certificate_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ca = ca();
    let first = leaf(&ca, "first", &cert, &key);
    let data = dir.path().join("data");
    let server = Server::start(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let url = server.url.replacen("http://", "https://", 1);
    assert!(
        server.output.lock().unwrap().contains("https://127.0.0.1:"),
        "the printed base URL is https"
    );

    // Plain HTTP on the TLS port is refused; an HTTPS client trusting the CA is served.
    let plain = reqwest::Client::new()
        .get(format!("{}/health", server.url))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    let kept = client(&ca);
    assert_eq!(served(&kept, &url).await, first);

    // HTTP/2 through ALPN, with curl (a client of its own, OpenSSL).
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sS", "--http2", "--cacert", ca_file.to_str().unwrap()])
        .args(["-o", "/dev/null", "-w", "%{http_version} %{http_code}"])
        .arg(format!("{url}/health"))
        .output();
    match out {
        Ok(o) if o.status.success() => {
            assert_eq!(
                String::from_utf8_lossy(&o.stdout),
                "2 200",
                "HTTP/2 over TLS"
            );
        }
        Ok(o) => panic!("curl failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => eprintln!("NOTE: no curl: HTTP/2 not checked"),
    }

    // New files and a SIGHUP: new connections get the new certificate at once.
    let second = leaf(&ca, "second", &cert, &key);
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    eventually(
        "the certificate reloaded on SIGHUP",
        Duration::from_secs(10),
        || {
            let (c, url, second) = (client(&ca), url.clone(), second.clone());
            async move { served(&c, &url).await == second }
        },
    )
    .await;
    // The connection opened before the reload was not dropped: it carries on, with the
    // certificate it was made with.
    assert_eq!(served(&kept, &url).await, first);

    // Only the files change (a renewal by certbot or cert-manager): picked up on its own.
    let third = leaf(&ca, "third", &cert, &key);
    eventually(
        "the certificate reloaded after the files changed",
        Duration::from_secs(20),
        || {
            let (c, url, third) = (client(&ca), url.clone(), third.clone());
            async move { served(&c, &url).await == third }
        },
    )
    .await;

    // A broken file is not taken: the certificate in use stays.
    std::fs::write(&key, "not a key").unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    eventually("the failed reload logged", Duration::from_secs(10), || {
        let output = server.output.clone();
        async move {
            output
                .lock()
                .unwrap()
                .contains("TLS certificate not reloaded")
        }
    })
    .await;
    assert_eq!(served(&client(&ca), &url).await, third);
}

/// The settings from the config file: TLS, a metrics listener, and no per-tenant series
/// (`metrics_tenant_labels = 0` counts every tenant as `_all`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_metrics_settings_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ca = ca();
    let first = leaf(&ca, "first", &cert, &key);
    let config = dir.path().join("scim.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\ntls_cert = {:?}\ntls_key = {:?}\nmetrics_listen = \"127.0.0.1:0\"\nmetrics_tenant_labels = 0\n",
            dir.path().join("data"),
            cert,
            key
        ),
    )
    .unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap()]);
    let url = server.url.replacen("http://", "https://", 1);
    let out = server.output.lock().unwrap().clone();
    let token = crate::support::token_in(&out).expect("the first start prints a token");
    let metrics = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["fields"]["metrics_listen"].as_str().map(str::to_string))
        .expect("the metrics listener is logged");
    let c = client(&ca);
    assert_eq!(served(&c, &url).await, first);
    let r = c
        .get(format!("{url}/scim/v2/default/Users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let tenants: std::collections::HashSet<&str> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "scim_http_requests_total")
        .filter_map(|s| s.labels.get("tenant"))
        .collect();
    assert!(tenants.contains("_all"), "{text}");
    assert!(!tenants.contains("default"), "{text}");
}
