//! How a Twilio request can fail, as the callers need to tell the cases apart.

use serde::Deserialize;

/// Twilio error codes masked-comms reacts to.
pub mod code {
    /// The (address, proxy address) pair is in another non-closed conversation.
    pub const BINDING_IN_USE: u32 = 50416;
    /// The same, for several participants.
    pub const BINDINGS_IN_USE: u32 = 50425;
    /// The participant already exists in this conversation.
    pub const PARTICIPANT_EXISTS: u32 = 50437;
    /// The unique name is taken.
    pub const UNIQUE_NAME_TAKEN: u32 = 50353;
    /// The conversation is closed and cannot be updated.
    pub const CONVERSATION_CLOSED: u32 = 50377;
    /// Not found.
    pub const NOT_FOUND: u32 = 20404;
}

/// Twilio's error body: `{code, message, more_info, status}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TwilioErrorBody {
    pub code: Option<u32>,
    #[serde(default)]
    pub message: String,
    pub status: Option<u16>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TwilioError {
    /// Twilio answered and refused the request (a 4xx other than 429).
    #[error("Twilio refused the request (HTTP {status}, code {code:?})")]
    Refused {
        status: u16,
        code: Option<u32>,
        message: String,
    },
    /// Twilio kept answering 429 until the retry budget ran out.
    #[error("Twilio is rate limiting requests")]
    Throttled,
    /// Twilio could not be reached or failed (5xx) and the request is known
    /// not to have taken effect, or was safe to retry and still failed.
    #[error("Twilio is unavailable: {0}")]
    Unavailable(String),
    /// A request that is not safe to repeat failed in a way that leaves its
    /// outcome unknown (a timeout or 5xx after it was sent).
    #[error("Twilio's answer was lost: {0}")]
    OutcomeUnknown(String),
    /// Twilio answered with a body we cannot read.
    #[error("Twilio answered with an unexpected body: {0}")]
    InvalidResponse(String),
}

impl TwilioError {
    /// The Twilio error code, when Twilio gave one.
    pub fn code(&self) -> Option<u32> {
        match self {
            TwilioError::Refused { code, .. } => *code,
            _ => None,
        }
    }

    pub fn is_code(&self, wanted: u32) -> bool {
        self.code() == Some(wanted)
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, TwilioError::Refused { status: 404, .. }) || self.is_code(code::NOT_FOUND)
    }
}
