//! Bearer tokens: random, shown once, stored as a SHA-256 hash, compared in constant time.
//!
//! Format: `scim_{id}_{secret}` where `id` (16 hex characters) locates the token's row and
//! `secret` (32 random bytes, base64url) is checked against the stored hash.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "scim_";
/// Administration tokens (the management API) have a prefix of their own, so that neither
/// kind can be mistaken for the other, by the server or by a secret scanner.
pub const ADMIN_PREFIX: &str = "scimadm_";

/// A freshly generated token: its public id, the full text to show once, and the hash.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The token's public id.
    pub id: String,
    /// The whole bearer token, to show once.
    pub text: String,
    /// The SHA-256 of the secret, which is all that is stored.
    pub secret_hash: Vec<u8>,
}

/// Generates a tenant token from the operating system's random source.
pub fn generate() -> NewToken {
    generate_with(PREFIX)
}

/// Generates a token with this prefix (`scim_` or [`ADMIN_PREFIX`]).
pub fn generate_with(prefix: &str) -> NewToken {
    let mut rng = rand::rng();
    let mut id = [0u8; 8];
    rng.fill_bytes(&mut id);
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let id = hex::encode(id);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    NewToken {
        text: format!("{prefix}{id}_{secret}"),
        secret_hash: hash(&secret),
        id,
    }
}

/// SHA-256 of a token secret.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Splits a presented tenant token into its id and secret; `None` if it is not of our format.
pub fn split(text: &str) -> Option<(&str, &str)> {
    split_with(text, PREFIX)
}

/// Splits a presented token with this prefix into its id and secret.
pub fn split_with<'t>(text: &'t str, prefix: &str) -> Option<(&'t str, &'t str)> {
    let rest = text.strip_prefix(prefix)?;
    let (id, secret) = rest.split_once('_')?;
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) || secret.is_empty() {
        return None;
    }
    Some((id, secret))
}

/// Compares a presented secret with a stored hash in constant time.
pub fn verify(secret: &str, stored_hash: &[u8]) -> bool {
    hash(secret).ct_eq(stored_hash).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_and_tenant_tokens_do_not_pass_for_each_other() {
        let admin = generate_with(ADMIN_PREFIX);
        assert!(admin.text.starts_with("scimadm_"));
        assert!(split(&admin.text).is_none());
        assert!(split_with(&admin.text, ADMIN_PREFIX).is_some());
        let tenant = generate();
        assert!(split_with(&tenant.text, ADMIN_PREFIX).is_none());
    }

    #[test]
    fn generated_tokens_verify_and_differ() {
        let a = generate();
        let b = generate();
        assert_ne!(a.text, b.text);
        let (id, secret) = split(&a.text).unwrap();
        assert_eq!(id, a.id);
        assert!(verify(secret, &a.secret_hash));
        assert!(!verify(secret, &b.secret_hash));
        assert!(a.text.len() > 60);
    }

    #[test]
    fn malformed_tokens_do_not_split() {
        for t in [
            "",
            "scim_",
            "scim_abc_def",
            "bearer xyz",
            "scim_zzzzzzzzzzzzzzzz_x",
            "non-token",
        ] {
            assert!(split(t).is_none(), "{t}");
        }
    }
}
