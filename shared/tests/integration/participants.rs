//! Changing a live session: participants added and removed, `PATCH`, and
//! what capabilities do to calls. With the index unless a test says so.

use std::collections::BTreeSet;

use masked_comms::handlers::{inbound_call, sessions};
use serde_json::{json, Value};
use twilio_emulator::{ConversationSeed, Operation};

use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const C: &str = "+14155550103";

async fn call(h: &Harness, from: &str, to: &str) -> String {
    let req = signed_form(
        h.emulator.auth_token(),
        "/inbound-call",
        &call_params(from, to),
    );
    body_text(&inbound_call::handle(&h.state, req).await)
}

fn roster_of(h: &Harness, sid: &str) -> BTreeSet<(String, String)> {
    let attributes = h.emulator.conversation(sid).unwrap().attributes;
    let record = masked_comms::domain::roster::SessionRecord::read(&attributes).unwrap();
    record
        .roster
        .unwrap()
        .into_iter()
        .map(|e| (e.address, e.proxy))
        .collect()
}

fn twilio_participants(h: &Harness, sid: &str) -> BTreeSet<(String, String)> {
    h.emulator
        .conversation(sid)
        .unwrap()
        .participants
        .into_iter()
        .map(|p| (p.address, p.proxy_address))
        .collect()
}

#[tokio::test]
async fn a_participant_added_to_a_one_to_one_session_turns_the_next_call_into_a_conference() {
    let (h, _index) = Harness::start_indexed().await;
    let session = created_session(&h, json!({"addresses": [A, B]})).await;
    let sid = session["sid"].as_str().unwrap();
    let before = call(&h, A, &proxy_of(&session, A)).await;
    assert!(
        before.contains(&format!("<Number>{B}</Number>")),
        "{before}"
    );

    let (status, added) = session_api(
        &h,
        "POST",
        &format!("/sessions/{sid}/participants"),
        Some(json!({"address": C})),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    assert!(added["sid"].as_str().unwrap().starts_with("MB"));
    assert_eq!(added["messaging_binding"]["address"], C);
    let proxy = added["messaging_binding"]["proxy_address"]
        .as_str()
        .unwrap();
    assert!(POOL.contains(&proxy));
    assert_eq!(
        roster_of(&h, sid),
        twilio_participants(&h, sid),
        "the roster says who is in it"
    );

    let after = call(&h, A, &proxy_of(&session, A)).await;
    assert!(after.contains("<Conference"), "{after}");
    let rung: BTreeSet<String> = h.emulator.calls().into_iter().map(|c| c.to).collect();
    assert_eq!(rung, BTreeSet::from([B.to_owned(), C.to_owned()]));
}

#[tokio::test]
async fn a_form_body_adds_a_participant_too_and_the_index_has_them() {
    let (h, _index) = Harness::start_indexed().await;
    let session = created_session(&h, json!({"addresses": [A]})).await;
    let sid = session["sid"].as_str().unwrap();
    let req = request(
        "POST",
        &format!("/sessions/{sid}/participants"),
        Some("application/x-www-form-urlencoded"),
        "address=%2B14155550103",
        Some(&basic(USERNAME, PASSWORD)),
    );
    let response = sessions::handle(&h.state, req).await;
    assert_eq!(response.status(), 201, "{}", body_text(&response));
    // The index routes C's calls at once.
    let added = body_json(&response);
    let proxy = added["messaging_binding"]["proxy_address"]
        .as_str()
        .unwrap();
    let twiml = call(&h, C, proxy).await;
    assert!(twiml.contains(&format!("<Number>{A}</Number>")), "{twiml}");
}

#[tokio::test]
async fn a_removed_participants_call_to_their_old_proxy_is_out_of_session_and_the_number_is_free_again(
) {
    let (h, _index) = Harness::with_index(&POOL[..1], &[]).await;
    let session = created_session(&h, json!({"addresses": [A, B]})).await;
    let sid = session["sid"].as_str().unwrap();
    let participant = session["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["messaging_binding"]["address"] == B)
        .unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, body) = session_api(
        &h,
        "DELETE",
        &format!("/sessions/{sid}/participants/{participant}"),
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(roster_of(&h, sid), twilio_participants(&h, sid));
    let twiml = call(&h, B, POOL[0]).await;
    assert!(!twiml.contains("<Dial"), "{twiml}");
    assert!(twiml.contains("not connected"), "{twiml}");
    // The one pool number is B's again for a new session.
    let again = created_session(&h, json!({"addresses": [B]})).await;
    assert_eq!(proxy_of(&again, B), POOL[0]);
    // Removing again: the participant is gone.
    let (status, _) = session_api(
        &h,
        "DELETE",
        &format!("/sessions/{sid}/participants/{participant}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn adding_follows_creates_rules_and_limits() {
    let (h, _index) = Harness::start_indexed().await;
    let session = created_session(&h, json!({"addresses": [A]})).await;
    let sid = session["sid"].as_str().unwrap();
    let path = format!("/sessions/{sid}/participants");
    let cases = [
        (json!({"address": A}), 409, "participant_exists"),
        (json!({"address": POOL[1]}), 400, "invalid_request"),
        (json!({"address": "not a number"}), 400, "invalid_request"),
        (json!({}), 400, "invalid_request"),
        (json!({"address": B, "extra": 1}), 400, "invalid_request"),
    ];
    for (body, status, code) in cases {
        let (got, answer) = session_api(&h, "POST", &path, Some(body.clone())).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str().unwrap()),
            (status, code),
            "{body}"
        );
    }
    let unknown = "/sessions/CH0123456789abcdef0123456789abcdef/participants";
    assert_eq!(
        session_api(&h, "POST", unknown, Some(json!({"address": B})))
            .await
            .0,
        404
    );

    // Closed: final. (Closed and kept: 409; closed and deleted: 404.)
    session_api(&h, "DELETE", &format!("/sessions/{sid}"), None).await;
    let (status, body) = session_api(&h, "POST", &path, Some(json!({"address": B}))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn a_session_holds_fifty_participants_at_most() {
    let pool: Vec<String> = (0..3).map(|i| format!("+1500555{i:04}")).collect();
    let pool: Vec<&str> = pool.iter().map(String::as_str).collect();
    let h = Harness::with(&pool, &[]).await;
    let fifty: Vec<String> = (0..50).map(|i| format!("+1415777{i:04}")).collect();
    let session = created_session(&h, json!({"addresses": fifty})).await;
    let sid = session["sid"].as_str().unwrap();
    let (status, body) = session_api(
        &h,
        "POST",
        &format!("/sessions/{sid}/participants"),
        Some(json!({"address": A})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("session_full"))
    );
}

#[tokio::test]
async fn an_added_participant_loses_a_race_for_a_number_and_gets_the_next() {
    let (h, _index) = Harness::start_indexed().await;
    let session = created_session(&h, json!({"addresses": [A]})).await;
    let sid = session["sid"].as_str().unwrap();
    // C's first choice is taken by a session the index does not know of
    // yet, as by a concurrent create.
    let rival = created_session(&h, json!({"addresses": [C, B]})).await;
    let taken = proxy_of(&rival, C);
    // The index does not know of the rival (as if it were mid-create).
    let count = std::sync::atomic::AtomicUsize::new(0);
    h.index()
        .for_invocation(&count)
        .release(C, std::slice::from_ref(&taken))
        .await
        .unwrap();

    let (status, added) = session_api(
        &h,
        "POST",
        &format!("/sessions/{sid}/participants"),
        Some(json!({"address": C})),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    assert_ne!(added["messaging_binding"]["proxy_address"], taken.as_str());
    let lost = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::CreateParticipant && r.status == 409)
        .count();
    assert_eq!(lost, 1, "Twilio's pair rule decided");
    assert_eq!(roster_of(&h, sid), twilio_participants(&h, sid));
    // The index learnt what Twilio said: C holds the rival's number too.
    let count = std::sync::atomic::AtomicUsize::new(0);
    let held = h.index().for_invocation(&count).address(C).await.unwrap();
    assert!(held.bound.contains(&taken), "{:?}", held.bound);
}

#[tokio::test]
async fn a_patch_changes_what_it_names_and_keeps_our_record() {
    let (h, _index) = Harness::start_indexed().await;
    let session = created_session(
        &h,
        json!({"addresses": [A, B], "friendlyName": "Order 1", "attributes": {"order": 1, "note": "x"}}),
    )
    .await;
    let sid = session["sid"].as_str().unwrap();
    let (status, patched) = session_api(
        &h,
        "PATCH",
        &format!("/sessions/{sid}"),
        Some(json!({
            "friendlyName": "Order 1, picked up",
            "attributes": {"note": null, "stage": "picked up"},
            "timers": {"closed": "P2D"},
            "capabilities": ["message"],
        })),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["friendly_name"], "Order 1, picked up");
    assert_eq!(patched["capabilities"], json!(["message"]));
    assert_eq!(patched["participants"].as_array().unwrap().len(), 2);
    let attributes: Value = serde_json::from_str(patched["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(attributes["order"], 1);
    assert_eq!(attributes["stage"], "picked up");
    assert!(attributes.get("note").is_none());
    assert!(
        attributes.get("masked_comms").is_none(),
        "the answer shows the caller's attributes only"
    );
    // Our record stays in Twilio, roster and all.
    let stored: Value =
        serde_json::from_str(&h.emulator.conversation(sid).unwrap().attributes).unwrap();
    assert_eq!(
        stored["masked_comms"]["roster"].as_array().unwrap().len(),
        2
    );
    assert_eq!(stored["stage"], "picked up");

    // Message only now: a call is not dialled.
    let twiml = call(&h, A, &proxy_of(&session, A)).await;
    assert!(!twiml.contains("<Dial"), "{twiml}");
    assert!(twiml.contains("messages only"), "{twiml}");
    assert!(h.emulator.calls().is_empty());

    // state: closed closes it, and it is final.
    let (status, closed) = session_api(
        &h,
        "PATCH",
        &format!("/sessions/{sid}"),
        Some(json!({"state": "closed"})),
    )
    .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["state"], "closed");
    assert!(h.emulator.conversation(sid).is_none(), "closed and deleted");
    let (status, again) = session_api(
        &h,
        "PATCH",
        &format!("/sessions/{sid}"),
        Some(json!({"friendlyName": "x"})),
    )
    .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn a_patch_is_validated_like_a_create() {
    let h = Harness::start().await;
    let session = created_session(&h, json!({"addresses": [A]})).await;
    let path = format!("/sessions/{}", session["sid"].as_str().unwrap());
    let before = h.emulator.requests().len();
    for (body, field) in [
        (json!({}), "body"),
        (json!({"attributes": {"masked_comms": {}}}), "attributes"),
        (json!({"attributes": [1]}), "attributes"),
        (json!({"timers": {"inactive": "PT10S"}}), "timers.inactive"),
        (json!({"capabilities": []}), "capabilities"),
        (json!({"state": "active"}), "state"),
        (json!({"friendlyName": "\u{0}"}), "friendlyName"),
        (json!({"sid": "CHx"}), "body"),
    ] {
        let (status, answer) = session_api(&h, "PATCH", &path, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}");
    }
    let reads = h.emulator.requests().len() - before;
    let updates = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::UpdateConversation)
        .count();
    assert_eq!(
        updates, 1,
        "only the create's roster write: no invalid patch reached Twilio ({reads} reads)"
    );
    // Not JSON: refused before anything.
    let form = request(
        "PATCH",
        &path,
        Some("application/x-www-form-urlencoded"),
        "friendlyName=x",
        Some(&basic(USERNAME, PASSWORD)),
    );
    assert_eq!(sessions::handle(&h.state, form).await.status(), 415);
}

#[tokio::test]
async fn another_apps_conversation_cannot_be_changed_through_the_api() {
    let h = Harness::start().await;
    let foreign = h
        .emulator
        .seed_conversation(ConversationSeed {
            attributes: Some(r#"{"theirs": true}"#.into()),
            bindings: vec![(A.into(), POOL[0].into())],
            ..Default::default()
        })
        .unwrap();
    let (status, _) = session_api(
        &h,
        "PATCH",
        &format!("/sessions/{foreign}"),
        Some(json!({"friendlyName": "x"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = session_api(
        &h,
        "POST",
        &format!("/sessions/{foreign}/participants"),
        Some(json!({"address": B})),
    )
    .await;
    assert_eq!(status, 404);
    let conversation = h.emulator.conversation(&foreign).unwrap();
    assert_eq!(conversation.participants.len(), 1);
    assert!(conversation.friendly_name.is_none());
}

#[tokio::test]
async fn capabilities_and_recording_are_set_at_create() {
    let (h, _index) = Harness::start_indexed().await;
    let session = created_session(
        &h,
        json!({"addresses": [A, B], "capabilities": ["voice"], "record": true}),
    )
    .await;
    assert_eq!(session["capabilities"], json!(["voice"]));
    assert_eq!(session["record"], true);
    let plain = created_session(&h, json!({"addresses": [C]})).await;
    assert_eq!(plain["capabilities"], json!(["voice", "message"]));
    assert_eq!(plain["record"], false);
}

#[tokio::test]
async fn recording_is_refused_without_the_index_which_deletes_recordings() {
    let h = Harness::start().await;
    let (status, body) = session_api(
        &h,
        "POST",
        "/sessions",
        Some(json!({"addresses": [A, B], "record": true})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("index_required"))
    );
    assert_eq!(h.requests_made(), 0, "refused before Twilio");
    let session = created_session(&h, json!({"addresses": [A, B]})).await;
    let sid = session["sid"].as_str().unwrap();
    let (status, body) = session_api(
        &h,
        "PATCH",
        &format!("/sessions/{sid}"),
        Some(json!({"record": true})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("index_required"))
    );
    let (status, _) = session_api(
        &h,
        "PATCH",
        &format!("/sessions/{sid}"),
        Some(json!({"record": false})),
    )
    .await;
    assert_eq!(status, 200, "turning it off needs nothing");
}
