//! A retry with the same `Idempotency-Key` while the first request is still
//! making the session. The emulator holds the first request's participant
//! add, so the order is forced, not hoped for.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::*;
use masked_comms::domain::roster::SessionRecord;
use masked_comms::handlers::sessions;
use serde_json::{json, Value};
use tokio::sync::Notify;
use twilio_emulator::{Emulator, Operation};

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const KEY: &str = "concurrent-1";

fn idempotent_create() -> lambda_http::Request {
    let mut req = operator_json("POST", "/sessions", &json!({ "addresses": [A, B] }));
    req.headers_mut()
        .insert("idempotency-key", KEY.parse().unwrap());
    req
}

fn addresses(session: &Value) -> BTreeSet<String> {
    session["participants"]
        .as_array()
        .map(|participants| {
            participants
                .iter()
                .filter_map(|p| p["messaging_binding"]["address"].as_str())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the session is half made in Twilio: the roster names both
/// participants, and only one of them has been added.
async fn half_made(emulator: &Emulator) {
    for _ in 0..1_000 {
        let conversations = emulator.conversations();
        if let [conversation] = conversations.as_slice() {
            let roster = SessionRecord::read(&conversation.attributes)
                .and_then(|r| r.roster)
                .map_or(0, |roster| roster.len());
            if roster == 2 && conversation.participants.len() == 1 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the first create never reached its half-made state");
}

/// While the first request waits for one participant add, its conversation
/// already carries the roster: a retry that reads it then must answer 409
/// (in progress), never 201 with part of the session. A retry whose read of
/// the participants lands once the first has finished answers 201 with the
/// whole session, the first one's.
///
/// (This once answered 201 with the one participant added so far.)
#[tokio::test]
async fn a_concurrent_replay_never_returns_a_half_made_session() {
    let h = Harness::start().await;
    let add = h.emulator.hold(Operation::CreateParticipant, 1);
    let first_answered = Notify::new();

    let (first, (during, after)) = tokio::join!(
        async {
            let answer = sessions::handle(&h.state, idempotent_create()).await;
            first_answered.notify_one();
            answer
        },
        async {
            add.arrived(1).await;
            half_made(&h.emulator).await;
            let during = sessions::handle(&h.state, idempotent_create()).await;

            // The next retry reads the conversation now, and its participants
            // only after the first request has answered.
            let list = h.emulator.hold(Operation::ListParticipants, 1);
            let retry = sessions::handle(&h.state, idempotent_create());
            let order = async {
                list.arrived(1).await;
                add.release();
                first_answered.notified().await;
                list.release();
            };
            let (after, ()) = tokio::join!(retry, order);
            (during, after)
        }
    );

    let first_body = body_json(&first);
    assert_eq!(first.status(), 201, "{first_body}");
    let both: BTreeSet<String> = [A, B].map(str::to_owned).into();
    assert_eq!(addresses(&first_body), both);

    let during_body = body_json(&during);
    assert_eq!(
        during.status(),
        409,
        "a retry during the create answered a half-made session: {during_body}"
    );
    assert_eq!(during_body["error"]["code"], "idempotency_in_progress");
    assert!(during.headers().contains_key("retry-after"));

    let after_body = body_json(&after);
    assert_eq!(after.status(), 201, "{after_body}");
    assert_eq!(
        after.headers().get("idempotent-replayed").unwrap(),
        "true",
        "the retry replays the first request's session"
    );
    assert_eq!(after_body["sid"], first_body["sid"]);
    assert_eq!(addresses(&after_body), both);
    assert_eq!(h.emulator.conversations().len(), 1);
}
