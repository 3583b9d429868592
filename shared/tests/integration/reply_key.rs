//! The out-of-session reply throttle's index items: keyed with the stack's
//! `reply-key` (an HMAC), never a plain hash of sender and pool number,
//! which a brute force over the numbering plan would undo.

use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};

use crate::out_of_session::{message_sid, messages, text};
use crate::support::*;

const STRANGER: &str = "+14155550199";
const OTHER_KEY: &str = "another-stacks-reply-key-0123456789abcdef";

/// The `REPLY#` keys in the harness's table.
async fn reply_keys(h: &Harness) -> Vec<String> {
    scan(h)
        .await
        .iter()
        .filter_map(|item| match item.get("pk") {
            Some(AttributeValue::S(pk)) if pk.starts_with("REPLY#") => Some(pk.clone()),
            _ => None,
        })
        .collect()
}

/// Texts twice from the stranger; answers the replies each text got.
async fn text_twice(h: &Harness) -> (usize, usize) {
    let first = text(h, STRANGER, POOL[0], "hello?", &message_sid(1)).await;
    let again = text(h, STRANGER, POOL[0], "hello??", &message_sid(2)).await;
    (messages(&first).len(), messages(&again).len())
}

#[tokio::test]
async fn the_reply_throttle_stores_a_keyed_digest_that_differs_per_stack() {
    let (h, _index) = Harness::with_index(&POOL, &[]).await;
    assert_eq!(text_twice(&h).await, (1, 0), "one reply within the hour");
    let keys = reply_keys(&h).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let stored = keys[0].trim_start_matches("REPLY#");
    let plain = hex::encode(Sha256::digest(format!("{STRANGER}|{}", POOL[0]).as_bytes()));
    assert!(
        !stored.is_empty() && !plain.starts_with(stored) && !stored.contains(&plain),
        "not a plain SHA-256 of the numbers: {stored}"
    );
    assert!(!stored.contains(&STRANGER[1..]), "no number: {stored}");

    let (other, _index) = Harness::with_index(&POOL, &[("reply-key", OTHER_KEY)]).await;
    assert_eq!(text_twice(&other).await, (1, 0));
    let other_keys = reply_keys(&other).await;
    assert_eq!(other_keys.len(), 1, "{other_keys:?}");
    assert_ne!(other_keys[0], keys[0], "another key, another digest");
}

#[tokio::test]
async fn without_a_reply_key_nothing_is_stored_and_the_environment_still_throttles() {
    let (h, index) = Harness::with_index(&POOL, &[("reply-key", "")]).await;
    assert!(h.state.config.current().await.unwrap().reply_key.is_none());
    index.clear();
    assert_eq!(text_twice(&h).await, (1, 0), "one reply within the hour");
    assert!(
        reply_keys(&h).await.is_empty(),
        "no throttle item without the key"
    );
    assert!(
        !index.operations().iter().any(|op| op == "PutItem"),
        "{:?}",
        index.operations()
    );
}

#[test]
fn a_short_reply_key_is_refused_naming_the_key_not_the_value() {
    let raw = masked_comms::config::RawConfig::from_ssm(
        [
            ("twilio/account-sid", "AC0123456789abcdef0123456789abcdef"),
            ("twilio/auth-token", "token"),
            ("reply-key", "short-reply-key"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    );
    let err = raw
        .parse_for(masked_comms::config::Function::InboundCall)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("reply-key") && err.contains("32 characters"),
        "{err}"
    );
    assert!(!err.contains("short-reply-key"), "never the value: {err}");
}
