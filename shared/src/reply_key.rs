//! What the out-of-session reply throttle keeps of a sender and pool
//! number: an HMAC-SHA256 keyed with the stack's `reply-key`. A plain hash
//! of `from|to` is no privacy: with the pool number known, the sender's
//! number falls to a brute force over the numbering plan. Without the key,
//! the digest is worthless to whoever reads the table.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;

/// The shortest `reply-key` accepted: an HMAC key shorter than this can be
/// guessed (`make params` writes 32 random bytes, base64).
pub const MIN_REPLY_KEY_CHARS: usize = 32;

/// The stack's secret for reply-throttle keys.
#[derive(Debug, Clone)]
pub struct ReplyKey(Secret);

impl ReplyKey {
    pub fn new(secret: Secret) -> Self {
        ReplyKey(secret)
    }

    /// The throttle's name for `from` texting `to`: 128 bits of the HMAC,
    /// hex. Truncation keeps the key the size it was; 128 bits is more
    /// than enough against collisions and leaks nothing more.
    pub fn pair(&self, from: &str, to: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(from.as_bytes());
        mac.update(b"|");
        mac.update(to.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

#[cfg(test)]
mod tests {
    use sha2::Digest;

    use super::*;

    const FROM: &str = "+14155550199";
    const TO: &str = "+15005550001";

    fn key(text: &str) -> ReplyKey {
        ReplyKey::new(Secret::new(text))
    }

    #[test]
    fn the_pair_is_keyed_not_a_hash_of_the_numbers() {
        let a = key("first-reply-key-0123456789abcdef0123");
        let plain = hex::encode(Sha256::digest(format!("{FROM}|{TO}").as_bytes()));
        let pair = a.pair(FROM, TO);
        assert_eq!(pair.len(), 32);
        assert!(!plain.starts_with(&pair), "not a plain SHA-256");
        assert_eq!(pair, a.pair(FROM, TO), "the same pair, the same key");
        assert_ne!(
            pair,
            key("other-reply-key-0123456789abcdef0123").pair(FROM, TO)
        );
        assert_ne!(pair, a.pair(TO, FROM), "direction matters");
    }

    #[test]
    fn the_key_never_prints() {
        let a = key("first-reply-key-0123456789abcdef0123");
        assert!(!format!("{a:?}").contains("first-reply-key"));
    }
}
