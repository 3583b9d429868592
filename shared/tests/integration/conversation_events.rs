//! POST /conversation-events against the Twilio emulator.

use crate::support::*;
use masked_comms::handlers::conversation_events;
use twilio_emulator::{Fault, Operation};

fn closed_event(sid: &str) -> Vec<(&str, &str)> {
    vec![
        ("EventType", "onConversationStateUpdated"),
        ("ConversationSid", sid),
        ("StateFrom", "active"),
        ("StateTo", "closed"),
        ("StateUpdated", "2026-11-27T12:00:00.000Z"),
        ("Reason", "API"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ]
}

async fn deliver(h: &Harness, params: &[(&str, &str)]) -> u16 {
    let req = signed_form(h.emulator.auth_token(), "/conversation-events", params);
    conversation_events::handle(&h.state, req)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn closed_conversations_are_deleted_idempotently() {
    let h = Harness::start().await;
    let sid = seed_closed(&h);
    assert_eq!(deliver(&h, &closed_event(&sid)).await, 200);
    assert!(h.emulator.conversation(&sid).is_none(), "deleted");
    assert_eq!(
        deliver(&h, &closed_event(&sid)).await,
        200,
        "a second delivery is fine"
    );
}

#[tokio::test]
async fn the_older_updated_event_also_counts() {
    let h = Harness::start().await;
    let sid = seed_closed(&h);
    let params = [
        ("EventType", "onConversationUpdated"),
        ("ConversationSid", sid.as_str()),
        ("State", "closed"),
        ("Attributes", "{}"),
    ];
    assert_eq!(deliver(&h, &params).await, 200);
    assert!(h.emulator.conversation(&sid).is_none());
}

#[tokio::test]
async fn other_events_do_nothing() {
    let h = Harness::start().await;
    let sid = seed_closed(&h);
    let mut params = closed_event(&sid);
    params[3] = ("StateTo", "inactive");
    assert_eq!(deliver(&h, &params).await, 200);
    assert_eq!(
        deliver(
            &h,
            &[("EventType", "onMessageAdded"), ("ConversationSid", &sid)]
        )
        .await,
        200
    );
    assert_eq!(h.requests_made(), 0);
    assert!(h.emulator.conversation(&sid).is_some());
}

#[tokio::test]
async fn keep_setting_keeps_closed_conversations() {
    let h = Harness::with(&POOL, &[("closed-conversations", "keep")]).await;
    let sid = seed_closed(&h);
    assert_eq!(deliver(&h, &closed_event(&sid)).await, 200);
    assert!(h.emulator.conversation(&sid).is_some());
    assert_eq!(h.requests_made(), 0);
}

#[tokio::test]
async fn forged_events_are_refused_without_twilio_requests() {
    let h = Harness::start().await;
    let sid = seed_closed(&h);
    let unsigned = form_request("/conversation-events", &closed_event(&sid), None);
    assert_eq!(
        conversation_events::handle(&h.state, unsigned)
            .await
            .status(),
        403
    );
    let forged = signed_form("guess", "/conversation-events", &closed_event(&sid));
    assert_eq!(
        conversation_events::handle(&h.state, forged).await.status(),
        403
    );
    assert_eq!(h.requests_made(), 0);
    assert!(h.emulator.conversation(&sid).is_some());
}

#[tokio::test]
async fn a_failed_delete_is_reported_and_can_be_redelivered() {
    let h = Harness::start().await;
    let sid = seed_closed(&h);
    h.emulator.inject(
        Operation::DeleteConversation,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        100,
    );
    assert_eq!(deliver(&h, &closed_event(&sid)).await, 503);
    h.emulator.clear_faults();
    assert_eq!(deliver(&h, &closed_event(&sid)).await, 200);
    assert!(h.emulator.conversation(&sid).is_none());
}

#[tokio::test]
async fn a_malformed_sid_is_400() {
    let h = Harness::start().await;
    assert_eq!(deliver(&h, &closed_event("../../etc")).await, 400);
    assert_eq!(h.requests_made(), 0);
}
