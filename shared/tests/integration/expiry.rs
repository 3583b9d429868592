//! Every index item ends: each carries `expires_at`, a removal never makes
//! an item again, nothing is written under a session after it closed, and a
//! session in use pushes its items out with Twilio's closed timer.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use masked_comms::config::{Secret, TwilioCredentials};
use masked_comms::handlers::{conversation_events, inbound_call};
use masked_comms::metrics::Recorder;
use masked_comms::twilio::{ConversationParams, TwilioHttp};
use serde_json::{json, Value};

use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const C: &str = "+14155550103";
const D: &str = "+14155550104";

fn expiry_of(item: &HashMap<String, AttributeValue>) -> Option<u64> {
    item.get("expires_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

async fn without_expiry(h: &Harness) -> Vec<(String, String)> {
    scan(h)
        .await
        .iter()
        .filter(|item| expiry_of(item).is_none())
        .map(key_of)
        .collect()
}

pub(crate) async fn call_in(h: &Harness, session: &Value, from: &str) {
    let call = signed_form(
        h.emulator.auth_token(),
        "/inbound-call",
        &call_params(from, &proxy_of(session, from)),
    );
    let response = inbound_call::handle(&h.state, call).await;
    assert_eq!(response.status(), 200);
}

pub(crate) async fn call_event(
    h: &Harness,
    session: &str,
    recording: bool,
    params: &[(&str, &str)],
) -> u16 {
    let path = if recording {
        format!("/call-events?session={session}&kind=recording")
    } else {
        format!("/call-events?session={session}")
    };
    inbound_call::handle(
        &h.state,
        signed_form(h.emulator.auth_token(), &path, params),
    )
    .await
    .status()
    .as_u16()
}

/// Twilio's recording callback for the harness's call: `recording` is ready.
pub(crate) async fn recording_ready(h: &Harness, session: &str, recording: &str) -> u16 {
    call_event(
        h,
        session,
        true,
        &[
            ("CallSid", CALL_SID),
            ("RecordingSid", recording),
            ("RecordingStatus", "completed"),
        ],
    )
    .await
}

pub(crate) fn twilio_of(h: &Harness) -> (TwilioHttp, TwilioCredentials, Recorder) {
    (
        TwilioHttp::new(settings(&h.emulator.base_url())).unwrap(),
        TwilioCredentials {
            account_sid: h.emulator.account_sid().into(),
            auth_token: Secret::new(h.emulator.auth_token()),
        },
        Recorder::default(),
    )
}

/// Twilio closes the conversation (its timer) and tells the webhook.
async fn timer_close(h: &Harness, sid: &str) {
    let (http, credentials, metrics) = twilio_of(h);
    http.session(&credentials, Duration::from_secs(5), &metrics)
        .update_conversation(
            sid,
            &ConversationParams {
                state: Some(masked_comms::twilio::ConversationState::Closed),
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
    let response = conversation_events::handle(
        &h.state,
        signed_form(h.emulator.auth_token(), "/conversation-events", &event),
    )
    .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn no_index_item_is_ever_without_an_expiry() {
    let (h, _index) = Harness::start_indexed().await;
    // No timers asked for: the stack's default closed timer applies.
    let (status, first) = session_api(
        &h,
        "POST",
        "/sessions",
        Some(json!({"addresses": [A, B], "record": true})),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let first_sid = first["sid"].as_str().unwrap().to_owned();
    let (_, second) =
        session_api(&h, "POST", "/sessions", Some(json!({"addresses": [C, D]}))).await;
    let second_sid = second["sid"].as_str().unwrap().to_owned();
    h.state.run_deferred().await;
    assert_eq!(without_expiry(&h).await, [], "after create");

    call_in(&h, &first, A).await;
    h.state.run_deferred().await;
    let recording = h.emulator.seed_recording(CALL_SID);
    let recorded = recording_ready(&h, &first_sid, &recording).await;
    assert_eq!(recorded, 200);
    call_event(
        &h,
        &first_sid,
        false,
        &[
            ("CallSid", CALL_SID),
            ("DialCallStatus", "completed"),
            ("DialCallDuration", "5"),
        ],
    )
    .await;
    h.state.run_deferred().await;
    let items = scan(&h).await;
    assert!(
        items.iter().any(|i| key_of(i).1.starts_with("CALL#")),
        "the call is logged"
    );
    assert_eq!(
        without_expiry(&h).await,
        [],
        "after a call and its recording"
    );

    let (status, _) = session_api(&h, "DELETE", &format!("/sessions/{first_sid}"), None).await;
    assert_eq!(status, 204);
    h.state.run_deferred().await;
    timer_close(&h, &second_sid).await;
    h.state.run_deferred().await;
    let left = scan(&h).await;
    assert!(!left.is_empty(), "the addresses' histories stay");
    assert_eq!(without_expiry(&h).await, [], "after both closes");
}

#[tokio::test]
async fn a_session_without_timers_gets_the_default_closed_timer() {
    let (h, _index) = Harness::start_indexed().await;
    let (status, _) =
        session_api(&h, "POST", "/sessions", Some(json!({"addresses": [A, B]}))).await;
    assert_eq!(status, 201);
    let create = h
        .emulator
        .requests()
        .into_iter()
        .find(|r| r.operation == twilio_emulator::Operation::CreateConversation)
        .unwrap();
    assert_eq!(create.param("Timers.Closed"), Some("P30D"));
}

#[tokio::test]
async fn removing_a_binding_whose_items_expired_makes_no_item() {
    let (h, _index) = Harness::start_indexed().await;
    let (_, session) =
        session_api(&h, "POST", "/sessions", Some(json!({"addresses": [A, B]}))).await;
    let sid = session["sid"].as_str().unwrap().to_owned();
    // TTL took the pairs' and holdings items (as it may, lazily, at any time).
    let client = dynamodb_client(moto_url());
    let gone: Vec<(String, String)> = scan(&h)
        .await
        .iter()
        .map(key_of)
        .filter(|(pk, sk)| pk.starts_with("PAIR#") || sk == "HOLDINGS")
        .collect();
    assert_eq!(gone.len(), 4, "two pairs, two holdings: {gone:?}");
    for (pk, sk) in &gone {
        client
            .delete_item()
            .table_name(h.index().table())
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(sk.clone()))
            .send()
            .await
            .unwrap();
    }
    let (status, _) = session_api(&h, "DELETE", &format!("/sessions/{sid}"), None).await;
    assert_eq!(status, 204);
    h.state.run_deferred().await;
    let remade: Vec<(String, String)> = scan(&h)
        .await
        .iter()
        .map(key_of)
        .filter(|key| gone.contains(key))
        .collect();
    assert_eq!(remade, [], "a removal made these again");
    assert_eq!(scan(&h).await.len(), 0, "nothing left at all");
}

#[tokio::test]
async fn a_call_logged_after_its_session_closed_leaves_nothing() {
    let (h, _index) = Harness::start_indexed().await;
    let (_, session) =
        session_api(&h, "POST", "/sessions", Some(json!({"addresses": [A, B]}))).await;
    let sid = session["sid"].as_str().unwrap().to_owned();
    h.state.run_deferred().await;
    // The call is answered; the session closes before the after-answer
    // work logs it.
    call_in(&h, &session, A).await;
    let (status, _) = session_api(&h, "DELETE", &format!("/sessions/{sid}"), None).await;
    assert_eq!(status, 204);
    h.state.run_deferred().await;
    let under: Vec<(String, String)> = scan(&h)
        .await
        .iter()
        .map(key_of)
        .filter(|(pk, _)| pk == &format!("SESSION#{sid}"))
        .collect();
    assert_eq!(under, [], "nothing under the closed session");
}

#[tokio::test]
async fn a_used_session_moves_its_items_with_its_closed_timer() {
    let (h, index) = Harness::start_indexed().await;
    let (_, session) = session_api(
        &h,
        "POST",
        "/sessions",
        Some(json!({"addresses": [A, B], "timers": {"closed": "PT1H"}})),
    )
    .await;
    let sid = session["sid"].as_str().unwrap().to_owned();
    h.state.run_deferred().await;
    let now = masked_comms::domain::instant::unix_now();
    let before: Vec<u64> = scan(&h).await.iter().filter_map(expiry_of).collect();
    assert!(before.iter().all(|&at| at > now), "{before:?}");
    // Activity moved Twilio's closed timer ten days out.
    let (http, credentials, metrics) = twilio_of(&h);
    http.session(&credentials, Duration::from_secs(5), &metrics)
        .update_conversation(
            &sid,
            &ConversationParams {
                timers_closed: Some("P10D"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    call_in(&h, &session, A).await;
    index.clear();
    h.state.run_deferred().await;
    let ten_days = now + 10 * 24 * 60 * 60;
    let items = scan(&h).await;
    let short: Vec<(String, String)> = items
        .iter()
        .filter(|i| expiry_of(i).is_none_or(|at| at < ten_days))
        .map(key_of)
        .collect();
    assert_eq!(short, [], "every item outlives the moved timer");
    // Its session item and per participant its binding, pair, holdings
    // and participant item (kept under the session, for messages):
    // 1 + 4 × 2 expiry writes (the call is then logged with the new expiry).
    let updates = index
        .operations()
        .iter()
        .filter(|op| op.as_str() == "UpdateItem")
        .count();
    assert_eq!(updates, 9, "{:?}", index.operations());

    // A second call with the timer where it was writes no expiry.
    index.clear();
    call_in(&h, &session, B).await;
    h.state.run_deferred().await;
    let updates = index
        .operations()
        .iter()
        .filter(|op| op.as_str() == "UpdateItem")
        .count();
    assert_eq!(updates, 0, "{:?}", index.operations());
}
