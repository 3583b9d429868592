//! Trust at the seams: one test per way the pieces could be played against
//! each other (a browser on another site, other apps in the same Twilio
//! account, callers' headers, overlapping retries, replayed webhooks,
//! a broken configuration).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use masked_comms::config::{ConfigSource, ConfigStore, Function, RawConfig, TwilioCredentials};
use masked_comms::handlers::{conversation_events, inbound_call, landing, sessions};
use masked_comms::metrics::Recorder;
use masked_comms::twilio::TwilioHttp;
use masked_comms::AppState;
use serde_json::{json, Value};
use twilio_emulator::{ConversationSeed, ConversationState, Operation};

use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const C: &str = "+14155550103";

fn form_create(headers: &[(&'static str, &str)]) -> Request {
    let mut req = request(
        "POST",
        "/sessions",
        Some("application/x-www-form-urlencoded"),
        "address=%2B14155550101&address=%2B14155550102",
        Some(&basic(USERNAME, PASSWORD)),
    );
    for (name, value) in headers {
        req.headers_mut()
            .insert(*name, value.parse().expect("a valid header value"));
    }
    req
}

#[tokio::test]
async fn cross_site_form_posts_are_refused_before_any_twilio_request() {
    let h = Harness::start().await;
    let attacks: [&[(&'static str, &str)]; 3] = [
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        &[("origin", "https://evil.example")],
        &[("sec-fetch-site", "same-site")],
    ];
    for headers in attacks {
        let response = sessions::handle(&h.state, form_create(headers)).await;
        assert_eq!(response.status(), 403, "{headers:?}");
        assert_eq!(body_json(&response)["error"]["code"], "cross_site_request");
    }
    let delete = request(
        "DELETE",
        "/sessions/CH0123456789abcdef0123456789abcdef",
        None,
        "",
        Some(&basic(USERNAME, PASSWORD)),
    );
    let mut delete = delete;
    delete
        .headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(sessions::handle(&h.state, delete).await.status(), 403);
    assert_eq!(h.requests_made(), 0, "refused before Twilio");
    assert!(h.emulator.conversations().is_empty());

    // The operator's own page, and clients that are not browsers, still work.
    let own_page = [
        ("origin", "https://masked.example.com"),
        ("sec-fetch-site", "same-origin"),
    ];
    let response = sessions::handle(&h.state, form_create(&own_page)).await;
    assert_eq!(response.status(), 201, "{}", body_text(&response));
    let response = sessions::handle(
        &h.state,
        operator_json("POST", "/sessions", &json!({"addresses": [C]})),
    )
    .await;
    assert_eq!(response.status(), 201, "{}", body_text(&response));
}

/// A conversation made by another app in the same Twilio account.
fn seed_foreign(h: &Harness, state: ConversationState, address: &str) -> String {
    h.emulator
        .seed_conversation(ConversationSeed {
            attributes: Some(r#"{"crm": "their own"}"#.into()),
            state,
            bindings: vec![(address.into(), POOL[0].into())],
            ..Default::default()
        })
        .unwrap()
}

#[tokio::test]
async fn other_apps_conversations_are_invisible_and_left_alone() {
    let h = Harness::start().await;
    let open = seed_foreign(&h, ConversationState::Active, A);
    let closed = seed_foreign(&h, ConversationState::Closed, B);
    let op = |method: &str, path: &str| {
        request(method, path, None, "", Some(&basic(USERNAME, PASSWORD)))
    };

    let read = sessions::handle(&h.state, op("GET", &format!("/sessions/{open}"))).await;
    assert_eq!(read.status(), 404, "{}", body_text(&read));
    let close = sessions::handle(&h.state, op("DELETE", &format!("/sessions/{open}"))).await;
    assert_eq!(close.status(), 404, "{}", body_text(&close));
    assert_eq!(
        h.emulator.conversation(&open).unwrap().state,
        ConversationState::Active,
        "not closed"
    );
    let listed = sessions::handle(
        &h.state,
        op(
            "GET",
            &format!("/sessions?address={}", A.replace('+', "%2B")),
        ),
    )
    .await;
    assert_eq!(body_json(&listed)["sessions"], json!([]));

    let (status, twiml) = call_twiml(&h, A, POOL[0]).await;
    assert_eq!(status, 200);
    assert!(!twiml.contains("<Dial"), "{twiml}");

    let event = [
        ("EventType", "onConversationStateUpdated"),
        ("ConversationSid", closed.as_str()),
        ("StateFrom", "active"),
        ("StateTo", "closed"),
    ];
    let response = conversation_events::handle(
        &h.state,
        signed_form(h.emulator.auth_token(), "/conversation-events", &event),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(h.emulator.conversation(&closed).is_some(), "not deleted");
    let deletes = h
        .emulator
        .requests()
        .iter()
        .filter(|r| {
            r.operation == Operation::DeleteConversation
                || r.operation == Operation::UpdateConversation
        })
        .count();
    assert_eq!(deletes, 0, "nothing of theirs was changed");
}

async fn call_twiml(h: &Harness, from: &str, to: &str) -> (u16, String) {
    let req = signed_form(
        h.emulator.auth_token(),
        "/inbound-call",
        &call_params(from, to),
    );
    let response = inbound_call::handle(&h.state, req).await;
    (response.status().as_u16(), body_text(&response))
}

#[tokio::test]
async fn a_short_operator_password_is_refused_when_the_configuration_loads() {
    let h = Harness::start().await;
    let raw = RawConfig::from_ssm(
        [
            ("twilio/account-sid", h.emulator.account_sid()),
            ("twilio/auth-token", h.emulator.auth_token()),
            ("number-pool", POOL[0]),
            ("auth/username", USERNAME),
            ("auth/password", "short-password"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    );
    let state = AppState::new(
        ConfigStore::new(
            ConfigSource::Values(raw),
            Function::Sessions,
            Duration::from_secs(300),
        ),
        TwilioHttp::new(settings(&h.emulator.base_url())).unwrap(),
    );
    let response = sessions::handle(
        &state,
        operator_json_as("short-password", &json!({"addresses": [A]})),
    )
    .await;
    assert_eq!(response.status(), 503, "{}", body_text(&response));
    assert_eq!(body_json(&response)["error"]["code"], "configuration_error");
    assert_eq!(h.requests_made(), 0);
}

fn operator_json_as(password: &str, body: &Value) -> Request {
    request(
        "POST",
        "/sessions",
        Some("application/json"),
        &body.to_string(),
        Some(&basic(USERNAME, password)),
    )
}

/// An SSM source that cannot be reached: every load fails with the SDK's
/// own error text (endpoint, parameter names).
fn unreachable_ssm() -> ConfigSource {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_ssm::config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .build();
    ConfigSource::Ssm {
        client: aws_sdk_ssm::Client::from_conf(config),
        prefix: "/masked-comms/secret-path".into(),
        function: Function::Sessions,
    }
}

#[tokio::test]
async fn configuration_errors_tell_callers_nothing_and_are_read_once_per_window() {
    let h = Harness::start().await;
    let twilio = TwilioHttp::new(settings(&h.emulator.base_url())).unwrap();
    let state = AppState::new(
        ConfigStore::new(
            unreachable_ssm(),
            Function::Sessions,
            Duration::from_secs(300),
        ),
        twilio,
    );
    for _ in 0..10 {
        // A stranger: no credentials at all.
        let response = sessions::handle(
            &state,
            request("POST", "/sessions", Some("application/json"), "{}", None),
        )
        .await;
        assert_eq!(response.status(), 503);
        let body = body_json(&response);
        assert_eq!(body["error"]["code"], "configuration_error");
        let text = body.to_string();
        for detail in ["secret-path", "127.0.0.1", "ssm", "dispatch", "arn:"] {
            assert!(
                !text.to_ascii_lowercase().contains(detail),
                "{detail} in {text}"
            );
        }
    }
    assert_eq!(
        state.config.loads(),
        1,
        "a failure is remembered, not re-read per request"
    );
}

fn on_gateway(req: Request, domain: &str) -> Request {
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.domain_name = Some(domain.to_owned());
    req.with_request_context(RequestContext::ApiGatewayV2(context))
}

#[tokio::test]
async fn the_signed_url_is_the_gateway_domain_not_the_host_header() {
    let h = Harness::start().await;
    let gateway = "abc123.execute-api.eu-west-1.amazonaws.com";
    let token = h.emulator.auth_token().to_owned();
    let params = call_params(A, POOL[0]);
    // Signed for the Host header the caller chose: refused behind API Gateway.
    let forged_host = on_gateway(signed_form(&token, "/inbound-call", &params), gateway);
    assert_eq!(forged_host.headers()["host"], HOST);
    let response = inbound_call::handle(&h.state, forged_host).await;
    assert_eq!(response.status(), 403);
    // Signed for the domain Twilio really called: accepted.
    let url = format!("https://{gateway}/inbound-call");
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let signature = twilio_emulator::compute_signature(&token, &url, &owned);
    let genuine = on_gateway(
        form_request("/inbound-call", &params, Some(&signature)),
        gateway,
    );
    assert_eq!(inbound_call::handle(&h.state, genuine).await.status(), 200);
}

#[tokio::test]
async fn the_twilio_client_follows_no_redirect() {
    // A Twilio endpoint that redirects elsewhere, and the elsewhere.
    let elsewhere_hits = Arc::new(AtomicUsize::new(0));
    let hits = elsewhere_hits.clone();
    let elsewhere = serve_fn(move || {
        hits.fetch_add(1, Ordering::SeqCst);
        (
            200,
            vec![],
            r#"{"sid": "CH0123456789abcdef0123456789abcdef", "state": "active"}"#.to_owned(),
        )
    })
    .await;
    let target = format!("{elsewhere}/stolen");
    let redirecting =
        serve_fn(move || (307, vec![("location", target.clone())], String::new())).await;

    let http = TwilioHttp::new(settings(&redirecting)).unwrap();
    let credentials = TwilioCredentials {
        account_sid: "AC0123456789abcdef0123456789abcdef".into(),
        auth_token: masked_comms::config::Secret::new("token"),
    };
    let metrics = Recorder::default();
    let twilio = http.session(&credentials, Duration::from_secs(5), &metrics);
    let result = twilio
        .fetch_conversation("CH0123456789abcdef0123456789abcdef")
        .await;
    assert!(result.is_err(), "a redirect is not an answer: {result:?}");
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "the credentials went nowhere else"
    );
}

/// A tiny HTTP server on loopback answering every request with `answer()`.
async fn serve_fn<F>(answer: F) -> String
where
    F: Fn() -> (u16, Vec<(&'static str, String)>, String) + Send + Sync + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 8192];
                let _ = socket.read(&mut buffer).await;
                let (status, headers, body) = answer();
                let mut text = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    text.push_str(&format!("{name}: {value}\r\n"));
                }
                text.push_str("\r\n");
                text.push_str(&body);
                let _ = socket.write_all(text.as_bytes()).await;
            });
        }
    });
    base
}

fn idempotent(key: &str, addresses: &[&str]) -> Request {
    let mut req = operator_json("POST", "/sessions", &json!({ "addresses": addresses }));
    req.headers_mut()
        .insert("idempotency-key", key.parse().unwrap());
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlapping_idempotent_retry_waits_and_never_rolls_back_the_first() {
    let h = Arc::new(Harness::start().await);
    // The first request is slow: one add is throttled for two seconds, so
    // the retry lands while it is still adding participants.
    h.emulator.set_latency(Duration::from_millis(100));
    h.emulator.inject(
        Operation::CreateParticipant,
        twilio_emulator::Fault::Status {
            status: 429,
            retry_after: Some(2),
        },
        1,
    );
    let first = {
        let h = h.clone();
        tokio::spawn(
            async move { sessions::handle(&h.state, idempotent("order-77", &[A, B])).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let retry = sessions::handle(&h.state, idempotent("order-77", &[A, B])).await;
    let first = first.await.unwrap();

    assert_eq!(first.status(), 201, "{}", body_text(&first));
    assert_eq!(retry.status(), 409, "{}", body_text(&retry));
    assert_eq!(
        body_json(&retry)["error"]["code"],
        "idempotency_in_progress"
    );
    assert!(retry.headers().contains_key("retry-after"));
    let conversations = h.emulator.conversations();
    assert_eq!(conversations.len(), 1);
    assert_eq!(
        conversations[0].participants.len(),
        2,
        "the first request's session is whole"
    );
    assert_eq!(body_json(&first)["sid"], conversations[0].sid.as_str());
    let deletes = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::DeleteConversation)
        .count();
    assert_eq!(deletes, 0);

    // Once the first has answered, a retry gets its session back.
    let again = sessions::handle(&h.state, idempotent("order-77", &[A, B])).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn a_retry_finishing_an_abandoned_session_keeps_its_own_bindings() {
    // One number: the participant already bound to it in this very session
    // must not count it as taken (that would look like an exhausted pool).
    let mut h = Harness::with(&[POOL[0]], &[]).await;
    let refuse = twilio_emulator::Fault::Status {
        status: 500,
        retry_after: None,
    };
    h.emulator
        .inject(Operation::CreateParticipant, refuse.clone(), 1_000);
    h.emulator
        .inject(Operation::DeleteConversation, refuse, 1_000);
    // The first attempt fails and cannot roll back: its conversation stays.
    let first = sessions::handle(&h.state, idempotent("ride-9", &[A, B])).await;
    assert_eq!(first.status(), 503, "{}", body_text(&first));
    h.emulator.clear_faults();
    let half = h.emulator.conversations();
    assert_eq!(half.len(), 1);
    // Its add for A did happen after all (the answer was what got lost).
    let metrics = Recorder::default();
    let credentials = TwilioCredentials {
        account_sid: h.emulator.account_sid().into(),
        auth_token: masked_comms::config::Secret::new(h.emulator.auth_token()),
    };
    let http = TwilioHttp::new(settings(&h.emulator.base_url())).unwrap();
    http.session(&credentials, Duration::from_secs(5), &metrics)
        .add_participant(&half[0].sid, A, POOL[0])
        .await
        .unwrap();

    // A later retry (the first request's time is up) finishes that session.
    h.state.create_window = Duration::ZERO;
    let retry = sessions::handle(&h.state, idempotent("ride-9", &[A, B])).await;
    assert_eq!(retry.status(), 201, "{}", body_text(&retry));
    let whole = h.emulator.conversations();
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].sid, half[0].sid, "finished, not replaced");
    assert_eq!(whole[0].participants.len(), 2);
}

/// A retry that cannot finish an earlier request's session leaves it be: it
/// may be the session the earlier request answers 201 with.
#[tokio::test]
async fn a_failing_retry_never_rolls_back_a_session_it_did_not_create() {
    let mut h = Harness::start().await;
    let refuse = twilio_emulator::Fault::Status {
        status: 500,
        retry_after: None,
    };
    h.emulator
        .inject(Operation::CreateParticipant, refuse.clone(), 1_000);
    // The first request's roll back fails, every retry of it included.
    h.emulator
        .inject(Operation::DeleteConversation, refuse.clone(), 4);
    let first = sessions::handle(&h.state, idempotent("ride-10", &[A, B])).await;
    assert_eq!(first.status(), 503);
    let sid = h.emulator.conversations()[0].sid.clone();
    let deletes = || {
        h.emulator
            .requests()
            .iter()
            .filter(|r| r.operation == Operation::DeleteConversation)
            .count()
    };
    let deletes_by_first = deletes();
    // Twilio still refuses adds; the retry fails too, and deletes nothing.
    h.state.create_window = Duration::ZERO;
    let retry = sessions::handle(&h.state, idempotent("ride-10", &[A, B])).await;
    assert_eq!(retry.status(), 503);
    assert!(h.emulator.conversation(&sid).is_some());
    assert_eq!(deletes(), deletes_by_first, "the retry deleted nothing");
}

#[tokio::test]
async fn a_replayed_group_call_rings_nobody_twice() {
    let h = Harness::start().await;
    let session = sessions::handle(
        &h.state,
        operator_json("POST", "/sessions", &json!({"addresses": [A, B, C]})),
    )
    .await;
    let session = body_json(&session);
    let proxy = proxy_of(&session, A);
    let signed = || {
        signed_form(
            h.emulator.auth_token(),
            "/inbound-call",
            &call_params(A, &proxy),
        )
    };

    let first = inbound_call::handle(&h.state, signed()).await;
    assert!(
        body_text(&first).contains("<Conference"),
        "{}",
        body_text(&first)
    );
    assert_eq!(h.emulator.calls().len(), 2, "B and C rung");
    let replay = inbound_call::handle(&h.state, signed()).await;
    assert_eq!(replay.status(), 200);
    assert!(body_text(&replay).contains("<Conference"));
    assert_eq!(h.emulator.calls().len(), 2, "nobody rung twice");
}

#[tokio::test]
async fn every_answer_carries_nosniff() {
    let h = Harness::start().await;
    let op = |method: &str, path: &str, body: Option<Value>| match body {
        Some(body) => operator_json(method, path, &body),
        None => request(method, path, None, "", Some(&basic(USERNAME, PASSWORD))),
    };
    let mut answers = vec![
        sessions::handle(
            &h.state,
            op("POST", "/sessions", Some(json!({"addresses": [A, B]}))),
        )
        .await,
        sessions::handle(&h.state, op("GET", "/sessions/nope", None)).await,
        sessions::handle(&h.state, request("GET", "/sessions", None, "", None)).await,
        landing::handle(&h.state, op("GET", "/", None)).await,
        inbound_call::handle(
            &h.state,
            signed_form(
                h.emulator.auth_token(),
                "/inbound-call",
                &call_params(A, POOL[0]),
            ),
        )
        .await,
        conversation_events::handle(&h.state, form_request("/conversation-events", &[], None))
            .await,
    ];
    answers.push(
        sessions::handle(
            &h.state,
            lambda_http::http::Request::builder()
                .method("GET")
                .uri("/sessions")
                .body(Body::Empty)
                .unwrap(),
        )
        .await,
    );
    for response in answers {
        assert_eq!(
            response
                .headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{} {:?}",
            response.status(),
            response.headers().get("content-type")
        );
    }
}
