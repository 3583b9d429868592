//! Event callbacks and the call log: what the operator's receiver gets, when,
//! signed how; what survives a receiver that is down; calls logged with
//! their end and recording; recordings only on request, deleted with their
//! session.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use masked_comms::after_answer::{AfterAnswer, RECEIVER_RETRY_EVERY};
use masked_comms::config::Function;
use masked_comms::handlers::inbound_call;
use serde_json::{json, Value};
use twilio_emulator::Operation;

use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const C: &str = "+14155550103";

async fn harness(receiver: &Receiver, indexed: bool) -> (Harness, Option<IndexProxy>) {
    let config = receiver.config();
    let extra: Vec<(&str, &str)> = config.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if indexed {
        let (h, index) = Harness::with_index(&POOL, &extra).await;
        (h, Some(index))
    } else {
        (Harness::with(&POOL, &extra).await, None)
    }
}

fn kinds(receiver: &Receiver) -> Vec<String> {
    receiver
        .events()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn events_reach_the_receiver_signed_after_the_answer() {
    let receiver = Receiver::start().await;
    let (h, _index) = harness(&receiver, true).await;
    let (status, session) =
        session_api(&h, "POST", "/sessions", Some(json!({"addresses": [A, B]}))).await;
    assert_eq!(status, 201);
    assert!(
        receiver.requests().is_empty(),
        "nothing is sent before the answer"
    );
    h.state.run_deferred().await;

    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    let event: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(event["type"], "session.created");
    assert_eq!(event["session"], session["sid"]);
    assert_eq!(
        event["data"]["session"]["participants"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let headers = &got[0].headers;
    assert_eq!(headers["x-masked-comms-event"], "session.created");
    assert_eq!(
        headers["x-masked-comms-event-id"],
        event["id"].as_str().unwrap()
    );
    assert_eq!(headers["content-type"], "application/json");
    let timestamp = &headers["x-masked-comms-timestamp"];
    let age = masked_comms::domain::instant::unix_now() - timestamp.parse::<u64>().unwrap();
    assert!(age < 60, "a fresh timestamp");
    assert_eq!(
        headers["x-masked-comms-signature"],
        event_signature(timestamp, &got[0].body)
    );
}

#[tokio::test]
async fn every_change_of_a_session_is_told_once_per_fact() {
    let receiver = Receiver::start().await;
    let (h, _index) = harness(&receiver, true).await;
    let (_, session) =
        session_api(&h, "POST", "/sessions", Some(json!({"addresses": [A, B]}))).await;
    let sid = session["sid"].as_str().unwrap();
    let (_, added) = session_api(
        &h,
        "POST",
        &format!("/sessions/{sid}/participants"),
        Some(json!({"address": C})),
    )
    .await;
    let participant = added["sid"].as_str().unwrap();
    session_api(
        &h,
        "DELETE",
        &format!("/sessions/{sid}/participants/{participant}"),
        None,
    )
    .await;
    session_api(
        &h,
        "PATCH",
        &format!("/sessions/{sid}"),
        Some(json!({"friendlyName": "x"})),
    )
    .await;
    session_api(&h, "DELETE", &format!("/sessions/{sid}"), None).await;
    // Twilio's own close event arrives too: the same fact, the same id.
    let event = [
        ("EventType", "onConversationStateUpdated"),
        ("ConversationSid", sid),
        ("StateFrom", "active"),
        ("StateTo", "closed"),
        ("Reason", "API"),
    ];
    masked_comms::handlers::conversation_events::handle(
        &h.state,
        signed_form(h.emulator.auth_token(), "/conversation-events", &event),
    )
    .await;
    h.state.run_deferred().await;
    let mut told = kinds(&receiver);
    told.dedup();
    assert_eq!(
        told,
        [
            "session.created",
            "participant.added",
            "participant.removed",
            "session.updated",
            "session.closed",
        ]
    );
    // The API's close and Twilio's report of it are one fact: one id, which
    // is how a receiver drops the second delivery.
    let ids: BTreeSet<String> = receiver
        .events()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn a_receiver_that_is_down_delays_no_create_and_loses_no_event() {
    let receiver = Receiver::start().await;
    receiver.answer(503);
    let (h, _index) = harness(&receiver, true).await;

    let started = Instant::now();
    let (status, first) =
        session_api(&h, "POST", "/sessions", Some(json!({"addresses": [A]}))).await;
    let create_took = started.elapsed();
    assert_eq!(status, 201);
    assert!(
        receiver.requests().is_empty(),
        "the create did not wait for the receiver"
    );

    // After the answer: retried with backoff inside the budget, then kept.
    // An invocation that began 10 s ago: 3 s left of its 13.
    let invocation =
        AfterAnswer::of_invocation(Function::Sessions, Instant::now() - Duration::from_secs(10));
    h.state.after_answer(invocation).await;
    let attempts = receiver.requests().len();
    assert!(attempts >= 2, "retried: {attempts} attempts");
    assert!(create_took < Duration::from_secs(2), "{create_took:?}");

    // The receiver is back; the next invocation delivers its own event and
    // the one kept from before.
    // A minute later (this environment waits that long after a failure).
    receiver.answer(200);
    let (_, second) = session_api(&h, "POST", "/sessions", Some(json!({"addresses": [B]}))).await;
    h.state
        .after_answer_at(
            AfterAnswer::of_invocation(Function::Sessions, Instant::now()),
            Instant::now() + RECEIVER_RETRY_EVERY,
        )
        .await;
    let delivered: BTreeSet<String> = receiver
        .requests()
        .iter()
        .skip(attempts)
        .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
        .map(|e| e["session"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        delivered,
        BTreeSet::from([
            first["sid"].as_str().unwrap().to_owned(),
            second["sid"].as_str().unwrap().to_owned()
        ])
    );
    // Nothing waits any more.
    let count = receiver.requests().len();
    h.state.run_deferred().await;
    assert_eq!(receiver.requests().len(), count);
}

#[tokio::test]
async fn a_refusing_receiver_is_not_asked_again() {
    let receiver = Receiver::start().await;
    receiver.answer(400);
    let (h, _index) = harness(&receiver, true).await;
    session_api(&h, "POST", "/sessions", Some(json!({"addresses": [A]}))).await;
    h.state.run_deferred().await;
    h.state.run_deferred().await;
    assert_eq!(
        receiver.requests().len(),
        1,
        "a 4xx is the receiver's final word"
    );
}

async fn signed_call_event(
    h: &Harness,
    session: &str,
    recording: bool,
    params: &[(&str, &str)],
) -> (u16, String) {
    let path = if recording {
        format!("/call-events?session={session}&kind=recording")
    } else {
        format!("/call-events?session={session}")
    };
    let response = inbound_call::handle(
        &h.state,
        signed_form(h.emulator.auth_token(), &path, params),
    )
    .await;
    (response.status().as_u16(), body_text(&response))
}

#[tokio::test]
async fn a_recorded_call_is_logged_with_its_end_and_recording_and_told_once_both_are_in() {
    let receiver = Receiver::start().await;
    let (h, _index) = harness(&receiver, true).await;
    let (_, session) = session_api(
        &h,
        "POST",
        "/sessions",
        Some(json!({"addresses": [A, B], "record": true})),
    )
    .await;
    let sid = session["sid"].as_str().unwrap();
    h.state.run_deferred().await;

    let call = signed_form(
        h.emulator.auth_token(),
        "/inbound-call",
        &call_params(A, &proxy_of(&session, A)),
    );
    let twiml = body_text(&inbound_call::handle(&h.state, call).await);
    assert!(
        twiml.contains(r#"record="record-from-answer-dual""#),
        "{twiml}"
    );
    assert!(
        twiml.contains(&format!("/call-events?session={sid}")),
        "{twiml}"
    );
    h.state.run_deferred().await;
    assert_eq!(kinds(&receiver), ["session.created", "call.started"]);
    let events = receiver.events();
    let started = &events[1]["data"];
    assert_eq!(started["kind"], "dial");
    assert!(started["from"]["participant"]
        .as_str()
        .unwrap()
        .starts_with("MB"));
    assert!(
        !started.to_string().contains("4155550101"),
        "no number in a call event: {started}"
    );

    // The dial ends; the recording comes after.
    let (status, answer) = signed_call_event(
        &h,
        sid,
        false,
        &[
            ("CallSid", CALL_SID),
            ("DialCallStatus", "completed"),
            ("DialCallDuration", "42"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(answer.contains("<Hangup/>"), "{answer}");
    h.state.run_deferred().await;
    assert_eq!(kinds(&receiver).len(), 2, "waits for the recording");
    let recording = "RE0123456789abcdef0123456789abcdef";
    let url = format!("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{recording}");
    signed_call_event(
        &h,
        sid,
        true,
        &[
            ("CallSid", CALL_SID),
            ("RecordingSid", recording),
            ("RecordingUrl", &url),
            ("RecordingStatus", "completed"),
        ],
    )
    .await;
    h.state.run_deferred().await;
    assert_eq!(kinds(&receiver).last().unwrap(), "call.ended");
    let events = receiver.events();
    let ended = &events.last().unwrap()["data"];
    assert_eq!(ended["duration"], 42);
    assert_eq!(ended["recording_url"], url.as_str());

    let (status, log) =
        session_api(&h, "GET", &format!("/sessions/{sid}/interactions"), None).await;
    assert_eq!(status, 200, "{log}");
    let calls = log["interactions"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["call_sid"], CALL_SID);
    assert_eq!(calls[0]["status"], "completed");
    assert_eq!(calls[0]["duration"], 42);
    assert_eq!(calls[0]["recording_url"], url.as_str());

    // Closing removes the call log and deletes the recording from Twilio.
    session_api(&h, "DELETE", &format!("/sessions/{sid}"), None).await;
    h.state.run_deferred().await;
    let deleted = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::DeleteRecording && r.path.contains(recording))
        .count();
    assert_eq!(deleted, 1);
}

#[tokio::test]
async fn a_recording_is_never_started_without_record_true() {
    let receiver = Receiver::start().await;
    let (h, _index) = harness(&receiver, true).await;
    for body in [
        json!({"addresses": [A, B]}),
        json!({"addresses": [C, "+14155550104", "+14155550105"]}),
    ] {
        let (_, session) = session_api(&h, "POST", "/sessions", Some(body)).await;
        let caller = session["participants"][0]["messaging_binding"]["address"]
            .as_str()
            .unwrap()
            .to_owned();
        let call = signed_form(
            h.emulator.auth_token(),
            "/inbound-call",
            &call_params(&caller, &proxy_of(&session, &caller)),
        );
        let twiml = body_text(&inbound_call::handle(&h.state, call).await);
        assert!(twiml.contains("<Dial"), "{twiml}");
        assert!(
            twiml.contains("action="),
            "the end is still tracked: {twiml}"
        );
        assert!(!twiml.contains("record"), "{twiml}");
    }
    for call in h.emulator.calls() {
        assert!(!call.record, "conference legs are not recorded: {call:?}");
    }
}

#[tokio::test]
async fn the_call_log_needs_the_index_and_says_so() {
    let h = Harness::start().await;
    let (_, session) = session_api(&h, "POST", "/sessions", Some(json!({"addresses": [A]}))).await;
    let (status, body) = session_api(
        &h,
        "GET",
        &format!(
            "/sessions/{}/interactions",
            session["sid"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("index_required"))
    );
}

#[tokio::test]
async fn a_recording_that_arrives_after_its_session_closed_is_deleted() {
    let receiver = Receiver::start().await;
    let (h, _index) = harness(&receiver, true).await;
    let (_, session) = session_api(
        &h,
        "POST",
        "/sessions",
        Some(json!({"addresses": [A, B], "record": true})),
    )
    .await;
    let sid = session["sid"].as_str().unwrap();
    let call = signed_form(
        h.emulator.auth_token(),
        "/inbound-call",
        &call_params(A, &proxy_of(&session, A)),
    );
    inbound_call::handle(&h.state, call).await;
    h.state.run_deferred().await;
    // Closed while the call's recording is still being made.
    let (status, _) = session_api(&h, "DELETE", &format!("/sessions/{sid}"), None).await;
    assert_eq!(status, 204);
    h.state.run_deferred().await;
    h.emulator.clear_requests();

    let recording = "RE00112233445566778899aabbccddeeff";
    let (status, _) = signed_call_event(
        &h,
        sid,
        true,
        &[
            ("CallSid", CALL_SID),
            ("RecordingSid", recording),
            ("RecordingStatus", "completed"),
            (
                "RecordingUrl",
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
            ),
        ],
    )
    .await;
    assert_eq!(status, 200);
    h.state.run_deferred().await;
    let deleted = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::DeleteRecording && r.path.contains(recording))
        .count();
    assert_eq!(deleted, 1, "deleted like the session's others");
}
