//! What the index stores, item by item, and how keys are spelled. Pure: the
//! DynamoDB calls are in the parent module.
//!
//! One table, two key attributes (`pk`, `sk`):
//!
//! | item | pk | sk |
//! |---|---|---|
//! | binding: an address holds a proxy in a session | `ADDR#{address}` | `PROXY#{proxy}#{sid}` |
//! | the sessions binding one (address, proxy) pair: a string set | `PAIR#{address}#{proxy}` | `SESSIONS` |
//! | what an address holds and had: two string sets | `ADDR#{address}` | `HOLDINGS` |
//! | session: what the list shows, which bindings it has | `SESSION#{sid}` | `SESSION` |
//! | a group call's fan-out, claimed once | `CALL#{call sid}` | `FANOUT` |
//! | a change of a session's roster in progress | `SESSION#{sid}` | `LOCK` |
//! | a call of the session (its call log) | `SESSION#{sid}` | `CALL#{call sid}` |
//! | an event not yet delivered | `OUTBOX` | `{created}#{event id}` |
//! | an out-of-session text reply, sent at most hourly | `REPLY#{digest of sender, number}` | `REPLY` |
//! | a recording not yet in its call's log (its callback came first, or a conference's, without `CallSid`) | `SESSION#{sid}` | `RECORDING#{recording sid}` |
//! | a recording Twilio has not yet confirmed deleted | `RECORDING-DELETE` | `{recording sid}` |
//! | a participant by sid ([`super::messages`]) | `SESSION#{sid}` | `PARTICIPANT#{participant sid}` |
//! | a message of the session, no body ([`super::messages`]) | `SESSION#{sid}` | `MESSAGE#{message sid}` |
//!
//! Every item carries `expires_at` (the table's TTL attribute): a session's
//! items a margin after its closed timer (see [`super::expiry`]).
//!
//! Bindings also carry `proxy` (the bare pool number: the `by-proxy` index
//! counts a number's sessions) and `created` (`{date}#{sid}`: the
//! `by-created` index lists an address's sessions newest first); calls carry
//! `created` too (`{start}#{call sid}`), for a session's calls newest first. The sid in
//! the binding's sort key means two sessions never write the same item, so
//! a race between creates needs no condition: Twilio's pair rule decides,
//! and the loser deletes its own item.
//!
//! Every read on a hot path is one item by its key, however many sessions an
//! address holds: a call reads its pair's item, whose `sids` set names the
//! session (one; two while the index is behind or a race is being settled);
//! a create reads the address's holdings item, whose `bound` set names the
//! proxies it holds in open sessions and whose `used` set the proxies it had
//! (`{proxy}@{date}`, for sticky choice). Sets change by DynamoDB's atomic
//! `ADD`/`DELETE`, so concurrent creates never overwrite each other.

use serde::{Deserialize, Serialize};

use crate::domain::address::split_channel;

pub const SESSION_SK: &str = "SESSION";
pub const FANOUT_SK: &str = "FANOUT";
pub const LOCK_SK: &str = "LOCK";
pub const REPLY_PREFIX: &str = "REPLY#";
pub const REPLY_SK: &str = "REPLY";

pub fn address_pk(address: &str) -> String {
    format!("ADDR#{address}")
}

pub fn session_pk(sid: &str) -> String {
    format!("SESSION#{sid}")
}

pub fn call_pk(call_sid: &str) -> String {
    format!("CALL#{call_sid}")
}

/// Every binding of `address` on `proxy` begins with this sort key.
pub fn bindings_on(proxy: &str) -> String {
    format!("PROXY#{proxy}#")
}

pub const BINDING_PREFIX: &str = "PROXY#";
pub const HOLDINGS_SK: &str = "HOLDINGS";
pub const PAIR_SK: &str = "SESSIONS";

/// The partition of one (address, proxy) pair: a call's lookup.
pub fn pair_pk(address: &str, proxy: &str) -> String {
    format!("PAIR#{address}#{proxy}")
}

/// A `used` entry: the address had `proxy` in a session created at
/// `created` (Twilio's ISO-8601 text, so entries sort by time as text).
pub fn history_entry(proxy: &str, created: &str) -> String {
    format!("{proxy}@{created}")
}

/// (proxy, created) of a `used` entry.
pub fn read_history_entry(entry: &str) -> Option<(&str, &str)> {
    entry.rsplit_once('@')
}

/// An address bound to a proxy in a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingItem {
    pub pk: String,
    pub sk: String,
    pub sid: String,
    /// The pool number, without a `whatsapp:` prefix.
    pub proxy: String,
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

impl BindingItem {
    pub fn new(binding: &Binding, created: &str, expires_at: Option<u64>) -> Self {
        BindingItem {
            pk: address_pk(&binding.address),
            sk: format!("{}{}", bindings_on(&binding.proxy), binding.sid),
            sid: binding.sid.clone(),
            proxy: split_channel(&binding.proxy).1.to_owned(),
            created: format!("{created}#{}", binding.sid),
            expires_at,
        }
    }

    /// The binding this item records, if its keys are ours.
    pub fn binding(&self) -> Option<Binding> {
        let address = self.pk.strip_prefix("ADDR#")?;
        let rest = self.sk.strip_prefix(BINDING_PREFIX)?;
        let proxy = rest.strip_suffix(&format!("#{}", self.sid))?;
        Some(Binding {
            address: address.to_owned(),
            proxy: proxy.to_owned(),
            sid: self.sid.clone(),
        })
    }
}

/// An address's holdings item as a whole (the session service changes it
/// set element by set element; this writes one outright, for seeding).
pub fn holdings_item(
    address: &str,
    bound: Vec<String>,
    used: Vec<String>,
    expires_at: u64,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut item = std::collections::HashMap::from([
        ("pk".to_owned(), AttributeValue::S(address_pk(address))),
        ("sk".to_owned(), AttributeValue::S(HOLDINGS_SK.to_owned())),
        (
            "expires_at".to_owned(),
            AttributeValue::N(expires_at.to_string()),
        ),
    ]);
    // DynamoDB refuses empty sets: an empty one is left out.
    for (name, values) in [("bound", bound), ("used", used)] {
        if !values.is_empty() {
            item.insert(name.to_owned(), AttributeValue::Ss(values));
        }
    }
    item
}

/// A pair's item as a whole, naming the sessions that bind it (for
/// seeding; the session service adds and removes sids one at a time).
pub fn pair_item(
    address: &str,
    proxy: &str,
    sids: Vec<String>,
    expires_at: Option<u64>,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut item = std::collections::HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pair_pk(address, proxy))),
        ("sk".to_owned(), AttributeValue::S(PAIR_SK.to_owned())),
        ("sids".to_owned(), AttributeValue::Ss(sids)),
    ]);
    if let Some(at) = expires_at {
        item.insert("expires_at".to_owned(), AttributeValue::N(at.to_string()));
    }
    item
}

/// One binding, as the session service speaks of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Binding {
    pub address: String,
    pub proxy: String,
    pub sid: String,
}

/// A session as the index keeps it: its bindings (to remove them with it)
/// and the summary the list answers with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionItem {
    pub pk: String,
    pub sk: String,
    pub sid: String,
    /// When Twilio created it. (Not `created`: that name is the
    /// `by-created` index's key, which lists bindings and calls.)
    pub date_created: String,
    pub bindings: Vec<IndexedParticipant>,
    /// JSON text: the session as `GET /sessions?address=` lists it.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedParticipant {
    pub address: String,
    pub proxy: String,
}

impl SessionItem {
    pub fn new(
        sid: &str,
        created: &str,
        bindings: Vec<IndexedParticipant>,
        summary: String,
        expires_at: Option<u64>,
    ) -> Self {
        SessionItem {
            pk: session_pk(sid),
            sk: SESSION_SK.to_owned(),
            sid: sid.to_owned(),
            date_created: created.to_owned(),
            bindings,
            summary,
            expires_at,
        }
    }
}

pub const CALL_PREFIX: &str = "CALL#";
pub const OUTBOX_PK: &str = "OUTBOX";
pub const PENDING_RECORDING_PREFIX: &str = "RECORDING#";
pub const RECORDING_DELETE_PK: &str = "RECORDING-DELETE";

/// A recording whose call is not (yet) in the log: kept under its session,
/// so it is found and deleted with the session whatever happens to the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRecording {
    pub pk: String,
    pub sk: String,
    pub recording_sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conference_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    pub expires_at: u64,
}

impl PendingRecording {
    pub fn new(
        session: &str,
        recording_sid: &str,
        call_sid: Option<&str>,
        conference_sid: Option<&str>,
        recording_url: Option<&str>,
        expires_at: u64,
    ) -> Self {
        PendingRecording {
            pk: session_pk(session),
            sk: format!("{PENDING_RECORDING_PREFIX}{recording_sid}"),
            recording_sid: recording_sid.to_owned(),
            call_sid: call_sid.map(str::to_owned),
            conference_sid: conference_sid.map(str::to_owned),
            recording_url: recording_url.map(str::to_owned),
            expires_at,
        }
    }
}

/// A recording to delete from Twilio, kept until Twilio confirms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingDelete {
    pub pk: String,
    pub sk: String,
    pub expires_at: u64,
}

impl RecordingDelete {
    pub fn new(recording_sid: &str, expires_at: u64) -> Self {
        RecordingDelete {
            pk: RECORDING_DELETE_PK.to_owned(),
            sk: recording_sid.to_owned(),
            expires_at,
        }
    }

    pub fn recording_sid(&self) -> &str {
        &self.sk
    }
}

/// One call of a session: who called whom (participant sids and proxies),
/// when, how it ended, and its recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallItem {
    pub pk: String,
    pub sk: String,
    pub created: String,
    pub call_sid: String,
    /// ISO-8601, UTC.
    pub started: String,
    pub from: CallParty,
    pub to: Vec<CallParty>,
    /// `dial` (one other participant) or `conference`.
    pub kind: String,
    /// Twilio's `DialCallStatus` once it ended; `in-progress` before.
    pub status: String,
    /// Whether the call is recorded (its session said so when it began).
    #[serde(default)]
    pub recorded: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// A participant in a call, as a call log names them: never their number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallParty {
    /// The participant's sid (`MB…`), when Twilio still had them.
    pub participant: Option<String>,
    pub proxy: String,
}

impl CallItem {
    pub fn key(session: &str, call_sid: &str) -> ItemKey {
        ItemKey {
            pk: session_pk(session),
            sk: format!("{CALL_PREFIX}{call_sid}"),
        }
    }

    pub fn created_key(started: &str, call_sid: &str) -> String {
        format!("{started}#{call_sid}")
    }
}

/// An event waiting to be delivered again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub pk: String,
    pub sk: String,
    /// The event, as JSON text.
    pub event: String,
    pub expires_at: u64,
}

/// The key of an item: what deletes and reads name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ItemKey {
    pub pk: String,
    pub sk: String,
}

impl ItemKey {
    pub fn of_binding(binding: &Binding) -> Self {
        ItemKey {
            pk: address_pk(&binding.address),
            sk: format!("{}{}", bindings_on(&binding.proxy), binding.sid),
        }
    }

    pub fn of_pair(address: &str, proxy: &str) -> Self {
        ItemKey {
            pk: pair_pk(address, proxy),
            sk: PAIR_SK.to_owned(),
        }
    }

    pub fn of_holdings(address: &str) -> Self {
        ItemKey {
            pk: address_pk(address),
            sk: HOLDINGS_SK.to_owned(),
        }
    }

    pub fn of_session(sid: &str) -> Self {
        ItemKey {
            pk: session_pk(sid),
            sk: SESSION_SK.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_round_trips_through_its_keys() {
        let binding = Binding {
            address: "whatsapp:+447700900123".into(),
            proxy: "whatsapp:+15005550001".into(),
            sid: "CH0123456789abcdef0123456789abcdef".into(),
        };
        let item = BindingItem::new(&binding, "2026-12-02T10:00:00Z", Some(7));
        assert_eq!(item.pk, "ADDR#whatsapp:+447700900123");
        assert_eq!(
            item.sk,
            "PROXY#whatsapp:+15005550001#CH0123456789abcdef0123456789abcdef"
        );
        assert_eq!(
            item.proxy, "+15005550001",
            "the pool number counts both channels"
        );
        assert!(item.created.starts_with("2026-12-02T10:00:00Z#CH"));
        assert_eq!(item.binding(), Some(binding.clone()));
        assert_eq!(
            ItemKey::of_binding(&binding),
            ItemKey {
                pk: item.pk.clone(),
                sk: item.sk.clone()
            }
        );
        assert!(item.sk.starts_with(&bindings_on(&binding.proxy)));
        assert!(
            !item.sk.starts_with(&bindings_on("whatsapp:+1500555000")),
            "no prefix match across numbers"
        );
    }

    #[test]
    fn history_entries_read_back_and_sort_by_time() {
        let entry = history_entry("whatsapp:+15005550001", "2026-12-02T10:00:00Z");
        assert_eq!(
            read_history_entry(&entry),
            Some(("whatsapp:+15005550001", "2026-12-02T10:00:00Z"))
        );
        assert!(
            history_entry("+1", "2026-01-02T00:00:00Z")
                > history_entry("+1", "2025-12-31T23:59:59Z")
        );
        let pair = pair_item("+14155550101", "+15005550001", vec!["CH1".into()], None);
        let key = ItemKey::of_pair("+14155550101", "+15005550001");
        assert_eq!(pair["pk"].as_s().unwrap(), &key.pk);
        assert_eq!(pair["sk"].as_s().unwrap(), &key.sk);
        assert_eq!(key.pk, "PAIR#+14155550101#+15005550001");
        assert!(!pair.contains_key("expires_at"));
    }

    #[test]
    fn items_serialise_to_dynamodb_attributes() {
        let item = BindingItem::new(
            &Binding {
                address: "+14155550101".into(),
                proxy: "+15005550001".into(),
                sid: "CH1".into(),
            },
            "2026-12-02T10:00:00Z",
            None,
        );
        let attributes: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
            serde_dynamo::to_item(&item).unwrap();
        assert!(
            !attributes.contains_key("expires_at"),
            "no TTL without a closed timer"
        );
        let back: BindingItem = serde_dynamo::from_item(attributes).unwrap();
        assert_eq!(back, item);
    }
}
