//! Calls that end: the Calls API's extra parameters, inbound calls played to their end
//! from the TwiML we answered, the callbacks that makes, and the recordings it leaves.

use std::time::Duration;

use crate::{
    common::{is_sid, start_with, Client},
    hooks::{Answer, Hooks, Received},
};
use serde_json::{json, Value};
use twilio_emulator::{compute_signature, Emulator, EmulatorConfig, Fault, HttpMethod, Operation};

const ALICE: &str = "+14155550101";
const BOB: &str = "+14155550102";
const PROXY: &str = "+14155550000";

async fn emulator_with(hooks: &Hooks) -> (Emulator, Client) {
    start_with(EmulatorConfig {
        voice_url: Some(hooks.url("/voice")),
        numbers: vec![PROXY.into()],
        ..EmulatorConfig::default()
    })
    .await
}

fn calls_path(emulator: &Emulator) -> String {
    format!("/2010-04-01/Accounts/{}/Calls.json", emulator.account_sid())
}

/// Asserts the request is signed like Twilio over the URL it came to.
fn assert_signed(emulator: &Emulator, hooks: &Hooks, got: &Received) {
    let url = hooks.url(&got.path);
    let expected = if got.method == "GET" {
        compute_signature(emulator.auth_token(), &url, &[])
    } else {
        compute_signature(emulator.auth_token(), &url, &got.params)
    };
    assert_eq!(got.signature, expected, "{got:?}");
}

#[tokio::test]
async fn create_call_accepts_and_records_callback_and_recording_parameters() {
    let (emulator, client) = start_with(EmulatorConfig::default()).await;
    let path = calls_path(&emulator);
    let reply = client
        .post(
            &path,
            &[
                ("To", BOB),
                ("From", PROXY),
                ("Url", "https://us.example/twiml"),
                ("StatusCallback", "https://us.example/status"),
                ("StatusCallbackEvent", "initiated"),
                ("StatusCallbackEvent", "answered"),
                ("StatusCallbackEvent", "completed"),
                ("StatusCallbackMethod", "GET"),
                ("Record", "true"),
                ("RecordingChannels", "dual"),
                ("RecordingStatusCallback", "https://us.example/recording"),
                ("RecordingStatusCallbackEvent", "in-progress completed"),
                ("Timeout", "20"),
            ],
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let call = emulator.calls().pop().unwrap();
    assert_eq!(call.sid, reply.json()["sid"].as_str().unwrap());
    assert_eq!(call.url.as_deref(), Some("https://us.example/twiml"));
    assert_eq!(
        call.status_callback.as_deref(),
        Some("https://us.example/status")
    );
    assert_eq!(
        call.status_callback_event,
        ["initiated", "answered", "completed"]
    );
    assert_eq!(call.status_callback_method, Some(HttpMethod::Get));
    assert!(call.record);
    assert_eq!(call.recording_channels.as_deref(), Some("dual"));
    assert_eq!(
        call.recording_status_callback.as_deref(),
        Some("https://us.example/recording")
    );
    assert_eq!(
        call.recording_status_callback_event,
        ["in-progress", "completed"]
    );
    assert_eq!(call.timeout, Some(20));
    assert_eq!((call.status.as_str(), call.duration), ("queued", None));

    // Twiml is limited to 4000 characters: 4000 pass, 4001 get Twilio's 32018.
    let wrap = |n: usize| format!("<Response><Say>{}</Say></Response>", "a".repeat(n - 32));
    let at_limit = wrap(4000);
    assert_eq!(at_limit.chars().count(), 4000);
    let ok = client
        .post(&path, &[("To", BOB), ("From", PROXY), ("Twiml", &at_limit)])
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    client
        .post(
            &path,
            &[("To", BOB), ("From", PROXY), ("Twiml", &wrap(4001))],
        )
        .await
        .assert_error(400, 32018);
    for (name, value, code) in [
        ("StatusCallbackEvent", "hungup", 21626),
        ("StatusCallbackMethod", "PATCH", 21209),
        ("Timeout", "-5", 21208),
        ("StatusCallback", "status", 21502),
    ] {
        client
            .post(
                &path,
                &[
                    ("To", BOB),
                    ("From", PROXY),
                    ("Url", "https://us.example/t"),
                    (name, value),
                ],
            )
            .await
            .assert_error(400, code);
    }
    assert_eq!(emulator.calls().len(), 2, "refused calls are not kept");
}

const DIAL: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial callerId="+14155550000" action="/dial-done" record="record-from-answer-dual" recordingStatusCallback="/recording" recordingStatusCallbackMethod="POST"><Number statusCallback="/child-status" statusCallbackEvent="initiated ringing answered completed">+14155550102</Number></Dial></Response>"#;

#[tokio::test]
async fn an_inbound_dial_plays_to_its_end_with_signed_callbacks_and_a_recording() {
    let hooks = Hooks::start().await;
    hooks.answer("/voice", Answer::xml(DIAL));
    let (emulator, client) = emulator_with(&hooks).await;
    let number = &emulator.phone_numbers()[0];
    client
        .post(
            &format!(
                "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json",
                emulator.account_sid(),
                number.sid
            ),
            &[("StatusCallback", &hooks.url("/number-status"))],
        )
        .await;

    let answer = emulator.place_call(ALICE, PROXY).await.unwrap();
    assert_eq!(answer.body, DIAL);
    let voice = hooks.next().await;
    let parent = voice.get("CallSid").unwrap().to_owned();
    let placed = emulator.inbound_calls();
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].sid, parent);
    assert_eq!(placed[0].twiml.as_deref(), Some(DIAL));
    assert_eq!(placed[0].status, "in-progress");

    let done = emulator
        .complete_call(&parent, Duration::from_secs(42))
        .await
        .unwrap();
    let child = done.child_call_sid.clone().expect("a child leg");
    assert!(is_sid(&json!(child), "CA"));
    assert_ne!(child, parent);

    let mut received = Vec::new();
    for _ in 0..7 {
        received.push(hooks.next().await);
    }
    hooks.quiet().await;
    for got in &received {
        assert_signed(&emulator, &hooks, got);
    }
    let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/child-status",
            "/child-status",
            "/child-status",
            "/child-status",
            "/dial-done",
            "/number-status",
            "/recording"
        ]
    );
    let statuses: Vec<(&str, &str)> = received[..4]
        .iter()
        .map(|r| {
            (
                r.get("CallStatus").unwrap(),
                r.get("SequenceNumber").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("initiated", "0"),
            ("ringing", "1"),
            ("in-progress", "2"),
            ("completed", "3")
        ]
    );
    let completed = &received[3];
    assert_eq!(completed.get("CallSid"), Some(child.as_str()));
    assert_eq!(completed.get("ParentCallSid"), Some(parent.as_str()));
    assert_eq!(completed.get("CallDuration"), Some("42"));
    assert_eq!(completed.get("From"), Some(PROXY), "the callerId");
    assert_eq!(completed.get("To"), Some(BOB));
    assert_eq!(completed.get("Direction"), Some("outbound-dial"));
    assert_eq!(completed.get("AccountSid"), Some(emulator.account_sid()));
    assert!(completed.get("Timestamp").unwrap().ends_with("+0000"));
    assert_eq!(received[0].get("CallDuration"), None);

    let action = &received[4];
    assert_eq!(action.get("CallSid"), Some(parent.as_str()));
    assert_eq!(action.get("From"), Some(ALICE));
    assert_eq!(action.get("To"), Some(PROXY));
    assert_eq!(action.get("DialCallStatus"), Some("completed"));
    assert_eq!(action.get("DialCallSid"), Some(child.as_str()));
    assert_eq!(action.get("DialCallDuration"), Some("42"));

    let number_status = &received[5];
    assert_eq!(number_status.get("CallSid"), Some(parent.as_str()));
    assert_eq!(number_status.get("CallStatus"), Some("completed"));
    assert_eq!(number_status.get("Direction"), Some("inbound"));

    let recording = &received[6];
    let recordings = emulator.recordings();
    assert_eq!(recordings.len(), 1);
    let made = &recordings[0];
    assert_eq!(done.recording_sids, std::slice::from_ref(&made.sid));
    assert!(is_sid(&json!(made.sid), "RE"));
    assert_eq!(
        (made.call_sid.as_str(), made.channels, made.duration),
        (parent.as_str(), 2, 42)
    );
    assert_eq!(recording.get("RecordingSid"), Some(made.sid.as_str()));
    assert_eq!(recording.get("CallSid"), Some(parent.as_str()));
    assert_eq!(recording.get("RecordingStatus"), Some("completed"));
    assert_eq!(recording.get("RecordingDuration"), Some("42"));
    assert_eq!(recording.get("RecordingChannels"), Some("2"));
    let media = format!(
        "{}/2010-04-01/Accounts/{}/Recordings/{}",
        emulator.base_url(),
        emulator.account_sid(),
        made.sid
    );
    assert_eq!(recording.get("RecordingUrl"), Some(media.as_str()));

    // Every callback is recorded as a delivery, in the order sent.
    let kinds: Vec<&str> = done.callbacks.iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            "call-status",
            "call-status",
            "call-status",
            "call-status",
            "dial-action",
            "call-status",
            "recording-status"
        ]
    );
    assert_eq!(emulator.webhook_deliveries().len(), 8);
    assert_eq!(emulator.inbound_calls()[0].status, "completed");
    assert_eq!(emulator.inbound_calls()[0].duration, Some(42));
    assert!(emulator
        .complete_call(&parent, Duration::from_secs(1))
        .await
        .is_err());

    // The recording is a resource until deleted.
    let path = format!(
        "/2010-04-01/Accounts/{}/Recordings/{}.json",
        emulator.account_sid(),
        made.sid
    );
    let fetched = client.get(&path).await;
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    let body = fetched.json();
    assert_eq!(body["call_sid"], parent.as_str());
    assert_eq!(body["duration"], "42");
    assert_eq!(body["channels"], 2);
    assert_eq!(body["source"], "DialVerb");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["media_url"], media.as_str());
    let deleted = client.delete(&path).await;
    assert_eq!((deleted.status, deleted.text.as_str()), (204, ""));
    client.get(&path).await.assert_error(404, 20404);
    client.delete(&path).await.assert_error(404, 20404);
    assert!(emulator.recordings().is_empty());
}

#[tokio::test]
async fn a_conference_dial_has_no_child_leg() {
    let hooks = Hooks::start().await;
    hooks.answer(
        "/voice",
        Answer::xml(r#"<Response><Dial action="/after" record="record-from-answer"><Conference endConferenceOnExit="true">room-1</Conference></Dial></Response>"#),
    );
    let (emulator, _client) = emulator_with(&hooks).await;
    emulator.place_call(ALICE, PROXY).await.unwrap();
    let parent = hooks.next().await.get("CallSid").unwrap().to_owned();
    let done = emulator
        .complete_call(&parent, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(done.child_call_sid, None);
    assert!(done.recording_sids.is_empty());
    let action = hooks.next().await;
    assert_eq!(action.path, "/after");
    assert_eq!(action.get("DialCallStatus"), Some("completed"));
    assert_eq!(action.get("DialCallSid"), None);
    hooks.quiet().await;
}

#[tokio::test]
async fn an_api_call_reports_the_events_it_asked_for_and_its_recording() {
    let hooks = Hooks::start().await;
    let (emulator, client) = emulator_with(&hooks).await;
    let status_url = hooks.url("/status?leg=api");
    let created = client
        .post(
            &calls_path(&emulator),
            &[
                ("To", BOB),
                ("From", PROXY),
                ("Twiml", "<Response><Say>Your code is 1234</Say></Response>"),
                ("StatusCallback", &status_url),
                ("StatusCallbackEvent", "initiated completed"),
                ("Record", "true"),
                ("RecordingStatusCallback", &hooks.url("/recording")),
            ],
        )
        .await
        .json();
    let sid = created["sid"].as_str().unwrap();
    let done = emulator
        .complete_call(sid, Duration::from_secs(9))
        .await
        .unwrap();
    assert_eq!(done.child_call_sid, None);
    let initiated = hooks.next().await;
    let completed = hooks.next().await;
    let recording = hooks.next().await;
    hooks.quiet().await;
    for got in [&initiated, &completed, &recording] {
        assert_signed(&emulator, &hooks, got);
    }
    assert_eq!(initiated.path, "/status?leg=api");
    assert_eq!(initiated.get("CallStatus"), Some("initiated"));
    assert_eq!(completed.get("CallStatus"), Some("completed"));
    assert_eq!(completed.get("CallDuration"), Some("9"));
    assert_eq!(completed.get("CallSid"), Some(sid));
    assert_eq!(completed.get("Direction"), Some("outbound-api"));
    assert_eq!(completed.get("ParentCallSid"), None);
    assert_eq!(recording.path, "/recording");
    assert_eq!(recording.get("CallSid"), Some(sid));
    assert_eq!(recording.get("RecordingChannels"), Some("1"));
    assert_eq!(recording.get("RecordingSource"), Some("OutboundAPI"));
    let call = emulator.calls().pop().unwrap();
    assert_eq!(
        (call.status.as_str(), call.duration),
        ("completed", Some(9))
    );
    assert_eq!(emulator.recordings()[0].source, "OutboundAPI");

    // Without StatusCallback nothing is sent, but the call still ends.
    let quiet_call = client
        .post(
            &calls_path(&emulator),
            &[
                ("To", BOB),
                ("From", PROXY),
                ("Url", "https://us.example/t"),
            ],
        )
        .await
        .json();
    let done = emulator
        .complete_call(quiet_call["sid"].as_str().unwrap(), Duration::from_secs(1))
        .await
        .unwrap();
    assert!(done.callbacks.is_empty());
    hooks.quiet().await;
    assert!(emulator
        .complete_call("CA00000000000000000000000000000000", Duration::ZERO)
        .await
        .is_err());
}

#[tokio::test]
async fn the_control_api_places_completes_and_lists() {
    let hooks = Hooks::start().await;
    hooks.answer("/voice", Answer::xml(DIAL));
    let (emulator, client) = emulator_with(&hooks).await;
    let placed = client
        .control_post("/calls/place", &json!({"from": ALICE, "to": PROXY}))
        .await;
    assert_eq!(placed.status, 200, "{}", placed.text);
    let sid = placed.headers["x-call-sid"].to_str().unwrap().to_owned();
    assert_eq!(hooks.next().await.get("CallSid"), Some(sid.as_str()));
    let inbound = client.control_get("/calls/inbound").await;
    assert_eq!(inbound[0]["sid"], sid.as_str());
    assert_eq!(inbound[0]["status"], "in-progress");

    // Without a sid, the latest call still going ends.
    let done = client
        .control_post("/calls/complete", &json!({"duration": 30}))
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    let done = done.json();
    assert_eq!(done["call_sid"], sid.as_str());
    assert_eq!(done["callbacks"].as_array().unwrap().len(), 6);
    assert_eq!(done["callbacks"][4]["kind"], "dial-action");
    for _ in 0..6 {
        hooks.next().await;
    }
    let recordings = client.control_get("/recordings").await;
    assert_eq!(recordings[0]["call_sid"], sid.as_str());
    assert_eq!(recordings[0]["duration"], 30);
    let again = client
        .control_post("/calls/complete", &json!({"call_sid": sid, "duration": 1}))
        .await;
    assert_eq!(again.status, 400);
    let nothing_left = client
        .control_post("/calls/complete", &json!({"duration": 1}))
        .await;
    assert_eq!(nothing_left.status, 400);
    let _: Value = client.control_get("/calls").await;
    assert_eq!(emulator.inbound_calls()[0].status, "completed");
}

#[tokio::test]
async fn recording_routes_take_faults_and_are_recorded() {
    let hooks = Hooks::start().await;
    hooks.answer("/voice", Answer::xml(DIAL));
    let (emulator, client) = emulator_with(&hooks).await;
    emulator.place_call(ALICE, PROXY).await.unwrap();
    let parent = emulator.inbound_calls()[0].sid.clone();
    emulator
        .complete_call(&parent, Duration::from_secs(3))
        .await
        .unwrap();
    let sid = emulator.recordings()[0].sid.clone();
    let path = format!(
        "/2010-04-01/Accounts/{}/Recordings/{sid}.json",
        emulator.account_sid()
    );
    emulator.inject(
        Operation::DeleteRecording,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        1,
    );
    client.delete(&path).await.assert_error(503, 20503);
    assert_eq!(
        emulator.recordings().len(),
        1,
        "a faulted delete deletes nothing"
    );
    assert_eq!(client.delete(&path).await.status, 204);
    let ops: Vec<(Operation, u16)> = emulator
        .requests()
        .iter()
        .map(|r| (r.operation, r.status))
        .collect();
    assert_eq!(
        ops,
        [
            (Operation::DeleteRecording, 503),
            (Operation::DeleteRecording, 204)
        ]
    );
}
