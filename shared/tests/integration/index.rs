//! The session index (DynamoDB, moto's server here): every path that changes
//! a session keeps it in step, lookups are key reads, and Twilio stays the
//! judge when the index is behind.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use masked_comms::config::{Secret, TwilioCredentials};
use masked_comms::handlers::{conversation_events, inbound_call, landing, sessions};
use masked_comms::metrics::Recorder;
use masked_comms::twilio::{ConversationParams, TwilioHttp};
use serde_json::{json, Value};
use twilio_emulator::{sequential_round_trips, ConversationSeed, ConversationState, Operation};

use crate::support::*;

const A: &str = "+14155550101";
const B: &str = "+14155550102";
const C: &str = "+14155550103";

async fn create(h: &Harness, addresses: &[&str]) -> (u16, Value) {
    let response = sessions::handle(
        &h.state,
        operator_json("POST", "/sessions", &json!({ "addresses": addresses })),
    )
    .await;
    (response.status().as_u16(), body_json(&response))
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

fn operator(method: &str, path: &str) -> lambda_http::Request {
    request(method, path, None, "", Some(&basic(USERNAME, PASSWORD)))
}

/// Every item in the harness's table, as (pk, sk).
async fn items(h: &Harness) -> BTreeSet<(String, String)> {
    scan(h).await.iter().map(key_of).collect()
}

/// The bindings items of the index: (address, proxy, sid).
async fn indexed_bindings(h: &Harness) -> BTreeSet<(String, String, String)> {
    items(h)
        .await
        .into_iter()
        .filter_map(|(pk, sk)| {
            let address = pk.strip_prefix("ADDR#")?;
            let rest = sk.strip_prefix("PROXY#")?;
            let (proxy, sid) = rest.rsplit_once('#')?;
            Some((address.to_owned(), proxy.to_owned(), sid.to_owned()))
        })
        .collect()
}

/// What the index says each address holds, from the two other places it
/// keeps it: the pairs' items (calls read them) and the holdings items'
/// `bound` sets (creates read them), as (address, proxy).
async fn indexed_pairs_and_holdings(
    h: &Harness,
) -> (BTreeSet<(String, String)>, BTreeSet<(String, String)>) {
    let pairs = items(h)
        .await
        .into_iter()
        .filter_map(|(pk, _)| {
            let rest = pk.strip_prefix("PAIR#")?;
            let (address, proxy) = rest.split_once('#')?;
            Some((address.to_owned(), proxy.to_owned()))
        })
        .collect();
    let client = dynamodb_client(moto_url());
    let scan = client
        .scan()
        .table_name(h.index().table())
        .filter_expression("sk = :h")
        .expression_attribute_values(
            ":h",
            aws_sdk_dynamodb::types::AttributeValue::S("HOLDINGS".into()),
        )
        .send()
        .await
        .unwrap();
    let mut holdings = BTreeSet::new();
    for item in scan.items.unwrap_or_default() {
        let address = item["pk"]
            .as_s()
            .unwrap()
            .strip_prefix("ADDR#")
            .unwrap()
            .to_owned();
        if let Some(bound) = item.get("bound") {
            for proxy in bound.as_ss().unwrap() {
                holdings.insert((address.clone(), proxy.clone()));
            }
        }
    }
    (pairs, holdings)
}

/// The index and Twilio agree on every binding, in all three places the
/// index keeps them.
async fn assert_index_agrees_with_twilio(h: &Harness) {
    let twilio = twilio_bindings(h);
    assert_eq!(indexed_bindings(h).await, twilio);
    let pairs: BTreeSet<(String, String)> = twilio
        .iter()
        .map(|(a, p, _)| (a.clone(), p.clone()))
        .collect();
    let (indexed_pairs, holdings) = indexed_pairs_and_holdings(h).await;
    assert_eq!(indexed_pairs, pairs, "the pairs' items");
    assert_eq!(holdings, pairs, "the holdings items");
}

/// What Twilio (the emulator) holds: (address, proxy, sid) of every
/// participant of every non-closed conversation.
fn twilio_bindings(h: &Harness) -> BTreeSet<(String, String, String)> {
    h.emulator
        .conversations()
        .into_iter()
        .filter(|c| c.state != ConversationState::Closed)
        .flat_map(|c| {
            c.participants
                .into_iter()
                .map(move |p| (p.address, p.proxy_address, c.sid.clone()))
        })
        .collect()
}

/// Closes a conversation in Twilio behind the functions' back, as a timer
/// does when its webhook is lost.
async fn close_behind_our_back(h: &Harness, sid: &str) {
    let credentials = TwilioCredentials {
        account_sid: h.emulator.account_sid().into(),
        auth_token: Secret::new(h.emulator.auth_token()),
    };
    let metrics = Recorder::default();
    let http = TwilioHttp::new(settings(&h.emulator.base_url())).unwrap();
    http.session(&credentials, Duration::from_secs(5), &metrics)
        .update_conversation(
            sid,
            &ConversationParams {
                state: Some(masked_comms::twilio::ConversationState::Closed),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_create_writes_its_index_entries_in_the_same_two_waves() {
    let (h, index) = Harness::start_indexed().await;
    h.emulator.set_latency(Duration::from_millis(30));
    let (status, body) = create(&h, &[A, B]).await;
    assert_eq!(status, 201, "{body}");

    let requests = h.emulator.requests();
    assert_eq!(sequential_round_trips(&requests), 2);
    let ops: Vec<Operation> = requests.iter().map(|r| r.operation).collect();
    assert!(
        !ops.contains(&Operation::ListParticipantConversations),
        "the index replaces paging: {ops:?}"
    );
    assert_eq!(requests.len(), 4, "create + 2 adds + roster write: {ops:?}");
    let mut seen = index.operations();
    seen.sort();
    assert_eq!(
        seen,
        [
            "BatchWriteItem",
            "BatchWriteItem",
            "GetItem",
            "GetItem",
            "PutItem",
            "PutItem",
            "PutItem",
            "UpdateItem",
            "UpdateItem",
            "UpdateItem",
            "UpdateItem",
        ],
        "one read per participant (their holdings); each binding's item, its pair's item \
         and its holdings updated; the session item; each participant by sid (once Twilio \
         named them, for messages)"
    );

    let sid = body["sid"].as_str().unwrap();
    assert_index_agrees_with_twilio(&h).await;
    assert!(items(&h)
        .await
        .contains(&(format!("SESSION#{sid}"), "SESSION".into())));
}

#[tokio::test]
async fn a_call_is_one_index_read_and_one_twilio_read() {
    let (h, index) = Harness::start_indexed().await;
    let (_, s) = create(&h, &[A, B]).await;
    h.emulator.clear_requests();
    index.clear();

    let twiml = call(&h, A, &proxy_of(&s, A)).await;
    assert!(twiml.contains(&format!("<Number>{B}</Number>")), "{twiml}");
    let ops: Vec<Operation> = h.emulator.requests().iter().map(|r| r.operation).collect();
    assert_eq!(
        ops,
        [Operation::FetchConversation],
        "Twilio confirms the session"
    );
    assert_eq!(index.operations(), ["GetItem"], "the pair's item");
}

#[tokio::test]
async fn a_stale_index_entry_for_a_closed_conversation_gives_no_dial() {
    let (h, _index) = Harness::start_indexed().await;
    let (_, s) = create(&h, &[A, B]).await;
    let sid = s["sid"].as_str().unwrap();
    close_behind_our_back(&h, sid).await;
    assert!(
        !indexed_bindings(&h).await.is_empty(),
        "the index is behind"
    );

    let twiml = call(&h, A, &proxy_of(&s, A)).await;
    assert!(!twiml.contains("<Dial"), "{twiml}");
    assert!(twiml.contains("not connected"), "{twiml}");
    assert!(indexed_bindings(&h).await.is_empty(), "repaired on the way");
}

#[tokio::test]
async fn an_index_write_failing_mid_create_leaves_neither_a_conversation_nor_index_items() {
    let (h, index) = Harness::start_indexed().await;
    // The session item's write fails, every attempt the SDK makes (3), while
    // the bindings' writes beside it succeed: the roll back must remove them.
    // (The participants' items are PutItems too: 3 attempts each.)
    index.fail("PutItem", 9);
    let (status, body) = create(&h, &[A, B]).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert!(
        !body.to_string().contains("sessions-"),
        "no table name to callers: {body}"
    );
    assert!(h.emulator.conversations().is_empty(), "rolled back");
    assert_eq!(
        index
            .operations()
            .iter()
            .filter(|op| *op == "PutItem")
            .count(),
        9,
        "each write (the session's, each participant's) was tried as often as the SDK tries"
    );
    assert_eq!(items(&h).await, BTreeSet::new(), "no index items");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creates_on_a_small_pool_agree_with_twilio_afterwards() {
    let pool: Vec<String> = (1..=20).map(|i| format!("+1500555{i:04}")).collect();
    let pool: Vec<&str> = pool.iter().map(String::as_str).collect();
    let (h, _index) = Harness::with_index(&pool, &[]).await;
    let h = Arc::new(h);
    h.emulator.set_latency(Duration::from_millis(10));
    let creates = (0..30).map(|i| {
        let h = h.clone();
        async move {
            let other = format!("+1415666{i:04}");
            create(&h, &[A, &other]).await.0
        }
    });
    let statuses: Vec<u16> = join_all(creates).await;
    let created = statuses.iter().filter(|s| **s == 201).count();
    let exhausted = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((created, exhausted), (20, 10), "{statuses:?}");
    assert_index_agrees_with_twilio(&h).await;
    assert_eq!(
        h.emulator.conversations().len(),
        20,
        "no orphan conversation"
    );
}

#[tokio::test]
async fn after_a_lost_close_webhook_the_capacity_comes_back_at_the_next_exhaustion_check() {
    let (h, _index) = Harness::with_index(&POOL[..2], &[]).await;
    let (_, first) = create(&h, &[A, B]).await;
    let (status, _) = create(&h, &[A, C]).await;
    assert_eq!(status, 201);
    // A holds both numbers. One session closes, and its webhook is lost.
    let sid = first["sid"].as_str().unwrap();
    close_behind_our_back(&h, sid).await;

    let (status, body) = create(&h, &[A]).await;
    assert_eq!(status, 201, "the stale entry was found and removed: {body}");
    assert_eq!(proxy_of(&body, A), proxy_of(&first, A), "the freed number");
    assert_index_agrees_with_twilio(&h).await;
}

#[tokio::test]
async fn closing_forgets_the_session_at_once() {
    let (h, _index) = Harness::start_indexed().await;
    let (_, s) = create(&h, &[A, B]).await;
    let sid = s["sid"].as_str().unwrap();
    let response =
        sessions::handle(&h.state, operator("DELETE", &format!("/sessions/{sid}"))).await;
    assert_eq!(response.status(), 204);
    assert!(
        items(&h)
            .await
            .iter()
            .all(|(pk, sk)| !sk.contains(sid) && !pk.contains(sid)),
        "{:?}",
        items(&h).await
    );
    // Twilio closed it and, once it confirmed, deleted it.
    assert!(h.emulator.conversation(sid).is_none());
}

#[tokio::test]
async fn a_timer_close_reported_by_the_webhook_is_forgotten_and_deleted() {
    let (h, _index) = Harness::start_indexed().await;
    let (_, s) = create(&h, &[A, B]).await;
    let sid = s["sid"].as_str().unwrap().to_owned();
    close_behind_our_back(&h, &sid).await;
    let event = [
        ("EventType", "onConversationStateUpdated"),
        ("ConversationSid", sid.as_str()),
        ("StateFrom", "active"),
        ("StateTo", "closed"),
        ("Reason", "TIMER"),
    ];
    let response = conversation_events::handle(
        &h.state,
        signed_form(h.emulator.auth_token(), "/conversation-events", &event),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(h.emulator.conversation(&sid).is_none(), "deleted");
    assert!(indexed_bindings(&h).await.is_empty());
}

#[tokio::test]
async fn a_list_reads_the_index_newest_first_with_cursor_paging_and_no_twilio_request() {
    let pool: Vec<String> = (1..=6).map(|i| format!("+1500555{i:04}")).collect();
    let pool: Vec<&str> = pool.iter().map(String::as_str).collect();
    let (h, _index) = Harness::with_index(&pool, &[]).await;
    let mut made = Vec::new();
    for other in [B, C, "+14155550104", "+14155550105", "+14155550106"] {
        let (status, s) = create(&h, &[A, other]).await;
        assert_eq!(status, 201);
        made.push(s["sid"].as_str().unwrap().to_owned());
        // Twilio dates have second resolution: keep the order unambiguous.
        tokio::time::sleep(Duration::from_millis(1_050)).await;
    }
    h.emulator.clear_requests();

    let mut listed = Vec::new();
    let mut next: Option<String> = None;
    let mut first_cursor = None;
    let mut pages = 0;
    loop {
        let mut path = String::from("/sessions?address=%2B14155550101&pageSize=2");
        if let Some(cursor) = &next {
            path.push_str(&format!("&next={cursor}"));
        }
        let response = sessions::handle(&h.state, operator("GET", &path)).await;
        assert_eq!(response.status(), 200, "{}", body_text(&response));
        let body = body_json(&response);
        for session in body["sessions"].as_array().unwrap() {
            listed.push(session["sid"].as_str().unwrap().to_owned());
            assert_eq!(session["participants"].as_array().unwrap().len(), 2);
        }
        pages += 1;
        match body["next"].as_str() {
            Some(cursor) => {
                first_cursor.get_or_insert_with(|| cursor.to_owned());
                next = Some(cursor.to_owned());
            }
            None => break,
        }
    }
    made.reverse();
    assert_eq!(listed, made, "newest first, each once");
    assert_eq!(pages, 3);
    assert_eq!(h.emulator.requests().len(), 0, "no Twilio request");

    // A cursor issued for one address is refused for another.
    let foreign = format!(
        "/sessions?address=%2B14155550102&next={}",
        first_cursor.unwrap()
    );
    let response = sessions::handle(&h.state, operator("GET", &foreign)).await;
    assert_eq!(response.status(), 400, "{}", body_text(&response));
    assert_eq!(body_json(&response)["error"]["field"], "next");
}

#[tokio::test]
async fn a_session_the_index_never_saw_still_gets_its_calls() {
    let (h, index) = Harness::start_indexed().await;
    // Made before the index existed (or by another tool).
    h.emulator
        .seed_conversation(ConversationSeed {
            attributes: Some(session_attributes(
                Some(&[(A, POOL[0]), (B, POOL[1])]),
                json!({}),
            )),
            bindings: vec![(A.into(), POOL[0].into()), (B.into(), POOL[1].into())],
            ..Default::default()
        })
        .unwrap();
    let twiml = call(&h, A, POOL[0]).await;
    assert!(twiml.contains(&format!("<Number>{B}</Number>")), "{twiml}");
    assert_eq!(index.operations(), ["GetItem"], "a miss");
    let ops: Vec<Operation> = h.emulator.requests().iter().map(|r| r.operation).collect();
    assert_eq!(
        ops,
        [Operation::ListParticipantConversations],
        "then Twilio is paged"
    );
}

#[tokio::test]
async fn a_replayed_group_call_rings_once_across_execution_environments() {
    let (h, _index) = Harness::start_indexed().await;
    let (_, s) = create(&h, &[A, B, C]).await;
    let proxy = proxy_of(&s, A);
    let signed = || {
        signed_form(
            h.emulator.auth_token(),
            "/inbound-call",
            &call_params(A, &proxy),
        )
    };
    inbound_call::handle(&h.state, signed()).await;
    assert_eq!(h.emulator.calls().len(), 2);
    // Another execution environment: its own memory, the same index.
    let twilio = TwilioHttp::new(settings(&h.emulator.base_url())).unwrap();
    let mut other = masked_comms::AppState::new(
        masked_comms::config::ConfigStore::fixed(
            h.state.config.current().await.unwrap().as_ref().clone(),
        ),
        twilio,
    );
    other.index = h.state.index.clone();
    let replay = inbound_call::handle(&other, signed()).await;
    assert!(body_text(&replay).contains("<Conference"));
    assert_eq!(h.emulator.calls().len(), 2, "nobody rung twice");
}

#[tokio::test]
async fn pool_usage_counts_each_numbers_open_sessions_without_twilio() {
    let (h, _index) = Harness::start_indexed().await;
    let (_, one) = create(&h, &[A, B]).await;
    create(&h, &[C]).await;
    h.emulator.clear_requests();
    let response = landing::handle(&h.state, operator("GET", "/pool")).await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    let body = body_json(&response);
    assert_eq!(body["counted"], true);
    let mut expected: std::collections::BTreeMap<String, u64> =
        POOL.iter().map(|n| (n.to_string(), 0)).collect();
    for (_, proxy, _) in twilio_bindings(&h) {
        *expected.get_mut(&proxy).unwrap() += 1;
    }
    let counted: std::collections::BTreeMap<String, u64> = body["pool"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["number"].as_str().unwrap().to_owned(),
                e["in_use"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counted, expected);
    assert_eq!(h.emulator.requests().len(), 0);

    // Closing frees the count at once.
    let sid = one["sid"].as_str().unwrap();
    sessions::handle(&h.state, operator("DELETE", &format!("/sessions/{sid}"))).await;
    let body = body_json(&landing::handle(&h.state, operator("GET", "/pool")).await);
    let total: u64 = body["pool"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["in_use"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 1);
}

#[tokio::test]
async fn sticky_choice_works_from_the_index_history() {
    let pool = ["+14155550001", "+14155550002", "+14155550003"];
    for (setting, expect_same) in [("prefer", true), ("avoid", false)] {
        let (h, _index) = Harness::with_index(&pool, &[("number-selection/sticky", setting)]).await;
        let (_, first) = create(&h, &[A]).await;
        let had = proxy_of(&first, A);
        let sid = first["sid"].as_str().unwrap();
        sessions::handle(&h.state, operator("DELETE", &format!("/sessions/{sid}"))).await;
        let (_, second) = create(&h, &[A]).await;
        assert_eq!(proxy_of(&second, A) == had, expect_same, "sticky={setting}");
    }
}

#[tokio::test]
async fn a_busy_participant_creates_and_calls_with_one_index_read_each() {
    let pool: Vec<String> = (1..=40).map(|i| format!("+1500555{i:04}")).collect();
    let pool: Vec<&str> = pool.iter().map(String::as_str).collect();
    let (h, index) = Harness::with_index(&pool, &[]).await;
    let mut last = Value::Null;
    for i in 0..30 {
        let other = format!("+1415777{i:04}");
        let (status, body) = create(&h, &[A, &other]).await;
        assert_eq!(status, 201, "{body}");
        last = body;
    }
    index.clear();
    let (status, body) = create(&h, &[A, B]).await;
    assert_eq!(status, 201, "{body}");
    let reads: Vec<String> = index
        .operations()
        .into_iter()
        .filter(|op| op == "GetItem" || op == "Query")
        .collect();
    assert_eq!(
        reads,
        ["GetItem", "GetItem"],
        "one holdings item per participant"
    );

    index.clear();
    let twiml = call(&h, A, &proxy_of(&last, A)).await;
    assert!(twiml.contains("<Dial"), "{twiml}");
    assert_eq!(index.operations(), ["GetItem"], "the pair's item");
    assert_index_agrees_with_twilio(&h).await;
}

#[tokio::test]
async fn sticky_history_keeps_at_most_two_entries_per_number() {
    let (h, _index) = Harness::with_index(&POOL[..1], &[]).await;
    for _ in 0..4 {
        let (status, session) = create(&h, &[A]).await;
        assert_eq!(status, 201, "{session}");
        let sid = session["sid"].as_str().unwrap();
        let closed =
            sessions::handle(&h.state, operator("DELETE", &format!("/sessions/{sid}"))).await;
        assert_eq!(closed.status(), 204);
        // A new second, so each session has its own creation date.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let count = std::sync::atomic::AtomicUsize::new(0);
    let entries = h.index().for_invocation(&count).address(A).await.unwrap();
    assert_eq!(entries.used, [POOL[0]]);
    assert!(entries.bound.is_empty());
    let client = dynamodb_client(moto_url());
    let item = client
        .get_item()
        .table_name(h.index().table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ADDR#{A}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("HOLDINGS".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let used = item["used"].as_ss().unwrap();
    assert!(
        used.len() <= 2,
        "older entries are pruned: {} left",
        used.len()
    );
}

#[tokio::test]
async fn opening_the_connection_during_init_is_one_query_on_the_proxy_index() {
    let (h, index) = Harness::start_indexed().await;
    index.clear();
    h.index().preconnect().await;
    // Query on by-proxy: the one request every function's role may make.
    assert_eq!(index.operations(), ["Query"]);
}
