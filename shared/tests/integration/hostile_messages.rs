//! The hostile corpus for `POST /sessions/{sid}/messages`: every malformed
//! message is refused before Twilio is asked anything (`hostile::run`
//! fails a case that made any Twilio request), and no refusal repeats the
//! message's body or a number.

use serde_json::json;

use crate::hostile::{case, operator, run, Case, Endpoint, Expect};
use crate::support::*;

const SID: &str = "CH0123456789abcdef0123456789abcdef";
/// A body that must never be echoed back (its number's digits included).
const SECRET_BODY: &str = "meet me, call +14155550199 instead";

fn corpus() -> Vec<Case> {
    const S: Endpoint = Endpoint::Sessions;
    let invalid = Expect::Api(400, "invalid_request");
    let path = format!("/sessions/{SID}/messages");
    let post = |content_type: Option<&str>, body: &str| {
        request("POST", &path, content_type, body, Some(&operator()))
    };
    let mut cases = Vec::new();
    let long = format!("{SECRET_BODY}{}", "x".repeat(1_600));
    for (name, body) in [
        ("empty body", String::new()),
        ("not JSON", "{".into()),
        ("an array", "[]".into()),
        ("null", "null".into()),
        ("nothing to send", "{}".into()),
        ("unknown field", json!({"text": SECRET_BODY}).to_string()),
        ("body empty", json!({"body": ""}).to_string()),
        (
            "body 1,601+ characters",
            json!({ "body": long }).to_string(),
        ),
        ("body a number", json!({"body": 14155550199u64}).to_string()),
        ("body a list", json!({ "body": [SECRET_BODY] }).to_string()),
        (
            "to a phone number",
            json!({"to": "+14155550199", "body": "x"}).to_string(),
        ),
        (
            "to a session sid",
            json!({"to": SID, "body": "x"}).to_string(),
        ),
        (
            "mediaUrl http",
            json!({"mediaUrl": ["http://example.com/a.png"]}).to_string(),
        ),
        (
            "mediaUrl a string",
            json!({"mediaUrl": "https://example.com/a.png"}).to_string(),
        ),
        (
            "mediaUrl not a URL",
            json!({"mediaUrl": ["tel:+14155550199"]}).to_string(),
        ),
        (
            "mediaUrl eleven",
            json!({ "mediaUrl": vec!["https://example.com/a.png"; 11] }).to_string(),
        ),
        (
            "contentSid short",
            json!({"contentSid": "HX0123"}).to_string(),
        ),
        (
            "contentSid not hex",
            json!({"contentSid": format!("HX{}", "z".repeat(32))}).to_string(),
        ),
        (
            "contentVariables without contentSid",
            json!({"body": "x", "contentVariables": {"1": "a"}}).to_string(),
        ),
        (
            "contentVariables not strings",
            json!({"contentSid": format!("HX{}", "a".repeat(32)), "contentVariables": {"1": 2}})
                .to_string(),
        ),
        (
            "contentVariables a list",
            json!({"contentSid": format!("HX{}", "a".repeat(32)), "contentVariables": ["a"]})
                .to_string(),
        ),
    ] {
        cases.push(case(
            format!("send message: {name}"),
            S,
            post(Some("application/json"), &body),
            invalid.clone(),
        ));
    }
    for content_type in [
        None,
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
    ] {
        cases.push(case(
            format!("send message content-type {content_type:?}"),
            S,
            post(content_type, &json!({ "body": SECRET_BODY }).to_string()),
            Expect::Api(415, "unsupported_media_type"),
        ));
    }
    cases.push(case(
        "send message: 65 KiB",
        S,
        post(
            Some("application/json"),
            &json!({"body": "x".repeat(66 * 1024)}).to_string(),
        ),
        Expect::Api(413, "payload_too_large"),
    ));
    cases.push(case(
        "send message: bad session sid",
        S,
        request(
            "POST",
            "/sessions/CH123/messages",
            Some("application/json"),
            &json!({ "body": SECRET_BODY }).to_string(),
            Some(&operator()),
        ),
        invalid.clone(),
    ));
    cases.push(case(
        "send message: no credentials",
        S,
        request(
            "POST",
            &path,
            Some("application/json"),
            &json!({ "body": SECRET_BODY }).to_string(),
            None,
        ),
        Expect::Api(401, "unauthorized"),
    ));
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        cases.push(case(
            format!("{method} /sessions/{{sid}}/messages"),
            S,
            request(method, &path, None, "", Some(&operator())),
            Expect::Api(405, "method_not_allowed"),
        ));
    }
    cases
}

#[tokio::test]
async fn the_message_route_refuses_hostile_input_before_twilio() {
    let h = Harness::start().await;
    let total = run(&h, corpus()).await;
    assert!(total >= 30, "{total}");
}
