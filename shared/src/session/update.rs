//! Changing a live session (`PATCH /sessions/{sid}`): its name, the
//! caller's attributes, timers, capabilities, recording, or closing it, in
//! one Twilio update after one read.

use futures_util::future::{join, try_join_all};

use super::bind::IndexedAs;
use super::create::date_created;
use super::{expires_at, Session, SessionError, Sessions};
use crate::domain::roster::{user_attributes, SessionRecord};
use crate::domain::session::SessionUpdate;
use crate::events::EventType;
use crate::index::Binding;
use crate::twilio::{ConversationParams, ConversationState};

impl Sessions<'_> {
    /// Applies `update` and answers with the session as it now is.
    pub async fn update(&self, sid: &str, update: SessionUpdate) -> Result<Session, SessionError> {
        if update.record == Some(true) {
            self.recording_allowed()?;
        }
        let (conversation, participants) =
            join(self.fetch_session(sid), self.twilio.participants(sid)).await;
        let conversation = conversation?;
        let participants = participants?;
        if !conversation.state.holds_bindings() {
            return Err(SessionError::Closed);
        }
        let current = user_attributes(&conversation.attributes);
        let attributes = update.attributes(&current)?;
        let mut record =
            SessionRecord::read(&conversation.attributes).ok_or(SessionError::NotFound)?;
        if let Some(capabilities) = update.capabilities {
            record.capabilities = capabilities;
        }
        if let Some(record_calls) = update.record {
            record.record = record_calls;
        }
        let attributes = record.merged_into(attributes.as_ref().unwrap_or(&current));
        self.lock(sid).await?;
        let outcome = async {
            let params = ConversationParams {
                friendly_name: update.friendly_name.as_deref(),
                attributes: Some(&attributes),
                timers_inactive: update.timers.inactive.as_ref().map(|t| t.as_str()),
                timers_closed: update.timers.closed.as_ref().map(|t| t.as_str()),
                state: update.close.then_some(ConversationState::Closed),
                ..Default::default()
            };
            let updated = self.twilio.update_conversation(sid, &params).await?;
            let roster = record.roster.clone().unwrap_or_default();
            if update.close {
                let bindings: Vec<Binding> = roster
                    .iter()
                    .map(|e| Binding {
                        address: e.address.clone(),
                        proxy: e.proxy.clone(),
                        sid: sid.to_owned(),
                    })
                    .collect();
                self.forget(sid, &bindings).await?;
            } else {
                let indexed = IndexedAs {
                    sid: sid.to_owned(),
                    created: date_created(&updated),
                    expires_at: expires_at(&updated),
                };
                // New timers move the index's expiry with them.
                let retimed = async {
                    match (&self.index, update.timers.closed.is_some()) {
                        (Some(index), true) => {
                            let indexed = &indexed;
                            try_join_all(roster.iter().map(|entry| {
                                let binding = Binding {
                                    address: entry.address.clone(),
                                    proxy: entry.proxy.clone(),
                                    sid: sid.to_owned(),
                                };
                                async move {
                                    index
                                        .put_binding(
                                            &binding,
                                            &indexed.created,
                                            indexed.expires_at,
                                            &[],
                                        )
                                        .await
                                }
                            }))
                            .await?;
                            Ok(())
                        }
                        _ => Ok::<(), SessionError>(()),
                    }
                };
                let (summary, retimed) =
                    join(self.index_roster(&updated, &indexed, &roster), retimed).await;
                summary?;
                retimed?;
            }
            let session = Session::new(updated, participants);
            if update.close {
                self.emit(
                    EventType::SessionClosed,
                    sid,
                    Some("closed"),
                    serde_json::json!({ "reason": "api" }),
                );
            } else {
                self.emit(
                    EventType::SessionUpdated,
                    sid,
                    None,
                    serde_json::json!({ "session": &session }),
                );
            }
            Ok(session)
        }
        .await;
        self.unlock(sid).await;
        outcome
    }
}
