//! The intercept's settings (`intercept/*`): where the operator's backend
//! is asked about each text and call in a session, how long it has, and
//! what a failure means.

use std::time::Duration;

use super::key;
use super::{ConfigError, RawConfig};
use crate::domain::intercept::OnError;

/// How long the backend has by default.
pub const DEFAULT_TIMEOUT_MS: u64 = 1_500;
/// The longest it may have: Twilio gives a webhook 5 s in all, and our own
/// reads and the answer need the rest.
pub const MAX_TIMEOUT_MS: u64 = 4_000;

/// Where and how the intercept asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterceptSettings {
    pub url: url::Url,
    pub timeout: Duration,
    pub on_error: OnError,
    /// Said to a blocked caller whose backend gave no `say`.
    pub blocked_call_say: Option<String>,
}

impl RawConfig {
    /// The intercept, when `intercept/url` is set. It is signed with the
    /// events' secret, so events must be configured too (`has_events`).
    pub(super) fn intercept(
        &self,
        has_events: bool,
    ) -> Result<Option<InterceptSettings>, ConfigError> {
        let Some(url) = self.optional(&key::INTERCEPT_URL) else {
            return Ok(None);
        };
        let url = crate::callback_url::parse(url, self.local)
            .map_err(|problem| self.invalid(&key::INTERCEPT_URL, problem))?;
        if !has_events {
            return Err(ConfigError::Missing {
                key: self.name(&key::EVENTS_SIGNING_SECRET),
            });
        }
        let timeout_ms = match self.optional(&key::INTERCEPT_TIMEOUT) {
            None => DEFAULT_TIMEOUT_MS,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms))
                .ok_or_else(|| {
                    self.invalid(
                        &key::INTERCEPT_TIMEOUT,
                        format!(
                            "must be a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS}"
                        ),
                    )
                })?,
        };
        let on_error = match self.optional(&key::INTERCEPT_ON_ERROR) {
            None | Some("allow") => OnError::Allow,
            Some("block") => OnError::Block,
            Some(_) => {
                return Err(self.invalid(&key::INTERCEPT_ON_ERROR, "must be `allow` or `block`"))
            }
        };
        Ok(Some(InterceptSettings {
            url,
            timeout: Duration::from_millis(timeout_ms),
            on_error,
            blocked_call_say: self
                .optional(&key::INTERCEPT_BLOCKED_CALL_SAY)
                .map(str::to_owned),
        }))
    }
}
