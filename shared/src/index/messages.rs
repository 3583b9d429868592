//! A session's participants by sid, and its message log beside the call log.
//!
//! Both are kept under the session (`SESSION#{sid}`), so closing it removes
//! them with everything else ([`Index::forget`]) and they expire with it.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | a participant: their sid, address and proxy | `SESSION#{sid}` | `PARTICIPANT#{participant sid}` |
//! | a message (no body) | `SESSION#{sid}` | `MESSAGE#{message sid}` |
//!
//! Participant items let a message to one participant cost one Twilio
//! request: the session's item and its participants are two key reads.
//! Messages carry `created` (`{sent}#{message sid}`), so the `by-created`
//! index lists them with the calls, newest first.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::items::{session_pk, CallItem, CallParty, ItemKey, CALL_PREFIX};
use super::{cursor_key, decode, encode_cursor, Index, IndexError, BY_CREATED};

pub const PARTICIPANT_PREFIX: &str = "PARTICIPANT#";
pub const MESSAGE_PREFIX: &str = "MESSAGE#";

/// A participant of a session, by their Twilio sid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantItem {
    pub pk: String,
    pub sk: String,
    pub participant: String,
    pub address: String,
    /// Not `proxy`: that name is the `by-proxy` index's key, which counts
    /// a pool number's sessions by their bindings.
    pub proxy_address: String,
    pub expires_at: u64,
}

impl ParticipantItem {
    pub fn new(
        session: &str,
        participant: &str,
        address: &str,
        proxy: &str,
        expires_at: u64,
    ) -> Self {
        ParticipantItem {
            pk: session_pk(session),
            sk: format!("{PARTICIPANT_PREFIX}{participant}"),
            participant: participant.to_owned(),
            address: address.to_owned(),
            proxy_address: proxy.to_owned(),
            expires_at,
        }
    }

    pub fn key(session: &str, participant: &str) -> ItemKey {
        ItemKey {
            pk: session_pk(session),
            sk: format!("{PARTICIPANT_PREFIX}{participant}"),
        }
    }
}

/// One message of a session: who sent it to whom (participant sids and
/// proxies), when, on which channel, how much media. Never its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageItem {
    pub pk: String,
    pub sk: String,
    pub created: String,
    pub message_sid: String,
    /// ISO-8601, UTC.
    pub sent: String,
    /// The participant who wrote it; `None` for the operator's backend.
    pub from: Option<CallParty>,
    pub to: Vec<CallParty>,
    /// `sms` or `whatsapp`.
    pub channel: String,
    pub media: usize,
    /// Whether it was a Content template.
    #[serde(default)]
    pub template: bool,
    /// `api` (sent through the session API) or `conversation` (a
    /// participant's text that Twilio relayed).
    pub origin: String,
    pub expires_at: u64,
}

impl MessageItem {
    pub fn key(session: &str, message_sid: &str) -> ItemKey {
        ItemKey {
            pk: session_pk(session),
            sk: format!("{MESSAGE_PREFIX}{message_sid}"),
        }
    }

    pub fn created_key(sent: &str, message_sid: &str) -> String {
        format!("{sent}#{message_sid}")
    }
}

/// A call or a message of the session's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged {
    Call(CallItem),
    Message(MessageItem),
}

impl Index<'_> {
    /// Records a participant of session `session` by sid.
    pub async fn put_participant(&self, item: &ParticipantItem) -> Result<(), IndexError> {
        self.put(item).await
    }

    /// The session's participants the index knows by sid (none for a
    /// session indexed before participants were), read consistently: a
    /// message right after a create must find them.
    pub async fn participants(&self, session: &str) -> Result<Vec<ParticipantItem>, IndexError> {
        self.count();
        let answer = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :participant)")
            .expression_attribute_values(":pk", AttributeValue::S(session_pk(session)))
            .expression_attribute_values(
                ":participant",
                AttributeValue::S(PARTICIPANT_PREFIX.to_owned()),
            )
            .consistent_read(true)
            .send()
            .await
            .map_err(IndexError::from_sdk)?;
        answer
            .items
            .unwrap_or_default()
            .into_iter()
            .map(decode)
            .collect()
    }

    /// Records a message in its session's log, if the session is still
    /// indexed: false (nothing written) once it closed.
    pub async fn put_message(&self, session: &str, item: &MessageItem) -> Result<bool, IndexError> {
        self.put_under_session(session, item).await
    }

    /// A session's calls and messages, newest first, `limit` at most, after
    /// `cursor`.
    pub async fn interactions(
        &self,
        session: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Logged>, Option<String>), IndexError> {
        self.count();
        let answer = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(BY_CREATED)
            .key_condition_expression("pk = :pk")
            .filter_expression("begins_with(sk, :call) OR begins_with(sk, :message)")
            .expression_attribute_values(":pk", AttributeValue::S(session_pk(session)))
            .expression_attribute_values(":call", AttributeValue::S(CALL_PREFIX.to_owned()))
            .expression_attribute_values(":message", AttributeValue::S(MESSAGE_PREFIX.to_owned()))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(cursor.map(cursor_key))
            .send()
            .await
            .map_err(IndexError::from_sdk)?;
        let logged = answer
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let is_message = item
                    .get("sk")
                    .and_then(|sk| sk.as_s().ok())
                    .is_some_and(|sk| sk.starts_with(MESSAGE_PREFIX));
                if is_message {
                    decode(item).map(Logged::Message)
                } else {
                    decode(item).map(Logged::Call)
                }
            })
            .collect::<Result<_, _>>()?;
        Ok((
            logged,
            answer.last_evaluated_key.map(|key| encode_cursor(&key)),
        ))
    }
}
