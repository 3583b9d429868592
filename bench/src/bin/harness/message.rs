//! `bench-harness message --moto PATH --out FILE [--quick]`: a message from
//! the backend to one participant (`POST /sessions/{sid}/messages` with
//! `to`), in-process like `inprocess`, the emulator answering every Twilio
//! request after 50 ms.
//!
//! With the session index (moto's DynamoDB behind a counting proxy) the
//! session's capabilities and participants are two key reads, so the message
//! is one Twilio round trip; without it, the conversation and its participant
//! list are read first (at once), then the message is sent: two. Both are
//! measured in the same run, on sessions made through the handler.

use std::path::Path;

use bench_support::index::{create_table, dynamodb_client};
use bench_support::moto::{CountingProxy, Moto};
use bench_support::*;
use lambda_http::http::Request as HttpRequest;
use lambda_http::{Body, Request};
use masked_comms::config::ConfigStore;
use masked_comms::handlers::sessions;
use masked_comms::index::SessionIndex;
use masked_comms::twilio::TwilioHttp;
use masked_comms::AppState;
use serde_json::{json, Value};
use twilio_emulator::{Emulator, EmulatorConfig, Operation};

use super::{
    check_round_trips, scenario_json, timed, Addresses, Flags, Result, Sample, EMULATOR_LATENCY,
};

fn message_request(sid: &str, to: &str) -> Request {
    let body = json!({"to": to, "body": "Your courier is 2 minutes away"}).to_string();
    HttpRequest::builder()
        .method("POST")
        .uri(format!("/sessions/{sid}/messages"))
        .header("host", "bench.example.com")
        .header("content-type", "application/json")
        .header("authorization", basic_auth())
        .body(Body::Text(body))
        .expect("a request")
}

/// A 2-party session made through the handler: its sid and its second
/// participant's sid.
async fn session(state: &AppState, fresh: &mut Addresses) -> Result<(String, String)> {
    let response = sessions::handle(state, create_call(&fresh.take(2)).to_request()).await;
    if response.status() != 201 {
        return Err(format!("session create answered {}", response.status()));
    }
    let body: Value =
        serde_json::from_slice(response.body().as_ref()).map_err(|e| e.to_string())?;
    let to = body["participants"][1]["sid"]
        .as_str()
        .ok_or("no participant sid")?;
    Ok((
        body["sid"].as_str().unwrap_or_default().to_owned(),
        to.to_owned(),
    ))
}

async fn sends(
    state: &AppState,
    emulator: &Emulator,
    fresh: &mut Addresses,
    iterations: usize,
) -> Result<Vec<Sample>> {
    let (sid, to) = session(state, fresh).await?;
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let sample = timed(emulator, 201, || {
            sessions::handle(state, message_request(&sid, &to))
        })
        .await
        .map_err(|e| format!("message: {e}"))?;
        samples.push(sample);
    }
    let sent = emulator
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::CreateMessage)
        .count();
    if sent != 1 {
        return Err(format!("the last message made {sent} Messages requests"));
    }
    Ok(samples)
}

pub(super) async fn message(flags: &Flags) -> Result<Value> {
    let moto = flags.moto.clone().ok_or("--moto is required")?;
    let python = moto.with_file_name("python");
    let work = flags
        .out
        .parent()
        .unwrap_or(Path::new("."))
        .join("message.d");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let moto = Moto::start(&moto, &work.join("moto.log")).await?;
    let proxy = CountingProxy::start(&moto.url).await?;
    let table = "bench-message";
    create_table(&python, &moto.url, table).await?;
    let pool = pool_numbers(20);
    let emulator = Emulator::start(EmulatorConfig {
        latency: EMULATOR_LATENCY,
        numbers: pool.clone(),
        ..EmulatorConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let twilio = || TwilioHttp::new(settings(&emulator.base_url())).map_err(|e| e.to_string());
    let off = AppState::new(ConfigStore::fixed(config(&pool)), twilio()?);
    let on = AppState::new(ConfigStore::fixed(config(&pool)), twilio()?)
        .with_index(SessionIndex::new(dynamodb_client(&proxy.url), table));

    let (warmup, n) = if flags.quick { (1, 3) } else { (5, 100) };
    let mut fresh = Addresses(200_000);
    let mut failures = Vec::new();
    let mut scenarios = serde_json::Map::new();
    for (name, state, expected) in [("index_on", &on, 1), ("index_off", &off, 2)] {
        sends(state, &emulator, &mut fresh, warmup).await?;
        eprintln!("message: to one participant, {name} x{n}");
        let before = proxy.requests();
        let samples = sends(state, &emulator, &mut fresh, n).await?;
        let index_requests = proxy.requests() - before;
        check_round_trips(name, &samples, Some(expected), &mut failures);
        let mut scenario = scenario_json(&samples, Some(expected));
        scenario["index_requests_incl_create"] = json!(index_requests);
        scenarios.insert(name.into(), scenario);
    }
    drop(moto);
    Ok(json!({
        "kind": "message",
        "quick": flags.quick,
        "emulator_latency_ms": super::ms(EMULATOR_LATENCY),
        "scenarios": scenarios,
        "failures": failures,
    }))
}
