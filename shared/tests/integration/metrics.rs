//! The metrics each invocation writes (CloudWatch's Embedded Metric Format),
//! from real handlers against the emulator: one document per request, with
//! the facts of that request counted once, and nothing per-user in it.

use std::time::Duration;

use masked_comms::config::{Secret, TwilioCredentials};
use masked_comms::handlers::{conversation_events, inbound_call, sessions};
use masked_comms::metrics::{Recorder, ALL, NAMESPACE};
use masked_comms::twilio::{ConversationParams, ConversationState, TwilioHttp};
use serde_json::{json, Value};
use twilio_emulator::{ConversationSeed, Fault, Operation};

use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const C: &str = "+14155550103";
const STRANGER: &str = "+14155550199";

/// The documents written since the last call, each checked for shape.
fn documents(h: &Harness) -> Vec<Value> {
    h.state
        .metrics
        .take()
        .iter()
        .map(|line| {
            assert!(!line.contains('\n'), "one line per document: {line}");
            let document: Value = serde_json::from_str(line).expect("a document is JSON");
            assert_well_formed(&document);
            document
        })
        .collect()
}

/// The one document of the one request made since the last call.
fn only_document(h: &Harness) -> Value {
    let mut found = documents(h);
    assert_eq!(found.len(), 1, "one document per request: {found:?}");
    found.remove(0)
}

/// `_aws` names exactly the metrics at the root, each as the catalogue
/// (`metrics::ALL`) defines it, under the namespace, with its dimensions
/// at the root as strings.
fn assert_well_formed(document: &Value) {
    let directives = document["_aws"]["CloudWatchMetrics"]
        .as_array()
        .expect("directives");
    assert!(document["_aws"]["Timestamp"].is_u64(), "{document}");
    let mut named = Vec::new();
    for directive in directives {
        assert_eq!(directive["Namespace"], NAMESPACE);
        let dimensions = &directive["Dimensions"][0];
        for key in dimensions.as_array().unwrap() {
            assert!(document[key.as_str().unwrap()].is_string(), "{document}");
        }
        for definition in directive["Metrics"].as_array().unwrap() {
            let name = definition["Name"].as_str().unwrap();
            let metric = ALL
                .iter()
                .find(|m| m.name == name)
                .unwrap_or_else(|| panic!("{name} is not in the catalogue"));
            assert_eq!(definition["Unit"], metric.unit.as_str());
            assert_eq!(dimensions, &json!(metric.dimensions), "{name}");
            assert!(
                document[name].is_number() || document[name].is_array(),
                "{name}"
            );
            named.push(name.to_owned());
        }
    }
    let at_root = document
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| ALL.iter().any(|m| m.name == k.as_str()))
        .count();
    assert_eq!(at_root, named.len(), "{document}");
}

/// A metric's value, or 0 when the document leaves it out.
fn value(document: &Value, name: &str) -> u64 {
    document.get(name).map_or(0, |v| {
        v.as_u64()
            .unwrap_or_else(|| panic!("{name} is a count: {v}"))
    })
}

async fn create(h: &Harness, addresses: &[&str]) -> (u16, Value) {
    let response = sessions::handle(
        &h.state,
        operator_json("POST", "/sessions", &json!({ "addresses": addresses })),
    )
    .await;
    (response.status().as_u16(), body_json(&response))
}

async fn close(h: &Harness, sid: &str) -> u16 {
    let path = format!("/sessions/{sid}");
    let auth = basic(USERNAME, PASSWORD);
    let response =
        sessions::handle(&h.state, request("DELETE", &path, None, "", Some(&auth))).await;
    response.status().as_u16()
}

async fn call(h: &Harness, from: &str, to: &str) -> String {
    let req = signed_form(
        h.emulator.auth_token(),
        "/inbound-call",
        &call_params(from, to),
    );
    let response = inbound_call::handle(&h.state, req).await;
    assert_eq!(response.status(), 200);
    body_text(&response)
}

#[tokio::test]
async fn a_create_counts_one_session_and_a_latency_per_twilio_request() {
    let h = Harness::start().await;
    let (status, body) = create(&h, &[A, B]).await;
    assert_eq!(status, 201, "{body}");
    let document = only_document(&h);
    assert_eq!(document["Function"], "sessions");
    assert_eq!(value(&document, "SessionsCreated"), 1);
    assert_eq!(value(&document, "Errors4xx"), 0);
    assert_eq!(value(&document, "Errors5xx"), 0);
    for quiet in [
        "PoolExhausted",
        "BindingFallbacks",
        "SessionsClosed",
        "TwilioErrors",
    ] {
        assert!(document.get(quiet).is_none(), "{quiet}: {document}");
    }
    assert!(document.get("Outcome").is_none(), "a create is no call");
    // One value per request Twilio answered: its two listings, the create,
    // two adds and the roster.
    let latencies = document["TwilioLatency"].as_array().unwrap();
    assert_eq!(latencies.len(), h.requests_made());
    assert_eq!(latencies.len(), 6);
    assert!(document["Latency"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn a_create_the_pool_cannot_serve_counts_pool_exhausted() {
    let h = Harness::with(&[POOL[0]], &[]).await;
    assert_eq!(create(&h, &[A, B]).await.0, 201);
    documents(&h);
    let (status, body) = create(&h, &[A, C]).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "pool_exhausted");
    let document = only_document(&h);
    assert_eq!(value(&document, "PoolExhausted"), 1);
    assert_eq!(value(&document, "Errors4xx"), 1);
    assert!(document.get("SessionsCreated").is_none(), "{document}");
}

/// The index does not know the number Twilio already binds A to, so A's
/// first candidate is taken (50416) and A moves to the next.
#[tokio::test]
async fn a_number_taken_meanwhile_counts_one_fallback() {
    let (h, _index) = Harness::start_indexed().await;
    h.emulator
        .seed_conversation(ConversationSeed {
            bindings: vec![(A.into(), POOL[0].into())],
            ..Default::default()
        })
        .unwrap();
    let (status, session) = create(&h, &[A, B]).await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(
        proxy_of(&session, A),
        POOL[1],
        "A's first candidate was taken"
    );
    let lost = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::CreateParticipant && r.status == 409)
        .count();
    assert_eq!(lost, 1);
    let document = only_document(&h);
    assert_eq!(value(&document, "BindingFallbacks"), 1);
    assert_eq!(value(&document, "SessionsCreated"), 1);
    assert!(document.get("PoolExhausted").is_none());
}

#[tokio::test]
async fn calls_count_their_outcome_connected_or_out_of_session() {
    let h = Harness::start().await;
    let (_, session) = create(&h, &[A, B]).await;
    let proxy = proxy_of(&session, A);
    documents(&h);

    assert!(call(&h, A, &proxy).await.contains("<Dial"));
    let connected = only_document(&h);
    assert_eq!(connected["Function"], "inbound-call");
    assert_eq!(connected["Outcome"], "Connected");
    assert_eq!(value(&connected, "Calls"), 1);
    let directives = connected["_aws"]["CloudWatchMetrics"].as_array().unwrap();
    assert_eq!(
        directives[1]["Dimensions"],
        json!([["Function", "Outcome"]])
    );
    assert_eq!(
        directives[1]["Metrics"],
        json!([{"Name": "Calls", "Unit": "Count"}])
    );
    // Without an index a call's lookup is neither a hit nor a miss.
    assert!(connected.get("IndexHits").is_none() && connected.get("IndexMisses").is_none());

    let twiml = call(&h, STRANGER, &proxy).await;
    assert!(!twiml.contains("<Dial"), "{twiml}");
    let refused = only_document(&h);
    assert_eq!(refused["Outcome"], "OutOfSession");
    assert_eq!(value(&refused, "Calls"), 1);
    assert_eq!(value(&refused, "Errors4xx"), 0);
}

#[tokio::test]
async fn a_call_twilio_cannot_answer_for_counts_an_apology_and_twilio_errors() {
    let h = Harness::start().await;
    let (_, session) = create(&h, &[A, B]).await;
    let proxy = proxy_of(&session, A);
    documents(&h);
    h.emulator.clear_requests();
    h.emulator.inject(
        Operation::ListParticipantConversations,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        10,
    );
    let twiml = call(&h, A, &proxy).await;
    assert!(twiml.contains("<Say"), "{twiml}");
    let document = only_document(&h);
    assert_eq!(document["Outcome"], "Apology");
    let failed = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.status == 503)
        .count();
    assert!(failed >= 2, "the client retried ({failed})");
    assert_eq!(value(&document, "TwilioErrors"), failed as u64);
    assert_eq!(
        value(&document, "Errors5xx"),
        0,
        "the caller heard valid TwiML"
    );
}

#[tokio::test]
async fn the_index_answering_a_call_is_a_hit_and_paging_twilio_a_miss() {
    let (h, _index) = Harness::start_indexed().await;
    let (_, session) = create(&h, &[A, B]).await;
    let proxy = proxy_of(&session, A);
    documents(&h);

    call(&h, A, &proxy).await;
    let hit = only_document(&h);
    assert_eq!(
        (value(&hit, "IndexHits"), value(&hit, "IndexMisses")),
        (1, 0)
    );
    assert_eq!(hit["Outcome"], "Connected");

    call(&h, STRANGER, &proxy).await;
    let miss = only_document(&h);
    assert_eq!(
        (value(&miss, "IndexHits"), value(&miss, "IndexMisses")),
        (0, 1)
    );
    assert_eq!(miss["Outcome"], "OutOfSession");
}

#[tokio::test]
async fn closing_through_the_api_or_after_twilio_closed_counts_one_close_each() {
    let h = Harness::start().await;
    let (_, first) = create(&h, &[A, B]).await;
    let (_, second) = create(&h, &[C, STRANGER]).await;
    documents(&h);

    assert_eq!(close(&h, first["sid"].as_str().unwrap()).await, 204);
    let document = only_document(&h);
    assert_eq!(document["Function"], "sessions");
    assert_eq!(value(&document, "SessionsClosed"), 1);

    // Twilio's timer closes the other; its webhook cleans up after it.
    let sid = second["sid"].as_str().unwrap();
    let credentials = TwilioCredentials {
        account_sid: h.emulator.account_sid().into(),
        auth_token: Secret::new(h.emulator.auth_token()),
    };
    let outside = Recorder::default();
    TwilioHttp::new(settings(&h.emulator.base_url()))
        .unwrap()
        .session(&credentials, Duration::from_secs(5), &outside)
        .update_conversation(
            sid,
            &ConversationParams {
                state: Some(ConversationState::Closed),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let event = [
        ("EventType", "onConversationStateUpdated"),
        ("ConversationSid", sid),
        ("StateFrom", "active"),
        ("StateTo", "closed"),
        ("Reason", "TIMER"),
    ];
    let answered = conversation_events::handle(
        &h.state,
        signed_form(h.emulator.auth_token(), "/conversation-events", &event),
    )
    .await;
    assert_eq!(answered.status(), 200);
    let document = only_document(&h);
    assert_eq!(document["Function"], "conversation-events");
    assert_eq!(value(&document, "SessionsClosed"), 1);

    // Twilio retries the webhook: the session is gone, nothing more counts.
    conversation_events::handle(
        &h.state,
        signed_form(h.emulator.auth_token(), "/conversation-events", &event),
    )
    .await;
    assert!(only_document(&h).get("SessionsClosed").is_none());
}

#[tokio::test]
async fn a_wrong_password_counts_as_unauthorized() {
    let h = Harness::start().await;
    let refused = sessions::handle(
        &h.state,
        request(
            "POST",
            "/sessions",
            Some("application/json"),
            "{}",
            Some(&basic(USERNAME, "guess")),
        ),
    )
    .await;
    assert_eq!(refused.status(), 401);
    let document = only_document(&h);
    assert_eq!(value(&document, "Unauthorized"), 1);
    assert_eq!(value(&document, "Errors4xx"), 1);
    assert!(document.get("TwilioLatency").is_none(), "no Twilio request");
}

#[tokio::test]
async fn twilio_failing_a_create_counts_its_errors_and_a_5xx() {
    let h = Harness::start().await;
    h.emulator.inject(
        Operation::CreateConversation,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        100,
    );
    let (status, _) = create(&h, &[A, B]).await;
    assert_eq!(status, 503);
    let document = only_document(&h);
    let failed = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.status == 503)
        .count();
    assert!(failed >= 1);
    assert_eq!(value(&document, "TwilioErrors"), failed as u64);
    assert_eq!(value(&document, "Errors5xx"), 1);
    assert!(document.get("SessionsCreated").is_none());
}

/// A whole flow's documents: no participant or pool number, no sid, no
/// digits of one, whatever the requests carried.
#[tokio::test]
async fn no_document_holds_a_number_or_a_sid() {
    let h = Harness::start().await;
    let (_, session) = create(&h, &[A, B, "whatsapp:+447400999888"]).await;
    let sid = session["sid"].as_str().unwrap().to_owned();
    let proxy = proxy_of(&session, A);
    call(&h, A, &proxy).await;
    call(&h, STRANGER, &proxy).await;
    create(&h, &[A, "not a number"]).await;
    close(&h, &sid).await;
    let lines = h.state.metrics.take();
    assert_eq!(lines.len(), 5, "one document per request");
    let text = lines.join("\n");
    for secret in [
        A,
        B,
        STRANGER,
        &proxy,
        "4155550101",
        "7400999888",
        &sid,
        CALL_SID,
    ] {
        assert!(!text.contains(secret), "a document holds {secret}:\n{text}");
    }
    for (i, line) in lines.iter().enumerate() {
        let document: Value = serde_json::from_str(line).unwrap();
        assert_well_formed(&document);
        assert!(
            document.get("requestId").is_none(),
            "no Lambda id here: {i}"
        );
    }
}
