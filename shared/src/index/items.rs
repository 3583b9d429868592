//! What the index stores, item by item, and how keys are spelled. Pure: the
//! DynamoDB calls are in the parent module.
//!
//! One table, two key attributes (`pk`, `sk`):
//!
//! | item | pk | sk |
//! |---|---|---|
//! | binding: an address holds a proxy in a session | `ADDR#{address}` | `PROXY#{proxy}#{sid}` |
//! | proxy history of an address (sticky choice) | `ADDR#{address}` | `USED#{proxy}` |
//! | session: what the list shows, which bindings it has | `SESSION#{sid}` | `SESSION` |
//! | a group call's fan-out, claimed once | `CALL#{call sid}` | `FANOUT` |
//! | a change of a session's roster in progress | `SESSION#{sid}` | `LOCK` |
//! | a call of the session (its call log) | `SESSION#{sid}` | `CALL#{call sid}` |
//! | an event not yet delivered | `OUTBOX` | `{created}#{event id}` |
//!
//! Bindings also carry `proxy` (the bare pool number: the `by-proxy` index
//! counts a number's sessions) and `created` (`{date}#{sid}`: the
//! `by-created` index lists an address's sessions newest first); calls carry
//! `created` too (`{start}#{call sid}`), for a session's calls newest first. The sid in
//! the binding's sort key means two sessions never write the same item, so
//! a race between creates needs no condition: Twilio's pair rule decides,
//! and the loser deletes its own item.

use serde::{Deserialize, Serialize};

use crate::domain::address::split_channel;

pub const SESSION_SK: &str = "SESSION";
pub const FANOUT_SK: &str = "FANOUT";
pub const LOCK_SK: &str = "LOCK";

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
pub const USED_PREFIX: &str = "USED#";

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

/// A proxy the address had, and when it last had it (sticky choice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedItem {
    pub pk: String,
    pub sk: String,
    /// Unix seconds.
    pub last_used: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

impl UsedItem {
    pub fn new(address: &str, proxy: &str, last_used: u64, expires_at: Option<u64>) -> Self {
        UsedItem {
            pk: address_pk(address),
            sk: format!("{USED_PREFIX}{proxy}"),
            last_used,
            expires_at,
        }
    }

    pub fn proxy(&self) -> Option<&str> {
        self.sk.strip_prefix(USED_PREFIX)
    }
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

    /// The history entry a binding wrote for its address and proxy.
    pub fn of_use(binding: &Binding) -> Self {
        ItemKey {
            pk: address_pk(&binding.address),
            sk: format!("{USED_PREFIX}{}", binding.proxy),
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
