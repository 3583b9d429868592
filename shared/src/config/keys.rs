//! The configuration keys: each key's SSM name below the prefix, the
//! environment variable the original app used, and whether it is a secret.

pub struct Key {
    pub ssm: &'static str,
    pub env: &'static str,
    /// A SecureString in SSM: never logged, decrypted with KMS.
    pub secret: bool,
}

pub const ACCOUNT_SID: Key = Key {
    ssm: "twilio/account-sid",
    env: "TWILIO_ACCOUNT_SID",
    secret: false,
};
pub const AUTH_TOKEN: Key = Key {
    ssm: "twilio/auth-token",
    env: "TWILIO_AUTH_TOKEN",
    secret: true,
};
pub const NUMBER_POOL: Key = Key {
    ssm: "number-pool",
    env: "NUMBER_POOL",
    secret: false,
};
pub const USERNAME: Key = Key {
    ssm: "auth/username",
    env: "AUTH_USERNAME",
    secret: false,
};
pub const PASSWORD: Key = Key {
    ssm: "auth/password",
    env: "AUTH_PASSWORD",
    secret: true,
};
pub const PUBLIC_BASE_URL: Key = Key {
    ssm: "public-base-url",
    env: "PUBLIC_BASE_URL",
    secret: false,
};
pub const CALL_VOICE: Key = Key {
    ssm: "call/voice",
    env: "CALL_ANNOUNCEMENT_VOICE",
    secret: false,
};
pub const CALL_LANGUAGE: Key = Key {
    ssm: "call/language",
    env: "CALL_ANNOUNCEMENT_LANGUAGE",
    secret: false,
};
pub const CONNECTING_ANNOUNCEMENT: Key = Key {
    ssm: "call/connecting-announcement",
    env: "CONNECTING_CALL_ANNOUNCEMENT",
    secret: false,
};
pub const OUT_OF_SESSION_MESSAGE: Key = Key {
    ssm: "call/out-of-session-message",
    env: "OUT_OF_SESSION_MESSAGE_FOR_CALL",
    secret: false,
};
pub const MESSAGE_ONLY_MESSAGE: Key = Key {
    ssm: "call/message-only-message",
    env: "MESSAGE_ONLY_MESSAGE_FOR_CALL",
    secret: false,
};
pub const INACTIVE_TIMER: Key = Key {
    ssm: "session/inactive-timer",
    env: "SESSION_INACTIVE_TIMER",
    secret: false,
};
pub const CLOSED_TIMER: Key = Key {
    ssm: "session/closed-timer",
    env: "SESSION_CLOSED_TIMER",
    secret: false,
};
pub const CLOSED_CONVERSATIONS: Key = Key {
    ssm: "closed-conversations",
    env: "CLOSED_CONVERSATIONS",
    secret: false,
};
pub const GEO_MATCH: Key = Key {
    ssm: "number-selection/geo-match",
    env: "NUMBER_SELECTION_GEO_MATCH",
    secret: false,
};
pub const STICKY: Key = Key {
    ssm: "number-selection/sticky",
    env: "NUMBER_SELECTION_STICKY",
    secret: false,
};
pub const WHATSAPP_POOL: Key = Key {
    ssm: "whatsapp-pool",
    env: "WHATSAPP_POOL",
    secret: false,
};

pub const EVENTS_URL: Key = Key {
    ssm: "events/url",
    env: "EVENTS_URL",
    secret: false,
};
pub const EVENTS_SIGNING_SECRET: Key = Key {
    ssm: "events/signing-secret",
    env: "EVENTS_SIGNING_SECRET",
    secret: true,
};

pub const OUT_OF_SESSION_MODE: Key = Key {
    ssm: "out-of-session/mode",
    env: "OUT_OF_SESSION_MODE",
    secret: false,
};
pub const OUT_OF_SESSION_FORWARD_TO: Key = Key {
    ssm: "out-of-session/forward-to",
    env: "OUT_OF_SESSION_FORWARD_TO",
    secret: false,
};
pub const OUT_OF_SESSION_CALLBACK_URL: Key = Key {
    ssm: "out-of-session/callback-url",
    env: "OUT_OF_SESSION_CALLBACK_URL",
    secret: false,
};
pub const OUT_OF_SESSION_TEXT: Key = Key {
    ssm: "message/out-of-session-message",
    env: "OUT_OF_SESSION_MESSAGE_FOR_SMS",
    secret: false,
};

/// The intercept: the operator's backend allows, blocks or rewrites a text
/// or call before it is delivered (crate::intercept).
pub const INTERCEPT_URL: Key = Key {
    ssm: "intercept/url",
    env: "INTERCEPT_URL",
    secret: false,
};
pub const INTERCEPT_TIMEOUT: Key = Key {
    ssm: "intercept/timeout-ms",
    env: "INTERCEPT_TIMEOUT_MS",
    secret: false,
};
pub const INTERCEPT_ON_ERROR: Key = Key {
    ssm: "intercept/on-error",
    env: "INTERCEPT_ON_ERROR",
    secret: false,
};
pub const INTERCEPT_BLOCKED_CALL_SAY: Key = Key {
    ssm: "intercept/blocked-call-say",
    env: "INTERCEPT_BLOCKED_CALL_MESSAGE",
    secret: false,
};

/// Misspellings the original app read (and its users may still set).
pub const ENV_ALIASES: [(&str, &Key); 3] = [
    ("CALL_ANNOUCEMENT_VOICE", &CALL_VOICE),
    ("CALL_ANNOUCEMENT_LANGUAGE", &CALL_LANGUAGE),
    ("CONNECTING_CALL_ANNOUCEMENT", &CONNECTING_ANNOUNCEMENT),
];

/// Keys the out-of-session reply throttle's items (crate::reply_key).
pub const REPLY_KEY: Key = Key {
    ssm: "reply-key",
    env: "REPLY_KEY",
    secret: true,
};

pub const ALL: [&Key; 28] = [
    &ACCOUNT_SID,
    &AUTH_TOKEN,
    &NUMBER_POOL,
    &USERNAME,
    &PASSWORD,
    &PUBLIC_BASE_URL,
    &CALL_VOICE,
    &CALL_LANGUAGE,
    &CONNECTING_ANNOUNCEMENT,
    &OUT_OF_SESSION_MESSAGE,
    &MESSAGE_ONLY_MESSAGE,
    &INACTIVE_TIMER,
    &CLOSED_TIMER,
    &CLOSED_CONVERSATIONS,
    &GEO_MATCH,
    &STICKY,
    &WHATSAPP_POOL,
    &EVENTS_URL,
    &EVENTS_SIGNING_SECRET,
    &OUT_OF_SESSION_MODE,
    &OUT_OF_SESSION_FORWARD_TO,
    &OUT_OF_SESSION_CALLBACK_URL,
    &OUT_OF_SESSION_TEXT,
    &REPLY_KEY,
    &INTERCEPT_URL,
    &INTERCEPT_TIMEOUT,
    &INTERCEPT_ON_ERROR,
    &INTERCEPT_BLOCKED_CALL_SAY,
];
