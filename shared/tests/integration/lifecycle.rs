//! Reading, listing and closing sessions; idempotent creates; timers; geo and
//! sticky number choice — against the Twilio emulator.

use crate::support::*;
use lambda_http::Request;
use masked_comms::handlers::sessions;
use serde_json::{json, Value};
use twilio_emulator::{ConversationSeed, ConversationState, Operation};

const A: &str = "+14155550101";
const B: &str = "+14155550102";

async fn send(h: &Harness, req: Request) -> (u16, Value, lambda_http::http::HeaderMap) {
    let response = sessions::handle(&h.state, req).await;
    (
        response.status().as_u16(),
        body_json(&response),
        response.headers().clone(),
    )
}

async fn create(h: &Harness, body: Value) -> Value {
    let (status, json, _) = send(h, operator_json("POST", "/sessions", &body)).await;
    assert_eq!(status, 201, "{json}");
    json
}

fn get(path: &str) -> Request {
    request("GET", path, None, "", Some(&basic(USERNAME, PASSWORD)))
}

fn delete(path: &str) -> Request {
    request("DELETE", path, None, "", Some(&basic(USERNAME, PASSWORD)))
}

#[tokio::test]
async fn reads_a_session_with_its_participants() {
    let h = Harness::start().await;
    let created = create(&h, json!({"addresses": [A, B], "friendlyName": "Order 7"})).await;
    let sid = created["sid"].as_str().unwrap();
    let (status, read, _) = send(&h, get(&format!("/sessions/{sid}"))).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["sid"], sid);
    assert_eq!(read["friendly_name"], "Order 7");
    assert_eq!(proxy_of(&read, A), proxy_of(&created, A));
    assert_eq!(proxy_of(&read, B), proxy_of(&created, B));
}

#[tokio::test]
async fn unknown_and_malformed_sids() {
    let h = Harness::start().await;
    let unknown = "CH00000000000000000000000000000000";
    let (status, json, _) = send(&h, get(&format!("/sessions/{unknown}"))).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _, _) = send(&h, delete(&format!("/sessions/{unknown}"))).await;
    assert_eq!(status, 404);
    let before = h.requests_made();
    for bad in [
        "nope",
        "CH123",
        "..%2F..%2Fetc",
        "MG00000000000000000000000000000000",
    ] {
        let (status, json, _) = send(&h, get(&format!("/sessions/{bad}"))).await;
        assert_eq!(status, 400, "{bad}: {json}");
        assert_eq!(json["error"]["field"], "sid");
    }
    let (status, _, _) = send(&h, get("/sessions/../etc/passwd")).await;
    assert_eq!(status, 404);
    assert_eq!(
        h.requests_made(),
        before,
        "malformed sids never reach Twilio"
    );
}

#[tokio::test]
async fn closing_frees_the_numbers_at_once_and_is_idempotent() {
    let h = Harness::with(&["+15005550001"], &[]).await;
    let first = create(&h, json!({"addresses": [A]})).await;
    let sid = first["sid"].as_str().unwrap();
    // The only number is taken: a second session for A cannot be made.
    let (status, _, _) = send(
        &h,
        operator_json("POST", "/sessions", &json!({"addresses": [A]})),
    )
    .await;
    assert_eq!(status, 409);

    let (status, _, _) = send(&h, delete(&format!("/sessions/{sid}"))).await;
    assert_eq!(status, 204);
    assert!(
        h.emulator.conversation(sid).is_none(),
        "closed, then deleted"
    );
    let (status, _, _) = send(&h, delete(&format!("/sessions/{sid}"))).await;
    assert_eq!(
        status, 404,
        "a deleted session is not found the second time"
    );

    let again = create(&h, json!({"addresses": [A]})).await;
    assert_eq!(proxy_of(&again, A), "+15005550001");
}

#[tokio::test]
async fn lists_a_participants_sessions_newest_first_with_paging() {
    // Kept: a deleted session is in no list, closed or not.
    let h = Harness::with(&POOL, &[("closed-conversations", "keep")]).await;
    let mut sids = Vec::new();
    for other in ["+14155550201", "+14155550202", "+14155550203"] {
        let s = create(&h, json!({"addresses": [A, other]})).await;
        sids.push(s["sid"].as_str().unwrap().to_owned());
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    let (_, _, _) = send(&h, delete(&format!("/sessions/{}", sids[0]))).await;

    let (status, open, _) = send(&h, get("/sessions?address=%2B14155550101")).await;
    assert_eq!(status, 200, "{open}");
    let listed: Vec<&str> = open["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [sids[2].as_str(), sids[1].as_str()],
        "open only, newest first"
    );
    assert!(open["next"].is_null());
    let participants = open["sessions"][0]["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 2, "the roster lists the other side too");

    let (_, page1, _) = send(
        &h,
        get("/sessions?address=%2B14155550101&state=all&pageSize=2"),
    )
    .await;
    assert_eq!(page1["sessions"].as_array().unwrap().len(), 2);
    let next = page1["next"].as_str().expect("a second page").to_owned();
    let (_, page2, _) = send(
        &h,
        get(&format!(
            "/sessions?address=%2B14155550101&state=all&pageSize=2&next={next}"
        )),
    )
    .await;
    let last: Vec<&str> = page2["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sid"].as_str().unwrap())
        .collect();
    assert_eq!(last, [sids[0].as_str()]);
    assert_eq!(page2["sessions"][0]["state"], "closed");
    assert!(page2["next"].is_null());
}

#[tokio::test]
async fn list_validates_its_query() {
    let h = Harness::start().await;
    for (query, field) in [
        ("", "address"),
        ("?address=4155550101", "address"),
        ("?address=%2B14155550101&state=closed", "state"),
        ("?address=%2B14155550101&pageSize=0", "pageSize"),
        ("?address=%2B14155550101&pageSize=51", "pageSize"),
        ("?address=%2B14155550101&next=garbage", "next"),
        ("?address=%2B14155550101&colour=red", "query"),
    ] {
        let (status, json, _) = send(&h, get(&format!("/sessions{query}"))).await;
        assert_eq!(status, 400, "{query}: {json}");
        assert_eq!(json["error"]["field"], field, "{query}");
    }
    assert_eq!(h.requests_made(), 0);
}

#[tokio::test]
async fn every_lifecycle_route_requires_the_operator() {
    let h = Harness::start().await;
    let sid = "CH00000000000000000000000000000000";
    for (method, path) in [
        ("GET", format!("/sessions/{sid}")),
        ("DELETE", format!("/sessions/{sid}")),
        ("GET", "/sessions?address=%2B14155550101".into()),
    ] {
        let (status, _, headers) = send(&h, request(method, &path, None, "", None)).await;
        assert_eq!(status, 401, "{method} {path}");
        assert!(headers.contains_key("www-authenticate"));
        let (status, _, _) = send(
            &h,
            request(method, &path, None, "", Some(&basic(USERNAME, "nope"))),
        )
        .await;
        assert_eq!(status, 401, "{method} {path}");
    }
    assert_eq!(h.requests_made(), 0);
}

fn with_key(body: &Value, key: &str) -> Request {
    let mut req = operator_json("POST", "/sessions", body);
    req.headers_mut()
        .insert("idempotency-key", key.parse().unwrap());
    req
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_session() {
    let h = Harness::start().await;
    let body = json!({"addresses": [A, B], "friendlyName": "Retry me"});
    let (s1, first, h1) = send(&h, with_key(&body, "order-7-attempt")).await;
    let (s2, second, h2) = send(&h, with_key(&body, "order-7-attempt")).await;
    assert_eq!((s1, s2), (201, 201), "{second}");
    assert_eq!(first["sid"], second["sid"]);
    assert_eq!(proxy_of(&first, A), proxy_of(&second, A));
    assert!(!h1.contains_key("idempotent-replayed"));
    assert_eq!(h2["idempotent-replayed"], "true");
    assert_eq!(
        h.emulator.conversations().len(),
        1,
        "one conversation for two requests"
    );

    let different = json!({"addresses": [A, "+14155550199"]});
    let (status, json, _) = send(&h, with_key(&different, "order-7-attempt")).await;
    assert_eq!(status, 409, "{json}");
    assert_eq!(json["error"]["code"], "idempotency_conflict");
    assert_eq!(h.emulator.conversations().len(), 1);

    let (status, _, _) = send(&h, with_key(&body, "another-key")).await;
    assert_eq!(status, 201, "a new key is a new session");
}

#[tokio::test]
async fn idempotency_key_shape_is_checked() {
    let h = Harness::start().await;
    let body = json!({"addresses": [A]});
    let (status, json, _) = send(&h, with_key(&body, &"k".repeat(256))).await;
    assert_eq!(
        (status, json["error"]["field"].as_str()),
        (400, Some("Idempotency-Key"))
    );
    let (status, json, _) = send(
        &h,
        with_key(&json!({"addresses": [A], "uniqueName": "x"}), "k1"),
    )
    .await;
    assert_eq!(
        (status, json["error"]["field"].as_str()),
        (400, Some("uniqueName"))
    );
    assert_eq!(h.requests_made(), 0);
}

#[tokio::test]
async fn timers_default_from_config_and_requests_override_them() {
    let h = Harness::with(
        &POOL,
        &[
            ("session/inactive-timer", "PT2H"),
            ("session/closed-timer", "P2D"),
        ],
    )
    .await;
    create(&h, json!({"addresses": [A], "timers": {"closed": "PT30M"}})).await;
    let created = h
        .emulator
        .requests()
        .into_iter()
        .find(|r| r.operation == Operation::CreateConversation)
        .unwrap();
    assert_eq!(created.param("Timers.Inactive"), Some("PT2H"));
    assert_eq!(created.param("Timers.Closed"), Some("PT30M"));

    for (timers, field, minimum) in [
        (json!({"inactive": "PT30S"}), "timers.inactive", "1 minute"),
        (json!({"closed": "PT5M"}), "timers.closed", "10 minutes"),
        (json!({"closed": "tomorrow"}), "timers.closed", "ISO-8601"),
    ] {
        let (status, json, _) = send(
            &h,
            operator_json(
                "POST",
                "/sessions",
                &json!({"addresses": [A], "timers": timers}),
            ),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(json["error"]["field"], field);
        assert!(
            json["error"]["message"].as_str().unwrap().contains(minimum),
            "{json}"
        );
    }
}

#[tokio::test]
async fn geo_match_gives_a_local_number() {
    let pool = [
        "+12125550000",
        "+14155550000",
        "+16045550000",
        "+447400123456",
    ];
    let h = Harness::with(&pool, &[]).await;
    let s = create(
        &h,
        json!({"addresses": ["+14155550101", "+16045550123", "+447400999888", "+12125550123"]}),
    )
    .await;
    assert_eq!(proxy_of(&s, "+14155550101"), "+14155550000");
    assert_eq!(proxy_of(&s, "+16045550123"), "+16045550000");
    assert_eq!(proxy_of(&s, "+447400999888"), "+447400123456");
    assert_eq!(proxy_of(&s, "+12125550123"), "+12125550000");

    let off = Harness::with(&pool, &[("number-selection/geo-match", "off")]).await;
    let s = create(&off, json!({"addresses": ["+447400999888"]})).await;
    assert_eq!(
        proxy_of(&s, "+447400999888"),
        "+12125550000",
        "pool order when off"
    );
}

#[tokio::test]
async fn sticky_numbers_follow_the_participant() {
    let pool = ["+14155550001", "+14155550002", "+14155550003"];
    for (setting, expected) in [("prefer", "+14155550003"), ("avoid", "+14155550001")] {
        let h = Harness::with(&pool, &[("number-selection/sticky", setting)]).await;
        h.emulator
            .seed_conversation(ConversationSeed {
                state: ConversationState::Closed,
                bindings: vec![(A.into(), "+14155550003".into())],
                ..Default::default()
            })
            .unwrap();
        let s = create(&h, json!({"addresses": [A]})).await;
        assert_eq!(proxy_of(&s, A), expected, "sticky={setting}");
    }
}

#[tokio::test]
async fn whatsapp_participants_use_the_whatsapp_pool() {
    let h = Harness::with(&POOL, &[("whatsapp-pool", "+15005550009")]).await;
    let s = create(&h, json!({"addresses": [A, "whatsapp:+447400999888"]})).await;
    assert_eq!(
        proxy_of(&s, "whatsapp:+447400999888"),
        "whatsapp:+15005550009"
    );
    assert!(POOL.contains(&proxy_of(&s, A).as_str()));
    let (status, json, _) = send(
        &h,
        operator_json("POST", "/sessions", &json!({"addresses": ["+15005550009"]})),
    )
    .await;
    assert_eq!(
        status, 400,
        "a WhatsApp sender is a proxy, not a participant: {json}"
    );
}
