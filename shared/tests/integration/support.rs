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
/// The stack's reply-throttle key in these tests (`reply-key`).
pub const REPLY_KEY: &str = "reply-key-for-tests-0123456789abcdef01234";
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
        // As `make params` makes one for every stack; a test may replace it
        // (or blank it: an empty value is no value).
        values.insert("reply-key".into(), REPLY_KEY.into());
        for (k, v) in extra {
            values.insert(k.to_string(), v.to_string());
        }
        // The receivers and backends of these tests listen on loopback.
        let config = RawConfig::from_ssm(values)
            .running_locally(true)
            .parse()
            .expect("test config is valid");
        let twilio = TwilioHttp::new(settings(&emulator.base_url())).expect("client builds");
        let mut state = AppState::new(ConfigStore::fixed(config), twilio);
        // Each invocation's metrics document, for tests to read (metrics.rs).
        state.metrics = masked_comms::metrics::Sink::memory();
        Harness { emulator, state }
    }

    pub fn requests_made(&self) -> usize {
        self.emulator.requests().len()
    }
}

/// A session of ours (record and roster in its attributes) that Twilio has
/// closed, as the conversation-events webhook finds it.
pub fn seed_closed(h: &Harness) -> String {
    h.emulator
        .seed_conversation(twilio_emulator::ConversationSeed {
            state: twilio_emulator::ConversationState::Closed,
            attributes: Some(session_attributes(
                Some(&[("+14155550101", POOL[0])]),
                serde_json::json!({}),
            )),
            bindings: vec![("+14155550101".into(), POOL[0].into())],
            ..Default::default()
        })
        .unwrap()
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

/// An operator's request to the session API (JSON when `body` is given),
/// answered by the sessions handler: (status, JSON body).
pub async fn session_api(
    h: &Harness,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let req = match body {
        Some(body) => operator_json(method, path, &body),
        None => request(method, path, None, "", Some(&basic(USERNAME, PASSWORD))),
    };
    let response = masked_comms::handlers::sessions::handle(&h.state, req).await;
    (response.status().as_u16(), body_json(&response))
}

/// `POST /sessions` with `body`, which must answer 201: the session.
pub async fn created_session(h: &Harness, body: Value) -> Value {
    let (status, session) = session_api(h, "POST", "/sessions", Some(body)).await;
    assert_eq!(status, 201, "{session}");
    session
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

// ------------------------------------------------------------ session index

/// The repository's root.
fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// moto's server (DynamoDB), one for the whole test binary: the one at
/// `MASKED_COMMS_MOTO_URL`, or started here from the repository's `.venv`.
pub fn moto_url() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| std::env::var("MASKED_COMMS_MOTO_URL").unwrap_or_else(|_| start_moto()))
}

fn start_moto() -> String {
    use std::os::unix::process::CommandExt;
    let server = repo().join(".venv/bin/moto_server");
    assert!(
        server.exists(),
        "{} is missing: run `make venv` (bash dev/bootstrap-venv.sh) first",
        server.display()
    );
    let port = free_port();
    let (started, spawned) = std::sync::mpsc::channel();
    // The child gets SIGTERM when the thread that spawned it ends
    // (PR_SET_PDEATHSIG), so it is spawned from one that never does: moto
    // then goes when this test process does, however it ends.
    std::thread::spawn(move || {
        let mut command = std::process::Command::new(server);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: prctl is async-signal-safe and touches no shared state.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        started.send(command.spawn().map(|c| c.id())).unwrap();
        loop {
            std::thread::park();
        }
    });
    spawned.recv().unwrap().expect("moto_server starts");
    let address = format!("127.0.0.1:{port}");
    for _ in 0..200 {
        if std::net::TcpStream::connect(&address).is_ok() {
            return format!("http://{address}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("moto_server did not listen on {address}");
}

/// Every item of the harness's table, whole.
pub async fn scan(h: &Harness) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let client = dynamodb_client(moto_url());
    let mut all = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(h.index().table())
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        all.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return all;
        }
    }
}

/// An index item's (pk, sk).
pub fn key_of(item: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> (String, String) {
    (
        item["pk"].as_s().unwrap().clone(),
        item["sk"].as_s().unwrap().clone(),
    )
}

/// A DynamoDB client for a local endpoint, with throwaway credentials.
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A table of its own for one test, created as template.yaml declares it
/// (by the same tool `make dev` uses).
pub async fn new_index_table() -> String {
    let table = format!("sessions-{:016x}", rand::random::<u64>());
    let status = tokio::process::Command::new(repo().join(".venv/bin/python"))
        .arg(repo().join("dev/session_index.py"))
        .args(["create", "--endpoint", moto_url(), "--table", &table])
        .status()
        .await
        .expect("python runs");
    assert!(status.success(), "dev/session_index.py create failed");
    table
}

impl Harness {
    /// A harness whose functions use a session index of their own, reached
    /// through an [`IndexProxy`] (which counts requests and injects faults).
    pub async fn with_index(pool: &[&str], extra: &[(&str, &str)]) -> (Self, IndexProxy) {
        let mut harness = Self::with(pool, extra).await;
        let table = new_index_table().await;
        let proxy = IndexProxy::start(moto_url()).await;
        harness.state.index = Some(masked_comms::index::SessionIndex::new(
            dynamodb_client(&proxy.url),
            table,
        ));
        (harness, proxy)
    }

    pub async fn start_indexed() -> (Self, IndexProxy) {
        Self::with_index(&POOL, &[]).await
    }

    /// Another execution environment of the same function: its own
    /// ledgers and caches, the same Twilio, configuration and index.
    pub async fn another_environment(&self) -> AppState {
        let config = self.state.config.current().await.expect("config loads");
        let twilio = TwilioHttp::new(settings(&self.emulator.base_url())).expect("client builds");
        let mut state = AppState::new(ConfigStore::fixed((*config).clone()), twilio);
        state.index = self.state.index.clone();
        state
    }

    /// The index the functions use, to look at or to seed.
    pub fn index(&self) -> &masked_comms::index::SessionIndex {
        self.state.index.as_ref().expect("a harness with an index")
    }
}

/// Between the functions and moto: records each DynamoDB operation and can
/// fail the next ones of a kind (as DynamoDB's 500, which the SDK retries).
#[derive(Clone)]
pub struct IndexProxy {
    pub url: String,
    state: std::sync::Arc<ProxyState>,
}

#[derive(Default)]
struct ProxyState {
    seen: std::sync::Mutex<Vec<String>>,
    failing: std::sync::Mutex<HashMap<String, usize>>,
    upstream: String,
    http: reqwest::Client,
}

impl IndexProxy {
    pub async fn start(upstream: &str) -> Self {
        let state = std::sync::Arc::new(ProxyState {
            upstream: upstream.to_owned(),
            ..Default::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        IndexProxy { url, state }
    }

    /// The next `times` requests of `operation` (e.g. `PutItem`) fail.
    pub fn fail(&self, operation: &str, times: usize) {
        self.state
            .failing
            .lock()
            .unwrap()
            .insert(operation.to_owned(), times);
    }

    /// The operations seen so far, in order (`Query`, `BatchWriteItem`, …).
    pub fn operations(&self) -> Vec<String> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.state.seen.lock().unwrap().clear();
    }
}

async fn forward(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<ProxyState>>,
    request: axum::http::Request<axum::body::Body>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split('.').nth(1))
        .unwrap_or("")
        .to_owned();
    state.seen.lock().unwrap().push(operation.clone());
    {
        let mut failing = state.failing.lock().unwrap();
        if let Some(left) = failing.get_mut(&operation) {
            if *left > 0 {
                *left -= 1;
                return (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    [("content-type", "application/x-amz-json-1.0")],
                    r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected by the test"}"#,
                )
                    .into_response();
            }
        }
    }
    let mut upstream = state
        .http
        .request(
            parts.method.clone(),
            format!("{}{}", state.upstream, parts.uri),
        )
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" {
            upstream = upstream.header(name, value);
        }
    }
    match upstream.send().await {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            let bytes = answer.bytes().await.unwrap_or_default();
            let mut response = (status, bytes).into_response();
            for (name, value) in &headers {
                if name != "content-length" && name != "transfer-encoding" {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
        }
        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

// ------------------------------------------------------------ event receiver

/// What an event receiver got: headers (lower-case names) and body.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// An operator's event receiver on loopback, answering `status` (settable).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    got: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    /// The answer's body and how long it waits before answering.
    reply: std::sync::Arc<std::sync::Mutex<(String, Duration)>>,
}

/// The secret the harness signs events with (32 characters or more).
pub const EVENTS_SECRET: &str = "events-signing-secret-for-tests-0123456789";

impl Receiver {
    pub async fn start() -> Self {
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let status = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(200));
        let reply = std::sync::Arc::new(std::sync::Mutex::new((String::new(), Duration::ZERO)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback({
            let got = got.clone();
            let status = status.clone();
            let reply = reply.clone();
            move |request: axum::http::Request<axum::body::Body>| {
                let got = got.clone();
                let status = status.clone();
                let (text, delay) = reply.lock().unwrap().clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let body = axum::body::to_bytes(body, usize::MAX)
                        .await
                        .unwrap_or_default();
                    got.lock().unwrap().push(Received {
                        headers: parts
                            .headers
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                            })
                            .collect(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    tokio::time::sleep(delay).await;
                    (
                        axum::http::StatusCode::from_u16(
                            status.load(std::sync::atomic::Ordering::SeqCst),
                        )
                        .unwrap(),
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        text,
                    )
                }
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url,
            got,
            status,
            reply,
        }
    }

    /// Answers every request with `body` after `delay`.
    pub fn reply_with(&self, body: &str, delay: Duration) {
        *self.reply.lock().unwrap() = (body.to_owned(), delay);
    }

    pub fn answer(&self, status: u16) {
        self.status
            .store(status, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every request so far (deliveries that failed included).
    pub fn requests(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// The events the receiver took (answered 2xx), as JSON.
    pub fn events(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .filter_map(|r| serde_json::from_str(&r.body).ok())
            .collect()
    }

    /// Configuration entries that point the functions at this receiver.
    pub fn config(&self) -> [(&'static str, String); 2] {
        [
            ("events/url", self.url.clone()),
            ("events/signing-secret", EVENTS_SECRET.to_owned()),
        ]
    }
}

/// The signature a receiver expects, computed here from the recipe in
/// docs/api.md (Event callbacks): HMAC-SHA256 of `{timestamp}.{body}` keyed with the events
/// secret, hex, prefixed `v1=`.
pub fn event_signature(timestamp: &str, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(EVENTS_SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}
