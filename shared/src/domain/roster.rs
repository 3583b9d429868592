//! What masked-comms keeps in a conversation's `attributes`, under one key,
//! beside the user's own attributes: who is bound to which proxy (so a call
//! needs one Twilio request) and which request created the conversation (so a
//! retried create can recognise its own conversation).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::address::{split_channel, Channel};
use super::capabilities::Capabilities;

/// The attributes key masked-comms owns.
pub const NAMESPACE: &str = "masked_comms";
const VERSION: u32 = 1;

/// One participant as the roster records them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    pub address: String,
    pub proxy: String,
    pub channel: Channel,
}

impl RosterEntry {
    pub fn new(address: &str, proxy: &str) -> Self {
        RosterEntry {
            address: address.to_owned(),
            proxy: proxy.to_owned(),
            channel: split_channel(address).0,
        }
    }
}

/// Our part of the attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub v: u32,
    /// Identifies the create request: a nonce, or the fingerprint of an
    /// idempotent request.
    pub request: String,
    /// When the create began (unix seconds), so that a retry with the same
    /// idempotency key can tell a create still running from an abandoned one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster: Option<Vec<RosterEntry>>,
    /// How the participants may reach each other (both unless limited).
    #[serde(default, skip_serializing_if = "Capabilities::is_default")]
    pub capabilities: Capabilities,
    /// Whether calls are recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub record: bool,
}

impl SessionRecord {
    pub fn new(request: impl Into<String>, roster: Option<Vec<RosterEntry>>) -> Self {
        SessionRecord {
            v: VERSION,
            request: request.into(),
            started: None,
            roster,
            capabilities: Capabilities::default(),
            record: false,
        }
    }

    pub fn with_options(mut self, capabilities: Capabilities, record: bool) -> Self {
        self.capabilities = capabilities;
        self.record = record;
        self
    }

    pub fn started_at(mut self, unix_seconds: u64) -> Self {
        self.started = Some(unix_seconds);
        self
    }

    /// The same record with another roster.
    pub fn with_roster(&self, roster: Vec<RosterEntry>) -> Self {
        SessionRecord {
            roster: Some(roster),
            ..self.clone()
        }
    }

    /// The user's attributes with our record under [`NAMESPACE`], as the JSON
    /// text Twilio stores.
    pub fn merged_into(&self, user: &Map<String, Value>) -> String {
        let mut all = user.clone();
        all.insert(
            NAMESPACE.to_owned(),
            serde_json::to_value(self).expect("a record always serialises"),
        );
        Value::Object(all).to_string()
    }

    /// Reads our record back from Twilio's attributes text. Anything
    /// unreadable counts as absent: the caller then falls back to Twilio.
    pub fn read(attributes: &str) -> Option<SessionRecord> {
        let mut all: Map<String, Value> = serde_json::from_str(attributes).ok()?;
        let record: SessionRecord = serde_json::from_value(all.remove(NAMESPACE)?).ok()?;
        (record.v == VERSION).then_some(record)
    }
}

/// The user's attributes without our record.
pub fn user_attributes(attributes: &str) -> Map<String, Value> {
    let mut all: Map<String, Value> = serde_json::from_str(attributes).unwrap_or_default();
    all.remove(NAMESPACE);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn record_round_trips_beside_user_attributes() {
        let user = json!({"order": 42, "tags": ["a"]});
        let record = SessionRecord::new(
            "nonce-1",
            Some(vec![
                RosterEntry::new("+14155550101", "+15005550001"),
                RosterEntry::new("whatsapp:+447700900123", "whatsapp:+15005550001"),
            ]),
        );
        let text = record.merged_into(user.as_object().unwrap());

        assert_eq!(SessionRecord::read(&text), Some(record));
        assert_eq!(Value::Object(user_attributes(&text)), user);
        let roster = SessionRecord::read(&text).unwrap().roster.unwrap();
        assert_eq!(roster[1].channel, Channel::Whatsapp);
    }

    #[test]
    fn unreadable_or_foreign_attributes_have_no_record() {
        for text in [
            "",
            "not json",
            "[]",
            "{}",
            r#"{"masked_comms": 3}"#,
            r#"{"masked_comms": {"v": 99, "request": "x"}}"#,
        ] {
            assert_eq!(SessionRecord::read(text), None, "{text}");
        }
    }
}
