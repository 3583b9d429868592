//! Test harness: an in-process Twilio emulator and an AppState pointed at it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use lambda_http::http::{Request as HttpRequest, StatusCode};
use lambda_http::{Body, Request, Response};
use masked_comms::config::{ConfigStore, RawConfig};
use masked_comms::twilio::{TwilioHttp, TwilioSettings};
use masked_comms::AppState;
use serde_json::Value;
use twilio_emulator::{Emulator, EmulatorConfig};

pub const USERNAME: &str = "operator";
pub const PASSWORD: &str = "correct horse battery staple";
pub const POOL: [&str; 3] = ["+15005550001", "+15005550002", "+15005550003"];
/// The host webhook requests are addressed to in these tests.
pub const HOST: &str = "masked.example.com";

pub struct Harness {
    pub emulator: Emulator,
    pub state: AppState,
}

impl Harness {
    pub async fn start() -> Self {
        Self::with(&POOL, &[]).await
    }

    /// A harness with this pool and extra configuration (SSM key names).
    pub async fn with(pool: &[&str], extra: &[(&str, &str)]) -> Self {
        let emulator = Emulator::start(EmulatorConfig::default())
            .await
            .expect("emulator starts");
        let mut values: HashMap<String, String> = [
            ("twilio/account-sid", emulator.account_sid()),
            ("twilio/auth-token", emulator.auth_token()),
            ("auth/username", USERNAME),
            ("auth/password", PASSWORD),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        values.insert("number-pool".into(), pool.join(","));
        for (k, v) in extra {
            values.insert(k.to_string(), v.to_string());
        }
        let config = RawConfig::from_ssm(values)
            .parse()
            .expect("test config is valid");
        let twilio = TwilioHttp::new(settings(&emulator.base_url())).expect("client builds");
        let state = AppState::new(ConfigStore::fixed(config), twilio);
        Harness { emulator, state }
    }

    pub fn requests_made(&self) -> usize {
        self.emulator.requests().len()
    }
}

/// Short timeouts and retry delays so fault tests run quickly.
pub fn settings(base_url: &str) -> TwilioSettings {
    TwilioSettings {
        conversations_url: base_url.to_owned(),
        api_url: base_url.to_owned(),
        connect_timeout: Duration::from_millis(500),
        attempt_timeout: Duration::from_millis(800),
        max_retries: 3,
        min_retry_delay: Duration::from_millis(5),
        max_retry_delay: Duration::from_millis(40),
    }
}

pub fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

pub fn request(
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
    auth: Option<&str>,
) -> Request {
    let mut builder = HttpRequest::builder()
        .method(method)
        .uri(path)
        .header("host", HOST);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    if let Some(a) = auth {
        builder = builder.header("authorization", a);
    }
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::Text(body.to_owned())
    };
    builder.body(body).unwrap()
}

pub fn operator_json(method: &str, path: &str, body: &Value) -> Request {
    request(
        method,
        path,
        Some("application/json"),
        &body.to_string(),
        Some(&basic(USERNAME, PASSWORD)),
    )
}

/// A form POST signed as Twilio signs it, for a webhook at `path` on [`HOST`].
pub fn signed_form(token: &str, path: &str, params: &[(&str, &str)]) -> Request {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let url = format!("https://{HOST}{path}");
    let signature = twilio_emulator::compute_signature(token, &url, &owned);
    form_request(path, params, Some(&signature))
}

pub fn form_request(path: &str, params: &[(&str, &str)], signature: Option<&str>) -> Request {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut builder = HttpRequest::builder()
        .method("POST")
        .uri(path)
        .header("host", HOST)
        .header("x-forwarded-proto", "https")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(s) = signature {
        builder = builder.header("x-twilio-signature", s);
    }
    builder.body(Body::Text(body)).unwrap()
}

pub fn body_json(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null)
}

pub fn body_text(response: &Response<Body>) -> String {
    String::from_utf8_lossy(response.body().as_ref()).into_owned()
}

pub fn status(response: &Response<Body>) -> StatusCode {
    response.status()
}

/// The proxy a session response gives `address`.
pub fn proxy_of(session: &Value, address: &str) -> String {
    session["participants"]
        .as_array()
        .expect("a session has participants")
        .iter()
        .find(|p| p["messaging_binding"]["address"] == address)
        .and_then(|p| p["messaging_binding"]["proxy_address"].as_str())
        .expect("the address is a participant")
        .to_owned()
}

pub const CALL_SID: &str = "CA0123456789abcdef0123456789abcdef";

/// The form Twilio posts when `from` dials `to`.
pub fn call_params<'a>(from: &'a str, to: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("CallSid", CALL_SID),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", from),
        ("To", to),
        ("Called", to),
        ("Caller", from),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ]
}

/// The attributes masked-comms writes into a session's conversation, for
/// seeding one directly: our record, with a roster of (address, proxy)
/// pairs or none, beside `user` attributes.
pub fn session_attributes(roster: Option<&[(&str, &str)]>, user: Value) -> String {
    use masked_comms::domain::roster::{RosterEntry, SessionRecord};
    let roster = roster.map(|pairs| {
        pairs
            .iter()
            .map(|(address, proxy)| RosterEntry::new(address, proxy))
            .collect()
    });
    SessionRecord::new("seeded", roster).merged_into(user.as_object().expect("an object"))
}
