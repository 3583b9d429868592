//! Page cursors: a page's last key as an opaque string, and the check that
//! a client's cursor is one this index issued for the same list.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;

use super::items::{address_pk, session_pk};

/// A page's end as an opaque cursor: its key attributes (all strings), as
/// URL-safe base64 of JSON.
pub(super) fn encode_cursor(key: &HashMap<String, AttributeValue>) -> String {
    let plain: std::collections::BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.as_s().ok()?.as_str())))
        .collect();
    let json = serde_json::to_vec(&plain).expect("strings serialise");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

pub(super) fn cursor_key(cursor: &str) -> HashMap<String, AttributeValue> {
    let plain: HashMap<String, String> = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .unwrap_or_default();
    plain
        .into_iter()
        .map(|(name, value)| (name, AttributeValue::S(value)))
        .collect()
}

/// Whether `cursor` is one this index issued for `address`'s list: the
/// session API checks before passing a client's cursor on.
pub fn cursor_belongs_to(cursor: &str, address: &str) -> bool {
    cursor_of(cursor, &address_pk(address))
}

/// The same for a session's call log.
pub fn cursor_belongs_to_session(cursor: &str, sid: &str) -> bool {
    cursor_of(cursor, &session_pk(sid))
}

pub(super) fn cursor_of(cursor: &str, pk: &str) -> bool {
    let key = cursor_key(cursor);
    key.get("pk")
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        == Some(pk)
        && ["sk", "created"]
            .iter()
            .all(|name| key.get(*name).is_some_and(|v| v.as_s().is_ok()))
        && key.len() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_stay_with_their_address() {
        let key = HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S(address_pk("+14155550101")),
            ),
            (
                "sk".to_owned(),
                AttributeValue::S("PROXY#+15005550001#CH1".to_owned()),
            ),
            (
                "created".to_owned(),
                AttributeValue::S("2026-12-02T10:00:00Z#CH1".to_owned()),
            ),
        ]);
        let cursor = encode_cursor(&key);
        assert_eq!(cursor_key(&cursor), key);
        assert!(cursor_belongs_to(&cursor, "+14155550101"));
        assert!(!cursor_belongs_to(&cursor, "+14155550102"));
        for foreign in ["", "!!", "e30", "bzQw"] {
            assert!(!cursor_belongs_to(foreign, "+14155550101"), "{foreign}");
        }
    }
}
