//! Races and load against the emulator: no lost or duplicated sessions, no
//! orphan conversations holding pool numbers.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::support::*;
use futures_util::stream::{self, StreamExt};
use masked_comms::handlers::sessions;
use serde_json::{json, Value};

const SHARED: &str = "+14155550101";

fn pool_of(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("+1500555{i:04}")).collect()
}

async fn create(h: &Harness, addresses: Vec<String>) -> (u16, Value) {
    let body = json!({ "addresses": addresses });
    let response = sessions::handle(&h.state, operator_json("POST", "/sessions", &body)).await;
    (response.status().as_u16(), body_json(&response))
}

/// Every conversation left in the emulator has all of its participants.
fn assert_no_orphans(h: &Harness, participants_each: usize, expected: usize) {
    let conversations = h.emulator.conversations();
    assert_eq!(conversations.len(), expected, "conversations left");
    for c in conversations {
        assert_eq!(
            c.participants.len(),
            participants_each,
            "{} is incomplete",
            c.sid
        );
    }
}

async fn race(pool_size: usize, requests: usize) -> (Vec<(u16, Value)>, Harness) {
    let pool = pool_of(pool_size);
    let refs: Vec<&str> = pool.iter().map(String::as_str).collect();
    let h = Harness::with(&refs, &[]).await;
    h.emulator.set_latency(Duration::from_millis(5));
    let results = futures_util::future::join_all(
        (0..requests).map(|i| create(&h, vec![SHARED.into(), format!("+1415666{i:04}")])),
    )
    .await;
    (results, h)
}

fn shared_proxies(results: &[(u16, Value)]) -> Vec<String> {
    results
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, body)| {
            body["participants"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["messaging_binding"]["address"] == SHARED)
                .unwrap()["messaging_binding"]["proxy_address"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_creates_share_an_address_across_fifty_numbers() {
    let (results, h) = race(50, 50).await;
    let ok = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(ok, 50, "{:?}", results.iter().find(|(s, _)| *s != 201));
    let distinct: HashSet<String> = shared_proxies(&results).into_iter().collect();
    assert_eq!(
        distinct.len(),
        50,
        "each session gives the shared address its own proxy"
    );
    assert_no_orphans(&h, 2, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_twenty_serves_exactly_twenty_of_fifty() {
    let (results, h) = race(20, 50).await;
    let ok = results.iter().filter(|(s, _)| *s == 201).count();
    let exhausted = results
        .iter()
        .filter(|(s, b)| *s == 409 && b["error"]["code"] == "pool_exhausted")
        .count();
    assert_eq!((ok, exhausted), (20, 30));
    let distinct: HashSet<String> = shared_proxies(&results).into_iter().collect();
    assert_eq!(distinct.len(), 20);
    assert_no_orphans(&h, 2, 20);
}

/// 300 creates, 20 at a time, against Twilio's per-service limit of 30
/// conversation creates per second and 25 ms latency. Prints the figures the
/// docs/privacy-and-security.md's Reliability section quotes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_creates_under_twilios_rate_limit() {
    let pool = pool_of(10);
    let refs: Vec<&str> = pool.iter().map(String::as_str).collect();
    let h = Harness::with(&refs, &[]).await;
    h.emulator.set_latency(Duration::from_millis(25));
    h.emulator.set_conversation_rate_limit(Some(30));

    let started = Instant::now();
    let mut latencies: Vec<(u16, Duration)> = stream::iter(0..300)
        .map(|i| {
            let h = &h;
            async move {
                let t = Instant::now();
                let (status, _) = create(
                    h,
                    vec![format!("+1415777{i:04}"), format!("+1415888{i:04}")],
                )
                .await;
                (status, t.elapsed())
            }
        })
        .buffer_unordered(20)
        .collect()
        .await;
    let total = started.elapsed();

    let ok = latencies.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(
        ok,
        300,
        "statuses: {:?}",
        latencies.iter().map(|(s, _)| s).collect::<HashSet<_>>()
    );
    assert_no_orphans(&h, 2, 300);
    let throttled = h
        .emulator
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert!(throttled > 0, "the rate limit was not exercised");

    latencies.sort_by_key(|(_, d)| *d);
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].1;
    println!(
        "LOAD: 300/300 created in {:.2} s; p50 {} ms, p99 {} ms; {throttled} throttled (429) Twilio answers retried",
        total.as_secs_f64(),
        p(0.50).as_millis(),
        p(0.99).as_millis()
    );
}
