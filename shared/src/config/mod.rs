//! Typed configuration from SSM Parameter Store or the environment, cached
//! per execution environment and refreshed after a TTL so a changed pool
//! takes effect without a redeploy. Each function reads only the keys it
//! uses ([`Function::keys`]), by exact name, so its IAM role can be granted
//! those parameters and no others.

//!
//! - [`key`] (keys.rs): the key catalogue; [`Function`] (crate::function):
//!   which keys each function reads.
//! - parse.rs: [`RawConfig`] into a checked [`Config`].
//! - source.rs: [`ConfigSource`], SSM or the environment.
//! - store.rs: [`ConfigStore`], the per-environment cache.

mod intercept;
pub mod keys;
mod parse;
mod source;
mod store;
#[cfg(test)]
mod tests;

pub use crate::function::Function;
pub use intercept::{InterceptSettings, DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS};
pub use keys as key;
pub use parse::*;
pub use source::*;
pub use store::*;

use std::fmt;

use crate::domain::address::{Channel, PhoneNumber};
use crate::domain::pool::{ChoiceSettings, Pool};
use crate::domain::session::SessionDefaults;

/// The shortest operator password accepted: the API opens masked channels on
/// the operator's pool and bill, so guessing must not be practical.
pub const MIN_PASSWORD_CHARS: usize = 16;

/// A value that must never be printed: Debug and Display hide it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct TwilioCredentials {
    pub account_sid: String,
    pub auth_token: Secret,
}

/// The operator's basic-auth credentials for the session API and the page.
#[derive(Debug, Clone)]
pub struct OperatorCredentials {
    pub username: String,
    pub password: Secret,
}

#[derive(Debug, Clone, Default)]
pub struct CallSettings {
    pub voice: Option<String>,
    pub language: Option<String>,
    pub connecting_announcement: Option<String>,
    pub out_of_session_message: Option<String>,
    /// Said to a caller whose session takes messages only.
    pub message_only_message: Option<String>,
}

/// What a call or text from someone with no session on that number gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OutOfSession {
    /// A message (said, or texted back).
    #[default]
    Message,
    /// Passed on to the operator's own number, which sees the pool number.
    Forward(PhoneNumber),
    /// The operator's backend decides (it may ask for a session).
    Callback(url::Url),
}

/// What the conversation-events webhook does with a closed conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClosedConversations {
    /// Delete it: no personal data is kept once a session ends.
    #[default]
    Delete,
    /// Keep it (its history serves sticky number choice).
    Keep,
}

/// What one function needs: the sections it does not read are `None`
/// ([`Function`]), and the accessors say so if code reaches for them.
#[derive(Debug, Clone)]
pub struct Config {
    twilio: Option<TwilioCredentials>,
    pool: Option<Pool>,
    operator: Option<OperatorCredentials>,
    pub public_base_url: Option<url::Url>,
    pub call: CallSettings,
    pub session: SessionDefaults,
    pub closed_conversations: ClosedConversations,
    /// Numbers registered as WhatsApp senders; the main pool when unset.
    pub whatsapp_pool: Option<Pool>,
    pub choice: ChoiceSettings,
    /// Where session and call events go, when configured.
    pub events: Option<EventReceiver>,
    pub out_of_session: OutOfSession,
    /// Texted back to someone with no session (message mode).
    pub out_of_session_text: Option<String>,
    /// Keys the reply throttle's index items; without it the throttle is
    /// per environment only (see `handlers::inbound_message`).
    pub reply_key: Option<crate::reply_key::ReplyKey>,
    /// The operator's backend, asked about each text and call in a session.
    pub intercept: Option<InterceptSettings>,
}

/// The operator's endpoint for events, and the secret they are signed with.
#[derive(Debug, Clone)]
pub struct EventReceiver {
    pub url: url::Url,
    pub signing_secret: Secret,
}

/// The shortest event signing secret accepted: HMAC keys shorter than this
/// can be guessed.
pub const MIN_SIGNING_SECRET_CHARS: usize = 32;

impl Config {
    pub fn twilio(&self) -> Result<&TwilioCredentials, ConfigError> {
        self.twilio.as_ref().ok_or(ConfigError::NotRead {
            key: key::AUTH_TOKEN.ssm,
        })
    }

    pub fn operator(&self) -> Result<&OperatorCredentials, ConfigError> {
        self.operator.as_ref().ok_or(ConfigError::NotRead {
            key: key::PASSWORD.ssm,
        })
    }

    pub fn pool(&self) -> Result<&Pool, ConfigError> {
        self.pool.as_ref().ok_or(ConfigError::NotRead {
            key: key::NUMBER_POOL.ssm,
        })
    }

    /// The pool a participant on `channel` draws proxies from.
    pub fn pool_for(&self, channel: Channel) -> Result<&Pool, ConfigError> {
        match (channel, &self.whatsapp_pool) {
            (Channel::Whatsapp, Some(pool)) => Ok(pool),
            _ => self.pool(),
        }
    }

    /// Every number that is a proxy, never a participant.
    pub fn pools(&self) -> Vec<&Pool> {
        self.pool
            .iter()
            .chain(self.whatsapp_pool.as_ref())
            .collect()
    }
}

/// A configuration value that is missing or malformed. Names the key, never
/// the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration `{key}` is missing")]
    Missing { key: String },
    #[error("configuration `{key}` is invalid: {problem}")]
    Invalid { key: String, problem: String },
    #[error("configuration could not be loaded from SSM: {0}")]
    Source(String),
    /// A function reached for configuration it does not read: a bug, caught
    /// by the tests that run each function with only its own keys.
    #[error("configuration `{key}` is not read by this function")]
    NotRead { key: &'static str },
}
