//! The IAM facts (shared/src/index/access.rs, written to the facts file the
//! template is checked against) against what each function really sends
//! DynamoDB: every function driven through its main paths, behind a proxy
//! that records each request's action. An action a function sends but does
//! not declare fails here, so a new index operation cannot be forgotten in
//! the catalogue, and so in the role.

use std::collections::BTreeSet;
use std::time::Duration;

use masked_comms::config::{Function, Secret, TwilioCredentials};
use masked_comms::handlers::{conversation_events, inbound_call, landing, sessions};
use masked_comms::index::access::actions_of;
use masked_comms::metrics::Recorder;
use masked_comms::twilio::{ConversationParams, ConversationState, TwilioHttp};
use serde_json::{json, Value};

use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const C: &str = "+14155550103";

/// The actions seen since the last clear that `function` does not declare.
fn undeclared(proxy: &IndexProxy, function: Function) -> BTreeSet<String> {
    let declared: BTreeSet<&str> = actions_of(function).iter().map(|a| a.name()).collect();
    let seen: BTreeSet<String> = proxy.operations().into_iter().collect();
    assert!(!seen.is_empty(), "{function:?} sent the index nothing");
    seen.into_iter()
        .filter(|op| !declared.contains(op.as_str()))
        .collect()
}

/// An indexed harness whose event receiver is down, so undelivered events
/// go to the outbox.
async fn harness() -> (Harness, IndexProxy, Receiver) {
    let receiver = Receiver::start().await;
    receiver.answer(503);
    let config = receiver.config();
    let extra: Vec<(&str, &str)> = config.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (h, proxy) = Harness::with_index(&POOL, &extra).await;
    (h, proxy, receiver)
}

async fn api(h: &Harness, method: &str, path: &str, body: Value) -> (u16, Value) {
    let response = sessions::handle(&h.state, operator_json(method, path, &body)).await;
    (response.status().as_u16(), body_json(&response))
}

async fn new_session(h: &Harness, addresses: &[&str]) -> Value {
    let (status, session) = api(h, "POST", "/sessions", json!({ "addresses": addresses })).await;
    assert_eq!(status, 201, "{session}");
    session
}

#[tokio::test]
async fn the_sessions_function_sends_only_what_it_declares() {
    let (h, proxy, _receiver) = harness().await;
    let session = new_session(&h, &[A, B]).await;
    let sid = session["sid"].as_str().unwrap();
    api(
        &h,
        "GET",
        &format!("/sessions?address={}", A.replace('+', "%2B")),
        json!(null),
    )
    .await;
    let (added, participant) = api(
        &h,
        "POST",
        &format!("/sessions/{sid}/participants"),
        json!({ "address": C }),
    )
    .await;
    assert_eq!(added, 201, "{participant}");
    let participant_sid = participant["sid"].as_str().unwrap();
    let (removed, _) = api(
        &h,
        "DELETE",
        &format!("/sessions/{sid}/participants/{participant_sid}"),
        json!(null),
    )
    .await;
    assert_eq!(removed, 204);
    // A message to everyone: capabilities and participants read, the log
    // written after the answer.
    for number in POOL {
        h.emulator.add_phone_number(number).unwrap();
    }
    let (sent, answer) = api(
        &h,
        "POST",
        &format!("/sessions/{sid}/messages"),
        json!({ "body": "hello" }),
    )
    .await;
    assert_eq!(sent, 201, "{answer}");
    h.state.run_deferred().await;
    let (listed, _) = api(
        &h,
        "GET",
        &format!("/sessions/{sid}/interactions"),
        json!(null),
    )
    .await;
    assert_eq!(listed, 200);
    let seen = proxy.operations();
    assert!(
        seen.iter().any(|op| op == "TransactWriteItems"),
        "the message was logged: {seen:?}"
    );
    api(&h, "DELETE", &format!("/sessions/{sid}"), json!(null)).await;
    h.state.run_deferred().await;
    assert_eq!(undeclared(&proxy, Function::Sessions), BTreeSet::new());
}

#[tokio::test]
async fn the_inbound_call_function_sends_only_what_it_declares() {
    let (h, proxy, _receiver) = harness().await;
    let session = new_session(&h, &[A, B]).await;
    let group = new_session(&h, &[A, B, C]).await;
    proxy.clear();
    for (from, s) in [(A, &session), (A, &group)] {
        let answer = inbound_call::handle(
            &h.state,
            signed_form(
                h.emulator.auth_token(),
                "/inbound-call",
                &call_params(from, &proxy_of(s, from)),
            ),
        )
        .await;
        assert!(
            body_text(&answer).contains("<Dial"),
            "{}",
            body_text(&answer)
        );
    }
    // The call log and call.started after the answer (kept: the receiver is down).
    h.state.run_deferred().await;
    assert_eq!(undeclared(&proxy, Function::InboundCall), BTreeSet::new());
}

#[tokio::test]
async fn the_conversation_events_function_sends_only_what_it_declares() {
    let (h, proxy, _receiver) = harness().await;
    let session = new_session(&h, &[A, B]).await;
    let sid = session["sid"].as_str().unwrap().to_owned();
    h.state.run_deferred().await;
    // A participant's message, told and logged.
    proxy.clear();
    let author = session["participants"][0]["sid"].as_str().unwrap();
    let added = [
        ("EventType", "onMessageAdded"),
        ("ConversationSid", sid.as_str()),
        ("MessageSid", "IM0123456789abcdef0123456789abcdef"),
        ("ParticipantSid", author),
        ("Body", "hello"),
        ("Source", "SMS"),
    ];
    let answer = conversation_events::handle(
        &h.state,
        signed_form(h.emulator.auth_token(), "/conversation-events", &added),
    )
    .await;
    assert_eq!(answer.status(), 200);
    h.state.run_deferred().await;
    assert!(
        proxy
            .operations()
            .iter()
            .any(|op| op == "TransactWriteItems"),
        "the added message was logged: {:?}",
        proxy.operations()
    );
    assert_eq!(
        undeclared(&proxy, Function::ConversationEvents),
        BTreeSet::new()
    );
    // Twilio's timer closes it (the emulator's REST close is the stand-in).
    let credentials = TwilioCredentials {
        account_sid: h.emulator.account_sid().into(),
        auth_token: Secret::new(h.emulator.auth_token()),
    };
    let outside = Recorder::default();
    TwilioHttp::new(settings(&h.emulator.base_url()))
        .unwrap()
        .session(&credentials, Duration::from_secs(5), &outside)
        .update_conversation(
            &sid,
            &ConversationParams {
                state: Some(ConversationState::Closed),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    proxy.clear();
    let closed = [
        ("EventType", "onConversationStateUpdated"),
        ("ConversationSid", sid.as_str()),
        ("StateFrom", "active"),
        ("StateTo", "closed"),
        ("StateUpdated", "2026-11-27T12:00:00.000Z"),
        ("Reason", "TIMER"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ];
    let answer = conversation_events::handle(
        &h.state,
        signed_form(h.emulator.auth_token(), "/conversation-events", &closed),
    )
    .await;
    assert_eq!(answer.status(), 200);
    // session.closed, kept in the outbox while the receiver is down.
    h.state.run_deferred().await;
    let seen = proxy.operations();
    assert!(
        seen.iter().any(|op| op == "PutItem"),
        "kept in the outbox: {seen:?}"
    );
    assert_eq!(
        undeclared(&proxy, Function::ConversationEvents),
        BTreeSet::new()
    );
}

#[tokio::test]
async fn the_landing_page_sends_only_what_it_declares() {
    let (h, proxy, _receiver) = harness().await;
    let answer = landing::handle(
        &h.state,
        request("GET", "/pool", None, "", Some(&basic(USERNAME, PASSWORD))),
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(undeclared(&proxy, Function::LandingPage), BTreeSet::new());
}
