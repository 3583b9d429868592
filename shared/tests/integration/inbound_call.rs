//! POST /inbound-call against the Twilio emulator: routing, TwiML, signatures.

use crate::support::*;
use masked_comms::handlers::{inbound_call, sessions};
use serde_json::{json, Value};
use twilio_emulator::{ConversationSeed, ConversationState, Fault, Operation};

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const C: &str = "+14155550103";

async fn session(h: &Harness, addresses: &[&str]) -> Value {
    let response = sessions::handle(
        &h.state,
        operator_json("POST", "/sessions", &json!({ "addresses": addresses })),
    )
    .await;
    assert_eq!(response.status(), 201);
    body_json(&response)
}

async fn call(h: &Harness, from: &str, to: &str) -> (u16, String) {
    let req = signed_form(
        h.emulator.auth_token(),
        "/inbound-call",
        &call_params(from, to),
    );
    let response = inbound_call::handle(&h.state, req).await;
    if response.status() == 200 {
        assert_eq!(response.headers()["content-type"], "text/xml");
    }
    (response.status().as_u16(), body_text(&response))
}

#[tokio::test]
async fn one_to_one_call_dials_the_other_side_in_one_request() {
    let h = Harness::start().await;
    let s = session(&h, &[A, B]).await;
    h.emulator.clear_requests();

    let (status, twiml) = call(&h, A, &proxy_of(&s, A)).await;
    assert_eq!(status, 200);
    let expected = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial callerId="{}"><Number>{B}</Number></Dial></Response>"#,
        proxy_of(&s, B)
    );
    assert_eq!(twiml, expected);
    let requests = h.emulator.requests();
    assert_eq!(
        requests.len(),
        1,
        "a roster hit needs exactly one Twilio request"
    );
    assert_eq!(
        requests[0].operation,
        Operation::ListParticipantConversations
    );
}

#[tokio::test]
async fn announcement_uses_the_configured_voice() {
    let h = Harness::with(
        &POOL,
        &[
            (
                "call/connecting-announcement",
                "Connecting you & yours <now>",
            ),
            ("call/voice", "Polly.Amy"),
            ("call/language", "en-GB"),
        ],
    )
    .await;
    let s = session(&h, &[A, B]).await;
    let (_, twiml) = call(&h, B, &proxy_of(&s, B)).await;
    assert!(
        twiml.contains(r#"<Say voice="Polly.Amy" language="en-GB">Connecting you &amp; yours &lt;now&gt;</Say><Dial"#),
        "{twiml}"
    );
    assert!(twiml.contains(&format!("<Number>{A}</Number>")), "{twiml}");
}

#[tokio::test]
async fn group_call_rings_the_others_into_a_conference() {
    let h = Harness::start().await;
    let s = session(&h, &[A, B, C, "whatsapp:+447700900123"]).await;
    let (status, twiml) = call(&h, A, &proxy_of(&s, A)).await;
    assert_eq!(status, 200);
    let room = format!("mc-{CALL_SID}");
    assert!(
        twiml.contains(&format!(
            r#"<Dial><Conference endConferenceOnExit="true">{room}</Conference></Dial>"#
        )),
        "{twiml}"
    );
    let mut calls = h.emulator.calls();
    calls.sort_by(|x, y| x.to.cmp(&y.to));
    assert_eq!(calls.len(), 2, "WhatsApp participants are not dialled");
    for (placed, who) in calls.iter().zip([B, C]) {
        assert_eq!(placed.to, who);
        assert_eq!(
            placed.from,
            proxy_of(&s, who),
            "each callee sees their own proxy"
        );
        assert!(placed.twiml.as_deref().unwrap().contains(&room));
    }
}

#[tokio::test]
async fn whatsapp_only_others_hear_an_explanation() {
    let h = Harness::start().await;
    let s = session(&h, &[A, "whatsapp:+447700900123"]).await;
    let (status, twiml) = call(&h, A, &proxy_of(&s, A)).await;
    assert_eq!(status, 200);
    assert!(twiml.contains("cannot take calls"), "{twiml}");
    assert!(twiml.ends_with("<Hangup/></Response>"), "{twiml}");
    assert!(!twiml.contains("<Dial"), "{twiml}");
}

#[tokio::test]
async fn no_session_plays_the_out_of_session_message() {
    let h = Harness::with(&POOL, &[("call/out-of-session-message", "Nobody here.")]).await;
    let (status, twiml) = call(&h, A, POOL[0]).await;
    assert_eq!(status, 200);
    assert!(
        twiml.contains("<Say>Nobody here.</Say><Hangup/>"),
        "{twiml}"
    );
}

#[tokio::test]
async fn default_out_of_session_message_when_unset() {
    let h = Harness::start().await;
    let (_, twiml) = call(&h, A, POOL[0]).await;
    assert!(
        twiml.contains("not connected to an active conversation"),
        "{twiml}"
    );
    assert!(twiml.ends_with("<Hangup/></Response>"));
}

#[tokio::test]
async fn a_closed_session_does_not_connect() {
    let h = Harness::start().await;
    let s = session(&h, &[A, B]).await;
    let sid = s["sid"].as_str().unwrap().to_owned();
    // Nobody listens for the event here; the close itself still happens.
    h.emulator
        .set_webhooks(None, Some("http://127.0.0.1:9/conversation-events".into()));
    h.emulator.close_conversation(&sid).await.ok();
    assert_eq!(
        h.emulator.conversation(&sid).unwrap().state,
        ConversationState::Closed
    );
    let (_, twiml) = call(&h, A, &proxy_of(&s, A)).await;
    assert!(!twiml.contains("<Dial"), "{twiml}");
    assert!(twiml.contains("not connected"), "{twiml}");
}

#[tokio::test]
async fn calling_the_wrong_proxy_does_not_connect() {
    let h = Harness::start().await;
    let s = session(&h, &[A, B]).await;
    let other = POOL.iter().find(|p| **p != proxy_of(&s, A)).unwrap();
    let (_, twiml) = call(&h, A, other).await;
    assert!(!twiml.contains("<Dial"), "{twiml}");
}

#[tokio::test]
async fn twilio_down_still_answers_with_an_apology() {
    let h = Harness::start().await;
    h.emulator.inject(
        Operation::ListParticipantConversations,
        Fault::Status {
            status: 500,
            retry_after: None,
        },
        100,
    );
    let (status, twiml) = call(&h, A, POOL[0]).await;
    assert_eq!(status, 200);
    assert!(twiml.contains("cannot connect your call"), "{twiml}");
    assert!(twiml.ends_with("<Hangup/></Response>"));
}

#[tokio::test]
async fn missing_roster_falls_back_to_the_participant_list() {
    let h = Harness::start().await;
    h.emulator
        .seed_conversation(ConversationSeed {
            attributes: Some(session_attributes(None, serde_json::json!({"crm": "x"}))),
            bindings: vec![(A.into(), POOL[0].into()), (B.into(), POOL[1].into())],
            ..Default::default()
        })
        .unwrap();
    let (status, twiml) = call(&h, A, POOL[0]).await;
    assert_eq!(status, 200);
    assert!(
        twiml.contains(&format!(
            r#"<Dial callerId="{}"><Number>{B}</Number></Dial>"#,
            POOL[1]
        )),
        "{twiml}"
    );
    let ops: Vec<Operation> = h.emulator.requests().iter().map(|r| r.operation).collect();
    assert_eq!(
        ops,
        [
            Operation::ListParticipantConversations,
            Operation::ListParticipants
        ]
    );
}

#[tokio::test]
async fn forged_or_unsigned_calls_get_403_and_no_twilio_request() {
    let h = Harness::start().await;
    let s = session(&h, &[A, B]).await;
    h.emulator.clear_requests();
    let proxy = proxy_of(&s, A);
    let params = call_params(A, &proxy);
    let token = h.emulator.auth_token();

    let unsigned = form_request("/inbound-call", &params, None);
    let wrong_key = signed_form("not-the-token", "/inbound-call", &params);
    let mut tampered_params = params.clone();
    let signed = signed_form(token, "/inbound-call", &params);
    let signature = signed.headers()["x-twilio-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    tampered_params[2] = ("From", C);
    let tampered = form_request("/inbound-call", &tampered_params, Some(&signature));
    let wrong_url = form_request("/inbound-call?x=1", &params, Some(&signature));

    for (label, req) in [
        ("unsigned", unsigned),
        ("wrong key", wrong_key),
        ("tampered", tampered),
        ("wrong url", wrong_url),
    ] {
        let response = inbound_call::handle(&h.state, req).await;
        assert_eq!(response.status(), 403, "{label}");
        let text = body_text(&response);
        assert!(
            !text.contains("Response") && !text.contains(B),
            "{label}: {text}"
        );
    }
    assert_eq!(h.requests_made(), 0);
}

#[tokio::test]
async fn accepts_the_url_with_the_default_port() {
    let h = Harness::start().await;
    let params = call_params(A, POOL[0]);
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let signature = twilio_emulator::compute_signature(
        h.emulator.auth_token(),
        &format!("https://{HOST}:443/inbound-call"),
        &owned,
    );
    let response = inbound_call::handle(
        &h.state,
        form_request("/inbound-call", &params, Some(&signature)),
    )
    .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn uses_the_public_base_url_when_configured() {
    let h = Harness::with(
        &POOL,
        &[("public-base-url", "https://calls.example.org/prod")],
    )
    .await;
    let params = call_params(A, POOL[0]);
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let signature = twilio_emulator::compute_signature(
        h.emulator.auth_token(),
        "https://calls.example.org/prod/inbound-call",
        &owned,
    );
    let response = inbound_call::handle(
        &h.state,
        form_request("/inbound-call", &params, Some(&signature)),
    )
    .await;
    assert_eq!(response.status(), 200);
    // The request's own host no longer validates.
    let response = inbound_call::handle(
        &h.state,
        signed_form(h.emulator.auth_token(), "/inbound-call", &params),
    )
    .await;
    assert_eq!(response.status(), 403);
}
