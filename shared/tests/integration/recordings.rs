//! Recordings never outlive their session: whichever order their callback,
//! their call's log entry and their session's close come in, and however
//! often Twilio fails to delete them, they end deleted from Twilio.

use serde_json::json;
use twilio_emulator::{Fault, Operation};

use crate::expiry::{call_event, call_in, recording_ready};
use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const C: &str = "+14155550103";

/// A recorded session of `addresses`, logged, and A's call in it answered:
/// the session's sid.
async fn recorded_call(h: &Harness, addresses: &[&str]) -> String {
    let session = created_session(h, json!({"addresses": addresses, "record": true})).await;
    let sid = session["sid"].as_str().unwrap().to_owned();
    h.state.run_deferred().await;
    call_in(h, &session, A).await;
    sid
}

fn recordings_left(h: &Harness) -> Vec<String> {
    h.emulator.recordings().into_iter().map(|r| r.sid).collect()
}

#[tokio::test]
async fn a_recording_of_a_call_logged_after_close_is_deleted() {
    let (h, _index) = Harness::start_indexed().await;
    let sid = recorded_call(&h, &[A, B]).await;
    // Closed between the answer and its after-answer work.
    let (status, _) = session_api(&h, "DELETE", &format!("/sessions/{sid}"), None).await;
    assert_eq!(status, 204);
    h.state.run_deferred().await;
    let recording = h.emulator.seed_recording(CALL_SID);
    let status = recording_ready(&h, &sid, &recording).await;
    assert_eq!(status, 200);
    h.state.run_deferred().await;
    assert_eq!(recordings_left(&h), Vec::<String>::new());
}

#[tokio::test]
async fn a_recording_before_its_call_is_logged_is_linked_and_deleted_with_its_session() {
    let (h, _index) = Harness::start_indexed().await;
    let sid = recorded_call(&h, &[A, B]).await;
    // The recording's callback overtakes the after-answer work.
    let later = h.another_environment().await;
    let recording = h.emulator.seed_recording(CALL_SID);
    let url = format!("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{recording}");
    let response = masked_comms::handlers::inbound_call::handle(
        &later,
        signed_form(
            h.emulator.auth_token(),
            &format!("/call-events?session={sid}&kind=recording"),
            &[
                ("CallSid", CALL_SID),
                ("RecordingSid", &recording),
                ("RecordingUrl", &url),
                ("RecordingStatus", "completed"),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), 200);
    h.state.run_deferred().await;
    let (status, log) =
        session_api(&h, "GET", &format!("/sessions/{sid}/interactions"), None).await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(
        log["interactions"][0]["recording_url"],
        url.as_str(),
        "linked to its call: {log}"
    );
    assert_eq!(recordings_left(&h), [recording.as_str()]);

    let (status, _) = session_api(&h, "DELETE", &format!("/sessions/{sid}"), None).await;
    assert_eq!(status, 204);
    h.state.run_deferred().await;
    assert_eq!(recordings_left(&h), Vec::<String>::new());
}

#[tokio::test]
async fn a_conference_recording_without_a_call_sid_is_kept_with_its_session() {
    let (h, _index) = Harness::start_indexed().await;
    let sid = recorded_call(&h, &[A, B, C]).await;
    h.state.run_deferred().await;
    // What Twilio posts for a <Conference> recording: no CallSid.
    let recording = h.emulator.seed_recording(CALL_SID);
    let status = call_event(
        &h,
        &sid,
        true,
        &[
            ("AccountSid", h.emulator.account_sid()),
            ("ConferenceSid", "CF0123456789abcdef0123456789abcdef"),
            ("RecordingSid", &recording),
            ("RecordingStatus", "completed"),
            ("RecordingSource", "DialConference"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = session_api(&h, "DELETE", &format!("/sessions/{sid}"), None).await;
    assert_eq!(status, 204);
    h.state.run_deferred().await;
    assert_eq!(recordings_left(&h), Vec::<String>::new());
}

#[tokio::test]
async fn a_failed_recording_delete_is_retried_until_twilio_deletes_it() {
    let (h, _index) = Harness::start_indexed().await;
    let sid = recorded_call(&h, &[A, B]).await;
    h.state.run_deferred().await;
    let recording = h.emulator.seed_recording(CALL_SID);
    recording_ready(&h, &sid, &recording).await;
    h.state.run_deferred().await;

    h.emulator.inject(
        Operation::DeleteRecording,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        100,
    );
    let (status, _) = session_api(&h, "DELETE", &format!("/sessions/{sid}"), None).await;
    assert_eq!(status, 204);
    h.state.run_deferred().await;
    assert_eq!(recordings_left(&h), [recording.as_str()], "Twilio refused");
    let waiting =
        |items: &[std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>]| {
            items
                .iter()
                .filter(|i| i["pk"].as_s().unwrap() == "RECORDING-DELETE")
                .count()
        };
    assert_eq!(waiting(&scan(&h).await), 1, "kept for a retry");

    // Twilio is back; the next answer's after-work deletes it.
    h.emulator.clear_faults();
    let (status, _) = session_api(&h, "GET", "/sessions?address=%2B14155550103", None).await;
    assert_eq!(status, 200);
    h.state.run_deferred().await;
    assert_eq!(recordings_left(&h), Vec::<String>::new());
    assert_eq!(waiting(&scan(&h).await), 0, "done");
}
