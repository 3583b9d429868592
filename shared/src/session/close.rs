//! Ending a session, one way whichever door it comes through (`DELETE`,
//! `PATCH state=closed`, Twilio's timer reported by the webhook): close it
//! in Twilio; only once Twilio confirms, delete the conversation (unless
//! configured to keep it), forget its index entries and call log, and
//! delete its recordings. A step that fails undoes nothing already true,
//! and the next attempt (a retry, the webhook) finishes the job; the index
//! never forgets a session Twilio still routes.

use futures_util::future::join;

use super::{is_session, SessionError, Sessions};
use crate::config::ClosedConversations;
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

/// Who ended a session, as its `session.closed` event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Our API (`DELETE`, `PATCH`).
    Api,
    /// Twilio, as its webhook reports (`timer`, `event`, `api`, ...).
    Twilio(String),
}

impl Ending {
    fn reason(&self) -> &str {
        match self {
            Ending::Api => "api",
            Ending::Twilio(reason) => reason,
        }
    }
}

impl Sessions<'_> {
    /// Closes a session and removes what it leaves behind. Closing a closed
    /// session (kept, or whose cleanup failed) finishes its cleanup; a
    /// conversation that is gone or not a session is [`SessionError::NotFound`].
    pub async fn close(&self, sid: &str) -> Result<(), SessionError> {
        self.locked(sid, async || {
            // The index's item says it is ours: then the close itself is the
            // first Twilio request (its answer has our record); else Twilio's
            // record says, read first.
            let indexed = match &self.index {
                Some(index) => index.session(sid).await?.is_some(),
                None => false,
            };
            let closing = ConversationParams::default();
            let closed = match indexed {
                true => self.close_in_twilio_by_sid(sid, &closing).await,
                false => match self.twilio.fetch_conversation(sid).await {
                    Ok(conversation) if is_session(&conversation) => {
                        self.close_in_twilio(conversation, &closing).await
                    }
                    Ok(_) => return Err(SessionError::NotFound),
                    Err(e) if e.is_not_found() => Err(SessionError::NotFound),
                    Err(e) => return Err(e.into()),
                },
            };
            let closed = match closed {
                Err(SessionError::NotFound) => {
                    // Deleted already: whatever the index still has goes too.
                    self.forget(sid, &[]).await?;
                    return Err(SessionError::NotFound);
                }
                other => other?,
            };
            self.end(&closed, Ending::Api).await.map(|_| ())
        })
        .await
    }

    /// After Twilio reports `sid` closed (its webhook): the same cleanup as
    /// [`Sessions::close`]. Twilio's word decides, not the event's: a
    /// replayed or reordered event never touches a session still open, and
    /// other apps' conversations are left alone.
    pub async fn after_closed(&self, sid: &str, reason: &str) -> Result<Cleanup, SessionError> {
        if self.keeps_closed() && self.index.is_none() && self.config.events.is_none() {
            // Nothing to delete, forget or tell.
            return Ok(Cleanup::Kept);
        }
        let conversation = match self.twilio.fetch_conversation(sid).await {
            Ok(conversation) => conversation,
            Err(e) if e.is_not_found() => {
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
        // Closed in Twilio is final, so a change holding the lock can only
        // fail now; the cleanup goes ahead without waiting for it.
        self.end(&conversation, Ending::Twilio(reason.to_owned()))
            .await
    }

    /// Closes `conversation` in Twilio with `params` (other changes made in
    /// the same request) and answers it as Twilio now has it: closed.
    pub(crate) async fn close_in_twilio(
        &self,
        conversation: Conversation,
        params: &ConversationParams<'_>,
    ) -> Result<Conversation, SessionError> {
        if conversation.state == ConversationState::Closed {
            return Ok(conversation);
        }
        self.close_in_twilio_by_sid(&conversation.sid, params).await
    }

    /// The same, for a session known to be ours without reading it.
    async fn close_in_twilio_by_sid(
        &self,
        sid: &str,
        params: &ConversationParams<'_>,
    ) -> Result<Conversation, SessionError> {
        let closing = ConversationParams {
            state: Some(ConversationState::Closed),
            ..*params
        };
        match self.twilio.update_conversation(sid, &closing).await {
            Ok(closed) => Ok(closed),
            // Closed already (a timer, an earlier close): closed is final.
            Err(e) if e.is_code(code::CONVERSATION_CLOSED) => Ok(self.fetch_session(sid).await?),
            Err(e) if e.is_not_found() => Err(SessionError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// What follows a close Twilio confirmed: the conversation deleted
    /// (unless kept) and the index's entries, call log and recordings gone,
    /// side by side. Safe to run again: each step is done or redone.
    pub(crate) async fn end(
        &self,
        closed: &Conversation,
        ending: Ending,
    ) -> Result<Cleanup, SessionError> {
        let sid = closed.sid.as_str();
        let keep = self.keeps_closed();
        let delete = async {
            if keep {
                return Ok(());
            }
            match self.twilio.delete_conversation(sid).await {
                Err(e) if !e.is_not_found() => Err(SessionError::from(e)),
                _ => Ok(()),
            }
        };
        let (deleted, forgotten) = join(delete, self.forget(sid, &bindings_of(closed))).await;
        deleted?;
        forgotten?;
        self.metrics.count(Count::SessionsClosed);
        // One id per session's close, whoever ended it: a receiver that gets
        // it twice (a retried cleanup) sees one close.
        self.emit(
            EventType::SessionClosed,
            sid,
            Some("closed"),
            serde_json::json!({ "reason": ending.reason() }),
        );
        Ok(if keep {
            Cleanup::Kept
        } else {
            Cleanup::Deleted
        })
    }

    fn keeps_closed(&self) -> bool {
        self.config.closed_conversations == ClosedConversations::Keep
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
