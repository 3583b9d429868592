//! POST /sessions against the Twilio emulator, through real lambda_http requests.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::*;
use masked_comms::domain::roster::SessionRecord;
use masked_comms::handlers::sessions;
use serde_json::{json, Value};
use twilio_emulator::{
    sequential_round_trips, ConversationSeed, ConversationState, Fault, Operation,
};

async fn create(h: &Harness, body: Value) -> (u16, Value) {
    let response = sessions::handle(&h.state, operator_json("POST", "/sessions", &body)).await;
    (response.status().as_u16(), body_json(&response))
}

fn proxies(body: &Value) -> Vec<String> {
    body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["messaging_binding"]["proxy_address"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn addresses(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("+1415555{:04}", 100 + i)).collect()
}

#[tokio::test]
async fn creates_a_two_party_session_in_two_round_trips() {
    let h = Harness::start().await;
    // Latency makes concurrent requests overlap, so waves are measurable.
    h.emulator.set_latency(Duration::from_millis(30));
    let (status, body) = create(
        &h,
        json!({"addresses": ["+14155550101", "+14155550102"], "friendlyName": "Ride 42"}),
    )
    .await;

    assert_eq!(status, 201, "{body}");
    assert!(body["sid"].as_str().unwrap().starts_with("CH"));
    assert_eq!(body["friendly_name"], "Ride 42");
    assert_eq!(body["participants"].as_array().unwrap().len(), 2);
    for p in proxies(&body) {
        assert!(POOL.contains(&p.as_str()), "{p}");
    }
    let requests = h.emulator.requests();
    assert_eq!(
        requests.len(),
        6,
        "2 lists + create + 2 adds + roster write"
    );
    assert_eq!(sequential_round_trips(&requests), 2);

    let conversations = h.emulator.conversations();
    assert_eq!(conversations.len(), 1);
    let roster = SessionRecord::read(&conversations[0].attributes)
        .unwrap()
        .roster
        .unwrap();
    let stored: Vec<(String, String)> = conversations[0]
        .participants
        .iter()
        .map(|p| (p.address.clone(), p.proxy_address.clone()))
        .collect();
    let in_roster: Vec<(String, String)> = roster
        .iter()
        .map(|e| (e.address.clone(), e.proxy.clone()))
        .collect();
    assert_eq!(stored.len(), 2);
    for pair in &stored {
        assert!(in_roster.contains(pair), "{pair:?} missing from roster");
    }
}

#[tokio::test]
async fn creates_a_fifty_participant_session() {
    let h = Harness::start().await;
    let (status, body) = create(&h, json!({ "addresses": addresses(50) })).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["participants"].as_array().unwrap().len(), 50);
    assert_eq!(h.emulator.conversations()[0].participants.len(), 50);
}

#[tokio::test]
async fn whatsapp_participants_get_a_whatsapp_proxy() {
    let h = Harness::start().await;
    let (status, body) = create(
        &h,
        json!({"addresses": ["+14155550101", "whatsapp:+447700900123"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let wa = &body["participants"][1]["messaging_binding"];
    assert_eq!(wa["address"], "whatsapp:+447700900123");
    assert!(wa["proxy_address"]
        .as_str()
        .unwrap()
        .starts_with("whatsapp:+1500555000"));
}

#[tokio::test]
async fn accepts_a_form_body_with_repeated_addresses() {
    let h = Harness::start().await;
    let body =
        "address=%2B14155550101&address=%2B14155550102&friendlyName=Form+session&timers.closed=P1D";
    let req = request(
        "POST",
        "/sessions",
        Some("application/x-www-form-urlencoded"),
        body,
        Some(&basic(USERNAME, PASSWORD)),
    );
    let response = sessions::handle(&h.state, req).await;
    let json = body_json(&response);
    assert_eq!(response.status(), 201, "{json}");
    assert_eq!(json["participants"].as_array().unwrap().len(), 2);
    assert_eq!(json["friendly_name"], "Form session");
    let create = h
        .emulator
        .requests()
        .into_iter()
        .find(|r| r.operation == Operation::CreateConversation)
        .unwrap();
    assert_eq!(create.param("Timers.Closed"), Some("P1D"));
}

#[tokio::test]
async fn keeps_the_users_attributes_beside_the_roster() {
    let h = Harness::start().await;
    let (status, body) = create(
        &h,
        json!({"addresses": ["+14155550101", "+14155550102"], "attributes": {"order": 42, "note": "fragile"}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let stored: Value = serde_json::from_str(&h.emulator.conversations()[0].attributes).unwrap();
    assert_eq!(stored["order"], 42);
    assert_eq!(stored["note"], "fragile");
    assert!(stored["masked_comms"]["roster"].is_array());
}

/// Method, content type, body, Authorization, expected status and error code.
type BadRequest = (
    &'static str,
    Option<&'static str>,
    String,
    Option<String>,
    u16,
    &'static str,
);

#[tokio::test]
async fn refuses_bad_requests_without_calling_twilio() {
    let h = Harness::start().await;
    let auth = basic(USERNAME, PASSWORD);
    let big = format!(
        r#"{{"addresses": ["+14155550101"], "friendlyName": "{}"}}"#,
        "x".repeat(70_000)
    );
    let cases: Vec<BadRequest> = vec![
        (
            "POST",
            Some("application/json"),
            r#"{"addresses": ["+14155550101"]}"#.into(),
            None,
            401,
            "unauthorized",
        ),
        (
            "POST",
            Some("application/json"),
            r#"{"addresses": ["+14155550101"]}"#.into(),
            Some(basic(USERNAME, "wrong")),
            401,
            "unauthorized",
        ),
        (
            "PUT",
            None,
            String::new(),
            Some(auth.clone()),
            405,
            "method_not_allowed",
        ),
        (
            "POST",
            Some("application/json"),
            big,
            Some(auth.clone()),
            413,
            "payload_too_large",
        ),
        (
            "POST",
            Some("text/plain"),
            "+14155550101".into(),
            Some(auth.clone()),
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            Some("application/json"),
            "{not json".into(),
            Some(auth.clone()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            Some("application/json"),
            String::new(),
            Some(auth.clone()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            Some("application/json"),
            r#"{"addresses": "+14155550101"}"#.into(),
            Some(auth.clone()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            Some("application/json"),
            r#"{"addresses": ["+14155550101"], "colour": "red"}"#.into(),
            Some(auth.clone()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            Some("application/json"),
            r#"{"addresses": []}"#.into(),
            Some(auth.clone()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            Some("application/json"),
            r#"{"addresses": ["0014155550101"]}"#.into(),
            Some(auth.clone()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            Some("application/json"),
            r#"{"addresses": ["+15005550001"]}"#.into(),
            Some(auth.clone()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            Some("application/json"),
            r#"{"addresses": ["+14155550101", "+14155550101"]}"#.into(),
            Some(auth.clone()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            Some("application/json"),
            r#"{"addresses": ["+14155550101"], "messagingServiceSid": "MGnope"}"#.into(),
            Some(auth.clone()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            Some("application/json"),
            r#"{"addresses": ["+14155550101"], "timers": {"inactive": "PT10S"}}"#.into(),
            Some(auth.clone()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            Some("application/json"),
            r#"{"addresses": ["+14155550101"], "attributes": "x"}"#.into(),
            Some(auth.clone()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            Some("application/x-www-form-urlencoded"),
            "address=%2B14155550101&attributes=%7Bbad".into(),
            Some(auth.clone()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            Some("application/x-www-form-urlencoded"),
            "address=%2B14155550101&nonsense=1".into(),
            Some(auth.clone()),
            400,
            "invalid_request",
        ),
    ];
    for (method, content_type, body, auth, expected_status, expected_code) in cases {
        let req = request(method, "/sessions", content_type, &body, auth.as_deref());
        let response = sessions::handle(&h.state, req).await;
        let json = body_json(&response);
        let label = format!("{method} {content_type:?} {}", &body[..body.len().min(80)]);
        assert_eq!(
            response.status().as_u16(),
            expected_status,
            "{label}: {json}"
        );
        assert_eq!(json["error"]["code"], expected_code, "{label}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{label}"
        );
        if expected_status == 401 {
            let challenge = response.headers()["www-authenticate"].to_str().unwrap();
            assert!(
                challenge.starts_with("Basic realm=\"masked-comms\""),
                "{challenge}"
            );
        }
    }
    assert_eq!(h.requests_made(), 0, "no bad request may reach Twilio");
}

#[tokio::test]
async fn invalid_address_error_names_the_field() {
    let h = Harness::start().await;
    let (status, body) = create(
        &h,
        json!({"addresses": ["+14155550101", "+1 415 555 0102"]}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "addresses[1]");
    assert!(!body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("415 555"));
}

#[tokio::test]
async fn unknown_route_is_404() {
    let h = Harness::start().await;
    let response = sessions::handle(&h.state, operator_json("POST", "/nope", &json!({}))).await;
    assert_eq!(response.status(), 404);
    assert_eq!(body_json(&response)["error"]["code"], "not_found");
}

#[tokio::test]
async fn pool_exhaustion_names_the_address_and_leaves_no_conversation() {
    let h = Harness::with(&["+15005550001"], &[]).await;
    let seed = h
        .emulator
        .seed_conversation(ConversationSeed {
            bindings: vec![("+14155550102".into(), "+15005550001".into())],
            ..Default::default()
        })
        .unwrap();
    let (status, body) = create(&h, json!({"addresses": ["+14155550101", "+14155550102"]})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "pool_exhausted");
    assert_eq!(body["error"]["address"], "+14155550102");
    let left: Vec<String> = h
        .emulator
        .conversations()
        .into_iter()
        .map(|c| c.sid)
        .collect();
    assert_eq!(
        left,
        [seed],
        "the failed create's conversation must be deleted"
    );
}

#[tokio::test]
async fn closed_conversations_do_not_hold_numbers() {
    let h = Harness::with(&["+15005550001"], &[]).await;
    h.emulator
        .seed_conversation(ConversationSeed {
            bindings: vec![("+14155550101".into(), "+15005550001".into())],
            state: ConversationState::Closed,
            ..Default::default()
        })
        .unwrap();
    let (status, body) = create(&h, json!({"addresses": ["+14155550101"]})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(proxies(&body), ["+15005550001"]);
}

#[tokio::test]
async fn concurrent_creates_race_to_distinct_proxies() {
    let h = Harness::start().await;
    h.emulator.set_latency(Duration::from_millis(20));
    let bodies = [
        json!({"addresses": ["+14155550101", "+14155550102"]}),
        json!({"addresses": ["+14155550101", "+14155550103"]}),
        json!({"addresses": ["+14155550101", "+14155550104"]}),
    ];
    let results = futures_util::future::join_all(bodies.into_iter().map(|b| create(&h, b))).await;
    let mut first_proxies = HashSet::new();
    for (status, body) in &results {
        assert_eq!(*status, 201, "{body}");
        first_proxies.insert(proxies(body)[0].clone());
    }
    assert_eq!(
        first_proxies.len(),
        3,
        "one address, three sessions, three proxies"
    );
    let lost_races = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::CreateParticipant && r.status == 409)
        .count();
    assert!(lost_races > 0, "the race was not exercised");
    // Every roster must match what Twilio actually bound.
    for c in h.emulator.conversations() {
        let roster = SessionRecord::read(&c.attributes).unwrap().roster.unwrap();
        for p in &c.participants {
            assert!(
                roster
                    .iter()
                    .any(|e| e.address == p.address && e.proxy == p.proxy_address),
                "roster of {} is stale",
                c.sid
            );
        }
    }
}

#[tokio::test]
async fn retries_a_rate_limited_add_then_succeeds() {
    let h = Harness::start().await;
    h.emulator.inject(
        Operation::CreateParticipant,
        Fault::Status {
            status: 429,
            retry_after: None,
        },
        1,
    );
    let (status, body) = create(&h, json!({"addresses": ["+14155550101", "+14155550102"]})).await;
    assert_eq!(status, 201, "{body}");
    let adds: Vec<u16> = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::CreateParticipant)
        .map(|r| r.status)
        .collect();
    assert_eq!(adds.iter().filter(|s| **s == 429).count(), 1);
    assert_eq!(adds.iter().filter(|s| **s == 201).count(), 2);
}

#[tokio::test]
async fn twilio_unavailable_is_503_and_rolls_back() {
    let h = Harness::start().await;
    h.emulator.inject(
        Operation::ListParticipantConversations,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        100,
    );
    let (status, body) = create(&h, json!({"addresses": ["+14155550101"]})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert!(
        h.emulator.conversations().is_empty(),
        "the conversation must be rolled back"
    );
}

#[tokio::test]
async fn twilio_refusal_is_502_with_twilios_code() {
    let h = Harness::start().await;
    h.emulator.inject(
        Operation::CreateConversation,
        Fault::Status {
            status: 400,
            retry_after: None,
        },
        1,
    );
    let (status, body) = create(&h, json!({"addresses": ["+14155550101"]})).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "twilio_error");
    assert_eq!(body["error"]["twilio_code"], 20001);
    assert!(h.emulator.conversations().is_empty());
}

#[tokio::test]
async fn a_lost_create_answer_is_repeated_without_a_duplicate() {
    let h = Harness::start().await;
    h.emulator
        .inject(Operation::CreateConversation, Fault::Reset, 1);
    let (status, body) = create(&h, json!({"addresses": ["+14155550101"]})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(h.emulator.conversations().len(), 1);
}

#[tokio::test]
async fn a_taken_unique_name_is_409() {
    let h = Harness::start().await;
    h.emulator
        .seed_conversation(ConversationSeed {
            unique_name: Some("ride-42".into()),
            ..Default::default()
        })
        .unwrap();
    let (status, body) = create(
        &h,
        json!({"addresses": ["+14155550101"], "uniqueName": "ride-42"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "unique_name_taken");
    assert_eq!(h.emulator.conversations().len(), 1);
}
