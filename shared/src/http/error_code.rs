//! The stable `code` of every API error answer: what clients match on, so a
//! code, once published, keeps its spelling. The OpenAPI document lists the
//! same set (`ErrorCode`); the facts file carries it there (`crate::facts`).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    UnsupportedMediaType,
    Unauthorized,
    CrossSiteRequest,
    NotFound,
    MethodNotAllowed,
    PoolExhausted,
    UniqueNameTaken,
    IdempotencyConflict,
    IdempotencyInProgress,
    ParticipantExists,
    SessionFull,
    SessionClosed,
    MessagingNotAllowed,
    SessionBusy,
    IndexRequired,
    PayloadTooLarge,
    TwilioError,
    UpstreamUnavailable,
    ConfigurationError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::InvalidRequest,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::PoolExhausted,
        ErrorCode::UniqueNameTaken,
        ErrorCode::IdempotencyConflict,
        ErrorCode::IdempotencyInProgress,
        ErrorCode::ParticipantExists,
        ErrorCode::SessionFull,
        ErrorCode::SessionClosed,
        ErrorCode::MessagingNotAllowed,
        ErrorCode::SessionBusy,
        ErrorCode::IndexRequired,
        ErrorCode::PayloadTooLarge,
        ErrorCode::TwilioError,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::ConfigurationError,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::CrossSiteRequest => "cross_site_request",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PoolExhausted => "pool_exhausted",
            ErrorCode::UniqueNameTaken => "unique_name_taken",
            ErrorCode::IdempotencyConflict => "idempotency_conflict",
            ErrorCode::IdempotencyInProgress => "idempotency_in_progress",
            ErrorCode::ParticipantExists => "participant_exists",
            ErrorCode::SessionFull => "session_full",
            ErrorCode::SessionClosed => "session_closed",
            ErrorCode::MessagingNotAllowed => "messaging_not_allowed",
            ErrorCode::SessionBusy => "session_busy",
            ErrorCode::IndexRequired => "index_required",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::TwilioError => "twilio_error",
            ErrorCode::UpstreamUnavailable => "upstream_unavailable",
            ErrorCode::ConfigurationError => "configuration_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` is every variant once, and serde spells each as `as_str` does
    /// (the facts file uses serde, the answers `as_str`).
    #[test]
    fn all_lists_each_code_once_as_the_answers_spell_it() {
        let spelled: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        let mut unique = spelled.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
