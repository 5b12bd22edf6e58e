//! Standard Webhooks signatures (<https://www.standardwebhooks.com>).
//!
//! A secret is `whsec_` followed by the base64 of 32 random bytes. A delivery carries
//! `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`: space-separated
//! `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" keyed by the secret's bytes>`, one
//! per secret in force (two during a rotation's overlap).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};

use crate::DeliveryError;

type HmacSha256 = hmac::Hmac<sha2_11::Sha256>;

/// The prefix of a secret's text.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new random secret (`whsec_` + base64 of 32 bytes).
pub fn generate_secret() -> String {
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The key bytes of a secret (`whsec_` + base64; the prefix is optional, as in the
/// reference libraries). Keys of 24 to 64 bytes are accepted.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, DeliveryError> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = STANDARD.decode(b64.trim()).map_err(|_| {
        DeliveryError::Invalid("a webhook secret is whsec_ followed by base64".into())
    })?;
    if !(24..=64).contains(&key.len()) {
        return Err(DeliveryError::Invalid(
            "a webhook secret's key must be 24 to 64 bytes".into(),
        ));
    }
    Ok(key)
}

/// One signature: `v1,<base64>`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header value: a signature per key, space-separated.
pub fn signature_header(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|k| sign(k, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether one of the header's `v1` signatures is valid for `key` (constant-time compare).
/// A receiver's check; the timestamp's freshness is the receiver's to judge.
pub fn verify(key: &[u8], id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return false;
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    header.split(' ').any(|sig| {
        sig.strip_prefix("v1,")
            .and_then(|b| STANDARD.decode(b).ok())
            .is_some_and(|bytes| mac.clone().verify_slice(&bytes).is_ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference test suite.
    #[test]
    fn matches_the_specification_example() {
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn generated_secrets_parse_and_verify() {
        let secret = generate_secret();
        assert!(secret.starts_with(SECRET_PREFIX));
        let key = secret_key(&secret).unwrap();
        assert_eq!(key.len(), 32);
        let other = secret_key(&generate_secret()).unwrap();
        let header = signature_header(&[key.clone(), other.clone()], "evt_1", 5, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(verify(&key, "evt_1", 5, b"{}", &header));
        assert!(verify(&other, "evt_1", 5, b"{}", &header));
        assert!(!verify(&key, "evt_1", 6, b"{}", &header));
        assert!(!verify(&key, "evt_2", 5, b"{}", &header));
        assert!(!verify(&key, "evt_1", 5, b"{ }", &header));
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert!(secret_key("whsec_not base64!").is_err());
        assert!(secret_key("whsec_c2hvcnQ=").is_err()); // 5 bytes
    }

    proptest::proptest! {
        #[test]
        fn secret_parsing_never_panics(s in ".{0,100}") {
            let _ = secret_key(&s);
        }

        #[test]
        fn any_key_signs_and_verifies(key in proptest::collection::vec(0u8.., 24..64), body in proptest::collection::vec(0u8.., 0..200), ts in 0i64..4_000_000_000) {
            let sig = sign(&key, "evt_x_1", ts, &body);
            proptest::prop_assert!(verify(&key, "evt_x_1", ts, &body, &sig));
            proptest::prop_assert!(!verify(&key, "evt_x_2", ts, &body, &sig));
        }
    }
}
