//! Reading a request: path segments (percent-decoded) and form or query
//! parameters, with the checks Twilio applies to the common ones.

use std::time::Duration;

use serde_json::Value;

use crate::{
    clock::parse_iso_duration,
    errors::{codes, TwilioError},
    state::{ConversationParams, ConversationState},
};

/// Decodes `%XX` escapes in a path segment (unique names may contain anything).
pub(crate) fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Form or query parameters, in order; names may repeat.
pub(crate) struct Params<'a>(pub(crate) &'a [(String, String)]);

impl Params<'_> {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn owned(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// `Attributes`, which must hold JSON when present.
    pub(crate) fn attributes(&self) -> Result<Option<String>, TwilioError> {
        match self.get("Attributes") {
            Some(text) if serde_json::from_str::<Value>(text).is_err() => {
                Err(TwilioError::bad_request(
                    codes::INVALID_ATTRIBUTES,
                    "Attributes must be a valid JSON string",
                ))
            }
            other => Ok(other.map(str::to_owned)),
        }
    }

    pub(crate) fn timer(
        &self,
        name: &str,
        minimum: Duration,
        minimum_text: &str,
    ) -> Result<Option<Duration>, TwilioError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let duration = parse_iso_duration(text).ok_or_else(|| {
            TwilioError::bad_request(
                codes::INVALID_PARAMETER,
                format!("{name} must be an ISO-8601 duration such as PT10M, got {text}"),
            )
        })?;
        if duration < minimum {
            return Err(TwilioError::bad_request(
                codes::INVALID_PARAMETER,
                format!("{name} must be at least {minimum_text}, got {text}"),
            ));
        }
        Ok(Some(duration))
    }

    pub(crate) fn conversation_params(&self) -> Result<ConversationParams, TwilioError> {
        let state = match self.get("State") {
            Some(text) => Some(ConversationState::parse(text).ok_or_else(|| {
                TwilioError::bad_request(
                    codes::INVALID_PARAMETER,
                    format!(
                        "State must be one of initializing, inactive, active, closed; got {text}"
                    ),
                )
            })?),
            None => None,
        };
        Ok(ConversationParams {
            friendly_name: self.owned("FriendlyName"),
            // An empty UniqueName means none, rather than the name "".
            unique_name: self.owned("UniqueName").filter(|s| !s.is_empty()),
            attributes: self.attributes()?,
            messaging_service_sid: self.owned("MessagingServiceSid"),
            state,
            timers_inactive: self.timer(
                "Timers.Inactive",
                Duration::from_secs(60),
                "1 minute (PT1M)",
            )?,
            timers_closed: self.timer(
                "Timers.Closed",
                Duration::from_secs(600),
                "10 minutes (PT10M)",
            )?,
        })
    }
}
