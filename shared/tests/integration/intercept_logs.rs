//! The intercept's log lines, at every level: each ask says its outcome
//! and latency, and no line holds a text's body, a rewritten body, what a
//! blocked caller hears, or a full number.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use masked_comms::logging;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use crate::intercept::{pre_event_to_function, session, with_intercept};
use crate::support::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const BODY: &str = "my number is 4155550199, text me";
const REWRITTEN: &str = "my number is [removed by the marketplace], text me";
const SAY: &str = "Your courier cannot take calls right now";

/// Runs the flow alone in a child process (tracing caches per statement
/// whether it is wanted, for the whole process; see logs.rs).
#[test]
fn the_intercept_logs_its_outcome_and_never_a_body() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "intercept_logs::intercept_flow_in_a_process_of_its_own",
            "--include-ignored",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
#[ignore = "run alone by the_intercept_logs_its_outcome_and_never_a_body"]
async fn intercept_flow_in_a_process_of_its_own() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(captured.clone())
            .with_filter(logging::filter(LevelFilter::TRACE)),
    );
    let _guard = tracing::subscriber::set_default(subscriber);

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

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
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
