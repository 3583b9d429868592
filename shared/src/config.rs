//! Typed configuration from SSM Parameter Store (by path) or the environment,
//! cached per execution environment and refreshed after a TTL so a changed
//! pool takes effect without a redeploy.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::domain::address::Channel;
use crate::domain::duration::SessionTimer;
use crate::domain::geo::GeoMatch;
use crate::domain::pool::{ChoiceSettings, Pool, Sticky};
use crate::domain::session::{is_sid, SessionDefaults};

/// Configuration keys: the SSM name below the prefix and the environment
/// variable the original app used.
pub mod key {
    pub struct Key {
        pub ssm: &'static str,
        pub env: &'static str,
    }

    pub const ACCOUNT_SID: Key = Key {
        ssm: "twilio/account-sid",
        env: "TWILIO_ACCOUNT_SID",
    };
    pub const AUTH_TOKEN: Key = Key {
        ssm: "twilio/auth-token",
        env: "TWILIO_AUTH_TOKEN",
    };
    pub const NUMBER_POOL: Key = Key {
        ssm: "number-pool",
        env: "NUMBER_POOL",
    };
    pub const USERNAME: Key = Key {
        ssm: "auth/username",
        env: "AUTH_USERNAME",
    };
    pub const PASSWORD: Key = Key {
        ssm: "auth/password",
        env: "AUTH_PASSWORD",
    };
    pub const PUBLIC_BASE_URL: Key = Key {
        ssm: "public-base-url",
        env: "PUBLIC_BASE_URL",
    };
    pub const CALL_VOICE: Key = Key {
        ssm: "call/voice",
        env: "CALL_ANNOUNCEMENT_VOICE",
    };
    pub const CALL_LANGUAGE: Key = Key {
        ssm: "call/language",
        env: "CALL_ANNOUNCEMENT_LANGUAGE",
    };
    pub const CONNECTING_ANNOUNCEMENT: Key = Key {
        ssm: "call/connecting-announcement",
        env: "CONNECTING_CALL_ANNOUNCEMENT",
    };
    pub const OUT_OF_SESSION_MESSAGE: Key = Key {
        ssm: "call/out-of-session-message",
        env: "OUT_OF_SESSION_MESSAGE_FOR_CALL",
    };
    pub const INACTIVE_TIMER: Key = Key {
        ssm: "session/inactive-timer",
        env: "SESSION_INACTIVE_TIMER",
    };
    pub const CLOSED_TIMER: Key = Key {
        ssm: "session/closed-timer",
        env: "SESSION_CLOSED_TIMER",
    };
    pub const CLOSED_CONVERSATIONS: Key = Key {
        ssm: "closed-conversations",
        env: "CLOSED_CONVERSATIONS",
    };
    pub const GEO_MATCH: Key = Key {
        ssm: "number-selection/geo-match",
        env: "NUMBER_SELECTION_GEO_MATCH",
    };
    pub const STICKY: Key = Key {
        ssm: "number-selection/sticky",
        env: "NUMBER_SELECTION_STICKY",
    };
    pub const WHATSAPP_POOL: Key = Key {
        ssm: "whatsapp-pool",
        env: "WHATSAPP_POOL",
    };

    pub const ALL: [&Key; 16] = [
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
        &INACTIVE_TIMER,
        &CLOSED_TIMER,
        &CLOSED_CONVERSATIONS,
        &GEO_MATCH,
        &STICKY,
        &WHATSAPP_POOL,
    ];
}

use key::Key;

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

#[derive(Debug, Clone)]
pub struct Config {
    pub twilio: TwilioCredentials,
    pub pool: Pool,
    pub operator: OperatorCredentials,
    pub public_base_url: Option<url::Url>,
    pub call: CallSettings,
    pub session: SessionDefaults,
    pub closed_conversations: ClosedConversations,
    /// Numbers registered as WhatsApp senders; the main pool when unset.
    pub whatsapp_pool: Option<Pool>,
    pub choice: ChoiceSettings,
}

impl Config {
    /// The pool a participant on `channel` draws proxies from.
    pub fn pool_for(&self, channel: Channel) -> &Pool {
        match (channel, &self.whatsapp_pool) {
            (Channel::Whatsapp, Some(pool)) => pool,
            _ => &self.pool,
        }
    }

    /// Every number that is a proxy, never a participant.
    pub fn pools(&self) -> Vec<&Pool> {
        std::iter::once(&self.pool)
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
    pub fn from_env_vars(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let values = key::ALL
            .iter()
            .filter_map(|k| lookup(k.env).map(|v| (k.ssm.to_owned(), v)))
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

    pub fn parse(&self) -> Result<Config, ConfigError> {
        let account_sid = self.required(&key::ACCOUNT_SID)?;
        if !is_sid(account_sid, "AC") {
            return Err(self.invalid(&key::ACCOUNT_SID, "must be AC followed by 32 hex digits"));
        }
        let auth_token = self.required(&key::AUTH_TOKEN)?;
        let pool = self.pool(&key::NUMBER_POOL)?;
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
        let username = self.required(&key::USERNAME)?;
        let password = self.required(&key::PASSWORD)?;
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
            closed_timer: self.timer(&key::CLOSED_TIMER, SessionTimer::closed)?,
        };
        let closed_conversations = match self.optional(&key::CLOSED_CONVERSATIONS) {
            None | Some("delete") => ClosedConversations::Delete,
            Some("keep") => ClosedConversations::Keep,
            Some(_) => {
                return Err(self.invalid(&key::CLOSED_CONVERSATIONS, "must be `delete` or `keep`"))
            }
        };
        Ok(Config {
            twilio: TwilioCredentials {
                account_sid: account_sid.to_owned(),
                auth_token: Secret::new(auth_token),
            },
            pool,
            operator: OperatorCredentials {
                username: username.to_owned(),
                password: Secret::new(password),
            },
            public_base_url,
            call: CallSettings {
                voice: owned(&key::CALL_VOICE),
                language: owned(&key::CALL_LANGUAGE),
                connecting_announcement: owned(&key::CONNECTING_ANNOUNCEMENT),
                out_of_session_message: owned(&key::OUT_OF_SESSION_MESSAGE),
            },
            session,
            closed_conversations,
            whatsapp_pool,
            choice,
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

/// Where configuration comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// `GetParametersByPath` under a prefix such as `/masked-comms/prod`.
    Ssm {
        client: aws_sdk_ssm::Client,
        prefix: String,
    },
    /// The process environment.
    Env,
}

impl ConfigSource {
    /// SSM when `SSM_PARAMETER_PREFIX` is set, otherwise the environment.
    pub async fn from_env() -> Self {
        match std::env::var("SSM_PARAMETER_PREFIX") {
            Ok(prefix) if !prefix.trim().is_empty() => {
                let aws = aws_config::load_from_env().await;
                ConfigSource::Ssm {
                    client: aws_sdk_ssm::Client::new(&aws),
                    prefix: prefix.trim().trim_end_matches('/').to_owned(),
                }
            }
            _ => ConfigSource::Env,
        }
    }

    pub async fn load(&self) -> Result<RawConfig, ConfigError> {
        match self {
            ConfigSource::Env => Ok(RawConfig::from_env_vars(|name| std::env::var(name).ok())),
            ConfigSource::Ssm { client, prefix } => load_ssm(client, prefix).await,
        }
    }
}

async fn load_ssm(client: &aws_sdk_ssm::Client, prefix: &str) -> Result<RawConfig, ConfigError> {
    let mut pages = client
        .get_parameters_by_path()
        .path(prefix)
        .recursive(true)
        .with_decryption(true)
        .into_paginator()
        .send();
    let mut values = HashMap::new();
    let strip = format!("{prefix}/");
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            ConfigError::Source(aws_sdk_ssm::error::DisplayErrorContext(e).to_string())
        })?;
        for parameter in page.parameters.unwrap_or_default() {
            if let (Some(name), Some(value)) = (parameter.name, parameter.value) {
                if let Some(relative) = name.strip_prefix(&strip) {
                    values.insert(relative.to_owned(), value);
                }
            }
        }
    }
    Ok(RawConfig::from_ssm(values))
}

/// The current configuration, loaded on first use and refreshed after `ttl`.
/// A failed refresh keeps serving the last good configuration.
pub struct ConfigStore {
    source: ConfigSource,
    ttl: Duration,
    cached: Mutex<Option<(Instant, Arc<Config>)>>,
}

impl ConfigStore {
    pub fn new(source: ConfigSource, ttl: Duration) -> Self {
        ConfigStore {
            source,
            ttl,
            cached: Mutex::new(None),
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
            ttl: Duration::MAX,
            cached: Mutex::new(Some((Instant::now(), Arc::new(config)))),
        }
    }

    pub async fn current(&self) -> Result<Arc<Config>, ConfigError> {
        let mut cached = self.cached.lock().await;
        if let Some((loaded, config)) = cached.as_ref() {
            if loaded.elapsed() < self.ttl {
                return Ok(config.clone());
            }
        }
        match self.source.load().await.and_then(|raw| raw.parse()) {
            Ok(config) => {
                let config = Arc::new(config);
                *cached = Some((Instant::now(), config.clone()));
                Ok(config)
            }
            Err(err) => match cached.as_mut() {
                Some((loaded, config)) => {
                    tracing::warn!(error = %err, "configuration refresh failed; keeping the last good configuration");
                    // Try again after another TTL rather than on every request.
                    *loaded = Instant::now();
                    Ok(config.clone())
                }
                None => Err(err),
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
            ("auth/password", "password-value"),
        ]
    }

    #[test]
    fn parses_a_complete_configuration() {
        let config = raw(&complete()).parse().unwrap();
        assert_eq!(config.twilio.account_sid, SID);
        assert_eq!(config.pool.len(), 2);
        assert_eq!(config.pool.numbers()[0].as_str(), "+15005550001");
        assert!(config.public_base_url.is_none());
    }

    #[test]
    fn pool_may_be_a_json_array() {
        let mut pairs = complete();
        pairs[2] = ("number-pool", r#"["+15005550009", "+15005550008"]"#);
        assert_eq!(raw(&pairs).parse().unwrap().pool.len(), 2);
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
    fn secrets_do_not_print() {
        let config = raw(&complete()).parse().unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("token-value") && !debug.contains("password-value"));
    }
}
