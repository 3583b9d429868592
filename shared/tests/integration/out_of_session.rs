//! Calls and texts to a pool number from someone with no session on it:
//! the message (said, or texted back at most hourly), forwarding that shows
//! only the pool number, and the operator's backend, which may make a
//! session so the call or text goes through. Voice-only sessions refuse
//! messages at the pre-event.

use std::time::Duration;

use masked_comms::handlers::{conversation_events, inbound_call, sessions};
use serde_json::{json, Value};
use twilio_emulator::Operation;

use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const STRANGER: &str = "+14155550199";
const FALLBACK: &str = "+14155550777";
const MESSAGE_SID: &str = "SM0123456789abcdef0123456789abcdef";

async fn create(h: &Harness, body: Value) -> Value {
    let response = sessions::handle(&h.state, operator_json("POST", "/sessions", &body)).await;
    assert_eq!(response.status(), 201, "{}", body_text(&response));
    body_json(&response)
}

async fn call(h: &Harness, from: &str, to: &str, call_sid: &str) -> String {
    let mut params = call_params(from, to);
    params.retain(|(k, _)| *k != "CallSid");
    params.push(("CallSid", call_sid));
    let req = signed_form(h.emulator.auth_token(), "/inbound-call", &params);
    let response = inbound_call::handle(&h.state, req).await;
    assert_eq!(response.status(), 200);
    body_text(&response)
}

pub(crate) async fn text(h: &Harness, from: &str, to: &str, body: &str, sid: &str) -> String {
    text_in(h, &h.state, from, to, body, sid).await
}

/// A text handled by `state` (another execution environment, say).
async fn text_in(
    h: &Harness,
    state: &masked_comms::AppState,
    from: &str,
    to: &str,
    body: &str,
    sid: &str,
) -> String {
    let params = [
        ("MessageSid", sid),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", from),
        ("To", to),
        ("Body", body),
        ("NumMedia", "0"),
    ];
    let req = signed_form(h.emulator.auth_token(), "/inbound-message", &params);
    let response = inbound_call::handle(state, req).await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    assert_eq!(
        response.headers()["content-type"],
        "text/xml",
        "messaging TwiML"
    );
    body_text(&response)
}

/// Conversations created so far.
fn created(h: &Harness) -> usize {
    h.emulator
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::CreateConversation && r.status == 201)
        .count()
}

/// An element of a TwiML answer: name, attributes, text.
type Element = (String, Vec<(String, String)>, String);

/// The elements of a TwiML answer in document order.
fn elements(twiml: &str) -> Vec<Element> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(twiml);
    let mut found: Vec<Element> = Vec::new();
    loop {
        match reader.read_event().expect("TwiML is XML") {
            Event::Start(e) | Event::Empty(e) => {
                let attributes = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                            a.unescape_value().unwrap().into_owned(),
                        )
                    })
                    .collect();
                found.push((
                    String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
                    attributes,
                    String::new(),
                ));
            }
            Event::Text(t) => {
                if let Some(last) = found.last_mut() {
                    last.2.push_str(&t.decode().unwrap());
                }
            }
            Event::GeneralRef(r) => {
                let name = r.decode().unwrap();
                let text = quick_xml::escape::resolve_predefined_entity(&name).unwrap();
                if let Some(last) = found.last_mut() {
                    last.2.push_str(text);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(
        found.first().map(|e| e.0.as_str()),
        Some("Response"),
        "{twiml}"
    );
    found
}

fn attribute(element: &Element, name: &str) -> Option<String> {
    element
        .1
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

pub(crate) fn message_sid(n: u32) -> String {
    format!("SM{n:032x}")
}

fn call_sid(n: u32) -> String {
    format!("CA{n:032x}")
}

/// The `<Message>` elements of a messaging answer: (to, from, text).
pub(crate) fn messages(twiml: &str) -> Vec<(Option<String>, Option<String>, String)> {
    elements(twiml)
        .iter()
        .skip(1)
        .map(|e| {
            assert_eq!(e.0, "Message", "{twiml}");
            (attribute(e, "to"), attribute(e, "from"), e.2.clone())
        })
        .collect()
}

#[tokio::test]
async fn a_text_in_a_session_is_left_to_conversations_and_one_outside_gets_the_reply_once_an_hour()
{
    let (h, _index) = Harness::with_index(&POOL, &[]).await;
    let session = create(&h, json!({"addresses": [A, B]})).await;
    let a_proxy = proxy_of(&session, A);
    let twiml = text(&h, A, &a_proxy, "hi B", MESSAGE_SID).await;
    assert!(messages(&twiml).is_empty(), "{twiml}");

    let first = text(&h, STRANGER, POOL[0], "hello?", &message_sid(1)).await;
    let replies = messages(&first);
    assert_eq!(replies.len(), 1, "{first}");
    assert_eq!(replies[0].0, None, "back to the sender");
    assert!(replies[0].2.contains("not connected"), "{first}");
    // Again within the hour, here or in another execution environment
    // (another AppState on the same index): no second reply.
    let again = text(&h, STRANGER, POOL[0], "hello??", &message_sid(2)).await;
    assert!(messages(&again).is_empty(), "{again}");
    let elsewhere = text_in(
        &h,
        &h.another_environment().await,
        STRANGER,
        POOL[0],
        "anyone?",
        &message_sid(3),
    )
    .await;
    assert!(messages(&elsewhere).is_empty(), "{elsewhere}");
    // Another pool number is another pair.
    let second_number = text(&h, STRANGER, POOL[1], "hello?", &message_sid(4)).await;
    assert_eq!(messages(&second_number).len(), 1, "{second_number}");
}

#[tokio::test]
async fn the_configured_text_is_sent_and_a_forged_text_is_refused() {
    let h = Harness::with(
        &POOL,
        &[("message/out-of-session-message", "Reply STOP to stop.")],
    )
    .await;
    let twiml = text(&h, STRANGER, POOL[0], "hi", MESSAGE_SID).await;
    assert_eq!(messages(&twiml)[0].2, "Reply STOP to stop.");
    h.emulator.clear_requests();
    let forged = form_request(
        "/inbound-message",
        &[
            ("MessageSid", MESSAGE_SID),
            ("From", STRANGER),
            ("To", POOL[0]),
        ],
        Some("bm90IGEgc2lnbmF0dXJl"),
    );
    let response = inbound_call::handle(&h.state, forged).await;
    assert_eq!(response.status(), 403);
    assert_eq!(h.requests_made(), 0, "nothing reached Twilio");
}

#[tokio::test]
async fn forwarding_shows_the_fallback_only_the_pool_number() {
    let h = Harness::with(
        &POOL,
        &[
            ("out-of-session/mode", "forward"),
            ("out-of-session/forward-to", FALLBACK),
        ],
    )
    .await;
    let twiml = call(&h, STRANGER, POOL[1], &call_sid(1)).await;
    let found = elements(&twiml);
    let dial = found
        .iter()
        .position(|e| e.0 == "Dial")
        .expect("the call is forwarded");
    assert_eq!(
        attribute(&found[dial], "callerId").as_deref(),
        Some(POOL[1])
    );
    assert_eq!(found[dial + 1].0, "Number");
    assert_eq!(found[dial + 1].2, FALLBACK);
    assert!(!twiml.contains(STRANGER), "{twiml}");

    let twiml = text(&h, STRANGER, POOL[1], "Where is my order?", MESSAGE_SID).await;
    assert_eq!(
        messages(&twiml),
        [(
            Some(FALLBACK.to_owned()),
            Some(POOL[1].to_owned()),
            "Where is my order?".to_owned()
        )]
    );
    assert!(!twiml.contains(STRANGER), "{twiml}");
}

#[tokio::test]
async fn a_fallback_number_in_the_pool_is_refused_at_configuration() {
    let raw = masked_comms::config::RawConfig::from_ssm(
        [
            ("twilio/account-sid", "AC0123456789abcdef0123456789abcdef"),
            ("twilio/auth-token", "token"),
            ("auth/username", USERNAME),
            ("auth/password", PASSWORD),
            ("number-pool", POOL[0]),
            ("out-of-session/mode", "forward"),
            ("out-of-session/forward-to", POOL[0]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    );
    let err = raw.parse().unwrap_err().to_string();
    assert!(err.contains("out-of-session/forward-to"), "{err}");
    assert!(!err.contains(POOL[0]), "never the value: {err}");
}

/// A harness whose out-of-session answers come from `backend`.
async fn with_backend(backend: &Receiver, indexed: bool) -> (Harness, Option<IndexProxy>) {
    let events = Receiver::start().await;
    let config = [
        ("out-of-session/mode", "callback".to_owned()),
        ("out-of-session/callback-url", backend.url.clone()),
        ("events/url", events.url.clone()),
        ("events/signing-secret", EVENTS_SECRET.to_owned()),
    ];
    let extra: Vec<(&str, &str)> = config.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if indexed {
        let (h, index) = Harness::with_index(&POOL, &extra).await;
        (h, Some(index))
    } else {
        (Harness::with(&POOL, &extra).await, None)
    }
}

#[tokio::test]
async fn the_backend_is_asked_signed_and_its_session_puts_the_call_through() {
    let backend = Receiver::start().await;
    backend.reply_with(
        &json!({"action": "create_session", "session": {"addresses": [B], "friendlyName": "order 42"}})
            .to_string(),
        Duration::ZERO,
    );
    let (h, _index) = with_backend(&backend, true).await;
    let twiml = call(&h, STRANGER, POOL[2], &call_sid(7)).await;

    let asked = backend.requests();
    assert_eq!(asked.len(), 1);
    let knock: Value = serde_json::from_str(&asked[0].body).unwrap();
    assert_eq!(
        knock,
        json!({"type": "call", "from": STRANGER, "to": POOL[2], "sid": call_sid(7)})
    );
    let headers = &asked[0].headers;
    assert_eq!(headers["x-masked-comms-event"], "out_of_session");
    assert_eq!(
        headers["x-masked-comms-signature"],
        event_signature(&headers["x-masked-comms-timestamp"], &asked[0].body)
    );

    // The session exists, the caller on the number they dialled, and the
    // call dials B from B's own proxy.
    let list = sessions::handle(
        &h.state,
        request(
            "GET",
            &format!(
                "/sessions?address={}",
                url::form_urlencoded::byte_serialize(STRANGER.as_bytes()).collect::<String>()
            ),
            None,
            "",
            Some(&basic(USERNAME, PASSWORD)),
        ),
    )
    .await;
    let list = body_json(&list);
    let found = &list["sessions"][0];
    assert_eq!(found["friendly_name"], "order 42");
    let participants = found["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 2);
    let stranger = participants
        .iter()
        .find(|p| p["messaging_binding"]["address"] == STRANGER)
        .unwrap();
    assert_eq!(stranger["messaging_binding"]["proxy_address"], POOL[2]);
    let b_proxy = participants
        .iter()
        .find(|p| p["messaging_binding"]["address"] == B)
        .unwrap()["messaging_binding"]["proxy_address"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        twiml.contains(&format!(r#"callerId="{b_proxy}""#)),
        "{twiml}"
    );
    assert!(twiml.contains(&format!("<Number>{B}</Number>")), "{twiml}");
    assert!(!twiml.contains(STRANGER), "{twiml}");

    // Twilio retries the same call: the backend is asked again, the same
    // session answers, no second conversation.
    let conversations = created(&h);
    let again = call(&h, STRANGER, POOL[2], &call_sid(7)).await;
    assert!(again.contains(&format!("<Number>{B}</Number>")), "{again}");
    assert_eq!(created(&h), conversations);
}

/// A pool number is never a participant, whoever asks: not even the
/// caller the backend's session pins to the number they reached.
#[tokio::test]
async fn a_pool_number_calling_is_never_pinned_into_a_session() {
    let backend = Receiver::start().await;
    backend.reply_with(
        &json!({"action": "create_session", "session": {"addresses": [B]}}).to_string(),
        Duration::ZERO,
    );
    let (h, _index) = with_backend(&backend, true).await;
    let twiml = call(&h, POOL[1], POOL[2], &call_sid(9)).await;

    assert_eq!(backend.requests().len(), 1, "the backend was asked");
    assert_eq!(
        created(&h),
        0,
        "no session holds a pool number as a participant"
    );
    assert!(h.emulator.conversations().is_empty());
    assert!(!twiml.contains("<Dial"), "{twiml}");
}

#[tokio::test]
async fn a_text_that_opens_a_session_reaches_the_others_from_their_own_numbers() {
    let backend = Receiver::start().await;
    backend.reply_with(
        &json!({"action": "create_session", "session": {"addresses": [A, B]}}).to_string(),
        Duration::ZERO,
    );
    let (h, _) = with_backend(&backend, false).await;
    let twiml = text(
        &h,
        STRANGER,
        POOL[0],
        "Is the flat still free?",
        MESSAGE_SID,
    )
    .await;
    let knock: Value = serde_json::from_str(&backend.requests()[0].body).unwrap();
    assert_eq!(knock["type"], "message");
    assert_eq!(knock["body"], "Is the flat still free?");

    let sent = messages(&twiml);
    assert_eq!(sent.len(), 2, "{twiml}");
    let conversation = h
        .emulator
        .conversations()
        .pop()
        .expect("a session was made");
    for (to, from, body) in &sent {
        assert_eq!(body, "Is the flat still free?");
        let to = to.as_deref().unwrap();
        assert!(to == A || to == B, "{to}");
        let bound = conversation
            .participants
            .iter()
            .find(|p| p.address == to)
            .expect("a participant");
        assert_eq!(from.as_deref(), Some(bound.proxy_address.as_str()));
    }
    assert!(!twiml.contains(STRANGER), "{twiml}");
    let stranger = conversation
        .participants
        .iter()
        .find(|p| p.address == STRANGER)
        .unwrap();
    assert_eq!(stranger.proxy_address, POOL[0]);
}

#[tokio::test]
async fn a_backend_that_is_down_slow_or_unclear_gives_the_message_and_reject_rejects() {
    let backend = Receiver::start().await;
    let (h, _) = with_backend(&backend, false).await;
    let cases = [
        (500, "{}", Duration::ZERO),
        (200, "not json", Duration::ZERO),
        (
            200,
            r#"{"action":"forward","to":"+15005550001"}"#,
            Duration::ZERO,
        ),
        (
            200,
            r#"{"action":"create_session","session":{"addresses":["nope"]}}"#,
            Duration::ZERO,
        ),
        (200, r#"{"action":"reject"}"#, Duration::from_secs(4)),
    ];
    for (n, (status, body, delay)) in cases.into_iter().enumerate() {
        backend.answer(status);
        backend.reply_with(body, delay);
        let twiml = call(&h, STRANGER, POOL[0], &call_sid(100 + n as u32)).await;
        assert!(twiml.contains("not connected"), "{body}: {twiml}");
        assert!(!twiml.contains("<Dial"), "{body}: {twiml}");
    }
    assert_eq!(created(&h), 0);

    backend.answer(200);
    backend.reply_with(r#"{"action":"reject"}"#, Duration::ZERO);
    let twiml = call(&h, STRANGER, POOL[0], &call_sid(200)).await;
    assert!(twiml.ends_with("<Response><Reject/></Response>"), "{twiml}");
    let twiml = text(&h, STRANGER, POOL[0], "spam", MESSAGE_SID).await;
    assert!(messages(&twiml).is_empty(), "{twiml}");

    backend.reply_with(
        r#"{"action":"message","message":"Call us on the app."}"#,
        Duration::ZERO,
    );
    let twiml = call(&h, STRANGER, POOL[0], &call_sid(201)).await;
    assert!(twiml.contains("Call us on the app."), "{twiml}");
}

#[tokio::test]
async fn callback_mode_needs_the_events_secret() {
    let raw = masked_comms::config::RawConfig::from_ssm(
        [
            ("twilio/account-sid", "AC0123456789abcdef0123456789abcdef"),
            ("twilio/auth-token", "token"),
            ("auth/username", USERNAME),
            ("auth/password", PASSWORD),
            ("number-pool", POOL[0]),
            ("out-of-session/mode", "callback"),
            (
                "out-of-session/callback-url",
                "https://backend.example.com/oos",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    );
    let err = raw.parse().unwrap_err().to_string();
    assert!(err.contains("events/signing-secret"), "{err}");
}

async fn pre_event(h: &Harness, conversation: &str) -> (u16, String) {
    let params = [
        ("EventType", "onMessageAdd"),
        ("ConversationSid", conversation),
        ("Body", "hello"),
        ("Author", A),
        ("Source", "SMS"),
    ];
    let req = signed_form(h.emulator.auth_token(), "/conversation-events", &params);
    let response = conversation_events::handle(&h.state, req).await;
    (response.status().as_u16(), body_text(&response))
}

#[tokio::test]
async fn the_pre_event_refuses_messages_in_voice_only_sessions_only() {
    for indexed in [false, true] {
        let (h, _index) = if indexed {
            let (h, index) = Harness::with_index(&POOL, &[]).await;
            (h, Some(index))
        } else {
            (Harness::start().await, None)
        };
        let voice_only = create(&h, json!({"addresses": [A, B], "capabilities": ["voice"]})).await;
        let both = create(&h, json!({"addresses": [A, B]})).await;
        let (status, body) = pre_event(&h, voice_only["sid"].as_str().unwrap()).await;
        assert_eq!(status, 403, "indexed {indexed}");
        assert_ne!(body, "", "a reason");
        let (status, body) = pre_event(&h, both["sid"].as_str().unwrap()).await;
        assert_eq!((status, body.as_str()), (200, ""), "indexed {indexed}");
        // Someone else's conversation in the account: let through.
        let other = h.emulator.seed_conversation(Default::default()).unwrap();
        let (status, _) = pre_event(&h, &other).await;
        assert_eq!(status, 200);
        // PATCH to add messages: let through from then on.
        let patched = sessions::handle(
            &h.state,
            operator_json(
                "PATCH",
                &format!("/sessions/{}", voice_only["sid"].as_str().unwrap()),
                &json!({"capabilities": ["voice", "message"]}),
            ),
        )
        .await;
        assert_eq!(patched.status(), 200);
        let (status, _) = pre_event(&h, voice_only["sid"].as_str().unwrap()).await;
        assert_eq!(status, 200, "indexed {indexed}");
    }
}
