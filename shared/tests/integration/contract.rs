//! Contract tests: every request our Twilio client can make, sent to Stoplight Prism
//! mocking Twilio's own OpenAPI description (twilio-oai, from the npm package
//! `@twilio-alpha/mcp` that `contract/` pins).
//!
//! Our client and our emulator are both ours, so a wrong parameter name or shape could pass
//! every other test. Here:
//!
//! - Prism (`prism mock --errors`) answers 422 with the violated rule when a request breaks
//!   the description (a value's type, pattern, enum, bounds, a required field, auth). Any
//!   answer that is not 2xx fails the test and shows Prism's validation messages.
//! - Prism accepts form fields and query parameters the description does not declare, and
//!   matches query names without regard to case, so a misspelt name would pass it. A
//!   recording proxy between client and Prism therefore also checks that every name we send
//!   is declared, exactly, for that operation.
//! - Prism answers with the description's own examples. Each operation is repeated once per
//!   example (`Prefer: example=NAME`, added by the proxy), and the client must parse them all.
//! - For lists, the proxy points the first page's `next_page_url` at a second page (on
//!   Twilio's public host, as Twilio does), so the client's paging requests are checked too.
//!
//! - Twilio takes an array form field as the name repeated (`Filters=a&Filters=b`, as its
//!   helper libraries send it); Prism reads arrays only in its bracket form (`Filters[]=a`).
//!   The proxy renames the fields the description declares as arrays on the way to Prism,
//!   so Prism checks every value; the record, and the name checks, keep what we sent.
//!
//! Run by `contract/run.sh`, which starts Prism and sets `TWILIO_CONVERSATIONS_URL` and
//! `TWILIO_API_URL`; these tests are `#[ignore]`d otherwise, and fail if run without them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use masked_comms::config::{Secret, TwilioCredentials};
use masked_comms::twilio::twiml::{render, Verb, Voice};
use masked_comms::twilio::{
    ConversationParams, ConversationState, NumberWebhooks, TwilioError, TwilioHttp, TwilioSettings,
    WebhookConfigurationUpdate,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use twilio_setup::base_url::BaseUrl;
use twilio_setup::plan::{Choices, POST_EVENTS};
use twilio_setup::{wire, Outcome, Wiring};

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "0123456789abcdef0123456789abcdef";
const MESSAGING_SERVICE: &str = "MG0123456789abcdef0123456789abcdef";
const CONVERSATION: &str = "CH0123456789abcdef0123456789abcdef";
const PARTICIPANT: &str = "MB0123456789abcdef0123456789abcdef";
const RECORDING: &str = "RE0123456789abcdef0123456789abcdef";
const ALICE: &str = "+14155550101";
const BOB: &str = "+447700900123";
const WHATSAPP_CAROL: &str = "whatsapp:+14155550103";
const PROXY: &str = "+14155550000";
const WHATSAPP_PROXY: &str = "whatsapp:+14155550000";
/// Attributes as masked-comms writes them: the user's, plus our namespaced record.
const ATTRIBUTES: &str = r#"{"order":42,"masked-comms":{"v":1,"request":"0f8b6c2e-3a4d-4e5f-9a1b-2c3d4e5f6a7b","roster":[{"address":"+14155550101","proxy":"+14155550000"}]}}"#;

const RUN_ME: &str = "run contract/run.sh, which starts Prism on Twilio's OpenAPI description \
                      and runs these tests with --ignored";

// ---------------------------------------------------------------------------------------
// Twilio's description: which names an operation declares, and its examples.

fn spec_dir() -> PathBuf {
    match std::env::var_os("TWILIO_OPENAPI_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../contract/node_modules/@twilio-alpha/mcp/twilio-oai/spec/json"),
    }
}

fn load_spec(name: &str) -> Value {
    let path = spec_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {} ({e}); {RUN_ME}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub(crate) struct Description {
    root: Value,
}

impl Description {
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => self.resolve(
                self.root
                    .pointer(reference.trim_start_matches('#'))
                    .unwrap_or_else(|| panic!("dangling $ref {reference}")),
            ),
            None => value,
        }
    }

    /// The operation (its path template and object) whose template matches `path`.
    fn operation(&self, method: &str, path: &str) -> Option<(&str, &Value)> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.root["paths"]
            .as_object()?
            .iter()
            .filter_map(|(template, item)| {
                let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literal = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    if part.starts_with('{') {
                        continue;
                    }
                    if part != segment {
                        return None;
                    }
                    literal += 1;
                }
                Some((
                    literal,
                    template.as_str(),
                    item.get(method.to_ascii_lowercase())?,
                ))
            })
            .max_by_key(|(literal, _, _)| *literal)
            .map(|(_, template, op)| (template, op))
    }

    /// Names we sent that the operation does not declare (case-sensitive).
    fn undeclared(&self, exchange: &Exchange) -> Vec<String> {
        let Some((template, op)) = self.operation(&exchange.method, &exchange.path) else {
            return vec![format!(
                "{} {}: no operation in the description",
                exchange.method, exchange.path
            )];
        };
        let id = op["operationId"].as_str().unwrap_or(template);
        let mut problems = Vec::new();
        let query: Vec<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| self.resolve(p))
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for (name, _) in &exchange.query {
            if !query.contains(&name.as_str()) {
                problems.push(format!(
                    "{id}: query parameter {name:?} is not declared (declared: {query:?})"
                ));
            }
        }
        if !exchange.form.is_empty() {
            let schema = op
                .pointer("/requestBody/content/application~1x-www-form-urlencoded/schema")
                .map(|s| self.resolve(s));
            let declared: Vec<&str> = schema
                .and_then(|s| s["properties"].as_object())
                .into_iter()
                .flat_map(|p| p.keys().map(String::as_str))
                .collect();
            for (name, _) in &exchange.form {
                if !declared.contains(&name.as_str()) {
                    problems.push(format!(
                        "{id}: form field {name:?} is not declared (declared: {declared:?})"
                    ));
                }
            }
        }
        problems
    }

    /// Every form field any operation declares as an array.
    fn form_arrays(&self) -> BTreeSet<String> {
        let operations = self.root["paths"]
            .as_object()
            .into_iter()
            .flat_map(|paths| paths.values())
            .filter_map(|item| item.as_object())
            .flat_map(|item| item.values());
        operations
            .filter_map(|op| {
                op.pointer("/requestBody/content/application~1x-www-form-urlencoded/schema")
            })
            .filter_map(|schema| self.resolve(schema)["properties"].as_object())
            .flat_map(|properties| properties.iter())
            .filter(|(_, property)| self.resolve(property)["type"] == "array")
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The examples (name, value) of an operation's JSON response.
    pub(crate) fn examples(
        &self,
        method: &str,
        template: &str,
        status: u16,
    ) -> Vec<(String, Value)> {
        let examples = self.root["paths"][template][method]["responses"][status.to_string()]
            ["content"]["application/json"]["examples"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {template} {status} has no examples"));
        examples
            .iter()
            .map(|(name, e)| (name.clone(), e["value"].clone()))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// The recording proxy between our client and Prism.

/// One request our client sent, and what Prism answered.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    method: String,
    pub(crate) path: String,
    query: Vec<(String, String)>,
    pub(crate) form: Vec<(String, String)>,
    status: u16,
    body: String,
}

impl Exchange {
    fn describe(&self) -> String {
        format!(
            "{} {} query {:?} form {:?} -> {} {}",
            self.method, self.path, self.query, self.form, self.status, self.body
        )
    }
}

#[derive(Default)]
pub(crate) struct ProxyState {
    /// Sent as `Prefer: example=NAME`: which of the description's examples Prism answers.
    example: Option<String>,
    /// Whether a list's first page gets a `next_page_url` to a second page.
    paging: bool,
    /// By HTTP method: the description's own example, answered when Prism accepted the
    /// request but refuses to serve that example because it breaks the description's
    /// response schema (API 2010's IncomingPhoneNumber examples: `""` for unset sids and
    /// URLs, relative page URIs). A request violation is still answered by Prism (422).
    refused_examples: BTreeMap<String, String>,
    /// Form fields the description declares as arrays (sent to Prism as `name[]`).
    form_arrays: BTreeSet<String>,
    log: Vec<Exchange>,
}

/// Forwards each request to `upstream` (one request per connection) and records it.
pub(crate) struct Proxy {
    url: String,
    state: Arc<Mutex<ProxyState>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (upstream, http, state) = (upstream.clone(), http.clone(), Arc::clone(&shared));
                tokio::spawn(async move {
                    if let Err(e) = relay(socket, &upstream, &http, &state).await {
                        eprintln!("contract proxy: {e}");
                    }
                });
            }
        });
        Proxy { url, state }
    }

    pub(crate) fn set_example(&self, example: Option<&str>) {
        self.state.lock().unwrap().example = example.map(str::to_owned);
    }

    /// Answers the description's `example` for `method` where Prism accepts the request but
    /// will not serve that example itself (see [`ProxyState::refused_examples`]).
    fn serve_refused_example(&self, method: &str, example: &Value) {
        self.state
            .lock()
            .unwrap()
            .refused_examples
            .insert(method.to_owned(), example.to_string());
    }

    fn set_form_arrays(&self, names: BTreeSet<String>) {
        self.state.lock().unwrap().form_arrays = names;
    }

    fn set_paging(&self, on: bool) {
        self.state.lock().unwrap().paging = on;
    }

    fn log(&self) -> Vec<Exchange> {
        self.state.lock().unwrap().log.clone()
    }

    pub(crate) fn last(&self) -> Exchange {
        self.log().last().cloned().expect("a request was sent")
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn relay(
    mut socket: TcpStream,
    upstream: &str,
    http: &reqwest::Client,
    state: &Mutex<ProxyState>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Ok(()); // closed before a request: a pooled connection going away
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..].to_vec();

    let (example, paging, refused_example, to_prism) = {
        let s = state.lock().unwrap();
        (
            s.example.clone(),
            s.paging,
            s.refused_examples.get(&method).cloned(),
            with_bracketed_arrays(&body, &s.form_arrays),
        )
    };
    let mut request = http.request(
        reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method"),
        format!("{upstream}{target}"),
    );
    for (name, value) in &headers {
        if ["authorization", "content-type", "accept"].contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    if let Some(example) = &example {
        request = request.header("prefer", format!("example={example}"));
    }
    let (mut status, mut content_type, mut answer) = match request.body(to_prism).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let text = response.text().await.unwrap_or_default();
            (status, content_type, text)
        }
        Err(e) => (
            502,
            Some("text/plain".into()),
            format!("proxy could not reach Prism: {e}"),
        ),
    };

    if let Some(example) = refused_example.filter(|_| status == 500 && only_answer_refused(&answer))
    {
        (status, content_type, answer) = (200, Some("application/json".into()), example);
    }

    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let query: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if paging && status == 200 && !query.iter().any(|(k, _)| k == "PageToken") {
        answer = with_next_page(&answer, path, &query);
    }
    state.lock().unwrap().log.push(Exchange {
        method: method.clone(),
        path: path.to_owned(),
        query,
        form: url::form_urlencoded::parse(&body).into_owned().collect(),
        status,
        body: answer.clone(),
    });

    let mut reply = format!("HTTP/1.1 {status} Relayed\r\nconnection: close\r\n");
    if let Some(ct) = content_type {
        reply.push_str(&format!("content-type: {ct}\r\n"));
    }
    reply.push_str(&format!("content-length: {}\r\n\r\n", answer.len()));
    socket.write_all(reply.as_bytes()).await?;
    socket.write_all(answer.as_bytes()).await?;
    socket.shutdown().await
}

/// A form body with each field in `arrays` named as Prism reads arrays (`name[]`).
fn with_bracketed_arrays(body: &[u8], arrays: &BTreeSet<String>) -> Vec<u8> {
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    if !fields.iter().any(|(k, _)| arrays.contains(k)) {
        return body.to_vec();
    }
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.iter().map(|(k, v)| match arrays.contains(k) {
            true => (format!("{k}[]"), v),
            false => (k.clone(), v),
        }))
        .finish()
        .into_bytes()
}

/// Whether Prism's 500 names violations of its own answer only: the request was valid.
fn only_answer_refused(body: &str) -> bool {
    let Ok(problem) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    problem["validation"].as_array().is_some_and(|rules| {
        !rules.is_empty() && rules.iter().all(|r| r["location"][0] == "response")
    })
}

/// The list page with a next page, as Twilio writes it: with the filters, `PageSize`, `Page`
/// and an opaque `PageToken`; for the Conversations API `meta.next_page_url` on the public
/// host, for API 2010 `next_page_uri` relative to it.
fn with_next_page(body: &str, path: &str, query: &[(String, String)]) -> String {
    let Ok(mut page) = serde_json::from_str::<Value>(body) else {
        return body.to_owned();
    };
    let mut next = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in query.iter().filter(|(k, _)| k != "Page") {
        next.append_pair(k, v);
    }
    next.append_pair("Page", "1");
    next.append_pair(
        "PageToken",
        "PAQ0hBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB",
    );
    let next = format!("{path}?{}", next.finish());
    if let Some(meta) = page.get_mut("meta").and_then(Value::as_object_mut) {
        meta.insert(
            "next_page_url".into(),
            format!("https://conversations.twilio.com{next}").into(),
        );
    } else if let Some(list) = page
        .as_object_mut()
        .filter(|p| p.contains_key("next_page_uri"))
    {
        list.insert("next_page_uri".into(), next.into());
    } else {
        return body.to_owned();
    }
    page.to_string()
}

// ---------------------------------------------------------------------------------------
// The harness: both mocks behind proxies, a client on them, and the checks.

pub(crate) struct Contract {
    conversations: Proxy,
    pub(crate) api: Proxy,
    conversations_spec: Description,
    pub(crate) api_spec: Description,
    pub(crate) http: TwilioHttp,
    pub(crate) credentials: TwilioCredentials,
    /// What the client counts its requests into.
    pub(crate) requests: masked_comms::metrics::Recorder,
}

impl Contract {
    pub(crate) async fn start() -> Contract {
        let upstream = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| v.trim_end_matches('/').to_owned())
                .unwrap_or_else(|| panic!("{name} is not set; {RUN_ME}"))
        };
        let (conversations_url, api_url) = (
            upstream("TWILIO_CONVERSATIONS_URL"),
            upstream("TWILIO_API_URL"),
        );
        let conversations_spec = Description {
            root: load_spec("twilio_conversations_v1.json"),
        };
        let api_spec = Description {
            root: load_spec("twilio_api_v2010.json"),
        };
        let conversations = Proxy::start(conversations_url).await;
        conversations.set_form_arrays(conversations_spec.form_arrays());
        let api = Proxy::start(api_url).await;
        api.set_form_arrays(api_spec.form_arrays());
        let http = TwilioHttp::new(TwilioSettings {
            conversations_url: conversations.url.clone(),
            api_url: api.url.clone(),
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(20),
            // A refusal must surface as it is, not be retried into something else.
            max_retries: 0,
            min_retry_delay: Duration::from_millis(10),
            max_retry_delay: Duration::from_millis(10),
        })
        .expect("client builds");
        Contract {
            conversations,
            api,
            conversations_spec,
            api_spec,
            http,
            credentials: TwilioCredentials {
                account_sid: ACCOUNT_SID.into(),
                auth_token: Secret::new(AUTH_TOKEN),
            },
            requests: Default::default(),
        }
    }

    /// Every request sent so far was accepted by Prism and uses only declared names.
    /// Returns how many requests were checked.
    pub(crate) fn assert_all_accepted(&self) -> usize {
        let mut problems = Vec::new();
        let mut count = 0;
        for (proxy, spec) in [
            (&self.conversations, &self.conversations_spec),
            (&self.api, &self.api_spec),
        ] {
            for exchange in proxy.log() {
                count += 1;
                if !(200..300).contains(&exchange.status) {
                    problems.push(format!(
                        "not accepted: {}\n    {}",
                        exchange.describe(),
                        prism_messages(&exchange.body)
                    ));
                }
                for problem in spec.undeclared(&exchange) {
                    problems.push(format!("{problem}\n    in {}", exchange.describe()));
                }
            }
        }
        assert!(
            problems.is_empty(),
            "requests that Twilio's OpenAPI description does not accept:\n  {}",
            problems.join("\n  ")
        );
        count
    }
}

/// Prism's validation messages from a 422 body, or the body itself.
fn prism_messages(body: &str) -> String {
    let Ok(problem) = serde_json::from_str::<Value>(body) else {
        return body.to_owned();
    };
    match problem["validation"].as_array() {
        Some(rules) => rules
            .iter()
            .map(|r| format!("{} ({}: {})", r["message"], r["code"], r["location"]))
            .collect::<Vec<_>>()
            .join("; "),
        None => body.to_owned(),
    }
}

/// Unwraps a client result, or fails with what Prism said about the request.
pub(crate) fn accepted<T>(result: Result<T, TwilioError>, proxy: &Proxy, what: &str) -> T {
    result.unwrap_or_else(|e| {
        let last = proxy.last();
        panic!(
            "{what}: {e}\n  request: {}\n  Prism: {}",
            last.describe(),
            prism_messages(&last.body)
        )
    })
}

// ---------------------------------------------------------------------------------------
// The requests.

fn full_params<'a>(state: ConversationState) -> ConversationParams<'a> {
    ConversationParams {
        friendly_name: Some("Order 42: Alice & Bob"),
        unique_name: Some("mc-0f8b6c2e-3a4d-4e5f-9a1b-2c3d4e5f6a7b"),
        attributes: Some(ATTRIBUTES),
        messaging_service_sid: Some(MESSAGING_SERVICE),
        state: Some(state),
        timers_inactive: Some("PT1H"),
        timers_closed: Some("P1D"),
    }
}

#[tokio::test]
#[ignore = "needs Prism on Twilio's OpenAPI description: run contract/run.sh"]
async fn conversation_requests_match_the_description() {
    let contract = Contract::start().await;
    let twilio = contract.http.session(
        &contract.credentials,
        Duration::from_secs(60),
        &contract.requests,
    );
    let proxy = &contract.conversations;
    let spec = &contract.conversations_spec;

    // Create: everything we can send, and what provisioning sends, once per example.
    let provisioning = ConversationParams {
        unique_name: Some("mc-0f8b6c2e-3a4d-4e5f-9a1b-2c3d4e5f6a7b"),
        attributes: Some(ATTRIBUTES),
        timers_inactive: Some("PT5M"),
        timers_closed: Some("PT10M"),
        ..Default::default()
    };
    for (name, example) in spec.examples("post", "/v1/Conversations", 201) {
        proxy.set_example(Some(&name));
        for params in [full_params(ConversationState::Active), provisioning.clone()] {
            let created = accepted(
                twilio.create_conversation(&params).await,
                proxy,
                &format!("create conversation (example {name})"),
            );
            assert_eq!(created.sid, example["sid"].as_str().unwrap());
            assert_eq!(
                created.unique_name.as_deref(),
                example["unique_name"].as_str()
            );
            assert_eq!(created.attributes, example["attributes"].as_str().unwrap());
            assert_ne!(created.state, ConversationState::Unknown, "{name}");
        }
    }
    for state in [ConversationState::Inactive, ConversationState::Closed] {
        proxy.set_example(None);
        accepted(
            twilio.create_conversation(&full_params(state)).await,
            proxy,
            &format!("create conversation in state {}", state.as_str()),
        );
    }

    // Fetch by sid and by unique name (which can hold anything, hence path encoding).
    for (name, example) in spec.examples("get", "/v1/Conversations/{Sid}", 200) {
        proxy.set_example(Some(&name));
        for id in [CONVERSATION, "mc-order 42/ü?#&+"] {
            let fetched = accepted(
                twilio.fetch_conversation(id).await,
                proxy,
                &format!("fetch conversation {id:?} (example {name})"),
            );
            assert_eq!(fetched.sid, example["sid"].as_str().unwrap());
            assert_eq!(fetched.state, ConversationState::Active);
        }
    }
    let fetched_by_name = proxy.last();
    assert_eq!(
        fetched_by_name.path, "/v1/Conversations/mc-order%2042%2F%C3%BC%3F%23%26%2B",
        "a unique name is one path segment"
    );

    // Update: our roster write (attributes alone), a close, and every parameter.
    for (name, example) in spec.examples("post", "/v1/Conversations/{Sid}", 200) {
        proxy.set_example(Some(&name));
        let roster = ConversationParams {
            attributes: Some(ATTRIBUTES),
            ..Default::default()
        };
        let close = ConversationParams {
            state: Some(ConversationState::Closed),
            ..Default::default()
        };
        for params in [roster, close, full_params(ConversationState::Inactive)] {
            let updated = accepted(
                twilio.update_conversation(CONVERSATION, &params).await,
                proxy,
                &format!("update conversation (example {name})"),
            );
            assert_eq!(updated.sid, example["sid"].as_str().unwrap());
        }
    }

    // Delete.
    proxy.set_example(None);
    accepted(
        twilio.delete_conversation(CONVERSATION).await,
        proxy,
        "delete conversation",
    );
    let delete = proxy.last();
    assert_eq!((delete.method.as_str(), delete.status), ("DELETE", 204));

    let count = contract.assert_all_accepted();
    assert!(count >= 14, "only {count} requests were checked");
}

#[tokio::test]
#[ignore = "needs Prism on Twilio's OpenAPI description: run contract/run.sh"]
async fn participant_requests_match_the_description() {
    let contract = Contract::start().await;
    let twilio = contract.http.session(
        &contract.credentials,
        Duration::from_secs(60),
        &contract.requests,
    );
    let proxy = &contract.conversations;
    let spec = &contract.conversations_spec;
    let participants = "/v1/Conversations/{ConversationSid}/Participants";

    // Add: SMS (US and UK numbers) and WhatsApp, once per example.
    for (name, example) in spec.examples("post", participants, 201) {
        proxy.set_example(Some(&name));
        for (address, proxy_address) in [
            (ALICE, PROXY),
            (BOB, PROXY),
            (WHATSAPP_CAROL, WHATSAPP_PROXY),
        ] {
            let added = accepted(
                twilio
                    .add_participant(CONVERSATION, address, proxy_address)
                    .await,
                proxy,
                &format!("add participant (example {name})"),
            );
            assert_eq!(added.sid, example["sid"].as_str().unwrap());
            let binding = &example["messaging_binding"];
            assert_eq!(
                added
                    .messaging_binding
                    .as_ref()
                    .and_then(|b| b.proxy_address.as_deref()),
                binding["proxy_address"].as_str(),
                "example {name}"
            );
        }
    }

    // List, following a next page.
    proxy.set_paging(true);
    for (name, example) in spec.examples("get", participants, 200) {
        proxy.set_example(Some(&name));
        let listed = accepted(
            twilio.participants(CONVERSATION).await,
            proxy,
            &format!("list participants (example {name})"),
        );
        let per_page = example["participants"].as_array().unwrap().len();
        assert_eq!(listed.len(), 2 * per_page, "two pages of example {name}");
        let bound: Vec<_> = listed
            .iter()
            .filter_map(|p| p.messaging_binding.as_ref()?.address.as_deref())
            .collect();
        assert_eq!(bound, ["+15558675310", "+15558675310"], "example {name}");
    }
    let pages: Vec<Exchange> = proxy
        .log()
        .into_iter()
        .filter(|e| e.method == "GET")
        .collect();
    assert!(pages
        .iter()
        .any(|e| e.query.iter().any(|(k, _)| k == "PageToken")));

    // Fetch one, and remove one (a participant leaving a live session).
    proxy.set_paging(false);
    let one = "/v1/Conversations/{ConversationSid}/Participants/{Sid}";
    for (name, example) in spec.examples("get", one, 200) {
        proxy.set_example(Some(&name));
        let fetched = accepted(
            twilio.fetch_participant(CONVERSATION, PARTICIPANT).await,
            proxy,
            &format!("fetch participant (example {name})"),
        );
        assert_eq!(fetched.sid, example["sid"].as_str().unwrap());
    }
    proxy.set_example(None);
    accepted(
        twilio.delete_participant(CONVERSATION, PARTICIPANT).await,
        proxy,
        "remove participant",
    );
    let last = proxy.last();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        (
            "DELETE",
            format!("/v1/Conversations/{CONVERSATION}/Participants/{PARTICIPANT}").as_str()
        )
    );

    let count = contract.assert_all_accepted();
    assert!(count >= 12, "only {count} requests were checked");
}

#[tokio::test]
#[ignore = "needs Prism on Twilio's OpenAPI description: run contract/run.sh"]
async fn participant_conversation_requests_match_the_description() {
    let contract = Contract::start().await;
    let twilio = contract.http.session(
        &contract.credentials,
        Duration::from_secs(60),
        &contract.requests,
    );
    let proxy = &contract.conversations;
    let spec = &contract.conversations_spec;

    proxy.set_paging(true);
    let mut seen = BTreeMap::new();
    for (name, example) in spec.examples("get", "/v1/ParticipantConversations", 200) {
        proxy.set_example(Some(&name));
        for address in [ALICE, BOB, WHATSAPP_CAROL] {
            let listed = accepted(
                twilio.participant_conversations(address).await,
                proxy,
                &format!("participant conversations of {address} (example {name})"),
            );
            let per_page = example["conversations"].as_array().unwrap().len();
            assert_eq!(listed.len(), 2 * per_page, "two pages of example {name}");
            for item in &listed {
                assert_eq!(item.conversation_state, ConversationState::Inactive);
                assert_eq!(
                    item.conversation_sid,
                    example["conversations"][0]["conversation_sid"]
                        .as_str()
                        .unwrap()
                );
            }
            seen.insert(
                name.clone(),
                listed
                    .iter()
                    .map(|c| c.proxy_address().map(str::to_owned))
                    .collect::<Vec<_>>(),
            );
        }
    }
    assert_eq!(
        seen.get("readFullByAddress"),
        Some(&vec![Some("+12345678910".to_owned()); 2]),
        "the proxy number of an SMS participant is read from Twilio's example"
    );
    let first = proxy
        .log()
        .into_iter()
        .find(|e| !e.query.iter().any(|(k, _)| k == "PageToken"))
        .unwrap();
    assert_eq!(
        first.query,
        [
            ("Address".to_owned(), ALICE.to_owned()),
            ("PageSize".to_owned(), "50".to_owned())
        ]
    );

    let count = contract.assert_all_accepted();
    assert!(count >= 12, "only {count} requests were checked");
}

#[tokio::test]
#[ignore = "needs Prism on Twilio's OpenAPI description: run contract/run.sh"]
async fn call_requests_match_the_description() {
    let contract = Contract::start().await;
    let twilio = contract.http.session(
        &contract.credentials,
        Duration::from_secs(60),
        &contract.requests,
    );
    let proxy = &contract.api;
    let spec = &contract.api_spec;

    // The TwiML masked-comms sends: a conference join, and an announced dial.
    let conference = render(&[Verb::DialConference {
        room: CONVERSATION.into(),
        end_on_exit: false,
        tracking: None,
    }]);
    let announced = render(&[
        Verb::Say {
            text: "Connecting you now.".into(),
            voice: Voice {
                voice: Some("Polly.Amy".into()),
                language: Some("en-GB".into()),
            },
        },
        Verb::DialNumber {
            caller_id: PROXY.into(),
            number: BOB.into(),
            tracking: None,
        },
    ]);
    for (name, example) in
        spec.examples("post", "/2010-04-01/Accounts/{AccountSid}/Calls.json", 201)
    {
        proxy.set_example(Some(&name));
        for twiml in [&conference, &announced] {
            let call = accepted(
                twilio.create_call(PROXY, BOB, twiml).await,
                proxy,
                &format!("create call (example {name})"),
            );
            assert_eq!(call.sid, example["sid"].as_str().unwrap());
        }
    }
    let last = proxy.last();
    assert_eq!(
        last.path,
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json")
    );

    // A session's recordings go when its data does.
    proxy.set_example(None);
    accepted(
        twilio.delete_recording(RECORDING).await,
        proxy,
        "delete recording",
    );
    assert_eq!(
        proxy.last().path,
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING}.json")
    );

    let count = contract.assert_all_accepted();
    assert!(count >= 3, "only {count} requests were checked");
}

/// Every request `make twilio-setup` makes: the number lookup (with its paging), the number
/// update, and the Conversations webhook configuration read and update, sent by the tool
/// itself on the description's examples.
#[tokio::test]
#[ignore = "needs Prism on Twilio's OpenAPI description: run contract/run.sh"]
async fn twilio_setup_requests_match_the_description() {
    let contract = Contract::start().await;
    let twilio = contract.http.session(
        &contract.credentials,
        Duration::from_secs(60),
        &contract.requests,
    );
    let (api, conversations) = (&contract.api, &contract.conversations);
    let numbers = "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json";

    // The lookup: found on the first page, or not after following a second.
    api.set_paging(true);
    let mut owned = None;
    // Prism accepts our requests but will not serve these examples itself (they break the
    // description's response schema), so the proxy answers them.
    let examples = contract.api_spec.examples("get", numbers, 200);
    let mut listing = None;
    for (name, example) in examples {
        api.set_example(Some(&name));
        api.serve_refused_example("GET", &example);
        let listed = example["incoming_phone_numbers"].as_array().unwrap();
        if let Some(first) = listed.first() {
            let number = first["phone_number"].as_str().unwrap();
            let found = accepted(
                twilio.find_incoming_phone_number(number).await,
                api,
                &format!("look up an owned number (example {name})"),
            )
            .expect("the example's own number is found");
            assert_eq!(found.sid, first["sid"].as_str().unwrap());
            owned = Some(number.to_owned());
            listing = Some(example.clone());
        }
        let missing = accepted(
            twilio.find_incoming_phone_number(ALICE).await,
            api,
            &format!("look up a number the account lacks (example {name})"),
        );
        assert_eq!(missing, None, "example {name}");
    }
    let (owned, listing) = (owned.expect("an example lists a number"), listing.unwrap());
    let lookups = api.log();
    let first_pages: Vec<&Vec<(String, String)>> = lookups
        .iter()
        .map(|e| &e.query)
        .filter(|q| !q.iter().any(|(k, _)| k == "PageToken"))
        .collect();
    for number in [&owned, &ALICE.to_owned()] {
        let query = [
            ("PhoneNumber".to_owned(), number.clone()),
            ("PageSize".to_owned(), "50".to_owned()),
        ];
        assert!(first_pages.contains(&&query.to_vec()), "{first_pages:?}");
    }
    assert!(lookups
        .iter()
        .any(|e| e.query.iter().any(|(k, _)| k == "PageToken")));
    api.set_paging(false);

    // The tool, twice on the same examples: their webhook configuration is another app's,
    // so it replaces it, once setting the pre-event and once clearing it.
    api.set_example(None);
    api.serve_refused_example("GET", &listing);
    let one_number = "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json";
    let (_, updated) = contract
        .api_spec
        .examples("post", one_number, 200)
        .remove(0);
    api.serve_refused_example("POST", &updated);
    conversations.set_example(None);
    for refuse_messages_in_voice_only in [true, false] {
        let wiring = Wiring {
            base_url: BaseUrl::parse("https://masked.example.com").unwrap(),
            pool: vec![owned.clone()],
            choices: Choices {
                refuse_messages_in_voice_only,
                replace_webhooks: true,
                ..Choices::default()
            },
            dry_run: false,
        };
        let mut output = Vec::new();
        let outcome = wire(&twilio, &wiring, &mut output)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{}\n{}\n  last: {}",
                    e.explain(),
                    String::from_utf8_lossy(&output),
                    conversations.last().describe()
                )
            });
        assert_eq!(outcome, Outcome::Applied { writes: 2 });
    }
    let updates: Vec<Exchange> = api
        .log()
        .into_iter()
        .filter(|e| e.method == "POST")
        .collect();
    assert_eq!(updates.len(), 2);
    assert!(updates[0]
        .path
        .ends_with("/IncomingPhoneNumbers/PNaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json"));
    let configured: Vec<Exchange> = conversations
        .log()
        .into_iter()
        .filter(|e| e.method == "POST")
        .collect();
    let filters = |e: &Exchange| e.form.iter().filter(|(k, _)| k == "Filters").count();
    // Ours and the pre-event, then ours alone.
    let ours = POST_EVENTS.len();
    assert_eq!(
        configured.iter().map(filters).collect::<Vec<_>>(),
        [ours + 1, ours]
    );
    assert!(configured[1]
        .form
        .contains(&("PreWebhookUrl".to_owned(), String::new())));

    // Each update example parses, with every setting the tool may send.
    for (name, example) in contract.api_spec.examples("post", one_number, 200) {
        api.set_example(Some(&name));
        api.serve_refused_example("POST", &example);
        let update = NumberWebhooks {
            voice_url: Some("https://masked.example.com/inbound-call"),
            voice_method: Some("POST"),
            sms_url: Some("https://masked.example.com/inbound-message"),
            sms_method: Some("POST"),
        };
        let updated = accepted(
            twilio
                .update_incoming_phone_number("PNaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &update)
                .await,
            api,
            &format!("update a number (example {name})"),
        );
        assert_eq!(updated.sid, example["sid"].as_str().unwrap());
    }
    let configuration = "/v1/Configuration/Webhooks";
    for (name, example) in contract
        .conversations_spec
        .examples("get", configuration, 200)
    {
        conversations.set_example(Some(&name));
        let fetched = accepted(
            twilio.fetch_webhook_configuration().await,
            conversations,
            &format!("read the webhook configuration (example {name})"),
        );
        assert_eq!(
            fetched.post_webhook_url.as_deref(),
            example["post_webhook_url"].as_str()
        );
    }
    for (name, example) in contract
        .conversations_spec
        .examples("post", configuration, 200)
    {
        conversations.set_example(Some(&name));
        let update = WebhookConfigurationUpdate {
            method: Some("POST"),
            filters: Some(vec!["onConversationStateUpdated", "onConversationUpdated"]),
            pre_webhook_url: Some(""),
            post_webhook_url: Some("https://masked.example.com/conversation-events"),
            target: Some("webhook"),
        };
        let updated = accepted(
            twilio.update_webhook_configuration(&update).await,
            conversations,
            &format!("update the webhook configuration (example {name})"),
        );
        assert_eq!(updated.target.as_deref(), example["target"].as_str());
    }

    let count = contract.assert_all_accepted();
    assert!(count >= 12, "only {count} requests were checked");
}

/// The harness is not vacuous: a request the description rejects is reported with Prism's
/// message, and so is a name the description does not declare.
#[tokio::test]
#[ignore = "needs Prism on Twilio's OpenAPI description: run contract/run.sh"]
async fn violations_are_reported() {
    let contract = Contract::start().await;
    let twilio = contract.http.session(
        &contract.credentials,
        Duration::from_secs(60),
        &contract.requests,
    );
    let proxy = &contract.conversations;

    let bad = ConversationParams {
        messaging_service_sid: Some("MG123"),
        ..Default::default()
    };
    let error = twilio.create_conversation(&bad).await.unwrap_err();
    assert!(
        matches!(error, TwilioError::Refused { status: 422, .. }),
        "{error:?}"
    );
    let messages = prism_messages(&proxy.last().body);
    assert!(messages.contains("MessagingServiceSid"), "{messages}");

    // Names Prism lets through: a misspelt form field, a query name in the wrong case.
    let http = reqwest::Client::new();
    let sent = http
        .post(format!("{}/v1/Conversations", proxy.url))
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Timers.inactive=PT5M")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status().as_u16(), 201, "Prism accepts unknown fields");
    let sent = http
        .get(format!(
            "{}/v1/ParticipantConversations?Address=%2B14155550101&pagesize=50",
            proxy.url
        ))
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(
        sent.status().as_u16(),
        200,
        "Prism ignores the case of query names"
    );
    let log = proxy.log();
    let problems: Vec<String> = log
        .iter()
        .flat_map(|e| contract.conversations_spec.undeclared(e))
        .collect();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("\"Timers.inactive\""), "{problems:#?}");
    assert!(problems[1].contains("\"pagesize\""), "{problems:#?}");

    // And the whole check fails on them.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        contract.assert_all_accepted()
    }));
    assert!(outcome.is_err());
}
