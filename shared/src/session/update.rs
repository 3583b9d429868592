//! Changing a live session (`PATCH /sessions/{sid}`): its name, the
//! caller's attributes, timers, capabilities, recording, or closing it.
//! Under the session's lock, from a read made under it, writing only what
//! the request changes: two changes at once never undo each other.

use futures_util::future::{join, try_join_all};

use super::bind::IndexedAs;
use super::create::date_created;
use super::{expires_at, Ending, Session, SessionError, Sessions};
use crate::domain::roster::{user_attributes, SessionRecord};
use crate::domain::session::SessionUpdate;
use crate::events::EventType;
use crate::index::Binding;
use crate::twilio::ConversationParams;

impl Sessions<'_> {
    /// Applies `update` and answers with the session as it now is.
    pub async fn update(&self, sid: &str, update: SessionUpdate) -> Result<Session, SessionError> {
        if update.record == Some(true) {
            self.recording_allowed()?;
        }
        self.locked(sid, async || {
            let (conversation, participants) =
                join(self.fetch_session(sid), self.twilio.participants(sid)).await;
            let conversation = conversation?;
            let participants = participants?;
            if !conversation.state.holds_bindings() {
                return Err(SessionError::Closed);
            }
            let attributes = attributes_after(&conversation.attributes, &update)?;
            let params = ConversationParams {
                friendly_name: update.friendly_name.as_deref(),
                attributes: attributes.as_deref(),
                timers_inactive: update.timers.inactive.as_ref().map(|t| t.as_str()),
                timers_closed: update.timers.closed.as_ref().map(|t| t.as_str()),
                ..Default::default()
            };
            if update.close {
                // The other changes go in the same Twilio request as the close.
                let closed = self.close_in_twilio(conversation, &params).await?;
                self.end(&closed, Ending::Api).await?;
                return Ok(Session::new(closed, participants));
            }
            let updated = self.twilio.update_conversation(sid, &params).await?;
            let record = SessionRecord::read(&updated.attributes).ok_or(SessionError::NotFound)?;
            let roster = record.roster.clone().unwrap_or_default();
            let indexed = IndexedAs {
                sid: sid.to_owned(),
                created: date_created(&updated),
                expires_at: expires_at(&updated),
            };
            // New timers move the index's expiry with them.
            let retimed = async {
                match (&self.index, update.timers.closed.is_some()) {
                    (Some(index), true) => {
                        try_join_all(roster.iter().map(|entry| {
                            let binding = Binding {
                                address: entry.address.clone(),
                                proxy: entry.proxy.clone(),
                                sid: sid.to_owned(),
                            };
                            let indexed = &indexed;
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
            let session = Session::new(updated, participants);
            self.emit(
                EventType::SessionUpdated,
                sid,
                None,
                serde_json::json!({ "session": &session }),
            );
            Ok(session)
        })
        .await
    }
}

/// The attributes text to write, or `None` when the update leaves them as
/// they are (a name or timer change must not rewrite them).
fn attributes_after(current: &str, update: &SessionUpdate) -> Result<Option<String>, SessionError> {
    let user = user_attributes(current);
    let patched = update.attributes(&user)?;
    if patched.is_none() && update.capabilities.is_none() && update.record.is_none() {
        return Ok(None);
    }
    let mut record = SessionRecord::read(current).ok_or(SessionError::NotFound)?;
    if let Some(capabilities) = update.capabilities {
        record.capabilities = capabilities;
    }
    if let Some(record_calls) = update.record {
        record.record = record_calls;
    }
    Ok(Some(record.merged_into(patched.as_ref().unwrap_or(&user))))
}
