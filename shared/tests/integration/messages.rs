//! Messages from the backend (`POST /sessions/{sid}/messages`): each leaves
//! from its recipient's own proxy, one Twilio request per recipient; every
//! refusal is made before Twilio; messages join the session's log without
//! their body, and leave with the session. Twilio's `onMessageAdded`
//! post-event becomes `message.added`, without the body.

use aws_sdk_dynamodb::types::AttributeValue;
use masked_comms::handlers::conversation_events;
use serde_json::{json, Value};
use twilio_emulator::Operation;

use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const WA: &str = "whatsapp:+447700900123";
const WHATSAPP_POOL: &str = "+15005550009";
const HX: &str = "HX0123456789abcdef0123456789abcdef";
const BODY: &str = "your courier is 2 minutes away, code 7731";

async fn harness(extra: &[(&str, &str)]) -> (Harness, IndexProxy) {
    let mut config = vec![("whatsapp-pool", WHATSAPP_POOL)];
    config.extend_from_slice(extra);
    let (h, index) = Harness::with_index(&POOL, &config).await;
    // Twilio sends only from the account's own numbers.
    for number in POOL.iter().chain([&WHATSAPP_POOL]) {
        h.emulator.add_phone_number(number).unwrap();
    }
    (h, index)
}

/// The participant sid of `address` in a session answer.
fn participant_sid(session: &Value, address: &str) -> String {
    session["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["messaging_binding"]["address"] == address)
        .and_then(|p| p["sid"].as_str())
        .unwrap()
        .to_owned()
}

async fn message(h: &Harness, sid: &str, body: Value) -> (u16, Value) {
    session_api(h, "POST", &format!("/sessions/{sid}/messages"), Some(body)).await
}

fn operations(h: &Harness) -> Vec<Operation> {
    h.emulator.requests().iter().map(|r| r.operation).collect()
}

#[tokio::test]
async fn a_message_to_one_participant_leaves_from_their_proxy_in_one_request() {
    let (h, _index) = harness(&[]).await;
    let session = created_session(&h, json!({"addresses": [A, B]})).await;
    let sid = session["sid"].as_str().unwrap();
    let to = participant_sid(&session, B);
    h.emulator.clear_requests();

    let (status, answer) = message(&h, sid, json!({"to": to, "body": BODY})).await;

    assert_eq!(status, 201, "{answer}");
    assert_eq!(operations(&h), [Operation::CreateMessage], "one round trip");
    let sent = h.emulator.sent_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].from, proxy_of(&session, B));
    assert_eq!(sent[0].to, B);
    assert_eq!(sent[0].body.as_deref(), Some(BODY));
    assert_eq!(answer["messages"][0]["participant"], to.as_str());
    assert_eq!(answer["messages"][0]["message_sid"], sent[0].sid.as_str());
    assert_eq!(answer["messages"][0]["status"], "queued");
    let text = answer.to_string();
    assert!(!text.contains(B) && !text.contains(BODY), "{text}");
}

#[tokio::test]
async fn a_message_to_everyone_leaves_each_from_their_own_proxy() {
    let (h, _index) = harness(&[]).await;
    let session = created_session(&h, json!({"addresses": [A, B]})).await;
    let sid = session["sid"].as_str().unwrap();
    h.emulator.clear_requests();

    let (status, answer) = message(
        &h,
        sid,
        json!({"body": BODY, "mediaUrl": ["https://example.com/map.png"]}),
    )
    .await;

    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        operations(&h),
        [Operation::CreateMessage, Operation::CreateMessage]
    );
    let mut sent: Vec<(String, String, usize)> = h
        .emulator
        .sent_messages()
        .into_iter()
        .map(|m| (m.to, m.from, m.media_urls.len()))
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            (A.to_owned(), proxy_of(&session, A), 1),
            (B.to_owned(), proxy_of(&session, B), 1),
        ]
    );
    assert_eq!(answer["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_whatsapp_template_goes_to_a_whatsapp_participant_from_the_whatsapp_number() {
    let (h, _index) = harness(&[]).await;
    let session = created_session(&h, json!({"addresses": [A, WA]})).await;
    let sid = session["sid"].as_str().unwrap();
    let to = participant_sid(&session, WA);
    h.emulator.clear_requests();

    let (status, answer) = message(
        &h,
        sid,
        json!({"to": to, "contentSid": HX, "contentVariables": {"1": "Ada"}}),
    )
    .await;

    assert_eq!(status, 201, "{answer}");
    let sent = h.emulator.sent_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].from, format!("whatsapp:{WHATSAPP_POOL}"));
    assert_eq!(sent[0].to, WA);
    assert_eq!(sent[0].content_sid.as_deref(), Some(HX));
    assert_eq!(sent[0].content_variables.as_deref(), Some(r#"{"1":"Ada"}"#));
    assert_eq!(sent[0].body, None);
}

#[tokio::test]
async fn every_refusal_is_made_before_twilio() {
    let (h, _index) = harness(&[]).await;
    let session = created_session(&h, json!({"addresses": [A, WA]})).await;
    let sid = session["sid"].as_str().unwrap().to_owned();
    let sms = participant_sid(&session, A);
    let voice_only =
        created_session(&h, json!({"addresses": [A, B], "capabilities": ["voice"]})).await;
    let stranger = format!("MB{}", "0".repeat(32));
    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        (
            "too long",
            &sid,
            json!({"body": "x".repeat(1601)}),
            400,
            "body",
        ),
        ("empty", &sid, json!({}), 400, "body"),
        (
            "plain http media",
            &sid,
            json!({"mediaUrl": ["http://example.com/a.png"]}),
            400,
            "mediaUrl",
        ),
        (
            "eleven media",
            &sid,
            json!({"mediaUrl": vec!["https://example.com/a.png"; 11]}),
            400,
            "mediaUrl",
        ),
        (
            "malformed template",
            &sid,
            json!({"contentSid": "HX12"}),
            400,
            "contentSid",
        ),
        (
            "template to SMS",
            &sid,
            json!({"to": sms, "contentSid": HX}),
            400,
            "contentSid",
        ),
        (
            "template to everyone, SMS included",
            &sid,
            json!({"contentSid": HX}),
            400,
            "contentSid",
        ),
        (
            "not a participant",
            &sid,
            json!({"to": stranger, "body": "x"}),
            404,
            "",
        ),
        (
            "voice only",
            voice_only["sid"].as_str().unwrap(),
            json!({"body": "x"}),
            409,
            "",
        ),
    ];
    for (name, sid, body, want, field) in cases {
        h.emulator.clear_requests();
        let (status, answer) = message(&h, sid, body).await;
        assert_eq!(status, want, "{name}: {answer}");
        if !field.is_empty() {
            assert_eq!(answer["error"]["field"], field, "{name}: {answer}");
        }
        if want == 409 {
            assert_eq!(answer["error"]["code"], "messaging_not_allowed", "{answer}");
        }
        assert_eq!(h.requests_made(), 0, "{name}: no Twilio request");
    }
    assert!(h.emulator.sent_messages().is_empty());
}

#[tokio::test]
async fn a_closed_session_takes_no_message() {
    let (h, _index) = harness(&[]).await;
    let session = created_session(&h, json!({"addresses": [A, B]})).await;
    let sid = session["sid"].as_str().unwrap();
    let (status, answer) = message(&h, sid, json!({"body": "x"})).await;
    assert_eq!(status, 201, "open, it takes one: {answer}");
    let (status, _) = session_api(&h, "DELETE", &format!("/sessions/{sid}"), None).await;
    assert_eq!(status, 204);
    h.emulator.clear_requests();

    let (status, answer) = message(&h, sid, json!({"body": "x"})).await;

    // Deleted on close (the default): Twilio no longer has it.
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"]["message"], format!("no session {sid}"));
    assert!(!operations(&h).contains(&Operation::CreateMessage));
    assert_eq!(
        h.emulator.sent_messages().len(),
        2,
        "only the open session's"
    );
}

#[tokio::test]
async fn a_closed_session_kept_in_twilio_is_a_conflict() {
    let (h, _index) = harness(&[("closed-conversations", "keep")]).await;
    let session = created_session(&h, json!({"addresses": [A, B]})).await;
    let sid = session["sid"].as_str().unwrap();
    let (status, _) = session_api(&h, "DELETE", &format!("/sessions/{sid}"), None).await;
    assert_eq!(status, 204);
    h.emulator.clear_requests();

    let (status, answer) = message(&h, sid, json!({"body": "x"})).await;

    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "session_closed");
    assert!(!operations(&h).contains(&Operation::CreateMessage));
    assert!(h.emulator.sent_messages().is_empty());
}

#[tokio::test]
async fn messages_join_the_interactions_without_their_body_and_leave_with_the_session() {
    let (h, _index) = harness(&[]).await;
    let session = created_session(&h, json!({"addresses": [A, B]})).await;
    let sid = session["sid"].as_str().unwrap();
    let to = participant_sid(&session, B);
    let (status, answer) = message(&h, sid, json!({"to": to, "body": BODY})).await;
    assert_eq!(status, 201, "{answer}");
    // Logged after the answer.
    h.state.run_deferred().await;

    let (status, log) =
        session_api(&h, "GET", &format!("/sessions/{sid}/interactions"), None).await;
    assert_eq!(status, 200, "{log}");
    let interactions = log["interactions"].as_array().unwrap();
    assert_eq!(interactions.len(), 1, "{log}");
    let logged = &interactions[0];
    assert_eq!(logged["kind"], "message");
    assert_eq!(logged["message_sid"], answer["messages"][0]["message_sid"]);
    assert_eq!(logged["to"][0]["participant"], to.as_str());
    assert_eq!(logged["to"][0]["proxy"], proxy_of(&session, B).as_str());
    assert_eq!(logged["from"], Value::Null, "the backend's");
    assert_eq!(logged["origin"], "api");
    let text = log.to_string();
    assert!(!text.contains(BODY) && !text.contains(B), "{text}");

    let (status, _) = session_api(&h, "DELETE", &format!("/sessions/{sid}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(items_under(&h, sid).await, Vec::<String>::new());
}

/// The sort keys of the index's items under session `sid`.
async fn items_under(h: &Harness, sid: &str) -> Vec<String> {
    let answer = dynamodb_client(moto_url())
        .query()
        .table_name(h.index().table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("SESSION#{sid}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    answer
        .items
        .unwrap_or_default()
        .iter()
        .filter_map(|item| item.get("sk")?.as_s().ok().cloned())
        .collect()
}

#[tokio::test]
async fn a_removed_participant_is_no_longer_addressable() {
    let (h, _index) = harness(&[]).await;
    let session = created_session(&h, json!({"addresses": [A, B]})).await;
    let sid = session["sid"].as_str().unwrap();
    let b = participant_sid(&session, B);
    let (status, answer) = message(&h, sid, json!({"to": b, "body": "x"})).await;
    assert_eq!(status, 201, "before: {answer}");
    let (status, _) = session_api(
        &h,
        "DELETE",
        &format!("/sessions/{sid}/participants/{b}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    h.emulator.clear_requests();

    let (status, answer) = message(&h, sid, json!({"to": b, "body": "x"})).await;

    assert_eq!(status, 404, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "no such participant in this session"
    );
    assert_eq!(h.requests_made(), 0);
}

#[tokio::test]
async fn an_added_message_is_told_and_logged_without_its_body() {
    let receiver = Receiver::start().await;
    let config = receiver.config();
    let extra: Vec<(&str, &str)> = config.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (h, _index) = harness(&extra).await;
    let session = created_session(&h, json!({"addresses": [A, B]})).await;
    let sid = session["sid"].as_str().unwrap();
    let author = participant_sid(&session, A);
    h.state.run_deferred().await;
    let before = receiver.events().len();

    let event = [
        ("EventType", "onMessageAdded"),
        ("ConversationSid", sid),
        ("MessageSid", "IM0123456789abcdef0123456789abcdef"),
        ("ParticipantSid", author.as_str()),
        ("Author", A),
        ("Body", BODY),
        ("Source", "SMS"),
        ("Media", r#"[{"Sid":"ME0123456789abcdef0123456789abcdef"}]"#),
    ];
    let response = conversation_events::handle(
        &h.state,
        signed_form(h.emulator.auth_token(), "/conversation-events", &event),
    )
    .await;
    assert_eq!(response.status(), 200);
    h.state.run_deferred().await;

    let events = receiver.events();
    assert_eq!(events.len(), before + 1, "{events:?}");
    let added = events.last().unwrap();
    assert_eq!(added["type"], "message.added");
    assert_eq!(
        added["data"]["message"]["from"]["participant"],
        author.as_str()
    );
    assert_eq!(
        added["data"]["message"]["from"]["proxy"],
        proxy_of(&session, A).as_str()
    );
    assert_eq!(added["data"]["message"]["channel"], "sms");
    assert_eq!(added["data"]["message"]["media"], 1);
    let raw = receiver.requests().last().unwrap().body.clone();
    assert!(!raw.contains(BODY) && !raw.contains(A), "{raw}");

    let (_, log) = session_api(&h, "GET", &format!("/sessions/{sid}/interactions"), None).await;
    assert_eq!(log["interactions"][0]["origin"], "conversation", "{log}");
    assert!(!log.to_string().contains(BODY));
}

#[tokio::test]
async fn a_message_sent_is_told_as_message_sent_without_its_body() {
    let receiver = Receiver::start().await;
    let config = receiver.config();
    let extra: Vec<(&str, &str)> = config.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (h, _index) = harness(&extra).await;
    let session = created_session(&h, json!({"addresses": [A, B]})).await;
    let sid = session["sid"].as_str().unwrap();
    h.state.run_deferred().await;
    let to = participant_sid(&session, B);

    let (status, answer) = message(&h, sid, json!({"to": to, "body": BODY})).await;
    assert_eq!(status, 201);
    h.state.run_deferred().await;

    let sent = receiver.events().into_iter().last().unwrap();
    assert_eq!(sent["type"], "message.sent");
    assert_eq!(
        sent["data"]["message"]["sid"],
        answer["messages"][0]["message_sid"]
    );
    assert_eq!(sent["data"]["message"]["to"][0]["participant"], to.as_str());
    let raw = receiver.requests().last().unwrap().body.clone();
    assert!(!raw.contains(BODY) && !raw.contains(B), "{raw}");
}

#[tokio::test]
async fn without_the_index_twilio_says_who_is_in_the_session() {
    let h = Harness::start().await;
    for number in POOL {
        h.emulator.add_phone_number(number).unwrap();
    }
    let session = created_session(&h, json!({"addresses": [A, B]})).await;
    let sid = session["sid"].as_str().unwrap();
    let to = participant_sid(&session, A);
    h.emulator.clear_requests();
    // Long enough that the two reads overlap, however loaded the machine.
    h.emulator.set_latency(std::time::Duration::from_millis(50));

    let (status, answer) = message(&h, sid, json!({"to": to, "body": BODY})).await;

    assert_eq!(status, 201, "{answer}");
    let requests = h.emulator.requests();
    let ops: Vec<Operation> = requests.iter().map(|r| r.operation).collect();
    assert_eq!(
        ops.iter()
            .filter(|op| **op == Operation::CreateMessage)
            .count(),
        1,
        "{ops:?}"
    );
    assert_eq!(
        ops.len(),
        3,
        "the conversation, its participants, the message: {ops:?}"
    );
    assert_eq!(twilio_emulator::sequential_round_trips(&requests), 2);
    assert_eq!(h.emulator.sent_messages()[0].from, proxy_of(&session, A));
}
