//! The functions, by what each one reads: its binary's name, its
//! configuration keys, how many Twilio connections it opens at once.

use crate::config::key::{self, Key};

/// The functions, by what configuration each one reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Sessions,
    InboundCall,
    ConversationEvents,
    LandingPage,
}

impl Function {
    pub const ALL: [Function; 4] = [
        Function::Sessions,
        Function::InboundCall,
        Function::ConversationEvents,
        Function::LandingPage,
    ];

    /// The binary's name (`functions/<binary>`); `${AWS::StackName}-<binary>`
    /// is its name in Lambda.
    pub fn binary(self) -> &'static str {
        match self {
            Function::Sessions => "sessions",
            Function::InboundCall => "inbound-call",
            Function::ConversationEvents => "conversation-events",
            Function::LandingPage => "landing-page",
        }
    }

    /// Twilio requests one invocation has in flight at once, at most, in
    /// the common case: the connections worth opening during init. A
    /// two-party create adds both participants together (and, without the
    /// session index, first reads both histories beside the conversation
    /// create); the webhooks make one request at a time; the landing page
    /// never calls Twilio.
    pub fn twilio_connections_at_once(self, with_index: bool) -> usize {
        match (self, with_index) {
            (Function::Sessions, true) => 2,
            (Function::Sessions, false) => 3,
            (Function::InboundCall | Function::ConversationEvents, _) => 1,
            (Function::LandingPage, _) => 0,
        }
    }

    /// The keys that must be present.
    pub fn required(self) -> &'static [&'static Key] {
        use key::*;
        match self {
            Function::Sessions => &[
                &ACCOUNT_SID,
                &AUTH_TOKEN,
                &NUMBER_POOL,
                &USERNAME,
                &PASSWORD,
            ],
            Function::InboundCall | Function::ConversationEvents => &[&ACCOUNT_SID, &AUTH_TOKEN],
            Function::LandingPage => &[&NUMBER_POOL, &USERNAME, &PASSWORD],
        }
    }

    /// The keys read when present.
    pub fn optional(self) -> &'static [&'static Key] {
        use key::*;
        match self {
            Function::Sessions => &[
                // Its own origin, for refusing cross-site requests.
                &PUBLIC_BASE_URL,
                &WHATSAPP_POOL,
                &INACTIVE_TIMER,
                &CLOSED_TIMER,
                &GEO_MATCH,
                &STICKY,
                &EVENTS_URL,
                &EVENTS_SIGNING_SECRET,
                // Its closes delete the conversation, or keep it.
                &CLOSED_CONVERSATIONS,
            ],
            Function::InboundCall => &[
                &PUBLIC_BASE_URL,
                &CALL_VOICE,
                &CALL_LANGUAGE,
                &CONNECTING_ANNOUNCEMENT,
                &OUT_OF_SESSION_MESSAGE,
                &MESSAGE_ONLY_MESSAGE,
                &EVENTS_URL,
                &EVENTS_SIGNING_SECRET,
                &OUT_OF_SESSION_MODE,
                &OUT_OF_SESSION_FORWARD_TO,
                &OUT_OF_SESSION_CALLBACK_URL,
                &OUT_OF_SESSION_TEXT,
                &REPLY_KEY,
                // What a session created at the callback's word needs.
                &NUMBER_POOL,
                &WHATSAPP_POOL,
                &INACTIVE_TIMER,
                &CLOSED_TIMER,
                &GEO_MATCH,
                &STICKY,
                // The backend's word on a call in a session.
                &INTERCEPT_URL,
                &INTERCEPT_TIMEOUT,
                &INTERCEPT_ON_ERROR,
                &INTERCEPT_BLOCKED_CALL_SAY,
            ],
            Function::ConversationEvents => &[
                &PUBLIC_BASE_URL,
                &CLOSED_CONVERSATIONS,
                &EVENTS_URL,
                &EVENTS_SIGNING_SECRET,
                // The backend's word on a text (the onMessageAdd pre-event).
                &INTERCEPT_URL,
                &INTERCEPT_TIMEOUT,
                &INTERCEPT_ON_ERROR,
            ],
            Function::LandingPage => &[&WHATSAPP_POOL],
        }
    }

    /// Every key this function reads.
    pub fn keys(self) -> impl Iterator<Item = &'static Key> {
        self.required().iter().chain(self.optional()).copied()
    }
}
