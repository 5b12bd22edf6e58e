//! TLS to PostgreSQL: `sslmode` and `sslrootcert` in the database URL, as libpq reads them.
//!
//! `tokio-postgres` itself knows only `disable`, `prefer` and `require` and no root
//! certificate, so both parameters are taken out of the URL here and turned into a rustls
//! client (ring provider) for `tokio-postgres-rustls`:
//!
//! - `disable`: no TLS.
//! - `allow`, `prefer` (the default): TLS if the server offers it, certificate not checked.
//! - `require`: TLS or no connection; certificate not checked, unless `sslrootcert` is given
//!   (then as `verify-ca`, like libpq).
//! - `verify-ca`: TLS, the certificate chain checked against `sslrootcert` (a PEM file) or
//!   the system's roots.
//! - `verify-full`: as `verify-ca`, and the certificate must name the host connected to.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode as DriverSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

/// The `sslmode` values of libpq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, StoreError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(StoreError::Database(format!(
                    "invalid PostgreSQL URL: sslmode={other:?} is not one of disable, allow, \
                     prefer, require, verify-ca, verify-full"
                )));
            }
        })
    }
}

/// The TLS settings of a database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
}

impl TlsSettings {
    /// The driver's mode: whether TLS is attempted and whether it is required.
    pub fn driver_mode(&self) -> DriverSslMode {
        match self.mode {
            SslMode::Disable => DriverSslMode::Disable,
            SslMode::Prefer => DriverSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverSslMode::Require,
        }
    }

    /// The connector for these settings (root certificates read now, so a missing or bad
    /// file fails the start, not the first request).
    pub fn connector(&self) -> Result<MakeRustlsConnect, StoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Database(format!("cannot set up TLS to PostgreSQL: {e}")))?;
        let verify_name = match (self.mode, &self.root_cert) {
            (SslMode::Disable | SslMode::Prefer, _) | (SslMode::Require, None) => {
                let config = builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(NoCheck(provider)))
                    .with_no_client_auth();
                return Ok(MakeRustlsConnect::new(config));
            }
            (SslMode::VerifyFull, _) => true,
            (SslMode::Require | SslMode::VerifyCa, _) => false,
        };
        let roots = Arc::new(self.roots()?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| {
                StoreError::Database(format!(
                    "cannot set up TLS to PostgreSQL (sslmode={}): {e}",
                    self.mode_name()
                ))
            })?;
        let config = if verify_name {
            builder.with_webpki_verifier(webpki).with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                .with_no_client_auth()
        };
        Ok(MakeRustlsConnect::new(config))
    }

    /// A failure to connect, with the TLS settings it was made under (never the password).
    pub fn explain(&self, e: StoreError) -> StoreError {
        let settings = match &self.root_cert {
            Some(path) => format!(
                "sslmode={}, sslrootcert={}",
                self.mode_name(),
                path.display()
            ),
            None => format!("sslmode={}", self.mode_name()),
        };
        match e {
            StoreError::Unavailable(m) => StoreError::Unavailable(format!("{m} ({settings})")),
            other => other,
        }
    }

    fn mode_name(&self) -> &'static str {
        match self.mode {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// `sslrootcert`, or the system's roots.
    fn roots(&self) -> Result<RootCertStore, StoreError> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            Some(path) => {
                let shown = path.display();
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        StoreError::Database(format!(
                            "cannot read sslrootcert={shown} (sslmode={}): {e}",
                            self.mode_name()
                        ))
                    })?;
                if certs.is_empty() {
                    return Err(StoreError::Database(format!(
                        "sslrootcert={shown} holds no PEM certificate (sslmode={})",
                        self.mode_name()
                    )));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        StoreError::Database(format!(
                            "sslrootcert={shown} holds a bad certificate (sslmode={}): {e}",
                            self.mode_name()
                        ))
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(StoreError::Database(format!(
                        "sslmode={} without sslrootcert needs the system's root certificates, \
                         and none were found",
                        self.mode_name()
                    )));
                }
            }
        }
        Ok(roots)
    }
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL or a libpq key=value
/// string: the rest of it, and the TLS settings.
pub(crate) fn split_url(url: &str) -> Result<(String, TlsSettings), StoreError> {
    let mut mode = None;
    let mut root_cert = None;
    let mut take = |key: &str, value: String| -> Result<bool, StoreError> {
        match key {
            "sslmode" => mode = Some(SslMode::parse(&value)?),
            "sslrootcert" => root_cert = Some(PathBuf::from(value)),
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_string(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    if !take(&percent_decode(key), percent_decode(value))? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        let mut kept = Vec::new();
        for (key, value, raw) in key_values(url) {
            if !take(key, value)? {
                kept.push(raw);
            }
        }
        kept.join(" ")
    };
    let settings = TlsSettings {
        mode: mode.unwrap_or(SslMode::Prefer),
        root_cert,
    };
    Ok((rest, settings))
}

/// `%XX` decoding of a URL's query part (`+` kept, as the driver does).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The pairs of a libpq key=value string: key, unquoted value, and the pair as written.
fn key_values(s: &str) -> Vec<(&str, String, &str)> {
    let mut pairs = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let start = rest;
        let Some(eq) = rest.find('=') else {
            pairs.push(("", String::new(), rest.trim_end()));
            break;
        };
        let key = rest[..eq].trim();
        rest = rest[eq + 1..].trim_start();
        let mut value = String::new();
        let mut end = rest.len();
        if let Some(quoted) = rest.strip_prefix('\'') {
            let mut chars = quoted.char_indices();
            end = rest.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '\'' => {
                        end = i + 2;
                        break;
                    }
                    c => value.push(c),
                }
            }
        } else {
            for (i, c) in rest.char_indices() {
                if c.is_whitespace() {
                    end = i;
                    break;
                }
                value.push(c);
            }
        }
        let consumed = start.len() - rest.len() + end;
        pairs.push((key, value, &start[..consumed]));
        rest = rest[end..].trim_start();
    }
    pairs
}

/// `require` without a root certificate: encrypted, the server not authenticated (as
/// libpq). Handshake signatures are still checked.
#[derive(Debug)]
struct NoCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain checked against the roots, the host name not.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_ssl_parameters_out_of_a_url() {
        let (rest, s) = split_url(
            "postgres://u:p@h/db?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:p@h/db?application_name=x");
        assert_eq!(s.mode, SslMode::VerifyFull);
        assert_eq!(s.root_cert, Some(PathBuf::from("/etc/ca.pem")));

        let (rest, s) = split_url("postgres://u@h/db").unwrap();
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(s.mode, SslMode::Prefer);
        assert_eq!(s.root_cert, None);
    }

    #[test]
    fn takes_ssl_parameters_out_of_key_values() {
        let (rest, s) =
            split_url("host=h sslmode=verify-ca user=u sslrootcert='/a b/ca.pem' dbname=d")
                .unwrap();
        assert_eq!(rest, "host=h user=u dbname=d");
        assert_eq!(s.mode, SslMode::VerifyCa);
        assert_eq!(s.root_cert, Some(PathBuf::from("/a b/ca.pem")));
    }

    #[test]
    fn an_unknown_mode_is_a_clear_error() {
        let e = split_url("postgres://u:secret@h/db?sslmode=sometimes").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("sslmode"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn a_missing_root_certificate_is_a_clear_error() {
        let (_, s) =
            split_url("postgres://u:secret@h/db?sslmode=verify-full&sslrootcert=/nope.pem")
                .unwrap();
        let text = s
            .connector()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains("sslrootcert=/nope.pem"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }
}
