//! One way to end a session, whoever ends it, and one change to a session at
//! a time: a closed session leaves nothing behind in Twilio or the index, a
//! close Twilio refuses forgets nothing, and two changes at once never undo
//! each other.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::Request;
use masked_comms::handlers::{inbound_call, sessions};
use serde_json::{json, Value};
use twilio_emulator::{ConversationState, Fault, Operation};

use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const C: &str = "+14155550103";

async fn send(h: &Harness, req: Request) -> (u16, Value) {
    let response = sessions::handle(&h.state, req).await;
    (response.status().as_u16(), body_json(&response))
}

fn operator(method: &str, path: &str) -> Request {
    request(method, path, None, "", Some(&basic(USERNAME, PASSWORD)))
}

async fn create(h: &Harness, body: Value) -> String {
    let (status, json) = send(h, operator_json("POST", "/sessions", &body)).await;
    assert_eq!(status, 201, "{json}");
    json["sid"].as_str().unwrap().to_owned()
}

/// The TwiML a call from `from` to `to` is answered with.
async fn call(h: &Harness, from: &str, to: &str) -> String {
    let req = signed_form(
        h.emulator.auth_token(),
        "/inbound-call",
        &call_params(from, to),
    );
    let response = inbound_call::handle(&h.state, req).await;
    assert_eq!(response.status(), 200);
    body_text(&response)
}

/// The items of the harness's table that are about a session: everything
/// but an address's number history (`ADDR#…/HOLDINGS` with no number held,
/// kept for sticky choice until its `expires_at`).
async fn item_count(h: &Harness) -> usize {
    let client = dynamodb_client(moto_url());
    let scan = client
        .scan()
        .table_name(h.index().table())
        .send()
        .await
        .unwrap();
    let text = |item: &std::collections::HashMap<String, AttributeValue>, name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    scan.items
        .unwrap_or_default()
        .into_iter()
        .filter(|item| {
            let history = text(item, "sk") == "HOLDINGS" && !item.contains_key("bound");
            if history {
                assert!(item.contains_key("expires_at"), "{item:?}");
            }
            !history
        })
        .count()
}

#[tokio::test]
async fn an_api_close_deletes_the_conversation_and_the_index_forgets_it() {
    let (h, _) = Harness::start_indexed().await;
    let sid = create(&h, json!({"addresses": [A, B]})).await;
    assert!(item_count(&h).await > 0);

    let (status, _) = send(&h, operator("DELETE", &format!("/sessions/{sid}"))).await;
    assert_eq!(status, 204);
    assert!(
        h.emulator.conversation(&sid).is_none(),
        "the conversation, with every real number and message, is gone from Twilio"
    );
    assert_eq!(item_count(&h).await, 0, "the index keeps nothing of it");
    let (status, _) = send(&h, operator("GET", &format!("/sessions/{sid}"))).await;
    assert_eq!(status, 404);
    let (status, _) = send(&h, operator("DELETE", &format!("/sessions/{sid}"))).await;
    assert_eq!(status, 404, "a second DELETE finds nothing to close");
    assert!(
        h.emulator.webhook_deliveries().is_empty(),
        "no webhook did the work"
    );
}

#[tokio::test]
async fn an_api_close_keeps_a_closed_conversation_when_configured_to() {
    let (h, _) = Harness::with_index(&POOL, &[("closed-conversations", "keep")]).await;
    let sid = create(&h, json!({"addresses": [A, B]})).await;
    let (status, _) = send(&h, operator("DELETE", &format!("/sessions/{sid}"))).await;
    assert_eq!(status, 204);
    assert_eq!(
        h.emulator.conversation(&sid).unwrap().state,
        ConversationState::Closed
    );
    assert_eq!(item_count(&h).await, 0);
    let (status, _) = send(&h, operator("DELETE", &format!("/sessions/{sid}"))).await;
    assert_eq!(status, 204, "closing a kept, closed session again is fine");
    let (status, json) = send(
        &h,
        operator_json(
            "PATCH",
            &format!("/sessions/{sid}"),
            &json!({"friendlyName": "x"}),
        ),
    )
    .await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (409, Some("session_closed")),
        "closed is final"
    );
}

#[tokio::test]
async fn a_patch_close_deletes_the_conversation_too() {
    for indexed in [true, false] {
        let h = match indexed {
            true => Harness::start_indexed().await.0,
            false => Harness::start().await,
        };
        let sid = create(&h, json!({"addresses": [A, B]})).await;
        let (status, json) = send(
            &h,
            operator_json(
                "PATCH",
                &format!("/sessions/{sid}"),
                &json!({"state": "closed", "friendlyName": "done"}),
            ),
        )
        .await;
        assert_eq!(status, 200, "{json}");
        assert_eq!(json["state"], "closed");
        assert_eq!(json["friendly_name"], "done");
        assert!(
            h.emulator.conversation(&sid).is_none(),
            "indexed: {indexed}"
        );
        if indexed {
            assert_eq!(item_count(&h).await, 0);
        }
    }
}

#[tokio::test]
async fn a_close_twilio_refuses_leaves_the_session_listed_routing_and_logged() {
    let (h, _) = Harness::start_indexed().await;
    let sid = create(&h, json!({"addresses": [A, B]})).await;
    let (_, read) = send(&h, operator("GET", &format!("/sessions/{sid}"))).await;
    let a_proxy = proxy_of(&read, A);
    assert!(call(&h, A, &a_proxy).await.contains(B));
    h.state.run_deferred().await;
    assert_eq!(logged(&h, &sid).await, 1);
    let items = item_count(&h).await;

    h.emulator.inject(
        Operation::UpdateConversation,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        20,
    );
    let (status, json) = send(&h, operator("DELETE", &format!("/sessions/{sid}"))).await;
    assert!(status >= 500, "{status}: {json}");
    h.emulator.clear_faults();

    assert_eq!(
        h.emulator.conversation(&sid).unwrap().state,
        ConversationState::Active
    );
    assert_eq!(item_count(&h).await, items, "the index forgot nothing");
    let (_, listed) = send(&h, operator("GET", "/sessions?address=%2B14155550101")).await;
    assert_eq!(listed["sessions"][0]["sid"], sid.as_str(), "{listed}");
    assert!(call(&h, A, &a_proxy).await.contains(B), "it still routes");
    assert_eq!(logged(&h, &sid).await, 1);

    // The retry finishes the job.
    let (status, _) = send(&h, operator("DELETE", &format!("/sessions/{sid}"))).await;
    assert_eq!(status, 204);
    assert!(h.emulator.conversation(&sid).is_none());
    assert_eq!(item_count(&h).await, 0);
}

/// How many calls the session's call log shows.
async fn logged(h: &Harness, sid: &str) -> usize {
    let path = format!("/sessions/{sid}/interactions");
    let (status, json) = send(h, operator("GET", &path)).await;
    assert_eq!(status, 200, "{json}");
    json["interactions"].as_array().unwrap().len()
}

/// Answers the next read of a conversation late (within the client's
/// attempt timeout, so it is not retried), so the change that made it is
/// overtaken by one that starts later ([`OVERTAKE_AFTER`]).
fn slow_next_read(h: &Harness) {
    h.emulator
        .inject(Operation::FetchConversation, Fault::Delay { ms: 700 }, 1);
}

const OVERTAKE_AFTER: Duration = Duration::from_millis(100);

async fn patch(h: &Harness, sid: &str, body: Value, after: Duration) -> (u16, Value) {
    tokio::time::sleep(after).await;
    send(
        h,
        operator_json("PATCH", &format!("/sessions/{sid}"), &body),
    )
    .await
}

#[tokio::test]
async fn two_changes_at_once_both_take_effect() {
    let (h, _) = Harness::start_indexed().await;
    let sid = create(&h, json!({"addresses": [A, B], "record": true})).await;
    slow_next_read(&h);
    let (renamed, stopped) = tokio::join!(
        patch(&h, &sid, json!({"friendlyName": "Order 8"}), Duration::ZERO),
        patch(&h, &sid, json!({"record": false}), OVERTAKE_AFTER),
    );
    assert_eq!(renamed.0, 200, "{}", renamed.1);
    // The second waited for the first, or was refused: never a silent undo.
    let (_, read) = send(&h, operator("GET", &format!("/sessions/{sid}"))).await;
    assert_eq!(read["friendly_name"], "Order 8");
    match stopped.0 {
        200 => assert_eq!(read["record"], false, "the operator's stop was kept"),
        409 => assert_eq!(stopped.1["error"]["code"], "session_busy"),
        other => panic!("{other}: {}", stopped.1),
    }
}

#[tokio::test]
async fn a_change_racing_a_participant_add_keeps_the_participant() {
    let (h, _) = Harness::start_indexed().await;
    let sid = create(&h, json!({"addresses": [A, B], "record": true})).await;
    slow_next_read(&h);
    let add = async {
        tokio::time::sleep(OVERTAKE_AFTER).await;
        send(
            &h,
            operator_json(
                "POST",
                &format!("/sessions/{sid}/participants"),
                &json!({"address": C}),
            ),
        )
        .await
    };
    let (changed, added) = tokio::join!(
        patch(&h, &sid, json!({"record": false}), Duration::ZERO),
        add
    );
    assert_eq!(changed.0, 200, "{}", changed.1);
    assert_eq!(added.0, 201, "{}", added.1);
    let (_, read) = send(&h, operator("GET", &format!("/sessions/{sid}"))).await;
    assert_eq!(read["record"], false);
    // Our record in Twilio still names the added participant.
    let attributes: Value =
        serde_json::from_str(&h.emulator.conversation(&sid).unwrap().attributes).unwrap();
    let rostered: Vec<&str> = attributes["masked_comms"]["roster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["address"].as_str().unwrap())
        .collect();
    assert_eq!(rostered, [A, B, C]);
    let c_proxy = proxy_of(&read, C);
    let twiml = call(&h, C, &c_proxy).await;
    assert!(
        twiml.contains("<Dial") && twiml.contains("<Conference"),
        "the added participant's call reaches the group: {twiml}"
    );
}

#[tokio::test]
async fn session_answers_show_the_callers_attributes_only() {
    let (h, _) = Harness::start_indexed().await;
    let (status, created) = send(
        &h,
        operator_json(
            "POST",
            "/sessions",
            &json!({"addresses": [A, B], "attributes": {"order": 7}}),
        ),
    )
    .await;
    assert_eq!(status, 201);
    let sid = created["sid"].as_str().unwrap();
    let (_, read) = send(&h, operator("GET", &format!("/sessions/{sid}"))).await;
    let (_, patched) = send(
        &h,
        operator_json(
            "PATCH",
            &format!("/sessions/{sid}"),
            &json!({"friendlyName": "x"}),
        ),
    )
    .await;
    for answer in [&created, &read, &patched] {
        let attributes: Value =
            serde_json::from_str(answer["attributes"].as_str().unwrap()).unwrap();
        assert_eq!(attributes, json!({"order": 7}), "{answer}");
    }
    assert_eq!(read["participants"].as_array().unwrap().len(), 2);
}
