//! Messages from the operator's backend into a session: each recipient gets
//! one Programmable Messaging message from their own proxy (see
//! [`crate::domain::outbound_message`] for why not one Conversations
//! message). Every message is logged in the session's index (no body) and
//! told to the event receiver as `message.sent`.
//!
//! With the index, who is in the session and whether it takes messages are
//! two key reads of DynamoDB, so a message to one participant costs one
//! Twilio request. Without it (or for a session indexed before its
//! participants were), Twilio's conversation and participant list say.

use futures_util::future::{join, join_all};
use serde::Serialize;

use super::bind::IndexedAs;
use super::lookup::Summary;
use super::{SessionError, Sessions};
use crate::deferred::Job;
use crate::domain::added_message::AddedMessage;
use crate::domain::address::split_channel;
use crate::domain::capabilities::Capabilities;
use crate::domain::instant::{iso8601, unix_now};
use crate::domain::outbound_message::{OutboundMessage, Recipient, Unaddressable};
use crate::domain::roster::SessionRecord;
use crate::domain::session::InvalidField;
use crate::events::EventType;
use crate::index::{expiry, CallParty, Index, IndexedParticipant, MessageItem, ParticipantItem};
use crate::twilio::{Participant, TwilioError};

/// One recipient's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sent {
    pub participant: String,
    /// Twilio's message sid (`SM…`); `None` when Twilio refused this one.
    pub message_sid: Option<String>,
    /// Twilio's status (`queued`, ...), or why it was not sent.
    pub status: String,
}

/// Who a session can message and whether it may be messaged at all.
struct Audience {
    capabilities: Capabilities,
    recipients: Vec<Recipient>,
    expires_at: Option<u64>,
}

impl Sessions<'_> {
    /// Sends `message` in session `sid`: to its `to`, or to every
    /// participant, each from their own proxy, all at once.
    pub async fn send_message(
        &self,
        sid: &str,
        message: &OutboundMessage,
    ) -> Result<Vec<Sent>, SessionError> {
        let audience = self.audience(sid).await?;
        if !audience.capabilities.message {
            return Err(SessionError::NoMessaging);
        }
        let recipients = message
            .recipients(&audience.recipients)
            .map_err(|e| match e {
                Unaddressable::NotAParticipant => SessionError::NoSuchParticipant,
                Unaddressable::Nobody => SessionError::Invalid(InvalidField::new(
                    "to",
                    "the session has no participant who can receive texts",
                )),
                Unaddressable::TemplateNeedsWhatsapp { participant } => {
                    SessionError::Invalid(InvalidField::new(
                        "contentSid",
                        format!(
                            "templates go to WhatsApp participants only; {participant} is not one"
                        ),
                    ))
                }
            })?;
        let answers = join_all(
            recipients
                .iter()
                .map(|r| self.twilio.send_message(&r.proxy, &r.address, message)),
        )
        .await;
        if answers.iter().all(Result::is_err) {
            let first = answers.into_iter().find_map(Result::err);
            return Err(first.expect("at least one recipient").into());
        }
        let expires_at = expiry::of_session(audience.expires_at, unix_now());
        let mut sent = Vec::with_capacity(recipients.len());
        let mut logged = Vec::new();
        for (recipient, answer) in recipients.iter().zip(answers) {
            match answer {
                Ok(twilio) => {
                    let item = log_item(sid, recipient, message, &twilio.sid, expires_at);
                    self.emit(
                        EventType::MessageSent,
                        sid,
                        Some(&twilio.sid),
                        serde_json::json!({ "message": message_data(&item) }),
                    );
                    logged.push(item);
                    sent.push(Sent {
                        participant: recipient.participant.clone(),
                        message_sid: Some(twilio.sid),
                        status: twilio.status,
                    });
                }
                Err(err) => {
                    tracing::warn!(session = %sid, participant = %recipient.participant, error = %err, "Twilio refused a message to one participant");
                    sent.push(Sent {
                        participant: recipient.participant.clone(),
                        message_sid: None,
                        status: refusal(&err),
                    });
                }
            }
        }
        if self.index.is_some() && !logged.is_empty() {
            // After the answer: the log is derived, and a message is sent
            // whether or not it is logged.
            self.deferred.push(Job::LogMessages(sid.to_owned(), logged));
        }
        Ok(sent)
    }

    /// The session's capabilities and recipients: the index's session item
    /// and participants, or Twilio's conversation and participant list.
    async fn audience(&self, sid: &str) -> Result<Audience, SessionError> {
        if let Some(index) = &self.index {
            let (item, participants) = join(index.session(sid), index.participants(sid)).await;
            if let Some(item) = item? {
                let capabilities = serde_json::from_str::<Summary>(&item.summary)
                    .map(|s| s.capabilities)
                    .unwrap_or_default();
                let participants = participants?;
                let recipients = if covers(&item.bindings, &participants) {
                    participants.iter().map(recipient_of_item).collect()
                } else {
                    // Indexed (in part) before participants were: Twilio says.
                    recipients_of(&self.twilio.participants(sid).await?)
                };
                return Ok(Audience {
                    capabilities,
                    recipients,
                    expires_at: item.expires_at,
                });
            }
        }
        // Not indexed (closed, never ours, or no index): Twilio says.
        let (conversation, participants) =
            join(self.fetch_session(sid), self.twilio.participants(sid)).await;
        let conversation = conversation?;
        if !conversation.state.holds_bindings() {
            return Err(SessionError::Closed);
        }
        let capabilities = SessionRecord::read(&conversation.attributes)
            .map(|r| r.capabilities)
            .unwrap_or_default();
        Ok(Audience {
            capabilities,
            recipients: recipients_of(&participants?),
            expires_at: super::expires_at(&conversation),
        })
    }

    /// Records a participant by sid under their session, so messages find
    /// them without asking Twilio.
    pub(crate) async fn index_participant(
        &self,
        session: &IndexedAs,
        participant: &Participant,
    ) -> Result<(), SessionError> {
        let (Some(index), Some(binding)) = (&self.index, participant.messaging_binding.as_ref())
        else {
            return Ok(());
        };
        let (Some(address), Some(proxy)) = (&binding.address, &binding.proxy_address) else {
            return Ok(());
        };
        let item = ParticipantItem::new(
            &session.sid,
            &participant.sid,
            address,
            proxy,
            expiry::of_session(session.expires_at, unix_now()),
        );
        Ok(index.put_participant(&item).await?)
    }
}

/// Whether the participant items name everyone the session item lists: a
/// session indexed before participants were has none, or only those added
/// since.
fn covers(bindings: &[IndexedParticipant], participants: &[ParticipantItem]) -> bool {
    !participants.is_empty()
        && bindings.iter().all(|b| {
            participants
                .iter()
                .any(|p| p.address == b.address && p.proxy_address == b.proxy)
        })
}

fn recipient_of_item(item: &ParticipantItem) -> Recipient {
    Recipient {
        participant: item.participant.clone(),
        address: item.address.clone(),
        proxy: item.proxy_address.clone(),
        channel: split_channel(&item.address).0,
    }
}

/// The participants that can receive texts (chat participants cannot).
fn recipients_of(participants: &[Participant]) -> Vec<Recipient> {
    participants
        .iter()
        .filter_map(|p| {
            let binding = p.messaging_binding.as_ref()?;
            let address = binding.address.clone()?;
            Some(Recipient {
                participant: p.sid.clone(),
                channel: split_channel(&address).0,
                proxy: binding.proxy_address.clone()?,
                address,
            })
        })
        .collect()
}

fn log_item(
    sid: &str,
    recipient: &Recipient,
    message: &OutboundMessage,
    message_sid: &str,
    expires_at: u64,
) -> MessageItem {
    let sent = iso8601(unix_now());
    let key = MessageItem::key(sid, message_sid);
    MessageItem {
        pk: key.pk,
        sk: key.sk,
        created: MessageItem::created_key(&sent, message_sid),
        message_sid: message_sid.to_owned(),
        sent,
        from: None,
        to: vec![CallParty {
            participant: Some(recipient.participant.clone()),
            proxy: recipient.proxy.clone(),
        }],
        channel: recipient.channel.as_str().to_owned(),
        media: message.media_urls.len(),
        template: message.template.is_some(),
        origin: "api".to_owned(),
        expires_at,
    }
}

/// Logs sent messages under their session (only while it is indexed); a
/// failed write is logged, without the message.
pub async fn log_messages(index: &Index<'_>, sid: &str, items: &[MessageItem]) {
    for result in join_all(items.iter().map(|item| index.put_message(sid, item))).await {
        if let Err(err) = result {
            tracing::warn!(session = %sid, error = %err, "could not log a message");
        }
    }
}

/// What events say of a message: who, how, how much; never the body.
pub fn message_data(item: &MessageItem) -> serde_json::Value {
    serde_json::json!({
        "sid": item.message_sid,
        "from": item.from,
        "to": item.to,
        "channel": item.channel,
        "media": item.media,
        "template": item.template,
        "origin": item.origin,
        "sent": item.sent,
    })
}

/// A refusal as the answer states it: Twilio's code, never its text (which
/// may repeat the number).
fn refusal(err: &TwilioError) -> String {
    match err.code() {
        Some(code) => format!("failed: Twilio error {code}"),
        None => "failed".to_owned(),
    }
}

impl Sessions<'_> {
    /// A participant's message Twilio relayed (its `onMessageAdded`
    /// post-event): logged beside the calls and told as `message.added`,
    /// never with its body. Only for our sessions; a failed log write is
    /// logged, not answered (Twilio would only send the event again).
    pub async fn message_added(&self, sid: &str, added: &AddedMessage) {
        let participants = match &self.index {
            Some(index) => match join(index.session(sid), index.participants(sid)).await {
                (Ok(Some(item)), Ok(participants)) => Some((item, participants)),
                (Ok(None), _) => return, // not ours, or closed
                (Err(err), _) | (_, Err(err)) => {
                    tracing::warn!(session = %sid, error = %err, "could not read a session for an added message");
                    None
                }
            },
            None => None,
        };
        let party = |p: &ParticipantItem| CallParty {
            participant: Some(p.participant.clone()),
            proxy: p.proxy_address.clone(),
        };
        let (from, to, expires_at) = match &participants {
            Some((item, list)) => {
                let author = |p: &&ParticipantItem| {
                    added.participant.as_deref() == Some(p.participant.as_str())
                };
                (
                    list.iter().find(author).map(party).or_else(|| {
                        added.participant.clone().map(|participant| CallParty {
                            participant: Some(participant),
                            proxy: String::new(),
                        })
                    }),
                    list.iter().filter(|p| !author(p)).map(party).collect(),
                    item.expires_at,
                )
            }
            None => (
                added.participant.clone().map(|participant| CallParty {
                    participant: Some(participant),
                    proxy: String::new(),
                }),
                Vec::new(),
                None,
            ),
        };
        let sent = iso8601(unix_now());
        let key = MessageItem::key(sid, &added.message_sid);
        let item = MessageItem {
            pk: key.pk,
            sk: key.sk,
            created: MessageItem::created_key(&sent, &added.message_sid),
            message_sid: added.message_sid.clone(),
            sent,
            from,
            to,
            channel: added.channel.clone(),
            media: added.media,
            template: false,
            origin: "conversation".to_owned(),
            expires_at: expiry::of_session(expires_at, unix_now()),
        };
        self.emit(
            EventType::MessageAdded,
            sid,
            Some(&added.message_sid),
            serde_json::json!({ "message": message_data(&item) }),
        );
        if let (Some(index), Some(_)) = (&self.index, &participants) {
            if let Err(err) = index.put_message(sid, &item).await {
                tracing::warn!(session = %sid, error = %err, "could not log an added message");
            }
        }
    }
}
