//! Programmable Messaging's Messages resource (`POST /2010-04-01/Accounts/{AC}/Messages.json`):
//! a text, media or Content template sent from one of the account's numbers, with Twilio's
//! checks and error codes:
//!
//! - `To` required (21604) and a phone number or `whatsapp:` address (21211);
//! - `From` required (21603), a number of the account (21606), and on the same channel as
//!   `To` (21910: `whatsapp:` to `whatsapp:`);
//! - one of `Body`, `MediaUrl` or `ContentSid` (21602); `Body` at most 1,600 characters
//!   (21617); at most 10 `MediaUrl` (21623), each an absolute http(s) URL (21620);
//! - `ContentSid` `HX` + 32 hex (21655); `ContentVariables` only with a `ContentSid` (21654)
//!   and a JSON object (21656).
//!
//! The answer is the message resource, `status` `queued`; nothing is delivered further.

use serde::Serialize;
use serde_json::{json, Value};

use crate::{
    clock::rfc2822,
    errors::TwilioError,
    numbers::PhoneNumber,
    resources::Ctx,
    state::{new_sid, parse_address},
};

const MAX_BODY_CHARS: usize = 1600;
const MAX_MEDIA: usize = 10;

/// Twilio's Messaging error codes used here.
mod code {
    pub const BODY_REQUIRED: u32 = 21602;
    pub const FROM_REQUIRED: u32 = 21603;
    pub const TO_REQUIRED: u32 = 21604;
    pub const FROM_NOT_OURS: u32 = 21606;
    pub const TO_INVALID: u32 = 21211;
    pub const BODY_TOO_LONG: u32 = 21617;
    pub const INVALID_MEDIA_URL: u32 = 21620;
    pub const TOO_MANY_MEDIA: u32 = 21623;
    pub const CONTENT_SID_REQUIRED: u32 = 21654;
    pub const CONTENT_SID_INVALID: u32 = 21655;
    pub const CONTENT_VARIABLES_INVALID: u32 = 21656;
    pub const CHANNEL_MISMATCH: u32 = 21910;
}

/// A message created through the Messages resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentMessageSnapshot {
    pub sid: String,
    pub from: String,
    pub to: String,
    pub body: Option<String>,
    pub media_urls: Vec<String>,
    pub content_sid: Option<String>,
    pub content_variables: Option<String>,
    pub created: u64,
}

impl SentMessageSnapshot {
    /// Checks a create request's form as Twilio does; `numbers` are the account's.
    pub(crate) fn from_form(
        form: &[(String, String)],
        numbers: &[PhoneNumber],
        now: u64,
    ) -> Result<Self, TwilioError> {
        let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let to = get("To").ok_or_else(|| {
            TwilioError::bad_request(code::TO_REQUIRED, "A 'To' phone number is required.")
        })?;
        let to_channel = parse_address(&to).ok_or_else(|| {
            TwilioError::bad_request(
                code::TO_INVALID,
                format!("The 'To' number {to} is not a valid phone number."),
            )
        })?;
        let from = get("From").ok_or_else(|| {
            TwilioError::bad_request(code::FROM_REQUIRED, "A 'From' phone number is required.")
        })?;
        let from_channel = parse_address(&from);
        let bare = from.strip_prefix("whatsapp:").unwrap_or(&from);
        if from_channel.is_none() || !numbers.iter().any(|n| n.phone_number == bare) {
            return Err(TwilioError::bad_request(
                code::FROM_NOT_OURS,
                format!("The From phone number {from} is not a valid, SMS-capable inbound phone number or short code for your account."),
            ));
        }
        if from_channel != Some(to_channel) {
            return Err(TwilioError::bad_request(
                code::CHANNEL_MISMATCH,
                "Invalid From and To pair. From and To should be of the same channel",
            ));
        }
        let body = get("Body").filter(|b| !b.is_empty());
        let media_urls: Vec<String> = form
            .iter()
            .filter(|(k, _)| k == "MediaUrl")
            .map(|(_, v)| v.clone())
            .collect();
        let content_sid = get("ContentSid");
        let content_variables = get("ContentVariables");
        if body.is_none() && media_urls.is_empty() && content_sid.is_none() {
            return Err(TwilioError::bad_request(
                code::BODY_REQUIRED,
                "Message body is required.",
            ));
        }
        if body
            .as_ref()
            .is_some_and(|b| b.chars().count() > MAX_BODY_CHARS)
        {
            return Err(TwilioError::bad_request(
                code::BODY_TOO_LONG,
                "The concatenated message body exceeds the 1600 character limit.",
            ));
        }
        if media_urls.len() > MAX_MEDIA {
            return Err(TwilioError::bad_request(
                code::TOO_MANY_MEDIA,
                "Number of media files exceeds allowed limit",
            ));
        }
        if let Some(url) = media_urls.iter().find(|u| !is_media_url(u)) {
            return Err(TwilioError::bad_request(
                code::INVALID_MEDIA_URL,
                format!("Media URL {url} is invalid"),
            ));
        }
        if let Some(sid) = &content_sid {
            if !is_content_sid(sid) {
                return Err(TwilioError::bad_request(
                    code::CONTENT_SID_INVALID,
                    "The ContentSid is Invalid",
                ));
            }
        }
        if let Some(variables) = &content_variables {
            if content_sid.is_none() {
                return Err(TwilioError::bad_request(
                    code::CONTENT_SID_REQUIRED,
                    "A ContentSid must be specified if ContentVariables are provided.",
                ));
            }
            if !matches!(
                serde_json::from_str::<Value>(variables),
                Ok(Value::Object(_))
            ) {
                return Err(TwilioError::bad_request(
                    code::CONTENT_VARIABLES_INVALID,
                    "The ContentVariables Parameter is invalid.",
                ));
            }
        }
        Ok(Self {
            sid: new_sid("SM"),
            from,
            to,
            body,
            media_urls,
            content_sid,
            content_variables,
            created: now,
        })
    }

    /// The message resource as Twilio answers a create.
    pub(crate) fn resource(&self, ctx: &Ctx) -> Value {
        let uri = format!(
            "/2010-04-01/Accounts/{}/Messages/{}",
            ctx.account_sid, self.sid
        );
        let date = rfc2822(self.created);
        json!({
            "sid": self.sid,
            "account_sid": ctx.account_sid,
            "api_version": "2010-04-01",
            "body": self.body.clone().unwrap_or_default(),
            "date_created": date,
            "date_updated": date,
            "date_sent": null,
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": self.from,
            "to": self.to,
            "messaging_service_sid": null,
            "num_media": self.media_urls.len().to_string(),
            "num_segments": "1",
            "price": null,
            "price_unit": "USD",
            "status": "queued",
            "uri": format!("{uri}.json"),
            "subresource_uris": { "media": format!("{uri}/Media.json") },
        })
    }
}

fn is_media_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

fn is_content_sid(text: &str) -> bool {
    text.len() == 34 && text.starts_with("HX") && text[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn numbers() -> Vec<PhoneNumber> {
        vec![PhoneNumber::new("+15005550001", 0).unwrap()]
    }

    fn code_of(pairs: &[(&str, &str)]) -> u32 {
        SentMessageSnapshot::from_form(&form(pairs), &numbers(), 0)
            .unwrap_err()
            .code
    }

    #[test]
    fn refuses_what_twilio_refuses() {
        let ok = [("To", "+14155550101"), ("From", "+15005550001")];
        assert_eq!(code_of(&ok), 21602, "no body, media or template");
        assert_eq!(code_of(&[("From", "+15005550001"), ("Body", "x")]), 21604);
        assert_eq!(code_of(&[("To", "+14155550101"), ("Body", "x")]), 21603);
        assert_eq!(
            code_of(&[("To", "nope"), ("From", "+15005550001"), ("Body", "x")]),
            21211
        );
        assert_eq!(
            code_of(&[
                ("To", "+14155550101"),
                ("From", "+15005550009"),
                ("Body", "x")
            ]),
            21606
        );
        assert_eq!(
            code_of(&[
                ("To", "+14155550101"),
                ("From", "whatsapp:+15005550001"),
                ("Body", "x")
            ]),
            21910
        );
        let long = "x".repeat(1601);
        assert_eq!(code_of(&[ok[0], ok[1], ("Body", &long)]), 21617);
        let eleven: Vec<(&str, &str)> = ok
            .iter()
            .copied()
            .chain(std::iter::repeat_n(
                ("MediaUrl", "https://example.com/a.jpg"),
                11,
            ))
            .collect();
        assert_eq!(code_of(&eleven), 21623);
        assert_eq!(
            code_of(&[ok[0], ok[1], ("MediaUrl", "ftp://example.com/a")]),
            21620
        );
        assert_eq!(code_of(&[ok[0], ok[1], ("ContentSid", "HX123")]), 21655);
        assert_eq!(
            code_of(&[ok[0], ok[1], ("Body", "x"), ("ContentVariables", "{}")]),
            21654
        );
        let sid = format!("HX{}", "a".repeat(32));
        assert_eq!(
            code_of(&[
                ok[0],
                ok[1],
                ("ContentSid", &sid),
                ("ContentVariables", "[1]")
            ]),
            21656
        );
    }

    #[test]
    fn accepts_a_text_media_or_template() {
        let sid = format!("HX{}", "0123456789abcdef".repeat(2));
        let template = SentMessageSnapshot::from_form(
            &form(&[
                ("To", "whatsapp:+447700900123"),
                ("From", "whatsapp:+15005550001"),
                ("ContentSid", &sid),
                ("ContentVariables", r#"{"1":"Ada"}"#),
            ]),
            &numbers(),
            0,
        )
        .unwrap();
        assert!(template.sid.starts_with("SM"));
        assert_eq!(template.content_sid.as_deref(), Some(sid.as_str()));
        let media = SentMessageSnapshot::from_form(
            &form(&[
                ("To", "+14155550101"),
                ("From", "+15005550001"),
                ("MediaUrl", "https://example.com/a.jpg"),
                ("MediaUrl", "https://example.com/b.jpg"),
            ]),
            &numbers(),
            0,
        )
        .unwrap();
        assert_eq!(media.media_urls.len(), 2);
    }
}
