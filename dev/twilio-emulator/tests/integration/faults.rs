//! Fault injection, latency, recording and connection accounting.

use std::time::{Duration, Instant};

use crate::common::start;
use futures_util::future::join_all;
use serde_json::json;
use twilio_emulator::{sequential_round_trips, Fault, Operation};

const ALICE: &str = "+14155550101";
const PROXY: &str = "+14155550000";

#[tokio::test]
async fn injected_429_then_normal_behaviour_resumes() {
    let (emulator, client) = start().await;
    let sid = client.create_conversation(&[]).await;
    emulator.inject(
        Operation::CreateParticipant,
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
        1,
    );
    let throttled = client.add_participant(&sid, ALICE, PROXY).await;
    throttled.assert_error(429, 20429);
    assert_eq!(throttled.headers["retry-after"], "1");
    // A throttled request was not processed.
    assert!(emulator.conversation(&sid).unwrap().participants.is_empty());

    let retried = client.add_participant(&sid, ALICE, PROXY).await;
    assert_eq!(retried.status, 201, "{}", retried.text);
    assert_eq!(emulator.conversation(&sid).unwrap().participants.len(), 1);
    let statuses: Vec<(Operation, u16)> = emulator
        .requests()
        .iter()
        .map(|r| (r.operation, r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (Operation::CreateConversation, 201),
            (Operation::CreateParticipant, 429),
            (Operation::CreateParticipant, 201),
        ]
    );
}

#[tokio::test]
async fn injected_5xx_uses_a_generic_body_and_only_hits_its_operation() {
    let (emulator, client) = start().await;
    emulator.inject(
        Operation::CreateConversation,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        2,
    );
    client
        .post("/v1/Conversations", &[])
        .await
        .assert_error(503, 20503);
    // Other operations are unaffected while the rule is pending.
    client
        .get("/v1/Conversations/CHnope")
        .await
        .assert_error(404, 20404);
    let second = client.post("/v1/Conversations", &[]).await;
    second.assert_error(503, 20503);
    assert!(!second.headers.contains_key("retry-after"));
    client.create_conversation(&[]).await;
    assert_eq!(emulator.conversations().len(), 1);
}

#[tokio::test]
async fn reset_drops_the_connection_without_a_response() {
    let (emulator, client) = start().await;
    let sid = client.create_conversation(&[]).await;
    emulator.inject(Operation::FetchConversation, Fault::Reset, 1);
    let err = client
        .try_get(&format!("/v1/Conversations/{sid}"))
        .await
        .err()
        .expect("a reset gives no HTTP response");
    assert!(!err.is_timeout(), "{err}");
    let ok = client.get(&format!("/v1/Conversations/{sid}")).await;
    assert_eq!(ok.status, 200);
    let requests = emulator.requests();
    assert_eq!(requests[1].operation, Operation::FetchConversation);
    assert_eq!(requests[1].status, 0);
    // The client had to open a new connection after the reset.
    assert_ne!(requests[1].connection_id, requests[2].connection_id);
    assert!(emulator.connections_accepted() >= 2);
}

#[tokio::test]
async fn hang_outlasts_the_client_timeout() {
    let (emulator, client) = start().await;
    emulator.inject(Operation::CreateConversation, Fault::Hang, 1);
    let started = Instant::now();
    let err = client
        .http
        .post(format!("{}/v1/Conversations", client.base))
        .basic_auth(&client.account_sid, Some(&client.token))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .expect_err("a hung request never answers");
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(emulator.conversations().is_empty());
    let hung = &emulator.requests()[0];
    assert_eq!(
        (hung.operation, hung.status),
        (Operation::CreateConversation, 0)
    );
    // Normal behaviour resumes for the next request.
    client.create_conversation(&[]).await;
}

#[tokio::test]
async fn latency_and_round_trips_and_connection_reuse() {
    let (emulator, client) = start().await;
    let sid = client.create_conversation(&[]).await;
    emulator.clear_requests();
    emulator.set_latency(Duration::from_millis(80));

    // Three sequential requests on one keep-alive connection.
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(
            client.get(&format!("/v1/Conversations/{sid}")).await.status,
            200
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(240));
    let sequential = emulator.requests();
    assert_eq!(sequential_round_trips(&sequential), 3);
    assert!(sequential
        .iter()
        .all(|r| r.connection_id == sequential[0].connection_id));
    assert!(sequential
        .iter()
        .all(|r| r.finished - r.started >= Duration::from_millis(80)));

    // Four concurrent requests are one wave.
    emulator.clear_requests();
    let path = format!("/v1/Conversations/{sid}/Participants");
    let replies = join_all((0..4).map(|_| client.get(&path))).await;
    assert!(replies.iter().all(|r| r.status == 200));
    let parallel = emulator.requests();
    assert_eq!(parallel.len(), 4);
    assert_eq!(sequential_round_trips(&parallel), 1);
    // Concurrency needs more connections than the single one reused above.
    let distinct: std::collections::HashSet<usize> =
        parallel.iter().map(|r| r.connection_id).collect();
    assert_eq!(distinct.len(), 4);
}

#[tokio::test]
async fn control_api_drives_faults_latency_and_snapshots() {
    let (emulator, client) = start().await;
    let added = client
        .control_post(
            "/faults",
            &json!({"operation": "CreateParticipant",
                    "fault": {"kind": "status", "status": 429, "retry_after": 1}, "times": 1}),
        )
        .await;
    assert_eq!(added.status, 204, "{}", added.text);
    assert_eq!(
        client
            .control_post("/latency", &json!({"ms": 5}))
            .await
            .status,
        204
    );

    let sid = client
        .create_conversation(&[("UniqueName", "via-control")])
        .await;
    client
        .add_participant(&sid, ALICE, PROXY)
        .await
        .assert_error(429, 20429);
    assert_eq!(client.add_participant(&sid, ALICE, PROXY).await.status, 201);

    let requests = client.control_get("/requests").await;
    let requests = requests.as_array().unwrap();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[1]["operation"], "CreateParticipant");
    assert_eq!(requests[1]["status"], 429);
    assert_eq!(
        requests[2]["form"][0],
        json!(["MessagingBinding.Address", ALICE])
    );
    assert!(
        requests[2]["finished_ms"].as_f64().unwrap() - requests[2]["started_ms"].as_f64().unwrap()
            >= 5.0
    );

    let conversations = client.control_get("/conversations").await;
    assert_eq!(conversations[0]["unique_name"], "via-control");
    assert_eq!(conversations[0]["state"], "active");
    assert_eq!(conversations[0]["participants"][0]["address"], ALICE);

    assert_eq!(client.control_post("/reset", &json!({})).await.status, 204);
    assert!(emulator.conversations().is_empty());
    assert!(emulator.requests().is_empty());
    assert_eq!(client.control_get("/conversations").await, json!([]));
}

#[tokio::test]
async fn a_faulted_participant_delete_changes_nothing() {
    let (emulator, client) = start().await;
    let sid = client.create_conversation(&[]).await;
    let participant = client.add_participant(&sid, ALICE, PROXY).await.json();
    let path = format!(
        "/v1/Conversations/{sid}/Participants/{}",
        participant["sid"].as_str().unwrap()
    );
    emulator.inject(
        Operation::DeleteParticipant,
        Fault::Status {
            status: 500,
            retry_after: None,
        },
        1,
    );
    client.delete(&path).await.assert_error(500, 20500);
    assert_eq!(emulator.conversation(&sid).unwrap().participants.len(), 1);
    let other = client.create_conversation(&[]).await;
    assert_eq!(
        client.add_participant(&other, ALICE, PROXY).await.status,
        409
    );
    assert_eq!(client.delete(&path).await.status, 204);
    assert_eq!(
        client.add_participant(&other, ALICE, PROXY).await.status,
        201
    );
}

/// Every route added for participants, messages, webhook configuration, numbers and
/// recordings goes through the same pipeline: auth, its own Operation, latency, faults.
#[tokio::test]
async fn every_new_route_checks_auth_and_takes_latency_and_faults() {
    let (emulator, client) = crate::common::start_with(twilio_emulator::EmulatorConfig {
        numbers: vec![PROXY.into()],
        ..twilio_emulator::EmulatorConfig::default()
    })
    .await;
    let account = emulator.account_sid().to_owned();
    let sid = client.create_conversation(&[]).await;
    let participant = client.add_participant(&sid, ALICE, PROXY).await.json();
    let participant = format!(
        "/v1/Conversations/{sid}/Participants/{}",
        participant["sid"].as_str().unwrap()
    );
    let number = format!(
        "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{}.json",
        emulator.phone_numbers()[0].sid
    );
    let recording = format!(
        "/2010-04-01/Accounts/{account}/Recordings/RE00000000000000000000000000000000.json"
    );
    let service = format!(
        "/v1/Services/{}/Configuration/Webhooks",
        emulator.chat_service_sid()
    );
    let routes: Vec<(Operation, &str, String)> = vec![
        (Operation::FetchParticipant, "GET", participant.clone()),
        (Operation::DeleteParticipant, "DELETE", participant),
        (
            Operation::ListMessages,
            "GET",
            format!("/v1/Conversations/{sid}/Messages"),
        ),
        (
            Operation::FetchConfigurationWebhooks,
            "GET",
            "/v1/Configuration/Webhooks".into(),
        ),
        (
            Operation::UpdateConfigurationWebhooks,
            "POST",
            "/v1/Configuration/Webhooks".into(),
        ),
        (
            Operation::FetchServiceWebhookConfiguration,
            "GET",
            service.clone(),
        ),
        (
            Operation::UpdateServiceWebhookConfiguration,
            "POST",
            service,
        ),
        (
            Operation::ListIncomingPhoneNumbers,
            "GET",
            format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json"),
        ),
        (Operation::FetchIncomingPhoneNumber, "GET", number.clone()),
        (Operation::UpdateIncomingPhoneNumber, "POST", number),
        (Operation::FetchRecording, "GET", recording.clone()),
        (Operation::DeleteRecording, "DELETE", recording),
    ];
    let send = |method: &str, path: &str, authed: bool| {
        let url = format!("{}{path}", client.base);
        let request = match method {
            "GET" => client.http.get(url),
            "POST" => client
                .http
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded"),
            _ => client.http.delete(url),
        };
        let request = if authed {
            request.basic_auth(&client.account_sid, Some(&client.token))
        } else {
            request
        };
        async move { request.send().await.unwrap().status().as_u16() }
    };
    emulator.set_latency(Duration::from_millis(60));
    for (operation, method, path) in &routes {
        emulator.clear_requests();
        assert_eq!(
            send(method, path, false).await,
            401,
            "{operation:?} without auth"
        );
        emulator.inject(
            *operation,
            Fault::Status {
                status: 503,
                retry_after: None,
            },
            1,
        );
        let started = Instant::now();
        assert_eq!(send(method, path, true).await, 503, "{operation:?} faulted");
        assert!(
            started.elapsed() >= Duration::from_millis(60),
            "{operation:?} latency"
        );
        let recorded: Vec<(Operation, u16)> = emulator
            .requests()
            .iter()
            .map(|r| (r.operation, r.status))
            .collect();
        assert_eq!(recorded, [(*operation, 401), (*operation, 503)]);
    }
}
