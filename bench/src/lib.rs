//! Shared pieces of the benchmarks: an `AppState` wired to the in-process Twilio
//! emulator, request builders for the entry points, API Gateway v2 events for
//! the whole-process runs, number-choice inputs, and percentiles; moto and a
//! counting proxy ([`moto`]); the session index's table and items ([`index`]).

pub mod index;
pub mod moto;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use lambda_http::http::Request as HttpRequest;
use lambda_http::{Body, Request};
use masked_comms::config::{Config, ConfigStore, RawConfig};
use masked_comms::domain::address::PhoneNumber;
use masked_comms::domain::geo::Location;
use masked_comms::domain::pool::{Pool, ProxyHistory};
use masked_comms::twilio::{TwilioHttp, TwilioSettings};
use masked_comms::AppState;
use serde_json::{json, Value};
use twilio_emulator::{ConversationSeed, Emulator, EmulatorConfig};

pub const USERNAME: &str = "operator";
/// At least 16 characters: the configuration refuses shorter ones.
pub const PASSWORD: &str = "bench-operator-password";
/// Webhooks are signed for this public base URL (configured as `public-base-url`).
pub const PUBLIC_BASE_URL: &str = "https://masked.example.com";
pub const HOST: &str = "masked.example.com";
pub const CALL_SID: &str = "CA0123456789abcdef0123456789abcdef";

/// The proxy pool the end-to-end runs use. Every create uses fresh participant
/// addresses ([`address`]), so a small pool never runs out.
pub fn pool_numbers(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("+1500555{:04}", i)).collect()
}

/// The `n`-th participant address: distinct for every `n` below 7 million, and on
/// area code 415 so the pool's geographic ranking has work to do.
pub fn address(n: usize) -> String {
    format!("+1415{:07}", 2_000_000 + n)
}

/// Raw configuration values (SSM names below the prefix) for the emulator's
/// sample account: what the whole-process runs put into SSM, and what the
/// in-process runs parse.
pub fn config_values(pool: &[String]) -> Vec<(String, String)> {
    [
        ("twilio/account-sid", twilio_emulator::SAMPLE_ACCOUNT_SID),
        ("twilio/auth-token", twilio_emulator::SAMPLE_AUTH_TOKEN),
        ("auth/username", USERNAME),
        ("auth/password", PASSWORD),
        ("public-base-url", PUBLIC_BASE_URL),
        ("call/connecting-announcement", "Connecting your call."),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([("number-pool".to_owned(), pool.join(","))])
    .collect()
}

pub fn config(pool: &[String]) -> Config {
    let values: HashMap<String, String> = config_values(pool).into_iter().collect();
    RawConfig::from_ssm(values)
        .parse()
        .expect("bench configuration is valid")
}

/// Production timeouts and retry policy, pointed at `base_url`.
pub fn settings(base_url: &str) -> TwilioSettings {
    TwilioSettings {
        conversations_url: base_url.to_owned(),
        api_url: base_url.to_owned(),
        ..TwilioSettings::default()
    }
}

/// The emulator and an `AppState` talking to it over loopback HTTP, as a
/// function's init would build it (fixed configuration instead of SSM).
pub struct Fixture {
    pub emulator: Emulator,
    pub state: AppState,
}

impl Fixture {
    pub async fn start(latency: Duration) -> Fixture {
        Fixture::start_with(latency, &[]).await
    }

    /// With these configuration values added (loopback URLs allowed: the
    /// receivers of a bench listen on this machine).
    pub async fn start_with(latency: Duration, extra: &[(&str, &str)]) -> Fixture {
        let emulator = Emulator::start(EmulatorConfig {
            latency,
            ..EmulatorConfig::default()
        })
        .await
        .expect("emulator starts");
        let twilio = TwilioHttp::new(settings(&emulator.base_url())).expect("client builds");
        let values: HashMap<String, String> = config_values(&pool_numbers(20))
            .into_iter()
            .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        let config = RawConfig::from_ssm(values)
            .running_locally(true)
            .parse()
            .expect("bench configuration is valid");
        let state = AppState::new(ConfigStore::fixed(config), twilio);
        Fixture { emulator, state }
    }

    /// A session (our record in its attributes, beside the caller's own) with
    /// these (address, proxy) bindings and no roster: an inbound call to it
    /// takes the participant-list fallback. Without our record it would not
    /// be a session at all, and a call to it would not be connected.
    pub fn seed_without_roster(&self, bindings: &[(String, String)]) -> String {
        let user = json!({"crm": "x"});
        let attributes = masked_comms::domain::roster::SessionRecord::new("seeded", None)
            .merged_into(user.as_object().expect("an object"));
        self.emulator
            .seed_conversation(ConversationSeed {
                attributes: Some(attributes),
                bindings: bindings.to_vec(),
                ..Default::default()
            })
            .expect("seed is valid")
    }
}

pub fn basic_auth() -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{USERNAME}:{PASSWORD}"));
    format!("Basic {encoded}")
}

/// One HTTP request as the function sees it, independent of how it is delivered
/// (a `lambda_http::Request` in-process, an API Gateway v2 event to a process).
#[derive(Debug, Clone)]
pub struct Call {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Call {
    pub fn to_request(&self) -> Request {
        let mut builder = HttpRequest::builder()
            .method(self.method)
            .uri(self.path.as_str());
        for (k, v) in &self.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let body = if self.body.is_empty() {
            Body::Empty
        } else {
            Body::Text(self.body.clone())
        };
        builder.body(body).expect("valid request")
    }

    /// The API Gateway HTTP API (payload 2.0) event Lambda would deliver.
    pub fn to_event(&self, request_id: &str) -> Value {
        let (raw_path, raw_query) = match self.path.split_once('?') {
            Some((p, q)) => (p, q),
            None => (self.path.as_str(), ""),
        };
        let mut headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone())))
            .collect();
        headers.insert("x-forwarded-proto".into(), "https".into());
        headers.insert("x-forwarded-port".into(), "443".into());
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": raw_path,
            "rawQueryString": raw_query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "bench",
                "domainName": HOST,
                "domainPrefix": "masked",
                "http": {
                    "method": self.method,
                    "path": raw_path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "bench"
                },
                "requestId": request_id,
                "routeKey": "$default",
                "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000",
                "timeEpoch": 1767225600000u64
            },
            "body": self.body,
            "isBase64Encoded": false
        })
    }
}

/// `POST /sessions` with these participants (operator basic auth, JSON body).
pub fn create_call(addresses: &[String]) -> Call {
    Call {
        method: "POST",
        path: "/sessions".into(),
        headers: vec![
            ("host".into(), HOST.into()),
            ("content-type".into(), "application/json".into()),
            ("authorization".into(), basic_auth()),
        ],
        body: json!({ "addresses": addresses }).to_string(),
    }
}

/// A form POST to a webhook `path`, signed as Twilio signs it.
pub fn signed_webhook(path: &str, params: &[(&str, &str)]) -> Call {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let signature = twilio_emulator::compute_signature(
        twilio_emulator::SAMPLE_AUTH_TOKEN,
        &format!("{PUBLIC_BASE_URL}{path}"),
        &owned,
    );
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    Call {
        method: "POST",
        path: path.into(),
        headers: vec![
            ("host".into(), HOST.into()),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("x-twilio-signature".into(), signature),
        ],
        body,
    }
}

/// Twilio's voice webhook for a call from `from` to our number `to`.
pub fn inbound_call(from: &str, to: &str) -> Call {
    signed_webhook(
        "/inbound-call",
        &[
            ("CallSid", CALL_SID),
            ("AccountSid", twilio_emulator::SAMPLE_ACCOUNT_SID),
            ("From", from),
            ("To", to),
            ("Called", to),
            ("Caller", from),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
            ("ApiVersion", "2010-04-01"),
        ],
    )
}

/// The post-event Twilio sends when a conversation closes.
pub fn conversation_closed(sid: &str) -> Call {
    signed_webhook(
        "/conversation-events",
        &[
            ("EventType", "onConversationStateUpdated"),
            ("AccountSid", twilio_emulator::SAMPLE_ACCOUNT_SID),
            ("ConversationSid", sid),
            ("StateFrom", "active"),
            ("StateTo", "closed"),
            ("Reason", "TIMER"),
            ("Source", "SDK"),
        ],
    )
}

/// `DELETE /sessions/{sid}`: closes a session (operator basic auth).
pub fn close_call(sid: &str) -> Call {
    Call {
        method: "DELETE",
        path: format!("/sessions/{sid}"),
        headers: vec![
            ("host".into(), HOST.into()),
            ("authorization".into(), basic_auth()),
        ],
        body: String::new(),
    }
}

/// The operator's page.
pub fn landing_page() -> Call {
    Call {
        method: "GET",
        path: "/".into(),
        headers: vec![
            ("host".into(), HOST.into()),
            ("authorization".into(), basic_auth()),
        ],
        body: String::new(),
    }
}

/// The proxy each participant got, from a `POST /sessions` answer.
pub fn proxies_of(session: &Value) -> Vec<(String, String)> {
    session["participants"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| {
                    let b = &p["messaging_binding"];
                    Some((
                        b["address"].as_str()?.to_owned(),
                        b["proxy_address"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Inputs for number choice at scale: a pool of `pool_size` numbers across a
/// few area codes and countries, and `participants` participants each with
/// `bindings` earlier bindings (half in open conversations, half closed).
pub struct ChoiceInputs {
    pub pool: Pool,
    pub participants: Vec<Location>,
    pub histories: Vec<(Vec<String>, Vec<String>)>,
}

impl ChoiceInputs {
    pub fn new(pool_size: usize, bindings: usize, participants: usize) -> ChoiceInputs {
        // Spread over area codes 212, 415, 604 (Canada) and a UK range.
        let numbers: Vec<String> = (0..pool_size)
            .map(|i| match i % 4 {
                0 => format!("+1212555{:04}", i / 4),
                1 => format!("+1415555{:04}", i / 4),
                2 => format!("+1604555{:04}", i / 4),
                _ => format!("+4477009{:05}", i / 4),
            })
            .collect();
        let pool = Pool::new(&numbers).expect("pool is valid");
        let people: Vec<Location> = (0..participants)
            .map(|p| {
                let n = PhoneNumber::parse(&address(p)).expect("valid");
                Location::of(&n)
            })
            .collect();
        let histories = (0..participants)
            .map(|p| {
                // Deterministic, participant-specific picks across the pool.
                let pick = |k: usize| numbers[(p * 7919 + k * 104_729) % pool_size].clone();
                let bound = (0..bindings / 2).map(pick).collect();
                let earlier = (bindings / 2..bindings).map(pick).collect();
                (bound, earlier)
            })
            .collect();
        ChoiceInputs {
            pool,
            participants: people,
            histories,
        }
    }

    pub fn history(&self, participant: usize) -> ProxyHistory<'_> {
        let (bound, earlier) = &self.histories[participant];
        ProxyHistory {
            bound: bound.iter().map(String::as_str).collect(),
            earlier: earlier.iter().map(String::as_str).collect(),
        }
    }
}

/// Nearest-rank percentile of `samples` (any order), `q` in 0..=100.
pub fn percentile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50/p90/p95/p99/min/max in milliseconds, as JSON.
pub fn summary_ms(samples: &[f64]) -> Value {
    json!({
        "n": samples.len(),
        "p50": percentile(samples, 50.0),
        "p90": percentile(samples, 90.0),
        "p95": percentile(samples, 95.0),
        "p99": percentile(samples, 99.0),
        "min": percentile(samples, 0.0),
        "max": percentile(samples, 100.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 50.0), 50.0);
        assert_eq!(percentile(&s, 99.0), 99.0);
        assert_eq!(percentile(&s, 0.0), 1.0);
        assert_eq!(percentile(&s, 100.0), 100.0);
        assert_eq!(percentile(&[3.0], 50.0), 3.0);
    }

    #[test]
    fn choice_inputs_have_the_requested_shape() {
        let c = ChoiceInputs::new(200, 20, 5);
        assert_eq!(c.pool.len(), 200);
        assert_eq!(c.participants.len(), 5);
        assert_eq!(c.history(0).bound.len() + c.history(0).earlier.len(), 20);
    }
}
