//! The Conversations API over HTTP: shapes, Twilio's rules, paging, auth.

use std::collections::HashSet;

use crate::common::{is_sid, start, start_with};
use futures_util::future::join_all;
use serde_json::{json, Value};
use twilio_emulator::{ConversationSeed, ConversationState, EmulatorConfig, Operation};

const ALICE: &str = "+14155550101";
const BOB: &str = "+14155550102";
const PROXY: &str = "+14155550000";
const PROXY2: &str = "+14155550001";

#[tokio::test]
async fn create_conversation_and_add_two_participants() {
    let (emulator, client) = start().await;
    let reply = client
        .post(
            "/v1/Conversations",
            &[
                ("FriendlyName", "Order 42"),
                ("UniqueName", "order-42"),
                ("Attributes", r#"{"order":42}"#),
                ("Timers.Inactive", "PT5M"),
                ("Timers.Closed", "P1D"),
            ],
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let body = reply.json();
    let sid = body["sid"].as_str().unwrap().to_owned();
    assert!(is_sid(&body["sid"], "CH"), "{sid}");
    assert_eq!(body["account_sid"], emulator.account_sid());
    assert_eq!(body["chat_service_sid"], emulator.chat_service_sid());
    assert!(is_sid(&body["chat_service_sid"], "IS"));
    assert_eq!(
        body["messaging_service_sid"],
        emulator.default_messaging_service_sid()
    );
    assert!(is_sid(&body["messaging_service_sid"], "MG"));
    assert_eq!(body["friendly_name"], "Order 42");
    assert_eq!(body["unique_name"], "order-42");
    // Attributes is a string holding JSON, as on Twilio.
    assert_eq!(body["attributes"], r#"{"order":42}"#);
    assert_eq!(body["state"], "active");
    let created = body["date_created"].as_str().unwrap();
    assert_eq!(created.len(), "2015-12-16T22:18:37Z".len());
    assert!(created.ends_with('Z') && created.as_bytes()[10] == b'T');
    assert!(body["timers"]["date_inactive"].is_string());
    assert!(body["timers"]["date_closed"].is_string());
    let url = format!("{}/v1/Conversations/{sid}", emulator.base_url());
    assert_eq!(body["url"], url);
    assert_eq!(body["links"]["participants"], format!("{url}/Participants"));

    let mut participant_sids = Vec::new();
    for address in [ALICE, BOB] {
        let reply = client.add_participant(&sid, address, PROXY).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let p = reply.json();
        assert!(is_sid(&p["sid"], "MB"));
        assert_eq!(p["conversation_sid"], sid.as_str());
        assert_eq!(p["account_sid"], emulator.account_sid());
        assert_eq!(p["identity"], Value::Null);
        assert_eq!(p["attributes"], "{}");
        assert_eq!(
            p["messaging_binding"],
            json!({"type": "sms", "address": address, "proxy_address": PROXY})
        );
        assert_eq!(p["last_read_message_index"], Value::Null);
        assert_eq!(
            p["url"],
            format!("{url}/Participants/{}", p["sid"].as_str().unwrap())
        );
        participant_sids.push(p["sid"].as_str().unwrap().to_owned());
    }

    // Fetch by unique name resolves to the same conversation.
    let fetched = client.get("/v1/Conversations/order-42").await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json()["sid"], sid.as_str());

    let list = client
        .get(&format!("/v1/Conversations/{sid}/Participants"))
        .await;
    assert_eq!(list.status, 200);
    let list = list.json();
    let listed: Vec<&str> = list["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sid"].as_str().unwrap())
        .collect();
    assert_eq!(listed, participant_sids);
    assert_eq!(list["meta"]["key"], "participants");
    assert_eq!(list["meta"]["next_page_url"], Value::Null);

    let snapshot = emulator.conversation(&sid).unwrap();
    assert_eq!(snapshot.state, ConversationState::Active);
    assert_eq!(snapshot.unique_name.as_deref(), Some("order-42"));
    let addresses: Vec<&str> = snapshot
        .participants
        .iter()
        .map(|p| p.address.as_str())
        .collect();
    assert_eq!(addresses, [ALICE, BOB]);
    assert!(snapshot
        .participants
        .iter()
        .all(|p| p.proxy_address == PROXY));

    let ops: Vec<Operation> = emulator.requests().iter().map(|r| r.operation).collect();
    assert_eq!(
        ops,
        [
            Operation::CreateConversation,
            Operation::CreateParticipant,
            Operation::CreateParticipant,
            Operation::FetchConversation,
            Operation::ListParticipants,
        ]
    );
    let first = &emulator.requests()[1];
    assert_eq!(first.param("MessagingBinding.Address"), Some(ALICE));
    assert_eq!(first.status, 201);
}

#[tokio::test]
async fn pair_rule_50416_and_closing_frees_the_pair() {
    let (emulator, client) = start().await;
    let first = client.create_conversation(&[]).await;
    let second = client.create_conversation(&[]).await;
    assert_eq!(
        client.add_participant(&first, ALICE, PROXY).await.status,
        201
    );

    client
        .add_participant(&second, ALICE, PROXY)
        .await
        .assert_error(409, 50416);
    // The same address behind another proxy is a different pair.
    assert_eq!(
        client.add_participant(&second, ALICE, PROXY2).await.status,
        201
    );

    // An inactive conversation still holds its pairs.
    let third = client.create_conversation(&[]).await;
    let reply = client
        .post(
            &format!("/v1/Conversations/{first}"),
            &[("State", "inactive")],
        )
        .await;
    assert_eq!(reply.json()["state"], "inactive");
    client
        .add_participant(&third, ALICE, PROXY)
        .await
        .assert_error(409, 50416);

    // Closing frees the pair at once.
    let reply = client
        .post(
            &format!("/v1/Conversations/{first}"),
            &[("State", "closed")],
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["state"], "closed");
    assert_eq!(
        client.add_participant(&third, ALICE, PROXY).await.status,
        201
    );

    // A closed conversation is final.
    client
        .post(
            &format!("/v1/Conversations/{first}"),
            &[("State", "active")],
        )
        .await
        .assert_error(409, 50377);
    client
        .add_participant(&first, BOB, PROXY)
        .await
        .assert_error(409, 50377);
    assert_eq!(
        emulator.conversation(&first).unwrap().state,
        ConversationState::Closed
    );
}

#[tokio::test]
async fn concurrent_creates_of_one_pair_let_exactly_one_win() {
    let (emulator, client) = start().await;
    let mut sids = Vec::new();
    for _ in 0..8 {
        sids.push(client.create_conversation(&[]).await);
    }
    let attempts = sids
        .iter()
        .map(|sid| client.add_participant(sid, ALICE, PROXY));
    let replies = join_all(attempts).await;
    let won = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(won, 1);
    for loser in replies.iter().filter(|r| r.status != 201) {
        loser.assert_error(409, 50416);
    }
    let holders = emulator
        .conversations()
        .iter()
        .filter(|c| c.participants.iter().any(|p| p.address == ALICE))
        .count();
    assert_eq!(holders, 1);
}

#[tokio::test]
async fn unique_name_taken_is_50353_even_when_closed() {
    let (_emulator, client) = start().await;
    let sid = client
        .create_conversation(&[("UniqueName", "session-7")])
        .await;
    client
        .post("/v1/Conversations", &[("UniqueName", "session-7")])
        .await
        .assert_error(409, 50353);
    client
        .post(&format!("/v1/Conversations/{sid}"), &[("State", "closed")])
        .await;
    client
        .post("/v1/Conversations", &[("UniqueName", "session-7")])
        .await
        .assert_error(409, 50353);
    // Deleting frees the name.
    let deleted = client.delete(&format!("/v1/Conversations/{sid}")).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.text, "");
    client
        .get(&format!("/v1/Conversations/{sid}"))
        .await
        .assert_error(404, 20404);
    client
        .create_conversation(&[("UniqueName", "session-7")])
        .await;
}

#[tokio::test]
async fn participant_rules_50437_50409_50407() {
    let (_emulator, client) = start().await;
    let sid = client.create_conversation(&[]).await;
    assert_eq!(client.add_participant(&sid, ALICE, PROXY).await.status, 201);
    // Same address again, even behind another proxy: already a participant.
    client
        .add_participant(&sid, ALICE, PROXY2)
        .await
        .assert_error(409, 50437);
    client
        .add_participant(&sid, PROXY, PROXY)
        .await
        .assert_error(400, 50409);
    client
        .add_participant(&sid, "4155550103", PROXY)
        .await
        .assert_error(400, 50407);
    client
        .add_participant(&sid, "whatsapp:+14155550103", PROXY)
        .await
        .assert_error(400, 50407);
    let whatsapp = client
        .add_participant(&sid, "whatsapp:+14155550103", "whatsapp:+14155550000")
        .await;
    assert_eq!(whatsapp.status, 201, "{}", whatsapp.text);
    assert_eq!(whatsapp.json()["messaging_binding"]["type"], "whatsapp");
    let chat = client
        .post(
            &format!("/v1/Conversations/{sid}/Participants"),
            &[("Identity", "agent-1")],
        )
        .await;
    assert_eq!(chat.status, 201);
    assert_eq!(chat.json()["identity"], "agent-1");
    assert_eq!(chat.json()["messaging_binding"], Value::Null);
    client
        .get("/v1/Conversations/CH00000000000000000000000000000000/Participants")
        .await
        .assert_error(404, 20404);
}

#[tokio::test]
async fn invalid_parameters_are_rejected() {
    let (emulator, client) = start().await;
    client
        .post("/v1/Conversations", &[("Attributes", "{not json")])
        .await
        .assert_error(400, 50304);
    client
        .post("/v1/Conversations", &[("Timers.Inactive", "PT30S")])
        .await
        .assert_error(400, 50100);
    let reply = client
        .post("/v1/Conversations", &[("Timers.Closed", "PT9M")])
        .await;
    reply.assert_error(400, 50100);
    assert!(reply.json()["message"]
        .as_str()
        .unwrap()
        .contains("10 minutes"));
    client
        .post("/v1/Conversations", &[("State", "open")])
        .await
        .assert_error(400, 50100);
    // Nothing was created by the rejected requests.
    assert!(emulator.conversations().is_empty());
    let closed = client
        .post("/v1/Conversations", &[("State", "closed")])
        .await;
    assert_eq!(closed.json()["state"], "closed");
    assert_eq!(closed.json()["timers"], json!({}));
}

#[tokio::test]
async fn participant_conversations_page_across_sixty_conversations() {
    let (emulator, client) = start().await;
    let mut created = Vec::new();
    for i in 0..60 {
        let proxy = format!("+1415555{i:04}");
        let sid = client
            .create_conversation(&[("FriendlyName", &format!("c{i}"))])
            .await;
        assert_eq!(
            client.add_participant(&sid, ALICE, &proxy).await.status,
            201
        );
        created.push(sid);
    }
    // Someone else's conversation must not show up.
    let other = client.create_conversation(&[]).await;
    client.add_participant(&other, BOB, PROXY).await;
    // A closed one stays listed.
    client
        .post(
            &format!("/v1/Conversations/{}", created[0]),
            &[("State", "closed")],
        )
        .await;

    let first = client
        .get("/v1/ParticipantConversations?Address=%2B14155550101")
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let first = first.json();
    let page: &Vec<Value> = first["conversations"].as_array().unwrap();
    assert_eq!(page.len(), 50);
    assert_eq!(first["meta"]["page"], 0);
    assert_eq!(first["meta"]["page_size"], 50);
    assert_eq!(first["meta"]["key"], "conversations");
    assert_eq!(first["meta"]["previous_page_url"], Value::Null);
    let item = &page[0];
    // Newest conversation first.
    assert_eq!(item["conversation_sid"], created[59].as_str());
    assert_eq!(item["conversation_friendly_name"], "c59");
    assert_eq!(item["conversation_state"], "active");
    assert_eq!(item["conversation_attributes"], "{}");
    assert!(is_sid(&item["participant_sid"], "MB"));
    assert_eq!(
        item["participant_messaging_binding"],
        json!({"type": "sms", "address": ALICE, "proxy_address": "+14155550059",
               "name": null, "level": null, "projected_address": null})
    );
    assert!(item["links"]["conversation"]
        .as_str()
        .unwrap()
        .starts_with(&emulator.base_url()));

    let next = first["meta"]["next_page_url"]
        .as_str()
        .expect("a second page");
    assert!(next.starts_with(&format!(
        "{}/v1/ParticipantConversations?",
        emulator.base_url()
    )));
    for part in [
        "Address=%2B14155550101",
        "PageSize=50",
        "Page=1",
        "PageToken=",
    ] {
        assert!(next.contains(part), "{next} lacks {part}");
    }
    let second = client.get(next).await.json();
    let rest = second["conversations"].as_array().unwrap();
    assert_eq!(rest.len(), 10);
    assert_eq!(second["meta"]["page"], 1);
    assert_eq!(second["meta"]["next_page_url"], Value::Null);
    assert!(second["meta"]["previous_page_url"].is_string());
    let last = rest.last().unwrap();
    assert_eq!(last["conversation_sid"], created[0].as_str());
    assert_eq!(last["conversation_state"], "closed");

    let seen: HashSet<&str> = page
        .iter()
        .chain(rest)
        .map(|c| c["conversation_sid"].as_str().unwrap())
        .collect();
    assert_eq!(seen, created.iter().map(String::as_str).collect());

    // PageSize is capped at 50 for this list.
    let capped = client
        .get("/v1/ParticipantConversations?Address=%2B14155550101&PageSize=100")
        .await
        .json();
    assert_eq!(capped["meta"]["page_size"], 50);
}

#[tokio::test]
async fn auth_failure_is_401_20003() {
    let (emulator, client) = start().await;
    // Right account, wrong token.
    let mut bad = crate::common::Client::for_emulator(&emulator);
    bad.token = "not-the-token".to_owned();
    let reply = bad.post("/v1/Conversations", &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.json(),
        json!({"code": 20003, "message": "Authenticate",
               "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401})
    );
    // No credentials at all.
    let anonymous = client
        .http
        .get(format!("{}/v1/Conversations/CH1", emulator.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert!(emulator.conversations().is_empty());
    let statuses: Vec<u16> = emulator.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401]);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let (emulator, client) = start_with(EmulatorConfig {
        conversation_creates_per_second: Some(2),
        ..EmulatorConfig::default()
    })
    .await;
    client.create_conversation(&[]).await;
    client.create_conversation(&[]).await;
    let third = client.post("/v1/Conversations", &[]).await;
    third.assert_error(429, 20429);
    assert_eq!(third.headers["retry-after"], "1");
    assert_eq!(emulator.conversations().len(), 2);
    emulator.set_conversation_rate_limit(None);
    client.create_conversation(&[]).await;
}

#[tokio::test]
async fn create_call_records_the_call() {
    let (emulator, client) = start().await;
    let path = format!("/2010-04-01/Accounts/{}/Calls.json", emulator.account_sid());
    let twiml = "<Response><Say>Hi</Say></Response>";
    let reply = client
        .post(&path, &[("To", ALICE), ("From", PROXY), ("Twiml", twiml)])
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let body = reply.json();
    assert!(is_sid(&body["sid"], "CA"));
    assert_eq!(body["status"], "queued");
    assert_eq!(body["direction"], "outbound-api");
    assert_eq!(body["api_version"], "2010-04-01");
    assert_eq!(body["to"], ALICE);
    assert_eq!(body["from"], PROXY);
    // RFC 2822, e.g. "Tue, 31 Aug 2010 20:36:28 +0000".
    let date = body["date_created"].as_str().unwrap();
    assert!(
        date.ends_with(" +0000") && date.as_bytes()[3] == b',',
        "{date}"
    );
    assert!(body["uri"].as_str().unwrap().ends_with(".json"));

    client
        .post(&path, &[("To", ALICE), ("From", PROXY)])
        .await
        .assert_error(400, 21205);
    let calls = emulator.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].to.as_str(), calls[0].from.as_str()),
        (ALICE, PROXY)
    );
    assert_eq!(calls[0].twiml.as_deref(), Some(twiml));
    assert_eq!(calls[0].sid, body["sid"].as_str().unwrap());
}

#[tokio::test]
async fn seeded_closed_conversation_holds_no_pair() {
    let (emulator, client) = start().await;
    let closed = emulator
        .seed_conversation(ConversationSeed {
            state: ConversationState::Closed,
            bindings: vec![(ALICE.into(), PROXY.into())],
            ..ConversationSeed::default()
        })
        .unwrap();
    let open = emulator
        .seed_conversation(ConversationSeed {
            bindings: vec![(BOB.into(), PROXY.into())],
            ..ConversationSeed::default()
        })
        .unwrap();
    assert_eq!(
        emulator.conversation(&closed).unwrap().state,
        ConversationState::Closed
    );
    let fresh = client.create_conversation(&[]).await;
    assert_eq!(
        client.add_participant(&fresh, ALICE, PROXY).await.status,
        201
    );
    let err = client.add_participant(&fresh, BOB, PROXY).await;
    err.assert_error(409, 50416);
    assert!(err.json()["message"].as_str().unwrap().contains(&open));
    // Seeding is not an HTTP request.
    assert_eq!(emulator.requests().len(), 3);
}

#[tokio::test]
async fn removing_a_participant_frees_its_pair_at_once() {
    let (emulator, client) = start().await;
    let first = client.create_conversation(&[]).await;
    let second = client.create_conversation(&[]).await;
    let added = client.add_participant(&first, ALICE, PROXY).await;
    let alice = added.json()["sid"].as_str().unwrap().to_owned();
    client.add_participant(&first, BOB, PROXY).await;
    client
        .add_participant(&second, ALICE, PROXY)
        .await
        .assert_error(409, 50416);

    let path = format!("/v1/Conversations/{first}/Participants/{alice}");
    let fetched = client.get(&path).await;
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(fetched.json(), added.json());

    let deleted = client.delete(&path).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(deleted.text, "");
    client.get(&path).await.assert_error(404, 20404);
    client.delete(&path).await.assert_error(404, 20404);
    // The pair is free at once; the other participant stays.
    assert_eq!(
        client.add_participant(&second, ALICE, PROXY).await.status,
        201
    );
    let remaining: Vec<String> = emulator
        .conversation(&first)
        .unwrap()
        .participants
        .into_iter()
        .map(|p| p.address)
        .collect();
    assert_eq!(remaining, [BOB]);

    client
        .delete("/v1/Conversations/CH00000000000000000000000000000000/Participants/MB00000000000000000000000000000000")
        .await
        .assert_error(404, 20404);
    let ops: Vec<(Operation, u16)> = emulator
        .requests()
        .iter()
        .filter(|r| {
            matches!(
                r.operation,
                Operation::FetchParticipant | Operation::DeleteParticipant
            )
        })
        .map(|r| (r.operation, r.status))
        .collect();
    assert_eq!(
        ops,
        [
            (Operation::FetchParticipant, 200),
            (Operation::DeleteParticipant, 204),
            (Operation::FetchParticipant, 404),
            (Operation::DeleteParticipant, 404),
            (Operation::DeleteParticipant, 404),
        ]
    );
}

#[tokio::test]
async fn chat_participants_are_found_by_identity_and_closed_conversations_keep_theirs() {
    let (_emulator, client) = start().await;
    let sid = client.create_conversation(&[]).await;
    let chat = client
        .post(
            &format!("/v1/Conversations/{sid}/Participants"),
            &[("Identity", "agent-1")],
        )
        .await
        .json();
    let by_identity = client
        .get(&format!("/v1/Conversations/{sid}/Participants/agent-1"))
        .await;
    assert_eq!(by_identity.json()["sid"], chat["sid"]);
    let sms = client.add_participant(&sid, ALICE, PROXY).await.json();
    client
        .post(&format!("/v1/Conversations/{sid}"), &[("State", "closed")])
        .await;
    client
        .delete(&format!(
            "/v1/Conversations/{sid}/Participants/{}",
            sms["sid"].as_str().unwrap()
        ))
        .await
        .assert_error(409, 50377);
}
