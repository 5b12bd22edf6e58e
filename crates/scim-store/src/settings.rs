//! Per-tenant settings (request rate limits, JWT mode) and the token lifecycle's types:
//! what `scim tenant update`, `scim token create|rotate` and the management API change.

use serde::{Deserialize, Serialize};

/// What a bearer token may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TokenScope {
    /// SCIM reads only (`GET`, `/.search`): for an application or an auditor reading the
    /// directory. Writes get 403.
    Read,
    /// Everything an identity provider does.
    #[default]
    Write,
}

impl TokenScope {
    /// `write` or `read`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
        }
    }
    /// Reads `write` or `read`.
    pub fn parse(s: &str) -> Option<TokenScope> {
        match s {
            "read" => Some(TokenScope::Read),
            "write" => Some(TokenScope::Write),
            _ => None,
        }
    }
    /// Whether this scope allows writes.
    pub fn can_write(self) -> bool {
        self == TokenScope::Write
    }
}

/// A token to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// Recorded with every change the token makes (e.g. `okta`).
    pub name: String,
    /// An RFC 3339 time, which must be in the future.
    pub expires: Option<String>,
    /// What the token may do.
    pub scope: TokenScope,
}

/// The outcome of rotating a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The new token (same name and scope).
    pub new: crate::TokenInfo,
    /// The new token's text, shown once.
    pub text: String,
    /// The old token, which now expires at the end of the overlap window (or was revoked,
    /// for an overlap of zero).
    pub old: crate::TokenInfo,
}

/// A tenant's settings; `None` values mean the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantSettings {
    /// Requests per minute the tenant may send on average (a Bulk request counts its
    /// operations).
    pub rate_per_minute: Option<u32>,
    /// Requests the tenant may send at once above the average.
    pub rate_burst: Option<u32>,
    /// JWT bearer tokens accepted besides `scim_` tokens.
    pub jwt: Option<JwtSettings>,
}

/// JWT mode: bearer tokens signed by the tenant's identity provider or gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// The `iss` a token must carry.
    pub issuer: String,
    /// An `aud` a token must carry.
    pub audience: String,
    /// Where the signing keys are published as a JWKS document (fetched and cached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// Or: one PEM public key (RSA, EC P-256/P-384 or Ed25519).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_key: Option<String>,
    /// The claim that binds a token to this tenant (e.g. `scim_tenant`, `tid`)…
    pub tenant_claim: String,
    /// …and the value it must have (default: the tenant's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_value: Option<String>,
}

impl JwtSettings {
    /// Checks that the settings are usable: exactly one key source, http(s) JWKS URL.
    pub fn validate(&self) -> Result<(), String> {
        if self.issuer.trim().is_empty() || self.audience.trim().is_empty() {
            return Err("JWT mode needs an issuer and an audience".into());
        }
        if self.tenant_claim.trim().is_empty() {
            return Err("JWT mode needs the claim that names the tenant".into());
        }
        match (&self.jwks_url, &self.static_key) {
            (Some(url), None) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(format!("the JWKS URL '{url}' is not an http(s) URL"));
                }
                Ok(())
            }
            (None, Some(pem)) if pem.contains("-----BEGIN") => Ok(()),
            (None, Some(_)) => Err("the static key must be a PEM public key".into()),
            _ => Err("JWT mode needs exactly one of a JWKS URL and a static key".into()),
        }
    }
}

/// A change to a tenant: each `Some` is applied (for the optional settings, `Some(None)`
/// goes back to the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantUpdate {
    /// What DELETE does from now on.
    pub delete_mode: Option<crate::DeleteMode>,
    /// Days a soft-deleted resource stays restorable.
    pub retention_days: Option<i64>,
    /// Requests per minute on average.
    pub rate_per_minute: Option<Option<u32>>,
    /// Requests at once above the rate.
    pub rate_burst: Option<Option<u32>>,
    /// JWT mode.
    pub jwt: Option<Option<JwtSettings>>,
}
