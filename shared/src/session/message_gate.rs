//! What a text's pre-event needs to know of its conversation: whether the
//! session takes texts, and (for the intercept) who is in it on which
//! number. One read: the index's item when it has the session, else the
//! conversation from Twilio.

use super::lookup::Summary;
use super::{SessionError, Sessions};
use crate::domain::roster::{RosterEntry, SessionRecord};

/// A conversation a text is about to be added to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageGate {
    /// Not one of our sessions (another app's, or gone): left alone.
    NotOurs,
    /// Our session; `takes_messages` is false for a voice-only one.
    /// `roster` is `None` when the record has none (then Twilio's
    /// participant list says).
    Session {
        takes_messages: bool,
        roster: Option<Vec<RosterEntry>>,
    },
}

impl Sessions<'_> {
    /// The gate for a text to conversation `sid`.
    pub async fn message_gate(&self, sid: &str) -> Result<MessageGate, SessionError> {
        if let Some(index) = &self.index {
            if let Some(item) = index.session(sid).await? {
                if let Ok(summary) = serde_json::from_str::<Summary>(&item.summary) {
                    let roster = item
                        .bindings
                        .iter()
                        .map(|b| RosterEntry::new(&b.address, &b.proxy))
                        .collect();
                    return Ok(MessageGate::Session {
                        takes_messages: summary.capabilities.message,
                        roster: Some(roster),
                    });
                }
            }
        }
        let conversation = match self.twilio.fetch_conversation(sid).await {
            Ok(conversation) => conversation,
            Err(e) if e.is_not_found() => return Ok(MessageGate::NotOurs),
            Err(e) => return Err(e.into()),
        };
        Ok(match SessionRecord::read(&conversation.attributes) {
            None => MessageGate::NotOurs,
            Some(record) => MessageGate::Session {
                takes_messages: record.capabilities.message,
                roster: record.roster,
            },
        })
    }
}
