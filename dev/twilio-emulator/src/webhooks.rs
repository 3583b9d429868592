//! Playing Twilio's role toward our webhooks: signed form POSTs.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;
use url::form_urlencoded;

use crate::{clock::iso8601, state::StateChange};

/// The HTTP method a webhook is sent with. `GET` carries the parameters in the query
/// string, and the signature then covers only that URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HttpMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
}

impl HttpMethod {
    /// `GET` or `POST`, any case (Twilio's attributes and parameters take either).
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "GET" => Some(Self::Get),
            "POST" => Some(Self::Post),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// What our webhook answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookOutcome {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

/// One webhook the emulator sent (or tried to send).
#[derive(Debug, Clone, Serialize)]
pub struct WebhookDelivery {
    /// What it was: `"voice"` (inbound call), `"events"` (the emulator's own events URL),
    /// `"pre-event"` / `"post-event"` (configured Conversations webhooks), `"messaging"`
    /// (a number's `SmsUrl`), `"call-status"`, `"dial-action"`, `"recording-status"`.
    pub kind: &'static str,
    pub method: HttpMethod,
    /// The URL requested; for `GET` it carries the parameters in its query string.
    pub url: String,
    pub params: Vec<(String, String)>,
    pub signature: String,
    /// `Ok` with what came back, or `Err` with why nothing came back.
    pub outcome: Result<WebhookOutcome, String>,
}

impl WebhookDelivery {
    /// The first value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `X-Twilio-Signature` for a form POST: base64(HMAC-SHA1(auth_token, url + sorted
/// name+value pairs)). A repeated name contributes each distinct value, sorted, as
/// Twilio's helper libraries do.
pub fn compute_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut signed = String::from(url);
    for (name, value) in pairs {
        signed.push_str(name);
        signed.push_str(value);
    }
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC accepts any key length");
    mac.update(signed.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Twilio's timeout for voice and messaging webhooks and callbacks.
pub(crate) const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// One webhook to send, signed like Twilio.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub kind: &'static str,
    pub method: HttpMethod,
    pub url: String,
    pub params: Vec<(String, String)>,
    pub timeout: Duration,
}

impl Outgoing {
    pub(crate) fn post(kind: &'static str, url: String, params: Vec<(String, String)>) -> Self {
        Self {
            kind,
            method: HttpMethod::Post,
            url,
            params,
            timeout: WEBHOOK_TIMEOUT,
        }
    }
}

/// Sends one webhook and returns what happened. A form POST is signed over the URL and
/// the form; a GET puts the parameters in the query string and is signed over that URL.
pub(crate) async fn send_signed(
    http: &reqwest::Client,
    auth_token: &str,
    outgoing: Outgoing,
) -> WebhookDelivery {
    let Outgoing {
        kind,
        method,
        url,
        params,
        timeout,
    } = outgoing;
    let (url, request) = match method {
        HttpMethod::Post => {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&params)
                .finish();
            let request = http
                .post(&url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body);
            (url, request)
        }
        HttpMethod::Get => {
            let url = with_query(&url, &params);
            let request = http.get(&url);
            (url, request)
        }
    };
    let signature = match method {
        HttpMethod::Post => compute_signature(auth_token, &url, &params),
        HttpMethod::Get => compute_signature(auth_token, &url, &[]),
    };
    let result = request
        .timeout(timeout)
        .header("X-Twilio-Signature", &signature)
        .header("User-Agent", "TwilioProxy/1.1")
        .header("I-Twilio-Idempotency-Token", crate::state::new_sid(""))
        .send()
        .await;
    let outcome = match result {
        Ok(response) => {
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match response.text().await {
                Ok(body) => Ok(WebhookOutcome {
                    status,
                    content_type,
                    body,
                }),
                Err(e) => Err(format!("reading the webhook response failed: {e}")),
            }
        }
        Err(e) if e.is_timeout() => Err(format!(
            "{} {url} timed out after {} ms",
            method.as_str(),
            timeout.as_millis()
        )),
        Err(e) => Err(format!("{} {url} failed: {e}", method.as_str())),
    };
    WebhookDelivery {
        kind,
        method,
        url,
        params,
        signature,
        outcome,
    }
}

/// `url` with `params` appended to its query string.
fn with_query(url: &str, params: &[(String, String)]) -> String {
    if params.is_empty() {
        return url.to_owned();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

pub(crate) fn country_of(number: &str) -> &'static str {
    let number = number.strip_prefix("whatsapp:").unwrap_or(number);
    if number.starts_with("+1") {
        "US"
    } else if number.starts_with("+44") {
        "GB"
    } else {
        ""
    }
}

/// The form Twilio POSTs to a number's voice URL for an inbound call.
pub(crate) fn inbound_call_params(
    account_sid: &str,
    call_sid: &str,
    from: &str,
    to: &str,
) -> Vec<(String, String)> {
    let from_country = country_of(from);
    let to_country = country_of(to);
    [
        ("AccountSid", account_sid),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call_sid),
        ("CallStatus", "ringing"),
        ("Called", to),
        ("CalledCity", ""),
        ("CalledCountry", to_country),
        ("CalledState", ""),
        ("CalledZip", ""),
        ("Caller", from),
        ("CallerCity", ""),
        ("CallerCountry", from_country),
        ("CallerState", ""),
        ("CallerZip", ""),
        ("Direction", "inbound"),
        ("From", from),
        ("FromCity", ""),
        ("FromCountry", from_country),
        ("FromState", ""),
        ("FromZip", ""),
        ("To", to),
        ("ToCountry", to_country),
        ("ToState", ""),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// The `onConversationStateUpdated` post-event form.
pub(crate) fn state_updated_params(
    account_sid: &str,
    chat_service_sid: &str,
    change: &StateChange,
) -> Vec<(String, String)> {
    [
        ("EventType", "onConversationStateUpdated"),
        ("AccountSid", account_sid),
        ("ChatServiceSid", chat_service_sid),
        ("ConversationSid", change.sid.as_str()),
        ("MessagingServiceSid", change.messaging_service_sid.as_str()),
        ("StateFrom", change.from.as_str()),
        ("StateTo", change.to.as_str()),
        ("StateUpdated", &iso8601(change.at)),
        ("Reason", change.reason),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reference_vector_one() {
        let p = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            compute_signature(TOKEN, URL, &p),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn reference_vector_two_with_and_without_default_port() {
        // Given in a scrambled order: the signer must sort.
        let p = params(&[
            ("To", "+18005551212"),
            ("From", "+14158675309"),
            ("Digits", "1234"),
            ("Caller", "+14158675309"),
            ("CallSid", "CA1234567890ABCDE"),
        ]);
        assert_eq!(
            compute_signature(TOKEN, URL, &p),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert_eq!(
            compute_signature(TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", &p),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
    }

    #[test]
    fn reference_vector_repeated_values() {
        let p = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            compute_signature(TOKEN, URL, &p),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn reference_vector_json_body_url_only() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert_eq!(
            compute_signature(TOKEN, url, &[]),
            "a9nBmqA0ju/hNViExpshrM61xv4="
        );
    }

    #[test]
    fn inbound_call_form_has_twilio_fields() {
        let p = inbound_call_params("AC1", "CA1", "+14155550101", "+14155550000");
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("From"), Some("+14155550101"));
        assert_eq!(get("Caller"), Some("+14155550101"));
        assert_eq!(get("To"), Some("+14155550000"));
        assert_eq!(get("Called"), Some("+14155550000"));
        assert_eq!(get("Direction"), Some("inbound"));
        assert_eq!(get("CallStatus"), Some("ringing"));
        assert_eq!(get("FromCountry"), Some("US"));
    }
}
