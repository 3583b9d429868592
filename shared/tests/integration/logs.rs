//! The logs of a whole session (create, call, conversation closed, close,
//! failures included) never contain a full phone number, the auth token or
//! the operator's password.

use crate::log_capture::{run_alone, Captured};
use crate::support::*;
use masked_comms::handlers::{conversation_events, inbound_call, sessions};
use serde_json::{json, Value};
use std::time::Duration;

use twilio_emulator::{Fault, Operation};

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const C: &str = "+447400999888";
/// A message's body: never in a log line, at any level.
const MESSAGE_BODY: &str = "the courier is at door 7, code 7731";

/// Runs [`full_flow_in_a_process_of_its_own`] alone in a child process
/// ([`run_alone`] says why).
#[test]
fn a_full_flow_logs_no_numbers_or_secrets() {
    run_alone("logs::full_flow_in_a_process_of_its_own");
}

#[tokio::test]
#[ignore = "run alone by a_full_flow_logs_no_numbers_or_secrets"]
async fn full_flow_in_a_process_of_its_own() {
    // The functions' own filter at the most verbose level there is.
    let (captured, _guard) = Captured::start();

    let h = Harness::start().await;
    let token = h.emulator.auth_token().to_owned();
    let op = |method: &str, path: &str, body: &Value| operator_json(method, path, body);

    // Two creates for A at once: both see A's proxies free, both pick the
    // same one, and one of them loses the race (50416) and moves on. The
    // latency is long enough that neither's add can land before the other
    // has read A's sessions, however loaded the machine (30 ms was not).
    h.emulator.set_latency(Duration::from_millis(300));
    let (response, rival) = tokio::join!(
        sessions::handle(
            &h.state,
            op(
                "POST",
                "/sessions",
                &json!({"addresses": [A, B, "whatsapp:+447400999888"]}),
            ),
        ),
        sessions::handle(
            &h.state,
            op("POST", "/sessions", &json!({"addresses": [A]}))
        ),
    );
    h.emulator.set_latency(Duration::ZERO);
    assert_eq!(
        (response.status().as_u16(), rival.status().as_u16()),
        (201, 201)
    );
    let lost = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::CreateParticipant && r.status == 409)
        .count();
    assert_eq!(lost, 1, "one add lost the race");
    let session = body_json(&response);
    let sid = session["sid"].as_str().unwrap().to_owned();
    let proxy_a = session["participants"][0]["messaging_binding"]["proxy_address"]
        .as_str()
        .unwrap()
        .to_owned();
    // Failures that log: bad input, wrong password, Twilio down.
    sessions::handle(
        &h.state,
        op("POST", "/sessions", &json!({"addresses": [C, "bad"]})),
    )
    .await;
    h.emulator.inject(
        Operation::CreateConversation,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        100,
    );
    let down = sessions::handle(
        &h.state,
        op("POST", "/sessions", &json!({"addresses": [C]})),
    )
    .await;
    assert_eq!(down.status(), 503);
    h.emulator.clear_faults();
    sessions::handle(
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

    // Calls: connected, forged, and with Twilio failing.
    let call = |from: &str, to: &str| {
        vec![
            ("CallSid", "CA0123456789abcdef0123456789abcdef"),
            ("From", from),
            ("To", to),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect::<Vec<_>>()
    };
    let params = call(A, &proxy_a);
    let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answered =
        inbound_call::handle(&h.state, signed_form(&token, "/inbound-call", &refs)).await;
    assert!(
        body_text(&answered).contains(B),
        "the TwiML itself carries the number, as it must"
    );
    inbound_call::handle(
        &h.state,
        form_request("/inbound-call", &refs, Some("forged")),
    )
    .await;
    h.emulator.inject(
        Operation::ListParticipantConversations,
        Fault::Status {
            status: 500,
            retry_after: None,
        },
        10,
    );
    inbound_call::handle(&h.state, signed_form(&token, "/inbound-call", &refs)).await;
    h.emulator.clear_faults();

    // Messages: one Twilio refuses (not yet the account's number), then to
    // everyone; and a participant's message, told by Twilio's post-event.
    let message = json!({ "body": MESSAGE_BODY });
    let path = format!("/sessions/{sid}/messages");
    let refused = sessions::handle(&h.state, op("POST", &path, &message)).await;
    assert_eq!(refused.status(), 502, "{}", body_text(&refused));
    for number in POOL {
        h.emulator.add_phone_number(number).unwrap();
    }
    let sent = sessions::handle(&h.state, op("POST", &path, &message)).await;
    assert_eq!(sent.status(), 201, "{}", body_text(&sent));
    let added = [
        ("EventType", "onMessageAdded"),
        ("ConversationSid", sid.as_str()),
        ("MessageSid", "IM0123456789abcdef0123456789abcdef"),
        ("Author", A),
        ("Body", MESSAGE_BODY),
        ("Source", "SMS"),
    ];
    conversation_events::handle(
        &h.state,
        signed_form(&token, "/conversation-events", &added),
    )
    .await;

    // Close through the API, then the closed event deletes it.
    sessions::handle(
        &h.state,
        request(
            "DELETE",
            &format!("/sessions/{sid}"),
            None,
            "",
            Some(&basic(USERNAME, PASSWORD)),
        ),
    )
    .await;
    let event = [
        ("EventType", "onConversationStateUpdated"),
        ("ConversationSid", sid.as_str()),
        ("StateTo", "closed"),
    ];
    conversation_events::handle(
        &h.state,
        signed_form(&token, "/conversation-events", &event),
    )
    .await;

    let logs = captured.text();
    let lines = logs.lines().count();
    assert!(
        lines >= 8,
        "expected a line per request at least, got {lines}:\n{logs}"
    );
    assert!(
        logs.contains("\"route\":\"/sessions\""),
        "request lines are structured:\n{logs}"
    );
    for secret in [
        A,
        B,
        C,
        &proxy_a,
        "4155550101",
        "7400999888",
        &token,
        PASSWORD,
        MESSAGE_BODY,
        "courier",
    ] {
        assert!(!logs.contains(secret), "log leaks {secret:?}:\n{logs}");
    }
    assert!(
        logs.contains("+1********01") || logs.contains("+1********02"),
        "redacted numbers still help:\n{logs}"
    );
    assert!(
        logs.contains("\"route\":\"/sessions/{sid}/messages\""),
        "the message requests were logged:\n{logs}"
    );
    assert!(
        logs.contains("proxy taken meanwhile"),
        "the lost race was logged:\n{logs}"
    );
    assert!(
        logs.contains("\"status\":503"),
        "Twilio being down was logged:\n{logs}"
    );
}
