//! The sample events in `events/` (for `cargo lambda invoke --data-file` and
//! `sam local invoke -e`), deserialised by lambda_http exactly as the Lambda
//! runtime does and run through their function's handler against the Twilio
//! emulator, configured like `events/env.json`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::support::*;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use masked_comms::config::key;
use masked_comms::handlers::{conversation_events, inbound_call, landing, sessions};
use masked_comms::AppState;
use serde_json::Value;
use twilio_emulator::{
    ConversationSeed, ConversationState, Operation, SAMPLE_ACCOUNT_SID, SAMPLE_AUTH_TOKEN,
};

/// The session sid in `sessions-read.json`, `sessions-close.json` and
/// `conversation-closed.json` (tests/deploy/make_events.py SESSION_SID).
const SAMPLE_SID: &str = "CH7d1f0c5e2b9a4c3d8e6f1a2b3c4d5e6f";
const ALICE: &str = "+14155550101";
const BOB: &str = "+14155550102";
/// The host every event was sent to (its requestContext.domainName).
const DOMAIN: &str = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com";

#[derive(Clone, Copy, Debug)]
enum Function {
    LandingPage,
    Sessions,
    InboundCall,
    ConversationEvents,
}

/// Every event file, the function that serves it, and the status it gets here.
const EVENTS: [(&str, Function, u16); 9] = [
    ("landing-page-get.json", Function::LandingPage, 200),
    ("sessions-create-json.json", Function::Sessions, 201),
    ("sessions-create-form.json", Function::Sessions, 201),
    ("sessions-create-unauthorised.json", Function::Sessions, 401),
    ("sessions-read.json", Function::Sessions, 200),
    ("sessions-list.json", Function::Sessions, 200),
    ("sessions-close.json", Function::Sessions, 204),
    ("inbound-call.json", Function::InboundCall, 200),
    (
        "conversation-closed.json",
        Function::ConversationEvents,
        200,
    ),
];

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn read_event(name: &str) -> String {
    let path = events_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the runtime does with an event: `LambdaRequest` from JSON, then into
/// an `http::Request` (`lambda_http::request::from_str`).
fn parse(name: &str, text: &str) -> Request {
    lambda_http::request::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// events/env.json's `Parameters`, the environment `sam local invoke` gives
/// every function.
fn env_json() -> HashMap<String, String> {
    let value: Value = serde_json::from_str(&read_event("env.json")).expect("env.json is JSON");
    value["Parameters"]
        .as_object()
        .expect("env.json has Parameters")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string values").to_owned()))
        .collect()
}

/// A harness configured like events/env.json: the emulator's sample account,
/// the sample pool and operator credentials, and the optional settings.
async fn harness_like_env_json() -> Harness {
    let env = env_json();
    assert_eq!(env["TWILIO_ACCOUNT_SID"], SAMPLE_ACCOUNT_SID);
    assert_eq!(env["TWILIO_AUTH_TOKEN"], SAMPLE_AUTH_TOKEN);
    let pool = sample_pool();
    let pool: Vec<&str> = pool.iter().map(String::as_str).collect();
    let extra: Vec<(&str, &str)> = key::ALL
        .iter()
        .filter(|k| k.ssm != key::NUMBER_POOL.ssm)
        .filter_map(|k| env.get(k.env).map(|v| (k.ssm, v.as_str())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let h = Harness::with(&pool, &extra).await;
    assert_eq!(h.emulator.account_sid(), env["TWILIO_ACCOUNT_SID"]);
    assert_eq!(h.emulator.auth_token(), env["TWILIO_AUTH_TOKEN"]);
    h
}

async fn call(state: &AppState, function: Function, req: Request) -> Response<Body> {
    match function {
        Function::LandingPage => landing::handle(state, req).await,
        Function::Sessions => sessions::handle(state, req).await,
        Function::InboundCall => inbound_call::handle(state, req).await,
        Function::ConversationEvents => conversation_events::handle(state, req).await,
    }
}

/// events/env.json's NUMBER_POOL: a comma-separated list (as SSM's
/// StringList holds it) or a JSON array, the two forms config.rs reads.
fn sample_pool() -> Vec<String> {
    let text = env_json()["NUMBER_POOL"].trim().to_owned();
    let pool: Vec<String> = if text.starts_with('[') {
        serde_json::from_str(&text).expect("pool is a JSON array of strings")
    } else {
        text.split(',').map(|n| n.trim().to_owned()).collect()
    };
    assert!(pool.len() >= 2, "the sample pool has at least two numbers");
    pool
}

/// A session between Alice and Bob on the first two pool numbers.
fn seed_session(h: &Harness) -> String {
    let pool = sample_pool();
    h.emulator
        .seed_conversation(ConversationSeed {
            friendly_name: Some("Seeded".into()),
            attributes: Some(session_attributes(
                Some(&[(ALICE, &pool[0]), (BOB, &pool[1])]),
                serde_json::json!({}),
            )),
            bindings: vec![
                (ALICE.into(), pool[0].clone()),
                (BOB.into(), pool[1].clone()),
            ],
            ..Default::default()
        })
        .expect("seeds")
}

/// A closed session whose unique name is `name`.
fn seed_closed_session_named(h: &Harness, name: &str) -> String {
    let pool = sample_pool();
    h.emulator
        .seed_conversation(ConversationSeed {
            unique_name: Some(name.into()),
            state: ConversationState::Closed,
            attributes: Some(session_attributes(
                Some(&[(ALICE, &pool[0])]),
                serde_json::json!({}),
            )),
            ..Default::default()
        })
        .expect("seeds")
}

#[test]
fn every_event_file_is_covered() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(events_dir())
        .expect("events/ exists")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") && n != "env.json")
        .collect();
    let covered: BTreeSet<String> = EVENTS.iter().map(|(n, _, _)| n.to_string()).collect();
    assert_eq!(on_disk, covered, "add new event files to EVENTS");
}

#[test]
fn events_deserialise_as_the_runtime_sees_them() {
    for (name, _, _) in EVENTS {
        let text = read_event(name);
        let json: Value = serde_json::from_str(&text).unwrap();
        let req = parse(name, &text);
        assert_eq!(
            req.method().as_str(),
            json["requestContext"]["http"]["method"],
            "{name}"
        );
        assert_eq!(
            req.uri().path(),
            json["rawPath"],
            "{name}: $default stage adds no prefix"
        );
        assert_eq!(req.headers()["host"], DOMAIN, "{name}");
        assert_eq!(json["requestContext"]["domainName"], DOMAIN, "{name}");
        if json["isBase64Encoded"] == true {
            // API Gateway's base64 arrives decoded, as bytes.
            assert!(
                matches!(req.body(), Body::Binary(b) if !b.is_empty()),
                "{name}"
            );
        }
    }
}

#[tokio::test]
async fn every_event_gets_its_expected_status() {
    for (name, function, expected) in EVENTS {
        let h = harness_like_env_json().await;
        let mut text = read_event(name);
        let mut seeded = None;
        match name {
            "sessions-read.json" | "sessions-close.json" => {
                // The sample sid stands for an existing session: make it one.
                let sid = seed_session(&h);
                text = text.replace(SAMPLE_SID, &sid);
                seeded = Some(sid);
            }
            "sessions-list.json" | "inbound-call.json" => {
                seeded = Some(seed_session(&h));
            }
            "conversation-closed.json" => {
                // The event is signed, so its sid cannot be replaced: seed a
                // closed session that Twilio's paths find under that sid
                // (they accept a unique name where a sid goes).
                seeded = Some(seed_closed_session_named(&h, SAMPLE_SID));
            }
            _ => {}
        }
        let response = call(&h.state, function, parse(name, &text)).await;
        let status = response.status();
        let body = body_text(&response);
        assert_eq!(status.as_u16(), expected, "{name}: {body}");

        let pool = sample_pool();
        match name {
            "landing-page-get.json" => {
                assert!(response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html"));
                assert!(body.contains(&pool[0]), "the page lists the pool");
            }
            "sessions-create-json.json" | "sessions-create-form.json" => {
                let json = body_json(&response);
                assert_eq!(json["participants"].as_array().unwrap().len(), 2, "{json}");
                assert!(json["sid"].as_str().unwrap().starts_with("CH"));
                assert_eq!(h.emulator.conversations().len(), 1);
            }
            "sessions-create-unauthorised.json" => {
                assert!(response.headers().contains_key("www-authenticate"));
                assert_eq!(h.requests_made(), 0, "no Twilio request without auth");
            }
            "sessions-read.json" => {
                assert_eq!(body_json(&response)["sid"], seeded.unwrap().as_str());
            }
            "sessions-list.json" => {
                assert!(body.contains(&seeded.unwrap()), "{body}");
            }
            "sessions-close.json" => {
                let sid = seeded.unwrap();
                assert!(
                    h.emulator.conversation(&sid).is_none(),
                    "closed, then deleted with every number it held"
                );
            }
            "inbound-call.json" => {
                assert_eq!(response.headers()["content-type"], "text/xml");
                let dial = format!(
                    r#"<Dial callerId="{}"><Number>{BOB}</Number></Dial>"#,
                    pool[1]
                );
                assert!(body.contains(&dial), "{body}");
            }
            "conversation-closed.json" => {
                // (The event names the session by its unique name; the delete uses its sid.)
                let deleted = h
                    .emulator
                    .requests()
                    .into_iter()
                    .any(|r| r.operation == Operation::DeleteConversation);
                assert!(deleted, "the closed conversation is deleted");
                assert!(h.emulator.conversation(&seeded.unwrap()).is_none());
            }
            other => panic!("no checks for {other}"),
        }
    }
}

/// The webhook events' signatures are what lets them through: with another
/// auth token the same events are refused.
#[tokio::test]
async fn webhook_events_are_refused_under_another_auth_token() {
    let pool = sample_pool();
    let pool: Vec<&str> = pool.iter().map(String::as_str).collect();
    let h = Harness::with(&pool, &[(key::AUTH_TOKEN.ssm, "some-other-token")]).await;
    for (name, function) in [
        ("inbound-call.json", Function::InboundCall),
        ("conversation-closed.json", Function::ConversationEvents),
    ] {
        let response = call(&h.state, function, parse(name, &read_event(name))).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{name}");
    }
}
