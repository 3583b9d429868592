//! API 2010 IncomingPhoneNumbers: whether the account owns a number, and
//! where Twilio sends that number's calls and texts.

use serde::Deserialize;

use super::client::{empty_as_none, Idempotency, Twilio};
use super::error::TwilioError;

/// Twilio's `PhoneNumber` filter also matches longer numbers containing the
/// one asked for; a page this size holds any realistic number of those.
const PAGE_SIZE: &str = "50";

/// A number the account owns, as far as where its calls and texts go.
/// Twilio answers unset URLs and sids as null or as an empty string; both
/// read as `None`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IncomingPhoneNumber {
    pub sid: String,
    pub phone_number: String,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub voice_url: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub voice_method: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub sms_url: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub sms_method: Option<String>,
    /// Takes calls away from `voice_url`.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub voice_application_sid: Option<String>,
    /// Takes calls away from `voice_url` (Elastic SIP Trunking).
    #[serde(default, deserialize_with = "empty_as_none")]
    pub trunk_sid: Option<String>,
    /// Takes texts away from `sms_url`.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub sms_application_sid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NumbersPage {
    incoming_phone_numbers: Vec<IncomingPhoneNumber>,
    /// Relative to the API host, unlike the Conversations API's page URLs.
    #[serde(default)]
    next_page_uri: Option<String>,
}

/// The webhook settings of a number update, by Twilio's names; `None`
/// leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberWebhooks<'a> {
    pub voice_url: Option<&'a str>,
    pub voice_method: Option<&'a str>,
    pub sms_url: Option<&'a str>,
    pub sms_method: Option<&'a str>,
}

impl<'a> NumberWebhooks<'a> {
    pub fn form(&self) -> Vec<(&'static str, &'a str)> {
        [
            ("VoiceUrl", self.voice_url),
            ("VoiceMethod", self.voice_method),
            ("SmsUrl", self.sms_url),
            ("SmsMethod", self.sms_method),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
}

impl Twilio<'_> {
    fn numbers_path(&self) -> String {
        format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers",
            self.account_sid()
        )
    }

    /// The account's number `phone_number` (E.164), or `None` when the
    /// account does not own it.
    pub async fn find_incoming_phone_number(
        &self,
        phone_number: &str,
    ) -> Result<Option<IncomingPhoneNumber>, TwilioError> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("PhoneNumber", phone_number)
            .append_pair("PageSize", PAGE_SIZE)
            .finish();
        let mut url = Some(self.api_url(&format!("{}.json?{query}", self.numbers_path())));
        while let Some(next) = url {
            let page: NumbersPage = self.get(&next).await?;
            // The filter matches partial numbers: only the exact one counts.
            if let Some(found) = page
                .incoming_phone_numbers
                .into_iter()
                .find(|n| n.phone_number == phone_number)
            {
                return Ok(Some(found));
            }
            url = page
                .next_page_uri
                .filter(|uri| uri.starts_with('/'))
                .map(|uri| self.api_url(&uri));
        }
        Ok(None)
    }

    /// Sets absolute values, so it is safe to repeat.
    pub async fn update_incoming_phone_number(
        &self,
        sid: &str,
        webhooks: &NumberWebhooks<'_>,
    ) -> Result<IncomingPhoneNumber, TwilioError> {
        let url = self.api_url(&format!("{}/{sid}.json", self.numbers_path()));
        self.post(&url, &webhooks.form(), Idempotency::Safe).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_settings_read_as_none_whether_null_or_empty() {
        let number: IncomingPhoneNumber = serde_json::from_str(
            r#"{"sid": "PN0123456789abcdef0123456789abcdef", "phone_number": "+14155550000",
                "voice_url": "", "voice_method": "POST", "sms_url": null,
                "voice_application_sid": "", "friendly_name": "ignored"}"#,
        )
        .unwrap();
        assert_eq!(number.voice_url, None);
        assert_eq!(number.voice_method.as_deref(), Some("POST"));
        assert_eq!(number.sms_url, None);
        assert_eq!(number.voice_application_sid, None);
        assert_eq!(number.trunk_sid, None);
    }

    #[test]
    fn an_update_sends_only_what_it_sets() {
        let update = NumberWebhooks {
            voice_url: Some("https://x.example/inbound-call"),
            sms_method: Some("POST"),
            ..Default::default()
        };
        assert_eq!(
            update.form(),
            [
                ("VoiceUrl", "https://x.example/inbound-call"),
                ("SmsMethod", "POST")
            ]
        );
    }
}
