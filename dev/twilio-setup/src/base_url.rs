//! Where Twilio is to send its webhooks: the stack's base URL, checked, and
//! the webhook URLs under it.

use std::fmt;

use masked_comms::config::is_loopback_http;
use masked_comms::handlers::{conversation_events, inbound_call, inbound_message};

/// The stack's public base URL: https (plain http only to this machine), no
/// credentials, query or fragment, no trailing slash. A path is kept (an API
/// mapping on a custom domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

/// Which input the base URL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseUrlSource {
    Flag,
    PublicBaseUrl,
    Stack,
}

impl fmt::Display for BaseUrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BaseUrlSource::Flag => "--base-url",
            BaseUrlSource::PublicBaseUrl => "the configured public-base-url",
            BaseUrlSource::Stack => "the stack's ApiBaseUrl output",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseUrlError {
    #[error(
        "no base URL: pass --base-url https://... (the stack's ApiBaseUrl output), \
         or configure public-base-url"
    )]
    Missing,
    #[error("base URL {0:?} is not an absolute URL")]
    NotAbsolute(String),
    #[error(
        "base URL {0} must be https (plain http only to 127.0.0.1, ::1 or localhost): \
         Twilio's webhooks carry phone numbers"
    )]
    NotHttps(String),
    // The URL itself is not repeated: it holds a password.
    #[error("the base URL must not hold a user name or password")]
    Credentials,
    #[error("base URL {0} must not have a query or fragment: the webhook paths go after it")]
    QueryOrFragment(String),
    #[error(
        "--base-url {given} is not the configured public-base-url {configured}: the functions \
         check Twilio's signatures against public-base-url, so every webhook would be refused. \
         Leave --base-url out, or change public-base-url"
    )]
    NotPublicBaseUrl { given: String, configured: String },
}

impl BaseUrl {
    pub fn parse(text: &str) -> Result<Self, BaseUrlError> {
        let text = text.trim();
        let url = url::Url::parse(text).map_err(|_| BaseUrlError::NotAbsolute(text.to_owned()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(BaseUrlError::Credentials);
        }
        if url.host().is_none() || !matches!(url.scheme(), "http" | "https") {
            return Err(BaseUrlError::NotAbsolute(text.to_owned()));
        }
        if url.scheme() != "https" && !is_loopback_http(&url) {
            return Err(BaseUrlError::NotHttps(text.to_owned()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(BaseUrlError::QueryOrFragment(text.to_owned()));
        }
        Ok(BaseUrl(url.as_str().trim_end_matches('/').to_owned()))
    }

    /// `--base-url` when given, else the configured `public-base-url` (the
    /// URL the functions check Twilio's signatures against), else the
    /// stack's output. A `--base-url` that is not the configured
    /// `public-base-url` is refused: Twilio would sign a URL the functions
    /// do not expect.
    pub fn choose(
        flag: Option<&str>,
        public_base_url: Option<&url::Url>,
        stack: Option<&str>,
    ) -> Result<(BaseUrl, BaseUrlSource), BaseUrlError> {
        let configured = public_base_url.map(|url| BaseUrl::parse(url.as_str()));
        match (flag, configured) {
            (Some(flag), Some(configured)) => {
                let given = BaseUrl::parse(flag)?;
                let configured = configured?;
                if given != configured {
                    return Err(BaseUrlError::NotPublicBaseUrl {
                        given: given.0,
                        configured: configured.0,
                    });
                }
                Ok((given, BaseUrlSource::Flag))
            }
            (Some(flag), None) => Ok((BaseUrl::parse(flag)?, BaseUrlSource::Flag)),
            (None, Some(configured)) => Ok((configured?, BaseUrlSource::PublicBaseUrl)),
            (None, None) => match stack {
                Some(stack) => Ok((BaseUrl::parse(stack)?, BaseUrlSource::Stack)),
                None => Err(BaseUrlError::Missing),
            },
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The webhook URLs Twilio is to call.
    pub fn targets(&self) -> Targets {
        Targets {
            voice_url: format!("{}{}", self.0, inbound_call::PATH),
            sms_url: format!("{}{}", self.0, inbound_message::PATH),
            events_url: format!("{}{}", self.0, conversation_events::PATH),
        }
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where each of Twilio's webhooks goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    /// A pool number's calls.
    pub voice_url: String,
    /// A pool number's texts that no conversation takes (out of session).
    pub sms_url: String,
    /// Conversations pre- and post-events.
    pub events_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_plain_http_only_here() {
        for good in [
            "https://abc123.execute-api.eu-west-1.amazonaws.com",
            "https://masked.example.com/api/",
            "http://127.0.0.1:9000",
            "http://localhost:9000/",
            "http://[::1]:9000",
        ] {
            assert!(BaseUrl::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            BaseUrl::parse("https://masked.example.com/api/")
                .unwrap()
                .targets()
                .voice_url,
            "https://masked.example.com/api/inbound-call"
        );
        for (bad, expected) in [
            ("http://masked.example.com", "must be https"),
            ("http://10.0.0.8:9000", "must be https"),
            ("masked.example.com", "not an absolute URL"),
            ("ftp://masked.example.com", "not an absolute URL"),
            ("https://masked.example.com/?x=1", "query or fragment"),
            ("https://masked.example.com/#top", "query or fragment"),
        ] {
            let err = BaseUrl::parse(bad).unwrap_err().to_string();
            assert!(err.contains(expected), "{bad}: {err}");
        }
    }

    #[test]
    fn credentials_are_refused_without_repeating_them() {
        let err = BaseUrl::parse("https://user:hunter2@masked.example.com")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("password") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn the_flag_wins_but_must_agree_with_public_base_url() {
        let public = url::Url::parse("https://masked.example.com/").unwrap();
        let stack = "https://abc123.execute-api.eu-west-1.amazonaws.com";
        let chosen = |flag, public| BaseUrl::choose(flag, public, Some(stack));

        let (url, source) = chosen(None, Some(&public)).unwrap();
        assert_eq!(
            (url.as_str(), source),
            ("https://masked.example.com", BaseUrlSource::PublicBaseUrl)
        );
        let (url, source) = chosen(None, None).unwrap();
        assert_eq!((url.as_str(), source), (stack, BaseUrlSource::Stack));
        let (_, source) = chosen(Some("https://masked.example.com"), Some(&public)).unwrap();
        assert_eq!(source, BaseUrlSource::Flag);
        assert!(matches!(
            chosen(Some(stack), Some(&public)),
            Err(BaseUrlError::NotPublicBaseUrl { .. })
        ));
        assert_eq!(
            BaseUrl::choose(None, None, None),
            Err(BaseUrlError::Missing)
        );
        // A public-base-url the functions accept but Twilio must not be sent to.
        let plain = url::Url::parse("http://masked.example.com").unwrap();
        assert!(matches!(
            chosen(None, Some(&plain)),
            Err(BaseUrlError::NotHttps(_))
        ));
    }
}
