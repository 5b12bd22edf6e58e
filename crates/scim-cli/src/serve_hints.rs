//! What `scim serve` checks and says at start for an operator: a valid log format, a
//! public URL that clients can use, and how to get a token when the first one is lost.

use std::net::SocketAddr;

use anyhow::{Result, bail};

/// The log format, checked: `text` or `json`.
pub fn log_format(given: Option<&str>) -> Result<&'static str> {
    match given.map(str::trim) {
        None | Some("text") => Ok("text"),
        Some("json") => Ok("json"),
        Some(other) => bail!(
            "--log-format (or SCIM_LOG_FORMAT, or log_format) must be 'text' or 'json', not '{other}'"
        ),
    }
}

/// The URL the server advertises when no public URL is configured, and a warning when
/// that URL is only a guess: listening on every interface (`0.0.0.0`, `[::]`) gives no
/// address a client can use, so the loopback address is advertised (it works on this
/// machine) and the operator is told to set `--public-url`.
pub fn default_public_url(local: SocketAddr) -> (String, Option<String>) {
    if !local.ip().is_unspecified() {
        return (format!("http://{local}"), None);
    }
    let url = if local.is_ipv4() {
        format!("http://127.0.0.1:{}", local.port())
    } else {
        format!("http://[::1]:{}", local.port())
    };
    let warning = format!(
        "listening on all interfaces ({local}) without --public-url: advertising {url} in \
         base URLs and meta.location, which works only on this machine. Start with \
         --public-url set to the URL identity providers reach (e.g. \
         --public-url https://scim.example.com)"
    );
    (url, Some(warning))
}

/// The lines printed on a start that is not the first (tenants exist, no token is
/// shown): how to get a token for a tenant whose first token was lost.
pub fn restart_hint(tenants: &[String], store_flags: &str) -> Vec<String> {
    let tenant = tenants.first().map_or("default", String::as_str);
    let mut lines = vec![format!(
        "  {} tenant(s): {}. Tokens are shown only when created; to get a new one:",
        tenants.len(),
        tenants
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
            + if tenants.len() > 5 { ", …" } else { "" }
    )];
    lines.push(format!(
        "    scim token create --tenant {tenant} --name <idp>{store_flags}"
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_formats() {
        assert_eq!(log_format(None).ok(), Some("text"));
        assert_eq!(log_format(Some("json")).ok(), Some("json"));
        assert!(log_format(Some("xml")).is_err());
    }

    #[test]
    fn unspecified_addresses_are_not_advertised() {
        let (url, warning) = default_public_url("0.0.0.0:8080".parse().unwrap());
        assert_eq!(url, "http://127.0.0.1:8080");
        assert!(warning.is_some());
        let (url, warning) = default_public_url("[::]:9000".parse().unwrap());
        assert_eq!(url, "http://[::1]:9000");
        assert!(warning.is_some());
        let (url, warning) = default_public_url("10.0.0.5:8080".parse().unwrap());
        assert_eq!(url, "http://10.0.0.5:8080");
        assert!(warning.is_none());
    }
}
