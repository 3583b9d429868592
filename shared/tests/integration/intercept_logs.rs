//! The intercept's log lines, at every level: each ask says its outcome
//! and latency, and no line holds a text's body, a rewritten body, what a
//! blocked caller hears, or a full number.

use std::sync::Arc;
use std::time::Duration;

use crate::intercept::{pre_event_to_function, session, with_intercept};
use crate::log_capture::{run_alone, Captured};
use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const BODY: &str = "my number is 4155550199, text me";
const REWRITTEN: &str = "my number is [removed by the marketplace], text me";
const SAY: &str = "Your courier cannot take calls right now";

/// Runs the flow alone in a child process ([`run_alone`] says why).
#[test]
fn the_intercept_logs_its_outcome_and_never_a_body() {
    run_alone("intercept_logs::intercept_flow_in_a_process_of_its_own");
}

#[tokio::test]
#[ignore = "run alone by the_intercept_logs_its_outcome_and_never_a_body"]
async fn intercept_flow_in_a_process_of_its_own() {
    let (captured, _guard) = Captured::start();

    let backend = Receiver::start().await;
    let h = Arc::new(with_intercept(&backend, &[("intercept/timeout-ms", "300")]).await);
    pre_event_to_function(&h).await;
    let s = session(&h, &[A, B], None).await;
    let proxy_a = proxy_of(&s, A);
    for answer in [
        r#"{"action": "block"}"#.to_owned(),
        format!(r#"{{"action": "allow", "body": "{REWRITTEN}"}}"#),
        r#"{"action": "allow"}"#.to_owned(),
        format!(r#"{{"action": "{BODY}"}}"#),
        "not json".to_owned(),
    ] {
        backend.reply_with(&answer, Duration::ZERO);
        h.emulator.send_message(A, &proxy_a, BODY).await.unwrap();
    }
    backend.reply_with(r#"{"action": "allow"}"#, Duration::from_secs(2));
    h.emulator.send_message(A, &proxy_a, BODY).await.unwrap();
    backend.reply_with(
        &format!(r#"{{"action": "block", "say": "{SAY}"}}"#),
        Duration::ZERO,
    );
    let req = signed_form(
        h.emulator.auth_token(),
        "/inbound-call",
        &call_params(A, &proxy_a),
    );
    let twiml = body_text(&masked_comms::handlers::inbound_call::handle(&h.state, req).await);
    assert!(twiml.contains(SAY), "{twiml}");
    assert_eq!(backend.requests().len(), 7);

    let logs = captured.text();
    for outcome in ["blocked", "rewritten", "allowed", "failed"] {
        assert!(
            logs.contains(&format!(r#""outcome":"{outcome}""#)),
            "{outcome} is logged:\n{logs}"
        );
    }
    assert!(logs.contains("latency_ms"), "{logs}");
    assert!(logs.contains("timed out"), "the failure's kind:\n{logs}");
    for secret in [
        BODY,
        REWRITTEN,
        SAY,
        "4155550199",
        "[removed",
        A,
        B,
        &proxy_a,
    ] {
        assert!(!logs.contains(secret), "log leaks {secret:?}:\n{logs}");
    }
}
