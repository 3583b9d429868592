//! The index is derived data: with its table unreachable (here, a table
//! that does not exist, which DynamoDB answers as it would a wrong
//! `SESSION_INDEX_TABLE`), a call still connects by paging Twilio, and a
//! create fails cleanly, leaving nothing in Twilio. Both are counted.

use masked_comms::handlers::{inbound_call, sessions};
use masked_comms::index::SessionIndex;
use serde_json::{json, Value};

use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";

/// Points the harness's functions at a table that does not exist, through
/// the same proxy (so its requests are still seen).
fn break_the_table(h: &mut Harness, proxy: &IndexProxy) {
    h.state.index = Some(SessionIndex::new(
        dynamodb_client(&proxy.url),
        "no-such-table",
    ));
}

/// The `IndexUnavailable` counts in the metrics documents written since the
/// last look.
fn unavailable_counted(h: &Harness) -> u64 {
    h.state
        .metrics
        .take()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|document| document["IndexUnavailable"].as_u64())
        .sum()
}

#[tokio::test]
async fn a_call_connects_with_the_index_table_unreachable() {
    let (mut h, proxy) = Harness::start_indexed().await;
    let created = sessions::handle(
        &h.state,
        operator_json("POST", "/sessions", &json!({ "addresses": [A, B] })),
    )
    .await;
    assert_eq!(status(&created), 201);
    let session = body_json(&created);
    break_the_table(&mut h, &proxy);
    h.state.metrics.take();
    proxy.clear();

    let answer = inbound_call::handle(
        &h.state,
        signed_form(
            h.emulator.auth_token(),
            "/inbound-call",
            &call_params(A, &proxy_of(&session, A)),
        ),
    )
    .await;

    let twiml = body_text(&answer);
    assert_eq!(status(&answer), 200);
    assert!(
        twiml.contains(&format!(r#"<Dial callerId="{}""#, proxy_of(&session, B)))
            && twiml.contains(&format!("<Number>{B}</Number>")),
        "the call is put through to the other participant: {twiml}"
    );
    assert!(
        proxy.operations().iter().any(|op| op == "GetItem"),
        "the index was asked first: {:?}",
        proxy.operations()
    );
    assert_eq!(
        unavailable_counted(&h),
        1,
        "the failed read is counted once"
    );
}

#[tokio::test]
async fn a_create_with_the_index_table_unreachable_answers_503_and_leaves_nothing() {
    let (mut h, proxy) = Harness::start_indexed().await;
    break_the_table(&mut h, &proxy);
    h.state.metrics.take();

    let answer = sessions::handle(
        &h.state,
        operator_json("POST", "/sessions", &json!({ "addresses": [A, B] })),
    )
    .await;

    assert_eq!(status(&answer), 503);
    let body = body_json(&answer);
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("try again"), "says to retry: {message}");
    assert!(
        h.emulator.conversations().is_empty(),
        "no half-made session is left in Twilio: {:?}",
        h.emulator.conversations()
    );
    assert_eq!(
        unavailable_counted(&h),
        1,
        "the failed read is counted once"
    );
}
