//! The intercept: the operator's backend allows, blocks or rewrites each
//! text (Twilio's `onMessageAdd` pre-event, played by the emulator against
//! the conversation-events function) and each call in a session, before
//! it is delivered; a backend that fails or is too slow leaves it to
//! `intercept/on-error`.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::http::Request as HttpRequest;
use lambda_http::Body;
use masked_comms::handlers::{conversation_events, inbound_call, sessions};
use serde_json::{json, Value};
use twilio_emulator::{Operation, TextOutcome};

use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const C: &str = "+14155550103";

/// A harness whose intercept is `backend`, with these extra settings.
pub(crate) async fn with_intercept(backend: &Receiver, extra: &[(&str, &str)]) -> Harness {
    let mut config: Vec<(&str, &str)> = vec![
        ("events/url", "http://127.0.0.1:9/unused"),
        ("events/signing-secret", EVENTS_SECRET),
        ("intercept/url", &backend.url),
    ];
    config.extend_from_slice(extra);
    Harness::with(&POOL, &config).await
}

pub(crate) async fn session(
    h: &Harness,
    addresses: &[&str],
    capabilities: Option<&[&str]>,
) -> Value {
    let mut body = json!({ "addresses": addresses });
    if let Some(capabilities) = capabilities {
        body["capabilities"] = json!(capabilities);
    }
    let response = sessions::handle(&h.state, operator_json("POST", "/sessions", &body)).await;
    assert_eq!(response.status(), 201, "{}", body_text(&response));
    body_json(&response)
}

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

/// The backend's questions so far, as JSON.
fn questions(backend: &Receiver) -> Vec<Value> {
    backend
        .requests()
        .iter()
        .map(|r| serde_json::from_str(&r.body).expect("a question is JSON"))
        .collect()
}

/// The metrics documents written since the last call.
fn documents(h: &Harness) -> Vec<Value> {
    h.state
        .metrics
        .take()
        .iter()
        .map(|line| serde_json::from_str(line).expect("a document is JSON"))
        .collect()
}

/// Serves the conversation-events function on loopback, as API Gateway
/// would, and points the emulator's Conversations pre-event
/// (`onMessageAdd`) at it.
pub(crate) async fn pre_event_to_function(h: &Arc<Harness>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/conversation-events",
        listener.local_addr().unwrap()
    );
    let harness = h.clone();
    let app =
        axum::Router::new().fallback(move |request: axum::http::Request<axum::body::Body>| {
            let harness = harness.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let mut builder = HttpRequest::builder()
                    .method(parts.method.as_str())
                    .uri(parts.uri.to_string())
                    .header("x-forwarded-proto", "http");
                for (name, value) in &parts.headers {
                    builder = builder.header(name.as_str(), value.as_bytes());
                }
                let req = builder
                    .body(Body::Text(String::from_utf8_lossy(&body).into_owned()))
                    .unwrap();
                let response = conversation_events::handle(&harness.state, req).await;
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("text/plain")
                    .to_owned();
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [(axum::http::header::CONTENT_TYPE, content_type)],
                    response.body().to_vec(),
                )
            }
        });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/v1/Configuration/Webhooks",
            h.emulator.base_url()
        ))
        .basic_auth(h.emulator.account_sid(), Some(h.emulator.auth_token()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("PreWebhookUrl", url.as_str()),
                    ("Filters", "onMessageAdd"),
                    ("Method", "POST"),
                ])
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

/// What became of a text: `Some(body)` as published, `None` if rejected.
fn published(outcome: &TextOutcome) -> Option<&str> {
    match outcome {
        TextOutcome::Added { body, .. } => Some(body),
        TextOutcome::Rejected { status, .. } => {
            assert_eq!(*status, 403);
            None
        }
        other => panic!("the text was not taken by its conversation: {other:?}"),
    }
}

#[tokio::test]
async fn the_backend_blocks_rewrites_or_allows_a_text_before_twilio_publishes_it() {
    let backend = Receiver::start().await;
    let h = Arc::new(with_intercept(&backend, &[]).await);
    pre_event_to_function(&h).await;
    let s = session(&h, &[A, B], None).await;
    let sid = s["sid"].as_str().unwrap();
    let (proxy_a, proxy_b) = (proxy_of(&s, A), proxy_of(&s, B));

    backend.reply_with(r#"{"action": "block"}"#, Duration::ZERO);
    let outcome = h
        .emulator
        .send_message(A, &proxy_a, "call me on 555 0100")
        .await
        .unwrap();
    assert_eq!(
        published(&outcome),
        None,
        "blocked: Twilio publishes nothing"
    );
    assert!(h.emulator.conversation(sid).unwrap().messages.is_empty());
    assert!(h.emulator.text_deliveries().is_empty());
    assert_eq!(
        questions(&backend),
        [json!({
            "type": "message",
            "session": sid,
            "from": {"participant": A, "proxy": proxy_a},
            "to": [{"participant": B, "proxy": proxy_b}],
            "body": "call me on 555 0100",
        })]
    );

    backend.reply_with(
        r#"{"action": "allow", "body": "call me on [number removed]"}"#,
        Duration::ZERO,
    );
    let outcome = h
        .emulator
        .send_message(A, &proxy_a, "call me on 555 0100")
        .await
        .unwrap();
    assert_eq!(published(&outcome), Some("call me on [number removed]"));
    let deliveries = h.emulator.text_deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        (
            deliveries[0].to.as_str(),
            deliveries[0].from.as_str(),
            deliveries[0].body.as_str()
        ),
        (B, proxy_b.as_str(), "call me on [number removed]")
    );

    backend.reply_with(r#"{"action": "allow"}"#, Duration::ZERO);
    let outcome = h
        .emulator
        .send_message(B, &proxy_b, "see you at 5")
        .await
        .unwrap();
    assert_eq!(published(&outcome), Some("see you at 5"));
    let asked = questions(&backend);
    assert_eq!(asked.len(), 3, "one question per text");
    assert_eq!(
        asked[2]["from"],
        json!({"participant": B, "proxy": proxy_b})
    );
    assert_eq!(
        asked[2]["to"],
        json!([{"participant": A, "proxy": proxy_a}])
    );
    assert_eq!(h.emulator.conversation(sid).unwrap().messages.len(), 2);

    // A voice-only session refuses a text first: the backend is not asked.
    let voice_only = session(&h, &[A, C], Some(&["voice"])).await;
    let outcome = h
        .emulator
        .send_message(C, &proxy_of(&voice_only, C), "hello")
        .await
        .unwrap();
    assert_eq!(published(&outcome), None);
    assert_eq!(
        backend.requests().len(),
        3,
        "no question for a refused text"
    );
}

#[tokio::test]
async fn the_backend_blocks_or_allows_a_one_to_one_call_at_no_extra_twilio_request() {
    let backend = Receiver::start().await;
    let h = with_intercept(&backend, &[]).await;
    let s = session(&h, &[A, B], None).await;
    let sid = s["sid"].as_str().unwrap();
    let (proxy_a, proxy_b) = (proxy_of(&s, A), proxy_of(&s, B));

    h.emulator.clear_requests();
    backend.reply_with(
        r#"{"action": "block", "say": "This line is closed."}"#,
        Duration::ZERO,
    );
    let twiml = call(&h, A, &proxy_a).await;
    assert!(
        twiml.contains("<Say>This line is closed.</Say><Hangup/>"),
        "{twiml}"
    );
    assert!(!twiml.contains("<Dial"), "{twiml}");
    assert_eq!(h.requests_made(), 1, "the session lookup, nothing more");
    assert_eq!(
        questions(&backend),
        [json!({
            "type": "call",
            "session": sid,
            "from": {"participant": A, "proxy": proxy_a},
            "to": [{"participant": B, "proxy": proxy_b}],
        })]
    );
    let metrics = documents(&h);
    let last = metrics.last().unwrap();
    assert_eq!(last["Outcome"], "Blocked");
    assert_eq!(last["InterceptsBlocked"], 1);
    assert!(last["InterceptLatency"].as_f64().is_some(), "{last}");

    h.emulator.clear_requests();
    backend.reply_with(r#"{"action": "allow"}"#, Duration::ZERO);
    let twiml = call(&h, A, &proxy_a).await;
    assert!(
        twiml.contains(&format!(r#"<Dial callerId="{proxy_b}""#))
            && twiml.contains(&format!("<Number>{B}</Number></Dial>")),
        "{twiml}"
    );
    assert_eq!(
        h.requests_made(),
        1,
        "the same one Twilio request as without an intercept"
    );
    assert_eq!(backend.requests().len(), 2);
    let metrics = documents(&h);
    assert_eq!(metrics.last().unwrap()["InterceptsAllowed"], 1);
}

#[tokio::test]
async fn a_blocked_group_call_rings_nobody_and_an_allowed_one_rings_everyone() {
    let backend = Receiver::start().await;
    let h = with_intercept(
        &backend,
        &[(
            "intercept/blocked-call-say",
            "Calls are closed for this order.",
        )],
    )
    .await;
    let s = session(&h, &[A, B, C], None).await;

    backend.reply_with(r#"{"action": "block"}"#, Duration::ZERO);
    let twiml = call(&h, A, &proxy_of(&s, A)).await;
    assert!(
        twiml.contains("<Say>Calls are closed for this order.</Say><Hangup/>"),
        "the configured text: {twiml}"
    );
    assert!(!twiml.contains("<Conference"), "{twiml}");
    assert!(h.emulator.calls().is_empty(), "nobody was rung");
    let asked = questions(&backend);
    let mut to: Vec<String> = asked[0]["to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["participant"].as_str().unwrap().to_owned())
        .collect();
    to.sort();
    assert_eq!(to, [B, C]);

    // Another call (Twilio's CallSid differs): allowed, both rung.
    backend.reply_with(r#"{"action": "allow"}"#, Duration::ZERO);
    let proxy_a = proxy_of(&s, A);
    let mut params = call_params(A, &proxy_a);
    let other_call = "CA0123456789abcdef0123456789abcd99";
    params.retain(|(k, _)| *k != "CallSid");
    params.push(("CallSid", other_call));
    let req = signed_form(h.emulator.auth_token(), "/inbound-call", &params);
    let twiml = body_text(&inbound_call::handle(&h.state, req).await);
    assert!(twiml.contains("<Conference"), "{twiml}");
    let mut rung: Vec<String> = h.emulator.calls().iter().map(|c| c.to.clone()).collect();
    rung.sort();
    assert_eq!(rung, [B, C]);
    assert_eq!(backend.requests().len(), 2);
}

#[tokio::test]
async fn a_backend_slower_than_the_timeout_leaves_it_to_on_error() {
    for on_error in ["allow", "block"] {
        let backend = Receiver::start().await;
        backend.reply_with(r#"{"action": "block"}"#, Duration::from_millis(1_500));
        let h = Arc::new(
            with_intercept(
                &backend,
                &[
                    ("intercept/timeout-ms", "200"),
                    ("intercept/on-error", on_error),
                ],
            )
            .await,
        );
        pre_event_to_function(&h).await;
        let s = session(&h, &[A, B], None).await;

        let twiml = call(&h, A, &proxy_of(&s, A)).await;
        let outcome = h
            .emulator
            .send_message(A, &proxy_of(&s, A), "hi")
            .await
            .unwrap();
        match on_error {
            "allow" => {
                assert!(twiml.contains("<Dial"), "{twiml}");
                assert_eq!(published(&outcome), Some("hi"));
            }
            _ => {
                assert!(
                    twiml.contains(
                        "<Say>Sorry, this call cannot be connected. Goodbye.</Say><Hangup/>"
                    ),
                    "{twiml}"
                );
                assert_eq!(published(&outcome), None);
            }
        }
        assert_eq!(backend.requests().len(), 2, "{on_error}: asked once each");
        let failed: u64 = documents(&h)
            .iter()
            .filter_map(|d| d["InterceptsFailed"].as_u64())
            .sum();
        assert_eq!(failed, 2, "{on_error}");
    }
}

#[tokio::test]
async fn the_question_is_signed_like_the_events_and_verifies() {
    let backend = Receiver::start().await;
    backend.reply_with(r#"{"action": "allow"}"#, Duration::ZERO);
    let h = with_intercept(&backend, &[]).await;
    let s = session(&h, &[A, B], None).await;
    call(&h, A, &proxy_of(&s, A)).await;
    call(&h, A, &proxy_of(&s, A)).await;
    let asked = backend.requests();
    assert_eq!(asked.len(), 2);
    for question in &asked {
        let headers = &question.headers;
        assert_eq!(headers["x-masked-comms-event"], "intercept");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(
            headers["x-masked-comms-signature"],
            event_signature(&headers["x-masked-comms-timestamp"], &question.body)
        );
    }
    // The docs' own Python verifier (docs/api.md, Event callbacks) accepts
    // it, and refuses it with a changed body.
    let verdicts = verify_with_the_docs_python(&asked[0]);
    assert_eq!(verdicts, "True False", "the docs' snippet");
    // Twilio's retry of the same call is the same question.
    assert_eq!(
        asked[0].headers["x-masked-comms-event-id"],
        asked[1].headers["x-masked-comms-event-id"]
    );
    assert_eq!(
        h.emulator
            .requests()
            .iter()
            .filter(|r| r.operation == Operation::CreateCall)
            .count(),
        0
    );
}

/// Runs the Python `verify` of docs/api.md's event callbacks on `question`
/// as received, then on the same with one byte of the body changed.
fn verify_with_the_docs_python(question: &Received) -> String {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md"))
        .expect("docs/api.md");
    let events = &docs[docs.find("## Event callbacks").expect("the section")..];
    let start = events.find("```python\n").expect("a Python snippet") + "```python\n".len();
    let snippet = &events[start..start + events[start..].find("```").unwrap()];
    let headers: serde_json::Map<String, Value> =
        ["X-Masked-Comms-Timestamp", "X-Masked-Comms-Signature"]
            .iter()
            .map(|name| {
                (
                    name.to_string(),
                    json!(question.headers[&name.to_ascii_lowercase()]),
                )
            })
            .collect();
    let program = format!(
        "{snippet}\nimport json, sys\nheaders = json.loads(sys.argv[1])\nbody = sys.argv[2].encode()\n\
         print(verify(sys.argv[3], headers, body), verify(sys.argv[3], headers, body.replace(b'call', b'CALL')))\n"
    );
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            &program,
            &Value::Object(headers).to_string(),
            &question.body,
            EVENTS_SECRET,
        ])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test]
async fn the_intercept_needs_the_events_secret_and_an_https_url() {
    use masked_comms::config::RawConfig;
    let base = [
        ("twilio/account-sid", "AC0123456789abcdef0123456789abcdef"),
        ("twilio/auth-token", "token"),
        ("number-pool", "+15005550001"),
        ("auth/username", "u"),
        ("auth/password", PASSWORD),
    ];
    let parse = |extra: &[(&str, &str)], local: bool| {
        RawConfig::from_ssm(
            base.iter()
                .chain(extra)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .running_locally(local)
        .parse()
        .map(|c| c.intercept)
        .map_err(|e| e.to_string())
    };
    let events = [
        ("events/url", "https://backend.example.com/events"),
        ("events/signing-secret", EVENTS_SECRET),
    ];
    let with = |more: &[(&'static str, &'static str)]| {
        let mut all = events.to_vec();
        all.extend_from_slice(more);
        all
    };
    let err = parse(&[("intercept/url", "https://backend.example.com/i")], false).unwrap_err();
    assert!(err.contains("events/signing-secret"), "{err}");
    let settings = parse(
        &with(&[("intercept/url", "https://backend.example.com/i")]),
        false,
    )
    .unwrap()
    .unwrap();
    assert_eq!(settings.timeout, Duration::from_millis(1_500));
    assert_eq!(
        settings.on_error,
        masked_comms::domain::intercept::OnError::Allow
    );
    assert_eq!(
        parse(&with(&[]), false).unwrap(),
        None,
        "no URL, no intercept"
    );
    for (extra, key) in [
        (
            ("intercept/url", "http://backend.example.com/i"),
            "intercept/url",
        ),
        (("intercept/url", "http://127.0.0.1:9/i"), "intercept/url"),
        (("intercept/timeout-ms", "4001"), "intercept/timeout-ms"),
        (("intercept/timeout-ms", "0"), "intercept/timeout-ms"),
        (("intercept/timeout-ms", "1.5s"), "intercept/timeout-ms"),
        (("intercept/on-error", "deny"), "intercept/on-error"),
    ] {
        let mut all = with(&[("intercept/url", "https://backend.example.com/i")]);
        all.retain(|(k, _)| *k != extra.0);
        all.push(extra);
        let err = parse(&all, false).unwrap_err();
        assert!(err.contains(key), "{extra:?}: {err}");
        if extra.1.len() > 4 {
            assert!(!err.contains(extra.1), "the value is not repeated: {err}");
        }
    }
    let local = parse(&with(&[("intercept/url", "http://127.0.0.1:9/i")]), true).unwrap();
    assert!(local.is_some(), "loopback http in local runs");
    let longest = parse(
        &with(&[
            ("intercept/url", "https://b.example/i"),
            ("intercept/timeout-ms", "4000"),
            ("intercept/on-error", "block"),
        ]),
        false,
    )
    .unwrap()
    .unwrap();
    assert_eq!(longest.timeout, Duration::from_millis(4_000));
    assert_eq!(
        longest.on_error,
        masked_comms::domain::intercept::OnError::Block
    );
}
