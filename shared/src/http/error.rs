//! One error type for every API answer: status, stable code, message.

use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Response};
use serde_json::json;

use crate::config::ConfigError;
use crate::domain::session::InvalidField;
use crate::index::IndexError;
use crate::session::SessionError;
use crate::twilio::TwilioError;

pub use super::error_code::ErrorCode;
use super::route::Miss;

/// The realm browsers show in the basic-auth prompt.
pub const AUTH_REALM: &str = "masked-comms";

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(InvalidField),
    #[error("send Content-Type {accepted}")]
    UnsupportedMediaType { accepted: &'static str },
    #[error("valid operator credentials are required (HTTP basic auth)")]
    Unauthorized,
    #[error("requests from another site's pages are refused; call the API from your backend or the operator page")]
    CrossSite,
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed; this route accepts {allow}")]
    MethodNotAllowed { allow: String },
    #[error("no free proxy number in the pool for participant {address}")]
    PoolExhausted { address: String },
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    #[error("{}", in_progress_message(*code))]
    InProgress {
        code: ErrorCode,
        retry_after_secs: u64,
    },
    #[error("the request body is over the {limit} byte limit")]
    PayloadTooLarge { limit: usize },
    #[error("Twilio refused the request: {message}")]
    Twilio {
        twilio_code: Option<u32>,
        twilio_status: u16,
        message: String,
    },
    #[error("{0}")]
    Unavailable(String),
    /// The detail is logged where the configuration is loaded; callers, who
    /// may not be the operator, learn only that it is broken.
    #[error(
        "the service is not configured correctly; the operator can find the cause in the logs"
    )]
    Configuration,
}

fn in_progress_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::SessionBusy => "another change to this session is in progress; retry shortly",
        _ => "a request with this Idempotency-Key is still being processed; retry shortly",
    }
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidRequest(InvalidField::new(field, message))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::CrossSite => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PoolExhausted { .. }
            | ApiError::Conflict { .. }
            | ApiError::InProgress { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Twilio { .. } => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) | ApiError::Configuration => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            ApiError::UnsupportedMediaType { .. } => ErrorCode::UnsupportedMediaType,
            ApiError::Unauthorized => ErrorCode::Unauthorized,
            ApiError::CrossSite => ErrorCode::CrossSiteRequest,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::PoolExhausted { .. } => ErrorCode::PoolExhausted,
            ApiError::Conflict { code, .. } | ApiError::InProgress { code, .. } => *code,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::Twilio { .. } => ErrorCode::TwilioError,
            ApiError::Unavailable(_) => ErrorCode::UpstreamUnavailable,
            ApiError::Configuration => ErrorCode::ConfigurationError,
        }
    }

    /// The JSON error answer: `{"error": {"code", "message", ...}}`.
    pub fn into_response(self) -> Response<Body> {
        let mut error = json!({ "code": self.code().as_str(), "message": self.to_string() });
        match &self {
            ApiError::InvalidRequest(field) => error["field"] = json!(field.field),
            ApiError::PoolExhausted { address } => error["address"] = json!(address),
            ApiError::Twilio {
                twilio_code,
                twilio_status,
                ..
            } => {
                error["twilio_code"] = json!(twilio_code);
                error["twilio_status"] = json!(twilio_status);
            }
            _ => {}
        }
        let mut response = super::response::json(self.status(), &json!({ "error": error }));
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized => {
                let challenge = format!("Basic realm=\"{AUTH_REALM}\", charset=\"UTF-8\"");
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    challenge.parse().expect("static header"),
                );
            }
            ApiError::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, allow.parse().expect("method names"));
            }
            ApiError::InProgress {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, (*retry_after_secs).into());
            }
            _ => {}
        }
        response
    }
}

impl From<InvalidField> for ApiError {
    fn from(field: InvalidField) -> Self {
        ApiError::InvalidRequest(field)
    }
}

impl From<Miss> for ApiError {
    fn from(miss: Miss) -> Self {
        match miss {
            Miss::NotFound => ApiError::NotFound("no such route".into()),
            Miss::MethodNotAllowed { allow } => ApiError::MethodNotAllowed { allow },
        }
    }
}

impl From<ConfigError> for ApiError {
    fn from(_: ConfigError) -> Self {
        ApiError::Configuration
    }
}

impl From<TwilioError> for ApiError {
    fn from(err: TwilioError) -> Self {
        match err {
            TwilioError::Refused {
                status,
                code,
                message,
            } => ApiError::Twilio {
                twilio_code: code,
                twilio_status: status,
                message,
            },
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl From<IndexError> for ApiError {
    fn from(err: IndexError) -> Self {
        // The detail (table, SDK text) is for the logs, not for callers.
        tracing::error!(error = %err, "session index request failed");
        ApiError::Unavailable("the session index is unavailable; try again".into())
    }
}

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::PoolExhausted { address } => ApiError::PoolExhausted { address },
            SessionError::UniqueNameTaken => ApiError::Conflict {
                code: ErrorCode::UniqueNameTaken,
                message: "uniqueName is already used by another conversation".into(),
            },
            SessionError::IdempotencyConflict => ApiError::Conflict {
                code: ErrorCode::IdempotencyConflict,
                message: "this Idempotency-Key was used with a different request body".into(),
            },
            SessionError::IdempotencyInProgress { retry_after } => ApiError::InProgress {
                code: ErrorCode::IdempotencyInProgress,
                retry_after_secs: retry_after.as_secs().max(1),
            },
            SessionError::NotFound => ApiError::NotFound("no such session".into()),
            SessionError::NoSuchParticipant => {
                ApiError::NotFound("no such participant in this session".into())
            }
            SessionError::ParticipantExists => ApiError::Conflict {
                code: ErrorCode::ParticipantExists,
                message: "the address is already a participant of this session".into(),
            },
            SessionError::SessionFull => ApiError::Conflict {
                code: ErrorCode::SessionFull,
                message: "the session already has 50 participants (Twilio's limit)".into(),
            },
            SessionError::Closed => ApiError::Conflict {
                code: ErrorCode::SessionClosed,
                message: "the session is closed; closing is final".into(),
            },
            SessionError::NoMessaging => ApiError::Conflict {
                code: ErrorCode::MessagingNotAllowed,
                message: "the session does not have the `message` capability".into(),
            },
            SessionError::Busy => ApiError::InProgress {
                code: ErrorCode::SessionBusy,
                retry_after_secs: 1,
            },
            SessionError::Invalid(field) => ApiError::InvalidRequest(field),
            SessionError::IndexRequired => ApiError::Conflict {
                code: ErrorCode::IndexRequired,
                message: "the call log and recording need the session index, which is not configured (SESSION_INDEX_TABLE)".into(),
            },
            SessionError::Twilio(e) => e.into(),
            SessionError::Index(e) => e.into(),
            SessionError::Configuration(e) => e.into(),
        }
    }
}
