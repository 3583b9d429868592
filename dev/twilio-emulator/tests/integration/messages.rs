//! Inbound texts: taken by a conversation (pre-event, message, deliveries, post-event),
//! or sent to the number's SmsUrl, or dropped.

use std::time::Duration;

use crate::{
    common::{is_sid, start_with, Client},
    hooks::{Answer, Hooks},
};
use serde_json::{json, Value};
use twilio_emulator::{
    compute_signature, ConversationState, DeliverySnapshot, Emulator, EmulatorConfig, Fault,
    Operation, TextOutcome,
};

const ALICE: &str = "+14155550101";
const BOB: &str = "+14155550102";
const CAROL: &str = "+14155550103";
const PROXY: &str = "+14155550000";
const PROXY2: &str = "+14155550001";

async fn with_numbers(config: EmulatorConfig) -> (Emulator, Client) {
    start_with(EmulatorConfig {
        numbers: vec![PROXY.into(), PROXY2.into()],
        ..config
    })
    .await
}

/// A conversation of Alice and Bob behind PROXY, plus a chat participant. Returns the
/// conversation sid and Alice's participant sid.
async fn session(client: &Client) -> (String, String) {
    let sid = client.create_conversation(&[]).await;
    let alice = client.add_participant(&sid, ALICE, PROXY).await.json();
    client.add_participant(&sid, BOB, PROXY).await;
    client
        .post(
            &format!("/v1/Conversations/{sid}/Participants"),
            &[("Identity", "agent-1")],
        )
        .await;
    (sid, alice["sid"].as_str().unwrap().to_owned())
}

fn added(outcome: &TextOutcome) -> (&str, &str, &str) {
    match outcome {
        TextOutcome::Added {
            conversation_sid,
            message_sid,
            body,
            ..
        } => (conversation_sid, message_sid, body),
        other => panic!("not added: {other:?}"),
    }
}

#[tokio::test]
async fn a_bound_text_becomes_a_message_delivered_to_the_other_participants() {
    let (emulator, client) = with_numbers(EmulatorConfig::default()).await;
    let (sid, alice) = session(&client).await;

    let outcome = emulator
        .send_message(ALICE, PROXY, "On my way")
        .await
        .unwrap();
    let (conversation, message, body) = added(&outcome);
    assert_eq!((conversation, body), (sid.as_str(), "On my way"));
    assert!(is_sid(&json!(message), "IM"), "{message}");
    assert_eq!(
        emulator.text_deliveries(),
        [DeliverySnapshot {
            to: BOB.into(),
            from: PROXY.into(),
            body: "On my way".into(),
            conversation_sid: Some(sid.clone()),
            message_sid: Some(message.to_owned()),
        }]
    );
    let reply = emulator.send_message(BOB, PROXY, "Thanks").await.unwrap();
    assert!(matches!(reply, TextOutcome::Added { .. }));
    assert_eq!(emulator.text_deliveries()[1].to, ALICE);

    let snapshot = emulator.conversation(&sid).unwrap();
    let messages: Vec<(u64, &str, &str)> = snapshot
        .messages
        .iter()
        .map(|m| (m.index, m.author.as_str(), m.body.as_str()))
        .collect();
    assert_eq!(messages, [(0, ALICE, "On my way"), (1, BOB, "Thanks")]);
    assert_eq!(
        snapshot.messages[0].participant_sid.as_deref(),
        Some(alice.as_str())
    );

    let listed = client
        .get(&format!("/v1/Conversations/{sid}/Messages"))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let listed = listed.json();
    assert_eq!(listed["meta"]["key"], "messages");
    let first = &listed["messages"][0];
    assert_eq!(first["sid"], message);
    assert_eq!(first["index"], 0);
    assert_eq!(first["author"], ALICE);
    assert_eq!(first["body"], "On my way");
    assert_eq!(first["participant_sid"], alice.as_str());
    assert_eq!(first["attributes"], "{}");
    assert_eq!(first["delivery"]["total"], 1);
    let newest_first = client
        .get(&format!(
            "/v1/Conversations/{sid}/Messages?Order=desc&PageSize=1"
        ))
        .await
        .json();
    assert_eq!(newest_first["messages"][0]["body"], "Thanks");
    assert!(newest_first["meta"]["next_page_url"].is_string());
    client
        .get("/v1/Conversations/CH00000000000000000000000000000000/Messages")
        .await
        .assert_error(404, 20404);

    // Another proxy is another pair: not bound, and PROXY2 has no SmsUrl.
    let unbound = emulator
        .send_message(ALICE, PROXY2, "hello?")
        .await
        .unwrap();
    assert!(
        matches!(unbound, TextOutcome::Dropped { .. }),
        "{unbound:?}"
    );
    let texts = emulator.inbound_texts();
    assert_eq!(texts.len(), 3);
    assert_eq!(texts[2].outcome, unbound);
    assert_eq!(emulator.text_deliveries().len(), 2);
}

#[tokio::test]
async fn whatsapp_texts_take_the_whatsapp_binding() {
    let hooks = Hooks::start().await;
    let (emulator, client) = with_numbers(EmulatorConfig::default()).await;
    client
        .post(
            "/v1/Configuration/Webhooks",
            &[
                ("PostWebhookUrl", &hooks.url("/post")),
                ("Filters", "onMessageAdded"),
            ],
        )
        .await;
    let sid = client.create_conversation(&[]).await;
    let wa_alice = format!("whatsapp:{ALICE}");
    let wa_proxy = format!("whatsapp:{PROXY}");
    client.add_participant(&sid, &wa_alice, &wa_proxy).await;
    client.add_participant(&sid, BOB, PROXY).await;
    let outcome = emulator
        .send_message(&wa_alice, &wa_proxy, "hi")
        .await
        .unwrap();
    assert_eq!(added(&outcome).0, sid);
    let post = hooks.next().await;
    assert_eq!(post.get("Source"), Some("WhatsApp"));
    assert_eq!(post.get("Author"), Some(wa_alice.as_str()));
    // SMS and WhatsApp cannot mix.
    assert!(emulator.send_message(&wa_alice, PROXY, "x").await.is_err());
    assert!(emulator
        .send_message("4155550101", PROXY, "x")
        .await
        .is_err());
}

#[tokio::test]
async fn the_pre_event_lets_through_changes_or_rejects_and_the_post_event_follows() {
    let hooks = Hooks::start().await;
    let (emulator, client) = with_numbers(EmulatorConfig {
        conversations_webhook_timeout: Duration::from_millis(300),
        ..EmulatorConfig::default()
    })
    .await;
    let (sid, alice) = session(&client).await;
    let pre_url = hooks.url("/pre?hook=1");
    let post_url = hooks.url("/post");
    client
        .post(
            "/v1/Configuration/Webhooks",
            &[
                ("PreWebhookUrl", &pre_url),
                ("PostWebhookUrl", &post_url),
                ("Filters", "onMessageAdd"),
                ("Filters", "onMessageAdded"),
            ],
        )
        .await;

    // 200 with JSON: the body is changed before anyone sees it.
    hooks.answer("/pre", Answer::json(200, r#"{"body": "[number removed]"}"#));
    let outcome = emulator
        .send_message(ALICE, PROXY, "call me on 555 0100")
        .await
        .unwrap();
    let pre = hooks.next().await;
    assert_eq!(pre.path, "/pre?hook=1");
    assert_eq!(
        pre.signature,
        compute_signature(emulator.auth_token(), &pre_url, &pre.params)
    );
    for (name, value) in [
        ("EventType", "onMessageAdd"),
        ("ConversationSid", sid.as_str()),
        ("ChatServiceSid", emulator.chat_service_sid()),
        ("Body", "call me on 555 0100"),
        ("Author", ALICE),
        ("ParticipantSid", alice.as_str()),
        ("Source", "SMS"),
        ("AccountSid", emulator.account_sid()),
        (
            "MessagingServiceSid",
            emulator.default_messaging_service_sid(),
        ),
        ("Attributes", "{}"),
    ] {
        assert_eq!(pre.get(name), Some(value), "{name}");
    }
    assert!(pre.get("DateCreated").unwrap().ends_with('Z'));
    let (_, message, body) = added(&outcome);
    assert_eq!(body, "[number removed]");
    assert!(matches!(
        outcome,
        TextOutcome::Added {
            pre_event_status: Some(200),
            ..
        }
    ));
    let post = hooks.next().await;
    assert_eq!(post.path, "/post");
    assert_eq!(
        post.signature,
        compute_signature(emulator.auth_token(), &post_url, &post.params)
    );
    assert_eq!(post.get("EventType"), Some("onMessageAdded"));
    assert_eq!(post.get("MessageSid"), Some(message));
    assert_eq!(post.get("Index"), Some("0"));
    assert_eq!(post.get("Body"), Some("[number removed]"));
    assert_eq!(emulator.text_deliveries()[0].body, "[number removed]");

    // Any 4xx or 5xx rejects: nothing is published, delivered or announced.
    for status in [403, 500] {
        hooks.answer("/pre", Answer::status(status));
        let outcome = emulator.send_message(ALICE, PROXY, "spam").await.unwrap();
        assert_eq!(
            outcome,
            TextOutcome::Rejected {
                conversation_sid: sid.clone(),
                status
            }
        );
        assert_eq!(hooks.next().await.get("Body"), Some("spam"));
        hooks.quiet().await;
    }
    assert_eq!(emulator.conversation(&sid).unwrap().messages.len(), 1);
    assert_eq!(emulator.text_deliveries().len(), 1);

    // No answer in time: published unchanged.
    hooks.answer(
        "/pre",
        Answer::status(403).after(Duration::from_millis(1000)),
    );
    let outcome = emulator.send_message(ALICE, PROXY, "slow").await.unwrap();
    assert_eq!(added(&outcome).2, "slow");
    assert!(matches!(
        outcome,
        TextOutcome::Added {
            pre_event_status: None,
            ..
        }
    ));
    let pre = hooks.next().await;
    assert_eq!(pre.get("Body"), Some("slow"));
    assert_eq!(hooks.next().await.get("EventType"), Some("onMessageAdded"));

    // Only filtered events fire; a service configuration of its own silences the account's.
    client
        .post(
            "/v1/Configuration/Webhooks",
            &[("Filters", "onMessageAdded")],
        )
        .await;
    emulator.send_message(BOB, PROXY, "no pre").await.unwrap();
    assert_eq!(hooks.next().await.get("EventType"), Some("onMessageAdded"));
    client
        .post(
            &format!(
                "/v1/Services/{}/Configuration/Webhooks",
                emulator.chat_service_sid()
            ),
            &[
                ("PostWebhookUrl", &hooks.url("/service-post")),
                ("Filters", "onMessageAdded"),
            ],
        )
        .await;
    emulator.send_message(BOB, PROXY, "service").await.unwrap();
    assert_eq!(hooks.next().await.path, "/service-post");
    hooks.quiet().await;
}

#[tokio::test]
async fn a_message_wakes_an_inactive_conversation() {
    let hooks = Hooks::start().await;
    let (emulator, client) = with_numbers(EmulatorConfig {
        events_url: Some(hooks.url("/events")),
        ..EmulatorConfig::default()
    })
    .await;
    let (sid, _) = session(&client).await;
    client
        .post(
            &format!("/v1/Conversations/{sid}"),
            &[("State", "inactive")],
        )
        .await;
    // A REST change fires no webhook.
    hooks.quiet().await;
    emulator.send_message(ALICE, PROXY, "back").await.unwrap();
    let woke = hooks.next().await;
    assert_eq!(woke.get("StateFrom"), Some("inactive"));
    assert_eq!(woke.get("StateTo"), Some("active"));
    assert_eq!(woke.get("Reason"), Some("EVENT"));
    assert_eq!(
        emulator.conversation(&sid).unwrap().state,
        ConversationState::Active
    );
    // An inactive conversation still holds its pair, so the text was taken.
    assert_eq!(emulator.conversation(&sid).unwrap().messages.len(), 1);
}

const REPLY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>This number is not in a conversation.</Message></Response>"#;

#[tokio::test]
async fn unbound_texts_go_to_the_numbers_sms_url_and_its_replies_go_back() {
    let hooks = Hooks::start().await;
    hooks.answer("/sms", Answer::xml(REPLY));
    let (emulator, client) = with_numbers(EmulatorConfig::default()).await;
    let numbers = emulator.phone_numbers();
    let number_path = |sid: &str| {
        format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{sid}.json",
            emulator.account_sid()
        )
    };
    let sms_url = hooks.url("/sms?n=1");
    client
        .post(&number_path(&numbers[0].sid), &[("SmsUrl", &sms_url)])
        .await;

    let outcome = emulator.send_message(CAROL, PROXY, "Hello?").await.unwrap();
    let got = hooks.next().await;
    assert_eq!(got.path, "/sms?n=1");
    assert_eq!(
        got.signature,
        compute_signature(emulator.auth_token(), &sms_url, &got.params)
    );
    let message_sid = got.get("MessageSid").unwrap();
    assert!(is_sid(&json!(message_sid), "SM"), "{message_sid}");
    for (name, value) in [
        ("SmsSid", message_sid),
        ("AccountSid", emulator.account_sid()),
        ("From", CAROL),
        ("To", PROXY),
        ("Body", "Hello?"),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("ApiVersion", "2010-04-01"),
        ("SmsStatus", "received"),
    ] {
        assert_eq!(got.get(name), Some(value), "{name}");
    }
    assert_eq!(got.get("MessagingServiceSid"), None);
    let reply = DeliverySnapshot {
        to: CAROL.into(),
        from: PROXY.into(),
        body: "This number is not in a conversation.".into(),
        conversation_sid: None,
        message_sid: None,
    };
    match &outcome {
        TextOutcome::SentToSmsUrl {
            url,
            answer,
            replies,
        } => {
            assert_eq!(url, &sms_url);
            assert_eq!(answer.as_ref().unwrap().body, REPLY);
            assert_eq!(replies, std::slice::from_ref(&reply));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(emulator.text_deliveries(), [reply]);

    // A pair whose conversation closed is no longer bound: the number's SmsUrl gets it.
    let sid = client.create_conversation(&[]).await;
    client.add_participant(&sid, ALICE, PROXY).await;
    assert!(matches!(
        emulator.send_message(ALICE, PROXY, "in").await.unwrap(),
        TextOutcome::Added { .. }
    ));
    client
        .post(&format!("/v1/Conversations/{sid}"), &[("State", "closed")])
        .await;
    assert!(matches!(
        emulator.send_message(ALICE, PROXY, "out").await.unwrap(),
        TextOutcome::SentToSmsUrl { .. }
    ));
    assert_eq!(hooks.next().await.get("Body"), Some("out"));

    // An SmsApplicationSid takes the texts away from SmsUrl; unknown numbers drop them.
    client
        .post(
            &number_path(&numbers[0].sid),
            &[("SmsApplicationSid", "AP0123456789abcdef0123456789abcdef")],
        )
        .await;
    for to in [PROXY, PROXY2, "+15005550006"] {
        let outcome = emulator.send_message(CAROL, to, "anyone?").await.unwrap();
        assert!(
            matches!(outcome, TextOutcome::Dropped { .. }),
            "{to}: {outcome:?}"
        );
    }
    hooks.quiet().await;
}

#[tokio::test]
async fn an_sms_url_reply_goes_where_it_says_but_only_from_our_own_numbers() {
    let hooks = Hooks::start().await;
    let forward = format!(
        r#"<Response><Message to="{BOB}" from="{PROXY2}">Hello?</Message><Message to="{BOB}" from="+15005550006">spoofed</Message></Response>"#
    );
    hooks.answer("/sms", Answer::xml(&forward));
    let (emulator, client) = with_numbers(EmulatorConfig::default()).await;
    let numbers = emulator.phone_numbers();
    client
        .post(
            &format!(
                "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json",
                emulator.account_sid(),
                numbers[0].sid
            ),
            &[("SmsUrl", &hooks.url("/sms"))],
        )
        .await;
    let outcome = emulator.send_message(CAROL, PROXY, "Hello?").await.unwrap();
    hooks.next().await;
    let only = DeliverySnapshot {
        to: BOB.into(),
        from: PROXY2.into(),
        body: "Hello?".into(),
        conversation_sid: None,
        message_sid: None,
    };
    match outcome {
        TextOutcome::SentToSmsUrl { replies, .. } => {
            assert_eq!(replies, std::slice::from_ref(&only))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(emulator.text_deliveries(), [only]);
}

#[tokio::test]
async fn the_control_api_sends_texts_and_lists_them() {
    let (emulator, client) = with_numbers(EmulatorConfig::default()).await;
    let (sid, _) = session(&client).await;
    let sent = client
        .control_post(
            "/messages",
            &json!({"from": ALICE, "to": PROXY, "body": "via control"}),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    let sent = sent.json();
    assert_eq!(sent["outcome"], "added");
    assert_eq!(sent["conversation_sid"], sid.as_str());
    let dropped = client
        .control_post(
            "/messages",
            &json!({"from": CAROL, "to": PROXY, "body": "nobody"}),
        )
        .await
        .json();
    assert_eq!(dropped["outcome"], "dropped");
    let refused = client
        .control_post("/messages", &json!({"from": "x", "to": PROXY, "body": ""}))
        .await;
    assert_eq!(refused.status, 400);
    let texts: Value = client.control_get("/messages").await;
    assert_eq!(texts.as_array().unwrap().len(), 2);
    assert_eq!(texts[1]["outcome"]["outcome"], "dropped");
    let deliveries = client.control_get("/deliveries").await;
    assert_eq!(deliveries[0]["to"], BOB);
    assert_eq!(deliveries[0]["body"], "via control");
    assert_eq!(emulator.inbound_texts().len(), 2);
}

#[tokio::test]
async fn listing_messages_takes_faults() {
    let (emulator, client) = with_numbers(EmulatorConfig::default()).await;
    let (sid, _) = session(&client).await;
    emulator.send_message(ALICE, PROXY, "x").await.unwrap();
    emulator.inject(
        Operation::ListMessages,
        Fault::Status {
            status: 429,
            retry_after: Some(2),
        },
        1,
    );
    let path = format!("/v1/Conversations/{sid}/Messages");
    let throttled = client.get(&path).await;
    throttled.assert_error(429, 20429);
    assert_eq!(throttled.headers["retry-after"], "2");
    assert_eq!(client.get(&path).await.json()["messages"][0]["body"], "x");
    let last = emulator.requests().pop().unwrap();
    assert_eq!(
        (last.operation, last.status),
        (Operation::ListMessages, 200)
    );
}

#[tokio::test]
async fn an_auto_creating_address_configuration_keeps_unbound_texts_from_the_sms_url() {
    let hooks = Hooks::start().await;
    hooks.answer("/sms", Answer::xml(REPLY));
    let (emulator, client) = with_numbers(EmulatorConfig::default()).await;
    let number = &emulator.phone_numbers()[0];
    client
        .post(
            &format!(
                "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json",
                emulator.account_sid(),
                number.sid
            ),
            &[("SmsUrl", &hooks.url("/sms"))],
        )
        .await;
    // Without auto-creation the configuration changes nothing.
    let made = client
        .post(
            "/v1/Configuration/Addresses",
            &[("Type", "sms"), ("Address", PROXY)],
        )
        .await;
    assert_eq!(made.status, 201);
    assert!(matches!(
        emulator.send_message(CAROL, PROXY, "one").await.unwrap(),
        TextOutcome::SentToSmsUrl { .. }
    ));
    hooks.next().await;

    let made = client
        .post(
            "/v1/Configuration/Addresses",
            &[
                ("Type", "sms"),
                ("Address", PROXY),
                ("AutoCreation.Enabled", "true"),
                ("AutoCreation.Type", "default"),
            ],
        )
        .await;
    assert_eq!(made.status, 201);
    let sid = made.json()["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("IG"), "{sid}");
    match emulator.send_message(CAROL, PROXY, "two").await.unwrap() {
        TextOutcome::Dropped { reason } => assert!(reason.contains(&sid), "{reason}"),
        other => panic!("{other:?}"),
    }
    hooks.quiet().await;
    let listed = client.get("/v1/Configuration/Addresses").await.json();
    let listed = listed["address_configurations"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1]["auto_creation"]["enabled"], true);
    assert_eq!(listed[1]["address"], PROXY);
}
