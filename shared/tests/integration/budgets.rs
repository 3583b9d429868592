//! The work after an answer: it shares its invocation's deadline, and an
//! execution environment whose receiver failed tries it again at most once
//! a minute (never after answering a call). Counts, not timings: every
//! instant is given.

use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use masked_comms::after_answer::{AfterAnswer, RECEIVER_RETRY_EVERY};
use masked_comms::config::Function;
use masked_comms::deferred::Job;
use masked_comms::events::{Event, EventType};
use serde_json::json;

use crate::support::*;

const SESSION: &str = "CH0123456789abcdef0123456789abcdef";

async fn harness(receiver: &Receiver) -> Harness {
    let config = receiver.config();
    let extra: Vec<(&str, &str)> = config.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Harness::with_index(&POOL, &extra).await.0
}

fn event(n: usize) -> Event {
    Event::new(
        EventType::SessionUpdated,
        SESSION,
        Some(&format!("test-{n}")),
        1_700_000_000,
        json!({}),
    )
}

/// An invocation of `function` that began `ago`.
fn began(function: Function, ago: Duration) -> AfterAnswer {
    AfterAnswer::of_invocation(function, Instant::now() - ago)
}

fn received_ids(receiver: &Receiver) -> std::collections::BTreeSet<String> {
    receiver
        .events()
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_failed_receiver_is_tried_at_most_once_a_minute_per_environment() {
    let receiver = Receiver::start().await;
    receiver.answer(503);
    let h = harness(&receiver).await;
    let t0 = Instant::now();

    // The first invocation tries (with its retries), fails, keeps the event.
    h.state.deferred.push(Job::Deliver(event(0)));
    h.state
        .after_answer_at(began(Function::Sessions, Duration::from_secs(11)), t0)
        .await;
    let tried = receiver.requests().len();
    assert!(tried >= 1, "the first invocation tried the receiver");

    // Five more invocations within the minute, each with an event of its
    // own and the outbox waiting: not one request.
    for n in 1..=5 {
        h.state.deferred.push(Job::Deliver(event(n)));
        h.state
            .after_answer_at(
                began(Function::Sessions, Duration::ZERO),
                t0 + Duration::from_secs(10 * n as u64),
            )
            .await;
    }
    assert_eq!(
        receiver.requests().len(),
        tried,
        "no delivery attempt within a minute of the failure"
    );

    // A minute on, the receiver is back: everything kept is delivered.
    receiver.answer(200);
    h.state
        .after_answer_at(
            began(Function::Sessions, Duration::ZERO),
            t0 + RECEIVER_RETRY_EVERY,
        )
        .await;
    let ids: std::collections::BTreeSet<String> = (0..=5).map(|n| event(n).id).collect();
    assert_eq!(received_ids(&receiver), ids, "nothing was lost meanwhile");
}

#[tokio::test]
async fn after_answer_work_ends_at_its_invocations_deadline() {
    let receiver = Receiver::start().await;
    let h = harness(&receiver).await;

    // The answer took 12 s of the invocation's 13: no time to deliver, only
    // to keep the event for later.
    h.state.deferred.push(Job::Deliver(event(0)));
    h.state
        .after_answer(began(Function::Sessions, Duration::from_secs(12)))
        .await;
    assert!(
        receiver.requests().is_empty(),
        "no delivery after the invocation's time: {} requests",
        receiver.requests().len()
    );

    // The next invocation, with time, delivers it.
    h.state
        .after_answer(began(Function::Sessions, Duration::ZERO))
        .await;
    assert_eq!(received_ids(&receiver), [event(0).id].into());
}

#[tokio::test]
async fn the_outbox_is_never_retried_after_answering_a_call() {
    let receiver = Receiver::start().await;
    let h = harness(&receiver).await;
    let requests = AtomicUsize::new(0);
    let kept = serde_json::to_string(&event(0)).unwrap();
    h.index()
        .for_invocation(&requests)
        .put_outbox(&kept, "000000000001#kept", 4_000_000_000)
        .await
        .unwrap();

    h.state
        .after_answer(began(Function::InboundCall, Duration::ZERO))
        .await;
    assert!(
        receiver.requests().is_empty(),
        "the inbound-call function left the outbox alone"
    );

    h.state
        .after_answer(began(Function::ConversationEvents, Duration::ZERO))
        .await;
    assert_eq!(received_ids(&receiver), [event(0).id].into());
}
