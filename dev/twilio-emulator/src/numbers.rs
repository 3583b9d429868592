//! The phone numbers the emulator owns (IncomingPhoneNumbers, API 2010-04-01) and where an
//! inbound call or text to one of them goes.
//!
//! Twilio ignores a number's `VoiceUrl` while the number has a `VoiceApplicationSid` or a
//! `TrunkSid`, and its `SmsUrl` while it has an `SmsApplicationSid`. The emulator has no
//! applications or trunks to hand such calls and texts to, so they go where they would
//! without the number: calls to the global voice URL, texts nowhere.

use serde::Serialize;

use crate::{
    conversations_webhooks::is_absolute_http_url,
    errors::{codes, TwilioError},
    state::{new_sid, parse_address, Channel},
    webhooks::HttpMethod,
};

#[derive(Debug, Clone)]
pub(crate) struct PhoneNumber {
    pub sid: String,
    pub phone_number: String,
    pub friendly_name: String,
    pub voice_url: Option<String>,
    pub voice_method: HttpMethod,
    pub voice_fallback_url: Option<String>,
    pub voice_fallback_method: HttpMethod,
    pub status_callback: Option<String>,
    pub status_callback_method: HttpMethod,
    pub sms_url: Option<String>,
    pub sms_method: HttpMethod,
    pub sms_fallback_url: Option<String>,
    pub sms_fallback_method: HttpMethod,
    pub voice_application_sid: Option<String>,
    pub sms_application_sid: Option<String>,
    pub trunk_sid: Option<String>,
    pub voice_caller_id_lookup: bool,
    pub created: u64,
    pub updated: u64,
}

/// How Twilio names a number by default: `(415) 555-0100` in the US and Canada, the
/// E.164 form elsewhere.
fn default_friendly_name(number: &str) -> String {
    match number.strip_prefix("+1") {
        Some(d) if d.len() == 10 => format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..]),
        _ => number.to_owned(),
    }
}

impl PhoneNumber {
    /// A number with nothing configured. `number` must be E.164 (`+` and digits).
    pub(crate) fn new(number: &str, now: u64) -> Result<Self, String> {
        if parse_address(number) != Some(Channel::Sms) {
            return Err(format!("{number} is not an E.164 phone number"));
        }
        Ok(Self {
            sid: new_sid("PN"),
            phone_number: number.to_owned(),
            friendly_name: default_friendly_name(number),
            voice_url: None,
            voice_method: HttpMethod::Post,
            voice_fallback_url: None,
            voice_fallback_method: HttpMethod::Post,
            status_callback: None,
            status_callback_method: HttpMethod::Post,
            sms_url: None,
            sms_method: HttpMethod::Post,
            sms_fallback_url: None,
            sms_fallback_method: HttpMethod::Post,
            voice_application_sid: None,
            sms_application_sid: None,
            trunk_sid: None,
            voice_caller_id_lookup: false,
            created: now,
            updated: now,
        })
    }

    /// The number's own voice webhook, unless an application or a trunk takes its calls.
    pub(crate) fn voice_target(&self) -> Option<(HttpMethod, String)> {
        if self.voice_application_sid.is_some() || self.trunk_sid.is_some() {
            return None;
        }
        self.voice_url.clone().map(|url| (self.voice_method, url))
    }

    /// The number's own messaging webhook, unless an application takes its texts.
    pub(crate) fn sms_target(&self) -> Option<(HttpMethod, String)> {
        if self.sms_application_sid.is_some() {
            return None;
        }
        self.sms_url.clone().map(|url| (self.sms_method, url))
    }

    /// Where the status of calls to this number is reported, as for its voice URL.
    pub(crate) fn status_callback_target(&self) -> Option<(HttpMethod, String)> {
        if self.voice_application_sid.is_some() || self.trunk_sid.is_some() {
            return None;
        }
        self.status_callback
            .clone()
            .map(|url| (self.status_callback_method, url))
    }

    pub(crate) fn apply(&mut self, update: NumberUpdate, now: u64) {
        let NumberUpdate {
            friendly_name,
            voice_url,
            voice_method,
            voice_fallback_url,
            voice_fallback_method,
            status_callback,
            status_callback_method,
            sms_url,
            sms_method,
            sms_fallback_url,
            sms_fallback_method,
            voice_application_sid,
            sms_application_sid,
            trunk_sid,
            voice_caller_id_lookup,
        } = update;
        fn set<T>(field: &mut T, value: Option<T>) {
            if let Some(value) = value {
                *field = value;
            }
        }
        set(&mut self.friendly_name, friendly_name);
        set(&mut self.voice_url, voice_url);
        set(&mut self.voice_method, voice_method);
        set(&mut self.voice_fallback_url, voice_fallback_url);
        set(&mut self.voice_fallback_method, voice_fallback_method);
        set(&mut self.status_callback, status_callback);
        set(&mut self.status_callback_method, status_callback_method);
        set(&mut self.sms_url, sms_url);
        set(&mut self.sms_method, sms_method);
        set(&mut self.sms_fallback_url, sms_fallback_url);
        set(&mut self.sms_fallback_method, sms_fallback_method);
        set(&mut self.voice_application_sid, voice_application_sid);
        set(&mut self.sms_application_sid, sms_application_sid);
        set(&mut self.trunk_sid, trunk_sid);
        set(&mut self.voice_caller_id_lookup, voice_caller_id_lookup);
        self.updated = now;
    }

    /// Whether `pattern` (the `PhoneNumber` list filter) matches: a whole or partial
    /// number, where `*` stands for any one digit.
    pub(crate) fn matches(&self, pattern: &str) -> bool {
        let number = self.phone_number.as_bytes();
        let pattern = pattern.as_bytes();
        if pattern.is_empty() {
            return true;
        }
        number.windows(pattern.len()).any(|window| {
            window
                .iter()
                .zip(pattern)
                .all(|(n, p)| n == p || (*p == b'*' && n.is_ascii_digit()))
        })
    }
}

/// A validated `POST .../IncomingPhoneNumbers/{Sid}.json`. `Some(None)` clears a value
/// (an empty parameter), as Twilio does.
#[derive(Debug, Clone, Default)]
pub(crate) struct NumberUpdate {
    pub friendly_name: Option<String>,
    pub voice_url: Option<Option<String>>,
    pub voice_method: Option<HttpMethod>,
    pub voice_fallback_url: Option<Option<String>>,
    pub voice_fallback_method: Option<HttpMethod>,
    pub status_callback: Option<Option<String>>,
    pub status_callback_method: Option<HttpMethod>,
    pub sms_url: Option<Option<String>>,
    pub sms_method: Option<HttpMethod>,
    pub sms_fallback_url: Option<Option<String>>,
    pub sms_fallback_method: Option<HttpMethod>,
    pub voice_application_sid: Option<Option<String>>,
    pub sms_application_sid: Option<Option<String>>,
    pub trunk_sid: Option<Option<String>>,
    pub voice_caller_id_lookup: Option<bool>,
}

/// `XX` + 32 hex digits.
pub(crate) fn is_sid(text: &str, prefix: &str) -> bool {
    text.len() == 34 && text.starts_with(prefix) && text[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl NumberUpdate {
    pub(crate) fn from_form(form: &[(String, String)]) -> Result<Self, TwilioError> {
        let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let url = |name: &str| -> Result<Option<Option<String>>, TwilioError> {
            match get(name) {
                None => Ok(None),
                Some(v) if v.is_empty() => Ok(Some(None)),
                Some(v) if is_absolute_http_url(v) => Ok(Some(Some(v.clone()))),
                Some(v) => Err(TwilioError::bad_request(
                    codes::INVALID_CALLBACK_URL,
                    format!("{name} is not a valid URL: {v}"),
                )),
            }
        };
        let method = |name: &str| -> Result<Option<HttpMethod>, TwilioError> {
            get(name)
                .map(|v| {
                    HttpMethod::parse(v).ok_or_else(|| {
                        TwilioError::bad_request(
                            codes::NUMBER_INVALID_METHOD,
                            format!("{name} must be GET or POST, got {v}"),
                        )
                    })
                })
                .transpose()
        };
        let sid = |name: &str, prefix: &str| -> Result<Option<Option<String>>, TwilioError> {
            match get(name) {
                None => Ok(None),
                Some(v) if v.is_empty() => Ok(Some(None)),
                Some(v) if is_sid(v, prefix) => Ok(Some(Some(v.clone()))),
                Some(v) => Err(TwilioError::bad_request(
                    codes::INVALID_PARAMETER_2010,
                    format!("{name} must be a {prefix} sid, got {v}"),
                )),
            }
        };
        let voice_caller_id_lookup = match get("VoiceCallerIdLookup").map(String::as_str) {
            None => None,
            Some("true" | "True") => Some(true),
            Some("false" | "False") => Some(false),
            Some(v) => {
                return Err(TwilioError::bad_request(
                    codes::INVALID_PARAMETER_2010,
                    format!("VoiceCallerIdLookup must be true or false, got {v}"),
                ))
            }
        };
        Ok(Self {
            friendly_name: get("FriendlyName").cloned(),
            voice_url: url("VoiceUrl")?,
            voice_method: method("VoiceMethod")?,
            voice_fallback_url: url("VoiceFallbackUrl")?,
            voice_fallback_method: method("VoiceFallbackMethod")?,
            status_callback: url("StatusCallback")?,
            status_callback_method: method("StatusCallbackMethod")?,
            sms_url: url("SmsUrl")?,
            sms_method: method("SmsMethod")?,
            sms_fallback_url: url("SmsFallbackUrl")?,
            sms_fallback_method: method("SmsFallbackMethod")?,
            voice_application_sid: sid("VoiceApplicationSid", "AP")?,
            sms_application_sid: sid("SmsApplicationSid", "AP")?,
            trunk_sid: sid("TrunkSid", "TK")?,
            voice_caller_id_lookup,
        })
    }
}

/// A number the emulator owns, as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhoneNumberSnapshot {
    pub sid: String,
    pub phone_number: String,
    pub friendly_name: String,
    pub voice_url: Option<String>,
    pub voice_method: HttpMethod,
    pub voice_fallback_url: Option<String>,
    pub status_callback: Option<String>,
    pub sms_url: Option<String>,
    pub sms_method: HttpMethod,
    pub voice_application_sid: Option<String>,
    pub sms_application_sid: Option<String>,
    pub trunk_sid: Option<String>,
}

impl From<&PhoneNumber> for PhoneNumberSnapshot {
    fn from(n: &PhoneNumber) -> Self {
        Self {
            sid: n.sid.clone(),
            phone_number: n.phone_number.clone(),
            friendly_name: n.friendly_name.clone(),
            voice_url: n.voice_url.clone(),
            voice_method: n.voice_method,
            voice_fallback_url: n.voice_fallback_url.clone(),
            status_callback: n.status_callback.clone(),
            sms_url: n.sms_url.clone(),
            sms_method: n.sms_method,
            voice_application_sid: n.voice_application_sid.clone(),
            sms_application_sid: n.sms_application_sid.clone(),
            trunk_sid: n.trunk_sid.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_application_or_trunk_takes_calls_away_from_the_voice_url() {
        let mut n = PhoneNumber::new("+14155550000", 1).unwrap();
        assert_eq!(n.friendly_name, "(415) 555-0000");
        assert_eq!(n.voice_target(), None);
        let update = |pairs: &[(&str, &str)]| NumberUpdate::from_form(&form(pairs)).unwrap();
        n.apply(
            update(&[
                ("VoiceUrl", "https://us.example/voice"),
                ("VoiceMethod", "get"),
            ]),
            2,
        );
        assert_eq!(
            n.voice_target(),
            Some((HttpMethod::Get, "https://us.example/voice".into()))
        );
        n.apply(
            update(&[("VoiceApplicationSid", "AP0123456789abcdef0123456789abcdef")]),
            3,
        );
        assert_eq!(n.voice_target(), None);
        n.apply(update(&[("VoiceApplicationSid", "")]), 4);
        assert!(n.voice_target().is_some());
        n.apply(
            update(&[("TrunkSid", "TK0123456789abcdef0123456789abcdef")]),
            5,
        );
        assert_eq!(n.voice_target(), None);

        n.apply(update(&[("SmsUrl", "https://us.example/sms")]), 6);
        assert!(n.sms_target().is_some());
        n.apply(
            update(&[("SmsApplicationSid", "AP0123456789abcdef0123456789abcdef")]),
            7,
        );
        assert_eq!(n.sms_target(), None);
    }

    #[test]
    fn bad_updates_get_twilio_codes() {
        for (pairs, code) in [
            (
                &[("VoiceUrl", "not a url")][..],
                codes::INVALID_CALLBACK_URL,
            ),
            (&[("SmsMethod", "PUT")][..], codes::NUMBER_INVALID_METHOD),
            (
                &[("VoiceApplicationSid", "AP1")][..],
                codes::INVALID_PARAMETER_2010,
            ),
            (
                &[("TrunkSid", "AP0123456789abcdef0123456789abcdef")][..],
                codes::INVALID_PARAMETER_2010,
            ),
        ] {
            let err = NumberUpdate::from_form(&form(pairs)).unwrap_err();
            assert_eq!((err.status, err.code), (400, code), "{pairs:?}");
        }
        assert!(PhoneNumber::new("4155550000", 1).is_err());
        assert!(PhoneNumber::new("whatsapp:+14155550000", 1).is_err());
        assert_eq!(
            PhoneNumber::new("+447700900123", 1).unwrap().friendly_name,
            "+447700900123"
        );
    }

    #[test]
    fn the_list_filter_takes_partial_numbers_and_wildcards() {
        let n = PhoneNumber::new("+14155550123", 1).unwrap();
        for yes in ["+14155550123", "555", "+1415*****23", "0123", ""] {
            assert!(n.matches(yes), "{yes}");
        }
        for no in ["+14155550124", "+44", "*****************", "+1415*a"] {
            assert!(!n.matches(no), "{no}");
        }
    }
}
