//! The HTTP side of the Twilio adapter: auth, timeouts, retries, paging.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use reqwest::{header, Method, StatusCode};
use serde::de::DeserializeOwned;

use super::error::{TwilioError, TwilioErrorBody};
use crate::config::TwilioCredentials;
use crate::domain::sid::is_sid_shaped;
use crate::metrics::{Count, Recorder};
use crate::trust_roots::TrustRoots;

/// Where Twilio is and how patiently to talk to it. Built once per process.
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    pub conversations_url: String,
    pub api_url: String,
    pub connect_timeout: Duration,
    /// Upper bound for one attempt, from sending to the last byte.
    pub attempt_timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: usize,
    pub min_retry_delay: Duration,
    pub max_retry_delay: Duration,
}

impl Default for TwilioSettings {
    fn default() -> Self {
        TwilioSettings {
            conversations_url: "https://conversations.twilio.com".into(),
            api_url: "https://api.twilio.com".into(),
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(4),
            max_retries: 3,
            min_retry_delay: Duration::from_millis(100),
            max_retry_delay: Duration::from_secs(2),
        }
    }
}

impl TwilioSettings {
    /// Defaults, with base URLs from `TWILIO_CONVERSATIONS_URL` and
    /// `TWILIO_API_URL` (for the emulator and contract mocks). Plain HTTP is
    /// refused unless the URL names this machine (a local emulator or mock):
    /// the auth token travels in every request.
    pub fn from_env() -> Result<Self, InsecureEndpoint> {
        let mut settings = TwilioSettings::default();
        for (variable, url) in [
            ("TWILIO_CONVERSATIONS_URL", &mut settings.conversations_url),
            ("TWILIO_API_URL", &mut settings.api_url),
        ] {
            if let Ok(value) = std::env::var(variable) {
                *url = value.trim_end_matches('/').to_owned();
            }
            if !is_secure_or_local(url) {
                return Err(InsecureEndpoint { variable });
            }
        }
        Ok(settings)
    }

    /// Whether every endpoint is HTTPS, so the client may refuse anything else.
    fn all_https(&self) -> bool {
        [&self.conversations_url, &self.api_url]
            .iter()
            .all(|url| url.starts_with("https://"))
    }
}

/// A Twilio endpoint that would carry credentials in clear text off this machine.
#[derive(Debug, thiserror::Error)]
#[error("{variable} must be an https:// URL (plain http only for 127.0.0.1, ::1 or localhost)")]
pub struct InsecureEndpoint {
    pub variable: &'static str,
}

fn is_secure_or_local(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match (parsed.scheme(), parsed.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Domain(name))) => name == "localhost",
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        _ => false,
    }
}

/// How long an idle connection to Twilio stays in the pool.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// The connection pool and settings, shared by every request of a process.
#[derive(Debug, Clone)]
pub struct TwilioHttp {
    client: reqwest::Client,
    settings: TwilioSettings,
}

impl TwilioHttp {
    /// A client trusting the process's roots ([`TrustRoots::system`]).
    pub fn new(settings: TwilioSettings) -> Result<Self, reqwest::Error> {
        TwilioHttp::with_roots(settings, TrustRoots::system())
    }

    /// A client trusting `roots` and no others; `None`: the system's roots,
    /// as reqwest loads them.
    pub fn with_roots(
        settings: TwilioSettings,
        roots: Option<&TrustRoots>,
    ) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            // A redirect would resend credentials to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(settings.all_https())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .user_agent(concat!("masked-comms/", env!("CARGO_PKG_VERSION")));
        if let Some(roots) = roots {
            builder = roots.apply(builder);
        }
        Ok(TwilioHttp {
            client: builder.build()?,
            settings,
        })
    }

    /// Opens `connections` connections to the Conversations API and leaves
    /// them in the pool, so the first invocation after a cold start finds
    /// them there instead of paying the TCP and TLS handshakes. Each carries
    /// one `HEAD /` without credentials, whose answer does not matter; a
    /// failure only means the first invocation connects itself.
    pub async fn preconnect(&self, connections: usize) -> usize {
        let url = format!("{}/", self.settings.conversations_url);
        let attempts = (0..connections).map(|_| {
            let request = self
                .client
                .head(&url)
                .timeout(self.settings.attempt_timeout);
            async move { request.send().await }
        });
        let outcomes = futures_util::future::join_all(attempts).await;
        let opened = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
        if let Some(Err(err)) = outcomes.iter().find(|outcome| outcome.is_err()) {
            // The URL is configuration (no credentials, no participant).
            tracing::info!(error = %err, "could not connect to Twilio during init");
        }
        opened
    }

    pub fn settings(&self) -> &TwilioSettings {
        &self.settings
    }

    /// A client for one invocation: its credentials, its deadline, and the
    /// invocation's metrics, which count its requests, their latency and
    /// failures.
    pub fn session<'a>(
        &'a self,
        credentials: &'a TwilioCredentials,
        budget: Duration,
        metrics: &'a Recorder,
    ) -> Twilio<'a> {
        Twilio {
            http: self,
            credentials,
            deadline: Mutex::new(Instant::now() + budget),
            metrics,
        }
    }
}

/// Throttled requests were never processed, so they may be repeated until
/// the deadline; this only bounds the loop.
const MAX_THROTTLED_RETRIES: usize = 50;

/// Whether repeating a request can change anything beyond the first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads, deletes and updates that set absolute values.
    Safe,
    /// Creates: a repeat could make a second resource.
    Unsafe,
}

/// One invocation's view of Twilio.
pub struct Twilio<'a> {
    http: &'a TwilioHttp,
    credentials: &'a TwilioCredentials,
    deadline: Mutex<Instant>,
    metrics: &'a Recorder,
}

/// Why one attempt failed, and whether another may help.
#[derive(Debug)]
enum AttemptError {
    Throttled { retry_after: Option<Duration> },
    ServerError(StatusCode),
    NotSent(String),
    Lost(String),
    Final(TwilioError),
}

impl<'a> Twilio<'a> {
    pub(crate) fn conversations_url(&self, path: &str) -> String {
        format!("{}{}", self.http.settings.conversations_url, path)
    }

    pub(crate) fn api_url(&self, path: &str) -> String {
        format!("{}{}", self.http.settings.api_url, path)
    }

    pub fn account_sid(&self) -> &str {
        &self.credentials.account_sid
    }

    /// Twilio requests made so far, retries included.
    pub fn request_count(&self) -> usize {
        self.metrics.twilio_requests()
    }

    /// Gives this client more time, e.g. to roll back after a failure.
    pub fn extend_deadline(&self, extra: Duration) {
        let mut deadline = self.deadline.lock().unwrap_or_else(|e| e.into_inner());
        *deadline = (*deadline).max(Instant::now()) + extra;
    }

    fn deadline(&self) -> Instant {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, url: &str) -> Result<T, TwilioError> {
        let body = self.send(Method::GET, url, &[], Idempotency::Safe).await?;
        parse(&body)
    }

    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        url: &str,
        form: &[(&str, &str)],
        idempotency: Idempotency,
    ) -> Result<T, TwilioError> {
        let body = self.send(Method::POST, url, form, idempotency).await?;
        parse(&body)
    }

    pub(crate) async fn delete(&self, url: &str) -> Result<(), TwilioError> {
        self.send(Method::DELETE, url, &[], Idempotency::Safe)
            .await
            .map(drop)
    }

    /// The URL of a list's next page, kept on the configured host: Twilio's
    /// absolute `next_page_url` names the public host, which a local emulator
    /// or mock is not.
    pub(crate) fn next_page(&self, base: &str, next_page_url: Option<&str>) -> Option<String> {
        let next = url::Url::parse(next_page_url?).ok()?;
        let query = next.query().map(|q| format!("?{q}")).unwrap_or_default();
        Some(format!("{base}{}{query}", next.path()))
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        form: &[(&str, &str)],
        idempotency: Idempotency,
    ) -> Result<Bytes, TwilioError> {
        let settings = &self.http.settings;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(settings.min_retry_delay)
            .with_max_delay(settings.max_retry_delay)
            // 429s are retried until the deadline; failures count below.
            .with_max_times(MAX_THROTTLED_RETRIES)
            .with_jitter();
        let mut failures = 0;
        let encoded = (!form.is_empty()).then(|| {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish()
        });
        let deadline = self.deadline();
        let attempt = || self.attempt(method.clone(), url, encoded.clone());
        attempt
            .retry(backoff)
            .when(|e| {
                let retryable = match e {
                    AttemptError::Throttled { .. } => return true,
                    AttemptError::NotSent(_) => true,
                    AttemptError::ServerError(_) | AttemptError::Lost(_) => {
                        idempotency == Idempotency::Safe
                    }
                    AttemptError::Final(_) => false,
                };
                failures += 1;
                retryable && failures <= settings.max_retries
            })
            .adjust(move |e, backoff_delay| {
                let delay = match e {
                    // Jitter spreads the clients that were all told the same wait.
                    AttemptError::Throttled {
                        retry_after: Some(after),
                    } => Some(*after + jitter(backoff_delay?)),
                    _ => backoff_delay,
                }?;
                // Waiting past the deadline only postpones the same failure.
                (Instant::now() + delay < deadline).then_some(delay)
            })
            .await
            .map_err(|e| match e {
                AttemptError::Throttled { .. } => TwilioError::Throttled,
                AttemptError::ServerError(status) if idempotency == Idempotency::Unsafe => {
                    TwilioError::OutcomeUnknown(format!("HTTP {status}"))
                }
                AttemptError::ServerError(status) => {
                    TwilioError::Unavailable(format!("HTTP {status}"))
                }
                AttemptError::NotSent(reason) => TwilioError::Unavailable(reason),
                AttemptError::Lost(reason) if idempotency == Idempotency::Unsafe => {
                    TwilioError::OutcomeUnknown(reason)
                }
                AttemptError::Lost(reason) => TwilioError::Unavailable(reason),
                AttemptError::Final(err) => err,
            })
    }

    async fn attempt(
        &self,
        method: Method,
        url: &str,
        form: Option<String>,
    ) -> Result<Bytes, AttemptError> {
        let remaining = self.deadline().saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(AttemptError::Final(TwilioError::Unavailable(
                "time budget for Twilio requests is spent".into(),
            )));
        }
        let timeout = remaining.min(self.http.settings.attempt_timeout);
        let mut request = self
            .http
            .client
            .request(method.clone(), url)
            .basic_auth(
                &self.credentials.account_sid,
                Some(self.credentials.auth_token.expose()),
            )
            .header(header::ACCEPT, "application/json")
            .timeout(timeout);
        if let Some(body) = form {
            request = request
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body);
        }
        self.metrics.twilio_request();
        let started = Instant::now();
        let response = request.send().await.map_err(|e| {
            self.metrics.count(Count::TwilioErrors);
            classify_transport(e)
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.map_err(|e| {
            self.metrics.count(Count::TwilioErrors);
            classify_transport(e)
        })?;
        self.metrics.twilio_answered(started.elapsed());
        if let Some(fact) = health(status) {
            self.metrics.count(fact);
        }
        tracing::debug!(
            method = %method,
            path = %loggable_path(url),
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "twilio request"
        );
        if status.is_success() {
            return Ok(body);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(AttemptError::Throttled { retry_after });
        }
        if status.is_server_error() {
            return Err(AttemptError::ServerError(status));
        }
        let error: TwilioErrorBody = serde_json::from_slice(&body).unwrap_or_default();
        Err(AttemptError::Final(TwilioError::Refused {
            status: status.as_u16(),
            code: error.code,
            message: error.message,
        }))
    }
}

/// What an answer says of Twilio's health, for the metrics: throttled, or
/// failing (5xx, or our credentials refused, which fails every request
/// until fixed). Other refusals answer the question asked.
fn health(status: StatusCode) -> Option<Count> {
    match status {
        StatusCode::TOO_MANY_REQUESTS => Some(Count::TwilioThrottled),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Some(Count::TwilioErrors),
        s if s.is_server_error() => Some(Count::TwilioErrors),
        _ => None,
    }
}

/// The request path for logs: sids and API words stay, anything else (a
/// unique name, which a client may have filled with a phone number) does not.
/// Queries, which carry addresses, are never logged.
fn loggable_path(url: &str) -> String {
    let path = url::Url::parse(url)
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    path.split('/')
        .map(|segment| {
            let is_sid = is_sid_shaped(segment);
            let is_word = segment
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'.')
                || segment == "v1"
                || segment == "2010-04-01";
            if is_sid || is_word {
                segment
            } else {
                "{name}"
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A random share of `upto`.
fn jitter(upto: Duration) -> Duration {
    upto.mul_f64(rand::random::<f64>())
}

fn classify_transport(err: reqwest::Error) -> AttemptError {
    // A failed connect means Twilio never saw the request.
    if err.is_connect() {
        AttemptError::NotSent(format!("cannot connect to Twilio: {}", error_chain(&err)))
    } else if err.is_timeout() {
        AttemptError::Lost("Twilio did not answer in time".into())
    } else {
        AttemptError::Lost(format!(
            "connection to Twilio failed: {}",
            error_chain(&err)
        ))
    }
}

/// The error's causes, which hold the useful detail (refused, reset, …).
/// reqwest's messages carry the URL, whose query may hold a phone number, so
/// the URL is stripped first.
fn error_chain(err: &reqwest::Error) -> String {
    let mut text = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push(cause.to_string());
        source = cause.source();
    }
    if text.is_empty() {
        "no detail".into()
    } else {
        text.join(": ")
    }
}

/// Twilio writes an unset string setting as null or as `""`: both are `None`.
pub(crate) fn empty_as_none<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let value: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(value.filter(|v| !v.is_empty()))
}

/// serde_json's own message quotes the offending value, which may be a phone
/// number; only its kind and position are kept.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, TwilioError> {
    serde_json::from_slice(body).map_err(|e| {
        TwilioError::InvalidResponse(format!(
            "{:?} error at line {}, column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_reaches_this_machine() {
        for local in [
            "http://127.0.0.1:4010",
            "http://localhost:4010",
            "http://[::1]:4010",
            "https://conversations.twilio.com",
        ] {
            assert!(is_secure_or_local(local), "{local}");
        }
        for remote in [
            "http://conversations.twilio.com",
            "http://10.0.0.8:4010",
            "http://localhost.evil.example",
            "ftp://127.0.0.1",
            "not a url",
        ] {
            assert!(!is_secure_or_local(remote), "{remote}");
        }
    }

    #[test]
    fn parse_errors_do_not_quote_the_body() {
        let err = parse::<u32>(br#""+14155550101""#).unwrap_err().to_string();
        assert!(!err.contains("4155550101"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn only_throttling_server_errors_and_refused_credentials_count_against_twilio() {
        assert_eq!(
            health(StatusCode::TOO_MANY_REQUESTS),
            Some(Count::TwilioThrottled)
        );
        for failing in [401, 403, 500, 502, 503] {
            let status = StatusCode::from_u16(failing).unwrap();
            assert_eq!(health(status), Some(Count::TwilioErrors), "{failing}");
        }
        for answer in [200, 201, 204, 400, 404, 409] {
            assert_eq!(
                health(StatusCode::from_u16(answer).unwrap()),
                None,
                "{answer}"
            );
        }
    }

    #[test]
    fn logged_paths_keep_sids_and_hide_names() {
        assert_eq!(
            loggable_path("http://x/v1/Conversations/CH0123456789abcdef0123456789abcdef/Participants?Address=%2B1415"),
            "/v1/Conversations/CH0123456789abcdef0123456789abcdef/Participants"
        );
        assert_eq!(
            loggable_path("http://x/v1/Conversations/%2B14155550101-ride"),
            "/v1/Conversations/{name}"
        );
        assert_eq!(
            loggable_path(
                "http://x/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls.json"
            ),
            "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls.json"
        );
    }
}
