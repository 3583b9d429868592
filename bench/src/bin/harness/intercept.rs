//! `bench-harness intercept`: what the intercept adds to a call's answer.
//! A 1:1 call in a session (emulator latency 50 ms, as `inprocess`), with
//! no intercept, then with a backend that allows after 0, 50 and 200 ms.
//! The intercept is asked once the session is known and costs no Twilio
//! request, so the answer should take the backend's time and no more:
//! round trips stay 1, and each call asks the backend exactly once.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A backend on loopback that allows every call after `delay`; counts asks.
async fn backend(delay: Duration) -> Result<(String, Arc<AtomicUsize>)> {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let app = Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                r#"{"action": "allow"}"#,
            )
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}/intercept",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, asked))
}

pub async fn intercept(flags: &Flags) -> Result<Value> {
    let iterations = if flags.quick { 2 } else { 200 };
    let warmup = if flags.quick { 1 } else { 5 };
    let mut failures = Vec::new();
    let mut scenarios = serde_json::Map::new();
    let mut baseline_p50 = None;
    for delay_ms in [None, Some(0u64), Some(50), Some(200)] {
        let name = match delay_ms {
            None => "no_intercept".to_owned(),
            Some(ms) => format!("backend_{ms}ms"),
        };
        let (url, asked) = backend(Duration::from_millis(delay_ms.unwrap_or(0))).await?;
        let extra: Vec<(&str, &str)> = match delay_ms {
            None => Vec::new(),
            Some(_) => vec![
                ("events/url", "http://127.0.0.1:9/unused"),
                (
                    "events/signing-secret",
                    "bench-events-signing-secret-0123456789",
                ),
                ("intercept/url", &url),
            ],
        };
        let fx = Fixture::start_with(EMULATOR_LATENCY, &extra).await;
        let mut fresh = Addresses(0);
        let (caller, proxy) = one_session(&fx, &mut fresh).await?;
        let call = inbound_call(&caller, &proxy);
        calls(&fx, &call, warmup).await?;
        asked.store(0, Ordering::SeqCst);
        eprintln!("intercept: {name} x{iterations}");
        let samples = calls(&fx, &call, iterations).await?;
        check_round_trips(&name, &samples, Some(1), &mut failures);
        let asks = asked.load(Ordering::SeqCst);
        let expected_asks = if delay_ms.is_some() { iterations } else { 0 };
        if asks != expected_asks {
            failures.push(format!(
                "{name}: the backend was asked {asks} times for {iterations} calls (expected {expected_asks})"
            ));
        }
        let mut scenario = scenario_json(&samples, Some(1));
        let lat: Vec<f64> = samples.iter().map(|s| s.latency_ms).collect();
        let p50 = percentile(&lat, 0.5);
        match baseline_p50 {
            None => baseline_p50 = Some(p50),
            Some(base) => {
                scenario["added_p50_ms"] = json!(p50 - base);
                scenario["added_beyond_backend_p50_ms"] =
                    json!(p50 - base - delay_ms.unwrap_or(0) as f64);
            }
        }
        scenario["backend_delay_ms"] = json!(delay_ms);
        scenario["backend_asks"] = json!(asks);
        scenarios.insert(name, scenario);
    }
    Ok(json!({
        "kind": "intercept",
        "quick": flags.quick,
        "emulator_latency_ms": ms(EMULATOR_LATENCY),
        "scenarios": scenarios,
        "failures": failures,
    }))
}
