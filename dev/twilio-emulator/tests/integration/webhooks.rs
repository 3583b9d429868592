//! The emulator playing Twilio toward our webhooks: signed inbound calls and
//! conversation state events.

use crate::{
    common::{start, start_with},
    hooks::{Hooks, TWIML},
};
use serde_json::json;
use twilio_emulator::{compute_signature, ConversationState, EmulatorConfig, Operation};

const ALICE: &str = "+14155550101";
const PROXY: &str = "+14155550000";

#[tokio::test]
async fn place_call_posts_a_signed_inbound_call_and_returns_the_twiml() {
    let hooks = Hooks::start().await;
    let voice_url = format!("{hooks}/voice?tenant=a");
    let (emulator, _client) = start_with(EmulatorConfig {
        voice_url: Some(voice_url.clone()),
        ..EmulatorConfig::default()
    })
    .await;

    let outcome = emulator.place_call(ALICE, PROXY).await.unwrap();
    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.content_type.as_deref(), Some("text/xml"));
    assert_eq!(outcome.body, TWIML);

    let got = hooks.next().await;
    assert_eq!(got.path, "/voice?tenant=a");
    assert_eq!(got.get("From"), Some(ALICE));
    assert_eq!(got.get("Caller"), Some(ALICE));
    assert_eq!(got.get("To"), Some(PROXY));
    assert_eq!(got.get("Called"), Some(PROXY));
    assert_eq!(got.get("CallStatus"), Some("ringing"));
    assert_eq!(got.get("Direction"), Some("inbound"));
    assert_eq!(got.get("ApiVersion"), Some("2010-04-01"));
    assert_eq!(got.get("AccountSid"), Some(emulator.account_sid()));
    assert!(got
        .get("CallSid")
        .is_some_and(|s| s.starts_with("CA") && s.len() == 34));
    // The signature covers the full URL (query included) and the form, keyed by the token.
    assert_eq!(
        got.signature,
        compute_signature(emulator.auth_token(), &voice_url, &got.params)
    );
    assert_ne!(
        got.signature,
        compute_signature("wrong", &voice_url, &got.params)
    );

    let deliveries = emulator.webhook_deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].kind, "voice");
    assert_eq!(deliveries[0].outcome.as_ref().unwrap().status, 200);
}

#[tokio::test]
async fn close_conversation_sends_state_updated_and_frees_the_pair() {
    let hooks = Hooks::start().await;
    let (emulator, client) = start().await;
    let sid = client.create_conversation(&[]).await;
    assert_eq!(client.add_participant(&sid, ALICE, PROXY).await.status, 201);

    // Without an events URL nothing happens.
    assert!(emulator.close_conversation(&sid).await.is_err());
    assert_eq!(
        emulator.conversation(&sid).unwrap().state,
        ConversationState::Active
    );

    let events_url = format!("{hooks}/events");
    emulator.set_webhooks(None, Some(events_url.clone()));
    let outcome = emulator.close_conversation(&sid).await.unwrap();
    assert_eq!(outcome.status, 200);
    assert_eq!(
        emulator.conversation(&sid).unwrap().state,
        ConversationState::Closed
    );

    let got = hooks.next().await;
    assert_eq!(got.get("EventType"), Some("onConversationStateUpdated"));
    assert_eq!(got.get("ConversationSid"), Some(sid.as_str()));
    assert_eq!(got.get("StateFrom"), Some("active"));
    assert_eq!(got.get("StateTo"), Some("closed"));
    assert_eq!(got.get("Reason"), Some("TIMER"));
    assert_eq!(got.get("ChatServiceSid"), Some(emulator.chat_service_sid()));
    assert_eq!(
        got.get("MessagingServiceSid"),
        Some(emulator.default_messaging_service_sid())
    );
    assert!(got.get("StateUpdated").is_some_and(|s| s.ends_with('Z')));
    assert_eq!(
        got.signature,
        compute_signature(emulator.auth_token(), &events_url, &got.params)
    );

    // The pair is free again, and a second close is refused.
    let fresh = client.create_conversation(&[]).await;
    assert_eq!(
        client.add_participant(&fresh, ALICE, PROXY).await.status,
        201
    );
    assert!(emulator.close_conversation(&sid).await.is_err());
}

#[tokio::test]
async fn a_rest_close_fires_no_webhook_unless_the_request_asks() {
    let hooks = Hooks::start().await;
    let (emulator, client) = start_with(EmulatorConfig {
        events_url: Some(format!("{hooks}/events")),
        ..EmulatorConfig::default()
    })
    .await;
    let sid = client.create_conversation(&[("UniqueName", "s-1")]).await;
    let reply = client
        .post("/v1/Conversations/s-1", &[("State", "closed")])
        .await;
    assert_eq!(reply.status, 200);
    // As on Twilio, a REST change fires no webhook, not even to the events URL.
    hooks.quiet().await;
    assert_eq!(emulator.webhook_deliveries().len(), 0);
    assert_eq!(
        emulator.conversation(&sid).unwrap().state,
        ConversationState::Closed
    );

    // Unless the request asks for it: then the event comes, after the answer.
    let other = client.create_conversation(&[("UniqueName", "s-2")]).await;
    let reply = client
        .post_with_headers(
            "/v1/Conversations/s-2",
            &[("State", "closed")],
            &[("X-Twilio-Webhook-Enabled", "true")],
        )
        .await;
    assert_eq!(reply.status, 200);
    let got = hooks.next().await;
    assert_eq!(got.get("ConversationSid"), Some(other.as_str()));
    assert_eq!(got.get("StateTo"), Some("closed"));
    assert_eq!(got.get("Reason"), Some("API"));
}

#[tokio::test]
async fn control_api_places_calls_and_closes_conversations() {
    let hooks = Hooks::start().await;
    let (emulator, client) = start().await;
    let refused = client
        .control_post("/calls/place", &json!({"from": ALICE, "to": PROXY}))
        .await;
    assert_eq!(refused.status, 400, "no voice_url yet");

    let set = client
        .control_post(
            "/webhooks",
            &json!({"voice_url": format!("{hooks}/voice"), "events_url": format!("{hooks}/events")}),
        )
        .await;
    assert_eq!(set.status, 204);
    let placed = client
        .control_post("/calls/place", &json!({"from": ALICE, "to": PROXY}))
        .await;
    assert_eq!(placed.status, 200, "{}", placed.text);
    assert_eq!(
        placed.json(),
        json!({"status": 200, "content_type": "text/xml", "body": TWIML})
    );
    assert_eq!(hooks.next().await.path, "/voice");

    let sid = client.create_conversation(&[]).await;
    let closed = client
        .control_post(&format!("/conversations/{sid}/close"), &json!({}))
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    assert_eq!(hooks.next().await.get("StateTo"), Some("closed"));
    assert_eq!(
        emulator.conversation(&sid).unwrap().state,
        ConversationState::Closed
    );
}

#[tokio::test]
async fn webhook_configuration_answers_in_twilio_shapes() {
    let (emulator, client) = start().await;
    let base = emulator.base_url();
    let fetched = client.get("/v1/Configuration/Webhooks").await;
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(
        fetched.json(),
        json!({"account_sid": emulator.account_sid(), "method": "POST", "filters": null,
               "pre_webhook_url": null, "post_webhook_url": null, "target": "webhook",
               "url": format!("{base}/v1/Configuration/Webhooks")})
    );
    let updated = client
        .post(
            "/v1/Configuration/Webhooks",
            &[
                ("Method", "GET"),
                ("Filters", "onMessageAdd"),
                ("Filters", "onConversationStateUpdated"),
                ("PreWebhookUrl", "https://hooks.example/pre"),
                ("PostWebhookUrl", "https://hooks.example/post"),
                ("Target", "webhook"),
            ],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let body = updated.json();
    assert_eq!(body["method"], "GET");
    assert_eq!(
        body["filters"],
        json!(["onMessageAdd", "onConversationStateUpdated"])
    );
    assert_eq!(body["pre_webhook_url"], "https://hooks.example/pre");
    // A partial update keeps what it does not name.
    let partial = client
        .post("/v1/Configuration/Webhooks", &[("PreWebhookUrl", "")])
        .await
        .json();
    assert_eq!(partial["pre_webhook_url"], json!(null));
    assert_eq!(partial["post_webhook_url"], "https://hooks.example/post");
    assert_eq!(partial["method"], "GET");
    client
        .post("/v1/Configuration/Webhooks", &[("Method", "PUT")])
        .await
        .assert_error(400, 50100);
    client
        .post(
            "/v1/Configuration/Webhooks",
            &[("Filters", "onMessageAddd")],
        )
        .await
        .assert_error(400, 50100);

    let service = format!(
        "/v1/Services/{}/Configuration/Webhooks",
        emulator.chat_service_sid()
    );
    let empty = client.get(&service).await.json();
    assert_eq!(
        empty,
        json!({"account_sid": emulator.account_sid(),
               "chat_service_sid": emulator.chat_service_sid(),
               "pre_webhook_url": null, "post_webhook_url": null, "filters": null,
               "method": "POST", "url": format!("{base}{service}")})
    );
    let set = client
        .post(
            &service,
            &[
                ("PostWebhookUrl", "https://hooks.example/service"),
                ("Filters", "onMessageAdded"),
            ],
        )
        .await
        .json();
    assert_eq!(set["post_webhook_url"], "https://hooks.example/service");
    assert_eq!(set["filters"], json!(["onMessageAdded"]));
    // The account-wide configuration is untouched.
    assert_eq!(
        client.get("/v1/Configuration/Webhooks").await.json()["post_webhook_url"],
        "https://hooks.example/post"
    );
    client
        .get("/v1/Services/IS00000000000000000000000000000000/Configuration/Webhooks")
        .await
        .assert_error(404, 20404);
    let ops: Vec<Operation> = emulator.requests().iter().map(|r| r.operation).collect();
    assert_eq!(ops[0], Operation::FetchConfigurationWebhooks);
    assert_eq!(ops[1], Operation::UpdateConfigurationWebhooks);
    assert!(ops.contains(&Operation::FetchServiceWebhookConfiguration));
    assert!(ops.contains(&Operation::UpdateServiceWebhookConfiguration));
}

#[tokio::test]
async fn state_updates_follow_the_configured_post_webhook_and_its_filters() {
    let hooks = Hooks::start().await;
    let (emulator, client) = start().await;
    let post_url = format!("{hooks}/post?from=config");
    client
        .post(
            "/v1/Configuration/Webhooks",
            &[("PostWebhookUrl", &post_url), ("Filters", "onMessageAdded")],
        )
        .await;
    // Filtered out: closing sends nothing, and a control close has nowhere to go.
    let first = client.create_conversation(&[]).await;
    client
        .post_with_headers(
            &format!("/v1/Conversations/{first}"),
            &[("State", "closed")],
            &[("X-Twilio-Webhook-Enabled", "true")],
        )
        .await;
    hooks.quiet().await;
    let second = client.create_conversation(&[]).await;
    assert!(emulator.close_conversation(&second).await.is_err());
    assert_eq!(
        emulator.conversation(&second).unwrap().state,
        ConversationState::Active
    );

    client
        .post(
            "/v1/Configuration/Webhooks",
            &[("Filters", "onConversationStateUpdated")],
        )
        .await;
    let outcome = emulator.close_conversation(&second).await.unwrap();
    assert_eq!(outcome.status, 200);
    let got = hooks.next().await;
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/post?from=config");
    assert_eq!(got.get("EventType"), Some("onConversationStateUpdated"));
    assert_eq!(got.get("ConversationSid"), Some(second.as_str()));
    assert_eq!(
        got.signature,
        compute_signature(emulator.auth_token(), &post_url, &got.params)
    );
    let delivery = emulator.webhook_deliveries().pop().unwrap();
    assert_eq!(delivery.kind, "post-event");

    // The service's own configuration wins: the account's URL hears nothing more.
    let service_url = format!("{hooks}/service");
    client
        .post(
            &format!(
                "/v1/Services/{}/Configuration/Webhooks",
                emulator.chat_service_sid()
            ),
            &[
                ("PostWebhookUrl", service_url.as_str()),
                ("Filters", "onConversationStateUpdated"),
                ("Method", "GET"),
            ],
        )
        .await;
    // A REST change fires configured webhooks only when the request asks for it.
    let third = client.create_conversation(&[]).await;
    client
        .post(
            &format!("/v1/Conversations/{third}"),
            &[("State", "inactive")],
        )
        .await;
    hooks.quiet().await;
    client
        .post_with_headers(
            &format!("/v1/Conversations/{third}"),
            &[("State", "closed")],
            &[("X-Twilio-Webhook-Enabled", "true")],
        )
        .await;
    let got = hooks.next().await;
    assert_eq!(got.method, "GET");
    assert!(got.path.starts_with("/service?"), "{}", got.path);
    assert_eq!(got.get("ConversationSid"), Some(third.as_str()));
    // A GET is signed over the full URL, query included, with no form.
    assert_eq!(
        got.signature,
        compute_signature(emulator.auth_token(), &format!("{hooks}{}", got.path), &[])
    );
    hooks.quiet().await;
}

#[tokio::test]
async fn the_events_url_and_the_configured_webhook_both_hear_but_never_twice() {
    let hooks = Hooks::start().await;
    let events_url = format!("{hooks}/events");
    let (emulator, client) = start_with(EmulatorConfig {
        events_url: Some(events_url.clone()),
        ..EmulatorConfig::default()
    })
    .await;
    client
        .post(
            "/v1/Configuration/Webhooks",
            &[
                ("PostWebhookUrl", &format!("{hooks}/post")),
                ("Filters", "onConversationStateUpdated"),
            ],
        )
        .await;
    let sid = client.create_conversation(&[]).await;
    emulator.close_conversation(&sid).await.unwrap();
    let mut paths = vec![hooks.next().await.path, hooks.next().await.path];
    paths.sort();
    assert_eq!(paths, ["/events", "/post"]);

    client
        .post(
            "/v1/Configuration/Webhooks",
            &[("PostWebhookUrl", &events_url)],
        )
        .await;
    let sid = client.create_conversation(&[]).await;
    emulator.close_conversation(&sid).await.unwrap();
    assert_eq!(hooks.next().await.path, "/events");
    hooks.quiet().await;
    let kinds: Vec<&str> = emulator
        .webhook_deliveries()
        .iter()
        .map(|d| d.kind)
        .collect();
    assert_eq!(kinds, ["events", "post-event", "events"]);
}

#[tokio::test]
async fn tests_and_the_control_api_see_the_configuration_the_api_set() {
    let (emulator, client) = start().await;
    let untouched = emulator.conversations_webhooks();
    assert_eq!(untouched.account, Default::default());
    assert_eq!(untouched.target, "webhook");
    client
        .post(
            "/v1/Configuration/Webhooks",
            &[
                ("Filters", "onConversationStateUpdated"),
                ("Filters", "onConversationUpdated"),
                ("PostWebhookUrl", "https://hooks.example/events"),
                ("Target", "flex"),
            ],
        )
        .await;
    emulator.clear_requests();
    let seen = emulator.conversations_webhooks();
    assert_eq!(
        seen.account.filters,
        Some(vec![
            "onConversationStateUpdated".to_owned(),
            "onConversationUpdated".to_owned()
        ])
    );
    assert_eq!(
        seen.account.post_webhook_url.as_deref(),
        Some("https://hooks.example/events")
    );
    assert_eq!((seen.account.method, seen.target), (None, "flex"));
    assert_eq!(seen.service, Default::default());
    let control = client.control_get("/conversations-webhooks").await;
    assert_eq!(
        control,
        json!({"account": {"method": null,
                           "filters": ["onConversationStateUpdated", "onConversationUpdated"],
                           "pre_webhook_url": null,
                           "post_webhook_url": "https://hooks.example/events"},
               "target": "flex",
               "service": {"method": null, "filters": null, "pre_webhook_url": null,
                           "post_webhook_url": null}})
    );
    // Looking is not a Twilio request.
    assert_eq!(emulator.requests().len(), 0);
}
