//! Hostile input on every endpoint: a table-driven corpus.
//!
//! Every case must get the right 4xx — the JSON error
//! `{"error": {"code", "message"}}` from the session API and the landing page,
//! 403 (plain text) from a webhook that Twilio did not sign — and must make
//! no Twilio request and never answer 5xx or panic.
//!
//! Some hostile input cannot be built at all: `http::HeaderValue` refuses CR,
//! LF, NUL and DEL, and `http::Uri` refuses raw spaces and non-ASCII, so a
//! header injection or a raw control character can only arrive
//! percent-encoded (paths, queries, form values), as a JSON escape, as a
//! header's tab or obs-text bytes, or inside an API Gateway event; those are
//! the forms tested here. API Gateway events go through lambda_http's own
//! deserialisation first (`lambda_http::request::from_str`, what the runtime
//! does with each event): see the last tests.

use std::panic::AssertUnwindSafe;

use crate::support::*;
use base64::Engine;
use futures_util::FutureExt;
use lambda_http::http::{HeaderValue, Request as HttpRequest};
use lambda_http::{Body, Request, Response};
use masked_comms::handlers::{conversation_events, inbound_call, landing, sessions};
use serde_json::{json, Value};

const A: &str = "+14155550101";
const SID: &str = "CH0123456789abcdef0123456789abcdef";
/// The digits of the numbers used below: an error message must not echo them.
const NUMBER_DIGITS: &str = "4155550";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Sessions,
    InboundCall,
    ConversationEvents,
    Landing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expect {
    /// This status with the JSON error of this code.
    Api(u16, &'static str),
    /// A webhook's plain-text refusal with this status.
    Webhook(u16),
    /// A signed call that cannot be routed: 200 with TwiML, no Twilio request.
    Twiml,
    /// A signed text that cannot be acted on: 200 with an empty messaging
    /// answer (nothing sent to anyone).
    EmptyTwiml,
}

pub(crate) struct Case {
    name: String,
    endpoint: Endpoint,
    request: Request,
    expect: Expect,
}

pub(crate) fn case(
    name: impl Into<String>,
    endpoint: Endpoint,
    request: Request,
    expect: Expect,
) -> Case {
    Case {
        name: name.into(),
        endpoint,
        request,
        expect,
    }
}

pub(crate) fn operator() -> String {
    basic(USERNAME, PASSWORD)
}

fn raw(method: &str, uri: &str, headers: &[(&str, HeaderValue)], body: Body) -> Request {
    let mut builder = HttpRequest::builder()
        .method(method)
        .uri(uri)
        .header("host", HOST)
        .header("x-forwarded-proto", "https");
    for (name, value) in headers {
        builder = builder.header(*name, value.clone());
    }
    builder.body(body).unwrap()
}

fn text(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap()
}

fn bytes(value: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(value).unwrap()
}

/// POST /sessions as the operator with this content type and body.
fn post_sessions(content_type: Option<&str>, body: &str) -> Request {
    request("POST", "/sessions", content_type, body, Some(&operator()))
}

fn post_json(body: &str) -> Request {
    post_sessions(Some("application/json"), body)
}

fn post_form(body: &str) -> Request {
    post_sessions(Some("application/x-www-form-urlencoded"), body)
}

fn with_addresses(addresses: Value) -> String {
    json!({ "addresses": addresses }).to_string()
}

/// A valid create body with one more field set.
fn with_field(field: &str, value: Value) -> String {
    let mut body = json!({ "addresses": [A] });
    body[field] = value;
    body.to_string()
}

fn get(path: &str) -> Request {
    request("GET", path, None, "", Some(&operator()))
}

fn delete(path: &str) -> Request {
    request("DELETE", path, None, "", Some(&operator()))
}

// ---------------------------------------------------------------------------
// The corpus

/// E.164 and address edge cases: each is refused in every position a client
/// can send an address.
fn bad_addresses() -> Vec<(&'static str, String)> {
    let mut cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("blank", " ".into()),
        ("plus only", "+".into()),
        ("too short", "+123456".into()),
        ("too long", "+1234567890123456".into()),
        ("300 digits", format!("+1{}", "5".repeat(300))),
        ("letters", "+1415555CALL".into()),
        ("spaces", "+1 415 555 0101".into()),
        ("dashes", "+1-415-555-0101".into()),
        ("dots", "+1.415.555.0101".into()),
        ("national format", "(415) 555-0101".into()),
        ("no plus", "14155550101".into()),
        ("00 prefix", "0014155550101".into()),
        ("00 prefix with plus", "+0014155550101".into()),
        ("country code 0", "+04155550101".into()),
        ("double plus", "++14155550101".into()),
        ("plus minus", "+-14155550101".into()),
        ("arabic-indic digits", "+١٤١٥٥٥٥٠١٠١".into()),
        ("devanagari digits", "+१४१५५५५०१०१".into()),
        ("full-width digits", "+１４１５５５５０１０１".into()),
        ("full-width plus", "＋14155550101".into()),
        ("small plus", "\u{fe62}14155550101".into()),
        ("superscript digit", "+1415555010¹".into()),
        ("zero-width space", "+1415\u{200b}5550101".into()),
        ("right-to-left override", "\u{202e}+14155550101".into()),
        ("trailing newline", "+14155550101\n".into()),
        ("CRLF injection", "+14155550101\r\nX-Injected: 1".into()),
        ("NUL", "+14155550101\u{0}".into()),
        ("tab", "+1415555\t0101".into()),
        ("leading space", " +14155550101".into()),
        ("whatsapp without number", "whatsapp:".into()),
        ("whatsapp without plus", "whatsapp:14155550101".into()),
        ("whatsapp with space", "whatsapp: +14155550101".into()),
        ("whatsapp upper case", "WhatsApp:+14155550101".into()),
        ("whatsapp twice", "whatsapp:whatsapp:+14155550101".into()),
        ("whatsapp 00", "whatsapp:0014155550101".into()),
        ("tel URI", "tel:+14155550101".into()),
        ("sms URI", "sms:+14155550101".into()),
        ("messenger", "messenger:1234567890".into()),
        ("client identity", "client:alice".into()),
        ("sip", "sip:alice@example.com".into()),
        ("markup", "<script>alert(1)</script>".into()),
        ("json in a string", r#"{"$ne": null}"#.into()),
    ];
    cases.sort_by_key(|(name, _)| *name);
    cases
}

fn sessions_corpus() -> Vec<Case> {
    use Endpoint::Sessions as S;
    let invalid = Expect::Api(400, "invalid_request");
    let unsupported = Expect::Api(415, "unsupported_media_type");
    let too_large = Expect::Api(413, "payload_too_large");
    let unauthorized = Expect::Api(401, "unauthorized");
    let not_allowed = Expect::Api(405, "method_not_allowed");
    let not_found = Expect::Api(404, "not_found");
    let valid = with_addresses(json!([A]));
    let mut cases = Vec::new();

    // Malformed JSON.
    let nested = format!(
        r#"{{"addresses": ["{A}"], "attributes": {{"x": {}{}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    for (name, body) in [
        ("empty body", String::new()),
        ("whitespace", "   \n ".into()),
        ("unterminated object", format!(r#"{{"addresses": ["{A}"]"#)),
        ("unterminated string", r#"{"addresses": ["+1415"#.into()),
        ("trailing comma", format!(r#"{{"addresses": ["{A}"],}}"#)),
        ("single quotes", format!("{{'addresses': ['{A}']}}")),
        ("comment", format!(r#"{{/* hi */ "addresses": ["{A}"]}}"#)),
        ("byte order mark", format!("\u{feff}{valid}")),
        ("two documents", format!("{valid}{valid}")),
        ("trailing garbage", format!("{valid} x")),
        ("null", "null".into()),
        ("number", "42".into()),
        ("string", r#""+14155550101""#.into()),
        ("true", "true".into()),
        ("array", format!(r#"["{A}"]"#)),
        ("NaN", r#"{"addresses": NaN}"#.into()),
        (
            "huge number",
            format!(r#"{{"addresses": ["{A}"], "attributes": {{"n": 1e400}}}}"#),
        ),
        ("10,000-deep nesting", nested),
        (
            "lone surrogate",
            format!(r#"{{"addresses": ["{A}"], "friendlyName": "\ud800"}}"#),
        ),
        (
            "duplicate key",
            format!(r#"{{"addresses": ["{A}"], "addresses": ["{A}"]}}"#),
        ),
        ("NUL byte", format!("{{\"addresses\": [\"{A}\"]\u{0}}}")),
    ] {
        cases.push(case(
            format!("POST json: {name}"),
            S,
            post_json(&body),
            invalid.clone(),
        ));
    }
    cases.push(case(
        "POST json: invalid UTF-8",
        S,
        raw(
            "POST",
            "/sessions",
            &[
                ("content-type", text("application/json")),
                ("authorization", text(&operator())),
            ],
            Body::Binary(b"{\"addresses\": [\"+1415\xff\xfe\"]}".to_vec()),
        ),
        invalid.clone(),
    ));

    // Content types.
    for content_type in [
        None,
        Some(""),
        Some("text/plain"),
        Some("text/json"),
        Some("application/xml"),
        Some("application/jsonx"),
        Some("application/json-patch+json"),
        Some("application/merge-patch+json"),
        Some("multipart/form-data; boundary=x"),
        Some("application/octet-stream"),
        Some("json"),
        Some("*/*"),
    ] {
        cases.push(case(
            format!("POST content-type {content_type:?}"),
            S,
            post_sessions(content_type, &valid),
            unsupported.clone(),
        ));
    }
    cases.push(case(
        "POST content-type with obs-text bytes",
        S,
        raw(
            "POST",
            "/sessions",
            &[
                ("content-type", bytes(b"application/json\xe9")),
                ("authorization", text(&operator())),
            ],
            Body::Text(valid.clone()),
        ),
        unsupported.clone(),
    ));

    // Missing, extra and misnamed fields.
    for (name, body) in [
        ("no fields", "{}".to_owned()),
        ("no addresses", json!({"friendlyName": "x"}).to_string()),
        ("null addresses", json!({"addresses": null}).to_string()),
        ("extra field", with_field("colour", json!("red"))),
        ("misspelt field", json!({"adresses": [A]}).to_string()),
        ("upper-case field", json!({"Addresses": [A]}).to_string()),
        ("snake_case field", with_field("friendly_name", json!("x"))),
        (
            "extra timer field",
            with_field("timers", json!({"inactive": "PT1H", "open": "PT1H"})),
        ),
        (
            "reserved attribute key",
            with_field("attributes", json!({"masked_comms": {}})),
        ),
        ("__proto__", with_field("__proto__", json!({"admin": true}))),
    ] {
        cases.push(case(
            format!("POST json: {name}"),
            S,
            post_json(&body),
            invalid.clone(),
        ));
    }

    // Wrong types.
    for (name, body) in [
        ("addresses string", json!({"addresses": A}).to_string()),
        (
            "addresses number",
            json!({"addresses": 14155550101u64}).to_string(),
        ),
        (
            "addresses object",
            json!({"addresses": {"0": A}}).to_string(),
        ),
        ("address number", with_addresses(json!([14155550101u64]))),
        ("address null", with_addresses(json!([null]))),
        ("address nested", with_addresses(json!([[A]]))),
        ("address object", with_addresses(json!([{"address": A}]))),
        ("address bool", with_addresses(json!([true]))),
        ("friendlyName number", with_field("friendlyName", json!(7))),
        (
            "friendlyName array",
            with_field("friendlyName", json!(["x"])),
        ),
        ("uniqueName object", with_field("uniqueName", json!({}))),
        ("attributes array", with_field("attributes", json!([1, 2]))),
        (
            "attributes string",
            with_field("attributes", json!("{\"a\":1}")),
        ),
        ("attributes number", with_field("attributes", json!(1))),
        (
            "messagingServiceSid bool",
            with_field("messagingServiceSid", json!(true)),
        ),
        ("timers string", with_field("timers", json!("PT1H"))),
        ("timers array", with_field("timers", json!(["PT1H"]))),
        (
            "timer number",
            with_field("timers", json!({"inactive": 3600})),
        ),
        (
            "timer null object",
            with_field("timers", json!({"inactive": {}})),
        ),
    ] {
        cases.push(case(
            format!("POST json: {name}"),
            S,
            post_json(&body),
            invalid.clone(),
        ));
    }

    // Empty and huge arrays; duplicates; pool numbers.
    let ten_thousand_short: Vec<String> = (0..10_000).map(|i| format!("+{}", i % 10)).collect();
    let ten_thousand_valid: Vec<String> = (0..10_000).map(|i| format!("+1415555{i:04}")).collect();
    let fifty_one: Vec<String> = (0..51).map(|i| format!("+1415555{i:04}")).collect();
    for (name, body, expect) in [
        (
            "empty addresses",
            with_addresses(json!([])),
            invalid.clone(),
        ),
        (
            "10,000 addresses (under 64 KiB)",
            with_addresses(json!(ten_thousand_short)),
            invalid.clone(),
        ),
        (
            "10,000 valid addresses (over 64 KiB)",
            with_addresses(json!(ten_thousand_valid)),
            too_large.clone(),
        ),
        (
            "51 addresses",
            with_addresses(json!(fifty_one)),
            invalid.clone(),
        ),
        (
            "duplicate address",
            with_addresses(json!([A, A])),
            invalid.clone(),
        ),
        (
            "duplicate whatsapp address",
            with_addresses(json!([
                "whatsapp:+447700900123",
                "+14155550102",
                "whatsapp:+447700900123"
            ])),
            invalid.clone(),
        ),
        (
            "pool number as participant",
            with_addresses(json!([A, POOL[1]])),
            invalid.clone(),
        ),
        (
            "pool number on whatsapp",
            with_addresses(json!([format!("whatsapp:{}", POOL[0])])),
            invalid.clone(),
        ),
    ] {
        cases.push(case(
            format!("POST json: {name}"),
            S,
            post_json(&body),
            expect,
        ));
    }

    // E.164 edge cases, in JSON (first and later positions), as a form, in
    // the list query.
    for (name, address) in bad_addresses() {
        cases.push(case(
            format!("POST json address: {name}"),
            S,
            post_json(&with_addresses(json!([address]))),
            invalid.clone(),
        ));
        cases.push(case(
            format!("POST json second address: {name}"),
            S,
            post_json(&with_addresses(json!([A, address]))),
            invalid.clone(),
        ));
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("address", &address)
            .finish();
        cases.push(case(
            format!("POST form address: {name}"),
            S,
            post_form(&form),
            invalid.clone(),
        ));
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("address", &address)
            .finish();
        cases.push(case(
            format!("GET list address: {name}"),
            S,
            get(&format!("/sessions?{query}")),
            invalid.clone(),
        ));
    }

    // Names, sids, timers.
    for (name, field, value) in [
        ("empty friendlyName", "friendlyName", json!("")),
        (
            "257-char friendlyName",
            "friendlyName",
            json!("x".repeat(257)),
        ),
        ("friendlyName with CRLF", "friendlyName", json!("a\r\nb")),
        ("friendlyName with NUL", "friendlyName", json!("a\u{0}b")),
        (
            "friendlyName with ESC",
            "friendlyName",
            json!("\u{1b}[31mred"),
        ),
        (
            "friendlyName with C1 control",
            "friendlyName",
            json!("a\u{85}b"),
        ),
        ("uniqueName with newline", "uniqueName", json!("ride\n42")),
        ("empty uniqueName", "uniqueName", json!("")),
        (
            "MG sid too short",
            "messagingServiceSid",
            json!("MG0123456789abcdef0123456789abcde"),
        ),
        (
            "MG sid too long",
            "messagingServiceSid",
            json!("MG0123456789abcdef0123456789abcdef0"),
        ),
        (
            "MG sid lower-case prefix",
            "messagingServiceSid",
            json!("mg0123456789abcdef0123456789abcdef"),
        ),
        (
            "MG sid not hex",
            "messagingServiceSid",
            json!("MG0123456789abcdef0123456789abcdeg"),
        ),
        (
            "MG sid of another kind",
            "messagingServiceSid",
            json!("CH0123456789abcdef0123456789abcdef"),
        ),
        (
            "MG sid full-width",
            "messagingServiceSid",
            json!("ＭＧ0123456789abcdef0123456789abcdef"),
        ),
        (
            "attributes over 8 KiB",
            "attributes",
            json!({"x": "y".repeat(9000)}),
        ),
    ] {
        cases.push(case(
            format!("POST json: {name}"),
            S,
            post_json(&with_field(field, value)),
            invalid.clone(),
        ));
    }
    for (name, timers) in [
        ("inactive 30 s", json!({"inactive": "PT30S"})),
        ("inactive 59 s", json!({"inactive": "PT59S"})),
        ("inactive zero", json!({"inactive": "PT0S"})),
        ("closed 9 min", json!({"closed": "PT9M"})),
        ("closed 599 s", json!({"closed": "PT599S"})),
        ("bare P", json!({"inactive": "P"})),
        ("bare PT", json!({"inactive": "PT"})),
        ("dangling T", json!({"closed": "P1DT"})),
        ("no P", json!({"inactive": "1H"})),
        ("human words", json!({"closed": "one day"})),
        ("negative", json!({"inactive": "-PT1H"})),
        ("trailing space", json!({"inactive": "PT1H "})),
        ("leading space", json!({"inactive": " PT1H"})),
        ("lower case", json!({"inactive": "pt1h"})),
        ("unknown unit", json!({"inactive": "PT1X"})),
        ("empty", json!({"inactive": ""})),
        ("seconds as number text", json!({"inactive": "3600"})),
        (
            "overflowing number",
            json!({"closed": "P99999999999999999999Y"}),
        ),
        ("newline", json!({"closed": "P1D\n"})),
    ] {
        cases.push(case(
            format!("POST json timers: {name}"),
            S,
            post_json(&with_field("timers", timers)),
            invalid.clone(),
        ));
    }

    // Forms.
    let ten_thousand_form = "address=x&".repeat(10_000);
    for (name, body, expect) in [
        ("empty form", String::new(), invalid.clone()),
        ("no address", "friendlyName=x".to_owned(), invalid.clone()),
        (
            "unknown field",
            "address=%2B14155550101&nonsense=1".to_owned(),
            invalid.clone(),
        ),
        (
            "bracket field name",
            "addresses%5B%5D=%2B14155550101".to_owned(),
            invalid.clone(),
        ),
        (
            "unencoded plus",
            "address=+14155550101".to_owned(),
            invalid.clone(),
        ),
        (
            "bad percent-encoding",
            "address=%ZZ14155550101".to_owned(),
            invalid.clone(),
        ),
        ("bare name", "address".to_owned(), invalid.clone()),
        ("only separators", "&&&==&=".to_owned(), invalid.clone()),
        (
            "duplicate address",
            "address=%2B14155550101&addresses=%2B14155550101".to_owned(),
            invalid.clone(),
        ),
        (
            "attributes not JSON",
            "address=%2B14155550101&attributes=%7Bbad".to_owned(),
            invalid.clone(),
        ),
        (
            "attributes not an object",
            "address=%2B14155550101&attributes=%5B1%5D".to_owned(),
            invalid.clone(),
        ),
        (
            "timer too short",
            "address=%2B14155550101&timers.inactive=PT1S".to_owned(),
            invalid.clone(),
        ),
        (
            "friendlyName with CRLF",
            "address=%2B14155550101&friendlyName=a%0D%0Ab".to_owned(),
            invalid.clone(),
        ),
        ("10,000 fields", ten_thousand_form, too_large.clone()),
    ] {
        cases.push(case(
            format!("POST form: {name}"),
            S,
            post_form(&body),
            expect,
        ));
    }

    // Oversized bodies (checked before parsing, after authentication).
    let just_over = format!("{}{}", valid, " ".repeat(64 * 1024 + 1 - valid.len()));
    for (name, req, expect) in [
        (
            "64 KiB + 1 of JSON",
            post_json(&just_over),
            too_large.clone(),
        ),
        (
            "1 MiB of JSON",
            post_json(&"[".repeat(1 << 20)),
            too_large.clone(),
        ),
        (
            "1 MiB with a wrong content type",
            post_sessions(Some("text/plain"), &"x".repeat(1 << 20)),
            too_large.clone(),
        ),
        (
            "1 MiB unauthenticated",
            request(
                "POST",
                "/sessions",
                Some("application/json"),
                &"x".repeat(1 << 20),
                None,
            ),
            unauthorized.clone(),
        ),
    ] {
        cases.push(case(format!("POST oversized: {name}"), S, req, expect));
    }

    // Idempotency-Key (checked after the body, which is valid here).
    let long_key = "k".repeat(256);
    for (name, key) in [
        ("empty", text("")),
        ("space", text("a b")),
        ("tab", text("a\tb")),
        ("obs-text bytes", bytes(b"key-\xc3\xa9")),
        ("256 characters", text(&long_key)),
    ] {
        cases.push(case(
            format!("POST Idempotency-Key: {name}"),
            S,
            raw(
                "POST",
                "/sessions",
                &[
                    ("content-type", text("application/json")),
                    ("authorization", text(&operator())),
                    ("idempotency-key", key),
                ],
                Body::Text(valid.clone()),
            ),
            invalid.clone(),
        ));
    }
    cases.push(case(
        "POST Idempotency-Key with uniqueName",
        S,
        raw(
            "POST",
            "/sessions",
            &[
                ("content-type", text("application/json")),
                ("authorization", text(&operator())),
                ("idempotency-key", text("order-7")),
            ],
            Body::Text(with_field("uniqueName", json!("ride-7"))),
        ),
        invalid.clone(),
    ));

    // Authorization.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for (name, value) in [
        ("none", None),
        ("wrong password", Some(text(&basic(USERNAME, "wrong")))),
        (
            "password with CRLF",
            Some(text(&format!(
                "Basic {}",
                b64(&format!("{USERNAME}:{PASSWORD}\r\n"))
            ))),
        ),
        (
            "password with NUL",
            Some(text(&format!(
                "Basic {}",
                b64(&format!("{USERNAME}:{PASSWORD}\0"))
            ))),
        ),
        (
            "empty password",
            Some(text(&format!("Basic {}", b64(&format!("{USERNAME}:"))))),
        ),
        ("no colon", Some(text(&format!("Basic {}", b64(USERNAME))))),
        ("not base64", Some(text("Basic !!!"))),
        ("bearer", Some(text("Bearer abc"))),
        ("obs-text bytes", Some(bytes(b"Basic \xff\xfe"))),
        (
            "100 KiB header",
            Some(text(&format!("Basic {}", "A".repeat(100 * 1024)))),
        ),
        (
            "invalid UTF-8 credentials",
            Some(text(&format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(b"operator:\xff")
            ))),
        ),
    ] {
        let mut headers = vec![("content-type", text("application/json"))];
        if let Some(v) = value {
            headers.push(("authorization", v));
        }
        cases.push(case(
            format!("POST authorization: {name}"),
            S,
            raw("POST", "/sessions", &headers, Body::Text(valid.clone())),
            unauthorized.clone(),
        ));
    }
    for path in [
        format!("/sessions/{SID}"),
        "/sessions?address=%2B14155550101".into(),
    ] {
        for method in ["GET", "DELETE"] {
            cases.push(case(
                format!("{method} {path} unauthenticated"),
                S,
                request(method, &path, None, "", None),
                unauthorized.clone(),
            ));
        }
    }

    // Methods and routes.
    for method in ["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"] {
        cases.push(case(
            format!("{method} /sessions"),
            S,
            request(method, "/sessions", None, "", Some(&operator())),
            not_allowed.clone(),
        ));
    }
    for method in ["POST", "PUT", "OPTIONS"] {
        cases.push(case(
            format!("{method} /sessions/{{sid}}"),
            S,
            request(
                method,
                &format!("/sessions/{SID}"),
                Some("application/json"),
                "{}",
                Some(&operator()),
            ),
            not_allowed.clone(),
        ));
    }

    // Hostile sids and paths.
    let long = "A".repeat(10_000);
    for (name, path) in [
        ("dot-dot", "/sessions/..".to_owned()),
        (
            "encoded traversal",
            "/sessions/..%2F..%2Fetc%2Fpasswd".into(),
        ),
        ("encoded dots", "/sessions/%2e%2e".into()),
        ("31 hex digits", format!("/sessions/{}", &SID[..33])),
        ("33 hex digits", format!("/sessions/{SID}0")),
        ("lower-case prefix", format!("/sessions/ch{}", &SID[2..])),
        ("participant sid", format!("/sessions/MB{}", &SID[2..])),
        ("not hex", format!("/sessions/{}g", &SID[..33])),
        ("encoded NUL", format!("/sessions/{}%00", &SID[..33])),
        (
            "encoded CRLF header injection",
            format!("/sessions/{SID}%0D%0ASet-Cookie:%20x=1"),
        ),
        (
            "percent-encoded prefix",
            format!("/sessions/%43%48{}", &SID[2..]),
        ),
        (
            "full-width prefix",
            format!("/sessions/%EF%BC%A3%EF%BC%A8{}", &SID[2..]),
        ),
        ("semicolon parameter", format!("/sessions/{SID};x=1")),
        ("unique name instead of sid", "/sessions/ride-42".into()),
        ("10,000 characters", format!("/sessions/{long}")),
        ("empty", "/sessions/%20".into()),
    ] {
        cases.push(case(
            format!("GET sid: {name}"),
            S,
            get(&path),
            invalid.clone(),
        ));
        cases.push(case(
            format!("DELETE sid: {name}"),
            S,
            delete(&path),
            invalid.clone(),
        ));
    }
    for (name, path) in [
        ("traversal", "/sessions/../../etc/passwd".to_owned()),
        (
            "unknown sub-resource",
            format!("/sessions/{SID}/recordings"),
        ),
        (
            "messages are sent, not read",
            format!("/sessions/{SID}/messages/{SID}"),
        ),
        ("empty segment", format!("/sessions//{SID}")),
        ("capitalised", format!("/Sessions/{SID}")),
        ("singular", "/session".into()),
        ("root", "/".into()),
        ("other function", "/inbound-call".into()),
    ] {
        cases.push(case(
            format!("GET route: {name}"),
            S,
            get(&path),
            not_found.clone(),
        ));
    }

    // The list query.
    let query = |q: &str| get(&format!("/sessions?{q}"));
    let cursor = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let ten_thousand_params = "x=1&".repeat(10_000);
    for (name, q) in [
        ("no query", String::new()),
        ("no address", "state=all".into()),
        ("empty address", "address=".into()),
        ("unencoded plus", "address=+14155550101".into()),
        ("state closed", "address=%2B14155550101&state=closed".into()),
        (
            "state upper-case",
            "address=%2B14155550101&state=ALL".into(),
        ),
        ("pageSize 0", "address=%2B14155550101&pageSize=0".into()),
        ("pageSize 51", "address=%2B14155550101&pageSize=51".into()),
        (
            "pageSize negative",
            "address=%2B14155550101&pageSize=-1".into(),
        ),
        (
            "pageSize text",
            "address=%2B14155550101&pageSize=ten".into(),
        ),
        (
            "pageSize fraction",
            "address=%2B14155550101&pageSize=1.5".into(),
        ),
        (
            "pageSize huge",
            "address=%2B14155550101&pageSize=99999999999999999999999".into(),
        ),
        ("cursor garbage", "address=%2B14155550101&next=!!!".into()),
        (
            "cursor of another shape",
            format!("address=%2B14155550101&next={}", cursor("x40")),
        ),
        (
            "cursor negative",
            format!("address=%2B14155550101&next={}", cursor("o-1")),
        ),
        (
            "cursor overflowing",
            format!(
                "address=%2B14155550101&next={}",
                cursor("o99999999999999999999999")
            ),
        ),
        ("unknown parameter", "address=%2B14155550101&limit=5".into()),
        (
            "duplicate address",
            "address=%2B14155550101&address=%2B14155550102".into(),
        ),
        ("10,000 parameters", ten_thousand_params),
        ("encoded CRLF", "address=%2B14155550101%0D%0A".into()),
    ] {
        cases.push(case(
            format!("GET list: {name}"),
            S,
            query(&q),
            invalid.clone(),
        ));
    }
    cases
}

/// The routes that change a live session: `PATCH /sessions/{sid}`,
/// `POST /sessions/{sid}/participants` and
/// `DELETE /sessions/{sid}/participants/{participantSid}`. Every case is
/// refused before Twilio is asked anything.
fn live_session_corpus() -> Vec<Case> {
    const S: Endpoint = Endpoint::Sessions;
    let invalid = Expect::Api(400, "invalid_request");
    let mut cases = Vec::new();
    let patch = |content_type: Option<&str>, body: &str| {
        request(
            "PATCH",
            &format!("/sessions/{SID}"),
            content_type,
            body,
            Some(&operator()),
        )
    };
    let participants = format!("/sessions/{SID}/participants");
    let add = |content_type: Option<&str>, body: &str| {
        request("POST", &participants, content_type, body, Some(&operator()))
    };

    for (name, body) in [
        ("empty body", String::new()),
        ("not JSON", "{".into()),
        ("an array", "[]".into()),
        ("null", "null".into()),
        ("nothing to change", "{}".into()),
        ("unknown field", json!({"sid": SID}).to_string()),
        (
            "friendlyName a number",
            json!({"friendlyName": 7}).to_string(),
        ),
        (
            "friendlyName with NUL",
            json!({"friendlyName": "a\u{0}b"}).to_string(),
        ),
        (
            "friendlyName 257 chars",
            json!({"friendlyName": "x".repeat(257)}).to_string(),
        ),
        ("attributes a list", json!({"attributes": [1]}).to_string()),
        (
            "attributes a string",
            json!({"attributes": "{}"}).to_string(),
        ),
        (
            "attributes reserved key",
            json!({"attributes": {"masked_comms": {"roster": []}}}).to_string(),
        ),
        (
            "timers not an object",
            json!({"timers": "PT1H"}).to_string(),
        ),
        (
            "timers unknown",
            json!({"timers": {"expires": "PT1H"}}).to_string(),
        ),
        (
            "inactive too short",
            json!({"timers": {"inactive": "PT59S"}}).to_string(),
        ),
        (
            "closed too short",
            json!({"timers": {"closed": "PT9M"}}).to_string(),
        ),
        (
            "closed not a duration",
            json!({"timers": {"closed": "tomorrow"}}).to_string(),
        ),
        (
            "capabilities empty",
            json!({"capabilities": []}).to_string(),
        ),
        (
            "capabilities unknown",
            json!({"capabilities": ["video"]}).to_string(),
        ),
        (
            "capabilities twice",
            json!({"capabilities": ["voice", "voice"]}).to_string(),
        ),
        (
            "capabilities a string",
            json!({"capabilities": "voice"}).to_string(),
        ),
        ("record a string", json!({"record": "yes"}).to_string()),
        ("state active", json!({"state": "active"}).to_string()),
        ("state inactive", json!({"state": "inactive"}).to_string()),
        ("state CLOSED", json!({"state": "CLOSED"}).to_string()),
        ("addresses", json!({"addresses": [A]}).to_string()),
    ] {
        cases.push(case(
            format!("PATCH: {name}"),
            S,
            patch(Some("application/json"), &body),
            invalid.clone(),
        ));
    }
    for content_type in [
        None,
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
    ] {
        cases.push(case(
            format!("PATCH content-type {content_type:?}"),
            S,
            patch(content_type, r#"{"friendlyName": "x"}"#),
            Expect::Api(415, "unsupported_media_type"),
        ));
    }
    cases.push(case(
        "PATCH: 65 KiB",
        S,
        patch(
            Some("application/json"),
            &json!({"friendlyName": "x".repeat(66 * 1024)}).to_string(),
        ),
        Expect::Api(413, "payload_too_large"),
    ));

    for (name, address) in bad_addresses() {
        cases.push(case(
            format!("add participant: {name}"),
            S,
            add(
                Some("application/json"),
                &json!({ "address": address }).to_string(),
            ),
            invalid.clone(),
        ));
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("address", &address)
            .finish();
        cases.push(case(
            format!("add participant form: {name}"),
            S,
            add(Some("application/x-www-form-urlencoded"), &form),
            invalid.clone(),
        ));
    }
    for (name, body) in [
        ("no address", "{}".to_owned()),
        ("address null", json!({"address": null}).to_string()),
        ("address a list", json!({"address": [A]}).to_string()),
        ("addresses", json!({"addresses": [A]}).to_string()),
        (
            "a pool number",
            json!({"address": "+15005550001"}).to_string(),
        ),
        ("not JSON", "{".into()),
    ] {
        cases.push(case(
            format!("add participant: {name}"),
            S,
            add(Some("application/json"), &body),
            invalid.clone(),
        ));
    }
    cases.push(case(
        "add participant: no content type",
        S,
        add(None, &json!({"address": A}).to_string()),
        Expect::Api(415, "unsupported_media_type"),
    ));
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        cases.push(case(
            format!("{method} /sessions/{{sid}}/participants"),
            S,
            request(method, &participants, None, "", Some(&operator())),
            Expect::Api(405, "method_not_allowed"),
        ));
    }
    for bad in [
        "nope",
        "MB123",
        "CH0123456789abcdef0123456789abcdef",
        "..%2Fx",
    ] {
        cases.push(case(
            format!("remove participant: sid {bad}"),
            S,
            delete(&format!("{participants}/{bad}")),
            invalid.clone(),
        ));
    }
    cases.push(case(
        "remove participant: bad session sid",
        S,
        delete("/sessions/nope/participants/MB0123456789abcdef0123456789abcdef"),
        invalid.clone(),
    ));
    cases.push(case(
        "participants: deeper path",
        S,
        get(&format!(
            "{participants}/MB0123456789abcdef0123456789abcdef/x"
        )),
        Expect::Api(404, "not_found"),
    ));
    for (name, headers) in [
        ("cross-site PATCH", vec![("sec-fetch-site", "cross-site")]),
        (
            "foreign-origin add",
            vec![("origin", "https://evil.example")],
        ),
    ] {
        let mut req = add(Some("application/json"), &json!({"address": A}).to_string());
        for (header, value) in headers {
            req.headers_mut().insert(header, text(value));
        }
        if name.contains("PATCH") {
            *req.method_mut() = lambda_http::http::Method::PATCH;
            *req.uri_mut() = format!("/sessions/{SID}").parse().unwrap();
        }
        cases.push(case(name, S, req, Expect::Api(403, "cross_site_request")));
    }
    cases
}

const CALL: [(&str, &str); 6] = [
    ("CallSid", "CA0123456789abcdef0123456789abcdef"),
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("From", A),
    ("To", "+15005550001"),
    ("CallStatus", "ringing"),
    ("Direction", "inbound"),
];

const TEXT: [(&str, &str); 5] = [
    ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("From", A),
    ("To", "+15005550001"),
    ("Body", "hello"),
];

const DIAL_ENDED: [(&str, &str); 5] = [
    ("CallSid", "CA0123456789abcdef0123456789abcdef"),
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("DialCallStatus", "completed"),
    ("DialCallDuration", "42"),
    ("DialCallSid", "CA0123456789abcdef0123456789abcdee"),
];

/// A conference's recording callback: no `CallSid`, only the conference's
/// and the recording's sids.
const CONFERENCE_RECORDING: [(&str, &str); 5] = [
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("ConferenceSid", "CF0123456789abcdef0123456789abcdef"),
    ("RecordingSid", "RE0123456789abcdef0123456789abcdef"),
    ("RecordingStatus", "completed"),
    (
        "RecordingUrl",
        "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE0123456789abcdef0123456789abcdef",
    ),
];

const MESSAGE_ADD: [(&str, &str); 4] = [
    ("EventType", "onMessageAdd"),
    ("ConversationSid", SID),
    ("Author", A),
    ("Body", "hello"),
];

const CLOSED_EVENT: [(&str, &str); 4] = [
    ("EventType", "onConversationStateUpdated"),
    ("ConversationSid", SID),
    ("StateFrom", "active"),
    ("StateTo", "closed"),
];

/// Unsigned, forged and malformed webhook requests, for either webhook.
fn webhook_corpus(
    token: &str,
    path: &str,
    endpoint: Endpoint,
    params: &[(&str, &str)],
) -> Vec<Case> {
    let forbidden = Expect::Webhook(403);
    let form_body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let url = format!("https://{HOST}{path}");
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let good = twilio_emulator::compute_signature(token, &url, &owned);
    let form_ct = ("content-type", text("application/x-www-form-urlencoded"));
    let signed_raw =
        |signature: HeaderValue, extra: &[(&'static str, HeaderValue)], body: Body, uri: &str| {
            let mut headers = vec![form_ct.clone(), ("x-twilio-signature", signature)];
            headers.extend(extra.iter().cloned());
            raw("POST", uri, &headers, body)
        };
    let mut cases = Vec::new();
    let label = |name: &str| format!("POST {path}: {name}");

    cases.push(case(
        label("unsigned"),
        endpoint,
        form_request(path, params, None),
        forbidden.clone(),
    ));
    for (name, signature) in [
        ("empty signature", text("")),
        ("garbage signature", text("AAAA")),
        (
            "signature of another token",
            text(&twilio_emulator::compute_signature(
                "not-the-token",
                &url,
                &owned,
            )),
        ),
        (
            "signature with a flipped character",
            text(&flip_first(&good)),
        ),
        ("signature with obs-text bytes", bytes(b"\xff\xfe=")),
        ("signature with trailing space", text(&format!("{good} "))),
        ("signature twice", text(&format!("{good},{good}"))),
        ("10 KiB signature", text(&"A".repeat(10 * 1024))),
    ] {
        cases.push(case(
            label(name),
            endpoint,
            signed_raw(signature, &[], Body::Text(form_body.clone()), path),
            forbidden.clone(),
        ));
    }
    // A correct signature that does not cover what arrived.
    let mut tampered_params = params.to_vec();
    let changed = format!("{}0", tampered_params[1].1);
    tampered_params[1].1 = &changed;
    let tampered = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&tampered_params)
        .finish();
    let extra_param = format!("{form_body}&Digits=1");
    let dropped_param = form_body.split('&').skip(1).collect::<Vec<_>>().join("&");
    for (name, body) in [
        ("tampered parameter", tampered),
        ("extra parameter", extra_param),
        ("dropped parameter", dropped_param),
        ("empty body", String::new()),
    ] {
        cases.push(case(
            label(name),
            endpoint,
            signed_raw(text(&good), &[], Body::Text(body), path),
            forbidden.clone(),
        ));
    }
    for (name, extra) in [
        (
            "signed for another host",
            vec![("host", text("evil.example.com"))],
        ),
        (
            "signed for another scheme",
            vec![("x-forwarded-proto", text("http"))],
        ),
    ] {
        let mut req = signed_raw(text(&good), &[], Body::Text(form_body.clone()), path);
        for (k, v) in extra {
            req.headers_mut().insert(k, v);
        }
        cases.push(case(label(name), endpoint, req, forbidden.clone()));
    }
    cases.push(case(
        label("signed for another path"),
        endpoint,
        signed_raw(
            text(&good),
            &[],
            Body::Text(form_body.clone()),
            &format!("{path}?x=1"),
        ),
        forbidden.clone(),
    ));
    cases.push(case(
        label("JSON body with the form's signature"),
        endpoint,
        {
            let mut req = signed_raw(
                text(&good),
                &[],
                Body::Text(
                    json!(params
                        .iter()
                        .cloned()
                        .collect::<std::collections::HashMap<_, _>>())
                    .to_string(),
                ),
                path,
            );
            req.headers_mut()
                .insert("content-type", text("application/json"));
            req
        },
        forbidden.clone(),
    ));
    let json_body = r#"{"From": "+14155550101"}"#;
    cases.push(case(
        label("JSON body whose bodySHA256 does not match"),
        endpoint,
        {
            let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
            let joint = if url.contains('?') { '&' } else { '?' };
            let signed_url = format!("{url}{joint}bodySHA256={hash}");
            let signature = twilio_emulator::compute_signature(token, &signed_url, &[]);
            let mut req = signed_raw(
                text(&signature),
                &[],
                Body::Text(json_body.into()),
                &format!("{path}{joint}bodySHA256={hash}"),
            );
            req.headers_mut()
                .insert("content-type", text("application/json"));
            req
        },
        forbidden.clone(),
    ));
    cases.push(case(
        label("invalid UTF-8 body"),
        endpoint,
        signed_raw(
            text(&good),
            &[],
            Body::Binary(b"From=%2B1415\xff\xfe".to_vec()),
            path,
        ),
        forbidden.clone(),
    ));
    cases.push(case(
        label("10,000 parameters, unsigned"),
        endpoint,
        form_request(path, &vec![("a", "b"); 10_000], None),
        forbidden.clone(),
    ));
    // Signed with the right token but over 64 KiB: refused before parsing.
    let big = "x".repeat(70 * 1024);
    let mut big_params = params.to_vec();
    big_params.push(("Padding", &big));
    cases.push(case(
        label("signed body over 64 KiB"),
        endpoint,
        signed_form(token, path, &big_params),
        forbidden.clone(),
    ));
    for method in ["GET", "PUT", "DELETE"] {
        cases.push(case(
            format!("{method} {path}"),
            endpoint,
            raw(method, path, &[], Body::Empty),
            Expect::Webhook(405),
        ));
    }
    cases
}

fn flip_first(signature: &str) -> String {
    let mut chars: Vec<char> = signature.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// Signed requests that Twilio could send but that cannot be routed or acted
/// on: answered without asking Twilio anything.
fn signed_malformed_corpus(token: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let without = |skip: &[&str]| -> Vec<(&'static str, &'static str)> {
        CALL.iter()
            .filter(|(k, _)| !skip.contains(k))
            .cloned()
            .collect()
    };
    for (name, params) in [
        ("no From", without(&["From"])),
        ("no To", without(&["To"])),
        ("no From or To", without(&["From", "To"])),
        ("empty From", {
            let mut p = without(&["From"]);
            p.push(("From", ""));
            p
        }),
        ("no parameters", vec![]),
    ] {
        cases.push(case(
            format!("POST /inbound-call signed: {name}"),
            Endpoint::InboundCall,
            signed_form(token, "/inbound-call", &params),
            Expect::Twiml,
        ));
    }
    let event = |sid: &'static str| -> Vec<(&'static str, &'static str)> {
        let mut p: Vec<_> = CLOSED_EVENT
            .iter()
            .filter(|(k, _)| *k != "ConversationSid")
            .cloned()
            .collect();
        p.push(("ConversationSid", sid));
        p
    };
    for (name, params) in [
        (
            "closed, no sid",
            CLOSED_EVENT
                .iter()
                .filter(|(k, _)| *k != "ConversationSid")
                .cloned()
                .collect(),
        ),
        (
            "closed, traversal sid",
            event("../CH0123456789abcdef0123456789abcdef"),
        ),
        (
            "closed, encoded slash sid",
            event("CH0123456789abcdef%2F..%2Fabcdef01"),
        ),
        (
            "closed, 31-digit sid",
            event("CH0123456789abcdef0123456789abcde"),
        ),
        (
            "closed, lower-case sid",
            event("ch0123456789abcdef0123456789abcdef"),
        ),
        ("closed, unique name", event("ride-42")),
        (
            "closed, sid with CRLF",
            event("CH0123456789abcdef0123456789abcdef\r\n"),
        ),
    ] {
        cases.push(case(
            format!("POST /conversation-events signed: {name}"),
            Endpoint::ConversationEvents,
            signed_form(token, "/conversation-events", &params),
            Expect::Webhook(400),
        ));
    }
    let text_without = |skip: &[&str]| -> Vec<(&'static str, &'static str)> {
        TEXT.iter()
            .filter(|(k, _)| !skip.contains(k))
            .cloned()
            .collect()
    };
    for (name, params) in [
        ("no From", text_without(&["From"])),
        ("no To", text_without(&["To"])),
        ("no MessageSid", text_without(&["MessageSid"])),
        ("a call's sid", {
            let mut p = text_without(&["MessageSid"]);
            p.push(("MessageSid", "CA0123456789abcdef0123456789abcdef"));
            p
        }),
        ("a sid with CRLF", {
            let mut p = text_without(&["MessageSid"]);
            p.push(("MessageSid", "SM0123456789abcdef0123456789abcdef\r\n"));
            p
        }),
        ("no parameters", vec![]),
    ] {
        cases.push(case(
            format!("POST /inbound-message signed: {name}"),
            Endpoint::InboundCall,
            signed_form(token, "/inbound-message", &params),
            Expect::EmptyTwiml,
        ));
    }
    for (name, sid) in [
        ("traversal sid", "../CH0123456789abcdef0123456789abcdef"),
        ("unique name", "ride-42"),
        ("lower-case sid", "ch0123456789abcdef0123456789abcdef"),
    ] {
        let mut params: Vec<(&str, &str)> = MESSAGE_ADD
            .iter()
            .filter(|(k, _)| *k != "ConversationSid")
            .cloned()
            .collect();
        params.push(("ConversationSid", sid));
        cases.push(case(
            format!("POST /conversation-events signed onMessageAdd: {name}"),
            Endpoint::ConversationEvents,
            signed_form(token, "/conversation-events", &params),
            Expect::Webhook(400),
        ));
    }
    cases
}

fn landing_corpus() -> Vec<Case> {
    use Endpoint::Landing as L;
    let mut cases = Vec::new();
    for (name, auth) in [
        ("no credentials", None),
        ("wrong password", Some(basic(USERNAME, "nope"))),
        ("other scheme", Some("Bearer x".to_owned())),
    ] {
        cases.push(case(
            format!("GET / {name}"),
            L,
            request("GET", "/?address=%3Cscript%3E", None, "", auth.as_deref()),
            Expect::Api(401, "unauthorized"),
        ));
    }
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        cases.push(case(
            format!("{method} /"),
            L,
            request(
                method,
                "/",
                Some("application/json"),
                "{}",
                Some(&operator()),
            ),
            Expect::Api(405, "method_not_allowed"),
        ));
    }
    for path in [
        "/index.html",
        "/..",
        "/%2e%2e/",
        "/../etc/passwd",
        "/%2F%2Fevil.example.com",
        "/sessions",
        "/page.js",
        "/%0D%0ASet-Cookie:%20x=1",
    ] {
        cases.push(case(
            format!("GET {path}"),
            L,
            get(path),
            Expect::Api(404, "not_found"),
        ));
    }
    cases
}

// ---------------------------------------------------------------------------
// Running the corpus

async fn send(h: &Harness, endpoint: Endpoint, req: Request) -> Response<Body> {
    match endpoint {
        Endpoint::Sessions => sessions::handle(&h.state, req).await,
        Endpoint::InboundCall => inbound_call::handle(&h.state, req).await,
        Endpoint::ConversationEvents => conversation_events::handle(&h.state, req).await,
        Endpoint::Landing => landing::handle(&h.state, req).await,
    }
}

/// What is wrong with one answer, if anything.
fn judge(case: &Case, response: &Response<Body>) -> Vec<String> {
    let mut problems = Vec::new();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if status >= 500 {
        problems.push(format!("answered {status}: {}", body_text(response)));
    }
    match &case.expect {
        Expect::Api(want, code) => {
            if status != *want {
                problems.push(format!(
                    "answered {status}, expected {want}: {}",
                    body_text(response)
                ));
            }
            if content_type != "application/json" {
                problems.push(format!("content-type {content_type:?}"));
            }
            let body = body_json(response);
            if body["error"]["code"] != *code {
                problems.push(format!(
                    "error code {}, expected {code}",
                    body["error"]["code"]
                ));
            }
            match body["error"]["message"].as_str() {
                Some(m) if !m.is_empty() => {
                    if m.contains(NUMBER_DIGITS) {
                        problems.push(format!("the message echoes the number: {m}"));
                    }
                }
                _ => problems.push(format!("no error message: {body}")),
            }
        }
        Expect::Webhook(want) => {
            if status != *want {
                problems.push(format!(
                    "answered {status}, expected {want}: {}",
                    body_text(response)
                ));
            }
            if !content_type.starts_with("text/plain") {
                problems.push(format!("content-type {content_type:?}"));
            }
        }
        Expect::EmptyTwiml => {
            let twiml = body_text(response);
            if status != 200
                || content_type != "text/xml"
                || !twiml.ends_with("<Response></Response>")
            {
                problems.push(format!("answered {status} {content_type}: {twiml}"));
            }
        }
        Expect::Twiml => {
            let twiml = body_text(response);
            if status != 200
                || content_type != "text/xml"
                || !twiml.ends_with("<Hangup/></Response>")
            {
                problems.push(format!("answered {status} {content_type}: {twiml}"));
            }
        }
    }
    problems
}

/// Sends every case, catching panics, and fails listing every bad answer.
pub(crate) async fn run(h: &Harness, cases: Vec<Case>) -> usize {
    let total = cases.len();
    let mut failures = Vec::new();
    for case in cases {
        let Case {
            name,
            endpoint,
            request,
            expect,
        } = case;
        let outcome = AssertUnwindSafe(send(h, endpoint, request))
            .catch_unwind()
            .await;
        let case = Case {
            name,
            endpoint,
            request: Request::default(),
            expect,
        };
        let mut problems = match outcome {
            Ok(response) => judge(&case, &response),
            Err(panic) => vec![format!(
                "panicked: {}",
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )],
        };
        let made = h.emulator.requests();
        if !made.is_empty() {
            let ops: Vec<_> = made.iter().map(|r| r.operation).collect();
            problems.push(format!("made Twilio requests: {ops:?}"));
            h.emulator.clear_requests();
        }
        if !problems.is_empty() {
            failures.push(format!("{}:\n    {}", case.name, problems.join("\n    ")));
        }
    }
    println!("{total} hostile cases, {} passed", total - failures.len());
    assert!(
        failures.is_empty(),
        "{} of {total} hostile cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    total
}

#[tokio::test]
async fn the_session_api_refuses_hostile_input() {
    let h = Harness::start().await;
    run(&h, sessions_corpus()).await;
}

#[tokio::test]
async fn the_live_session_routes_refuse_hostile_input() {
    let h = Harness::start().await;
    run(&h, live_session_corpus()).await;
}

/// Error messages never repeat the client's values, which may be phone
/// numbers (`body.rs` strips them from JSON errors; `InvalidField` and
/// `AddressError` never include them). Form and query errors do not hold to
/// that yet: serde_html_form's "unknown field `…`" names the field, and a
/// field name is client text too.
#[tokio::test]
async fn form_and_query_errors_never_echo_the_input() {
    let h = Harness::start().await;
    let valid = with_addresses(json!([A]));
    let cases = vec![
        case(
            "POST JSON body sent as a form",
            Endpoint::Sessions,
            post_form(&valid),
            Expect::Api(400, "invalid_request"),
        ),
        case(
            "POST form with a number as a field name",
            Endpoint::Sessions,
            post_form("address=%2B14155550102&%2B14155550101=1"),
            Expect::Api(400, "invalid_request"),
        ),
        case(
            "GET list with a number as a parameter name",
            Endpoint::Sessions,
            get("/sessions?address=%2B14155550102&%2B14155550101=1"),
            Expect::Api(400, "invalid_request"),
        ),
    ];
    run(&h, cases).await;
}

#[tokio::test]
async fn the_webhooks_refuse_what_twilio_did_not_sign() {
    let h = Harness::start().await;
    let token = h.emulator.auth_token().to_owned();
    let mut cases = webhook_corpus(&token, "/inbound-call", Endpoint::InboundCall, &CALL);
    // Every other Twilio webhook, and the seed app's paths for the two first.
    for (path, endpoint, params) in [
        ("/proxypoc/inboundCall", Endpoint::InboundCall, &CALL[..]),
        ("/inbound-message", Endpoint::InboundCall, &TEXT[..]),
        ("/call-events", Endpoint::InboundCall, &DIAL_ENDED[..]),
        (
            "/call-events?session=CH0123456789abcdef0123456789abcdef&kind=recording",
            Endpoint::InboundCall,
            &CONFERENCE_RECORDING[..],
        ),
        (
            "/conversation-events",
            Endpoint::ConversationEvents,
            &CLOSED_EVENT[..],
        ),
        (
            "/conversation-events",
            Endpoint::ConversationEvents,
            &MESSAGE_ADD[..],
        ),
        (
            "/conversations-post-event",
            Endpoint::ConversationEvents,
            &CLOSED_EVENT[..],
        ),
    ] {
        cases.extend(webhook_corpus(&token, path, endpoint, params));
    }
    cases.extend(signed_malformed_corpus(&token));
    run(&h, cases).await;
}

#[tokio::test]
async fn the_landing_page_refuses_hostile_requests() {
    let h = Harness::start().await;
    run(&h, landing_corpus()).await;
}

// ---------------------------------------------------------------------------
// API Gateway events: lambda_http's deserialisation runs before our handler.

/// An API Gateway HTTP API (v2) event for our function, as the Lambda runtime
/// receives it.
fn apigw_event(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: Value,
    body: Option<&str>,
    base64: bool,
) -> String {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": HOST,
            "domainPrefix": "masked",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "hostile/1.0"
            },
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_000_000_000u64
        },
        "body": body,
        "isBase64Encoded": base64
    })
    .to_string()
}

fn json_headers() -> Value {
    json!({
        "host": HOST,
        "x-forwarded-proto": "https",
        "content-type": "application/json",
        "authorization": operator(),
    })
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Events that deserialise: our handler then answers them like any request.
#[tokio::test]
async fn api_gateway_events_reach_the_handler_and_get_4xx() {
    let h = Harness::start().await;
    let form_headers = json!({
        "host": HOST,
        "x-forwarded-proto": "https",
        "content-type": "application/x-www-form-urlencoded",
    });
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(CALL)
        .finish();
    let events: Vec<(&str, Endpoint, String, Expect)> = vec![
        (
            "base64 of malformed JSON",
            Endpoint::Sessions,
            apigw_event(
                "POST",
                "/sessions",
                "",
                json_headers(),
                Some(&b64(b"{not json")),
                true,
            ),
            Expect::Api(400, "invalid_request"),
        ),
        (
            "base64 of invalid UTF-8",
            Endpoint::Sessions,
            apigw_event(
                "POST",
                "/sessions",
                "",
                json_headers(),
                Some(&b64(b"{\"addresses\": [\"\xff\xfe\"]}")),
                true,
            ),
            Expect::Api(400, "invalid_request"),
        ),
        (
            "base64 of nothing",
            Endpoint::Sessions,
            apigw_event("POST", "/sessions", "", json_headers(), Some(""), true),
            Expect::Api(400, "invalid_request"),
        ),
        (
            "base64 of over 64 KiB",
            Endpoint::Sessions,
            apigw_event(
                "POST",
                "/sessions",
                "",
                json_headers(),
                Some(&b64(&vec![b' '; 70 * 1024])),
                true,
            ),
            Expect::Api(413, "payload_too_large"),
        ),
        (
            "no body",
            Endpoint::Sessions,
            apigw_event("POST", "/sessions", "", json_headers(), None, false),
            Expect::Api(400, "invalid_request"),
        ),
        (
            "traversal in rawPath",
            Endpoint::Sessions,
            apigw_event(
                "GET",
                "/sessions/../../etc/passwd",
                "",
                json_headers(),
                None,
                false,
            ),
            Expect::Api(404, "not_found"),
        ),
        (
            "encoded CRLF in the sid",
            Endpoint::Sessions,
            apigw_event(
                "GET",
                "/sessions/CH%0D%0ASet-Cookie:x",
                "",
                json_headers(),
                None,
                false,
            ),
            Expect::Api(400, "invalid_request"),
        ),
        (
            "hostile raw query",
            Endpoint::Sessions,
            apigw_event(
                "GET",
                "/sessions",
                "address=%2B1%0D%0A&address=x",
                json_headers(),
                None,
                false,
            ),
            Expect::Api(400, "invalid_request"),
        ),
        (
            "unsigned base64 form",
            Endpoint::InboundCall,
            apigw_event(
                "POST",
                "/inbound-call",
                "",
                form_headers.clone(),
                Some(&b64(form.as_bytes())),
                true,
            ),
            Expect::Webhook(403),
        ),
        (
            "forged signature on a base64 form",
            Endpoint::ConversationEvents,
            apigw_event(
                "POST",
                "/conversation-events",
                "",
                {
                    let mut h = form_headers.clone();
                    h["x-twilio-signature"] = json!("AAAA");
                    h
                },
                Some(&b64(b"EventType=onConversationStateUpdated&StateTo=closed")),
                true,
            ),
            Expect::Webhook(403),
        ),
    ];
    let mut cases = Vec::new();
    for (name, endpoint, event, expect) in events {
        let request = lambda_http::request::from_str(&event)
            .unwrap_or_else(|e| panic!("{name}: the event does not deserialise: {e}"));
        cases.push(case(
            format!("API Gateway event: {name}"),
            endpoint,
            request,
            expect,
        ));
    }
    run(&h, cases).await;
}

/// Events lambda_http refuses to deserialise never reach our handler; the
/// runtime reports the error to Lambda (the invocation fails; API Gateway
/// answers 500). A header value with CR/LF is one: `http` refuses it.
#[test]
fn api_gateway_events_with_unrepresentable_headers_are_deserialisation_errors() {
    for (name, value) in [
        ("CRLF", "Basic x\r\nX-Injected: 1"),
        ("NUL", "Basic x\u{0}"),
        ("DEL", "Basic x\u{7f}"),
    ] {
        let mut headers = json_headers();
        headers["authorization"] = json!(value);
        let event = apigw_event("POST", "/sessions", "", headers, Some("{}"), false);
        let outcome = std::panic::catch_unwind(|| lambda_http::request::from_str(&event));
        match outcome {
            Ok(Err(e)) => assert!(e.to_string().contains("Amazon API Gateway"), "{name}: {e}"),
            Ok(Ok(req)) => panic!(
                "{name}: the event was accepted, authorization {:?}",
                req.headers().get("authorization")
            ),
            Err(_) => panic!("{name}: deserialising the event panicked"),
        }
    }
}

/// `isBase64Encoded: true` with a body that is not base64.
///
/// What actually happens (lambda_http 1.3.2, aws_lambda_events 1.2.1): the
/// event deserialises, then converting it into an `http::Request` calls
/// `Body::from_maybe_encoded`, which decodes with `.expect("failed to decode
/// aws base64 encoded body")`: it PANICS, inside lambda_http, before our
/// handler runs. Under `panic = "unwind"` the runtime's CatchPanicService
/// turns that into an invocation error ("Lambda panicked: failed to decode aws
/// base64 encoded body"; API Gateway answers 500). Our release profile has
/// `panic = "abort"`, so there the process aborts instead and Lambda restarts
/// the execution environment (a cold start for the next request).
///
/// API Gateway itself always sends valid base64, so only a direct `Invoke`
/// (IAM-authorised) can send such an event. This test pins the behaviour; if
/// a lambda_http upgrade or our own adapter turns it into an error or a 4xx,
/// change the expectation.
#[test]
fn api_gateway_events_with_invalid_base64_panic_inside_lambda_http() {
    for (name, body) in [
        ("garbage", "!!! not base64 !!!"),
        ("missing padding", "eyJ"),
        ("url-safe alphabet", "-_-_"),
        ("truncated", "eyJhZ"),
        ("whitespace inside", "eyJh ZGRy"),
        ("data URL", "data:application/json;base64,e30="),
    ] {
        let event = apigw_event("POST", "/sessions", "", json_headers(), Some(body), true);
        let outcome = std::panic::catch_unwind(|| lambda_http::request::from_str(&event));
        match outcome {
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                assert!(
                    message.contains("failed to decode aws base64 encoded body"),
                    "{name}: {message}"
                );
            }
            Ok(Ok(_)) => panic!("{name}: now decodes; update this test"),
            Ok(Err(e)) => panic!("{name}: now a deserialisation error ({e}); update this test"),
        }
    }
}
