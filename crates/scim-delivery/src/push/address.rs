//! Which receivers a webhook may reach: addresses on private, loopback and link-local
//! networks are refused unless the operator allows them (`--allow-private-webhooks`), so
//! that a tenant's administrator cannot make the server probe its own network.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;

/// Whether an address is on a network a public webhook should never reach.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                // Shared address space (RFC 6598) and benchmarking (RFC 2544).
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (18..20).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
        }
    }
}

/// Checks a webhook URL: http or https, a host, no credentials; when `allow_private` is
/// false, no private address literal and no `localhost`. Names are checked again when they
/// are resolved, at every delivery (`PublicResolver`).
pub fn check_url(text: &str, allow_private: bool) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("'{text}' is not a URL: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "a webhook URL is http:// or https://, not {}:",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "a webhook URL must not carry credentials (the signature authenticates deliveries)"
                .into(),
        );
    }
    let Some(host) = url.host() else {
        return Err("a webhook URL needs a host".into());
    };
    if !allow_private {
        let private = match host {
            url::Host::Ipv4(ip) => is_private(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => is_private(IpAddr::V6(ip)),
            url::Host::Domain(d) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                d == "localhost" || d.ends_with(".localhost")
            }
        };
        if private {
            return Err(format!(
                "{} is a private, loopback or link-local address, refused unless the operator \
                 allows those: `scim serve --allow-private-webhooks` for the server and its \
                 management API, and `--allow-private` on `scim webhook add`",
                url.host_str().unwrap_or_default()
            ));
        }
    }
    Ok(url)
}

/// A DNS resolver that leaves out private addresses (the receiver's name must resolve to a
/// public one).
#[derive(Debug, Default)]
pub(crate) struct PublicResolver;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_private(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "{host} resolves to no public address (private addresses are not allowed)"
                )
                .into());
            }
            let it: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

pub(crate) fn resolver() -> Arc<PublicResolver> {
    Arc::new(PublicResolver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1/x",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:8080/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:9000/",
            "http://api.localhost/",
            "http://0.0.0.0/",
            "http://100.64.0.1/",
        ] {
            assert!(check_url(url, false).is_err(), "{url}");
            assert!(check_url(url, true).is_ok(), "{url}");
        }
        assert!(check_url("https://hooks.example.com/scim", false).is_ok());
        assert!(check_url("https://93.184.216.34/", false).is_ok());
    }

    #[test]
    fn malformed_urls_are_refused() {
        for url in [
            "",
            "hooks.example.com",
            "ftp://x/",
            "https://u:p@example.com/",
            "http://",
        ] {
            assert!(check_url(url, true).is_err(), "{url}");
        }
    }

    proptest::proptest! {
        #[test]
        fn url_checking_never_panics(s in ".{0,80}") {
            let _ = check_url(&s, false);
        }
    }
}
