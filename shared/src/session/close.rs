//! Ending a session: closing it (the API), and cleaning up after Twilio
//! closed it (a timer, or the API; the conversation-events webhook). Its
//! index entries go in the same step, so its numbers are free at once.

use futures_util::future::join;

use super::{is_session, SessionError, Sessions};
use crate::deferred::Job;
use crate::domain::roster::SessionRecord;
use crate::events::EventType;
use crate::index::Binding;
use crate::metrics::Count;
use crate::twilio::{code, Conversation, ConversationParams, ConversationState};

/// What a closed session's cleanup did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    /// Deleted in Twilio (and forgotten by the index).
    Deleted,
    /// Kept in Twilio as configured (forgotten by the index).
    Kept,
    /// Not one of ours, gone already, or not closed: nothing done.
    LeftAlone,
}

impl Sessions<'_> {
    /// Closes a session (final in Twilio). Closing a closed session is fine;
    /// a conversation that is not a session is [`SessionError::NotFound`].
    pub async fn close(&self, sid: &str) -> Result<(), SessionError> {
        let indexed = match &self.index {
            Some(index) => index.session(sid).await?,
            None => None,
        };
        // The index's item says it is ours; otherwise Twilio's record does.
        let bindings = match indexed {
            Some(item) => item
                .bindings
                .iter()
                .map(|p| Binding {
                    address: p.address.clone(),
                    proxy: p.proxy.clone(),
                    sid: sid.to_owned(),
                })
                .collect(),
            None => {
                let conversation = self.fetch_session(sid).await?;
                bindings_of(&conversation)
            }
        };
        let closing = ConversationParams {
            state: Some(ConversationState::Closed),
            ..Default::default()
        };
        let (closed, forgotten) = join(
            self.twilio.update_conversation(sid, &closing),
            self.forget(sid, &bindings),
        )
        .await;
        match closed {
            Ok(_) => {
                self.metrics.count(Count::SessionsClosed);
                self.emit(
                    EventType::SessionClosed,
                    sid,
                    Some("closed"),
                    serde_json::json!({ "reason": "api" }),
                )
            }
            // Closed is final, so closing twice is the same as closing once.
            Err(e) if e.is_code(code::CONVERSATION_CLOSED) => {}
            Err(e) if e.is_not_found() => return Err(SessionError::NotFound),
            Err(e) => return Err(e.into()),
        }
        forgotten
    }

    /// After Twilio reports `sid` closed: forget it in the index, and delete
    /// it in Twilio unless `keep`. Twilio's word decides, not the event's: a
    /// replayed or reordered event never touches a session still open, and
    /// other apps' conversations are left alone.
    pub async fn after_closed(
        &self,
        sid: &str,
        keep: bool,
        reason: &str,
    ) -> Result<Cleanup, SessionError> {
        if keep && self.index.is_none() && self.config.events.is_none() {
            // Nothing to delete, forget or tell.
            return Ok(Cleanup::Kept);
        }
        let conversation = match self.twilio.fetch_conversation(sid).await {
            Ok(conversation) => conversation,
            Err(e) if e.is_not_found() => {
                // Gone from Twilio: whatever the index still has goes too.
                self.forget(sid, &[]).await?;
                return Ok(Cleanup::LeftAlone);
            }
            Err(e) => return Err(e.into()),
        };
        if !is_session(&conversation) {
            tracing::info!(
                session = sid,
                "a conversation of another app closed; left alone"
            );
            return Ok(Cleanup::LeftAlone);
        }
        if conversation.state != ConversationState::Closed {
            return Ok(Cleanup::LeftAlone);
        }
        // Closes through our API fire no webhook (REST changes do not,
        // without X-Twilio-Webhook-Enabled), so this counts the others once.
        self.metrics.count(Count::SessionsClosed);
        // The same id as the API's own close event: a receiver sees one close.
        self.emit(
            EventType::SessionClosed,
            sid,
            Some("closed"),
            serde_json::json!({ "reason": reason }),
        );
        let bindings = bindings_of(&conversation);
        let forgotten = self.forget(sid, &bindings);
        if keep {
            forgotten.await?;
            return Ok(Cleanup::Kept);
        }
        let (deleted, forgotten) = join(self.twilio.delete_conversation(sid), forgotten).await;
        deleted?;
        forgotten?;
        Ok(Cleanup::Deleted)
    }

    /// Our session `sid` from Twilio, or [`SessionError::NotFound`] when
    /// Twilio has no such conversation or it is another app's.
    pub async fn fetch_session(&self, sid: &str) -> Result<Conversation, SessionError> {
        match self.twilio.fetch_conversation(sid).await {
            Ok(conversation) if is_session(&conversation) => Ok(conversation),
            Ok(_) => Err(SessionError::NotFound),
            Err(e) if e.is_not_found() => Err(SessionError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the session's index entries and call log; its recordings
    /// are deleted from Twilio after the answer.
    pub(crate) async fn forget(&self, sid: &str, bindings: &[Binding]) -> Result<(), SessionError> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        let recordings = index.forget(sid, bindings).await?;
        if !recordings.is_empty() {
            self.deferred.push(Job::DeleteRecordings(recordings));
        }
        Ok(())
    }
}

/// The bindings a session's roster names.
fn bindings_of(conversation: &Conversation) -> Vec<Binding> {
    SessionRecord::read(&conversation.attributes)
        .and_then(|r| r.roster)
        .unwrap_or_default()
        .into_iter()
        .map(|e| Binding {
            address: e.address,
            proxy: e.proxy,
            sid: conversation.sid.clone(),
        })
        .collect()
}
