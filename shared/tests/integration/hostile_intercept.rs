//! The hostile corpus's intercept answers: a backend that answers too
//! much, not JSON, an unknown action, or nothing for 30 s. Each is a
//! failure that `intercept/on-error` decides, read no further than the
//! limit and waited for no longer than `intercept/timeout-ms`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use masked_comms::domain::intercept::MAX_ANSWER_BYTES;
use masked_comms::handlers::inbound_call;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::intercept::session;
use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";

/// How a hostile backend answers.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    /// These bytes, whole (status line and headers included).
    Raw(&'static str),
    /// A 200 with a declared length past the limit.
    DeclaredTooLong,
    /// A 200 without a length whose body never ends.
    Endless,
    /// Reads the question and says nothing for 30 s.
    Hang,
}

/// A backend on loopback answering every question as `how`; counts the
/// bytes of body it managed to send.
async fn hostile_backend(how: Hostile) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/intercept", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let sent = counter.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut buffer).await;
                match how {
                    Hostile::Raw(text) => {
                        let _ = socket.write_all(text.as_bytes()).await;
                    }
                    Hostile::DeclaredTooLong => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            MAX_ANSWER_BYTES + 1
                        );
                        let _ = socket.write_all(head.as_bytes()).await;
                        let _ = socket.write_all(br#"{"action": "allow"}"#).await;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    Hostile::Endless => {
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                        let _ = socket.write_all(head.as_bytes()).await;
                        let chunk = format!("{:x}\r\n{}\r\n", 4096, " ".repeat(4096));
                        // Until the reader hangs up (or 64 MiB).
                        for _ in 0..16 * 1024 {
                            if socket.write_all(chunk.as_bytes()).await.is_err() {
                                break;
                            }
                            sent.fetch_add(4096, Ordering::SeqCst);
                        }
                    }
                    Hostile::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    (url, sent)
}

fn ok_json(body: &'static str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_intercept_answers_are_failures_on_error_decides() {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let cases = [
        (
            "not JSON",
            Hostile::Raw(leak(ok_json("<html>allow</html>"))),
        ),
        (
            "unknown action",
            Hostile::Raw(leak(ok_json(r#"{"action": "rewrite", "body": "x"}"#))),
        ),
        ("no action", Hostile::Raw(leak(ok_json(r#"{"body": "x"}"#)))),
        (
            "an error status",
            Hostile::Raw(leak(
                ok_json(r#"{"action": "block"}"#).replace("200 OK", "500 Oops"),
            )),
        ),
        ("a declared length past the limit", Hostile::DeclaredTooLong),
        ("a body that never ends", Hostile::Endless),
        ("a 30 s hang", Hostile::Hang),
    ];
    for (name, how) in cases {
        for on_error in ["allow", "block"] {
            let (url, sent) = hostile_backend(how).await;
            let h = Harness::with(
                &POOL,
                &[
                    ("events/url", "http://127.0.0.1:9/unused"),
                    ("events/signing-secret", EVENTS_SECRET),
                    ("intercept/url", &url),
                    ("intercept/timeout-ms", "1000"),
                    ("intercept/on-error", on_error),
                ],
            )
            .await;
            let s = session(&h, &[A, B], None).await;
            h.state.metrics.take();
            let req = signed_form(
                h.emulator.auth_token(),
                "/inbound-call",
                &call_params(A, &proxy_of(&s, A)),
            );
            // The guard only keeps a broken build from hanging the suite.
            let response =
                tokio::time::timeout(Duration::from_secs(20), inbound_call::handle(&h.state, req))
                    .await
                    .unwrap_or_else(|_| panic!("{name}: the call was not answered"));
            let twiml = body_text(&response);
            match on_error {
                "allow" => assert!(twiml.contains("<Dial"), "{name}: {twiml}"),
                _ => assert!(
                    twiml.contains("<Hangup/>") && !twiml.contains("<Dial"),
                    "{name}: {twiml}"
                ),
            }
            let documents: Vec<Value> = h
                .state
                .metrics
                .take()
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(documents.len(), 1);
            assert_eq!(documents[0]["InterceptsFailed"], 1, "{name}");
            // An endless answer is not read (or held) past the limit: the
            // reader hangs up a few socket buffers after it.
            assert!(
                sent.load(Ordering::SeqCst) < 64 * 1024 * 1024,
                "{name}: read to the end"
            );
        }
    }
}
