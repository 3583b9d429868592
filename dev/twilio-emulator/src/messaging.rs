//! Texts arriving at our numbers (SMS, or WhatsApp when both addresses carry
//! `whatsapp:`), routed as Twilio routes them, and what follows.
//!
//! - When (From, To) is bound in a non-closed conversation, Conversations takes the text:
//!   a configured `onMessageAdd` pre-event decides first (2xx: go ahead, optionally with
//!   the `body`, `author` or `attributes` its JSON answer gives; 4xx/5xx: rejected,
//!   nothing published; no answer in time: published unchanged), then the message is
//!   added, delivered to every other non-chat participant (from their proxy address), and
//!   the `onMessageAdded` post-event is sent. A message wakes an inactive conversation.
//! - Otherwise the number's own messaging webhook (`SmsUrl`) gets Twilio's form, and each
//!   `<Message>` of the TwiML answer is sent back to the sender. Twilio's other routes
//!   (Conversations auto-creation, Messaging Services) are not emulated: with no `SmsUrl`
//!   the text is dropped.
//!
//! A transport failure of the pre-event (refused connection) counts like no answer: how
//! Twilio treats it is not documented.

use serde::Serialize;
use serde_json::Value;

use crate::{
    clock::iso8601,
    state::{new_sid, Channel},
    webhooks::WebhookOutcome,
};

/// A message in a conversation.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub sid: String,
    pub index: u64,
    pub author: String,
    pub body: String,
    pub participant_sid: Option<String>,
    pub attributes: String,
    /// How many non-chat participants it went to.
    pub recipients: usize,
    pub created: u64,
}

/// A message, as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageSnapshot {
    pub sid: String,
    pub index: u64,
    pub author: String,
    pub body: String,
    pub participant_sid: Option<String>,
}

impl From<&Message> for MessageSnapshot {
    fn from(m: &Message) -> Self {
        Self {
            sid: m.sid.clone(),
            index: m.index,
            author: m.author.clone(),
            body: m.body.clone(),
            participant_sid: m.participant_sid.clone(),
        }
    }
}

/// A text the emulator sent out on our behalf: a conversation message delivered to a
/// participant, or a `<Message>` our `SmsUrl` answered with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliverySnapshot {
    /// The participant's address (or the sender, for an `SmsUrl` reply).
    pub to: String,
    /// Their proxy address (or our number).
    pub from: String,
    pub body: String,
    /// Set for a conversation message.
    pub conversation_sid: Option<String>,
    pub message_sid: Option<String>,
}

/// What became of an inbound text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TextOutcome {
    /// Conversations added it (with the body the pre-event may have changed).
    Added {
        conversation_sid: String,
        message_sid: String,
        body: String,
        /// The pre-event's answer status, when one was sent and answered.
        pre_event_status: Option<u16>,
    },
    /// The `onMessageAdd` pre-event answered 4xx/5xx: nothing was published.
    Rejected {
        conversation_sid: String,
        status: u16,
    },
    /// No conversation took it; the number's `SmsUrl` got it and answered this.
    SentToSmsUrl {
        url: String,
        answer: Result<WebhookOutcome, String>,
        /// The `<Message>`s of the answer, sent back.
        replies: Vec<DeliverySnapshot>,
    },
    /// Nobody took it.
    Dropped { reason: String },
}

/// An inbound text and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboundTextSnapshot {
    pub from: String,
    pub to: String,
    pub body: String,
    pub outcome: TextOutcome,
}

/// `Source` as Conversations webhooks name a channel.
pub(crate) fn source(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "SMS",
        Channel::Whatsapp => "WhatsApp",
    }
}

/// What a conversation needs to know to add an inbound text.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub conversation_sid: String,
    pub messaging_service_sid: String,
    pub participant_sid: String,
    pub author: String,
    pub body: String,
    pub attributes: String,
    pub source: &'static str,
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The `onMessageAdd` pre-event form.
pub(crate) fn message_add_params(
    account_sid: &str,
    chat_service_sid: &str,
    incoming: &Incoming,
    now: u64,
) -> Vec<(String, String)> {
    pairs(&[
        ("EventType", "onMessageAdd"),
        ("AccountSid", account_sid),
        ("ChatServiceSid", chat_service_sid),
        ("ConversationSid", &incoming.conversation_sid),
        ("MessagingServiceSid", &incoming.messaging_service_sid),
        ("ParticipantSid", &incoming.participant_sid),
        ("Author", &incoming.author),
        ("Body", &incoming.body),
        ("Attributes", &incoming.attributes),
        ("Source", incoming.source),
        ("DateCreated", &iso8601(now)),
    ])
}

/// The `onMessageAdded` post-event form.
pub(crate) fn message_added_params(
    account_sid: &str,
    chat_service_sid: &str,
    incoming: &Incoming,
    message: &Message,
) -> Vec<(String, String)> {
    pairs(&[
        ("EventType", "onMessageAdded"),
        ("AccountSid", account_sid),
        ("ChatServiceSid", chat_service_sid),
        ("ConversationSid", &incoming.conversation_sid),
        ("MessagingServiceSid", &incoming.messaging_service_sid),
        ("MessageSid", &message.sid),
        ("Index", &message.index.to_string()),
        ("ParticipantSid", &incoming.participant_sid),
        ("Author", &message.author),
        ("Body", &message.body),
        ("Attributes", &message.attributes),
        ("Source", incoming.source),
        ("DateCreated", &iso8601(message.created)),
    ])
}

/// What a pre-event's answer decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PreEventDecision {
    /// Go ahead, with these fields changed where given.
    Proceed {
        body: Option<String>,
        author: Option<String>,
        attributes: Option<String>,
    },
    Reject(u16),
}

impl PreEventDecision {
    pub(crate) fn from_answer(answer: &Result<WebhookOutcome, String>) -> Self {
        let unchanged = Self::Proceed {
            body: None,
            author: None,
            attributes: None,
        };
        let Ok(outcome) = answer else {
            return unchanged;
        };
        if outcome.status >= 400 {
            return Self::Reject(outcome.status);
        }
        if !(200..300).contains(&outcome.status) {
            return unchanged;
        }
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&outcome.body) else {
            return unchanged;
        };
        let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
        // `attributes` may come as a JSON string or as the object itself.
        let attributes = match fields.get("attributes") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(v @ Value::Object(_)) => Some(v.to_string()),
            _ => None,
        };
        Self::Proceed {
            body: text("body"),
            author: text("author"),
            attributes,
        }
    }
}

/// Twilio's messaging webhook form for a text to a number's `SmsUrl`.
pub(crate) fn sms_params(
    account_sid: &str,
    message_sid: &str,
    from: &str,
    to: &str,
    body: &str,
    from_country: &str,
    to_country: &str,
) -> Vec<(String, String)> {
    pairs(&[
        ("AccountSid", account_sid),
        ("ApiVersion", "2010-04-01"),
        ("Body", body),
        ("From", from),
        ("FromCountry", from_country),
        ("MessageSid", message_sid),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsMessageSid", message_sid),
        ("SmsSid", message_sid),
        ("SmsStatus", "received"),
        ("To", to),
        ("ToCountry", to_country),
    ])
}

/// A new message sid (`IM...`).
pub(crate) fn new_message_sid() -> String {
    new_sid("IM")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Result<WebhookOutcome, String> {
        Ok(WebhookOutcome {
            status,
            content_type: Some("application/json".into()),
            body: body.into(),
        })
    }

    #[test]
    fn pre_event_answers_decide_like_twilio() {
        let unchanged = PreEventDecision::Proceed {
            body: None,
            author: None,
            attributes: None,
        };
        assert_eq!(PreEventDecision::from_answer(&answer(200, "")), unchanged);
        assert_eq!(PreEventDecision::from_answer(&answer(200, "{}")), unchanged);
        assert_eq!(
            PreEventDecision::from_answer(&answer(204, "not json")),
            unchanged
        );
        assert_eq!(
            PreEventDecision::from_answer(&answer(
                200,
                r#"{"body":"[redacted]","attributes":{"k":1}}"#
            )),
            PreEventDecision::Proceed {
                body: Some("[redacted]".into()),
                author: None,
                attributes: Some(r#"{"k":1}"#.into()),
            }
        );
        assert_eq!(
            PreEventDecision::from_answer(&answer(403, "")),
            PreEventDecision::Reject(403)
        );
        assert_eq!(
            PreEventDecision::from_answer(&answer(503, "{\"body\":\"x\"}")),
            PreEventDecision::Reject(503)
        );
        assert_eq!(
            PreEventDecision::from_answer(&Err("timed out".into())),
            unchanged
        );
    }
}
