//! The session service: the one place that changes a session, in Twilio and
//! in the index together. Handlers parse and answer; this decides and does.
//!
//! - [`create`]: a new session in two sequential round trips.
//! - [`bind`]: the binding step (what an address holds, number choice, add
//!   with fallback), shared by create and adding a participant.
//! - [`lookup`]: which session a call belongs to; an address's sessions.
//! - [`participants`]: adding and removing a participant of a live session.
//! - [`update`]: changing a session (`PATCH`).
//! - [`close`]: the one way a session ends, whoever ends it.
//! - [`messages`]: messages from the operator's backend into a session.
//! - [`lock`]: one change to a session at a time.
//!
//! With an index, every lookup is a key read; without one, Twilio is paged
//! as before. Twilio stays the judge of bindings either way.

pub mod bind;
pub mod close;
pub mod create;
pub mod interactions;
pub mod lock;
pub mod lookup;
pub mod message_gate;
pub mod messages;
mod open_for;
pub mod participants;
pub mod request;
pub mod update;

use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, ConfigError};
use crate::deferred::Deferred;
use crate::domain::capabilities::Capability;
use crate::domain::instant::{unix_now, unix_seconds};
use crate::domain::roster::{user_attributes, SessionRecord};
use crate::domain::session::InvalidField;
use crate::events::{Event, EventType};
use crate::index::{Index, IndexError};
use crate::metrics::Recorder;
use crate::twilio::{Conversation, Participant, Twilio, TwilioError};

pub use close::{Cleanup, Ending};
pub use create::{CreateRequest, Created, CREATE_MAY_RUN_FOR, ROLLBACK_BUDGET};

/// A session as the API answers with it: the conversation in Twilio's
/// shape plus its participants, and what our record says of it.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub participants: Vec<Participant>,
    pub capabilities: Vec<Capability>,
    pub record: bool,
}

impl Session {
    /// The answer shows the caller's own attributes only: our record is
    /// internal, and its roster is already in `participants`.
    pub fn new(mut conversation: Conversation, participants: Vec<Participant>) -> Self {
        let record = SessionRecord::read(&conversation.attributes);
        conversation.attributes =
            serde_json::Value::Object(user_attributes(&conversation.attributes)).to_string();
        Session {
            capabilities: record
                .as_ref()
                .map(|r| r.capabilities)
                .unwrap_or_default()
                .list(),
            record: record.is_some_and(|r| r.record),
            conversation,
            participants,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no free proxy number for a participant")]
    PoolExhausted { address: String },
    #[error("the unique name is taken by another conversation")]
    UniqueNameTaken,
    #[error("the idempotency key was used for a different request")]
    IdempotencyConflict,
    #[error("a request with the same idempotency key may still be running")]
    IdempotencyInProgress { retry_after: Duration },
    #[error("no such session")]
    NotFound,
    #[error("no such participant in this session")]
    NoSuchParticipant,
    #[error("the address is already a participant of this session")]
    ParticipantExists,
    #[error("the session has Twilio's maximum of participants")]
    SessionFull,
    #[error("the session is closed")]
    Closed,
    #[error("the session does not take messages")]
    NoMessaging,
    #[error("another change to this session is in progress")]
    Busy,
    #[error("the call log and recording need the session index")]
    IndexRequired,
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error(transparent)]
    Twilio(#[from] TwilioError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Configuration(#[from] ConfigError),
}

/// One invocation's session service: Twilio, the index when there is one,
/// and the configuration.
pub struct Sessions<'a> {
    twilio: &'a Twilio<'a>,
    index: Option<Index<'a>>,
    config: &'a Config,
    /// Where events and other work for after the answer go.
    deferred: &'a Deferred,
    /// The invocation's metrics: sessions made and closed, exhaustion, ...
    metrics: &'a Recorder,
}

impl<'a> Sessions<'a> {
    pub fn new(
        twilio: &'a Twilio<'a>,
        index: Option<Index<'a>>,
        config: &'a Config,
        deferred: &'a Deferred,
        metrics: &'a Recorder,
    ) -> Self {
        Sessions {
            twilio,
            index,
            config,
            deferred,
            metrics,
        }
    }

    /// Tells the event receiver (after the answer), when there is one.
    pub(crate) fn emit(
        &self,
        kind: EventType,
        sid: &str,
        fact: Option<&str>,
        data: serde_json::Value,
    ) {
        self.deferred
            .event(self.config, Event::new(kind, sid, fact, unix_now(), data));
    }

    pub fn twilio(&self) -> &Twilio<'a> {
        self.twilio
    }

    pub fn index(&self) -> Option<&Index<'a>> {
        self.index.as_ref()
    }

    /// Recording is refused without the index: recordings are found and
    /// deleted with their session through its call log, and without one
    /// they would stay in Twilio for good.
    pub(crate) fn recording_allowed(&self) -> Result<(), SessionError> {
        match self.index {
            Some(_) => Ok(()),
            None => Err(SessionError::IndexRequired),
        }
    }

    pub fn config(&self) -> &Config {
        self.config
    }

    pub fn deferred(&self) -> &Deferred {
        self.deferred
    }

    pub fn metrics(&self) -> &Recorder {
        self.metrics
    }
}

/// Whether masked-comms made this conversation: other apps in the same
/// Twilio account have conversations too, and those are not sessions.
pub fn is_session(conversation: &Conversation) -> bool {
    SessionRecord::read(&conversation.attributes).is_some()
}

/// How long after Twilio's closed timer the index keeps a session's items
/// anyway: the conversation-events webhook normally removes them at close,
/// and TTL is only the backstop for a lost webhook.
const TTL_GRACE: Duration = Duration::from_secs(60 * 60);

/// When the index may forget this session: an hour after Twilio's closed
/// timer fires (`timers.date_closed`); `None` keeps it until it closes.
pub fn expires_at(conversation: &Conversation) -> Option<u64> {
    expires_at_of(conversation.other.get("timers"))
}

/// The same from a conversation's `timers` object, wherever Twilio gave it.
pub fn expires_at_of(timers: Option<&serde_json::Value>) -> Option<u64> {
    let closes = timers?.get("date_closed")?.as_str()?;
    Some(unix_seconds(closes)? + TTL_GRACE.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(timers: serde_json::Value) -> Conversation {
        serde_json::from_value(serde_json::json!({
            "sid": "CH0123456789abcdef0123456789abcdef",
            "state": "active",
            "attributes": "{}",
            "timers": timers,
        }))
        .unwrap()
    }

    #[test]
    fn only_a_known_closed_timer_sets_a_ttl() {
        assert_eq!(expires_at(&conversation(serde_json::json!({}))), None);
        let closing = conversation(serde_json::json!({"date_closed": "2026-12-02T10:00:00Z"}));
        assert_eq!(expires_at(&closing), Some(1_796_205_600 + 3_600));
    }
}
