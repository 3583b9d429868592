//! Reading and checking raw values: every key's value parsed, a missing or
//! invalid one named (never its value).

use std::collections::HashMap;

use crate::domain::address::PhoneNumber;
use crate::domain::duration::SessionTimer;
use crate::domain::geo::GeoMatch;
use crate::domain::pool::{ChoiceSettings, Pool, Sticky};
use crate::domain::session::SessionDefaults;
use crate::domain::sid::{Sid, SidKind};

use super::key::{self, Key};
use super::*;

/// Raw values by SSM key name, whichever source they came from.
#[derive(Debug, Default, Clone)]
pub struct RawConfig {
    values: HashMap<String, String>,
    /// How the source names keys, for error messages.
    naming: Naming,
    /// The function runs on this machine (crate::callback_url::LOCAL_FLAG):
    /// loopback http URLs are allowed.
    pub(super) local: bool,
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
            local: false,
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
            local: false,
        }
    }

    /// Whether the function runs locally, where loopback http URLs reach
    /// this machine's receivers (on Lambda they reach the Runtime API).
    pub fn running_locally(mut self, local: bool) -> Self {
        self.local = local;
        self
    }

    pub(super) fn name(&self, key: &Key) -> String {
        match self.naming {
            Naming::Ssm => key.ssm.to_owned(),
            Naming::Env => key.env.to_owned(),
        }
    }

    pub(super) fn optional(&self, key: &Key) -> Option<&str> {
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

    pub(super) fn invalid(&self, key: &Key, problem: impl Into<String>) -> ConfigError {
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
            local: self.local,
        };
        for key in function.required() {
            own.required(key)?;
        }
        if function.keys().any(|k| k.ssm == key::REPLY_KEY.ssm)
            && own.optional(&key::REPLY_KEY).is_none()
        {
            tracing::warn!(
                key = own.name(&key::REPLY_KEY),
                "no reply key: the out-of-session reply throttle is kept per execution environment only"
            );
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
                let url = crate::callback_url::parse(url, self.local)
                    .map_err(|problem| self.invalid(&key::EVENTS_URL, problem))?;
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
                let url = crate::callback_url::parse(url, self.local)
                    .map_err(|problem| self.invalid(&key::OUT_OF_SESSION_CALLBACK_URL, problem))?;
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
        let intercept = self.intercept(events.is_some())?;
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
            reply_key: self.reply_key()?,
            intercept,
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

    fn reply_key(&self) -> Result<Option<crate::reply_key::ReplyKey>, ConfigError> {
        let Some(secret) = self.optional(&key::REPLY_KEY) else {
            return Ok(None);
        };
        if secret.chars().count() < crate::reply_key::MIN_REPLY_KEY_CHARS {
            return Err(self.invalid(
                &key::REPLY_KEY,
                format!(
                    "must be at least {} characters",
                    crate::reply_key::MIN_REPLY_KEY_CHARS
                ),
            ));
        }
        Ok(Some(crate::reply_key::ReplyKey::new(Secret::new(secret))))
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
