//! TLS of `scim serve`: `--tls-cert` / `--tls-key` (PEM), HTTP/1.1 and HTTP/2, and the
//! certificate reloaded without a restart — on SIGHUP, and when either file changes (checked
//! every few seconds) — so that a renewal (certbot, cert-manager, a secret mounted into a
//! pod) takes effect on its own. Open connections keep the certificate they were made with;
//! new handshakes get the new one. A reload that fails (a half-written file, a key that
//! does not match) is logged and the certificate in use is kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use clap::Args;
use scim_server::rustls;
use scim_server::rustls::pki_types::pem::PemObject;
use scim_server::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use scim_server::rustls::server::{ClientHello, ResolvesServerCert};
use scim_server::rustls::sign::CertifiedKey;

/// How often the files are checked for changes.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// `scim serve`'s TLS flags.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    /// Reloaded on SIGHUP and when the file changes.
    #[arg(long, env = "SCIM_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SCIM_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
}

/// The certificate in use, swapped by reloads.
#[derive(Debug)]
struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|k| k.clone())
    }
}

/// Reads and checks a certificate chain and its key.
fn load(cert: &Path, key: &Path) -> Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("invalid PEM in {}", cert.display()))?;
    if chain.is_empty() {
        bail!(
            "{} holds no certificate (PEM `CERTIFICATE` blocks)",
            cert.display()
        );
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, key_der, &provider).with_context(|| {
        format!(
            "the key {} does not fit the certificate {}",
            key.display(),
            cert.display()
        )
    })?;
    Ok(certified)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Whether `scim serve` serves HTTPS.
pub fn enabled(args: &TlsArgs, file: &crate::config::FileConfig) -> bool {
    args.tls_cert.is_some() || file.tls_cert.is_some()
}

/// The acceptor for `scim serve`, or `None` without `--tls-cert`. Starts the reloads (a
/// task on the current runtime, ended when `closing` turns true).
pub fn acceptor(
    args: &TlsArgs,
    file: &crate::config::FileConfig,
    mut closing: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<scim_server::tokio_rustls::TlsAcceptor>> {
    let cert = args.tls_cert.clone().or_else(|| file.tls_cert.clone());
    let key = args.tls_key.clone().or_else(|| file.tls_key.clone());
    let (cert, key) = match (cert, key) {
        (Some(c), Some(k)) => (c, k),
        (None, None) => return Ok(None),
        _ => bail!("TLS needs both a certificate and its key (--tls-cert and --tls-key)"),
    };
    let resolver = Arc::new(Reloading {
        current: RwLock::new(Arc::new(load(&cert, &key)?)),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS configuration")?
    .with_no_client_auth()
    .with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut seen = (modified(&cert), modified(&key));
        let mut every = tokio::time::interval(WATCH_EVERY);
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<()>();
            let why = tokio::select! {
                () = hangup => "SIGHUP",
                _ = every.tick() => {
                    let now = (modified(&cert), modified(&key));
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    "the files changed"
                }
                _ = closing.changed() => return,
            };
            match load(&cert, &key) {
                Ok(k) => {
                    if let Ok(mut current) = resolver.current.write() {
                        *current = Arc::new(k);
                    }
                    tracing::info!(cert = %cert.display(), reason = why, "TLS certificate reloaded");
                }
                Err(e) => tracing::error!(
                    error = format!("{e:#}"),
                    reason = why,
                    "TLS certificate not reloaded; the one in use is kept"
                ),
            }
        }
    });
    Ok(Some(scim_server::tokio_rustls::TlsAcceptor::from(
        Arc::new(config),
    )))
}
