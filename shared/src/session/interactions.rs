//! A session's log, as `GET /sessions/{sid}/interactions` answers it: its
//! calls and messages, newest first, naming participants by sid and proxy,
//! never by number, and never a message's body.

use serde::Serialize;

use super::{SessionError, Sessions};
use crate::domain::session::InvalidField;
use crate::index::{CallParty, Logged};

/// A call or a message of the session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Interaction {
    Call(CallInteraction),
    Message(MessageInteraction),
}

/// A call: `kind` is `dial` or `conference`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallInteraction {
    pub call_sid: String,
    pub kind: String,
    pub from: CallParty,
    pub to: Vec<CallParty>,
    pub started: String,
    pub status: String,
    pub duration: Option<u64>,
    pub recording_url: Option<String>,
}

/// A message: `kind` is `message`; `from` is `null` for the backend's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageInteraction {
    pub message_sid: String,
    pub kind: &'static str,
    pub from: Option<CallParty>,
    pub to: Vec<CallParty>,
    pub sent: String,
    pub channel: String,
    pub media: usize,
    pub template: bool,
    pub origin: String,
}

impl From<Logged> for Interaction {
    fn from(logged: Logged) -> Self {
        match logged {
            Logged::Call(c) => Interaction::Call(CallInteraction {
                call_sid: c.call_sid,
                kind: c.kind,
                from: c.from,
                to: c.to,
                started: c.started,
                status: c.status,
                duration: c.duration,
                recording_url: c.recording_url,
            }),
            Logged::Message(m) => Interaction::Message(MessageInteraction {
                message_sid: m.message_sid,
                kind: "message",
                from: m.from,
                to: m.to,
                sent: m.sent,
                channel: m.channel,
                media: m.media,
                template: m.template,
                origin: m.origin,
            }),
        }
    }
}

impl Sessions<'_> {
    /// The session's calls and messages, newest first (the log needs the
    /// index).
    pub async fn interactions(
        &self,
        sid: &str,
        page_size: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Interaction>, Option<String>), SessionError> {
        let Some(index) = &self.index else {
            return Err(SessionError::IndexRequired);
        };
        if let Some(cursor) = cursor {
            if !crate::index::cursor_belongs_to_session(cursor, sid) {
                return Err(SessionError::Invalid(InvalidField::new(
                    "next",
                    "is not a cursor this API issued",
                )));
            }
        }
        // Ours? The index knows its sessions; one from before the index is
        // asked of Twilio (and has nothing logged).
        if index.session(sid).await?.is_none() {
            self.fetch_session(sid).await?;
            return Ok((Vec::new(), None));
        }
        let (logged, next) = index.interactions(sid, page_size, cursor).await?;
        Ok((logged.into_iter().map(Interaction::from).collect(), next))
    }
}
