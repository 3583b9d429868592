//! Property tests through the handlers: arbitrary bodies, queries, paths and
//! webhook parameters never make a handler panic or answer 500, refusals make
//! no Twilio request, and what Twilio signs is accepted while any change to
//! the signature is not. Also: the landing page escapes whatever it echoes.
//!
//! The pure parts (address parsing, number choice, signatures, TwiML) have
//! their own property tests next to their code.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;

use crate::support::*;
use futures_util::FutureExt;
use lambda_http::{Body, Request, Response};
use masked_comms::handlers::landing::page::{self, PageView, Prefill};
use masked_comms::handlers::{conversation_events, inbound_call, sessions};
use masked_comms::session::lookup::PoolNumberUse;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

/// Cases per property: enough to find shape bugs, few enough to stay fast.
const CASES: u32 = 256;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        // Failures are reported with their input; no files in the tree.
        failure_persistence: None,
        ..Config::default()
    })
}

/// Runs the handler, turning a panic into a failed case.
fn call<F>(rt: &tokio::runtime::Runtime, handler: F) -> Result<Response<Body>, TestCaseError>
where
    F: std::future::Future<Output = Response<Body>>,
{
    rt.block_on(AssertUnwindSafe(handler).catch_unwind())
        .map_err(|_| TestCaseError::fail("the handler panicked"))
}

/// The session API's contract for any input: never 500; a 5xx only after
/// asking Twilio, with the documented codes; a refusal of the request itself
/// (400, 401, 405, 413, 415) without asking Twilio; every error as JSON. (A
/// 404 may come from Twilio: an unknown session.)
fn judge_api(h: &Harness, response: &Response<Body>) -> Result<(), TestCaseError> {
    let status = response.status().as_u16();
    let asked = h.requests_made();
    let body = body_json(response);
    prop_assert_ne!(status, 500, "{}", body);
    if status >= 400 {
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        prop_assert!(
            !code.is_empty(),
            "{} without a JSON error: {}",
            status,
            body_text(response)
        );
        prop_assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            body
        );
        if status >= 500 {
            prop_assert!(asked > 0, "{} without asking Twilio: {}", status, body);
            prop_assert!(
                ["twilio_error", "upstream_unavailable"].contains(&code.as_str()),
                "{}",
                body
            );
        }
        if [400, 401, 405, 413, 415].contains(&status) {
            prop_assert_eq!(
                asked,
                0,
                "refused with {} after asking Twilio: {}",
                status,
                body
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Strategies

fn address_like() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "\\+1415555[0-9]{4}",
        1 => "whatsapp:\\+4477009[0-9]{5}",
        1 => "\\+[1-9][0-9]{6,14}",
        1 => "\\+1500555000[1-3]",
        1 => "(00|\\+|whatsapp:|＋|١)?[0-9 -]{0,16}",
        1 => any::<String>(),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "addresses", "friendlyName", "uniqueName", "attributes",
            "messagingServiceSid", "timers", "inactive", "closed", "masked_comms",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        address_like().prop_map(Value::from),
        prop::sample::select(vec![
            "PT1H",
            "P1D",
            "PT30S",
            "PT10M",
            "P",
            "MG0123456789abcdef0123456789abcdef"
        ])
        .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bodies shaped like a create request, often valid enough to reach Twilio.
fn session_shaped() -> impl Strategy<Value = Value> {
    let address = prop_oneof![
        4 => "\\+1415555[0-9]{4}",
        1 => "whatsapp:\\+4477009[0-9]{5}",
        1 => address_like(),
    ];
    let attributes = prop_oneof![
        2 => prop::collection::btree_map(key(), json_value(), 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => json_value(),
    ];
    (
        prop::collection::vec(address, 0..4),
        prop::option::of(any::<String>()),
        prop::option::weighted(0.3, attributes),
        prop::option::weighted(
            0.3,
            prop::sample::select(vec!["PT1H", "P1D", "PT59S", "one day", ""]),
        ),
        prop::option::weighted(0.1, json_value()),
    )
        .prop_map(|(addresses, name, attributes, timer, extra)| {
            let mut body = serde_json::json!({ "addresses": addresses });
            if let Some(n) = name {
                body["friendlyName"] = n.into();
            }
            if let Some(a) = attributes {
                body["attributes"] = a;
            }
            if let Some(t) = timer {
                body["timers"] = serde_json::json!({ "inactive": t });
            }
            if let Some(e) = extra {
                body["extra"] = e;
            }
            body
        })
}

fn form_body() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        3 => prop::sample::select(vec![
            "address", "addresses", "friendlyName", "uniqueName", "attributes",
            "messagingServiceSid", "timers.inactive", "timers.closed",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    prop::collection::vec((field, address_like()), 0..6).prop_map(|pairs| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    })
}

/// (content type, body) for POST /sessions.
fn create_request() -> impl Strategy<Value = (Option<&'static str>, Vec<u8>)> {
    let content_type = prop_oneof![
        6 => Just(Some("application/json")),
        3 => Just(Some("application/x-www-form-urlencoded")),
        1 => Just(None),
        1 => Just(Some("text/plain")),
    ];
    let body = prop_oneof![
        3 => session_shaped().prop_map(|v| v.to_string().into_bytes()),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        2 => form_body().prop_map(String::into_bytes),
        1 => any::<Vec<u8>>(),
        1 => any::<String>().prop_map(String::into_bytes),
    ];
    (content_type, body)
}

fn operator_request(method: &str, uri: &str, content_type: Option<&str>, body: Vec<u8>) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", HOST)
        .header("authorization", basic(USERNAME, PASSWORD));
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    let body = if body.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(body) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    builder.body(body).unwrap()
}

fn percent_encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

// ---------------------------------------------------------------------------
// The session API

#[test]
fn any_create_body_gets_a_documented_answer() {
    let rt = runtime();
    let h = rt.block_on(Harness::start());
    let statuses = std::sync::Mutex::new(BTreeMap::<u16, usize>::new());
    runner()
        .run(&create_request(), |(content_type, body)| {
            h.emulator.clear_requests();
            let response = call(
                &rt,
                sessions::handle(
                    &h.state,
                    operator_request("POST", "/sessions", content_type, body),
                ),
            )?;
            *statuses
                .lock()
                .unwrap()
                .entry(response.status().as_u16())
                .or_default() += 1;
            judge_api(&h, &response)
        })
        .unwrap();
    let statuses = statuses.into_inner().unwrap();
    println!("POST /sessions answers by status: {statuses:?}");
    assert!(
        statuses.contains_key(&201),
        "the strategy should reach Twilio sometimes: {statuses:?}"
    );
}

#[test]
fn any_list_query_gets_a_documented_answer() {
    let rt = runtime();
    let h = rt.block_on(Harness::start());
    let name = prop_oneof![
        3 => prop::sample::select(vec!["address", "state", "pageSize", "next"]).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    let value = prop_oneof![
        address_like(),
        prop::sample::select(vec![
            "open", "all", "closed", "0", "1", "50", "51", "-1", "bzQw", "!!"
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ];
    let query = prop::collection::vec((name, value), 0..5).prop_map(|pairs| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    });
    runner()
        .run(&query, |query| {
            h.emulator.clear_requests();
            let uri = format!("/sessions?{query}");
            let response = call(
                &rt,
                sessions::handle(&h.state, operator_request("GET", &uri, None, Vec::new())),
            )?;
            judge_api(&h, &response)
        })
        .unwrap();
}

#[test]
fn any_sid_in_the_path_gets_a_documented_answer() {
    let rt = runtime();
    let h = rt.block_on(Harness::start());
    let segment = prop_oneof![
        "CH[0-9a-f]{32}",
        "(CH|ch|MB|)[0-9a-fA-Fg]{30,34}",
        any::<String>(),
    ];
    let method = prop::sample::select(vec!["GET", "DELETE", "POST"]);
    runner()
        .run(&(method, segment), |(method, segment)| {
            h.emulator.clear_requests();
            let uri = format!("/sessions/{}", percent_encoded(&segment));
            let response = call(
                &rt,
                sessions::handle(&h.state, operator_request(method, &uri, None, Vec::new())),
            )?;
            judge_api(&h, &response)?;
            let is_sid = segment.len() == 34
                && segment.starts_with("CH")
                && segment[2..].bytes().all(|b| b.is_ascii_hexdigit());
            // An empty segment is the collection, `/sessions/`; a session
            // takes no POST, whatever its sid (405 before the sid is read).
            if method == "POST" && !segment.is_empty() {
                prop_assert_eq!(response.status().as_u16(), 405, "{}", segment);
            } else if !is_sid && !segment.is_empty() {
                prop_assert_eq!(response.status().as_u16(), 400, "{}", segment);
            }
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------
// Webhook signatures through the handlers

/// Webhook parameters other than the ones that route a call or close a
/// conversation, so nothing is asked of Twilio.
fn webhook_params() -> impl Strategy<Value = Vec<(String, String)>> {
    let text = prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter),
        "[A-Za-z+=&%]{0,8}",
    ];
    prop::collection::vec((text.clone(), text), 0..8).prop_map(|pairs| {
        pairs
            .into_iter()
            .filter(|(k, _)| !["From", "EventType"].contains(&k.as_str()))
            .collect()
    })
}

#[test]
fn what_twilio_signs_is_accepted_and_nothing_else() {
    let rt = runtime();
    let h = rt.block_on(Harness::start());
    let token = h.emulator.auth_token().to_owned();
    let strategy = (
        webhook_params(),
        any::<bool>(),
        any::<prop::sample::Index>(),
        0u8..128,
    );
    runner()
        .run(&strategy, |(params, to_calls, at, replacement)| {
            h.emulator.clear_requests();
            let path = if to_calls {
                "/inbound-call"
            } else {
                "/conversation-events"
            };
            let borrowed: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let send = |req: Request| -> Result<Response<Body>, TestCaseError> {
                if to_calls {
                    call(&rt, inbound_call::handle(&h.state, req))
                } else {
                    call(&rt, conversation_events::handle(&h.state, req))
                }
            };

            let signed = signed_form(&token, path, &borrowed);
            let signature = signed.headers()["x-twilio-signature"]
                .to_str()
                .unwrap()
                .to_owned();
            let accepted = send(signed)?;
            prop_assert_eq!(accepted.status().as_u16(), 200, "{}", body_text(&accepted));
            if to_calls {
                let twiml = body_text(&accepted);
                prop_assert!(twiml.ends_with("<Hangup/></Response>"), "{}", twiml);
            }

            let mut changed = signature.clone().into_bytes();
            let i = at.index(changed.len());
            prop_assume!(changed[i] != replacement);
            changed[i] = replacement;
            let changed = String::from_utf8(changed).unwrap();
            // Header values cannot hold control characters; skip those.
            prop_assume!(lambda_http::http::HeaderValue::from_str(&changed).is_ok());
            let forged = send(form_request(path, &borrowed, Some(&changed)))?;
            prop_assert_eq!(forged.status().as_u16(), 403);
            let unsigned = send(form_request(path, &borrowed, None))?;
            prop_assert_eq!(unsigned.status().as_u16(), 403);
            prop_assert_eq!(h.requests_made(), 0);
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------
// The landing page

fn prefill() -> impl Strategy<Value = Prefill> {
    let text = prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter),
        prop::sample::select(vec![
            "<script>alert(1)</script>",
            "\"><img src=x onerror=alert(1)>",
            "'",
            "&amp;",
            "</textarea>",
            "<!--",
            "javascript:alert(1)",
        ])
        .prop_map(str::to_owned),
    ];
    (
        prop::collection::vec(text.clone(), 0..5),
        prop::option::of(text.clone()),
        prop::option::of(text.clone()),
        prop::option::of(text),
    )
        .prop_map(|(addresses, friendly_name, inactive, closed)| Prefill {
            addresses,
            friendly_name,
            inactive,
            closed,
        })
}

/// The same prefill with every value made harmless: same structure.
fn defused(prefill: &Prefill) -> Prefill {
    let a = |_: &String| "a".to_owned();
    Prefill {
        addresses: prefill.addresses.iter().map(a).collect(),
        friendly_name: prefill.friendly_name.as_ref().map(a),
        inactive: prefill.inactive.as_ref().map(a),
        closed: prefill.closed.as_ref().map(a),
    }
}

fn render(prefill: &Prefill) -> String {
    let pool: Vec<PoolNumberUse> = POOL
        .iter()
        .map(|n| PoolNumberUse {
            number: n.to_string(),
            in_use: None,
        })
        .collect();
    page::render(&PageView {
        pool: &pool,
        prefill,
    })
    .into_string()
}

/// Whatever is prefilled, the page has exactly the markup of a harmless
/// prefill: no `<`, `>` or `"` of the input survives unescaped.
#[test]
fn the_landing_page_escapes_any_prefill() {
    runner()
        .run(&prefill(), |prefill| {
            let html = render(&prefill);
            let reference = render(&defused(&prefill));
            for markup in ['<', '>', '"'] {
                prop_assert_eq!(
                    html.matches(markup).count(),
                    reference.matches(markup).count(),
                    "unescaped {:?} from {:?}",
                    markup,
                    prefill
                );
            }
            Ok(())
        })
        .unwrap();
}

/// Any query string makes some prefill, within the page's limits.
#[test]
fn any_query_makes_a_bounded_prefill() {
    let pairs = prop::collection::vec(
        (
            prop_oneof![
                prop::sample::select(vec![
                    "address",
                    "addresses",
                    "friendlyName",
                    "timers.inactive",
                    "timers.closed"
                ])
                .prop_map(str::to_owned),
                any::<String>(),
            ],
            prop_oneof![any::<String>(), "[a-z]{300,400}"],
        ),
        0..80,
    );
    let strategy = prop_oneof![
        pairs.prop_map(|p| {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(p)
                .finish()
        }),
        any::<String>(),
    ];
    runner()
        .run(&strategy, |query| {
            let prefill = Prefill::from_query(Some(&query));
            prop_assert!(prefill.addresses.len() <= 50);
            let values = prefill
                .addresses
                .iter()
                .chain(&prefill.friendly_name)
                .chain(&prefill.inactive)
                .chain(&prefill.closed);
            for value in values {
                prop_assert!(value.chars().count() <= 256);
                prop_assert!(!value.is_empty());
            }
            Ok(())
        })
        .unwrap();
}
