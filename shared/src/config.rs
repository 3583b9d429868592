//! Typed configuration from SSM Parameter Store or the environment, cached
//! per execution environment and refreshed after a TTL so a changed pool
//! takes effect without a redeploy. Each function reads only the keys it
//! uses ([`Function::keys`]), by exact name, so its IAM role can be granted
//! those parameters and no others.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::domain::address::{Channel, PhoneNumber};
use crate::domain::duration::SessionTimer;
use crate::domain::geo::GeoMatch;
use crate::domain::pool::{ChoiceSettings, Pool, Sticky};
use crate::domain::session::SessionDefaults;
use crate::domain::sid::{Sid, SidKind};

/// Configuration keys: the SSM name below the prefix and the environment
/// variable the original app used.
pub mod key {
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

    /// Misspellings the original app read (and its users may still set).
    pub const ENV_ALIASES: [(&str, &Key); 3] = [
        ("CALL_ANNOUCEMENT_VOICE", &CALL_VOICE),
        ("CALL_ANNOUCEMENT_LANGUAGE", &CALL_LANGUAGE),
        ("CONNECTING_CALL_ANNOUCEMENT", &CONNECTING_ANNOUNCEMENT),
    ];

    pub const ALL: [&Key; 23] = [
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
    ];
}

use key::Key;

/// The functions, by what configuration each one reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Sessions,
    InboundCall,
    ConversationEvents,
    LandingPage,
}

impl Function {
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
                // What a session created at the callback's word needs.
                &NUMBER_POOL,
                &WHATSAPP_POOL,
                &INACTIVE_TIMER,
                &CLOSED_TIMER,
                &GEO_MATCH,
                &STICKY,
            ],
            Function::ConversationEvents => &[
                &PUBLIC_BASE_URL,
                &CLOSED_CONVERSATIONS,
                &EVENTS_URL,
                &EVENTS_SIGNING_SECRET,
            ],
            Function::LandingPage => &[&WHATSAPP_POOL],
        }
    }

    /// Every key this function reads.
    pub fn keys(self) -> impl Iterator<Item = &'static Key> {
        self.required().iter().chain(self.optional()).copied()
    }
}

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

/// Raw values by SSM key name, whichever source they came from.
#[derive(Debug, Default, Clone)]
pub struct RawConfig {
    values: HashMap<String, String>,
    /// How the source names keys, for error messages.
    naming: Naming,
}

#[derive(Debug, Default, Clone, Copy)]
enum Naming {
    #[default]
    Ssm,
    Env,
}

impl RawConfig {
    /// Values keyed by their SSM names relative to the prefix.
    pub fn from_ssm(values: HashMap<String, String>) -> Self {
        RawConfig {
            values,
            naming: Naming::Ssm,
        }
    }

    /// Values from environment variables (the original app's names).
    /// The correct name wins over a misspelt one from the original app
    /// ([`key::ENV_ALIASES`]), which is read with a warning naming it.
    pub fn from_env_vars(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let values = key::ALL
            .iter()
            .filter_map(|k| {
                let value = lookup(k.env).or_else(|| {
                    let (alias, _) = key::ENV_ALIASES
                        .iter()
                        .find(|(_, real)| real.env == k.env)?;
                    let value = lookup(alias)?;
                    tracing::warn!(
                        alias,
                        correct = k.env,
                        "configuration read from a misspelt variable name; rename it"
                    );
                    Some(value)
                })?;
                Some((k.ssm.to_owned(), value))
            })
            .collect();
        RawConfig {
            values,
            naming: Naming::Env,
        }
    }

    fn name(&self, key: &Key) -> String {
        match self.naming {
            Naming::Ssm => key.ssm.to_owned(),
            Naming::Env => key.env.to_owned(),
        }
    }

    fn optional(&self, key: &Key) -> Option<&str> {
        self.values
            .get(key.ssm)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, key: &Key) -> Result<&str, ConfigError> {
        self.optional(key).ok_or_else(|| ConfigError::Missing {
            key: self.name(key),
        })
    }

    fn invalid(&self, key: &Key, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: self.name(key),
            problem: problem.into(),
        }
    }

    /// Fails naming the first of `keys` that is missing (as this source names
    /// it), for a reader that needs more than a function requires.
    pub fn require(&self, keys: &[&Key]) -> Result<(), ConfigError> {
        keys.iter().try_for_each(|key| self.required(key).map(drop))
    }

    /// The configuration `function` reads: its required keys must be present,
    /// and keys it does not read are ignored even when present.
    pub fn parse_for(&self, function: Function) -> Result<Config, ConfigError> {
        let own = RawConfig {
            values: function
                .keys()
                .filter_map(|k| Some((k.ssm.to_owned(), self.values.get(k.ssm)?.clone())))
                .collect(),
            naming: self.naming,
        };
        for key in function.required() {
            own.required(key)?;
        }
        own.parse_present()
    }

    /// Every key, for tests and benchmarks that play all the functions.
    pub fn parse(&self) -> Result<Config, ConfigError> {
        for key in [
            &key::ACCOUNT_SID,
            &key::AUTH_TOKEN,
            &key::NUMBER_POOL,
            &key::USERNAME,
            &key::PASSWORD,
        ] {
            self.required(key)?;
        }
        self.parse_present()
    }

    /// Parses what is there; a section whose keys are absent stays `None`.
    fn parse_present(&self) -> Result<Config, ConfigError> {
        let twilio = match self.optional(&key::ACCOUNT_SID) {
            None => None,
            Some(account_sid) => {
                if Sid::parse(account_sid, SidKind::Account).is_none() {
                    return Err(
                        self.invalid(&key::ACCOUNT_SID, "must be AC followed by 32 hex digits")
                    );
                }
                Some(TwilioCredentials {
                    account_sid: account_sid.to_owned(),
                    auth_token: Secret::new(self.required(&key::AUTH_TOKEN)?),
                })
            }
        };
        let pool = match self.optional(&key::NUMBER_POOL) {
            Some(_) => Some(self.pool(&key::NUMBER_POOL)?),
            None => None,
        };
        let whatsapp_pool = match self.optional(&key::WHATSAPP_POOL) {
            Some(_) => Some(self.pool(&key::WHATSAPP_POOL)?),
            None => None,
        };
        let choice = ChoiceSettings {
            geo: match self.optional(&key::GEO_MATCH) {
                None | Some("area-code") => GeoMatch::AreaCode,
                Some("country") => GeoMatch::Country,
                Some("off") => GeoMatch::Off,
                Some(_) => {
                    return Err(
                        self.invalid(&key::GEO_MATCH, "must be `area-code`, `country` or `off`")
                    )
                }
            },
            sticky: match self.optional(&key::STICKY) {
                None | Some("prefer") => Sticky::Prefer,
                Some("avoid") => Sticky::Avoid,
                Some(_) => return Err(self.invalid(&key::STICKY, "must be `prefer` or `avoid`")),
            },
        };
        let operator = match self.optional(&key::USERNAME) {
            None => None,
            Some(username) => {
                let password = self.required(&key::PASSWORD)?;
                if password.chars().count() < MIN_PASSWORD_CHARS {
                    return Err(self.invalid(
                        &key::PASSWORD,
                        format!("must be at least {MIN_PASSWORD_CHARS} characters"),
                    ));
                }
                Some(OperatorCredentials {
                    username: username.to_owned(),
                    password: Secret::new(password),
                })
            }
        };
        let public_base_url = self
            .optional(&key::PUBLIC_BASE_URL)
            .map(|text| match url::Url::parse(text) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
                _ => Err(self.invalid(&key::PUBLIC_BASE_URL, "must be an absolute http(s) URL")),
            })
            .transpose()?;
        let owned = |k: &Key| self.optional(k).map(str::to_owned);
        let session = SessionDefaults {
            inactive_timer: self.timer(&key::INACTIVE_TIMER, SessionTimer::inactive)?,
            // Every session gets a closed timer, so Twilio ends it and its
            // data goes (no session is kept open for good).
            closed_timer: Some(
                self.timer(&key::CLOSED_TIMER, SessionTimer::closed)?
                    .unwrap_or_else(default_closed_timer),
            ),
        };
        let events = match (
            self.optional(&key::EVENTS_URL),
            self.optional(&key::EVENTS_SIGNING_SECRET),
        ) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    key: self.name(&key::EVENTS_SIGNING_SECRET),
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    key: self.name(&key::EVENTS_URL),
                })
            }
            (Some(url), Some(secret)) => {
                let url = url::Url::parse(url)
                    .ok()
                    .filter(|u| u.scheme() == "https" || is_loopback_http(u))
                    .ok_or_else(|| {
                        self.invalid(
                            &key::EVENTS_URL,
                            "must be an https URL (http only for this machine)",
                        )
                    })?;
                if secret.chars().count() < MIN_SIGNING_SECRET_CHARS {
                    return Err(self.invalid(
                        &key::EVENTS_SIGNING_SECRET,
                        format!("must be at least {MIN_SIGNING_SECRET_CHARS} characters"),
                    ));
                }
                Some(EventReceiver {
                    url,
                    signing_secret: Secret::new(secret),
                })
            }
        };
        let out_of_session = match self.optional(&key::OUT_OF_SESSION_MODE) {
            None | Some("message") => OutOfSession::Message,
            Some("forward") => {
                let number = self.required(&key::OUT_OF_SESSION_FORWARD_TO)?;
                let number = PhoneNumber::parse(number)
                    .map_err(|e| self.invalid(&key::OUT_OF_SESSION_FORWARD_TO, e.to_string()))?;
                if pool
                    .iter()
                    .chain(&whatsapp_pool)
                    .any(|p| p.contains(&number))
                {
                    // A call forwarded to a pool number would come back here.
                    return Err(self.invalid(
                        &key::OUT_OF_SESSION_FORWARD_TO,
                        "is a pool number; it must be a number outside the pool",
                    ));
                }
                OutOfSession::Forward(number)
            }
            Some("callback") => {
                let url = self.required(&key::OUT_OF_SESSION_CALLBACK_URL)?;
                let url = url::Url::parse(url)
                    .ok()
                    .filter(|u| u.scheme() == "https" || is_loopback_http(u))
                    .ok_or_else(|| {
                        self.invalid(
                            &key::OUT_OF_SESSION_CALLBACK_URL,
                            "must be an https URL (http only for this machine)",
                        )
                    })?;
                if events.is_none() {
                    // The callback is signed with the events' secret.
                    return Err(ConfigError::Missing {
                        key: self.name(&key::EVENTS_SIGNING_SECRET),
                    });
                }
                OutOfSession::Callback(url)
            }
            Some(_) => {
                return Err(self.invalid(
                    &key::OUT_OF_SESSION_MODE,
                    "must be `message`, `forward` or `callback`",
                ))
            }
        };
        let closed_conversations = match self.optional(&key::CLOSED_CONVERSATIONS) {
            None | Some("delete") => ClosedConversations::Delete,
            Some("keep") => ClosedConversations::Keep,
            Some(_) => {
                return Err(self.invalid(&key::CLOSED_CONVERSATIONS, "must be `delete` or `keep`"))
            }
        };
        Ok(Config {
            twilio,
            pool,
            operator,
            public_base_url,
            call: CallSettings {
                voice: owned(&key::CALL_VOICE),
                language: owned(&key::CALL_LANGUAGE),
                connecting_announcement: owned(&key::CONNECTING_ANNOUNCEMENT),
                out_of_session_message: owned(&key::OUT_OF_SESSION_MESSAGE),
                message_only_message: owned(&key::MESSAGE_ONLY_MESSAGE),
            },
            session,
            closed_conversations,
            whatsapp_pool,
            choice,
            events,
            out_of_session,
            out_of_session_text: owned(&key::OUT_OF_SESSION_TEXT),
        })
    }

    /// A JSON array or a comma-separated list (SSM's StringList).
    fn pool(&self, key: &Key) -> Result<Pool, ConfigError> {
        let text = self.required(key)?;
        let numbers: Vec<String> = if text.starts_with('[') {
            serde_json::from_str(text)
                .map_err(|_| self.invalid(key, "is not a JSON array of strings"))?
        } else {
            text.split(',').map(str::to_owned).collect()
        };
        Pool::new(numbers).map_err(|e| self.invalid(key, e.to_string()))
    }

    fn timer(
        &self,
        key: &Key,
        parse: fn(&str) -> Result<SessionTimer, crate::domain::duration::TimerError>,
    ) -> Result<Option<SessionTimer>, ConfigError> {
        self.optional(key)
            .map(|t| parse(t).map_err(|e| self.invalid(key, e.to_string())))
            .transpose()
    }
}

/// The closed timer of a session whose request and configuration name
/// none (`session/closed-timer` unset).
pub const DEFAULT_CLOSED_TIMER: &str = "P30D";

fn default_closed_timer() -> SessionTimer {
    SessionTimer::closed(DEFAULT_CLOSED_TIMER).expect("the default closed timer is valid")
}

/// Plain http to this machine (a local emulator, mock or `make dev`).
pub fn is_loopback_http(url: &url::Url) -> bool {
    url.scheme() == "http"
        && match url.host() {
            Some(url::Host::Domain(name)) => name == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
}

/// Where configuration comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// `GetParameters` for the function's keys under a prefix such as
    /// `/masked-comms/prod`.
    Ssm {
        client: aws_sdk_ssm::Client,
        prefix: String,
        function: Function,
    },
    /// The process environment.
    Env,
    /// Values given in code (tests and benchmarks of the store itself).
    Values(RawConfig),
}

/// `GetParameters` takes at most this many names per request; more go in
/// batches, all at once (one round trip).
pub const SSM_NAMES_PER_REQUEST: usize = 10;

impl ConfigSource {
    /// SSM when `SSM_PARAMETER_PREFIX` is set (and the AWS configuration
    /// loaded), otherwise the environment.
    pub fn from_env(function: Function, aws: Option<&aws_config::SdkConfig>) -> Self {
        match (std::env::var("SSM_PARAMETER_PREFIX"), aws) {
            (Ok(prefix), Some(aws)) if !prefix.trim().is_empty() => ConfigSource::Ssm {
                client: aws_sdk_ssm::Client::new(aws),
                prefix: prefix.trim().trim_end_matches('/').to_owned(),
                function,
            },
            _ => ConfigSource::Env,
        }
    }

    pub async fn load(&self) -> Result<RawConfig, ConfigError> {
        match self {
            ConfigSource::Env => Ok(RawConfig::from_env_vars(|name| std::env::var(name).ok())),
            ConfigSource::Values(raw) => Ok(raw.clone()),
            ConfigSource::Ssm {
                client,
                prefix,
                function,
            } => load_ssm(client, prefix, *function).await,
        }
    }
}

/// Reads the function's keys by exact name, in as few requests as SSM allows
/// (one for most functions), all at once. Absent optional keys come back as
/// "invalid parameters", which is not an error.
async fn load_ssm(
    client: &aws_sdk_ssm::Client,
    prefix: &str,
    function: Function,
) -> Result<RawConfig, ConfigError> {
    let names: Vec<String> = function
        .keys()
        .map(|k| format!("{prefix}/{}", k.ssm))
        .collect();
    let requests = names.chunks(SSM_NAMES_PER_REQUEST).map(|chunk| {
        client
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .with_decryption(true)
            .send()
    });
    let mut values = HashMap::new();
    let strip = format!("{prefix}/");
    for answer in futures_util::future::join_all(requests).await {
        let answer = answer.map_err(|e| {
            ConfigError::Source(aws_sdk_ssm::error::DisplayErrorContext(e).to_string())
        })?;
        for parameter in answer.parameters.unwrap_or_default() {
            if let (Some(name), Some(value)) = (parameter.name, parameter.value) {
                if let Some(relative) = name.strip_prefix(&strip) {
                    values.insert(relative.to_owned(), value);
                }
            }
        }
    }
    Ok(RawConfig::from_ssm(values))
}

/// How long a failed first load is remembered: requests meanwhile get the
/// same answer without another SSM read, so a broken configuration costs
/// nothing per request (or per guessed password).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// The current configuration, loaded on first use and refreshed after `ttl`.
/// A failed refresh keeps serving the last good configuration.
pub struct ConfigStore {
    source: ConfigSource,
    function: Option<Function>,
    ttl: Duration,
    cached: Mutex<Cached>,
    loads: AtomicUsize,
}

enum Cached {
    Nothing,
    Good(Instant, Arc<Config>),
    Failed(Instant, ConfigError),
}

impl ConfigStore {
    /// The configuration `function` reads, from `source`.
    pub fn new(source: ConfigSource, function: Function, ttl: Duration) -> Self {
        ConfigStore {
            source,
            function: Some(function),
            ttl,
            cached: Mutex::new(Cached::Nothing),
            loads: AtomicUsize::new(0),
        }
    }

    /// TTL from `CONFIG_TTL_SECONDS` (default 300).
    pub fn ttl_from_env() -> Duration {
        let seconds = std::env::var("CONFIG_TTL_SECONDS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(300);
        Duration::from_secs(seconds)
    }

    /// A store that always serves `config` (tests and benchmarks).
    pub fn fixed(config: Config) -> Self {
        ConfigStore {
            source: ConfigSource::Env,
            function: None,
            ttl: Duration::MAX,
            cached: Mutex::new(Cached::Good(Instant::now(), Arc::new(config))),
            loads: AtomicUsize::new(0),
        }
    }

    /// How many times the source was read.
    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::Relaxed)
    }

    pub async fn current(&self) -> Result<Arc<Config>, ConfigError> {
        let mut cached = self.cached.lock().await;
        match &*cached {
            Cached::Good(loaded, config) if loaded.elapsed() < self.ttl => {
                return Ok(config.clone())
            }
            Cached::Failed(when, err) if when.elapsed() < RETRY_AFTER_FAILURE => {
                return Err(err.clone())
            }
            _ => {}
        }
        self.loads.fetch_add(1, Ordering::Relaxed);
        let loaded = self
            .source
            .load()
            .await
            .and_then(|raw| match self.function {
                Some(function) => raw.parse_for(function),
                None => raw.parse(),
            });
        match loaded {
            Ok(config) => {
                let config = Arc::new(config);
                *cached = Cached::Good(Instant::now(), config.clone());
                Ok(config)
            }
            Err(err) => match &mut *cached {
                Cached::Good(loaded, config) => {
                    tracing::warn!(error = %err, "configuration refresh failed; keeping the last good configuration");
                    // Try again after another TTL rather than on every request.
                    *loaded = Instant::now();
                    Ok(config.clone())
                }
                _ => {
                    tracing::error!(error = %err, "configuration is not usable; requests answer 503 until it is fixed");
                    *cached = Cached::Failed(Instant::now(), err.clone());
                    Err(err)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const SID: &str = "AC00000000000000000000000000000000";

    fn raw(pairs: &[(&str, &str)]) -> RawConfig {
        RawConfig::from_ssm(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn complete() -> Vec<(&'static str, &'static str)> {
        vec![
            ("twilio/account-sid", SID),
            ("twilio/auth-token", "token-value"),
            ("number-pool", "+15005550002,+15005550001"),
            ("auth/username", "operator"),
            ("auth/password", "password-value-long-enough"),
        ]
    }

    #[test]
    fn parses_a_complete_configuration() {
        let config = raw(&complete()).parse().unwrap();
        assert_eq!(config.twilio().unwrap().account_sid, SID);
        assert_eq!(config.pool().unwrap().len(), 2);
        assert_eq!(config.pool().unwrap().numbers()[0].as_str(), "+15005550001");
        assert!(config.public_base_url.is_none());
    }

    #[test]
    fn pool_may_be_a_json_array() {
        let mut pairs = complete();
        pairs[2] = ("number-pool", r#"["+15005550009", "+15005550008"]"#);
        assert_eq!(raw(&pairs).parse().unwrap().pool().unwrap().len(), 2);
    }

    #[test]
    fn missing_and_invalid_values_name_the_key_but_not_the_value() {
        for drop in 0..5 {
            let mut pairs = complete();
            let (key, _) = pairs.remove(drop);
            assert_eq!(
                raw(&pairs).parse().unwrap_err(),
                ConfigError::Missing { key: key.into() }
            );
        }
        let mut pairs = complete();
        pairs[0] = ("twilio/account-sid", "ACsecretish");
        let err = raw(&pairs).parse().unwrap_err().to_string();
        assert!(
            err.contains("twilio/account-sid") && !err.contains("ACsecretish"),
            "{err}"
        );

        let mut pairs = complete();
        pairs.push(("session/closed-timer", "PT1M"));
        let err = raw(&pairs).parse().unwrap_err().to_string();
        assert!(
            err.contains("session/closed-timer") && err.contains("10 minutes"),
            "{err}"
        );

        let mut pairs = complete();
        pairs[2] = ("number-pool", "+15005550001,5005550002");
        let err = raw(&pairs).parse().unwrap_err().to_string();
        assert!(
            err.contains("number-pool") && err.contains("entry 2"),
            "{err}"
        );
    }

    #[test]
    fn environment_uses_the_original_apps_names() {
        let env: HashMap<&str, &str> = [
            ("TWILIO_ACCOUNT_SID", SID),
            ("TWILIO_AUTH_TOKEN", "t"),
            ("NUMBER_POOL", r#"["+15005550001"]"#),
            ("AUTH_USERNAME", "u"),
            ("CONNECTING_CALL_ANNOUNCEMENT", "Connecting you"),
        ]
        .into_iter()
        .collect();
        let raw = RawConfig::from_env_vars(|name| env.get(name).map(|v| v.to_string()));
        assert_eq!(
            raw.parse().unwrap_err(),
            ConfigError::Missing {
                key: "AUTH_PASSWORD".into()
            }
        );
    }

    #[test]
    fn each_function_reads_only_its_own_keys() {
        // The page needs no Twilio credentials at all.
        let page_only: Vec<_> = complete()
            .into_iter()
            .filter(|(k, _)| k.starts_with("auth/") || *k == "number-pool")
            .collect();
        let config = raw(&page_only).parse_for(Function::LandingPage).unwrap();
        assert!(config.operator().is_ok() && config.pool().is_ok());
        assert_eq!(
            config.twilio().unwrap_err(),
            ConfigError::NotRead {
                key: "twilio/auth-token"
            }
        );
        // A key a function does not read is ignored, even when present and broken.
        let mut pairs = complete();
        pairs.push(("call/voice", "Polly.Amy"));
        pairs.push(("session/closed-timer", "not a timer"));
        let events = raw(&pairs).parse_for(Function::ConversationEvents).unwrap();
        assert!(events.operator().is_err() && events.pool().is_err());
        assert!(events.call.voice.is_none());
        assert!(raw(&pairs).parse_for(Function::Sessions).is_err());
        for function in [
            Function::Sessions,
            Function::InboundCall,
            Function::ConversationEvents,
        ] {
            assert!(raw(&complete())
                .parse_for(function)
                .unwrap()
                .twilio()
                .is_ok());
        }
    }

    #[test]
    fn a_short_password_is_refused_naming_the_key_not_the_value() {
        let mut pairs = complete();
        pairs[4] = ("auth/password", "hunter2-hunter2");
        let err = raw(&pairs).parse().unwrap_err().to_string();
        assert!(
            err.contains("auth/password") && err.contains("16 characters"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn each_function_is_named_after_its_binary_directory() {
        let functions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
        for function in [
            Function::Sessions,
            Function::InboundCall,
            Function::ConversationEvents,
            Function::LandingPage,
        ] {
            let manifest = functions.join(function.binary()).join("Cargo.toml");
            let text = std::fs::read_to_string(&manifest).expect("the function's Cargo.toml");
            assert!(
                text.contains(&format!("name = \"{}\"", function.binary())),
                "{manifest:?}"
            );
        }
    }

    #[test]
    fn key_lists_fit_what_the_functions_need() {
        for function in [
            Function::Sessions,
            Function::InboundCall,
            Function::ConversationEvents,
            Function::LandingPage,
        ] {
            let keys: Vec<&str> = function.keys().map(|k| k.ssm).collect();
            let mut unique = keys.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), keys.len(), "{function:?} lists a key twice");
            assert!(keys.iter().all(|k| key::ALL.iter().any(|a| a.ssm == *k)));
        }
        let page: Vec<&str> = Function::LandingPage.keys().map(|k| k.ssm).collect();
        assert!(!page.contains(&"twilio/auth-token"));
    }

    #[test]
    fn the_original_apps_misspelt_names_are_read_and_lose_to_the_right_ones() {
        let base: HashMap<&str, &str> = [
            ("TWILIO_ACCOUNT_SID", SID),
            ("TWILIO_AUTH_TOKEN", "t"),
            ("CALL_ANNOUCEMENT_VOICE", "Polly.Amy"),
            ("CONNECTING_CALL_ANNOUCEMENT", "Hold on"),
            ("CONNECTING_CALL_ANNOUNCEMENT", "Connecting you"),
        ]
        .into_iter()
        .collect();
        let raw = RawConfig::from_env_vars(|name| base.get(name).map(|v| v.to_string()));
        let config = raw.parse_for(Function::InboundCall).unwrap();
        assert_eq!(config.call.voice.as_deref(), Some("Polly.Amy"));
        assert_eq!(
            config.call.connecting_announcement.as_deref(),
            Some("Connecting you")
        );
        assert!(config.call.language.is_none());
    }

    #[test]
    fn secrets_do_not_print() {
        let config = raw(&complete()).parse().unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("token-value") && !debug.contains("password-value"));
    }
}
