//! Bearer tokens: random, shown once, stored as a SHA-256 hash, compared in constant time.
//!
//! Format: `scim_{id}_{secret}` where `id` (16 hex characters) locates the token's row and
//! `secret` (32 random bytes, base64url) is checked against the stored hash.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "scim_";

/// A freshly generated token: its public id, the full text to show once, and the hash.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: String,
    pub text: String,
    pub secret_hash: Vec<u8>,
}

/// Generates a token from the operating system's random source.
pub fn generate() -> NewToken {
    let mut rng = rand::rng();
    let mut id = [0u8; 8];
    rng.fill_bytes(&mut id);
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let id = hex::encode(id);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    NewToken {
        text: format!("{PREFIX}{id}_{secret}"),
        secret_hash: hash(&secret),
        id,
    }
}

/// SHA-256 of a token secret.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Splits a presented token into its id and secret; `None` if it is not of our format.
pub fn split(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(PREFIX)?;
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
