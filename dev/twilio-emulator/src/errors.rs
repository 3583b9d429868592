//! Twilio's error body `{code, message, more_info, status}` and the codes the emulator uses.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

/// Error codes. Where Twilio documents a code for the situation it is used; the few
/// situations without a documented Conversations code use the emulator's own choice,
/// marked "(emulator's choice)".
pub mod codes {
    pub const AUTHENTICATE: u32 = 20003;
    pub const NOT_FOUND: u32 = 20404;
    pub const TOO_MANY_REQUESTS: u32 = 20429;
    pub const INTERNAL: u32 = 20500;
    pub const UNAVAILABLE: u32 = 20503;
    /// A malformed or out-of-range parameter: bad `State`, bad timers, missing
    /// binding/identity, bad `PageSize` (emulator's choice).
    pub const INVALID_PARAMETER: u32 = 50100;
    /// `Attributes` is not valid JSON (Chat's "Attributes not valid JSON").
    pub const INVALID_ATTRIBUTES: u32 = 50304;
    pub const UNIQUE_NAME_TAKEN: u32 = 50353;
    pub const CONVERSATION_CLOSED: u32 = 50377;
    pub const INVALID_BINDING_ADDRESS: u32 = 50407;
    pub const ADDRESS_EQUALS_PROXY: u32 = 50409;
    pub const PAIR_IN_USE: u32 = 50416;
    pub const NON_CHAT_LIMIT: u32 = 50422;
    pub const PARTICIPANT_EXISTS: u32 = 50437;
    /// Calls: neither `Url` nor `Twiml` given.
    pub const CALL_URL_REQUIRED: u32 = 21205;
    /// Calls: `To` missing.
    pub const CALL_TO_REQUIRED: u32 = 21201;
    /// Calls: `From` missing.
    pub const CALL_FROM_REQUIRED: u32 = 21603;
    /// Calls: `Timeout` is not a positive whole number.
    pub const CALL_INVALID_TIMEOUT: u32 = 21208;
    /// Calls: a `...Method` parameter is neither GET nor POST.
    pub const CALL_INVALID_METHOD: u32 = 21209;
    /// Calls: a `StatusCallbackEvent` is not one Twilio knows.
    pub const CALL_INVALID_STATUS_CALLBACK_EVENT: u32 = 21626;
    /// Calls: `Twiml` longer than 4000 characters.
    pub const TWIML_TOO_LARGE: u32 = 32018;
    /// A callback URL (`VoiceUrl`, `StatusCallback`, ...) is not an absolute http(s) URL.
    pub const INVALID_CALLBACK_URL: u32 = 21502;
    /// IncomingPhoneNumbers: a `...Method` parameter is neither GET nor POST.
    pub const NUMBER_INVALID_METHOD: u32 = 21403;
    /// API 2010: any other malformed parameter (emulator's choice: Twilio's generic 400).
    pub const INVALID_PARAMETER_2010: u32 = 20001;
}

/// An error answered in Twilio's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioError {
    pub status: u16,
    pub code: u32,
    pub message: String,
    /// Sent as a `Retry-After` header (seconds) when set.
    pub retry_after: Option<u64>,
}

impl TwilioError {
    pub fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn conflict(code: u32, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    pub fn not_found(path: &str) -> Self {
        Self::new(
            404,
            codes::NOT_FOUND,
            format!("The requested resource {path} was not found"),
        )
    }

    pub fn unauthenticated() -> Self {
        Self::new(401, codes::AUTHENTICATE, "Authenticate")
    }

    pub fn too_many_requests(retry_after: Option<u64>) -> Self {
        Self {
            retry_after,
            ..Self::new(429, codes::TOO_MANY_REQUESTS, "Too Many Requests")
        }
    }

    /// The body for an injected status fault: 429 is Twilio's rate limit error, anything
    /// else gets a generic Twilio-style code derived from the status.
    pub fn for_status(status: u16, retry_after: Option<u64>) -> Self {
        let (code, message) = match status {
            429 => (codes::TOO_MANY_REQUESTS, "Too Many Requests"),
            400 => (20001, "Bad Request"),
            401 => (codes::AUTHENTICATE, "Authenticate"),
            404 => (codes::NOT_FOUND, "Not Found"),
            500 => (codes::INTERNAL, "Internal Server Error"),
            502 => (20502, "Bad Gateway"),
            503 => (codes::UNAVAILABLE, "Service Unavailable"),
            504 => (20504, "Gateway Timeout"),
            s if s >= 500 => (codes::INTERNAL, "Internal Server Error"),
            s => (20000 + u32::from(s), "Injected error"),
        };
        Self {
            retry_after,
            ..Self::new(status, code, message)
        }
    }

    pub fn body(&self) -> serde_json::Value {
        json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status,
        })
    }
}

impl IntoResponse for TwilioError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == 401 {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
        }
        response
    }
}
