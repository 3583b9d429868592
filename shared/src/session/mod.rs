//! The session service: the one place that changes a session, in Twilio and
//! in the index together. Handlers parse and answer; this decides and does.
//!
//! - [`create`]: a new session in two sequential round trips.
//! - [`bind`]: the binding step (what an address holds, number choice, add
//!   with fallback), shared by create and adding a participant.
//! - [`lookup`]: which session a call belongs to; an address's sessions.
//! - [`close`]: closing, and cleaning up after Twilio closed one.
//!
//! With an index, every lookup is a key read; without one, Twilio is paged
//! as before. Twilio stays the judge of bindings either way.

pub mod bind;
pub mod close;
pub mod create;
pub mod lookup;

use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, ConfigError};
use crate::domain::roster::SessionRecord;
use crate::index::{Index, IndexError};
use crate::twilio::{Conversation, Participant, Twilio, TwilioError};

pub use create::{CreateRequest, Created, CREATE_MAY_RUN_FOR, ROLLBACK_BUDGET};

/// A session as the API answers with it: the conversation in Twilio's
/// shape plus its participants.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub participants: Vec<Participant>,
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
}

impl<'a> Sessions<'a> {
    pub fn new(twilio: &'a Twilio<'a>, index: Option<Index<'a>>, config: &'a Config) -> Self {
        Sessions {
            twilio,
            index,
            config,
        }
    }

    pub fn twilio(&self) -> &Twilio<'a> {
        self.twilio
    }

    pub fn index(&self) -> Option<&Index<'a>> {
        self.index.as_ref()
    }
}

/// Whether masked-comms made this conversation: other apps in the same
/// Twilio account have conversations too, and those are not sessions.
pub fn is_session(conversation: &Conversation) -> bool {
    SessionRecord::read(&conversation.attributes).is_some()
}

/// Seconds since the Unix epoch, from the system clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How long after Twilio's closed timer the index keeps a session's items
/// anyway: the conversation-events webhook normally removes them at close,
/// and TTL is only the backstop for a lost webhook.
const TTL_GRACE: Duration = Duration::from_secs(60 * 60);

/// When the index may forget a session created at `created` (unix seconds)
/// with a closed timer of `closed_after`; `None` keeps it until it closes.
pub fn expires_at(created: u64, closed_after: Option<u64>) -> Option<u64> {
    closed_after.map(|seconds| created + seconds + TTL_GRACE.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_known_closed_timer_sets_a_ttl() {
        assert_eq!(expires_at(1_000, None), None);
        assert_eq!(expires_at(1_000, Some(600)), Some(1_000 + 600 + 3_600));
    }
}
